"""Fencing and isolation, in real `livetweet run --rehearse` processes.

The simulated X APIs run in this test process, so that the tests can tell exactly which
requests reached them and when (`Tweet.arrived_monotonic` and the request log share this
process's monotonic clock), and stall, resume or stop the posting processes at chosen moments.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from livetweet.clock import RehearsalClock
from livetweet.draft import Draft, DraftState
from livetweet.fakes import FakeXServer
from livetweet.plan.check import check_schedule
from livetweet.store import Store

from .support.cli import cli
from .support.databases import reset_postgres_schema
from .support.events import X_ONLY_SCHEDULE
from .support.waiting import wait_for
from .support.world import X_TEST_CREDENTIALS

SCHEDULE = str(X_ONLY_SCHEDULE)
EVENT_ID = "gcm-unece-2020-roundtable-2"
N_POSTS = 10
LEASE_SECONDS = 2.0  # LIVETWEET_LEASE_SECONDS for the fencing test: a takeover within seconds
DUE_BY = timedelta(seconds=5)  # event time: run A is resumed once its target is this overdue...
RESUME_MARGIN = timedelta(minutes=2)  # ...and this long before its window closes (0.4 s real at 300x)


# --- helpers ---------------------------------------------------------------------------


def planned_texts() -> list[str]:
    """The shipped schedule's posts, in time order (what `preview` shows)."""
    report = check_schedule(X_ONLY_SCHEDULE)
    return [p.text for p in sorted(report.posts, key=lambda p: p.slot.at)]


def alive(proc: subprocess.Popen[str], name: str) -> bool:
    """True while `proc` runs; an early exit fails the test with its output."""
    if proc.poll() is None:
        return True
    out, _ = proc.communicate()
    raise AssertionError(f"{name} exited early with {proc.returncode}:\n{out}")


def start_rehearsal(
    db_url: str, x: FakeXServer, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "livetweet", "--db", db_url, "run", SCHEDULE, "--rehearse", "--no-console", *args],
        cwd=cwd,
        env={**os.environ, **X_TEST_CREDENTIALS, "LIVETWEET_X_API_URL": x.url, "NO_COLOR": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """The processes a test starts: whatever is left running at its end is resumed and killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.communicate(timeout=30)


@pytest.fixture
def x_servers() -> Iterator[tuple[FakeXServer, FakeXServer]]:
    first, second = FakeXServer(hang_seconds=5).start(), FakeXServer(hang_seconds=5).start()
    yield first, second
    first.stop()
    second.stop()


class TimedRequests(list[tuple[str, str]]):
    """The fake X's request log, each request also stamped with when it arrived (both clocks)."""

    def __init__(self) -> None:
        super().__init__()
        self.wall: list[float] = []
        self.mono: list[float] = []

    def append(self, item: tuple[str, str]) -> None:  # called by the server, under its lock
        self.wall.append(time.time())
        self.mono.append(time.monotonic())
        super().append(item)


# --- 1. a stalled run that lost its lease posts nothing after the takeover --------------


def _no_transaction_open(store: Store, db_url: str) -> bool:
    """Can another run write the lease row at once (the stalled process holds no lock on it)?"""
    if store.is_sqlite:
        con = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            con.close()
    try:
        with store.engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SELECT epoch FROM lease WHERE name = 'runner' FOR UPDATE NOWAIT"))
        return True
    except sa.exc.OperationalError:
        return False


def _leader_session_of(store: Store, pid: int) -> bool:
    """Does the server still hold run `pid`'s leadership session (PostgreSQL)?"""
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": f"livetweet leader {pid}"},
        ).scalar()
    return bool(found)


def _between_posts(store: Store, x: FakeXServer) -> bool:
    """At least one post out and recorded, nothing in flight, something still to post."""
    counts = store.count_by_state(EVENT_ID)
    return (
        counts["posted"] >= 1
        and counts["posting"] == 0
        and counts["approved"] >= 1
        and len(x.posts()) == counts["posted"]
    )


def _stall_between_posts(proc: subprocess.Popen[str], store: Store, db_url: str, x: FakeXServer) -> None:
    """SIGSTOP the run at a moment when it has no post in flight and holds no database lock.

    A post in flight (claimed, or sent to X #1 but not recorded) would be reconciled by the
    next run against X #2, where it is not, and sent again: that is two accounts, not a
    double post, and is not what this test is about. A transaction held open by a stopped
    process would block the takeover itself. If the stop lands on either, resume and retry.
    """
    for _attempt in range(50):
        wait_for(lambda: alive(proc, "run A") and _between_posts(store, x), "run A between two posts", 60)
        os.kill(proc.pid, signal.SIGSTOP)
        if _between_posts(store, x) and _no_transaction_open(store, db_url):
            return
        os.kill(proc.pid, signal.SIGCONT)
    raise AssertionError("could not stop run A between two posts")


