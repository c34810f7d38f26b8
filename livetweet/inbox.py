"""Direct messages: untrusted text made safe to show and post, and the poller that fetches them.

A message's text is a value, never template source. What is shown and posted has control
characters (but the newline), bidirectional overrides and isolates and zero-width spaces
removed; joiners stay (emoji sequences and some scripts need them). The original is kept,
exactly, for the audit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import Clock
from .draft import DEFAULT_ACCOUNT, Attachment
from .errors import InboxError as InboxError
from .plan.normal import normal_text

SHOWN_LENGTH = 500
NETWORK_NAMES = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon"}

log = logging.getLogger(__name__)


def clean_text(text: str) -> str:
    """The text as shown and posted: livetweet's one normal form (livetweet.normal)."""
    return normal_text(text)


def shorten(text: str, limit: int = SHOWN_LENGTH) -> str:
    """At most `limit` characters, with an ellipsis saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def network_name(network: str) -> str:
    """A network as people name it: X, Bluesky, Mastodon."""
    return NETWORK_NAMES.get(network, network.capitalize() or "X")


@dataclass(frozen=True)
class IncomingMedia:
    """An image attached to a direct message, as its network describes it (X serves it only to the
    account's signed requests; Bluesky and Mastodon from their servers)."""

    key: str  # the network's id of it (X's media key)
    kind: str  # X's media type: photo, animated_gif, video (the others' are named the same)
    url: str = ""  # where the network serves its bytes ("" when it gave none, as for a video)


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
    media: tuple[Attachment, ...] = ()  # the images fetched with it, re-encoded (alt text still empty)
    account: str = DEFAULT_ACCOUNT  # the account it was sent to (the schedule's account id): thereby its network


PHOTO_TRIES = 4  # a photo X could not give is asked for again on later polls, up to this many tries in all


@dataclass(frozen=True)
class UnfetchedMedia:
    """An attachment of a direct message livetweet does not have: why, and whether it asks again.

    `waiting`: the network failed in a way that may pass (a 5xx, a timeout), tried again at
    `next_try_at`; `lost`: refused for good (too big, not an image, a video) or failed
    `PHOTO_TRIES` times. Kept in the store's inbox_media table, one row per attachment.
    """

    dm_id: str  # the network's id of the message
    number: int  # its place among the message's attachments, from 1
    total: int  # how many the message has
    key: str  # the network's id of the attachment (X's media key)
    kind: str  # X's media type: photo, animated_gif, video
    url: str  # where the network serves it ("" when it gave none)
    sender: str
    reason: str  # the last failure, in words
    state: str  # waiting or lost
    tries: int  # how many times livetweet asked for it (0: never, a video)
    next_try_at: datetime | None = None  # when waiting
    account: str = DEFAULT_ACCOUNT  # the account the message was sent to

    @property
    def noun(self) -> str:
        """What it is, for people: photo, GIF, video."""
        return {"photo": "photo", "animated_gif": "GIF", "": "photo"}.get(self.kind, self.kind.replace("_", " "))

    @classmethod
    def from_json(cls, data: dict[str, object]) -> UnfetchedMedia:
        """One item of the settings row earlier versions kept the list in (moved to inbox_media on migration)."""
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
    """Fetches new direct messages of one account at most once a minute, later when its network says so (429)."""

    def __init__(
        self,
        fetch_and_store: Callable[[], PollResult],
        clock: Clock,
        every: timedelta = timedelta(minutes=1),
        label: str = "",
    ) -> None:
        self._poll = fetch_and_store
        self.clock = clock
        self.every = every
        self.label = label  # whose inbox, for people: "@demo on X"
        self.next_at: datetime | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        return self.next_at is None or self.clock.now() >= self.next_at

    def maybe_poll(self) -> PollResult | None:
        """Poll if it is time; returns what happened, or None when it was not time.

        A poll that fails unexpectedly (the store, a bug) is said in the result and tried again
        at the next time, as any failed poll: it never stops the run nor the other inboxes."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self.due():
                return None
            try:
                result = self._poll()
            except Exception as exc:
                log.exception("polling the direct messages%s failed", f" of {self.label}" if self.label else "")
                result = PollResult(error=f"reading the direct messages failed ({type(exc).__name__}: {exc})")
            now = self.clock.now()
            self.next_at = max(result.retry_at, now) if result.retry_at else now + self.every
            return result
        finally:
            self._lock.release()


class Pollers(Poller):
    """Every account's inbox (X, Bluesky, Mastodon), each polled by its own Poller: on its own
    schedule and its own network's rate limit, one failing leaving the others coming."""

    def __init__(self, pollers: Sequence[Poller]) -> None:
        if not pollers:
            raise ValueError("no inbox to poll")
        super().__init__(PollResult, pollers[0].clock, pollers[0].every)
        self.pollers = list(pollers)

    def due(self) -> bool:
        return any(p.due() for p in self.pollers)

    def maybe_poll(self) -> PollResult | None:
        """Poll each inbox whose time has come; what they did, as one result (None: none was due)."""
        done = [(p.label, r) for p in self.pollers if (r := p.maybe_poll()) is not None]
        if not done:
            return None
        if len(self.pollers) == 1:
            return done[0][1]
        return merged(done)


def merged(results: Sequence[tuple[str, PollResult]]) -> PollResult:
    """Several inboxes' polls as one result, each note and error saying whose inbox it is."""
    out = PollResult()
    failed = [(label, r) for label, r in results if r.error]
    for label, r in results:
        out.fetched += r.fetched
        out.stored += r.stored
        out.pages += r.pages
        out.refetched += r.refetched
        out.notes.extend(f"{label}: {note}" if label else note for note in r.notes)
    if failed:
        out.error = "; ".join(f"{label}: {r.error}" if label else str(r.error) for label, r in failed)
        out.retry_at = failed[0][1].retry_at if len(failed) == 1 else None  # one time said only when it is clear
    return out
