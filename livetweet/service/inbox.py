"""Direct messages: each kept once, shown cleaned, dismissed (and restored) or reshared through the approval path.

Every account's inbox lands here, X's, Bluesky's chat and Mastodon's direct messages alike,
each message with the account it was sent to (and thereby its network); a network's ids are
its own, so a message is kept once per account. Each account's poll goes on from where the
last one stopped: the cursor its network gave (Bluesky's chat log) or the newest id kept.

A message's text is a value, never template source: a reshare renders the `dm_reshare`
template with the text as a variable, and the draft waits for a person like any other. It
goes to the account the message came to, or to the accounts named: one delivery each, checked
by that network's own length rule.

A message's photos are fetched when the message is, re-encoded (livetweet.media: the sender's
EXIF, GPS position and camera serial removed) and kept with it, their alt text still to be
written: a reshare needs one alt text per photo. A photo that cannot be fetched does not hold
its message back: the message is kept, and the poll says which photo is missing. When the
network failed in a way that may pass (a 5xx, a timeout), later polls ask again, up to
PHOTO_TRIES in all, a photo that arrives taking its place among the message's photos; one
refused for good (too big, not an image, a video) is never asked for again. The store keeps
that list (inbox_media), written only by the poll, in the transaction that changes what it says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..draft import DEFAULT_ACCOUNT, Attachment, Draft
from ..errors import MediaError, Problem
from ..inbox import (
    PHOTO_TRIES,
    InboxError,
    IncomingMedia,
    IncomingMessage,
    Message,
    PollResult,
    UnfetchedMedia,
    clean_text,
    held_places,
    network_name,
)
from ..publishers.base import Publisher, PublisherError, RateLimited
from ..store import Connection, EventAccount, NewDraft, NewMessage, Store, event_accounts, shift_for
from .texts import same_text

if TYPE_CHECKING:
    from ..media import Encoded
    from ..plan.compose import Composer, Tagged
    from ..plan.schedule import Schedule, Segment
    from .facade import Service

FETCHED_KINDS = ("photo", "animated_gif")  # the media types livetweet fetches and can post (not video)
_STATUS = re.compile(r"answered (\d{3})")


@dataclass(frozen=True)
class _Fetched:
    """A message's photo, fetched and re-encoded, to be kept with the message."""

    encoded: Encoded
    name: str


@dataclass(frozen=True)
class _Failed:
    """Why a photo asked for again did not come; `lasting` when asking again cannot mend it."""

    reason: str
    lasting: bool
    asked: bool = True  # False: the network was not asked (the message is gone or reshared)


@dataclass
class _Photos:
    """What became of a message's photos: those fetched, and each one that was not (and why)."""

    fetched: list[_Fetched]
    unfetched: list[UnfetchedMedia]