def _next_claimable(store: Store, now: datetime) -> Draft | None:
    """The first approved draft (not a reply) whose window is still open at `now` on run A's clock."""
    for draft in store.drafts(event_id=EVENT_ID, states=[DraftState.APPROVED]):
        if draft.reply_to is None and draft.valid_until - RESUME_MARGIN > now:
            return draft
    return None


def test_a_stalled_run_that_lost_its_lease_posts_nothing_after_the_takeover(
    db_url: str,
    tmp_path: Path,
    x_servers: tuple[FakeXServer, FakeXServer],
    started: list[subprocess.Popen[str]],
) -> None:
    """Run A posts to fake X #1, run B to fake X #2: every request reaching X #1 is A's.

    A is stalled (SIGSTOP) between two posts; once its lease is older than
    LIVETWEET_LEASE_SECONDS, B takes the store's lease (epoch 2). Only then is A resumed, and
    at a chosen moment: when a draft that B has not reached yet is due and inside its window
    on A's own rehearsal clock (which the lease row publishes), so that A's date job and its
    sweep would post it at once if nothing fenced A out. Since A is the only client of X #1,
    "A posted nothing after the takeover" is exactly "X #1 received no POST after B's lease
    was seen in the store", with no guessing about who sent what; and every claim or post in
    the audit after the takeover carries B's epoch. Posts recorded as posted are never sent
    again by B, so across both servers every slot goes out exactly once.
    """
    x1, x2 = x_servers
    x1.state.requests = TimedRequests()
    env = {"LIVETWEET_LEASE_SECONDS": str(LEASE_SECONDS)}
    # A's clock runs on while it is stalled: at 300x a stall of a few seconds moves it by
    # tens of minutes, still inside the event. B plays faster but starts an hour of event
    # time behind A's clock (--start-in 3.5 at 900x): it reaches A's next post seconds after A
    # has been resumed, never before.
    a = start_rehearsal(db_url, x1, tmp_path, "--mode", "auto", "--speed", "300", "--start-in", "0.5", env=env)
    started.append(a)
    wait_for(lambda: alive(a, "run A") and len(x1.posts()) >= 1, "run A's first post", 60)
    store = Store(db_url, create=False)
    try:
        held = store.lease()
        assert held is not None and held.clock is not None and held.pid == a.pid
        a_clock = RehearsalClock.from_json(held.clock)
        _stall_between_posts(a, store, db_url, x1)
        stalled_with = store.count_by_state(EVENT_ID)

        def lease_quiet() -> bool:
            held = store.lease()
            assert held is not None and held.epoch == 1 and held.pid == a.pid
            assert held.heartbeat is not None
            return (datetime.now(UTC) - held.heartbeat).total_seconds() > LEASE_SECONDS + 0.2

        wait_for(lease_quiet, "run A's lease to go quiet", 30)
        if not store.is_sqlite:
            # On PostgreSQL the server also ends A's silent leadership session (after a few seconds):
            # only then is B a new run taking over, rather than a standby following A's clock.
            wait_for(lambda: not _leader_session_of(store, a.pid), "the server to end run A's leadership session", 30)

        b = start_rehearsal(db_url, x2, tmp_path, "--mode", "auto", "--speed", "900", "--start-in", "3.5", env=env)
        started.append(b)

        def b_holds_the_lease() -> bool:
            held = store.lease()
            return alive(b, "run B") and held is not None and held.epoch == 2 and held.pid == b.pid

        wait_for(b_holds_the_lease, "run B to take the lease", 60)
        takeover = time.monotonic()
        requests_at_takeover = len(x1.state.requests)
        posted_by_a = [t.text for t in x1.posts()]

        target = _next_claimable(store, a_clock.now())
        assert target is not None, f"run A's clock ({a_clock.now()}) ran past the event while it was stalled"
        wait_for(lambda: a_clock.now() >= target.at + DUE_BY, f"{target.slot} to fall due on run A's clock", 30)
        assert a_clock.now() < target.valid_until - RESUME_MARGIN, "test setup: the stall outlasted the window"
        assert store.get(target.id).state == DraftState.APPROVED, "test setup: run B got there first"
        os.kill(a.pid, signal.SIGCONT)
        out_a, _ = a.communicate(timeout=60)
        out_b, _ = b.communicate(timeout=120)
        final = store.count_by_state(EVENT_ID)
        audit = store.audit()
    finally:
        store.close()

    assert a.returncode == 1, out_a
    assert "error: this run stopped posting: another run took over posting from" in out_a
    assert "epoch 2; this run had epoch 1). Nothing more was posted from here." in out_a

    after_takeover = list(x1.state.requests)[requests_at_takeover:]
    assert [r for r in after_takeover if r[0] == "POST /2/tweets"] == [], "run A posted after the takeover"
    assert [t.text for t in x1.posts()] == posted_by_a
    assert all(t.arrived_monotonic < takeover for t in x1.posts())
    assert len(posted_by_a) == stalled_with["posted"] >= 1
    # Nor did A claim or record anything once B held the lease: every claim and post written
    # after B's lease row carries B's epoch (A's attempts, if it made any, are "refused" rows).
    took_over = next(e.id for e in audit if e.action == "lease" and e.detail.get("epoch") == 2)
    after = [e for e in audit if e.id > took_over and (e.action == "claim" or "tweet_id" in e.detail)]
    stamped = [(e.action, e.draft_id, e.detail["epoch"]) for e in after]
    assert stamped and all(epoch == 2 for _, _, epoch in stamped), stamped

    assert b.returncode == 0, out_b
    assert "; epoch 2." in out_b
    assert "The event is over: 10 posted." in out_b
    assert final["posted"] == N_POSTS
    everywhere = posted_by_a + [t.text for t in x2.posts()]
    assert len(everywhere) == len(set(everywhere)) == N_POSTS  # no text twice, on either server or across them
    assert sorted(everywhere) == sorted(planned_texts())  # every slot exactly once


