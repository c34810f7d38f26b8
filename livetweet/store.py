"""The store: every table and every query (events, drafts, revisions, audit, inbox, settings,
the lease), on SQLAlchemy Core, with typed rows. Nothing above it holds SQL.

It is the single source of truth. SQLite (a file, WAL, foreign keys on) is the embedded
default; PostgreSQL works the same. Every change of a draft's state goes through
`Store.transition`, which checks the move, compares the row's version (so that of two
operators acting at once exactly one wins) and writes the audit row in one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import (
    Connection as Connection,  # re-exported: the service types its transactions with it
    Engine,
)

from .clock import Clock, SystemClock
from .draft import (
    DEFAULT_ACCOUNT as DEFAULT_ACCOUNT,
    Actor,
    Attachment,
    Conflict,
    Draft,
    DraftState,
    StaleRevision,
    UnknownDraft,
    check_action,
)
from .errors import LeaseBusy as LeaseBusy, LeaseHeld as LeaseHeld, LeaseLost as LeaseLost, StoreError as StoreError
from .inbox import Message, UnfetchedMedia
from .rows import (
    APP_ID as APP_ID,
    LEASE_NAME as LEASE_NAME,
    RUNNER_STALE_SECONDS as RUNNER_STALE_SECONDS,
    SCHEMA_VERSION as SCHEMA_VERSION,
    AuditEntry as AuditEntry,
    ConsoleSession as ConsoleSession,
    EventAccount as EventAccount,
    EventRow as EventRow,
    Lease as Lease,
    NewDraft as NewDraft,
    NewMessage as NewMessage,
    Pause as Pause,
    Revision as Revision,
    SegmentRow as SegmentRow,
    ShiftEntry as ShiftEntry,
    accounts_json as accounts_json,
    event_accounts as event_accounts,
    holder_is_gone as holder_is_gone,
    media_from_json as media_from_json,
    media_json as media_json,
    row_to_draft as row_to_draft,
    row_to_lease as row_to_lease,
)

PAUSED_KEY = "paused"
INBOX_CURSOR_KEY = "inbox_cursor:"  # + an account id: where that account's next poll of its inbox starts
OLD_UNFETCHED_KEY = "inbox_unfetched"  # the settings row that held inbox_media's rows before the table
IDLE_IN_TRANSACTION_SECONDS = 5.0  # PostgreSQL ends a transaction left idle this long (a frozen process)
LEASE_LOCK_WAIT_SECONDS = 2.0  # a takeover waits this long for a frozen run's lock on the lease
DEFAULT_DATABASE_URL = "sqlite:///livetweet.db"
# PostgreSQL as the dead-man switch of the run that posts (two machines on one store): the
# server ends the leader's session this long after its last word, and with it its lock.
LEADER_SILENCE_SECONDS = 4.0
LEADER_PING_SECONDS = 1.0  # how often the leader speaks on that session, well inside the silence


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: times must carry their zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

meta_table = sa.Table(
    "livetweet_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("schedule_path", sa.Text, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("posts_from", UTCDateTime),  # the posting span: no post before or after it
    sa.Column("posts_until", UTCDateTime),
    sa.Column("loaded_at", UTCDateTime, nullable=False),
    # The schedule's budget (US dollars a day on X), kept at load: a standby on another machine,
    # whose copy of the schedule may sit elsewhere or differ, holds the run to the same budget.
    sa.Column("x_usd_per_day", sa.Float),
    sa.Column("accounts", sa.Text),  # JSON list of {id, network, handle, max_chars}; NULL: its X account alone
)

drafts_table = sa.Table(
    "drafts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(200), sa.ForeignKey("events.id"), nullable=False),
    sa.Column("slot", sa.String(200), nullable=False),
    # The account (the schedule's account id) this delivery of the slot posts to: one draft per slot and account.
    sa.Column("account", sa.String(64), nullable=False, server_default=DEFAULT_ACCOUNT),
    sa.Column("segment", sa.String(200), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # schedule, dm, compose
    sa.Column("template", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("planned_text", sa.Text, nullable=False),  # what the schedule produced at the last load
    sa.Column("weighted_length", sa.Integer, nullable=False),
    sa.Column("hashtags", sa.Text, nullable=False),  # JSON list
    sa.Column("wanted_hashtags", sa.Text, nullable=False),  # JSON list
    sa.Column("planned_at", UTCDateTime, nullable=False),  # the schedule's time, before shifts
    sa.Column("at", UTCDateTime, nullable=False),  # when it is due now (planned_at + shifts)
    sa.Column("valid_until", UTCDateTime, nullable=False),
    sa.Column("reply_to", sa.String(200)),
    sa.Column("approved_revision", sa.Integer),
    sa.Column("approved_by", sa.String(200)),
    sa.Column("approved_at", UTCDateTime),
    sa.Column("tweet_id", sa.String(64)),
    sa.Column("posted_at", UTCDateTime),
    sa.Column("claimed_at", UTCDateTime),  # when the last attempt to post began
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime),  # after a 5xx or 429: not before this
    sa.Column("last_error", sa.Text),
    sa.Column("claim_epoch", sa.Integer),  # the lease epoch of the run that claimed it last
    sa.Column("media", sa.Text),  # JSON list of Attachment (the images it carries); NULL: none
    # The delivery's idempotency key, chosen at its first claim and kept for every retry (Bluesky's record
    # key, Mastodon's Idempotency-Key); NULL on X, which has none.
    sa.Column("post_key", sa.String(64)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("event_id", "slot", "account", name="uq_drafts_event_slot_account"),
)
sa.Index("ix_drafts_state_at", drafts_table.c.state, drafts_table.c.at)
sa.Index("ix_drafts_event_state_until", drafts_table.c.event_id, drafts_table.c.state, drafts_table.c.valid_until)
sa.Index("ix_drafts_event_reply_to", drafts_table.c.event_id, drafts_table.c.reply_to)

revisions_table = sa.Table(
    "revisions",
    metadata,
    sa.Column("draft_id", sa.Integer, sa.ForeignKey("drafts.id"), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("cause", sa.String(32), nullable=False),  # load, reload, edit
)

audit_table = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("draft_id", sa.Integer, sa.ForeignKey("drafts.id")),
    sa.Column("event_id", sa.String(200)),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("operator", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_state", sa.String(16)),
    sa.Column("to_state", sa.String(16)),
    sa.Column("revision", sa.Integer),
    sa.Column("reason", sa.Text),
    sa.Column("detail", sa.Text),  # JSON
)
sa.Index("ix_audit_draft", audit_table.c.draft_id, audit_table.c.id)

segments_table = sa.Table(
    "segments",
    metadata,
    sa.Column("event_id", sa.String(200), sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("planned_start", UTCDateTime, nullable=False),
    sa.Column("planned_end", UTCDateTime, nullable=False),
    sa.Column("hashtags", sa.Text, nullable=False),  # JSON: what its posts must carry
    sa.Column("position", sa.Integer, nullable=False),
)

shifts_table = sa.Table(
    "shifts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(200), sa.ForeignKey("events.id"), nullable=False),
    sa.Column("from_planned", UTCDateTime),  # applies to slots planned at or after this (None: all)
    sa.Column("seconds", sa.Integer, nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

inbox_table = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # The account (the schedule's account id) the message was sent to, and thereby its network.
    sa.Column("account", sa.String(64), nullable=False, server_default=DEFAULT_ACCOUNT),
    # The network's id of it (X's event id, Bluesky's chat message id, Mastodon's notification id):
    # each kept once per account, as two networks' ids may be the same.
    sa.Column("dm_id", sa.String(64), nullable=False),
    sa.Column("sender_id", sa.String(64), nullable=False),
    sa.Column("sender_username", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),  # cleaned: what is shown and posted
    sa.Column("original", sa.Text, nullable=False),  # exactly as received (JSON string, ASCII)
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("conversation_id", sa.String(128), nullable=False),
    sa.Column("media_keys", sa.Text, nullable=False),  # JSON list
    sa.Column("media", sa.Text),  # JSON list of Attachment fetched from X (alt text empty); NULL: none
    sa.Column("state", sa.String(16), nullable=False),  # new, reshared, dismissed
    sa.Column("draft_id", sa.Integer, sa.ForeignKey("drafts.id")),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("account", "dm_id", name="uq_inbox_account_dm_id"),
)
sa.Index("ix_inbox_state", inbox_table.c.state, inbox_table.c.received_at)

# The attachments of kept messages that livetweet does not have, one row each: those the network
# may still give (waiting, asked again at next_try_at) and those lost. No foreign key: a row
# outlives its message (the poll then says the message is gone). Only the poll writes them.
inbox_media_table = sa.Table(
    "inbox_media",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("dm_id", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),  # its place among the message's attachments, from 1
    sa.Column("media_key", sa.String(128), nullable=False),  # the network's id of it ("" when none)
    sa.Column("kind", sa.String(32), nullable=False),  # photo, animated_gif, video
    sa.Column("url", sa.Text, nullable=False),  # where the network serves it ("" when it gave none)
    sa.Column("sender", sa.String(255), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),  # how many attachments the message has
    sa.Column("state", sa.String(16), nullable=False),  # waiting, lost
    sa.Column("tries", sa.Integer, nullable=False),
    sa.Column("next_try_at", UTCDateTime),  # when waiting
    sa.Column("reason", sa.Text, nullable=False),  # the last failure, in words
)
sa.Index("ix_inbox_media_due", inbox_media_table.c.state, inbox_media_table.c.next_try_at)

# Images, re-encoded (metadata removed), by the SHA-256 of their bytes: kept in the store so a
# standby machine on the same database has them too, and each kept once however many posts use it.
media_table = sa.Table(
    "media",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# The lease: which run posts from this store. `epoch` grows with every takeover and fences
# the runs before it: their claims and records carry the old epoch and are refused.
lease_table = sa.Table(
    "lease",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("holder", sa.String(64), nullable=False),  # "" when nobody holds it
    sa.Column("pid", sa.Integer),
    sa.Column("host", sa.String(255)),
    sa.Column("kind", sa.String(16)),  # live, rehearsal, dry-run
    sa.Column("since", UTCDateTime),
    sa.Column("heartbeat", UTCDateTime),
    sa.Column("clock", sa.Text),  # JSON: a rehearsal's clock, for operators' commands to follow
    sa.Column("x_api_url", sa.Text),  # where the run posts (never a secret)
)

settings_table = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("as_of", sa.String(32), nullable=False),
)

# The console's logins, kept here so that a restart (or the standby's console) keeps them. Only
# hashes of session ids and link tokens are stored: a copy of the store logs nobody in.
console_sessions_table = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("operator", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("seen_at", UTCDateTime, nullable=False),  # last use, renewed at most once a minute
    sa.Column("expires_at", UTCDateTime, nullable=False),  # absolute: however busy it is
)

console_tokens_table = sa.Table(
    "console_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),  # a link logs in once
)


def _sqlite_path(url: sa.URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # We issue BEGIN ourselves (see _on_sqlite_begin), so the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_postgres_connect(dbapi_connection: Any, _record: Any) -> None:
    # A process frozen in the middle of a transaction (SIGSTOP, a suspended laptop) would hold
    # its row locks for as long as it is frozen; the server ends such a transaction instead.
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET idle_in_transaction_session_timeout = '{int(IDLE_IN_TRANSACTION_SECONDS * 1000)}ms'")
        cursor.execute(f"SET application_name = 'livetweet {os.getpid()}'")  # who is who in pg_stat_activity
    dbapi_connection.commit()


def _on_sqlite_begin(conn: Connection) -> None:
    """Writers take the write lock when they begin, so a read-then-write never deadlocks."""
    immediate = conn.get_execution_options().get("livetweet_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _row_to_audit(r: sa.RowMapping) -> AuditEntry:
    return AuditEntry(
        id=r["id"],
        draft_id=r["draft_id"],
        event_id=r["event_id"],
        at=r["at"],
        operator=r["operator"],
        action=r["action"],
        from_state=r["from_state"],
        to_state=r["to_state"],
        revision=r["revision"],
        reason=r["reason"],
        detail=json.loads(r["detail"]) if r["detail"] else {},
    )


def _original_for_storage(text: str) -> str:
    """A message's exact text, storable in any database (lone surrogates escaped as JSON)."""
    return json.dumps(text, ensure_ascii=True)


