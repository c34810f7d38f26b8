"""Benchmark: how long the standby takes to carry on posting when the leader dies, freezes or is cut off.

One long rehearsal at 60x on a PostgreSQL store (a post every 15 s of event time, four a
second of real time), played by real `livetweet run --rehearse` processes. A leader posts
while a standby waits; the bench strikes the leader at a moment when nothing is in flight,
the standby takes over, a new standby is started, and so on: `--kills` strikes of each kind:

- SIGKILL: the leader's process dies (its sockets close at once);
- freeze: SIGSTOP, as a closed lid or a hung VM (the server ends its silent session after
  LEADER_SILENCE_SECONDS); the frozen process is killed once the standby has taken over;
- cut: its database sessions ended with pg_terminate_backend (it stops posting by itself).

Each machine posts through its own address of one simulated X account, so the bench reads
who posted what. Prints, per kind, the takeover time (strike -> the lease taken by the new
leader, from the audit row) and the time to the next post (strike -> the next post stored by
X through the new leader's address): median and max. At the end: every post exactly once.

Targets: the next post under 3 s after SIGKILL, under 10 s after a freeze or a lost connection.

Run:  .venv/bin/python bench/bench_failover.py [--kills 10] [--postgres URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from livetweet.fakes import FakeXServer
from livetweet.fakes.x import RATE_LIMITS
from livetweet.store import Store
from tests.support.standby import EVENT_ID, Machine, dense_schedule, start_machine, stored_posts

TARGETS = {"SIGKILL": 3.0, "freeze": 10.0, "cut": 10.0}
CUT = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN (:a, :b)"
EVERY_SECONDS = 15  # of event time between posts: a quarter of a second at 60x
SCHEMA = "livetweet_bench_failover"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_failover: gave up waiting for {what}")
        time.sleep(0.02)  # a bench polls; the tests wait on events


def fresh_schema(url: str) -> str:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}"


def settled(store: Store) -> bool:
    """Nothing in flight, something posted and something still to post: a moment to strike."""
    counts = store.count_by_state(EVENT_ID)
    return counts["posting"] == 0 and counts["posted"] >= 1 and counts["approved"] > 0


def strike(kind: str, leader: Machine, store: Store) -> None:
    """Kill, freeze or cut off the leader."""
    if kind == "SIGKILL":
        leader.proc.send_signal(signal.SIGKILL)
    elif kind == "freeze":
        os.kill(leader.proc.pid, signal.SIGSTOP)
    else:
        with store.engine.connect() as conn:
            pid = leader.proc.pid
            conn.execute(sa.text(CUT), {"a": f"livetweet {pid}", "b": f"livetweet leader {pid}"})


def one_strike(kind: str, leader: Machine, standby: Machine, store: Store, epoch: int) -> tuple[float, float]:
    """Strike the leader once it has a standby: seconds to the lease taken, and to the next post."""
    wait_for(lambda: standby.alive() and standby.said("standby: leader is"), "the standby")
    wait_for(lambda: settled(store), "a moment between two posts")
    struck = time.time()
    strike(kind, leader, store)
    wait_for(lambda: standby.alive() and standby.said(f"took over posting (epoch {epoch}"), "the takeover")
    try:
        wait_for(lambda: bool(stored_posts(standby.door, struck)), "the new leader's first post")
    except SystemExit:
        print("\n".join(standby.lines[-30:]), file=sys.stderr)
        raise
    return lease_taken(store, epoch) - struck, stored_posts(standby.door, struck)[0] - struck


def lease_taken(store: Store, epoch: int) -> float:
    """When (wall clock) the lease of `epoch` was taken: the audit row the takeover wrote."""
    return next(e for e in store.audit() if e.action == "lease" and e.detail.get("epoch") == epoch).at.timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="strikes of each kind (default 10)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LIVETWEET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database to write a schema of its own into",
    )
    args = parser.parse_args()
    kinds = ["SIGKILL", "freeze", "cut"] * args.kills
    n_posts = int(len(kinds) * 8 / (EVERY_SECONDS / 60)) + 200  # about 8 s of real time per strike, and room
    db_url = fresh_schema(args.postgres)
    folder = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    schedule = dense_schedule(folder, n_posts, EVERY_SECONDS)
    # Its rate limits are per 15 minutes of real time: four posts a second would exhaust X's 100 at once.
    x = FakeXServer(hang_seconds=5, rate_limits={**RATE_LIMITS, "POST /2/tweets": 1_000_000}).start()
    machines: list[Machine] = []
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in TARGETS}

    def new_machine(*extra: str) -> Machine:
        door = x.door().start()
        m = start_machine(f"machine {len(machines) + 1}", db_url, schedule, door, folder, *extra)
        machines.append(m)
        return m

    leader = new_machine("--start-in", "2")
    wait_for(lambda: leader.alive() and leader.said("epoch 1."), "the first leader")
    store = Store(db_url, create=False)
    epoch = 1
    try:
        for i, kind in enumerate(kinds, 1):
            standby = new_machine()
            epoch += 1
            took, first = one_strike(kind, leader, standby, store, epoch)
            results[kind].append((took, first))
            print(f"  {i:2}/{len(kinds)} {kind:<8} lease taken {took:5.2f} s, "
                  f"next post {first:5.2f} s", flush=True)  # fmt: skip
            if kind == "freeze":
                os.kill(leader.proc.pid, signal.SIGCONT)
            with contextlib.suppress(ProcessLookupError):
                leader.proc.kill()
            leader.proc.wait(timeout=30)
            leader = standby
        texts = [t.text for t in x.posts()]
        counts = store.count_by_state(EVENT_ID)
    finally:
        for m in machines:
            with contextlib.suppress(ProcessLookupError):
                os.kill(m.proc.pid, signal.SIGCONT)
                m.proc.kill()
        store.close()
        x.stop()

    print(f"\nTakeover on PostgreSQL, {args.kills} strikes of each kind, a rehearsal at 60x "
          f"(load {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores):")  # fmt: skip
    print(f"  {'kind':<9}{'lease taken (median / max)':>30}{'next post (median / max)':>28}   target")
    for kind, rows in results.items():
        lease = [r[0] for r in rows]
        post = [r[1] for r in rows]
        met = "met" if max(post) < TARGETS[kind] else "MISSED"
        print(f"  {kind:<9}{statistics.median(lease):>17.2f} s / {max(lease):5.2f} s"
              f"{statistics.median(post):>15.2f} s / {max(post):5.2f} s   "
              f"under {TARGETS[kind]:g} s: {met}")  # fmt: skip
    twice = len(texts) - len(set(texts))
    print(f"\nPosts at X: {len(texts)}, posted twice: {twice}; missed in the store: {counts['missed']}.")
    return 0 if twice == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
