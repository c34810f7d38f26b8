"""Benchmark: `livetweet report` of a 3,000-post event (target: under 2 s).

Run:  .venv/bin/python bench/bench_report.py
The event is generated: a 3,000-slot schedule loaded in auto mode, then the store's drafts set
as a run leaves them (most posted with a lag, some missed, some failed), two shifts and a
hundred direct messages. Prints the time to read the store, compute the figures, draw the
chart and write the page, in this process once matplotlib is loaded, and as a whole command
(a fresh process, imports included). Asserts nothing.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from bench_text import generated_schedule

from livetweet.config import PRICES
from livetweet.service import Service
from livetweet.store import NewMessage, Store, drafts_table

N_POSTS = 3_000


def make_event(folder: Path) -> str:
    """A store holding a 3,000-post event as a run would leave it; returns its URL."""
    url = f"sqlite:///{folder / 'bench.db'}"
    store = Store(url)
    service = Service(store)
    service.load(generated_schedule(folder, N_POSTS), "auto")
    rng = random.Random(17)
    t = drafts_table.c
    with store.begin() as conn:
        rows = conn.execute(sa.select(t.id, t.at)).all()
        for n, (draft_id, at) in enumerate(rows):
            at = at.replace(tzinfo=UTC)
            if n % 97 == 0:
                conn.execute(
                    drafts_table.update().where(t.id == draft_id).values(state="missed", last_error="its window passed")
                )
            elif n % 89 == 0:
                conn.execute(
                    drafts_table.update()
                    .where(t.id == draft_id)
                    .values(state="failed", last_error="X refused the post (400)")
                )
            else:
                conn.execute(
                    drafts_table.update()
                    .where(t.id == draft_id)
                    .values(
                        state="posted",
                        posted_at=at + timedelta(seconds=rng.uniform(0.2, 4.0)),
                        tweet_id=str(10**18 + n),
                    )
                )
        now = datetime(2020, 11, 12, 9, 0, tzinfo=UTC)
        store.add_shift(conn, "bench", None, 120, "carla", now)
        store.add_shift(
            conn, "bench", datetime(2020, 11, 12, 12, 0, tzinfo=UTC), -60, "carla", now + timedelta(hours=3)
        )
        store.add_messages(
            conn,
            [
                NewMessage(
                    str(5 * 10**17 + i),
                    str(2000 + i),
                    f"user{i}",
                    f"Message {i}",
                    f"Message {i}",
                    now + timedelta(minutes=i),
                    f"c{i}",
                    (),
                    now + timedelta(minutes=i),
                )
                for i in range(100)
            ],
        )
    store.close()
    return url


def in_process(url: str) -> tuple[float, float, int]:
    """(first report in this process, imports included; a second one; the page's size)."""
    from livetweet.report import render_html
    from livetweet.service.report import compute_report, read_report_data

    sizes = []
    times = []
    for _ in range(2):
        start = time.perf_counter()
        store = Store(url, create=False)
        figures = compute_report(read_report_data(store, "bench"), PRICES)
        page = render_html(figures, datetime.now(UTC))
        store.close()
        times.append(time.perf_counter() - start)
        sizes.append(len(page))
    return times[0], times[1], sizes[-1]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = make_event(folder)
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "livetweet", "--db", url, "report", "-o", str(folder / "report.html")],
            capture_output=True,
            text=True,
        )
        command = time.perf_counter() - start
        if out.returncode:
            print(out.stderr)
            return 1
        first, warm, size = in_process(url)
    print(
        f"report of {N_POSTS:,} posts: {warm:.2f} s (read, compute, chart, page; matplotlib loaded), "
        f"{first:.2f} s the first time in a process, {command:.2f} s as a command (a new process); "
        f"page {size / 1e6:.1f} MB (target: under 2 s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
