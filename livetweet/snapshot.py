"""A read-only look at a SQLite store through the standard library's sqlite3, for commands that only
read (`queue`): they answer without loading SQLAlchemy, which is most of a command's start-up.

It reads the store's own tables with the store's own rows (`rows`), and only a store it is sure of:
a file of ours at the schema this livetweet writes. Anything else (PostgreSQL, no such file, an older
or newer schema, another program's file, a file it cannot open) it leaves to `Store`, which migrates
it or says why not. Its few queries mirror `Store`'s; a test reads one store both ways.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from .draft import Draft, DraftState
from .errors import StoreError
from .rows import (
    APP_ID,
    LEASE_NAME,
    SCHEMA_VERSION,
    EventAccount,
    EventRow,
    Lease,
    event_accounts,
    row_to_draft,
    row_to_lease,
)

# The columns the store keeps as UTC times (SQLite holds them as text without a zone).
TIMES = {
    "drafts": ("planned_at", "at", "valid_until", "approved_at", "posted_at", "claimed_at", "next_attempt_at",
               "updated_at"),
    "events": ("starts_at", "ends_at", "posts_from", "posts_until", "loaded_at"),
    "lease": ("since", "heartbeat"),
}  # fmt: skip
SQLITE_PREFIX = "sqlite:///"


class Snapshot:
    """The drafts, events and lease of one SQLite store, read as `Store` reads them, never written (on a
    store nobody has open, SQLite leaves its empty -wal and -shm files beside it, with the store's mode)."""

    def __init__(self, url: str, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        # As Store shows it (SQLAlchemy's rendering: the path quoted but for spaces, + and /).
        self.display = SQLITE_PREFIX + quote(url[len(SQLITE_PREFIX) :], safe=" +/")
        self._conn = conn
        self._zones: dict[str, ZoneInfo] = {}

    @classmethod
    def open(cls, url: str) -> Snapshot | None:
        """The store at a plain `sqlite:///FILE` URL when it is a file of ours at this schema; else None."""
        if not url.startswith(SQLITE_PREFIX) or "?" in url or "%" in url:
            return None
        path = Path(url[len(SQLITE_PREFIX) :])
        if not path.name or path.name == ":memory:" or not path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error:
            return None
        try:
            conn.row_factory = sqlite3.Row
            meta = dict(conn.execute("SELECT key, value FROM livetweet_meta").fetchall())
        except sqlite3.Error:
            conn.close()
            return None
        if meta.get("app") != APP_ID or meta.get("schema_version") != str(SCHEMA_VERSION):
            conn.close()
            return None
        return cls(url, path, conn)

    def close(self) -> None:
        self._conn.close()

    def _rows(self, table: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            found = self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.display}: {exc}") from exc
        rows = [dict(r) for r in found]
        for row in rows:
            for column in TIMES[table]:
                row[column] = _utc(row[column])
        return rows

    # --- what Store and Service answer, the same way ------------------------------------

    def drafts(self, event_id: str | None = None, states: list[DraftState] | None = None) -> list[Draft]:
        """Drafts by time, then id, of one event or all, in some states or all (as `Store.drafts`)."""
        where, params = [], []
        if event_id is not None:
            where.append("event_id = ?")
            params.append(event_id)
        if states:
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            params += [s.value for s in states]
        sql = "SELECT * FROM drafts" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY at, id"
        return [row_to_draft(r) for r in self._rows("drafts", sql, params)]

    def queue(self, state: DraftState | None = None, event_id: str | None = None) -> list[Draft]:
        return self.drafts(event_id, [state] if state else None)

    def events(self) -> list[EventRow]:
        """Every event, earliest first (as `Store.events`)."""
        return [EventRow(**r) for r in self._rows("events", "SELECT * FROM events ORDER BY starts_at")]

    def event(self, event_id: str) -> EventRow | None:
        found = self._rows("events", "SELECT * FROM events WHERE id = ?", (event_id,))
        return EventRow(**found[0]) if found else None

    def zone(self, event_id: str) -> ZoneInfo:
        """The event's time zone, for showing its times (as `Service.zone`)."""
        if event_id not in self._zones:
            event = self.event(event_id)
            self._zones[event_id] = ZoneInfo(event.timezone if event else "UTC")
        return self._zones[event_id]

    def accounts(self, event_id: str) -> dict[str, EventAccount]:
        """The event's accounts by id (as `Service.accounts`)."""
        event = self.event(event_id)
        return {a.id: a for a in event_accounts(event)} if event is not None else {}

    def live_lease(self) -> Lease | None:
        """The lease if a run holds it now (as `Store.live_lease`, on the machine's clock)."""
        found = self._rows("lease", "SELECT * FROM lease WHERE name = ?", (LEASE_NAME,))
        if not found or not found[0]["holder"]:
            return None
        lease = row_to_lease(found[0])
        return lease if lease.alive(datetime.now(UTC)) else None


def _utc(value: Any) -> datetime | None:
    """A time as SQLAlchemy's SQLite dialect writes it ("2020-11-12 12:31:00.000000"), aware, in UTC."""
    if value is None:
        return None
    when = datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
