"""Benchmark: how late posts arrive at the simulated X API, against their due time.

300 approved posts spread over the 100-minute event, played at 60x (about 100 seconds),
posted by the real dispatcher (APScheduler, SQLite store, tweepy over HTTP) to the
simulated X API on 127.0.0.1. Prints p50, p99 and max lag, in milliseconds of real time.
Target (issue 4): p99 under 50 ms.

Run:  .venv/bin/python bench/bench_punctuality.py [--posts 300] [--speed 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from livetweet.check import check_schedule
from livetweet.clock import RehearsalClock
from livetweet.dispatch import Dispatcher, Runner
from livetweet.fakex import FakeXServer
from livetweet.publishers.x import XPublisher
from livetweet.service import Service
from livetweet.store import Store

CREDENTIALS = {k: "bench" for k in ("X_API_KEY", "X_API_KEY_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")}


def schedule(folder: Path, posts: int) -> Path:
    (folder / "templates").mkdir()
    (folder / "templates" / "p.j2").write_text("Live post {{ slot.vars.n }} from the roundtable")
    step = 100 * 60 / posts
    slots = "".join(
        f"  - id: p{i}\n    template: p\n    at: all.start + {int(i * step)}s\n    vars:\n      n: {i}\n"
        for i in range(posts)
    )
    text = (
        'event:\n  id: bench\n  title: Punctuality\n  account: "@bench"\n  date: 2020-11-12\n'
        '  start: "13:30"\n  end: "15:10"\n  timezone: Europe/Zurich\n  hashtags: ["#GCM"]\n'
        'templates: templates\nsegments:\n  - id: all\n    title: All\n    start: "13:30"\n    end: "15:10"\n'
        f"slots:\n{slots}"
    )
    path = folder / "bench.yaml"
    path.write_text(text)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--speed", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = schedule(folder, args.posts)
        report = check_schedule(path)
        assert report.ok, report.errors[:3]
        first = min(p.slot.at for p in report.posts)
        clock = RehearsalClock(first - timedelta(seconds=2 * args.speed), args.speed)
        launch = time.monotonic()
        x = FakeXServer(clock=clock, username="bench", rate_limits={}).start()
        service = Service(Store(f"sqlite:///{folder / 'bench.db'}"), clock)
        service.load(path, "auto")
        publisher = XPublisher(CREDENTIALS, x.url, 10.0, clock)
        dispatcher = Dispatcher(service, publisher, "bench")
        runner = Runner(dispatcher)
        runner.start()
        expected = {d.text: d.at for d in service.queue()}
        deadline = time.monotonic() + 100 * 60 / args.speed + 30
        while len(x.posts()) < args.posts and time.monotonic() < deadline:
            time.sleep(0.2)
        runner.stop()
        publisher.close()
        x.stop()
        lags = []
        for tweet in x.posts():
            due_real = launch + (expected[tweet.text] - clock.start).total_seconds() / args.speed
            lags.append((tweet.arrived_monotonic - due_real) * 1000)
        lags.sort()
        p50 = statistics.median(lags)
        p99 = lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))]
        print(
            f"{len(lags)} of {args.posts} posts arrived at {args.speed:g}x; each posted once: "
            f"{len({t.text for t in x.posts()}) == len(lags)}"
        )
        print(
            f"lag from due time to arrival at the simulated X API: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {lags[-1]:.1f} ms, min {lags[0]:.1f} ms ({'meets' if p99 < 50 else 'MISSES'} target p99 < 50 ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