def test_a_takeover_is_not_blocked_by_a_run_stalled_inside_a_transaction(
    postgres_available: str, tmp_path: Path, x_servers: tuple[FakeXServer, FakeXServer],
    started: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    """A run stalled (SIGSTOP, a frozen VM) in the middle of a claim holds its transaction open.

    That is what the test process plays here: the lease of a run on another machine, quiet
    for a minute, and an open transaction holding the lease row as `Ledger._fence` does
    (`Store.holds_lease`, FOR SHARE). A new run must take over within seconds, or at least
    say why it cannot (PostgreSQL ends the stalled transaction after a few seconds).
    """
    db_url = reset_postgres_schema()
    store = Store(db_url)
    conn = store.engine.connect()
    try:
        store.take_lease("stalled-run", kind="rehearsal", pid=4242, host="another-machine")
        with store.begin() as c:  # quiet for a minute: stale for any lease term
            c.execute(sa.text("UPDATE lease SET heartbeat = heartbeat - interval '1 minute'"))
        tx = conn.begin()
        store.holds_lease(conn, "stalled-run", 1)  # the stalled claim's lock on the lease row
        b = start_rehearsal(
            db_url, x_servers[0], tmp_path, "--mode", "auto", "--speed", "600", "--start-in", "2",
            env={"LIVETWEET_LEASE_SECONDS": str(LEASE_SECONDS)},
        )  # fmt: skip
        started.append(b)

        def b_took_over_or_gave_up() -> bool:
            held = store.lease()
            return b.poll() is not None or (held is not None and held.epoch == 2 and held.pid == b.pid)

        # A deadline, not a timing: PostgreSQL ends the stalled transaction after 5 s (the run's
        # idle_in_transaction_session_timeout), so the new run gets through whatever the load.
        wait_for(b_took_over_or_gave_up, "the new run to take over, or to say why it cannot", 60)
        with contextlib.suppress(sa.exc.DBAPIError):  # the server may have ended it already: as designed
            tx.rollback()
    finally:
        conn.close()
        store.close()
    if b.poll() is not None:
        out, _ = b.communicate()
        assert b.returncode == 1 and "another-machine" in out, out


# --- 2. a rehearsal never touches the store named in the environment ---------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livetweet", *args],
        cwd=cwd,
        env=env if env is not None else {**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_rehearsal_never_touches_the_store_named_in_the_environment(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "REAL.db"
    real_url = f"sqlite:///{real}"
    loaded = cli("--db", real_url, "load", SCHEDULE, cwd=tmp_path, env={"NO_COLOR": "1"})  # in this process
    assert loaded.returncode == 0, loaded.stderr
    approved = cli("--db", real_url, "approve", "1", "2", "3", "--as", "alice", cwd=tmp_path, env={"NO_COLOR": "1"})
    assert approved.returncode == 0, approved.stderr
    if Path(f"{real}-wal").exists():  # fold the log into the main file, so its bytes hold everything
        con = sqlite3.connect(real)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
    files_before = sorted(os.listdir(real_dir))
    bytes_before = _sha256(real)
    mtime_before = real.stat().st_mtime_ns

    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / ".env").write_text(
        f"LIVETWEET_DATABASE_URL={real_url}\n" + "".join(f"{k}={v}\n" for k, v in X_TEST_CREDENTIALS.items()),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "LIVETWEET_"))}
    env.update({"LIVETWEET_DATABASE_URL": real_url, "NO_COLOR": "1"})
    x = FakeXServer().start()
    try:
        rehearsal = _run_cli(
            "run", SCHEDULE, "--rehearse", "--no-console", "--mode", "auto", "--speed", "1200", "--start-in", "0.3",
            cwd=work,
            env={**env, "LIVETWEET_X_API_URL": x.url},
        )  # fmt: skip
        posted = [t.text for t in x.posts()]
    finally:
        x.stop()

    assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
    assert sorted(os.listdir(real_dir)) == files_before  # no -wal or -shm left behind
    assert _sha256(real) == bytes_before
    assert real.stat().st_mtime_ns == mtime_before
    assert rehearsal.stdout.splitlines()[0] == (
        "Rehearsal on its own store sqlite:///livetweet-rehearsal.db (LIVETWEET_DATABASE_URL is not used by "
        "rehearsals), with placeholder credentials: nothing reaches the real account."
    )
    assert "; store sqlite:///livetweet-rehearsal.db; epoch 1." in rehearsal.stdout
    assert "The event is over: 10 posted." in rehearsal.stdout
    assert posted == planned_texts()
    assert (work / "livetweet-rehearsal.db").is_file()

    # The setting was really in force: an operator's command in that folder does use the real store
    # (a real process: its environment and that folder's .env are the point).
    queue = _run_cli("queue", "--json", cwd=work, env=env)
    assert queue.returncode == 0, queue.stderr
    states = sorted(d["state"] for d in json.loads(queue.stdout))
    assert states == ["approved"] * 3 + ["pending"] * 7


