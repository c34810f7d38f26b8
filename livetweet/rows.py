"""The store's typed rows and the constants that say what a store is, importable without a database
engine: `snapshot` reads a SQLite store with them as `store` does, so the two cannot disagree.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from .config import lease_seconds
from .draft import DEFAULT_ACCOUNT, Attachment, Draft, DraftState

SCHEMA_VERSION = 6
APP_ID = "livetweet"
LEASE_NAME = "runner"
RUNNER_STALE_SECONDS = lease_seconds()  # a lease not renewed for this long may be taken over


class Row(Protocol):
    """A row read by column name: SQLAlchemy's RowMapping, or sqlite3's Row."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class ConsoleSession:
    """One logged-in browser as the store keeps it."""

    id_hash: str
    operator: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail."""

    id: int
    draft_id: int | None
    event_id: str | None
    at: datetime
    operator: str
    action: str
    from_state: str | None
    to_state: str | None
    revision: int | None
    reason: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class EventAccount:
    """One account an event posts to, as the store keeps it (the schedule's `accounts:`)."""

    id: str
    network: str  # x, bluesky, mastodon
    handle: str
    max_chars: int | None = None
    lang: str = "en"  # the language its posts are in (rows stored before languages have none: English)


def event_accounts(event: EventRow) -> list[EventAccount]:
    """An event row's accounts; one loaded before schedules listed them has its X account alone."""
    if not event.accounts:
        return [EventAccount(DEFAULT_ACCOUNT, "x", event.account)]
    return [EventAccount(**item) for item in json.loads(event.accounts)]


def accounts_json(accounts: list[EventAccount]) -> str:
    return json.dumps([asdict(a) for a in accounts], ensure_ascii=False)


@dataclass(frozen=True)
class EventRow:
    """An event as `load` keeps it: what its schedule says, where the file is, how it posts."""

    id: str
    title: str
    account: str
    timezone: str
    schedule_path: str
    mode: str
    starts_at: datetime
    ends_at: datetime
    posts_from: datetime | None
    posts_until: datetime | None
    loaded_at: datetime
    x_usd_per_day: float | None = None
    accounts: str | None = None  # JSON list of {id, network, handle, max_chars} (see event_accounts)


@dataclass(frozen=True)
class SegmentRow:
    """A segment of an event's timeline, kept for cue, shift and the console."""

    id: str
    title: str
    planned_start: datetime
    planned_end: datetime
    hashtags: tuple[str, ...]  # what its posts must carry
    position: int


@dataclass(frozen=True)
class Revision:
    """One revision of a draft: who wrote it, when and why (load, reload, edit, compose, reshare)."""

    draft_id: int
    revision: int
    created_by: str
    created_at: datetime
    cause: str
    text: str | None = None  # None where the reader asked for the history without the words


@dataclass(frozen=True)
class ShiftEntry:
    """One shift of an event's timeline: from which planned time, by how much, by whom and when."""

    from_planned: datetime | None  # None: it moved everything
    seconds: int
    by: str
    at: datetime


@dataclass(frozen=True)
class Pause:
    """Who stopped posting, when and why (kind: operator, or credentials when X refused ours)."""

    by: str
    at: str  # ISO 8601, as it was written
    reason: str = ""
    kind: str = "operator"


@dataclass(frozen=True)
class NewDraft:
    """A draft to create: the store makes it pending at revision 1, version 1."""

    slot: str
    segment: str
    source: str  # schedule, dm, compose
    template: str
    text: str
    planned_text: str
    weighted_length: int
    hashtags: tuple[str, ...]
    wanted_hashtags: tuple[str, ...]
    planned_at: datetime
    at: datetime
    valid_until: datetime
    reply_to: str | None
    media: tuple[Attachment, ...] = ()
    account: str = DEFAULT_ACCOUNT


@dataclass(frozen=True)
class NewMessage:
    """A direct message to keep: its text cleaned, its original exactly as received."""

    dm_id: str
    sender_id: str
    sender_username: str
    text: str
    original: str
    received_at: datetime
    conversation_id: str
    media_keys: tuple[str, ...]
    fetched_at: datetime
    media: tuple[Attachment, ...] = ()  # the images fetched with it (kept with put_media in the same transaction)
    account: str = DEFAULT_ACCOUNT  # the account it was sent to


def row_to_draft(row: Row) -> Draft:
    """A drafts row (its times already aware UTC datetimes) as the `Draft` everything above the store uses."""
    return Draft(
        id=row["id"],
        event_id=row["event_id"],
        slot=row["slot"],
        segment=row["segment"],
        source=row["source"],
        state=DraftState(row["state"]),
        revision=row["revision"],
        text=row["text"],
        weighted_length=row["weighted_length"],
        hashtags=tuple(json.loads(row["hashtags"])),
        wanted_hashtags=tuple(json.loads(row["wanted_hashtags"])),
        at=row["at"],
        valid_until=row["valid_until"],
        reply_to=row["reply_to"],
        approved_revision=row["approved_revision"],
        approved_by=row["approved_by"],
        approved_at=row["approved_at"],
        tweet_id=row["tweet_id"],
        posted_at=row["posted_at"],
        version=row["version"],
        updated_at=row["updated_at"],
        planned_text=row["planned_text"],
        template=row["template"],
        planned_at=row["planned_at"],
        claimed_at=row["claimed_at"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        claim_epoch=row["claim_epoch"],
        media=media_from_json(row["media"]),
        account=row["account"],
        post_key=row["post_key"],
    )


def media_json(items: tuple[Attachment, ...] | list[Attachment]) -> str | None:
    """A draft's or message's images as the store keeps them (NULL for none)."""
    return json.dumps([a.as_json() for a in items], ensure_ascii=False) if items else None


def media_from_json(stored: str | None) -> tuple[Attachment, ...]:
    return tuple(Attachment.from_json(x) for x in json.loads(stored)) if stored else ()


@dataclass(frozen=True)
class Lease:
    """Who posts from this store, since when, and the epoch that fences the runs before it."""

    holder: str
    epoch: int
    pid: int | None
    host: str | None
    kind: str
    since: datetime | None
    heartbeat: datetime | None
    clock: dict[str, Any] | None
    x_api_url: str | None

    def alive(self, now: datetime, check_process: bool = True) -> bool:
        """Renewed lately, and not a process of this machine that no longer runs."""
        if self.heartbeat is None or (now - self.heartbeat).total_seconds() >= RUNNER_STALE_SECONDS:
            return False
        return not (check_process and holder_is_gone(self.host, self.pid))

    def describe(self, now: datetime) -> str:
        age = (now - self.heartbeat).total_seconds() if self.heartbeat else float("nan")
        since = self.since.strftime("%Y-%m-%d %H:%M:%S UTC") if self.since else "?"
        return f"a {self.kind} run, process {self.pid} on {self.host}, since {since}, alive {age:.0f} s ago"


def row_to_lease(row: Row) -> Lease:
    return Lease(
        holder=row["holder"],
        epoch=int(row["epoch"]),
        pid=row["pid"],
        host=row["host"],
        kind=row["kind"] or "live",
        since=row["since"],
        heartbeat=row["heartbeat"],
        clock=json.loads(row["clock"]) if row["clock"] else None,
        x_api_url=row["x_api_url"],
    )


def holder_is_gone(host: str | None, pid: int | None) -> bool:
    """A lease held by a process of this machine that no longer runs (it crashed) is free."""
    if host != socket.gethostname() or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