def _original_from_storage(stored: str) -> str:
    value = json.loads(stored)
    return value if isinstance(value, str) else str(value)


def _row_to_message(row: sa.RowMapping) -> Message:
    return Message(
        id=row["id"],
        dm_id=row["dm_id"],
        sender_id=row["sender_id"],
        sender=row["sender_username"],
        text=row["text"],
        original=_original_from_storage(row["original"]),
        received_at=row["received_at"],
        conversation_id=row["conversation_id"],
        media_keys=tuple(json.loads(row["media_keys"])),
        state=row["state"],
        draft_id=row["draft_id"],
        media=media_from_json(row["media"]),
        account=row["account"],
    )


def _row_to_unfetched(row: sa.RowMapping) -> UnfetchedMedia:
    return UnfetchedMedia(
        dm_id=row["dm_id"], number=row["number"], total=row["total"], key=row["media_key"], kind=row["kind"],
        url=row["url"], sender=row["sender"], reason=row["reason"], state=row["state"], tries=row["tries"],
        next_try_at=row["next_try_at"], account=row["account"],
    )  # fmt: skip


# The statements the posting path runs on every claim, built once: SQLAlchemy then compiles each
# once and reuses it, where a statement built per call is coerced and keyed anew every time.
_GET_DRAFT = sa.select(drafts_table).where(drafts_table.c.id == sa.bindparam("b_id"))
_SET_DRAFT = (  # SET: the columns named in the parameters; only at the version and state read
    drafts_table.update()
    .where(
        drafts_table.c.id == sa.bindparam("b_id"),
        drafts_table.c.version == sa.bindparam("b_version"),
        drafts_table.c.state == sa.bindparam("b_state"),
    )
    .returning(*drafts_table.c)
)
_AUDIT_INSERT = audit_table.insert()
_READ_LEASE = sa.select(lease_table).where(lease_table.c.name == LEASE_NAME)
_SHARE_LEASE = _READ_LEASE.with_for_update(read=True)
_LOCK_LEASE = _READ_LEASE.with_for_update()
_SET_LEASE = lease_table.update().where(lease_table.c.name == LEASE_NAME)  # SET: the parameters' columns
_READ_PAUSED = sa.select(settings_table.c.value).where(settings_table.c.key == PAUSED_KEY)
_LOCK_PAUSED = _READ_PAUSED.with_for_update()


def _due_statement() -> sa.Select[Any]:
    """The sweep's drafts (in flight, due, or past their window) of event b_event at b_now, indexed."""
    d = drafts_table.c
    mine = d.event_id == sa.bindparam("b_event")
    now = sa.bindparam("b_now", type_=UTCDateTime)
    parts = [
        sa.select(d.id).where(mine, d.state == DraftState.POSTING.value),
        sa.select(d.id).where(mine, d.state == DraftState.APPROVED.value, d.at <= now),
        sa.select(d.id).where(
            mine, d.state.in_([DraftState.APPROVED.value, DraftState.PENDING.value]), d.valid_until < now
        ),
    ]
    ids = sa.union(*parts).subquery()
    return sa.select(drafts_table).where(d.id.in_(sa.select(ids.c.id))).order_by(d.at, d.id)


_DUE = _due_statement()


def _segment(row: Any) -> SegmentRow:
    """A segments row with its hashtags read back from their JSON list."""
    hashtags = tuple(json.loads(row["hashtags"]))
    return SegmentRow(row["id"], row["title"], row["planned_start"], row["planned_end"], hashtags, row["position"])


def _unfetched_row(u: UnfetchedMedia) -> dict[str, Any]:
    return {
        "account": u.account, "dm_id": u.dm_id, "number": u.number, "media_key": u.key, "kind": u.kind,
        "url": u.url, "sender": u.sender, "total": u.total, "state": u.state, "tries": u.tries,
        "next_try_at": u.next_try_at, "reason": u.reason,
    }  # fmt: skip


