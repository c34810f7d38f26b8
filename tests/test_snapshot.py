"""The read-only snapshot reads a SQLite store exactly as the store does, and only a store it is sure of.

`livetweet queue` reads through `Snapshot` so that it answers without loading SQLAlchemy; these
tests read one real store both ways, in every state a draft can be in, and check that anything
the snapshot is not sure of is left to `Store` (which migrates it or says why not).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livetweet.draft import DraftState
from livetweet.snapshot import TIMES, Snapshot
from livetweet.store import Store, UTCDateTime, drafts_table, events_table, lease_table

from .support.events import MINI_SCHEDULE
from .support.world import HELLO_AT, Q1_AT, World

S = DraftState
SCHEDULE = MINI_SCHEDULE + "  - id: thanks\n    template: thanks\n    at: q1.start + 4m\n    reply_to: q1\n"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, SCHEDULE, mode="approval")
    yield w
    w.close()


def _snapshot(store: Store) -> Snapshot:
    found = Snapshot.open(store.url)
    assert found is not None
    return found


def test_the_snapshot_reads_every_draft_and_event_as_the_store_does(world: World) -> None:
    w = world
    w.service.approve(w.draft("q1").id, "alice")
    w.service.approve(w.draft("thanks").id, "alice")
    w.service.reject(w.draft("hello").id, "alice", "not today")
    w.x.inject_fault("429")  # q1 waits for its retry: attempts, last error, next attempt
    w.at(HELLO_AT).at(Q1_AT)
    assert {d.state for d in w.store.drafts()} == {S.REJECTED, S.APPROVED}
    assert w.draft("q1").next_attempt_at is not None
    w.at(Q1_AT + timedelta(seconds=30))
    assert w.draft("q1").state == S.POSTED
    snap = _snapshot(w.store)
    try:
        assert snap.drafts() == w.store.drafts()
        assert snap.drafts(event_id="demo", states=[S.POSTED]) == w.store.drafts(event_id="demo", states=[S.POSTED])
        assert snap.drafts(event_id="nobody") == []
        assert snap.queue(S.REJECTED) == w.service.queue(S.REJECTED)
        assert snap.events() == w.store.events()
        assert snap.event("demo") == w.store.event("demo") and snap.event("nobody") is None
        assert snap.accounts("demo") == w.service.accounts("demo")
        assert snap.zone("demo") == w.service.zone("demo")
        assert snap.display == w.store.display
    finally:
        snap.close()


def test_the_snapshot_sees_the_lease_of_a_live_run_as_the_store_does(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'livetweet.db'}")
    try:
        snap = _snapshot(store)
        assert snap.live_lease() is None and store.live_lease() is None
        store.take_lease("holder-1", kind="rehearsal", x_api_url="http://127.0.0.1:1")
        assert snap.live_lease() == store.live_lease() is not None
        store.release_lease("holder-1", 1)
        assert snap.live_lease() is None
        snap.close()
    finally:
        store.close()


def test_the_snapshot_converts_every_time_column_the_store_keeps() -> None:
    for table in (drafts_table, events_table, lease_table):
        kept = {c.name for c in table.columns if isinstance(c.type, UTCDateTime)}
        assert set(TIMES[table.name]) == kept, table.name


def test_what_the_snapshot_is_not_sure_of_is_left_to_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'livetweet.db'}"
    Store(url).close()
    assert Snapshot.open(url) is not None
    assert Snapshot.open("postgresql://127.0.0.1/test") is None
    assert Snapshot.open(f"sqlite:///{tmp_path / 'none.db'}") is None  # no such file: the store says so
    assert Snapshot.open(f"sqlite:///{tmp_path}") is None  # a folder
    assert Snapshot.open("sqlite:///:memory:") is None
    assert Snapshot.open(url + "?mode=ro") is None  # options only the store understands
    (tmp_path / "garbage.db").write_bytes(b"not a database at all" * 100)
    assert Snapshot.open(f"sqlite:///{tmp_path / 'garbage.db'}") is None
    with sqlite3.connect(tmp_path / "other.db") as conn:  # another program's SQLite file
        conn.execute("CREATE TABLE notes (body TEXT)")
    assert Snapshot.open(f"sqlite:///{tmp_path / 'other.db'}") is None
    for version in ("5", "7", "x"):  # older (the store migrates it), newer or damaged (the store refuses it)
        with sqlite3.connect(tmp_path / "livetweet.db") as conn:
            conn.execute("UPDATE livetweet_meta SET value = ? WHERE key = 'schema_version'", (version,))
        assert Snapshot.open(url) is None, version


def test_the_snapshot_writes_nothing(world: World) -> None:
    path = Path(world.store.url.removeprefix("sqlite:///"))
    before = path.read_bytes()
    snap = _snapshot(world.store)
    snap.drafts()
    snap.live_lease()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        snap._conn.execute("UPDATE drafts SET text = 'x'")
    snap.close()
    assert path.read_bytes() == before
