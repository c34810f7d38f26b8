"""Direct messages: untrusted text made safe to show and post, and the poller that fetches them.

A message's text is a value, never template source. What is shown and posted has control
characters (but the newline), bidirectional overrides and isolates and zero-width spaces
removed; joiners stay (emoji sequences and some scripts need them). The original is kept,
exactly, for the audit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import Clock
from .draft import Attachment
from .errors import InboxError as InboxError
from .plan.normal import normal_text

SHOWN_LENGTH = 500


def clean_text(text: str) -> str:
    """The text as shown and posted: livetweet's one normal form (livetweet.normal)."""
    return normal_text(text)


def shorten(text: str, limit: int = SHOWN_LENGTH) -> str:
    """At most `limit` characters, with an ellipsis saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


@dataclass(frozen=True)
class IncomingMedia:
    """An image attached to a direct message, as X describes it: served only to the account's signed requests."""

    key: str  # X's media key
    kind: str  # X's media type: photo, animated_gif, video
    url: str = ""  # where X serves its bytes ("" when X gave none, as for a video)


@dataclass(frozen=True)
class IncomingMessage:
    """A direct message as the publisher fetched it."""

    id: str
    text: str
    sender_id: str
    sender_username: str
    created_at: datetime
    conversation_id: str
    media_keys: tuple[str, ...] = ()
    media: tuple[IncomingMedia, ...] = ()  # what X said of each media key it sent


@dataclass(frozen=True)
class Message:
    """An inbox item as the store keeps it."""

    id: int
    dm_id: str
    sender_id: str
    sender: str
    text: str  # cleaned: what is shown and posted
    original: str  # exactly as received
    received_at: datetime
    conversation_id: str
    media_keys: tuple[str, ...]
    state: str  # new, reshared, dismissed
    draft_id: int | None
    media: tuple[Attachment, ...] = ()  # the images fetched from X, re-encoded (alt text still empty)


PHOTO_TRIES = 4  # a photo X could not give is asked for again on later polls, up to this many tries in all


@dataclass(frozen=True)
class UnfetchedMedia:
    """An attachment of a direct message livetweet does not have: why, and whether it asks X again.

    `waiting`: X failed in a way that may pass (a 5xx, a timeout), tried again at `next_try_at`;
    `lost`: refused for good (too big, not an image, a video) or failed `PHOTO_TRIES` times.
    """

    dm_id: str  # X's id of the message
    number: int  # its place among the message's attachments, from 1
    total: int  # how many the message has
    key: str  # X's media key
    kind: str  # X's media type: photo, animated_gif, video
    url: str  # where X serves it ("" when X gave none)
    sender: str
    reason: str  # the last failure, in words
    state: str  # waiting or lost
    tries: int  # how many times livetweet asked X for it (0: never, a video)
    next_try_at: datetime | None = None  # when waiting

    @property
    def noun(self) -> str:
        """What it is, for people: photo, GIF, video."""
        return {"photo": "photo", "animated_gif": "GIF", "": "photo"}.get(self.kind, self.kind.replace("_", " "))

    def as_json(self) -> dict[str, object]:
        return {
            "dm_id": self.dm_id, "number": self.number, "total": self.total, "key": self.key, "kind": self.kind,
            "url": self.url, "sender": self.sender, "reason": self.reason, "state": self.state, "tries": self.tries,
            "next_try_at": self.next_try_at.isoformat() if self.next_try_at else None,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, object]) -> UnfetchedMedia:
        at = data.get("next_try_at")
        return cls(
            dm_id=str(data["dm_id"]), number=int(str(data["number"])), total=int(str(data["total"])),
            key=str(data.get("key") or ""), kind=str(data.get("kind") or ""), url=str(data.get("url") or ""),
            sender=str(data.get("sender") or ""), reason=str(data.get("reason") or ""), state=str(data["state"]),
            tries=int(str(data.get("tries") or 0)), next_try_at=datetime.fromisoformat(str(at)) if at else None,
        )  # fmt: skip


def held_places(message: Message, unfetched: Iterable[int]) -> list[int] | None:
    """The place (from 1, among the message's attachments) of each photo the message holds, in order:
    the places not in `unfetched`; None when they do not add up (a store copied without the list)."""
    missing = set(unfetched)
    total = max([len(message.media_keys), *missing])
    held = [n for n in range(1, total + 1) if n not in missing]
    return held if len(held) == len(message.media) else None


@dataclass
class PollResult:
    """What one poll did."""

    fetched: int = 0
    stored: int = 0
    pages: int = 0
    retry_at: datetime | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # a photo not fetched (and why), fetched on a later try, or lost
    refetched: int = 0  # photos fetched on a later try


class Poller:
    """Fetches new direct messages at most once a minute, later when X says so (429)."""

    def __init__(
        self, fetch_and_store: Callable[[], PollResult], clock: Clock, every: timedelta = timedelta(minutes=1)
    ) -> None:
        self._poll = fetch_and_store
        self.clock = clock
        self.every = every
        self.next_at: datetime | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        return self.next_at is None or self.clock.now() >= self.next_at

    def maybe_poll(self) -> PollResult | None:
        """Poll if it is time; returns what happened, or None when it was not time."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self.due():
                return None
            result = self._poll()
            now = self.clock.now()
            self.next_at = max(result.retry_at, now) if result.retry_at else now + self.every
            return result
        finally:
            self._lock.release()
