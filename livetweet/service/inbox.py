"""Direct messages: each kept once, shown cleaned, dismissed (and restored) or reshared through the approval path.

A message's text is a value, never template source: a reshare renders the `dm_reshare`
template with the text as a variable, and the draft waits for a person like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..draft import Draft
from ..errors import Problem
from ..inbox import InboxError, IncomingMessage, Message, PollResult, clean_text
from ..publishers.base import Publisher, PublisherError, RateLimited
from ..store import Connection, NewMessage, shift_for
from .composing import add_draft
from .texts import same_text

if TYPE_CHECKING:
    from ..plan.schedule import Schedule, Segment
    from .facade import Service


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
        result.stored = self.keep(messages)
        return result

    def keep(self, messages: list[IncomingMessage]) -> int:
        """Store messages not already kept; returns how many were new."""
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
                )
                for m in sorted(unique.values(), key=lambda m: int(m.id))
                if m.id not in known
            ]
            self.store.add_messages(conn, new)
            return len(new)

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
        self, message_id: int, by: str, at: datetime | None = None, text: str | None = None, event_id: str | None = None
    ) -> Draft:
        """A pending draft from the message, credited to its sender, in the segment running `at`."""
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
            )
            self._set_state(conn, message, "reshared", draft.id)
            return draft

    def _set_state(self, conn: Connection, message: Message, state: str, draft_id: int | None = None) -> None:
        if not self.store.set_message_state(conn, message.id, message.state, state, draft_id):
            raise InboxError(f"message {message.id} was changed by someone else at the same moment: look again")


def _segment_at(schedule: Schedule, shifts: list[tuple[datetime | None, int]], when: datetime) -> Segment:
    """The segment running at `when` (with the operator's shifts), else the nearest one."""

    def start(seg: Segment) -> datetime:
        return seg.start + shift_for(shifts, seg.start)

    started = [s for s in schedule.segments if start(s) <= when]
    return started[-1] if started else schedule.segments[0]