# --- 3. a 429 with a 2-second reset at 60x is retried inside its window -------------------


def test_a_429_with_a_2_second_reset_at_60x_is_retried_inside_its_window(
    tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    """The first post gets a 429 whose reset is 2 s of real time away (120 s of event time at 60x).

    The fake X gives its reset as a whole-second epoch, int(now + 2): between 1 and 2 s
    away. livetweet must not try again before that reset, and its retry (at most 2 s later,
    120 s of event time) must land inside the post's 5-minute window (5 s of real time).
    """
    x = FakeXServer().start()
    x.state.requests = TimedRequests()
    x.inject_fault("429", reset_seconds=2)
    db_url = f"sqlite:///{tmp_path / 'r.db'}"
    try:
        proc = start_rehearsal(db_url, x, tmp_path, "--mode", "auto", "--speed", "60", "--start-in", "0.5")
        started.append(proc)
        wait_for(lambda: alive(proc, "the run") and len(x.posts()) >= 1, "the first post after the 429", 60)
        store = Store(db_url, create=False)
        try:
            wait_for(lambda: store.count_by_state(EVENT_ID)["posted"] == 1, "the post to be recorded")
            announcement = next(d for d in store.drafts(event_id=EVENT_ID) if d.slot == "announcement")
        finally:
            store.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        requests = x.state.requests
        assert isinstance(requests, TimedRequests)
        posts = [(i, outcome) for i, (route, outcome) in enumerate(requests) if route == "POST /2/tweets"]
        tweets = x.posts()
    finally:
        x.stop()

    assert proc.returncode == 0, out
    assert [outcome for _, outcome in posts] == ["fault:429", "201"], out  # one refusal, then one post
    assert [t.text for t in tweets] == planned_texts()[:1]  # the announcement, exactly once
    (refused, _), (retried, _) = posts
    announced_reset = int(requests.wall[refused] + 2)  # as the fake computes X's x-rate-limit-reset
    assert requests.wall[retried] >= announced_reset, "tried again before X's reset"
    waited = requests.mono[retried] - requests.mono[refused]
    assert 1.0 <= waited <= 5.0, f"the retry came {waited:.2f} s (real) after the 429"
    assert abs(tweets[0].arrived_monotonic - requests.mono[retried]) < 0.5

    assert announcement.state.value == "posted"
    assert announcement.attempts == 2
    assert announcement.posted_at is not None
    lag = (announcement.posted_at - announcement.at).total_seconds()  # event time, the rehearsal's clock
    assert lag >= 60 and announcement.posted_at <= announcement.valid_until, f"posted {lag:.0f} s after its time"
    assert "X's rate limit was reached (429); trying again at" in out
    assert "missed" not in out
    assert "Stopped: 9 approved, 1 posted." in out