class Store:
    """A livetweet database: opened (and created or migrated) once, shared by all commands."""

    def __init__(self, url: str = DEFAULT_DATABASE_URL, *, create: bool = True, wall: Clock | None = None) -> None:
        self.url = url
        # The machine's clock, for the lease: never a rehearsal's fast clock.
        self.wall: Clock = wall or SystemClock()
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f'"{url}" is not a database URL (like sqlite:///livetweet.db)') from exc
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not SQLAlchemy's default psycopg2
        self.display = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StoreError(
                f"livetweet keeps its store in SQLite or PostgreSQL, not {backend}: use a URL like "
                "sqlite:///livetweet.db or postgresql://USER@HOST/DATABASE"
            )
        self.is_sqlite = backend == "sqlite"
        sqlite_file = _sqlite_path(parsed)
        if self.is_sqlite and sqlite_file is None:
            raise StoreError(
                f"{self.display} is a database in memory: everything would be lost when the command ends; "
                "name a file, like sqlite:///livetweet.db"
            )
        if sqlite_file is not None and sqlite_file.exists():
            _check_sqlite_file(sqlite_file)  # before SQLite writes a byte to it (WAL mode is a write)
        if sqlite_file is not None and not create and not sqlite_file.exists():
            raise StoreError(
                f"there is no livetweet store at {sqlite_file.resolve()}: run this where you ran `livetweet load` "
                "or `livetweet run`, or name the store with --db (a rehearsal's: --rehearsal)"
            )
        self.create = create
        created = _create_private(sqlite_file) if sqlite_file is not None and create else False
        try:
            self.engine: Engine = sa.create_engine(parsed, future=True, pool_pre_ping=not self.is_sqlite)
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"the database driver for {self.display} is not installed ({exc.name}): "
                "pip install 'livetweet[postgres]'"
            ) from exc
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _on_sqlite_connect)
            sa.event.listen(self.engine, "begin", _on_sqlite_begin)
        else:
            sa.event.listen(self.engine, "connect", _on_postgres_connect)
        # SQLite has one writer at a time; threads of this process queue here instead of in
        # SQLite's busy handler, which sleeps in growing steps (long tails under load).
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._migrate()
        if created and sqlite_file is not None:
            # SQLite gives its -wal and -shm files the database's mode; make sure of it.
            for suffix in ("-wal", "-shm"):
                side = sqlite_file.with_name(sqlite_file.name + suffix)
                if side.exists():
                    os.chmod(side, 0o600)

    def close(self) -> None:
        self.engine.dispose()

    @staticmethod
    def same_database(url: str, other: str) -> bool:
        """Do two URLs name one database (a copy onto itself would find it full)?"""
        try:
            a, b = sa.make_url(url), sa.make_url(other)
        except sa.exc.ArgumentError:
            return False
        if a.get_backend_name() == b.get_backend_name() == "sqlite":
            left, right = _sqlite_path(a), _sqlite_path(b)
            return left is not None and right is not None and left.resolve() == right.resolve()
        return a.set(drivername="x").render_as_string() == b.set(drivername="x").render_as_string()

    # --- schema -------------------------------------------------------------------

    def _migrate(self) -> None:
        """Create the schema on an empty database; refuse foreign or newer ones."""
        try:
            if self.is_sqlite:
                _rebuild_sqlite_drafts(self.engine)
                _rebuild_sqlite_inbox(self.engine)
            with self.begin() as conn:
                inspector = sa.inspect(conn)
                tables = set(inspector.get_table_names())
                if "livetweet_meta" not in tables:
                    if not tables and not self.create:
                        raise StoreError(
                            f"{self.display} holds no livetweet store yet: `livetweet load SCHEDULE` creates it"
                        )
                    if tables:
                        raise StoreError(
                            f"{self.display} is not a livetweet database (it holds other tables: "
                            f"{', '.join(sorted(tables)[:5])}): choose another with --db"
                        )
                    metadata.create_all(conn)
                    conn.execute(
                        meta_table.insert(),
                        [{"key": "app", "value": APP_ID}, {"key": "schema_version", "value": str(SCHEMA_VERSION)}],
                    )
                    # The pause flag is one row that posting locks while it claims a draft.
                    conn.execute(settings_table.insert().values(key=PAUSED_KEY, value="", as_of=""))
                    conn.execute(lease_table.insert().values(name=LEASE_NAME, epoch=0, holder=""))
                    return
                meta = {k: v for k, v in conn.execute(sa.select(meta_table.c.key, meta_table.c.value))}
                if meta.get("app") != APP_ID:
                    raise StoreError(f"{self.display} is not a livetweet database: choose another with --db")
                raw_version = str(meta.get("schema_version", "0"))
                if not (raw_version.isascii() and raw_version.isdigit() and len(raw_version) < 6):
                    raise StoreError(
                        f'{self.display} has a schema version livetweet cannot read ("{raw_version[:20]}"): '
                        "it was damaged, or written by something else; choose another with --db"
                    )
                version = int(raw_version)
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.display} was written by a newer livetweet (schema {version}; this one knows "
                        f"{SCHEMA_VERSION}): upgrade livetweet to use it"
                    )
                if version < 2:
                    _migrate_to_2(conn)
                if version < 3:
                    console_sessions_table.create(conn)
                    console_tokens_table.create(conn)
                if version < 4:
                    conn.execute(sa.text("ALTER TABLE drafts ADD COLUMN media TEXT"))
                    conn.execute(sa.text("ALTER TABLE inbox ADD COLUMN media TEXT"))
                    media_table.create(conn)
                if version < 5:
                    conn.execute(sa.text("ALTER TABLE events ADD COLUMN x_usd_per_day FLOAT"))
                if version < 6:
                    _migrate_to_6(conn)
                if "inbox_media" not in tables:  # schema 6's inbox, also for a store an earlier build of 6 wrote
                    _migrate_inbox_to_6(conn)
                if version < SCHEMA_VERSION:
                    conn.execute(
                        meta_table.update()
                        .where(meta_table.c.key == "schema_version")
                        .values(value=str(SCHEMA_VERSION))
                    )
                # Future migrations run here, one version at a time, in this transaction.
        except sa.exc.DatabaseError as exc:
            raise StoreError(f"cannot use the database {self.display}: {_db_message(exc)}") from exc
        except sa.exc.OperationalError as exc:  # pragma: no cover - covered by DatabaseError
            raise StoreError(f"cannot reach the database {self.display}: {_db_message(exc)}") from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; on SQLite it takes the write lock at once (BEGIN IMMEDIATE)."""
        try:
            with self._write_lock or nullcontext(), self.engine.connect() as conn:
                conn.execution_options(livetweet_immediate=True)
                with conn.begin():
                    yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"the database {self.display} failed: {_db_message(exc)}") from exc

    # --- reading ---------------------------------------------------------------

    def get(self, draft_id: int, conn: Connection | None = None) -> Draft:
        """One draft as it is now (in `conn`'s transaction, when given)."""
        if conn is None:
            with self.engine.connect() as c:
                return self.get(draft_id, c)
        row = conn.execute(_GET_DRAFT, {"b_id": draft_id}).mappings().first()
        if row is None:
            raise UnknownDraft(f"there is no draft {draft_id}: `livetweet queue` lists them")
        return row_to_draft(row)

    def drafts(
        self,
        *,
        event_id: str | None = None,
        states: list[DraftState] | None = None,
        conn: Connection | None = None,
        limit: int | None = None,
        offset: int = 0,
        due_before: datetime | None = None,
        open_after: datetime | None = None,
        containing: str | None = None,
    ) -> list[Draft]:
        """Drafts by time (then id), optionally of one event, in some states, one page of them.

        `due_before`: only those due before then; `open_after`: only those whose window is still
        open then; `containing`: only those whose text or slot holds these words (any case).
        """
        if conn is None:
            with self.engine.connect() as c:
                return self.drafts(
                    event_id=event_id, states=states, conn=c, limit=limit, offset=offset,
                    due_before=due_before, open_after=open_after, containing=containing,
                )  # fmt: skip
        q = sa.select(drafts_table).order_by(drafts_table.c.at, drafts_table.c.id)
        q = _filter_drafts(q, event_id, states, due_before, open_after, containing)
        if limit is not None:
            q = q.limit(limit).offset(offset)
        return [row_to_draft(r) for r in conn.execute(q).mappings()]

    def count_drafts(
        self,
        *,
        event_id: str | None = None,
        states: list[DraftState] | None = None,
        open_after: datetime | None = None,
        containing: str | None = None,
    ) -> int:
        with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(drafts_table)
            q = _filter_drafts(q, event_id, states, None, open_after, containing)
            return int(conn.execute(q).scalar_one())

    # --- media -------------------------------------------------------------------

    def put_media(self, conn: Connection | None, data: bytes, kind: str, width: int, height: int) -> str:
        """Keep an image's (re-encoded) bytes, once however often it is put; returns its SHA-256."""
        if conn is None:
            with self.begin() as c:
                return self.put_media(c, data, kind, width, height)
        sha = hashlib.sha256(data).hexdigest()
        if conn.execute(sa.select(media_table.c.sha256).where(media_table.c.sha256 == sha)).first() is None:
            conn.execute(
                media_table.insert().values(
                    sha256=sha, kind=kind, width=width, height=height, size=len(data), data=data,
                    created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        return sha

    def media_data(self, sha256: str, conn: Connection | None = None) -> tuple[bytes, str] | None:
        """An image's bytes and MIME type, or None when the store has no such image."""
        if conn is None:
            with self.engine.connect() as c:
                return self.media_data(sha256, c)
        row = conn.execute(sa.select(media_table.c.data, media_table.c.kind).where(media_table.c.sha256 == sha256))
        found = row.first()
        return (bytes(found[0]), str(found[1])) if found else None

    def media_info(self, sha256: str) -> Attachment | None:
        """A kept image's type, size and dimensions (no bytes, no alt text), or None."""
        t = media_table.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.kind, t.width, t.height, t.size).where(t.sha256 == sha256)).first()
        return Attachment(sha256, "", row[0], row[1], row[2], row[3]) if row else None

    def set_message_media(self, conn: Connection, message_id: int, media: tuple[Attachment, ...]) -> None:
        """The images fetched for a direct message."""
        conn.execute(inbox_table.update().where(inbox_table.c.id == message_id).values(media=media_json(media)))

    def draft_times(self, event_id: str) -> list[tuple[datetime, DraftState]]:
        """Every draft's time and state, and nothing else: the console's timeline of 10,000 posts."""
        q = sa.select(drafts_table.c.at, drafts_table.c.state).where(drafts_table.c.event_id == event_id)
        with self.engine.connect() as conn:
            return [(at, DraftState(state)) for at, state in conn.execute(q)]

    def audit(self, draft_id: int | None = None, conn: Connection | None = None) -> list[AuditEntry]:
        if conn is None:
            with self.engine.connect() as c:
                return self.audit(draft_id, c)
        q = sa.select(audit_table).order_by(audit_table.c.id)
        if draft_id is not None:
            q = q.where(audit_table.c.draft_id == draft_id)
        return [_row_to_audit(r) for r in conn.execute(q).mappings()]

    def revisions(self, draft_id: int) -> list[Revision]:
        """Every revision of one draft, oldest first, with its words."""
        with self.engine.connect() as conn:
            q = sa.select(revisions_table).where(revisions_table.c.draft_id == draft_id).order_by("revision")
            return [Revision(**r) for r in conn.execute(q).mappings()]

    def shifts(self, event_id: str, conn: Connection | None = None) -> list[tuple[datetime | None, int]]:
        """The event's shifts as (applies from this planned time, or None for all; seconds)."""
        if conn is None:
            with self.engine.connect() as c:
                return self.shifts(event_id, c)
        q = (
            sa.select(shifts_table.c.from_planned, shifts_table.c.seconds)
            .where(shifts_table.c.event_id == event_id)
            .order_by(shifts_table.c.id)
        )
        return [(r[0], r[1]) for r in conn.execute(q)]

    def segments(self, event_id: str, conn: Connection | None = None) -> list[SegmentRow]:
        """The event's segments in the schedule's order, each with the hashtags its posts carry."""
        if conn is None:
            with self.engine.connect() as c:
                return self.segments(event_id, c)
        q = sa.select(segments_table).where(segments_table.c.event_id == event_id).order_by("position")
        return [_segment(r) for r in conn.execute(q).mappings()]

    def event(self, event_id: str, conn: Connection | None = None) -> EventRow | None:
        """The event as loaded; None when no schedule with this id was loaded here."""
        if conn is None:
            with self.engine.connect() as c:
                return self.event(event_id, c)
        row = conn.execute(sa.select(events_table).where(events_table.c.id == event_id)).mappings().first()
        return EventRow(**row) if row else None

    def events(self) -> list[EventRow]:
        """Every event this store holds, earliest first."""
        with self.engine.connect() as conn:
            return [EventRow(**r) for r in conn.execute(sa.select(events_table).order_by("starts_at")).mappings()]

    # --- writing ---------------------------------------------------------------

    def write_audit(
        self,
        conn: Connection,
        *,
        at: datetime,
        operator: str,
        action: str,
        draft_id: int | None = None,
        event_id: str | None = None,
        from_state: DraftState | None = None,
        to_state: DraftState | None = None,
        revision: int | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            _AUDIT_INSERT,
            {
                "draft_id": draft_id,
                "event_id": event_id,
                "at": at,
                "operator": operator,
                "action": action,
                "from_state": from_state.value if from_state else None,
                "to_state": to_state.value if to_state else None,
                "revision": revision,
                "reason": reason,
                "detail": json.dumps(detail, ensure_ascii=False) if detail else None,
            },
        )

    def transition(
        self,
        conn: Connection,
        draft: Draft,
        action: str,
        *,
        actor: Actor,
        by: str,
        at: datetime,
        reason: str | None = None,
        expected_revision: int | None = None,
        seen_version: int | None = None,
        changes: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Draft:
        """Take `action` on `draft` (as read in this transaction), audited; the one writer of state.

        Checks the action's row of the table (from-state, actor), then compares-and-sets the
        state and version: `seen_version` is the version the caller acted on (a person's page,
        the dispatcher's claim); if the draft changed since, nothing is done (Conflict).
        """
        if seen_version is not None and seen_version != draft.version:
            raise Conflict(
                f"draft {draft.id} changed since you looked at it (it is now {draft.state.value}, revision "
                f"{draft.revision}, by {self._last_operator(conn, draft.id)}): nothing was done; look again "
                f"with `livetweet show {draft.id}`"
            )
        to = check_action(draft.id, draft.state, action, actor)
        if expected_revision is not None and expected_revision != draft.revision:
            raise StaleRevision(
                f"draft {draft.id} is now at revision {draft.revision}, not {expected_revision}: "
                f"look at it again with `livetweet show {draft.id}`"
            )
        values = dict(changes or {})
        values.update(state=to.value, version=draft.version + 1, updated_at=at)
        where = {"b_id": draft.id, "b_version": draft.version, "b_state": draft.state.value}
        row = conn.execute(_SET_DRAFT, {**values, **where}).mappings().first()
        if row is None:
            now = self.get(draft.id, conn)
            raise Conflict(
                f"draft {draft.id} was changed by someone else at the same moment (it is now {now.state.value}, "
                f"revision {now.revision}): nothing was done; look again with `livetweet show {draft.id}`"
            )
        self.write_audit(
            conn,
            at=at,
            operator=by,
            action=action,
            draft_id=draft.id,
            event_id=draft.event_id,
            from_state=draft.state,
            to_state=to,
            revision=values.get("revision", draft.revision),
            reason=reason,
            detail=detail,
        )
        return row_to_draft(row)

    # --- what the posting run asks: work proportional to what is due ---------------

    def due(self, event_id: str, now: datetime, conn: Connection | None = None) -> list[Draft]:
        """Drafts the sweep must look at now: in flight, due, or past their window (indexed)."""
        if conn is None:
            with self.engine.connect() as c:
                return self.due(event_id, now, c)
        rows = conn.execute(_DUE, {"b_event": event_id, "b_now": now}).mappings()
        return [row_to_draft(r) for r in rows]

    def next_due(self, event_id: str) -> Draft | None:
        """The approved draft that falls due first (retries count from their next attempt)."""
        with self.engine.connect() as conn:
            q = (
                sa.select(drafts_table)
                .where(drafts_table.c.event_id == event_id, drafts_table.c.state == DraftState.APPROVED.value)
                .order_by(drafts_table.c.at, drafts_table.c.id)
                .limit(20)
            )
            found = [row_to_draft(r) for r in conn.execute(q).mappings()]
        return min(found, key=lambda x: (max(x.at, x.next_attempt_at or x.at), x.id)) if found else None

    def progress(self, event_id: str) -> tuple[int, datetime | None]:
        """(drafts not yet final, the latest end of a window): one query, for "is it over?"."""
        final = [s.value for s in (DraftState.POSTED, DraftState.REJECTED, DraftState.FAILED,
                                   DraftState.WITHDRAWN, DraftState.MISSED)]  # fmt: skip
        d = drafts_table.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sa.func.count().filter(d.state.not_in(final)), sa.func.max(d.valid_until)).where(
                    d.event_id == event_id
                )
            ).one()
        latest = row[1]
        if isinstance(latest, str):  # SQLite's max() of a datetime column comes back as text
            latest = datetime.fromisoformat(latest)
        if latest is not None and latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        return int(row[0]), latest

    def changed_since(self, audit_id: int) -> tuple[int, set[int]]:
        """(newest audit id, the drafts changed after `audit_id`): what the runner must plan again."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_table.c.id, audit_table.c.draft_id).where(audit_table.c.id > audit_id)
            ).all()
        if not rows:
            return audit_id, set()
        return max(r[0] for r in rows), {r[1] for r in rows if r[1] is not None}

    def newest_audit_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(audit_table.c.id))).scalar() or 0)

    def count_by_state(self, event_id: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            q = (
                sa.select(drafts_table.c.state, sa.func.count())
                .where(drafts_table.c.event_id == event_id)
                .group_by(drafts_table.c.state)
            )
            found = {str(r[0]): int(r[1]) for r in conn.execute(q)}
        return {s.value: found.get(s.value, 0) for s in DraftState}

    def get_many(self, ids: set[int]) -> list[Draft]:
        if not ids:
            return []
        with self.engine.connect() as conn:
            q = sa.select(drafts_table).where(drafts_table.c.id.in_(sorted(ids)))
            return [row_to_draft(r) for r in conn.execute(q).mappings()]

    def replies_to(self, event_id: str, slot: str, account: str = DEFAULT_ACCOUNT) -> list[Draft]:
        """The drafts on one account that answer the delivery of `slot` there."""
        with self.engine.connect() as conn:
            q = sa.select(drafts_table).where(
                drafts_table.c.event_id == event_id,
                drafts_table.c.reply_to == slot,
                drafts_table.c.account == account,
            )
            return [row_to_draft(r) for r in conn.execute(q).mappings()]

    def draft_by_slot(
        self, conn: Connection | None, event_id: str, slot: str, account: str = DEFAULT_ACCOUNT
    ) -> Draft | None:
        """The event's delivery of one slot on one account (a reply's parent there), or None; `conn` None
        reads on its own."""
        if conn is None:
            with self.engine.connect() as c:
                return self.draft_by_slot(c, event_id, slot, account)
        q = sa.select(drafts_table).where(
            drafts_table.c.event_id == event_id, drafts_table.c.slot == slot, drafts_table.c.account == account
        )
        row = conn.execute(q).mappings().first()
        return row_to_draft(row) if row else None

    def ahead_on_account(self, conn: Connection, draft: Draft, now: datetime) -> list[Draft]:
        """The deliveries on `draft`'s account due before it (by time, then id) that are still on their
        way: in posting, or approved at their revision and due (perhaps waiting for a retry)."""
        d = drafts_table.c
        earlier = sa.or_(d.at < draft.at, sa.and_(d.at == draft.at, d.id < draft.id))
        on_way = sa.or_(
            d.state == DraftState.POSTING.value,
            sa.and_(d.state == DraftState.APPROVED.value, d.approved_revision == d.revision, d.at <= now),
        )
        q = (
            sa.select(drafts_table)
            .where(d.event_id == draft.event_id, d.account == draft.account, d.id != draft.id, earlier, on_way)
            .order_by(d.at, d.id)
        )
        return [row_to_draft(r) for r in conn.execute(q).mappings()]

    def deliveries_of(self, conn: Connection | None, event_id: str, slot: str) -> list[Draft]:
        """Every account's delivery of one slot (an approval of the slot on all its accounts)."""
        if conn is None:
            with self.engine.connect() as c:
                return self.deliveries_of(c, event_id, slot)
        q = (
            sa.select(drafts_table)
            .where(drafts_table.c.event_id == event_id, drafts_table.c.slot == slot)
            .order_by(drafts_table.c.id)
        )
        return [row_to_draft(r) for r in conn.execute(q).mappings()]

    def change_marker(self) -> str:
        """Changes whenever anything an operator sees changes (audit, inbox, pause)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.select(sa.func.max(audit_table.c.id)).scalar_subquery(),
                    sa.select(sa.func.max(inbox_table.c.id)).scalar_subquery(),
                    sa.select(settings_table.c.value).where(settings_table.c.key == PAUSED_KEY).scalar_subquery(),
                )
            ).one()
        return f"{row[0]}-{row[1]}-{bool(row[2])}"

    def _last_operator(self, conn: Connection, draft_id: int) -> str:
        row = conn.execute(
            sa.select(audit_table.c.operator)
            .where(audit_table.c.draft_id == draft_id)
            .order_by(audit_table.c.id.desc())
            .limit(1)
        ).first()
        return str(row[0]) if row else "someone"

    def add_revision(
        self, conn: Connection, draft_id: int, revision: int, text: str, by: str, at: datetime, cause: str
    ) -> None:
        conn.execute(
            revisions_table.insert().values(
                draft_id=draft_id, revision=revision, text=text, created_by=by, created_at=at, cause=cause
            )
        )

    def revision_author(self, conn: Connection, draft_id: int, revision: int) -> tuple[str, str]:
        """(who wrote this revision, why: load, reload, edit, compose, reshare)."""
        row = conn.execute(
            sa.select(revisions_table.c.created_by, revisions_table.c.cause).where(
                revisions_table.c.draft_id == draft_id, revisions_table.c.revision == revision
            )
        ).first()
        return (str(row[0]), str(row[1])) if row else ("schedule", "load")

    def paused(self, conn: Connection | None = None, lock: bool = False) -> Pause | None:
        """Who paused posting, when and why; None when posting runs. `lock` holds the row."""
        if conn is None:
            with self.engine.connect() as c:
                return self.paused(c)
        value = conn.execute(_LOCK_PAUSED if lock and not self.is_sqlite else _READ_PAUSED).scalar()
        if not value:
            return None
        kept = json.loads(value)
        return Pause(
            str(kept["by"]),
            str(kept.get("at") or ""),
            str(kept.get("reason") or ""),
            str(kept.get("kind") or "operator"),
        )

    def set_paused(self, conn: Connection, value: Pause | None) -> None:
        """Pause posting (a Pause) or let it run again (None), inside the caller's transaction."""
        conn.execute(
            settings_table.update()
            .where(settings_table.c.key == PAUSED_KEY)
            .values(value=json.dumps(asdict(value)) if value else "", as_of="")
        )

    # --- planning: events, segments, new drafts, shifts -------------------------------

    def add_event(self, conn: Connection, event: EventRow) -> None:
        conn.execute(events_table.insert().values(**asdict(event)))

    def update_event(self, conn: Connection, event: EventRow) -> None:
        values = asdict(event)
        del values["id"]
        conn.execute(events_table.update().where(events_table.c.id == event.id).values(**values))

    def event_ids_from(self, conn: Connection, schedule_path: str) -> list[str]:
        """The events loaded from this schedule file: one, unless its event id was renamed."""
        q = sa.select(events_table.c.id).where(events_table.c.schedule_path == schedule_path)
        return [str(r[0]) for r in conn.execute(q)]

    def replace_segments(self, conn: Connection, event_id: str, segments: list[SegmentRow]) -> None:
        """The event's segments are these now (a load keeps them in the schedule's order)."""
        conn.execute(segments_table.delete().where(segments_table.c.event_id == event_id))
        if segments:
            conn.execute(
                segments_table.insert(),
                [{**asdict(seg), "event_id": event_id, "hashtags": json.dumps(list(seg.hashtags))} for seg in segments],
            )

    def create_drafts(
        self,
        conn: Connection,
        event_id: str,
        drafts: list[NewDraft],
        *,
        by: str,
        at: datetime,
        cause: str,
        action: str,
        detail: dict[str, Any] | None = None,
    ) -> list[Draft]:
        """Pending drafts with their first revision (`cause`) and audit rows (`action`), in three
        statements whatever their number; returns them by time."""
        if not drafts:
            return []
        rows = [
            {
                **asdict(d),
                "event_id": event_id,
                "state": DraftState.PENDING.value,
                "revision": 1,
                "hashtags": json.dumps(list(d.hashtags)),
                "wanted_hashtags": json.dumps(list(d.wanted_hashtags)),
                "media": media_json(d.media),
                "version": 1,
                "updated_at": at,
            }
            for d in drafts
        ]
        ids = {
            (slot, account): draft_id
            for draft_id, slot, account in conn.execute(
                drafts_table.insert().returning(drafts_table.c.id, drafts_table.c.slot, drafts_table.c.account), rows
            )
        }
        conn.execute(
            revisions_table.insert(),
            [
                {
                    "draft_id": ids[d.slot, d.account],
                    "revision": 1,
                    "text": d.text,
                    "created_by": by,
                    "created_at": at,
                    "cause": cause,
                }
                for d in drafts
            ],
        )
        detail_json = json.dumps(detail, ensure_ascii=False) if detail else None
        conn.execute(
            audit_table.insert(),
            [
                {
                    "draft_id": ids[d.slot, d.account],
                    "event_id": event_id,
                    "at": at,
                    "operator": by,
                    "action": action,
                    "from_state": None,
                    "to_state": DraftState.PENDING.value,
                    "revision": 1,
                    "reason": None,
                    "detail": detail_json,
                }
                for d in drafts
            ],
        )
        if len(ids) == 1:
            return [self.get(next(iter(ids.values())), conn)]
        created = set(ids.values())
        return [d for d in self.drafts(event_id=event_id, conn=conn) if d.id in created]

    def count_by_source(self, conn: Connection, source: str) -> int:
        """How many drafts, of every event, came from `source` (schedule, dm, compose)."""
        q = sa.select(sa.func.count()).select_from(drafts_table).where(drafts_table.c.source == source)
        return int(conn.execute(q).scalar_one())

    def add_shift(
        self, conn: Connection, event_id: str, from_planned: datetime | None, seconds: int, by: str, at: datetime
    ) -> None:
        """An operator's shift: posts planned at or after `from_planned` (None: all) move by `seconds`."""
        conn.execute(
            shifts_table.insert().values(event_id=event_id, from_planned=from_planned, seconds=seconds, by=by, at=at)
        )

    # --- the inbox: direct messages, each kept once --------------------------------------

    def newest_dm_id(self, account: str = DEFAULT_ACCOUNT) -> str | None:
        """The newest id among an account's messages kept: the longest, then the greatest, never cast to a
        number (X's and Mastodon's ids are numbers kept as text, Bluesky's are TIDs, sorted as written)."""
        i = inbox_table.c
        q = sa.select(i.dm_id).where(i.account == account).order_by(sa.func.length(i.dm_id).desc(), i.dm_id.desc())
        with self.engine.connect() as conn:
            newest = conn.execute(q.limit(1)).scalar()
        return str(newest) if newest is not None else None

    def inbox_cursor(self, account: str = DEFAULT_ACCOUNT) -> str | None:
        """Where the account's next poll starts, as its network gave it (Bluesky's chat log cursor); None: none kept."""
        found = self.setting(INBOX_CURSOR_KEY + account)
        return found[0] if found and found[0] else None

    def put_inbox_cursor(self, conn: Connection, account: str, cursor: str, as_of: datetime) -> None:
        """Keep where the account's next poll starts, in the transaction that keeps what this one read."""
        self.put_setting(conn, INBOX_CURSOR_KEY + account, cursor, as_of.isoformat())

    def known_dm_ids(self, conn: Connection, dm_ids: list[str], account: str = DEFAULT_ACCOUNT) -> set[str]:
        """Which of these ids of the account's messages are kept already."""
        known: set[str] = set()
        i = inbox_table.c
        for start in range(0, len(dm_ids), 500):
            q = sa.select(i.dm_id).where(i.account == account, i.dm_id.in_(dm_ids[start : start + 500]))
            known.update(r[0] for r in conn.execute(q))
        return known

    def add_messages(self, conn: Connection, messages: list[NewMessage]) -> None:
        """Keep these messages, new (the original stored as ASCII JSON: lone surrogates survive)."""
        if not messages:
            return
        conn.execute(
            inbox_table.insert(),
            [
                {
                    **asdict(m),
                    "original": _original_for_storage(m.original),
                    "media_keys": json.dumps(list(m.media_keys)),
                    "media": media_json(m.media),
                    "state": "new",
                    "draft_id": None,
                    "version": 1,
                }
                for m in messages
            ],
        )

    def messages(self, include_all: bool = False) -> list[Message]:
        """The inbox by time received: the new messages, or `include_all` of them."""
        q = sa.select(inbox_table).order_by(inbox_table.c.received_at, inbox_table.c.id)
        if not include_all:
            q = q.where(inbox_table.c.state == "new")
        with self.engine.connect() as conn:
            return [_row_to_message(r) for r in conn.execute(q).mappings()]

    def message(self, message_id: int, conn: Connection | None = None) -> Message | None:
        if conn is None:
            with self.engine.connect() as c:
                return self.message(message_id, c)
        row = conn.execute(sa.select(inbox_table).where(inbox_table.c.id == message_id)).mappings().first()
        return _row_to_message(row) if row else None

    def set_message_state(
        self, conn: Connection, message_id: int, from_state: str, to_state: str, draft_id: int | None = None
    ) -> bool:
        """Move a message on from the state it was read in; False if someone moved it meanwhile."""
        i = inbox_table.c
        result = conn.execute(
            inbox_table.update()
            .where(i.id == message_id, i.state == from_state)
            .values(state=to_state, draft_id=draft_id, version=i.version + 1)
        )
        return result.rowcount == 1

    def message_by_dm_id(self, account: str, dm_id: str, conn: Connection | None = None) -> Message | None:
        """The message the network calls `dm_id`, sent to `account`."""
        if conn is None:
            with self.engine.connect() as c:
                return self.message_by_dm_id(account, dm_id, c)
        i = inbox_table.c
        row = conn.execute(sa.select(inbox_table).where(i.account == account, i.dm_id == dm_id)).mappings().first()
        return _row_to_message(row) if row else None

    # --- the attachments the inbox does not have (inbox_media) ---------------------------

    def unfetched_media(
        self, dm_ids: set[str] | None = None, account: str | None = None, conn: Connection | None = None
    ) -> list[UnfetchedMedia]:
        """The attachments not fetched of these messages (None: of all; `account`: its own only), by
        account, message (as its network orders ids) and place."""
        if conn is None:
            with self.engine.connect() as c:
                return self.unfetched_media(dm_ids, account, c)
        m = inbox_media_table.c
        q = sa.select(inbox_media_table).order_by(m.account, sa.func.length(m.dm_id), m.dm_id, m.number)
        if account is not None:
            q = q.where(m.account == account)
        if dm_ids is None:
            return [_row_to_unfetched(r) for r in conn.execute(q).mappings()]
        wanted = sorted(dm_ids)
        found: list[UnfetchedMedia] = []
        for start in range(0, len(wanted), 500):
            rows = conn.execute(q.where(m.dm_id.in_(wanted[start : start + 500]))).mappings()
            found.extend(_row_to_unfetched(r) for r in rows)
        return sorted(found, key=lambda u: (u.account, len(u.dm_id), u.dm_id, u.number))

    def due_media(self, now: datetime, account: str | None = None) -> list[UnfetchedMedia]:
        """The attachments waiting whose next try has come (of `account`'s messages), in the messages' order."""
        m = inbox_media_table.c
        q = (
            sa.select(inbox_media_table)
            .where(m.state == "waiting", sa.or_(m.next_try_at.is_(None), m.next_try_at <= now))
            .order_by(m.account, sa.func.length(m.dm_id), m.dm_id, m.number)
        )
        if account is not None:
            q = q.where(m.account == account)
        with self.engine.connect() as conn:
            return [_row_to_unfetched(r) for r in conn.execute(q).mappings()]

    def put_unfetched_media(self, conn: Connection, items: list[UnfetchedMedia]) -> None:
        """Record these attachments (new, tried again, lost), each replacing the row of its account, message, place."""
        if not items:
            return
        from sqlalchemy.dialects import postgresql, sqlite

        dialect: Any = sqlite if conn.dialect.name == "sqlite" else postgresql  # both say ON CONFLICT DO UPDATE
        key = ("account", "dm_id", "number")
        rows = {(u.account, u.dm_id, u.number): _unfetched_row(u) for u in items}  # one row per key: the last
        upsert = dialect.insert(inbox_media_table).values(list(rows.values()))
        changed = {c.name: upsert.excluded[c.name] for c in inbox_media_table.columns if c.name not in key}
        conn.execute(upsert.on_conflict_do_update(index_elements=list(key), set_=changed))

    def drop_unfetched_media(self, conn: Connection, items: list[UnfetchedMedia]) -> None:
        """Forget these attachments (fetched at last)."""
        m = inbox_media_table.c
        for u in items:
            conn.execute(
                inbox_media_table.delete().where(m.account == u.account, m.dm_id == u.dm_id, m.number == u.number)
            )

    # --- the lease: one run posts from a store, fenced by an epoch ---------------------

    def lease(self, conn: Connection | None = None) -> Lease | None:
        """Who holds the lease (alive or not); None when nobody ever took it or it was released."""
        if conn is None:
            with self.engine.connect() as c:
                return self.lease(c)
        row = conn.execute(_READ_LEASE).mappings().first()
        if row is None or not row["holder"]:
            return None
        return row_to_lease(row)

    def last_kind(self) -> str | None:
        """What kind of run (live, rehearsal, dry-run) posted from this store last, even if it stopped."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(lease_table.c.kind).where(lease_table.c.name == LEASE_NAME)).scalar()
        return str(value) if value else None

    def live_lease(self) -> Lease | None:
        """The lease if a run holds it now (renewed lately, and not a crashed process of this machine)."""
        held = self.lease()
        return held if held is not None and held.alive(self.wall.now()) else None

    def take_lease(
        self,
        holder: str,
        *,
        kind: str,
        x_api_url: str | None = None,
        pid: int | None = None,
        host: str | None = None,
        leader: bool = False,
    ) -> Lease:
        """Become the one run posting from this store (a new epoch), or say who already is.

        Two runs on one store would each reconcile the other's posts in flight as "not
        found" and post them again: the lease is refused while its holder is alive, and a
        takeover after it went quiet raises the epoch, which fences the old holder out.
        With `leader` the caller holds the store's `Leadership`: the server ended the
        previous holder's session, so it is taken over however recent its heartbeat.
        """
        try:
            return self._take_lease(holder, kind, x_api_url, pid, host, leader)
        except StoreError as exc:
            if "lock timeout" not in str(exc):
                raise
            stalled = self.lease()
            who = f" ({stalled.describe(self.wall.now())})" if stalled else ""
            raise LeaseBusy(
                f"the lease on {self.display} is locked by a run stalled in the middle of a write{who}: the "
                f"database ends such a transaction after {IDLE_IN_TRANSACTION_SECONDS:g} s; start this run again"
            ) from exc

    def _take_lease(
        self, holder: str, kind: str, x_api_url: str | None, pid: int | None, host: str | None, leader: bool
    ) -> Lease:
        with self.begin() as conn:
            if not self.is_sqlite:
                # A run frozen inside a claim holds the lease row: wait a little, then say so.
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(LEASE_LOCK_WAIT_SECONDS * 1000)}ms'")
            row = conn.execute(_LOCK_LEASE).mappings().first()
            now = self.wall.now()
            current = row_to_lease(row) if row is not None and row["holder"] else None
            if current is not None and current.holder != holder and not leader and current.alive(now):
                raise LeaseHeld(
                    f"another `livetweet run` is posting from {self.display} ({current.describe(now)}): stop it "
                    "first, or use another --db",
                    current,
                )
            epoch = (int(row["epoch"]) if row is not None else 0) + 1
            values = {
                "epoch": epoch,
                "holder": holder,
                "pid": pid if pid is not None else os.getpid(),
                "host": host or socket.gethostname(),
                "kind": kind,
                "since": now,
                "heartbeat": now,
                "clock": None,
                "x_api_url": x_api_url,
            }
            if row is None:
                conn.execute(lease_table.insert(), {"name": LEASE_NAME, **values})
            else:
                conn.execute(_SET_LEASE, values)
            self.write_audit(
                conn,
                at=now,
                operator=f"run {values['pid']}@{values['host']}",
                action="lease",
                detail={"epoch": epoch, "kind": kind, "took_over_from": current.describe(now) if current else None},
            )
            taken = self.lease(conn)
            assert taken is not None
            return taken

    def renew_lease(self, holder: str, epoch: int, clock: dict[str, Any] | None = None) -> None:
        """Say this run is alive; raise LeaseLost if another run took the lease meanwhile."""
        with self.begin() as conn:
            values: dict[str, Any] = {"heartbeat": self.wall.now()}
            if clock is not None:
                values["clock"] = json.dumps(clock)
            result = conn.execute(
                lease_table.update()
                .where(lease_table.c.name == LEASE_NAME, lease_table.c.holder == holder, lease_table.c.epoch == epoch)
                .values(**values)
            )
            if result.rowcount != 1:
                raise LeaseLost(self.lost_message(conn, epoch))

    def holds_lease(self, conn: Connection, holder: str, epoch: int, renew: bool = False) -> bool:
        """Inside a transaction: does this run still hold the lease at this epoch?

        A lease that went quiet (a clock step, a short suspend) but that nobody took over is
        still this run's: with `renew`, its heartbeat is brought up to date in this
        transaction. On PostgreSQL the row is share-locked, so a takeover waits for it.
        """
        row = conn.execute(_READ_LEASE if self.is_sqlite else _SHARE_LEASE).mappings().first()
        if row is None or row["holder"] != holder or row["epoch"] != epoch:
            return False
        now = self.wall.now()
        if renew and not row_to_lease(row).alive(now, check_process=False):
            conn.execute(
                lease_table.update()
                .where(lease_table.c.name == LEASE_NAME, lease_table.c.holder == holder, lease_table.c.epoch == epoch)
                .values(heartbeat=now)
            )
        return True

    def check_lease(self, holder: str, epoch: int, claimed: tuple[int, int] | None = None) -> bool:
        """Before a network call: raise LeaseLost unless this run holds the lease at this epoch.

        With `claimed` (draft id, the claim's version): also False if that draft moved since.
        """
        with self.engine.connect() as conn:
            if not self.holds_lease(conn, holder, epoch):
                raise LeaseLost(self.lost_message(conn, epoch))
            if claimed is None:
                return True
            version = conn.execute(
                sa.select(drafts_table.c.version).where(
                    drafts_table.c.id == claimed[0], drafts_table.c.state == DraftState.POSTING.value
                )
            ).scalar()
            return version == claimed[1]

    def release_lease(self, holder: str, epoch: int) -> None:
        with self.begin() as conn:
            conn.execute(
                lease_table.update()
                .where(lease_table.c.name == LEASE_NAME, lease_table.c.holder == holder, lease_table.c.epoch == epoch)
                .values(holder="", clock=None)
            )

    def leadership(self, label: str) -> Leadership | None:
        """The server's dead-man switch for the lease, on PostgreSQL (None on SQLite: one machine)."""
        return None if self.is_sqlite else Leadership(self, label)

    def lost_message(self, conn: Connection, epoch: int) -> str:
        now = self.wall.now()
        current = self.lease(conn)
        if current is not None and current.epoch != epoch:
            return (
                f"another run took over posting from {self.display} ({current.describe(now)}, epoch "
                f"{current.epoch}; this run had epoch {epoch})"
            )
        return f"this run's lease on {self.display} ran out (epoch {epoch})"

    def rehearsal_clock(self) -> dict[str, Any] | None:
        """The clock of a rehearsal running on this store now, for other commands to follow."""
        held = self.live_lease()
        return held.clock if held is not None and held.kind == "rehearsal" else None

    # --- copying a store (SQLite before the event, PostgreSQL on the day) ------------------

    def copy_into(self, target: Store) -> dict[str, int]:
        """Copy every event, draft, revision, audit row, message and image into an empty store.

        Before the event, to move from the embedded SQLite to the PostgreSQL both laptops
        share. One transaction on the target: it holds everything or nothing. Console logins
        are not copied (each store has its own), nor is a lease (nobody posts from the copy
        yet; its epoch carries on from this store's, so fencing stays monotonic).
        """
        held = self.live_lease()
        if held is not None:
            raise StoreError(
                f"a run is posting from {self.display} ({held.describe(self.wall.now())}): stop it before copying "
                "the store, or the copy would miss what it posts next"
            )
        tables = [events_table, segments_table, drafts_table, revisions_table, audit_table, shifts_table,
                  inbox_table, inbox_media_table, media_table]  # fmt: skip
        copied: dict[str, int] = {}
        # One snapshot of the source, whoever writes to it meanwhile (an operator's approval between
        # two tables' reads would otherwise copy a draft without its audit row): SQLite's read
        # transaction is one; PostgreSQL needs REPEATABLE READ for it.
        snapshot = {} if self.is_sqlite else {"isolation_level": "REPEATABLE READ"}
        with self.engine.connect().execution_options(**snapshot) as source, target.begin() as conn:
            found = [t.name for t in tables if conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()]
            if found:
                raise StoreError(
                    f"{target.display} already holds a livetweet store with data ({', '.join(found)}): copy into "
                    "an empty database (or schema), so that nothing there is overwritten"
                )
            for table in tables:
                rows = [dict(r) for r in source.execute(sa.select(table)).mappings()]
                for start in range(0, len(rows), 500):
                    conn.execute(table.insert(), rows[start : start + 500])
                copied[table.name] = len(rows)
            paused = (
                source.execute(sa.select(settings_table).where(settings_table.c.key == PAUSED_KEY)).mappings().first()
            )
            if paused is not None:
                conn.execute(
                    settings_table.update()
                    .where(settings_table.c.key == PAUSED_KEY)
                    .values(value=paused["value"], as_of=paused["as_of"])
                )
            # Where each account's inbox poll goes on (Bluesky's chat cursor is no message id to start from).
            cursors = sa.select(settings_table).where(
                settings_table.c.key.startswith(INBOX_CURSOR_KEY, autoescape=True)
            )
            for cursor in source.execute(cursors):
                target.put_setting(conn, cursor.key, cursor.value, cursor.as_of)
            epoch = source.execute(sa.select(lease_table.c.epoch).where(lease_table.c.name == LEASE_NAME)).scalar()
            conn.execute(lease_table.update().where(lease_table.c.name == LEASE_NAME).values(epoch=int(epoch or 0)))
            if not target.is_sqlite:
                # The ids came along: PostgreSQL's sequences carry on after the highest.
                for table in (drafts_table, audit_table, shifts_table, inbox_table):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                    )
        return copied

    # --- console logins -------------------------------------------------------------------

    def add_console_session(self, id_hash: str, operator: str, now: datetime, expires_at: datetime) -> None:
        with self.begin() as conn:
            conn.execute(console_sessions_table.delete().where(console_sessions_table.c.expires_at <= now))
            conn.execute(
                console_sessions_table.insert().values(
                    id_hash=id_hash, operator=operator, created_at=now, seen_at=now, expires_at=expires_at
                )
            )

    def console_session(self, id_hash: str) -> ConsoleSession | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(console_sessions_table).where(console_sessions_table.c.id_hash == id_hash))
                .mappings()
                .first()
            )
        return ConsoleSession(**row) if row else None

    def touch_console_session(self, id_hash: str, now: datetime) -> None:
        with self.begin() as conn:
            conn.execute(
                console_sessions_table.update().where(console_sessions_table.c.id_hash == id_hash).values(seen_at=now)
            )

    def drop_console_session(self, id_hash: str) -> None:
        with self.begin() as conn:
            conn.execute(console_sessions_table.delete().where(console_sessions_table.c.id_hash == id_hash))

    def add_console_token(self, token_hash: str, now: datetime, expires_at: datetime) -> None:
        with self.begin() as conn:
            conn.execute(console_tokens_table.delete().where(console_tokens_table.c.expires_at <= now))
            conn.execute(
                console_tokens_table.insert().values(token_hash=token_hash, created_at=now, expires_at=expires_at)
            )

    def use_console_token(self, token_hash: str, now: datetime) -> bool:
        """Spend a link's token: True for the one caller that finds it unused and unexpired."""
        t = console_tokens_table.c
        with self.begin() as conn:
            spent = conn.execute(
                console_tokens_table.update()
                .where(t.token_hash == token_hash, t.used_at.is_(None), t.expires_at > now)
                .values(used_at=now)
            )
            return spent.rowcount == 1

    def console_secret(self, name: str) -> str:
        """A random secret kept in the store, made on first use (the key that signs the console's
        device cookies): every console on this store, and the next run, shares it."""
        found = self.setting(name)
        if found:
            return found[0]
        value = secrets.token_urlsafe(32)
        try:
            with self.begin() as conn:
                conn.execute(settings_table.insert().values(key=name, value=value, as_of=""))
        except (sa.exc.IntegrityError, StoreError):
            pass  # another process made it first: use theirs
        again = self.setting(name)
        return again[0] if again else value

    def setting(self, key: str) -> tuple[str, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(settings_table.c.value, settings_table.c.as_of).where(settings_table.c.key == key)
            ).first()
            return (row[0], row[1]) if row else None

    def put_setting(self, conn: Connection, key: str, value: str, as_of: str) -> None:
        exists = conn.execute(sa.select(settings_table.c.key).where(settings_table.c.key == key)).first()
        if exists:
            conn.execute(settings_table.update().where(settings_table.c.key == key).values(value=value, as_of=as_of))
        else:
            conn.execute(settings_table.insert().values(key=key, value=value, as_of=as_of))

    # --- the report: an event's whole history, each table read once -------------------------

    def shift_log(self, event_id: str) -> list[ShiftEntry]:
        """The event's shifts in order, with who made each and when (`shifts` has only what they move)."""
        t = shifts_table.c
        q = sa.select(t.from_planned, t.seconds, t.by, t.at).where(t.event_id == event_id).order_by(t.id)
        with self.engine.connect() as conn:
            return [ShiftEntry(**r) for r in conn.execute(q).mappings()]

    def event_audit(self, event_id: str) -> list[AuditEntry]:
        """The audit rows of one event, and those of no event (pause, resume), in order."""
        t = audit_table.c
        q = sa.select(audit_table).where(sa.or_(t.event_id == event_id, t.event_id.is_(None))).order_by(t.id)
        with self.engine.connect() as conn:
            rows = list(conn.execute(q).mappings())
        return [_row_to_audit(r) for r in rows]

    def event_revisions(self, event_id: str) -> list[Revision]:
        """Every revision of the event's drafts (draft id, number, by whom, when, why), without their text."""
        r, d = revisions_table.c, drafts_table.c
        q = (
            sa.select(r.draft_id, r.revision, r.created_by, r.created_at, r.cause)
            .join(drafts_table, d.id == r.draft_id)
            .where(d.event_id == event_id)
            .order_by(r.draft_id, r.revision)
        )
        with self.engine.connect() as conn:
            return [Revision(**row) for row in conn.execute(q).mappings()]


