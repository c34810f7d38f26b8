"""Benchmark: one poll that stores 10,000 new direct messages read across 100 pages.

Real tweepy over HTTP to the simulated X API, into a SQLite file. Prints the time the
poll took and the memory it used (Python allocations at their peak, and the process's
resident set growth).

Run:  .venv/bin/python bench/bench_inbox.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from livetweet.fakes import FakeXServer, add_dm
from livetweet.publishers.x import XPublisher
from livetweet.service import InboxService, Service
from livetweet.store import Store

CREDENTIALS = {k: "bench" for k in ("X_API_KEY", "X_API_KEY_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    timed = poll_once(args.messages, trace=False)
    traced = poll_once(args.messages, trace=True)
    print(
        f"one poll: {timed['stored']:,} new messages from {timed['pages']} pages in {timed['seconds']:.2f} s "
        f"({timed['stored'] / timed['seconds']:,.0f} messages/s); the next poll added {timed['again']}"
    )
    print(
        f"memory: resident set grew by {timed['rss_mib']:.1f} MiB; Python allocations peaked at "
        f"{traced['peak_mib']:.1f} MiB (measured in a second, traced run)"
    )
    return 0


def poll_once(n: int, trace: bool) -> dict[str, float]:
    x = FakeXServer(rate_limits={}).start()
    for i in range(n):
        add_dm(x.state, f"participant_{i % 250}", f"Message {i}: regular pathways and decent work matter #GCM 🌍")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        inbox = InboxService(Service(store))
        publisher = XPublisher(CREDENTIALS, x.url, 30.0)
        publisher.me()  # the account id is asked once per run, not per poll
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        result = inbox.poll(publisher)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        again = inbox.poll(publisher)
        assert len(inbox.messages()) == n == result.stored
        publisher.close()
        store.close()
    x.stop()
    return {
        "stored": result.stored,
        "pages": result.pages,
        "seconds": elapsed,
        "again": again.stored,
        "rss_mib": (rss_after - rss_before) / 1024,
        "peak_mib": peak / 2**20,
    }


if __name__ == "__main__":
    raise SystemExit(main())
