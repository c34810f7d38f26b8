"""The fixtures. What they are built from (the events, the databases, the simulated world, the
command line, the console) lives in tests/support/, which test modules import directly."""

from __future__ import annotations

import compileall
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.support")  # helpers' asserts explain themselves too

from livetweet.fakes import FakeXServer  # noqa: E402
from livetweet.plan.check import Report, check_schedule  # noqa: E402

from .support.databases import postgres_unreachable, reset_postgres_schema  # noqa: E402
from .support.events import MINI_SCHEDULE, MINI_TEMPLATES, CheckFn  # noqa: E402

# The exactly-once model runs for minutes on its own, longer than any other test by far. Started
# first, one process of `pytest -n 4` works through it while the others take the rest of the suite;
# started in file order (past the middle), it was the suite's last few minutes on one process.
FIRST = Path(__file__).with_name("test_model.py")
PACKAGE = Path(__file__).resolve().parents[1] / "livetweet"
# The model computes all along. These files mostly wait, on rehearsals in real processes playing
# the event's clock: they come next, so the other processes work through them while the model has
# more of a core to itself (147 s alone; beside the browser tests 281 s, beside these 243 s). The
# files that compute (Chromium, parsing, the store's properties) follow, on every process.
WAITING = frozenset(
    {
        "test_standby.py",
        "test_rehearsal.py",
        "test_fencing.py",
        "test_report.py",
        "test_media_rehearsal.py",
        "test_networks_rehearsal.py",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    """livetweet's bytecode compiled once, before the tests start any process that imports it.

    Where PYTHONDONTWRITEBYTECODE is set (as on these machines) no process writes a .pyc, so each of
    the hundreds of `livetweet` processes the tests start compiled all of livetweet again, a fifth of
    a second of CPU each. It is written where Python keeps it (livetweet's __pycache__ folders, which
    git ignores): a PYTHONPYCACHEPREFIX folder instead would hide the installed packages' bytecode.
    """
    if not hasattr(config, "workerinput") and sys.flags.dont_write_bytecode:
        compileall.compile_dir(PACKAGE, quiet=1)


# The waiting files whose tests share no fixture wider than a test: their tests are handed out one by
# one (each a few to forty seconds of waiting); every other file goes whole to one worker, so that a
# module's fixtures (a rehearsal, a browser, a console) are made once.
SPREAD = frozenset({"test_standby.py", "test_rehearsal.py", "test_fencing.py"})

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # without pytest-xdist the suite runs in one process
    pass
else:

    class _ByFileOrTest(LoadScopeScheduling):
        """`--dist loadfile`, but a test of the SPREAD files is a unit of its own."""

        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return nodeid if Path(file).name in SPREAD else file

    def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LoadScopeScheduling | None:
        """Our scheduler for `--dist loadfile` (xdist's `loadgroup` groups by a node id suffix that
        pytest 9 no longer lets it add); any other --dist is xdist's own."""
        return _ByFileOrTest(config, log) if config.getvalue("dist") == "loadfile" else None  # type: ignore[arg-type]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Stable: inside each part, the files keep their order.
    items.sort(key=lambda item: (item.path != FIRST, item.path.name not in SPREAD, item.path.name not in WAITING))


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


# --- databases: every store test runs on SQLite and on PostgreSQL ------------------


@pytest.fixture(scope="session")
def postgres_available() -> str:
    from .support.databases import POSTGRES_URL

    why_not = postgres_unreachable()
    if why_not is not None:
        pytest.skip(why_not)
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: a SQLite file, or our schema in PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'livetweet.db'}"
    request.getfixturevalue("postgres_available")
    return reset_postgres_schema()


# --- Ctrl-C -----------------------------------------------------------------------


@pytest.fixture
def ctrl_c_handled() -> Iterator[None]:
    """Ctrl-C handled as on a terminal (KeyboardInterrupt), however the suite was started: a
    process started in the background by a shell without job control (`(pytest &)`, some CI
    runners) begins with SIGINT ignored, and livetweet leaves an ignored Ctrl-C ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


# --- the simulated X API, over real HTTP --------------------------------------------


@pytest.fixture
def fake_x() -> Iterator[FakeXServer]:
    """A simulated X API on 127.0.0.1 with the machine's clock."""
    server = FakeXServer(hang_seconds=5).start()
    yield server
    server.stop()
