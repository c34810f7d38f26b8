"""Direct messages: each kept once, shown cleaned, dismissed (and restored) or reshared through the approval path.

A message's text is a value, never template source: a reshare renders the `dm_reshare`
template with the text as a variable, and the draft waits for a person like any other.

A message's photos are fetched from X when the message is, re-encoded (livetweet.media:
the sender's EXIF, GPS position and camera serial removed) and kept with it, their alt text
still to be written: a reshare needs one alt text per photo. A photo that cannot be fetched
does not hold its message back: the message is kept, and the poll says which photo is missing.
When X failed in a way that may pass (a 5xx, a timeout), later polls ask again, up to
PHOTO_TRIES in all, a photo that arrives taking its place among the message's photos; one
refused for good (too big, not an image, a video) is never asked for again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..draft import Attachment, Draft
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
)
from ..publishers.base import Publisher, PublisherError, RateLimited
from ..store import Connection, NewMessage, Store, shift_for
from .composing import add_draft
from .texts import same_text

if TYPE_CHECKING:
    from ..media import Encoded
    from ..plan.schedule import Schedule, Segment
    from .facade import Service

FETCHED_KINDS = ("photo", "animated_gif")  # X's media types livetweet fetches and can post (not video)
UNFETCHED_KEY = "inbox_unfetched"  # the settings row that holds them until the store has a table (UnfetchedPhotos)
_STATUS = re.compile(r"X answered (\d{3})")


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
    asked: bool = True  # False: X was not asked (the message is gone or reshared)


@dataclass
class _Photos:
    """What became of a message's photos: those fetched, and each one that was not (and why)."""

    fetched: list[_Fetched]
    unfetched: list[UnfetchedMedia]

    @property
    def missing(self) -> list[str]:
        return [unfetched_note(u) for u in self.unfetched]