class Leadership:
    """The right to post from a PostgreSQL store: a session advisory lock on a connection of its own.

    Nothing home-made decides whether the leader is alive; the server does. A killed leader's
    socket closes; a frozen one stops speaking and the server ends its session after
    LEADER_SILENCE_SECONDS (idle_session_timeout); a vanished machine or network is found
    by TCP keepalives on both sides. Each ends the session, which releases the lock at once,
    and a standby polling for it takes over. The lock is per schema, so stores never share one.
    """

    def __init__(self, store: Store, label: str) -> None:
        self.store = store
        self._engine = sa.create_engine(
            store.engine.url,
            poolclass=sa.pool.NullPool,
            connect_args={
                "application_name": label[:63],
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 2,
                "keepalives_interval": 1,
                "keepalives_count": 3,
                "tcp_user_timeout": int(LEADER_SILENCE_SECONDS * 1000),
            },
        )
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.held = False
        self.spoke = time.monotonic()  # when the server last answered us

    def acquire(self) -> bool:
        """Try once to become the leader (never blocks); True when this session holds the lock."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                    version = int(self._conn.exec_driver_sql("SHOW server_version_num").scalar() or 0)
                    if version < 140000:  # idle_session_timeout, the dead-man switch, came in 14
                        raise StoreError(
                            f"{self.store.display} runs PostgreSQL {version // 10000}: a standby needs PostgreSQL 14 "
                            "or later (its idle_session_timeout ends a frozen leader's session)"
                        )
                got = self._conn.exec_driver_sql(
                    "SELECT pg_try_advisory_lock(hashtext(current_schema() || '.livetweet-leader'))"
                ).scalar()
                if got:
                    silence = int(LEADER_SILENCE_SECONDS * 1000)
                    self._conn.exec_driver_sql(f"SET idle_session_timeout = '{silence}ms'")
                    self._conn.exec_driver_sql(f"SET tcp_user_timeout = {silence}")
                    for name, value in (("idle", 2), ("interval", 1), ("count", 3)):
                        self._conn.exec_driver_sql(f"SET tcp_keepalives_{name} = {value}")
            except sa.exc.SQLAlchemyError:
                self._drop()
                return False
            self.held = bool(got)
            self.spoke = time.monotonic()
            return self.held

    def ping(self) -> bool:
        """Speak to the server (which keeps the session, and so the lock); False once it is gone."""
        with self._lock:
            if self._conn is None or not self.held:
                return False
            try:
                self._conn.exec_driver_sql("SELECT 1").scalar()
            except sa.exc.SQLAlchemyError:
                self._drop()
                return False
            self.spoke = time.monotonic()
            return True

    def silent_for(self) -> float:
        """Seconds since the server last answered this session."""
        return time.monotonic() - self.spoke

    def close(self) -> None:
        """Give up leadership (the session ends, and the lock with it)."""
        with self._lock:
            self._drop()
        self._engine.dispose()

    def _drop(self) -> None:
        self.held = False
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.close()
            self._conn = None


def _migrate_to_2(conn: Connection) -> None:
    """Schema 1 -> 2: the lease table with its epoch, claim epochs, the window index."""
    conn.execute(sa.text("ALTER TABLE drafts ADD COLUMN claim_epoch INTEGER"))
    stamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name != "sqlite" else "DATETIME"
    conn.execute(sa.text(f"ALTER TABLE events ADD COLUMN posts_from {stamp}"))
    conn.execute(sa.text(f"ALTER TABLE events ADD COLUMN posts_until {stamp}"))
    lease_table.create(conn)
    conn.execute(lease_table.insert().values(name=LEASE_NAME, epoch=0, holder=""))
    for index in drafts_table.indexes:
        if index.name in ("ix_drafts_event_state_until", "ix_drafts_event_reply_to"):
            index.create(conn)
    conn.execute(settings_table.delete().where(settings_table.c.key.in_(["runner", "rehearsal_clock"])))


def _migrate_to_6(conn: Connection) -> None:
    """Schema 5 -> 6: deliveries (one draft per slot and account), their idempotency keys, the event's accounts.

    The unique key grows from (event, slot) to (event, slot, account): PostgreSQL swaps the
    constraint; SQLite cannot drop one, so its drafts table is rebuilt first, outside this
    transaction (`_rebuild_sqlite_drafts`)."""
    conn.execute(sa.text("ALTER TABLE events ADD COLUMN accounts TEXT"))
    if conn.dialect.name != "sqlite":
        conn.execute(sa.text(f"ALTER TABLE drafts ADD COLUMN account VARCHAR(64) NOT NULL DEFAULT '{DEFAULT_ACCOUNT}'"))
        conn.execute(sa.text("ALTER TABLE drafts ADD COLUMN post_key VARCHAR(64)"))
        conn.execute(sa.text("ALTER TABLE drafts DROP CONSTRAINT uq_drafts_event_slot"))
        conn.execute(
            sa.text("ALTER TABLE drafts ADD CONSTRAINT uq_drafts_event_slot_account UNIQUE (event_id, slot, account)")
        )
        return
    # SQLite: the drafts table was rebuilt before this transaction (_rebuild_sqlite_drafts).


def _migrate_inbox_to_6(conn: Connection) -> None:
    """Schema 6's inbox: the account each message came to, its ids unique per account, and the
    attachments not fetched in a table of their own (moved from the settings row that held them).

    PostgreSQL adds the column and swaps the unique key here; SQLite's inbox was rebuilt before
    this transaction (`_rebuild_sqlite_inbox`)."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            sa.text(
                f"ALTER TABLE inbox ADD COLUMN IF NOT EXISTS account VARCHAR(64) NOT NULL DEFAULT '{DEFAULT_ACCOUNT}'"
            )
        )
        for unique in sa.inspect(conn).get_unique_constraints("inbox"):
            if unique["column_names"] == ["dm_id"] and unique["name"]:
                conn.execute(sa.text(f'ALTER TABLE inbox DROP CONSTRAINT "{unique["name"]}"'))
        conn.execute(sa.text("ALTER TABLE inbox ADD CONSTRAINT uq_inbox_account_dm_id UNIQUE (account, dm_id)"))
    inbox_media_table.create(conn, checkfirst=True)
    s = settings_table.c
    old = conn.execute(sa.select(s.value).where(s.key == OLD_UNFETCHED_KEY)).scalar()
    if old:
        items = [UnfetchedMedia.from_json(x) for x in json.loads(old)]  # X's messages: account "x"
        if items:
            conn.execute(inbox_media_table.insert(), [_unfetched_row(u) for u in items])
    conn.execute(settings_table.delete().where(s.key == OLD_UNFETCHED_KEY))


