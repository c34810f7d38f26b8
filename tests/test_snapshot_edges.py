"""The edges of `livetweet.snapshot` (the read-only sqlite3 look `queue` takes at a SQLite store).

The snapshot answers exactly what `Store` and `Service` answer for the same file (other writers,
a WAL left by a dead writer, symlinks, relative and odd URLs, names that need quoting), or steps
aside (`Snapshot.open` returns None and the CLI falls back to `Store`); and it never writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livetweet.draft import DraftState
from livetweet.snapshot import Snapshot
from livetweet.store import Store

from .support.cli import cli
from .support.events import MINI_SCHEDULE
from .support.world import HELLO_AT, Q1_AT, World

S = DraftState
SCHEDULE = MINI_SCHEDULE + "  - id: thanks\n    template: thanks\n    at: q1.start + 4m\n    reply_to: q1\n"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, SCHEDULE, mode="approval")
    w.service.approve(w.draft("q1").id, "alice")
    w.service.approve(w.draft("thanks").id, "alice")
    w.service.reject(w.draft("hello").id, "alice", "not today")
    w.x.inject_fault("429")
    w.at(HELLO_AT).at(Q1_AT)  # q1 waits for its retry: attempts, last error, next attempt
    yield w
    w.close()


def _db(store: Store) -> Path:
    return Path(store.url.removeprefix("sqlite:///"))


def _both(url: str, *args: str, cwd: Path | None = None) -> tuple[object, object, int]:
    """`livetweet --db URL ARGS` through the snapshot, and with the snapshot stepping aside (Store)."""
    opened: list[Snapshot | None] = []
    original = Snapshot.open

    def counting(u: str) -> Snapshot | None:
        found = original(u)
        opened.append(found)
        return found

    Snapshot.open = staticmethod(counting)  # type: ignore[method-assign, assignment]
    try:
        fast = cli("--db", url, *args, cwd=cwd)
    finally:
        Snapshot.open = original  # type: ignore[method-assign]
    Snapshot.open = staticmethod(lambda u: None)  # type: ignore[method-assign, assignment]
    try:
        slow = cli("--db", url, *args, cwd=cwd)
    finally:
        Snapshot.open = original  # type: ignore[method-assign]
    used = sum(1 for s in opened if s is not None)
    return fast, slow, used


# --- the same answer both ways ---------------------------------------------------------------------


def test_queue_json_and_text_are_the_same_through_the_snapshot_and_the_store(world: World) -> None:
    url = world.store.url
    for args in (("queue", "--json"), ("queue",), ("queue", "--state", "approved"), ("queue", "--event", "nobody")):
        fast, slow, used = _both(url, *args)
        assert used == 1, "the snapshot was not used"
        assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr), args  # type: ignore[attr-defined]
    fast, _, _ = _both(url, "queue", "--json")
    items = json.loads(fast.stdout)  # type: ignore[attr-defined]
    assert [i["slot"] for i in items] == ["hello", "q1", "thanks"]


def test_the_where_line_of_a_rehearsal_is_the_same_through_the_snapshot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rehearsal.db'}"
    store = Store(url)  # on the machine's clock, as the CLI reads the lease
    store.take_lease("rehearsal-1", kind="rehearsal", x_api_url="http://127.0.0.1:1")
    store.close()
    fast, slow, used = _both(url, "queue")
    assert used == 1
    assert fast.stdout.splitlines()[0] == slow.stdout.splitlines()[0]  # type: ignore[attr-defined]
    assert "a rehearsal run posts from it" in fast.stdout.splitlines()[0]  # type: ignore[attr-defined]


def test_the_snapshot_sees_what_a_committed_writer_in_another_process_wrote_and_not_its_open_transaction(
    world: World,
) -> None:
    db = _db(world.store)
    writer = subprocess.Popen(
        [sys.executable, "-c", (
            "import sqlite3, sys\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "c.execute(\"UPDATE drafts SET text = 'not yet' WHERE slot = 'thanks'\")\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
            "c.execute('COMMIT')\n"
            "print('done', flush=True)\n"
            "sys.stdin.readline()\n"
        )],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "ready"
        snap = Snapshot.open(world.store.url)
        assert snap is not None  # a writer holding the lock does not keep the snapshot out
        try:
            assert snap.drafts() == world.store.drafts()
            assert "not yet" not in [d.text for d in snap.drafts()]
            writer.stdin.write("\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "done"
            assert snap.drafts() == world.store.drafts()
            assert "not yet" in [d.text for d in snap.drafts()]
        finally:
            snap.close()
    finally:
        if writer.stdin:
            writer.stdin.close()
        writer.wait(10)


def test_the_snapshot_reads_a_store_whose_writer_died_with_its_changes_in_the_wal(tmp_path: Path) -> None:
    w = World(tmp_path, SCHEDULE, mode="auto")
    w.at(HELLO_AT)
    url, db = w.store.url, _db(w.store)
    w.close()
    subprocess.run(
        [sys.executable, "-c", (
            "import sqlite3, os\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('PRAGMA wal_autocheckpoint = 0')\n"
            "c.execute(\"UPDATE drafts SET text = 'only in the wal' WHERE slot = 'q1'\")\n"
            "os._exit(0)\n"  # no close: the change stays in the WAL, the -shm as it was
        )],
        check=True,
    )  # fmt: skip
    assert db.with_name(db.name + "-wal").stat().st_size > 0
    for drop_shm in (False, True):
        if drop_shm:
            db.with_name(db.name + "-shm").unlink(missing_ok=True)  # a copy of the folder without it
        snap = Snapshot.open(url)
        assert snap is not None
        store = Store(url)
        try:
            assert snap.drafts() == store.drafts()
            assert "only in the wal" in [d.text for d in snap.drafts()]
        finally:
            snap.close()
            store.close()


def test_a_symlink_to_the_store_reads_the_store_and_a_dangling_one_is_left_to_the_store(
    world: World, tmp_path: Path
) -> None:
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(_db(world.store))
    snap = Snapshot.open(f"sqlite:///{link}")
    assert snap is not None
    try:
        assert snap.drafts() == world.store.drafts()
    finally:
        snap.close()
    dangling = tmp_path / "elsewhere" / "gone.db"
    dangling.symlink_to(tmp_path / "nothing-here.db")
    assert Snapshot.open(f"sqlite:///{dangling}") is None


def test_a_relative_url_reads_the_file_beside_the_working_directory_as_the_store_does(world: World) -> None:
    db = _db(world.store)
    here = os.getcwd()
    os.chdir(db.parent)
    try:
        for url in ("sqlite:///livetweet.db", "sqlite:///./livetweet.db", "sqlite:///livetweet.db/"):
            snap = Snapshot.open(url)
            if snap is None:
                continue  # stepping aside is always allowed
            try:
                assert snap.drafts() == world.store.drafts(), url
            finally:
                snap.close()
    finally:
        os.chdir(here)


@pytest.mark.parametrize("url_tail", ["?mode=ro", "?", "%3F.db", "#x"])
def test_odd_urls_are_left_to_the_store_or_read_the_same_file(world: World, url_tail: str) -> None:
    url = world.store.url + url_tail
    snap = Snapshot.open(url)
    if snap is not None:
        snap.close()
        pytest.fail(f"{url} is not the store's file, yet the snapshot opened {snap.path}")


def test_a_url_with_an_authority_is_left_to_the_store(world: World) -> None:
    """sqlite://///PATH: the path is //PATH, which the OS reads as /PATH, but sqlite's file: URI reads
    as an authority ('//tmp/...' -> host 'tmp'): it must step aside, not read another file."""
    snap = Snapshot.open("sqlite:////" + str(_db(world.store)))
    if snap is not None:
        try:
            assert snap.drafts() == world.store.drafts()
        finally:
            snap.close()


# --- bugs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x@y.db", "a#b.db", "ünï.db", "c:d.db"])
def test_the_snapshot_names_the_store_as_the_store_does(tmp_path: Path, name: str) -> None:
    """`where()`'s first line of `queue` says `store <display>`; Store renders its URL with SQLAlchemy
    (the path quoted: x%40y.db), the snapshot shows the URL as given (x@y.db): `queue` names the
    store differently from every other command (and from `Snapshot.display`'s own docstring, 'as
    Store shows it')."""
    url = f"sqlite:///{tmp_path / name}"
    store = Store(url)
    snap = Snapshot.open(url)
    assert snap is not None
    try:
        assert snap.display == store.display, (
            f"queue says 'store {snap.display}', every other command 'store {store.display}'"
        )
    finally:
        snap.close()
        store.close()


def test_queue_through_the_snapshot_leaves_only_sqlites_side_files_with_the_stores_mode(tmp_path: Path) -> None:
    """A store nobody has open is a single file. SQLite's read-only connection to a WAL database
    makes its -wal and -shm files and, being read-only, leaves them: the store is unchanged, the
    WAL is empty, and both keep the store's mode (0600: nobody else's business)."""
    folder = tmp_path / "store"
    folder.mkdir()
    db = folder / "livetweet.db"
    url = f"sqlite:///{db}"
    Store(url).close()
    assert sorted(os.listdir(folder)) == ["livetweet.db"]
    before = db.read_bytes()
    result = cli("--db", url, "queue")
    assert result.returncode == 0
    assert db.read_bytes() == before
    assert set(os.listdir(folder)) <= {"livetweet.db", "livetweet.db-wal", "livetweet.db-shm"}
    wal = db.with_name("livetweet.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    for name in os.listdir(folder):
        assert (folder / name).stat().st_mode & 0o777 == db.stat().st_mode & 0o777 == 0o600, name


def test_the_snapshot_never_changes_the_store_file_nor_its_wal(world: World) -> None:
    db = _db(world.store)
    files = [db, db.with_name(db.name + "-wal")]
    before = [(f.read_bytes(), f.stat().st_mtime_ns) for f in files if f.exists()]
    for _ in range(3):
        assert cli("--db", world.store.url, "queue", "--json").returncode == 0
    assert [(f.read_bytes(), f.stat().st_mtime_ns) for f in files if f.exists()] == before


def test_a_time_kept_to_the_microsecond_reads_the_same_both_ways(world: World) -> None:
    with world.store.begin() as conn:
        from livetweet.store import drafts_table

        q1 = world.draft("q1")
        conn.execute(
            drafts_table.update().where(drafts_table.c.id == q1.id).values(at=q1.at + timedelta(microseconds=7))
        )
    snap = Snapshot.open(world.store.url)
    assert snap is not None
    try:
        assert snap.drafts() == world.store.drafts()
    finally:
        snap.close()
