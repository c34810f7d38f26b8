"""Shared fixtures: a small valid schedule to break in tests, and the public test data."""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from livetweet.fakes import FakeXServer
from livetweet.plan.check import Report, check_schedule

REPO = Path(__file__).resolve().parents[1]
SHIPPED_SCHEDULE = REPO / "schedules" / "gcm-unece-2020-roundtable-2.yaml"


def shared_testdata() -> Path:
    """../shared/testdata beside the checkout (CI has it), or LIVETWEET_TESTDATA."""
    return Path(os.environ.get("LIVETWEET_TESTDATA") or REPO.parent / "shared" / "testdata")


# Line numbers matter: tests assert the exact line of each problem in this file.
MINI_SCHEDULE = """\
event:
  id: demo
  title: Demo event
  account: "@demo"
  date: 2020-11-12
  start: "13:30"
  end: "15:00"
  timezone: Europe/Zurich
  hashtags: ["#GCM"]
objectives:
  - number: 5
    title: Regular pathways
    hashtags: ["#Pathways"]
segments:
  - id: opening
    title: Opening
    start: "13:30"
    end: "13:45"
  - id: q1
    title: Question 1
    objectives: [5]
    start: "13:45"
    end: "15:00"
slots:
  - id: hello
    template: hello
    at: opening.start + 1m
  - id: q1
    template: question
    at: q1.start + 2m
"""

MINI_TEMPLATES = {
    "hello.j2": "Welcome to {{ event.title }}!\n",
    "question.j2": "Now: {{ segment.title }}.\n",
}

CheckFn = Callable[..., Report]


@pytest.fixture
def run_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CheckFn:
    """Write a schedule (and templates) into a fresh folder and check it from there."""
    monkeypatch.chdir(tmp_path)

    def run(
        schedule: str = MINI_SCHEDULE,
        templates: dict[str, str] | None = None,
        replace: dict[str, str] | None = None,
    ) -> Report:
        for old, new in (replace or {}).items():
            assert old in schedule, f"test setup: {old!r} not in the schedule"
            schedule = schedule.replace(old, new, 1)
        (tmp_path / "schedules").mkdir(exist_ok=True)
        tdir = tmp_path / "templates"
        tdir.mkdir(exist_ok=True)
        for name, text in (MINI_TEMPLATES if templates is None else templates).items():
            (tdir / name).write_text(text, encoding="utf-8")
        path = tmp_path / "schedules" / "demo.yaml"
        path.write_text(schedule, encoding="utf-8")
        return check_schedule(Path("schedules/demo.yaml"))

    return run


def write_event(folder: Path, schedule: str = MINI_SCHEDULE, templates: dict[str, str] | None = None) -> Path:
    """Write a schedule and its templates into `folder`; return the schedule's path."""
    (folder / "templates").mkdir(exist_ok=True)
    for name, text in (MINI_TEMPLATES if templates is None else templates).items():
        (folder / "templates" / name).write_text(text, encoding="utf-8")
    (folder / "schedules").mkdir(exist_ok=True)
    path = folder / "schedules" / "demo.yaml"
    path.write_text(schedule, encoding="utf-8")
    return path


# --- databases: every store test runs on SQLite and on PostgreSQL ------------------

POSTGRES_URL = os.environ.get("LIVETWEET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# One schema per test process: two runs of the suite on one machine, or two xdist workers,
# never drop each other's tables. Each process drops its own at exit.
PG_SCHEMA = f"livetweet_test_{os.getpid()}"
PG_HOWTO = (
    "PostgreSQL is not reachable at {url} ({error}). To run these tests start it "
    "(on Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
    "or point LIVETWEET_TEST_POSTGRES_URL at a database you may write to."
)


def _pg_admin_url() -> str:
    return POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def postgres_available() -> str:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(_pg_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: skip, saying how to enable
        pytest.skip(PG_HOWTO.format(url=POSTGRES_URL, error=str(exc).splitlines()[0]))
    return POSTGRES_URL


def reset_postgres_schema() -> str:
    """Empty our own schema in the test database; return a URL that uses it."""
    import sqlalchemy as sa

    engine = sa.create_engine(_pg_admin_url())
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    if not _schema_cleanup:
        _schema_cleanup.append(atexit.register(_drop_schema))
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}"


_schema_cleanup: list[object] = []


def _drop_schema() -> None:
    """At exit, this process's schema goes (best effort: a killed run leaves one behind)."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(_pg_admin_url(), connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        engine.dispose()
    except Exception:  # the server may be gone already: nothing to clean then
        pass


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: a SQLite file, or our schema in PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'livetweet.db'}"
    request.getfixturevalue("postgres_available")
    return reset_postgres_schema()


# --- the posting run's writes ---------------------------------------------------------


def posting_run(service: Any) -> Any:
    """The ledger of the run holding the store's lease (taken for a test run if nobody holds it)."""
    from livetweet.service.ledger import Ledger, Run

    store = service.store
    held = store.lease()
    if held is None or not held.alive(store.wall.now()):
        held = store.take_lease("test-run", kind="live")
    return Ledger(store, service.clock, Run(held.holder, held.epoch))


# --- the simulated X API, over real HTTP --------------------------------------------

X_TEST_CREDENTIALS = {
    "X_API_KEY": "test-key",
    "X_API_KEY_SECRET": "test-key-secret",
    "X_ACCESS_TOKEN": "test-token",
    "X_ACCESS_TOKEN_SECRET": "test-token-secret",
}


@pytest.fixture
def fake_x() -> Iterator[FakeXServer]:
    """A simulated X API on 127.0.0.1 with the machine's clock."""
    server = FakeXServer(hang_seconds=5).start()
    yield server
    server.stop()