def _rebuild_sqlite_inbox(engine: sa.Engine) -> None:
    """SQLite's half of schema 6's inbox: the table rebuilt with its account column and the unique key
    (account, dm_id)."""
    unique = sa.UniqueConstraint("account", "dm_id", name="uq_inbox_account_dm_id")
    _rebuild_sqlite_table(engine, inbox_table, ("account",), unique, ("drafts", sa.Integer))


def _rebuild_sqlite_drafts(engine: sa.Engine) -> None:
    """SQLite's half of schema 6: the drafts table rebuilt with its account and key columns and the
    wider unique key (event, slot, account)."""
    unique = sa.UniqueConstraint("event_id", "slot", "account", name="uq_drafts_event_slot_account")
    _rebuild_sqlite_table(engine, drafts_table, ("account", "post_key"), unique, ("events", sa.String(200)))


def _rebuild_sqlite_table(
    engine: sa.Engine,
    table: sa.Table,
    added: tuple[str, ...],
    unique: sa.UniqueConstraint,
    parent: tuple[str, Any],
) -> None:
    """A livetweet table rebuilt with the columns `added` and the unique key `unique`, by SQLite's
    documented way to change a constraint (its "twelve steps"): foreign keys off, the new table under
    another name, the rows copied, the old table dropped, the new one renamed into its place (the
    other tables' references follow the name), its indexes made again, its references checked.

    Run before the migration's transaction (foreign keys can only be turned off outside one); it
    does nothing to a new store, to one done already (or by another process first), or to a
    database that is not livetweet's (`_migrate` refuses that one). `parent` is the table and id
    type the table's foreign key names, so that the new table can be described on its own."""
    name = table.name
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys = OFF")
        cursor.execute("BEGIN IMMEDIATE")
        try:
            columns = [str(r[1]) for r in cursor.execute(f"PRAGMA table_info({name})")]
            ours = cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'livetweet_meta'")
            if not columns or added[0] in columns or ours.fetchone() is None:
                cursor.execute("ROLLBACK")
                return
            # Its columns as they are (a store migrating from schema 2 gains media afterwards), and the added ones.
            kept = [c._copy() for c in table.columns if c.name in columns or c.name in added]
            shapes = sa.MetaData()
            sa.Table(parent[0], shapes, sa.Column("id", parent[1], primary_key=True))
            new_table = sa.Table(f"{name}_schema6", shapes, *kept, unique)
            cursor.execute(str(sa.schema.CreateTable(new_table).compile(dialect=engine.dialect)))
            names = ", ".join(columns)
            cursor.execute(f"INSERT INTO {name}_schema6 ({names}) SELECT {names} FROM {name}")
            cursor.execute(f"DROP TABLE {name}")
            cursor.execute(f"ALTER TABLE {name}_schema6 RENAME TO {name}")
            for index in table.indexes:
                cursor.execute(str(sa.schema.CreateIndex(index).compile(dialect=engine.dialect)))
            broken = cursor.execute("PRAGMA foreign_key_check").fetchall()  # its references, and those to it
            if broken:
                raise StoreError(f"the {name} table could not be moved to schema 6 ({len(broken)} broken references)")
            cursor.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        raw.close()


