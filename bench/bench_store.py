"""Benchmark: loading a 5,000-slot schedule, and approvals per second, on SQLite and PostgreSQL.

Run:  .venv/bin/python bench/bench_store.py
PostgreSQL is taken from LIVETWEET_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test),
in a schema of its own (livetweet_bench) that it drops first; it is skipped, saying so, when unreachable.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from bench_text import generated_schedule

from livetweet.service import Service
from livetweet.store import Store

N_SLOTS = 5_000
N_APPROVALS = 2_000
PG_URL = os.environ.get("LIVETWEET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "livetweet_bench"


def _pg_url() -> str | None:
    admin = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        engine = sa.create_engine(admin, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
        engine.dispose()
    except Exception as exc:  # unreachable: report and skip
        print(f"postgresql: skipped ({str(exc).splitlines()[0]})")
        return None
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}"


def run(name: str, url: str, schedule: Path) -> None:
    store = Store(url)
    service = Service(store)
    start = time.perf_counter()
    report = service.load(schedule)
    load_s = time.perf_counter() - start
    assert len(report.created) == N_SLOTS
    start = time.perf_counter()
    again = service.load(schedule)
    reload_s = time.perf_counter() - start
    assert again.unchanged == N_SLOTS
    ids = [d.id for d in service.queue()][:N_APPROVALS]
    start = time.perf_counter()
    for draft_id in ids:
        service.approve(draft_id, "bench")
    approve_s = time.perf_counter() - start
    store.close()
    print(
        f"{name:<10}  load {N_SLOTS:,} slots: {load_s:6.2f} s ({N_SLOTS / load_s:7,.0f} slots/s)   "
        f"reload unchanged: {reload_s:5.2f} s   approve: {len(ids) / approve_s:7,.0f} approvals/s "
        f"({len(ids):,} one by one, each its own transaction)"
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedule = generated_schedule(folder, N_SLOTS)
        run("sqlite", f"sqlite:///{folder / 'bench.db'}", schedule)
        pg = _pg_url()
        if pg:
            run("postgresql", pg, schedule)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