class UnfetchedPhotos:
    """The attachments of kept messages that livetweet does not have: those X may still give, and those lost.

    Kept for now as one JSON value in the store's settings table, by (message, place): the poll
    alone writes it (in the run that holds the lease), each time in the transaction that changes
    what it describes. A table of its own (one row per attachment) is to replace it; the methods
    here are the queries it needs.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def all(self) -> list[UnfetchedMedia]:
        """Every attachment not fetched, by message and place."""
        found = self.store.setting(UNFETCHED_KEY)
        items = [UnfetchedMedia.from_json(x) for x in json.loads(found[0])] if found and found[0] else []
        return sorted(items, key=lambda u: (int(u.dm_id) if u.dm_id.isdigit() else 0, u.dm_id, u.number))

    def of(self, dm_ids: set[str] | None = None) -> dict[str, list[UnfetchedMedia]]:
        """The attachments not fetched of these messages (X's ids; None: of all), by message."""
        out: dict[str, list[UnfetchedMedia]] = {}
        for u in self.all():
            if dm_ids is None or u.dm_id in dm_ids:
                out.setdefault(u.dm_id, []).append(u)
        return out

    def put(
        self, conn: Connection, changed: list[UnfetchedMedia], fetched: list[UnfetchedMedia], now: datetime
    ) -> None:
        """Record `changed` (new, tried again, lost) and forget `fetched`, in the caller's transaction."""
        if not (changed or fetched):
            return
        items = {(u.dm_id, u.number): u for u in self.all()}
        for u in fetched:
            items.pop((u.dm_id, u.number), None)
        items.update({(u.dm_id, u.number): u for u in changed})
        value = json.dumps([u.as_json() for u in items.values()], ensure_ascii=False)
        self.store.put_setting(conn, UNFETCHED_KEY, value, now.isoformat())


class InboxService:
    """Direct messages: kept once each, shown cleaned, reshared through the approval path."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.store = service.store
        self.clock = service.clock

    def poll(self, publisher: Publisher) -> PollResult:
        """Fetch what is new and keep each message once (by X's event id)."""
        result = PollResult()
        newer_than = self.store.newest_dm_id()
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
        # The photos first, outside the store's transaction (a download takes time): a crash
        # meanwhile keeps nothing, and the next poll fetches the message and its photos again.
        with self.store.begin() as conn:
            known = self.store.known_dm_ids(conn, [m.id for m in messages])
        photos = {m.id: self._photos(publisher, m) for m in messages if m.id not in known and m.media}
        result.notes.extend(note for p in photos.values() for note in p.missing)
        result.stored = self.keep(messages, photos)
        self.refetch(publisher, result)
        return result

    def keep(self, messages: list[IncomingMessage], photos: dict[str, _Photos] | None = None) -> int:
        """Store messages not already kept, each with its fetched photos; returns how many were new.

        A photo that could not be fetched is written in the audit trail beside its message, and
        kept in the list of those not fetched (to be asked for again when X may still give it).
        """
        if not messages:
            return 0
        now = self.clock.now()
        unique = {m.id: m for m in messages}
        with self.store.begin() as conn:
            known = self.store.known_dm_ids(conn, list(unique))
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
                )
                for m in sorted(unique.values(), key=lambda m: int(m.id))
                if m.id not in known
            ]
            self.store.add_messages(conn, new)
            unfetched = [u for m in new for u in (photos[m.dm_id].unfetched if photos and m.dm_id in photos else [])]
            for u in unfetched:
                self.store.write_audit(
                    conn, at=now, operator="inbox", action="photo-not-fetched", reason=unfetched_note(u),
                    detail={"dm_id": u.dm_id, "sender": u.sender, "number": u.number, "retry": u.state == "waiting"},
                )  # fmt: skip
            self.unfetched.put(conn, unfetched, [], now)
            return len(new)

    @property
    def unfetched(self) -> UnfetchedPhotos:
        return UnfetchedPhotos(self.store)

    def not_fetched(self, messages: list[Message]) -> dict[str, list[UnfetchedMedia]]:
        """The attachments of these messages livetweet does not have, by X's message id."""
        wanted = {m.dm_id for m in messages if len(m.media) < len(m.media_keys)}
        return self.unfetched.of(wanted) if wanted else {}

    def refetch(self, publisher: Publisher, result: PollResult | None = None) -> PollResult:
        """Ask X again for the photos it failed to give whose time has come; each that arrives takes
        its place among its message's photos, each refused for good or failed PHOTO_TRIES times is lost."""
        from ..media import reencode
        from ..plan.media import MAX_INPUT_BYTES

        result = result if result is not None else PollResult()
        now = self.clock.now()
        pending = self.unfetched.all()
        due = [u for u in pending if u.state == "waiting" and (u.next_try_at is None or u.next_try_at <= now)]
        if not due:
            return result
        wanted = {u.dm_id for u in due}
        held = {m.dm_id: m for m in self.store.messages(include_all=True) if m.dm_id in wanted}
        tried: list[tuple[UnfetchedMedia, _Fetched | _Failed]] = []
        for u in due:
            message = held.get(u.dm_id)
            if message is None or message.state == "reshared":
                tried.append((u, _gone(message)))
                continue
            name = _photo_name(u.sender, u.number)
            try:
                tried.append((u, _Fetched(reencode(publisher.fetch_dm_media(u.url, MAX_INPUT_BYTES), name), name)))
            except (PublisherError, MediaError) as exc:
                tried.append((u, _Failed(str(exc), lasting=_lasting(exc))))
                if not _lasting(exc):
                    break  # X is failing now: the others keep their tries for the next poll
        changed: list[UnfetchedMedia] = []
        fetched: list[UnfetchedMedia] = []
        with self.store.begin() as conn:
            places = {dm: {u.number for u in pending if u.dm_id == dm} for dm in wanted}  # the places not held
            for u, outcome in tried:
                message = self.store.message(held[u.dm_id].id, conn) if u.dm_id in held else None
                if isinstance(outcome, _Fetched):
                    if message is not None and message.state != "reshared":
                        result.notes.append(self._arrived(conn, message, u, outcome, places[u.dm_id], now))
                        places[u.dm_id].discard(u.number)
                        fetched.append(u)
                        result.refetched += 1
                        continue
                    outcome = _gone(message)  # meanwhile
                again = _tried_again(u, outcome, now)
                changed.append(again)
                result.notes.append(unfetched_note(again))
                if again.state == "lost":
                    self.store.write_audit(
                        conn, at=now, operator="inbox", action="photo-lost", reason=unfetched_note(again),
                        detail={"dm_id": u.dm_id, "number": u.number, "tries": again.tries},
                    )  # fmt: skip
            self.unfetched.put(conn, changed, fetched, now)
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
            detail={"dm_id": u.dm_id, "message": message.id, "number": u.number, "tries": u.tries + 1},
        )  # fmt: skip
        return note

    def _photos(self, publisher: Publisher, message: IncomingMessage) -> _Photos:
        """The message's photos, fetched (signed, at most MAX_INPUT_BYTES each) and re-encoded without
        their metadata; each one that cannot be is left out, and said why."""
        from ..media import reencode
        from ..plan.media import MAX_INPUT_BYTES

        photos = _Photos([], [])
        total = len(message.media)
        for number, media in enumerate(message.media, 1):
            name = _photo_name(message.sender_username, number)
            problem = _unfetchable(media)
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
    ) -> Draft:
        """A pending draft from the message, credited to its sender, in the segment running `at`.

        A message with photos needs `alt`: one alt text per photo, in order (X's rules for alt
        text, as for any image); the draft carries the photos with them.
        """
        from ..plan.compose import MAX_WEIGHTED_LENGTH, Composer, tag_text, wanted_hashtags
        from ..plan.schedule import load_schedule

        event_id = self.service.resolve_event(event_id)
        event = self.store.event(event_id)
        assert event is not None
        when = at or self.clock.now()
        schedule = load_schedule(Path(event["schedule_path"]))
        composer = Composer(schedule)
        segment = _segment_at(schedule, self.store.shifts(event_id), when)
        wanted = wanted_hashtags(schedule, segment)
        with self.store.begin() as conn:
            message = self.get(message_id, conn)
            if message.state == "reshared":
                raise InboxError(f"message {message_id} was reshared already (draft {message.draft_id})")
            _check_alt_count(message, alt, self.unfetched.of({message.dm_id}).get(message.dm_id, []))
            body = clean_text(text).strip() if text is not None else message.text.strip()
            if not body:
                raise InboxError(f"message {message_id} has no text to reshare: give one with --text")
            context = composer.context_for(segment, wanted)
            context["message"] = {"text": body, "sender": message.sender, "received_at": message.received_at}
            rendered = composer.render("dm_reshare", context)
            if isinstance(rendered, Problem):
                raise InboxError(f"the reshare template failed: {rendered}")
            if not rendered.strip():
                raise InboxError(
                    "the reshare template (templates/dm_reshare.j2) wrote nothing for message "
                    f"{message_id}: fix the template; nothing was created"
                )
            tagged = tag_text(rendered, wanted)
            length = tagged.parsed.weighted_length
            if length > MAX_WEIGHTED_LENGTH or tagged.missing:
                over = max(length - MAX_WEIGHTED_LENGTH, 0)
                need = f"{over} characters too long" if over else f"too long to add {', '.join(tagged.missing)}"
                raise InboxError(
                    f"the reshare of message {message_id} would be {length}/{MAX_WEIGHTED_LENGTH} weighted "
                    f"characters, {need}: shorten the message with --text (nothing was cut, nothing was created)"
                )
            if not tagged.parsed.valid:
                raise InboxError(
                    f"the reshare of message {message_id} holds characters X refuses: give a text with --text"
                )
            media = _described(message, alt or [], tagged.text)
            twin = same_text(self.store, conn, event_id, tagged.text)
            if twin is not None:
                raise InboxError(
                    f"the reshare of message {message_id} would repeat draft {twin.id} ({twin.slot}) word for word, "
                    "and X refuses duplicate posts: dismiss it, or reshare it with another --text"
                )
            draft = add_draft(
                self.service,
                conn,
                event_id=event_id,
                slot=f"dm-{message.id}",
                segment=segment.id,
                source="dm",
                template="dm_reshare",
                tagged=tagged,
                wanted=wanted,
                at=when,
                by=by,
                detail={
                    "message": message.id,
                    "dm_id": message.dm_id,
                    "sender": message.sender,
                    "original": message.original,
                },
                media=media,
            )
            self._set_state(conn, message, "reshared", draft.id)
            return draft

    def _set_state(self, conn: Connection, message: Message, state: str, draft_id: int | None = None) -> None:
        if not self.store.set_message_state(conn, message.id, message.state, state, draft_id):
            raise InboxError(f"message {message.id} was changed by someone else at the same moment: look again")


