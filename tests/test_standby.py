"""A standby that takes over: two `livetweet run --rehearse` processes on one PostgreSQL store.

Each test is a rehearsal at 60x with a leader (A) and a standby (B), both posting to one
simulated X account through two addresses of it (`FakeXServer.door`): one timeline, so a
double post is seen as one, and one request log per machine, so "A posted nothing after the
takeover" is read off A's own address. The leader is killed, frozen for 20 s, cut off from
the database, or the standby is killed instead. Each test prints the takeover time; the
targets are measured by bench/bench_failover.py, never asserted here.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from livetweet.fakes import FakeXServer
from livetweet.store import Store

from .support.console import PASSWORD, free_port
from .support.databases import reset_postgres_schema
from .support.standby import EVENT_ID, Machine, dense_schedule, start_machine, stored_posts, writes_through
from .support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("postgres_available")

N_POSTS = 14  # a post a second at 60x: the event lasts about 16 s
FROZEN_N_POSTS = 30  # long enough to go on after the 20 s freeze
FREEZE_SECONDS = 20.0
# Every window closes 3 minutes (3 s) after the last post, so a run is over then, not 10 s later;
# the windows of the posts around the strike stay 10 minutes long. The frozen leader's scene keeps
# 10 minutes everywhere: its event must go on well past the freeze.
CLOSE_AFTER = 180


@pytest.fixture
def machines() -> Iterator[list[Machine]]:
    started: list[Machine] = []
    yield started
    for m in started:
        if m.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(m.proc.pid, signal.SIGCONT)
            m.proc.kill()
            m.proc.wait(timeout=30)


@pytest.fixture
def x_doors() -> Iterator[tuple[FakeXServer, FakeXServer]]:
    """One simulated X account with two addresses: A's and B's."""
    first = FakeXServer(hang_seconds=5).start()
    second = first.door().start()
    yield first, second
    second.stop()
    first.stop()


def takeover_wall(store: Store, epoch: int) -> float:
    """When (wall clock) the lease of `epoch` was taken, from the audit row the takeover wrote."""
    row = next(e for e in store.audit() if e.action == "lease" and e.detail.get("epoch") == epoch)
    return row.at.timestamp()


@dataclass
class Scene:
    store: Store
    a: Machine
    b: Machine
    door_a: FakeXServer
    door_b: FakeXServer
    n_posts: int

    @property
    def x(self) -> FakeXServer:
        """The account itself: both doors show one timeline."""
        return self.door_a


@pytest.fixture
def scene(
    tmp_path: Path, machines: list[Machine], x_doors: tuple[FakeXServer, FakeXServer]
) -> Iterator[Callable[..., Scene]]:
    db_url = reset_postgres_schema()
    store_holder: list[Store] = []

    def begin(
        a_args: tuple[str, ...] = (),
        b_args: tuple[str, ...] = (),
        n_posts: int = N_POSTS,
        close_after: int | None = CLOSE_AFTER,
    ) -> Scene:
        schedule = dense_schedule(tmp_path, n_posts, close_after=close_after)
        door_a, door_b = x_doors
        a = start_machine("leader A", db_url, schedule, door_a, tmp_path, "--start-in", "2", *a_args)
        machines.append(a)
        wait_for(lambda: a.alive() and a.said("epoch 1."), "A to lead (epoch 1)", 60)
        b = start_machine("standby B", db_url, schedule, door_b, tmp_path, *b_args)
        machines.append(b)
        wait_for(lambda: b.alive() and b.said("standby: leader is"), "B to stand by", 60)
        store = Store(db_url, create=False)
        store_holder.append(store)
        wait_for(lambda: a.alive() and len(stored_posts(door_a)) >= 3, "A's first three posts", 60)
        return Scene(store, a, b, door_a, door_b, n_posts)

    yield begin
    for s in store_holder:
        s.close()


def answers(url: str) -> bool:
    """Does a server answer at `url` yet (a console starts listening after its run has said so)?"""
    try:
        requests.get(url, timeout=5)
    except requests.ConnectionError:
        return False
    return True


def between_posts(scene: Scene, at_least: int = 3) -> None:
    """Wait until A has just posted and recorded (nothing in flight): a clean moment to strike."""
    store = scene.store

    def settled() -> bool:
        counts = store.count_by_state(EVENT_ID)
        return scene.a.alive() and counts["posting"] == 0 and counts["posted"] == len(scene.x.posts()) >= at_least

    wait_for(settled, "A between two posts", 60)


def assert_everything_once(scene: Scene, unapproved: int = 0) -> None:
    """Every planned post at X exactly once, none missed (but `unapproved` drafts nobody approved), none in flight."""
    texts = [t.text for t in scene.x.posts()]
    assert len(texts) == len(set(texts)) == scene.n_posts, sorted(texts)
    counts = scene.store.count_by_state(EVENT_ID)
    assert counts["posted"] == scene.n_posts and counts["missed"] == unapproved and counts["posting"] == 0, counts
    refused = [a for a in scene.x.state.requests if a[0] == "POST /2/tweets" and not a[1].startswith("2")]
    assert refused == [], refused  # not even a duplicate X had to refuse


def report_takeover(label: str, struck: float, scene: Scene, epoch: int = 2) -> None:
    took = takeover_wall(scene.store, epoch)
    after = [w for w in stored_posts(scene.door_b) if w >= struck]
    first_post = f"{after[0] - struck:.2f} s" if after else "none"
    print(f"\n{label}: lease taken {took - struck:.2f} s after, first post through B {first_post} after")


def test_the_standby_takes_over_when_the_leader_is_killed(scene: Callable[..., Scene]) -> None:
    port = free_port()
    s: Scene = scene(b_args=("--console", f"127.0.0.1:{port}"))
    # The standby's console works while it waits: it reads and writes the shared store.
    console = f"http://127.0.0.1:{port}"
    wait_for(lambda: s.b.alive() and answers(console + "/login"), "B's console to answer", 60)
    session = requests.Session()
    login = session.post(console + "/login", data={"name": "bea", "password": PASSWORD}, timeout=10)
    assert login.status_code == 200 and login.url.rstrip("/") == console
    queue = session.get(console + "/queue", timeout=10)
    assert queue.status_code == 200 and f"Update {N_POSTS} from Standby demo" in queue.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', queue.text)
    assert csrf is not None
    composed = session.post(
        console + "/compose",
        data={"csrf": csrf.group(1), "text": "Composed on the standby", "approve": "0"},
        timeout=10,
    )
    assert composed.status_code == 200, composed.text[:500]
    on_the_leader = [d for d in s.store.drafts(event_id=EVENT_ID) if d.text.startswith("Composed on the standby")]
    assert [(d.state.value, d.source) for d in on_the_leader] == [("pending", "compose")]
    between_posts(s)
    struck = time.time()
    s.a.proc.send_signal(signal.SIGKILL)
    s.a.finish()
    wait_for(lambda: s.b.alive() and s.b.said("this machine took over posting (epoch 2"), "B to take over", 60)
    assert s.b.finish() == 0, s.b.output
    report_takeover("SIGKILL", struck, s)
    # B was a second `run` on PostgreSQL without --standby: it said what it does.
    assert "Another run posts from this store (PostgreSQL): this one waits as its standby" in s.b.output
    assert f"standby: leader is {os.uname().nodename}, process {s.a.proc.pid}, since " in s.b.output
    # The pending draft composed on B was never approved: missed at the end of its window, not posted.
    assert f"The event is over: {s.n_posts} posted, 1 missed." in s.b.output
    assert_everything_once(s, unapproved=1)
    assert writes_through(s.door_a, struck) == []


def test_a_frozen_leader_loses_and_posts_nothing_when_it_wakes(scene: Callable[..., Scene]) -> None:
    s: Scene = scene(n_posts=FROZEN_N_POSTS, close_after=None)
    between_posts(s)
    struck = time.time()
    os.kill(s.a.proc.pid, signal.SIGSTOP)
    wait_for(lambda: s.b.alive() and s.b.said("this machine took over posting (epoch 2"), "B to take over", 60)
    took = takeover_wall(s.store, 2)
    resume_at = struck + FREEZE_SECONDS
    wait_for(lambda: time.time() >= resume_at, "the 20 s freeze to end", 60)
    assert s.b.proc.poll() is None, "test setup: the event ended during the freeze"
    os.kill(s.a.proc.pid, signal.SIGCONT)
    assert s.a.finish() == 1, s.a.output
    # Whichever it noticed first on waking: its ended session, or the lease's new epoch.
    assert "error: this run stopped posting: " in s.a.output
    assert ("this machine lost its session with the database" in s.a.output) or (
        "epoch 2; this run had epoch 1" in s.a.output
    )
    assert "Nothing more was posted from here." in s.a.output
    assert s.b.finish() == 0, s.b.output
    report_takeover("SIGSTOP 20 s", struck, s)
    assert_everything_once(s)
    assert writes_through(s.door_a, took) == [], "A posted after the takeover"


def test_a_leader_cut_off_from_the_database_stops_and_stands_by(scene: Callable[..., Scene]) -> None:
    s: Scene = scene(a_args=("--standby",))
    between_posts(s)
    struck = time.time()
    with s.store.engine.connect() as conn:
        ended = (
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN (:a, :b)"),
                {"a": f"livetweet {s.a.proc.pid}", "b": f"livetweet leader {s.a.proc.pid}"},
            )
            .scalars()
            .all()
        )
    assert ended and all(ended)
    wait_for(lambda: s.b.alive() and s.b.said("this machine took over posting (epoch 2"), "B to take over", 60)
    took = takeover_wall(s.store, 2)
    wait_for(lambda: s.a.alive() and s.a.said("It waits as a standby again."), "A to stand by", 60)
    assert s.b.finish() == 0, s.b.output
    # B released the lease at the end; A, standing by, takes it, finds the event over and ends too.
    assert s.a.finish() == 0, s.a.output
    assert f"The event is over: {s.n_posts} posted." in s.a.output
    report_takeover("pg_terminate_backend", struck, s)
    assert_everything_once(s)
    assert writes_through(s.door_a, took) == [], "A posted after the takeover"


def test_killing_the_standby_changes_nothing(scene: Callable[..., Scene]) -> None:
    s: Scene = scene()
    s.b.proc.send_signal(signal.SIGKILL)
    s.b.finish()
    assert s.a.finish() == 0, s.a.output
    assert f"The event is over: {s.n_posts} posted." in s.a.output
    assert_everything_once(s)
    assert stored_posts(s.door_b) == []
    held = s.store.lease()
    assert held is None  # A released it at the end: nobody took over, nobody had to
    assert [e.detail.get("epoch") for e in s.store.audit() if e.action == "lease"] == [1]


def test_on_sqlite_a_standby_waits_only_when_asked_and_takes_over_a_dead_leader(
    tmp_path: Path, machines: list[Machine], x_doors: tuple[FakeXServer, FakeXServer]
) -> None:
    """One laptop, two terminals: without --standby a second run is refused; with it, it waits."""
    door_a, door_b = x_doors
    db_url = f"sqlite:///{tmp_path / 'one-laptop.db'}"
    schedule = dense_schedule(tmp_path, 8, close_after=CLOSE_AFTER)
    # A's event starts 20 s after its launch: the two runs below start side by side, so that both
    # meet A's lease long before its last post (each process's start-up took up to 17 s beside a
    # second copy of the suite, when A's event lasted 17 s: the second run found it over).
    a = start_machine("leader A", db_url, schedule, door_a, tmp_path, "--start-in", "20")
    machines.append(a)
    wait_for(lambda: a.alive() and a.said("epoch 1."), "A to lead (epoch 1)", 60)
    refused = start_machine("second run", db_url, schedule, door_b, tmp_path)
    machines.append(refused)
    b = start_machine("standby B", db_url, schedule, door_b, tmp_path, "--standby")
    machines.append(b)
    assert refused.finish() == 1
    assert "error: another `livetweet run` is posting from sqlite:///" in refused.output
    wait_for(lambda: b.alive() and b.said("standby: leader is"), "B to stand by", 60)
    store = Store(db_url, create=False)
    try:
        s = Scene(store, a, b, door_a, door_b, 8)
        wait_for(lambda: a.alive() and len(stored_posts(door_a)) >= 2, "A's first posts", 60)
        between_posts(s, at_least=2)
        struck = time.time()
        a.proc.send_signal(signal.SIGKILL)
        a.finish()
        # A process of this machine that no longer runs holds no lease: no 15 s wait.
        assert b.finish() == 0, b.output
        report_takeover("SIGKILL on SQLite", struck, s)
        assert "this machine took over posting (epoch 2" in b.output
        assert_everything_once(s)
    finally:
        store.close()
