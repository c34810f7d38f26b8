"""Direct messages: each kept once, shown cleaned, dismissed (and restored) or reshared through the approval path.

A message's text is a value, never template source: a reshare renders the `dm_reshare`
template with the text as a variable, and the draft waits for a person like any other.

A message's photos are fetched from X when the message is, re-encoded (livetweet.media:
the sender's EXIF, GPS position and camera serial removed) and kept with it, their alt text
still to be written: a reshare needs one alt text per photo. A photo that cannot be fetched
does not hold its message back: the message is kept, and the poll says which photo is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..draft import Attachment, Draft
from ..errors import MediaError, Problem
from ..inbox import InboxError, IncomingMedia, IncomingMessage, Message, PollResult, clean_text
from ..publishers.base import Publisher, PublisherError, RateLimited
from ..store import Connection, NewMessage, shift_for
from .composing import add_draft
from .texts import same_text

if TYPE_CHECKING:
    from ..media import Encoded
    from ..plan.schedule import Schedule, Segment
    from .facade import Service

FETCHED_KINDS = ("photo", "animated_gif")  # X's media types livetweet fetches and can post (not video)


@dataclass(frozen=True)
class _Fetched:
    """A message's photo, fetched and re-encoded, to be kept with the message."""

    encoded: Encoded
    name: str


@dataclass
class _Photos:
    """What became of a message's photos: those fetched, and a sentence for each one that was not."""

    fetched: list[_Fetched]
    missing: list[str]


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
        return result

    def keep(self, messages: list[IncomingMessage], photos: dict[str, _Photos] | None = None) -> int:
        """Store messages not already kept, each with its fetched photos; returns how many were new.

        A photo that could not be fetched is written in the audit trail beside its message.
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
            for m in new:
                for missing in photos[m.dm_id].missing if photos and m.dm_id in photos else []:
                    self.store.write_audit(
                        conn, at=now, operator="inbox", action="photo-not-fetched", reason=missing,
                        detail={"dm_id": m.dm_id, "sender": m.sender_username},
                    )  # fmt: skip
            return len(new)

    def _photos(self, publisher: Publisher, message: IncomingMessage) -> _Photos:
        """The message's photos, fetched (signed, at most MAX_INPUT_BYTES each) and re-encoded without
        their metadata; each one that cannot be is left out, and said why."""
        from ..media import reencode
        from ..plan.media import MAX_INPUT_BYTES

        photos = _Photos([], [])
        total = len(message.media)
        for number, media in enumerate(message.media, 1):
            noun = media.kind.replace("_", " ") if media.kind and media.kind not in FETCHED_KINDS else "photo"
            which = f"{noun} {number} of {total}" if total > 1 else f"the {noun}"
            name = f"@{message.sender_username}'s direct message, image {number}"
            problem = _unfetchable(media)
            if problem is None:
                try:
                    data = publisher.fetch_dm_media(media.url, MAX_INPUT_BYTES)
                    photos.fetched.append(_Fetched(reencode(data, name), name))
                    continue
                except (PublisherError, MediaError) as exc:
                    problem = str(exc)
            photos.missing.append(
                f"the direct message from @{message.sender_username} is kept without {which}: {problem}"
            )
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
            _check_alt_count(message, alt)
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


def _check_alt_count(message: Message, alt: list[str] | None) -> None:
    """One alt text per photo of the message, or a sentence saying what is missing."""
    count = len(message.media)
    given = len(alt or [])
    if count and given != count:
        photos = "a photo" if count == 1 else f"{count} photos"
        each = "an alt text" if count == 1 else f"{count} alt texts, one per photo, in order"
        had = "" if not given else f" ({given} given)"
        raise InboxError(
            f"message {message.id} carries {photos}: write {each}{had}, saying what it shows for people who "
            "cannot see it (--alt TEXT); nothing was created"
        )
    if given and not count:
        missing = len(message.media_keys)
        why = f"its {missing} media could not be fetched" if missing else "it has none"
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