def _filter_drafts(
    q: sa.Select[Any],
    event_id: str | None,
    states: list[DraftState] | None,
    due_before: datetime | None = None,
    open_after: datetime | None = None,
    containing: str | None = None,
) -> sa.Select[Any]:
    if event_id is not None:
        q = q.where(drafts_table.c.event_id == event_id)
    if states:
        q = q.where(drafts_table.c.state.in_([s.value for s in states]))
    if due_before is not None:
        q = q.where(drafts_table.c.at < due_before)
    if open_after is not None:
        q = q.where(drafts_table.c.valid_until > open_after)
    if containing:
        words = "%" + containing.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(
            sa.or_(drafts_table.c.text.ilike(words, escape="\\"), drafts_table.c.slot.ilike(words, escape="\\"))
        )
    return q


def shift_for(shifts: list[tuple[datetime | None, int]], planned: datetime) -> timedelta:
    """How far the operator's shifts move a post planned at `planned`."""
    return timedelta(seconds=sum(sec for start, sec in shifts if start is None or planned >= start))


def _create_private(path: Path) -> bool:
    """Create a new SQLite file readable by its owner only (0600 on POSIX): drafts, DMs and the
    audit trail are nobody else's business on a shared machine. True if this call created it."""
    if os.name != "posix" or path.exists():
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError:
        return False  # no such folder, read-only...: SQLite says why when it opens it
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask
    return True


def _looks_like_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(16)
    return head == b"SQLite format 3\x00" or head == b""


def _check_sqlite_file(path: Path) -> None:
    """Refuse, without writing to it, a path that is not a livetweet store: a folder, a pipe, a
    file of another program, a damaged file. (Opening it would switch it to WAL mode first.)"""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file: name a file with --db, like sqlite:///livetweet.db")
    if not path.is_file():
        raise StoreError(f"{path} is not a regular file (a pipe or a device?): name a database file with --db")
    if not _looks_like_sqlite(path):
        raise StoreError(f"{path} is not a livetweet database (not even SQLite): choose another with --db")
    if path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is damaged or not a database ({exc}): choose another with --db") from exc
    if tables and "livetweet_meta" not in tables:
        others = ", ".join(sorted(tables)[:5])
        raise StoreError(
            f"{path} is not a livetweet database (it holds other tables: {others}): choose another with --db"
        )


def _db_message(exc: sa.exc.SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0]