def _check_alt_count(message: Message, alt: list[str] | None, unfetched: Sequence[UnfetchedMedia] = ()) -> None:
    """One alt text per photo of the message, or a sentence saying what is missing."""
    count = len(message.media)
    given = len(alt or [])
    waiting = [u for u in unfetched if u.state == "waiting"]
    awaited = (
        f"{', '.join(_which(u) for u in waiting)} {'is' if len(waiting) == 1 else 'are'} not fetched yet: "
        "livetweet asks X again on its next polls"
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


def unfetched_note(u: UnfetchedMedia) -> str:
    """What became of an attachment not fetched, for the operator (the poll's note, the audit's reason)."""
    kept = f"the direct message from @{u.sender} is kept without {_which(u)}"
    if u.state == "waiting":
        left = PHOTO_TRIES - u.tries
        return f"{kept} for now: {u.reason}; livetweet asks X again on its next polls (up to {left} more times)"
    if u.tries >= PHOTO_TRIES:
        return f"{kept}: X failed {u.tries} times, livetweet no longer asks (the last time: {u.reason})"
    return f"{kept}: {u.reason}"


def _which(u: UnfetchedMedia) -> str:
    noun = u.noun if u.kind and u.kind not in FETCHED_KINDS else "photo"
    return f"{noun} {u.number} of {u.total}" if u.total > 1 else f"the {noun}"


def _photo_name(sender: str, number: int) -> str:
    return f"@{sender}'s direct message, image {number}"


def _retry_delay(tries: int) -> timedelta:
    """How long after its `tries`-th failed try a photo is asked for again: 1, 2, 4 minutes (a poll a minute)."""
    return timedelta(minutes=2 ** (tries - 1))


def _lasting(exc: Exception) -> bool:
    """Whether asking X again cannot help: not an image, too big, not X's address, or X saying no for
    good (a 4xx but 401, 408 and 429); a 5xx, a timeout or a dropped connection may pass.

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
    return "more than livetweet takes" in text or "is not where X serves" in text


def _gone(message: Message | None) -> _Failed:
    """Why a photo is no longer asked for: its message left the inbox, or was reshared without it."""
    if message is None:
        return _Failed("its message is no longer in the inbox", lasting=True, asked=False)
    return _Failed(f"message {message.id} was reshared (draft {message.draft_id}) before X gave it",
                   lasting=True, asked=False)  # fmt: skip


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


def _unfetchable(media: IncomingMedia) -> str | None:
    """Why an attachment is not fetched at all (a video, no address), or None."""
    if media.kind and media.kind not in FETCHED_KINDS:
        return f"a {media.kind.replace('_', ' ')} is not fetched (livetweet posts photos and GIFs)"
    if not media.url:
        return "X gave no address for it"
    return None


def _segment_at(schedule: Schedule, shifts: list[tuple[datetime | None, int]], when: datetime) -> Segment:
    """The segment running at `when` (with the operator's shifts), else the nearest one."""

    def start(seg: Segment) -> datetime:
        return seg.start + shift_for(shifts, seg.start)

    started = [s for s in schedule.segments if start(s) <= when]
    return started[-1] if started else schedule.segments[0]