class InboxService:
    """Direct messages: kept once each, shown cleaned, reshared through the approval path."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.store: Store = service.store
        self.clock = service.clock

    # --- which account, which network ----------------------------------------------------

    def accounts(self) -> dict[str, EventAccount]:
        """Every account the loaded events post to, by id (the last loaded event's, when two share an id)."""
        found: dict[str, EventAccount] = {}
        for event in sorted(self.store.events(), key=lambda e: e.loaded_at):
            found.update({a.id: a for a in event_accounts(event)})
        return found

    def network_of(self, account: str, accounts: dict[str, EventAccount] | None = None) -> str:
        """The network of an account id (x, bluesky, mastodon); "x" for X's default account."""
        known = (accounts if accounts is not None else self.accounts()).get(account)
        return known.network if known is not None else "x" if account == DEFAULT_ACCOUNT else ""

    def where(self, message: Message, accounts: dict[str, EventAccount] | None = None) -> str:
        """The network a message came by, for people: "X", "Bluesky"; with the account's id when the
        events post to more than one account there ("X (x-fr)"), the id alone when no event has it."""
        accounts = accounts if accounts is not None else self.accounts()
        network = self.network_of(message.account, accounts)
        if not network:
            return message.account
        shared = sum(1 for a in accounts.values() if a.network == network) > 1
        return f"{network_name(network)} ({message.account})" if shared else network_name(network)

    # --- polling ----------------------------------------------------------------------

    def poll(self, publisher: Publisher, account: str = DEFAULT_ACCOUNT) -> PollResult:
        """Fetch what is new in one account's inbox and keep each message once (by the network's id)."""
        result = PollResult()
        network = self.network_of(account)
        newer_than = self.store.inbox_cursor(account)
        if newer_than is None and network != "bluesky":  # a chat log's cursor is no message id
            newer_than = self.store.newest_dm_id(account)
        try:
            messages, result.pages = publisher.fetch_direct_messages(newer_than)
        except RateLimited as exc:
            wait = self.clock.from_real(exc.retry_after) if exc.retry_after is not None else timedelta(minutes=1)
            result.retry_at = self.clock.now() + wait
            result.error = str(exc)
            return result
        except PublisherError as exc:
            result.error = str(exc)
            return result
        result.fetched = len(messages)
        cursor = _cursor_after(publisher, newer_than, messages)
        try:
            # The photos first, outside the store's transaction (a download takes time): a crash
            # meanwhile keeps nothing, and the next poll fetches the message and its photos again.
            with self.store.begin() as conn:
                known = self.store.known_dm_ids(conn, [m.id for m in messages], account)
            photos = {
                m.id: self._photos(publisher, m, account, network) for m in messages if m.id not in known and m.media
            }
            result.notes.extend(unfetched_note(u, network) for p in photos.values() for u in p.unfetched)
            result.stored = self.keep(messages, photos, account=account, cursor=cursor)
        except BaseException:
            _rewind(publisher, newer_than)  # what was read but not kept is read again next time
            raise
        self.refetch(publisher, result, account)
        return result

    def keep(
        self,
        messages: list[IncomingMessage],
        photos: dict[str, _Photos] | None = None,
        account: str = DEFAULT_ACCOUNT,
        cursor: str | None = None,
    ) -> int:
        """Store the account's messages not already kept, each with its fetched photos, and where its next
        poll starts (`cursor`), in one transaction; returns how many were new.

        A photo that could not be fetched is written in the audit trail beside its message, and
        kept in the list of those not fetched (to be asked for again when the network may still give it).
        """
        moved = cursor is not None and cursor != self.store.inbox_cursor(account)
        if not messages and not moved:
            return 0
        now = self.clock.now()
        network = self.network_of(account) if photos else ""
        unique = {m.id: m for m in messages}
        with self.store.begin() as conn:
            known = self.store.known_dm_ids(conn, list(unique), account)
            new = [
                NewMessage(
                    dm_id=m.id,
                    sender_id=m.sender_id,
                    sender_username=m.sender_username,
                    text=clean_text(m.text),
                    original=m.text,
                    received_at=m.created_at,
                    conversation_id=m.conversation_id,
                    media_keys=tuple(m.media_keys),
                    fetched_at=now,
                    media=self._kept(conn, photos[m.id].fetched if photos and m.id in photos else []),
                    account=account,
                )
                # in the order sent (the network's ids only break ties: X's are numbers, Bluesky's TIDs)
                for m in sorted(unique.values(), key=lambda m: (m.created_at, len(m.id), m.id))
                if m.id not in known
            ]
            self.store.add_messages(conn, new)
            unfetched = [u for m in new for u in (photos[m.dm_id].unfetched if photos and m.dm_id in photos else [])]
            for u in unfetched:
                self.store.write_audit(
                    conn, at=now, operator="inbox", action="photo-not-fetched", reason=unfetched_note(u, network),
                    detail={"dm_id": u.dm_id, "account": u.account, "sender": u.sender, "number": u.number,
                            "retry": u.state == "waiting"},
                )  # fmt: skip
            self.store.put_unfetched_media(conn, unfetched)
            if moved and cursor is not None:
                self.store.put_inbox_cursor(conn, account, cursor, now)
            return len(new)

    def not_fetched(self, messages: list[Message]) -> dict[int, list[UnfetchedMedia]]:
        """The attachments of these messages livetweet does not have, by message (the inbox's id)."""
        wanted = [m for m in messages if len(m.media) < len(m.media_keys)]
        if not wanted:
            return {}
        by_key = {(m.account, m.dm_id): m.id for m in wanted}
        out: dict[int, list[UnfetchedMedia]] = {}
        for u in self.store.unfetched_media({m.dm_id for m in wanted}):
            message_id = by_key.get((u.account, u.dm_id))
            if message_id is not None:
                out.setdefault(message_id, []).append(u)
        return out

    def refetch(
        self, publisher: Publisher, result: PollResult | None = None, account: str = DEFAULT_ACCOUNT
    ) -> PollResult:
        """Ask the network again for the account's photos it failed to give whose time has come; each
        that arrives takes its place among its message's photos, each refused for good or failed
        PHOTO_TRIES times is lost."""
        from ..media import reencode
        from ..plan.media import MAX_INPUT_BYTES

        result = result if result is not None else PollResult()
        now = self.clock.now()
        due = self.store.due_media(now, account)
        if not due:
            return result
        network = self.network_of(account)
        wanted = {u.dm_id for u in due}
        pending = self.store.unfetched_media(wanted, account)
        held = {dm: self.store.message_by_dm_id(account, dm) for dm in wanted}
        tried: list[tuple[UnfetchedMedia, _Fetched | _Failed]] = []
        for u in due:
            message = held.get(u.dm_id)
            if message is None or message.state == "reshared":
                tried.append((u, _gone(message, network)))
                continue
            name = _photo_name(u.sender, u.number)
            try:
                tried.append((u, _Fetched(reencode(publisher.fetch_dm_media(u.url, MAX_INPUT_BYTES), name), name)))
            except (PublisherError, MediaError) as exc:
                tried.append((u, _Failed(str(exc), lasting=_lasting(exc))))
                if not _lasting(exc):
                    break  # the network is failing now: the others keep their tries for the next poll
        changed: list[UnfetchedMedia] = []
        fetched: list[UnfetchedMedia] = []
        with self.store.begin() as conn:
            places = {dm: {u.number for u in pending if u.dm_id == dm} for dm in wanted}  # the places not held
            for u, outcome in tried:
                message = self.store.message_by_dm_id(account, u.dm_id, conn)
                if isinstance(outcome, _Fetched):
                    if message is not None and message.state != "reshared":
                        result.notes.append(self._arrived(conn, message, u, outcome, places[u.dm_id], now))
                        places[u.dm_id].discard(u.number)
                        fetched.append(u)
                        result.refetched += 1
                        continue
                    outcome = _gone(message, network)  # meanwhile
                again = _tried_again(u, outcome, now)
                changed.append(again)
                result.notes.append(unfetched_note(again, network))
                if again.state == "lost":
                    self.store.write_audit(
                        conn, at=now, operator="inbox", action="photo-lost", reason=unfetched_note(again, network),
                        detail={"dm_id": u.dm_id, "account": u.account, "number": u.number, "tries": again.tries},
                    )  # fmt: skip
            self.store.put_unfetched_media(conn, changed)
            self.store.drop_unfetched_media(conn, fetched)
        return result

    def _arrived(
        self, conn: Connection, message: Message, u: UnfetchedMedia, photo: _Fetched, unheld: set[int], now: datetime
    ) -> str:
        """Keep a photo that came on a later try at its place among the message's photos; the note saying so."""
        [kept] = self._kept(conn, [photo])
        self.store.set_message_media(conn, message.id, _placed(message, unheld, u.number, kept))
        note = f"{_which(u)} of the direct message from @{u.sender} has arrived (try {u.tries + 1})"
        self.store.write_audit(
            conn, at=now, operator="inbox", action="photo-fetched", reason=note,
            detail={"dm_id": u.dm_id, "account": u.account, "message": message.id, "number": u.number,
                    "tries": u.tries + 1},
        )  # fmt: skip
        return note

    def _photos(self, publisher: Publisher, message: IncomingMessage, account: str, network: str) -> _Photos:
        """The message's photos, fetched (signed, at most MAX_INPUT_BYTES each) and re-encoded without
        their metadata; each one that cannot be is left out, and said why."""
        from ..media import reencode
        from ..plan.media import MAX_INPUT_BYTES

        photos = _Photos([], [])
        total = len(message.media)
        for number, media in enumerate(message.media, 1):
            name = _photo_name(message.sender_username, number)
            problem = _unfetchable(media, network)
            lasting, tries = True, 0
            if problem is None:
                tries = 1
                try:
                    data = publisher.fetch_dm_media(media.url, MAX_INPUT_BYTES)
                    photos.fetched.append(_Fetched(reencode(data, name), name))
                    continue
                except (PublisherError, MediaError) as exc:
                    problem, lasting = str(exc), _lasting(exc)
            photos.unfetched.append(
                UnfetchedMedia(
                    dm_id=message.id, number=number, total=total, key=media.key, kind=media.kind, url=media.url,
                    sender=message.sender_username, reason=problem, state="lost" if lasting else "waiting",
                    tries=tries, next_try_at=None if lasting else self.clock.now() + _retry_delay(tries),
                    account=account,
                )
            )  # fmt: skip
        return photos

    def _kept(self, conn: Connection, photos: list[_Fetched]) -> tuple[Attachment, ...]:
        """Keep the photos' bytes in the store; their attachments, alt text still to be written."""
        from ..media import attachment

        return tuple(
            attachment(
                self.store.put_media(conn, p.encoded.data, p.encoded.kind, p.encoded.width, p.encoded.height),
                p.encoded,
                p.name,
                "",
            )
            for p in photos
        )

    def messages(self, include_all: bool = False) -> list[Message]:
        return self.store.messages(include_all)

    def get(self, message_id: int, conn: Connection | None = None) -> Message:
        message = self.store.message(message_id, conn)
        if message is None:
            raise InboxError(f"there is no message {message_id} in the inbox: `livetweet inbox --all` lists them")
        return message

    def dismiss(self, message_id: int, by: str) -> Message:
        with self.store.begin() as conn:
            message = self.get(message_id, conn)
            if message.state != "new":
                raise InboxError(f"message {message_id} is already {message.state}")
            self._set_state(conn, message, "dismissed")
            self.store.write_audit(
                conn,
                at=self.clock.now(),
                operator=by,
                action="dismiss",
                detail={"message": message_id, "dm_id": message.dm_id},
            )
            return self.get(message_id, conn)

    def restore(self, message_id: int, by: str) -> Message:
        """Undo a dismissal: the message is new again, to reshare or dismiss; audited."""
        with self.store.begin() as conn:
            message = self.get(message_id, conn)
            if message.state != "dismissed":
                raise InboxError(f"message {message_id} is {message.state}, not dismissed: there is nothing to undo")
            self._set_state(conn, message, "new")
            self.store.write_audit(
                conn,
                at=self.clock.now(),
                operator=by,
                action="undismiss",
                detail={"message": message_id, "dm_id": message.dm_id},
            )
            return self.get(message_id, conn)

    def reshare(
        self,
        message_id: int,
        by: str,
        at: datetime | None = None,
        text: str | None = None,
        event_id: str | None = None,
        alt: list[str] | None = None,
        to: Sequence[str] | None = None,
    ) -> list[Draft]:
        """Pending drafts from the message, credited to its sender, in the segment running `at`: one
        delivery (the same slot) for each account of `to`, by default the account it came to.

        Each delivery's text is the `dm_reshare` template's for its network (`dm_reshare.bluesky.j2`
        when there is one) and obeys that network's length rule (X's weighted 280, Bluesky's 300
        graphemes, the Mastodon server's limit). A message with photos needs `alt`: one alt text
        per photo, in order (X's rules for alt text, as for any image); the drafts carry the
        photos with them. Returns the deliveries in the order of `to`.
        """
        from ..plan.compose import Composer, wanted_hashtags
        from ..plan.schedule import load_schedule

        event_id = self.service.resolve_event(event_id)
        event = self.store.event(event_id)
        assert event is not None
        when = at or self.clock.now()
        schedule = load_schedule(Path(event.schedule_path))
        composer = Composer(schedule)
        segment = _segment_at(schedule, self.store.shifts(event_id), when)
        wanted = wanted_hashtags(schedule, segment)
        accounts = {a.id: a for a in event_accounts(event)}
        with self.store.begin() as conn:
            message = self.get(message_id, conn)
            if message.state == "reshared":
                raise InboxError(f"message {message_id} was reshared already (draft {message.draft_id})")
            targets = _targets(message, to, accounts, event_id)
            unfetched = self.store.unfetched_media({message.dm_id}, message.account, conn)
            _check_alt_count(message, alt, unfetched, self.network_of(message.account, accounts))
            body = clean_text(text).strip() if text is not None else message.text.strip()
            if not body:
                raise InboxError(f"message {message_id} has no text to reshare: give one with --text")
            context = composer.context_for(segment, wanted)
            context["message"] = {"text": body, "sender": message.sender, "received_at": message.received_at}
            texts: dict[str, Tagged] = {}  # by network: each renders its own template once
            deliveries: list[_Delivery] = []
            for account in targets:
                if account.network not in texts:
                    texts[account.network] = _rendered(composer, context, account.network, message_id, wanted)
                tagged = texts[account.network]
                deliveries.append(_Delivery(account.id, tagged, _checked_length(message_id, tagged, account)))
            described = [_described(message, alt or [], t.text) for t in texts.values()]  # alt checked beside each text
            media = described[0]
            for delivery in deliveries:
                twin = same_text(self.store, conn, event_id, delivery.tagged.text, account=delivery.account)
                if twin is not None:
                    refuses = ", and X refuses duplicate posts" if accounts[delivery.account].network == "x" else ""
                    raise InboxError(
                        f"the reshare of message {message_id} would repeat draft {twin.id} ({twin.slot}) word for "
                        f"word{refuses}: dismiss it, or reshare it with another --text"
                    )
            drafts = self._add_deliveries(conn, message, event_id, segment.id, wanted, when, by, media, deliveries)
            self._set_state(conn, message, "reshared", drafts[0].id)
            return drafts

    def _add_deliveries(
        self,
        conn: Connection,
        message: Message,
        event_id: str,
        segment: str,
        wanted: list[str],
        at: datetime,
        by: str,
        media: tuple[Attachment, ...],
        deliveries: list[_Delivery],
    ) -> list[Draft]:
        """The reshare's pending drafts, one per account, audited as a reshare; in the order given."""
        from ..plan.schedule import DEFAULT_VALID_FOR

        slot = f"dm-{message.id}"
        new = [
            NewDraft(
                slot=slot, segment=segment, source="dm", template="dm_reshare", text=d.tagged.text,
                planned_text=d.tagged.text, weighted_length=d.length, hashtags=tuple(d.tagged.hashtags),
                wanted_hashtags=tuple(wanted), planned_at=at, at=at, valid_until=at + DEFAULT_VALID_FOR,
                reply_to=None, media=media, account=d.account,
            )
            for d in deliveries
        ]  # fmt: skip
        order = [d.account for d in deliveries]
        detail = {
            "message": message.id,
            "dm_id": message.dm_id,
            "from_account": message.account,
            "sender": message.sender,
            "original": message.original,
            "to": order,
        }
        created = self.store.create_drafts(
            conn, event_id, new, by=by, at=self.clock.now(), cause="reshare", action="reshare", detail=detail
        )
        return sorted(created, key=lambda d: order.index(d.account))

    def _set_state(self, conn: Connection, message: Message, state: str, draft_id: int | None = None) -> None:
        if not self.store.set_message_state(conn, message.id, message.state, state, draft_id):
            raise InboxError(f"message {message.id} was changed by someone else at the same moment: look again")


def _targets(
    message: Message, to: Sequence[str] | None, accounts: dict[str, EventAccount], event_id: str
) -> list[EventAccount]:
    """The accounts a reshare goes to, each once: those named, else the account the message came to."""
    names = list(dict.fromkeys(a.strip() for a in to if a.strip())) if to else [message.account]
    known = ", ".join(accounts) or "none"
    unknown = [name for name in names if name not in accounts]
    if unknown and not to:
        raise InboxError(
            f'message {message.id} came to account "{message.account}", which event "{event_id}" does not post to '
            f"(its accounts: {known}): name the accounts to reshare it to (--to ACCOUNT); nothing was created"
        )
    if unknown:
        raise InboxError(
            f'event "{event_id}" has no account "{unknown[0]}" (its accounts: {known}): nothing was created'
        )
    return [accounts[name] for name in names]


@dataclass(frozen=True)
class _Delivery:
    """One account a reshare goes to: its network's text, and that text's length by the network's rule."""

    account: str
    tagged: Tagged
    length: int


def _rendered(composer: Composer, context: dict[str, Any], network: str, message_id: int, wanted: list[str]) -> Tagged:
    """The reshare's text for a network: its own `dm_reshare` template's when there is one, with the hashtags."""
    from ..plan.compose import tag_text

    template = composer.template_for("dm_reshare", network)
    rendered = composer.render(template, {**context, "network": network})
    if isinstance(rendered, Problem):
        raise InboxError(f"the reshare template failed: {rendered}")
    if not rendered.strip():
        raise InboxError(
            f"the reshare template ({composer.shown_path(template)}) wrote nothing for message {message_id}: fix the "
            "template; nothing was created"
        )
    return tag_text(rendered, wanted)


def _checked_length(message_id: int, tagged: Tagged, account: EventAccount) -> int:
    """The reshare's length on the account's network, by that network's own rule; an InboxError when it
    would be refused there (too long; on X also hashtags that do not fit, or characters X refuses).

    The hashtags are fitted by X's weights (`tag_text`), so, as for a slot, only an X delivery must
    carry them all."""
    from ..plan.compose import MAX_WEIGHTED_LENGTH

    if account.network != "x":
        from ..plan.check import network_problems
        from ..plan.schedule import Account

        on = Account(account.id, account.network, account.handle, 0, account.max_chars)
        problems = network_problems(tagged.text, on)
        if problems:
            raise InboxError(
                f"the reshare of message {message_id} to {on.display}: {'; '.join(problems)}: shorten the message "
                "with --text (nothing was cut, nothing was created)"
            )
        return _network_length(tagged.text, account)
    length = tagged.parsed.weighted_length
    if length > MAX_WEIGHTED_LENGTH or tagged.missing:
        over = max(length - MAX_WEIGHTED_LENGTH, 0)
        need = f"{over} characters too long" if over else f"too long to add {', '.join(tagged.missing)}"
        raise InboxError(
            f"the reshare of message {message_id} would be {length}/{MAX_WEIGHTED_LENGTH} weighted "
            f"characters, {need}: shorten the message with --text (nothing was cut, nothing was created)"
        )
    if not tagged.parsed.valid:
        raise InboxError(f"the reshare of message {message_id} holds characters X refuses: give a text with --text")
    return length


def _network_length(text: str, account: EventAccount) -> int:
    """How long a text is on Bluesky (graphemes) or Mastodon (its count: links 23, @user@domain as @user)."""
    if account.network == "bluesky":
        from ..plan.bluesky import length

        return length(text)
    from ..plan.mastodon import length as mastodon_length

    return mastodon_length(text)


def _check_alt_count(
    message: Message, alt: list[str] | None, unfetched: Sequence[UnfetchedMedia] = (), network: str = "x"
) -> None:
    """One alt text per photo of the message, or a sentence saying what is missing."""
    count = len(message.media)
    given = len(alt or [])
    waiting = [u for u in unfetched if u.state == "waiting"]
    awaited = (
        f"{', '.join(_which(u) for u in waiting)} {'is' if len(waiting) == 1 else 'are'} not fetched yet: "
        f"livetweet asks {network_name(network)} again on its next polls"
    )
    later = f" ({awaited})" if waiting else ""
    if count and given != count:
        photos = "a photo" if count == 1 else f"{count} photos"
        each = "an alt text" if count == 1 else f"{count} alt texts, one per photo, in order"
        had = "" if not given else f" ({given} given)"
        raise InboxError(
            f"message {message.id} carries {photos}{later}: write {each}{had}, saying what it shows for people "
            "who cannot see it (--alt TEXT); nothing was created"
        )
    if given and not count:
        missing = len(message.media_keys)
        why = awaited if waiting else f"its {missing} media could not be fetched" if missing else "it has none"
        raise InboxError(f"message {message.id} carries no photos to describe ({why}): leave out the alt text")


def _described(message: Message, alt: list[str], post_text: str) -> tuple[Attachment, ...]:
    """The message's photos with the operator's alt texts, each checked as any image's alt text is."""
    from ..plan.media import alt_problem

    media = []
    for number, (item, written) in enumerate(zip(message.media, alt, strict=True), 1):
        described = clean_text(written).strip()
        problem = alt_problem(described, post_text)
        if problem:
            which = "its photo" if len(message.media) == 1 else f"photo {number}"
            raise InboxError(f"message {message.id}: {which} {problem}; nothing was created")
        media.append(replace(item, alt=described))
    return tuple(media)


def unfetched_note(u: UnfetchedMedia, network: str = "x") -> str:
    """What became of an attachment not fetched, for the operator (the poll's note, the audit's reason);
    `network`: the one it was sent by (x, bluesky, mastodon), which livetweet asks again."""
    kept = f"the direct message from @{u.sender} is kept without {_which(u)}"
    name = network_name(network)
    if u.state == "waiting":
        left = PHOTO_TRIES - u.tries
        return f"{kept} for now: {u.reason}; livetweet asks {name} again on its next polls (up to {left} more times)"
    if u.tries >= PHOTO_TRIES:
        return f"{kept}: {name} failed {u.tries} times, livetweet no longer asks (the last time: {u.reason})"
    return f"{kept}: {u.reason}"


def _cursor_after(publisher: Publisher, before: str | None, messages: list[IncomingMessage]) -> str | None:
    """Where the account's next poll starts: the cursor its network gave this one (Bluesky's chat log,
    `chat_cursor`), else the newest id read (X's event ids and Mastodon's notification ids grow as numbers)."""
    chat = getattr(publisher, "chat_cursor", None)
    if isinstance(chat, str) and chat:
        return chat
    ids = [i for i in [before, *(m.id for m in messages)] if i and i.isascii() and i.isdigit()]
    return max(ids, key=lambda i: (len(i), i)) if ids else before


def _rewind(publisher: Publisher, cursor: str | None) -> None:
    """A poll whose messages were not kept: its publisher's own cursor (Bluesky's) goes back to the kept one,
    so that the next poll reads them again."""
    if isinstance(getattr(publisher, "chat_cursor", None), str):
        publisher.chat_cursor = cursor  # type: ignore[attr-defined]


def _which(u: UnfetchedMedia) -> str:
    noun = u.noun if u.kind and u.kind not in FETCHED_KINDS else "photo"
    return f"{noun} {u.number} of {u.total}" if u.total > 1 else f"the {noun}"


def _photo_name(sender: str, number: int) -> str:
    return f"@{sender}'s direct message, image {number}"


def _retry_delay(tries: int) -> timedelta:
    """How long after its `tries`-th failed try a photo is asked for again: 1, 2, 4 minutes (a poll a minute)."""
    return timedelta(minutes=2 ** (tries - 1))


def _lasting(exc: Exception) -> bool:
    """Whether asking the network again cannot help: not an image, too big, not its address, or the
    network saying no for good (a 4xx but 401, 408 and 429); a 5xx, a timeout or a dropped connection may pass.

    The publisher says it only in words for now (PublisherError); the sentences it writes are read here."""
    if isinstance(exc, MediaError):
        return True
    if isinstance(exc, RateLimited):
        return False
    text = str(exc)
    status = _STATUS.search(text)
    if status is not None:
        code = int(status.group(1))
        return 400 <= code < 500 and code not in (401, 408, 429)
    return "more than livetweet takes" in text or ("is not where" in text and "serves" in text)


def _gone(message: Message | None, network: str) -> _Failed:
    """Why a photo is no longer asked for: its message left the inbox, or was reshared without it."""
    if message is None:
        return _Failed("its message is no longer in the inbox", lasting=True, asked=False)
    return _Failed(f"message {message.id} was reshared (draft {message.draft_id}) before {network_name(network)} "
                   "gave it", lasting=True, asked=False)  # fmt: skip


def _tried_again(u: UnfetchedMedia, failed: _Failed, now: datetime) -> UnfetchedMedia:
    """The attachment after one more failed try: waiting for the next, or lost."""
    tries = u.tries + (1 if failed.asked else 0)
    if failed.lasting or tries >= PHOTO_TRIES:
        return replace(u, reason=failed.reason or u.reason, state="lost", tries=tries, next_try_at=None)
    return replace(u, reason=failed.reason, tries=tries, next_try_at=now + _retry_delay(tries))


def _placed(message: Message, unheld: set[int], number: int, photo: Attachment) -> tuple[Attachment, ...]:
    """The message's photos with `photo` at its place `number` (those it holds are at the places not in `unheld`)."""
    held = held_places(message, unheld | {number})
    if held is None:  # not as recorded (a store copied without the list): it goes last
        return (*message.media, photo)
    return tuple(a for _, a in sorted([*zip(held, message.media, strict=True), (number, photo)], key=lambda p: p[0]))


def _unfetchable(media: IncomingMedia, network: str) -> str | None:
    """Why an attachment is not fetched at all (a video, no address), or None."""
    if media.kind and media.kind not in FETCHED_KINDS:
        return f"a {media.kind.replace('_', ' ')} is not fetched (livetweet posts photos and GIFs)"
    if not media.url:
        return f"{network_name(network)} gave no address for it"
    return None


def _segment_at(schedule: Schedule, shifts: list[tuple[datetime | None, int]], when: datetime) -> Segment:
    """The segment running at `when` (with the operator's shifts), else the nearest one."""

    def start(seg: Segment) -> datetime:
        return seg.start + shift_for(shifts, seg.start)

    started = [s for s in schedule.segments if start(s) <= when]
    return started[-1] if started else schedule.segments[0]
