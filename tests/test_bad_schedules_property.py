"""Random YAML documents, whatever their shape, anchors or bytes: `check` answers each one with
problems (never a traceback, never a hang), and a load that fails changes nothing in the store."""

from __future__ import annotations

import os
import signal
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from livetweet.clock import FixedClock
from livetweet.errors import ScheduleError
from livetweet.plan.check import check_schedule
from livetweet.service import Service
from livetweet.store import Store

from .support.events import MINI_SCHEDULE, MINI_TEMPLATES, write_event

HANG_SECONDS = 5
EXAMPLES = int(os.environ.get("LIVETWEET_BAD_YAML_EXAMPLES", "150"))

# --- documents -----------------------------------------------------------------------

KEYS = [
    "event",
    "segments",
    "slots",
    "id",
    "title",
    "start",
    "end",
    "at",
    "template",
    "date",
    "timezone",
    "hashtags",
    "objectives",
    "number",
    "vars",
    "valid_for",
    "reply_to",
    "omit_hashtags",
    "links",
    "<<",
    "~",
]
printable = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs", "Mn"))
odd = st.characters(codec="utf-8", categories=("Cc", "Cf", "Co", "Zl", "Zp", "Nd", "No"))
odd_text = st.text(st.one_of(*[printable] * 12, odd), max_size=12)
scalars = st.one_of(
    st.sampled_from(
        [
            "~",
            "null",
            "",
            "''",
            '""',
            "13:30",
            "25:99",
            "2020-11-12",
            "0001-01-01",
            "9999-12-31",
            "0s",
            "99999999999999999999h",
            "²",
            "١٣:٣٠",
            "q1.start + 2m",
            "opening.end - 99999h",
            "#2020",
            "#GCM",
            "yes",
            "NO",
            "1e999",
            "-0",
            "!!str ~",
            "!!binary AAAA",
            "!foo x",
            "|",
            ">",
            "@demo",
            "Europe/Zurich",
            "Europe",
            "../../etc/passwd",
            "'\u2028'",
            '"\\0"',
        ]
    ),
    odd_text.map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    odd_text,
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A YAML text of random structure, with anchors, aliases (some recursive) and odd scalars."""
    anchors: list[str] = []
    budget = [draw(st.integers(1, 60))]

    def value(depth: int, indent: int) -> str:
        budget[0] -= 1
        anchor = ""
        if draw(st.booleans()) and draw(st.booleans()):
            name = f"a{len(anchors)}"
            anchor = f"&{name} "
            if draw(st.booleans()):
                anchors.append(name)  # defined before its value ends: an alias inside is recursive
        if anchors and draw(st.integers(0, 5)) == 0:
            return "*" + draw(st.sampled_from(anchors))
        kind = 3 if depth == 0 else draw(st.integers(0, 3)) if depth < 6 and budget[0] > 0 else 0
        if kind == 0:
            return anchor + draw(scalars)
        if kind == 1:  # a flow list
            items = [value(depth + 1, indent) for _ in range(draw(st.integers(0, 3)))]
            return anchor + "[" + ", ".join(items) + "]"
        pad = " " * (indent + 2)
        if kind == 2:  # a block list
            items = [value(depth + 1, indent + 2) for _ in range(draw(st.integers(0, 3)))]
            return anchor + ("".join(f"\n{pad}- {item}" for item in items) if items else "[]")
        keys = draw(st.lists(st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS), odd_text), max_size=4))
        return anchor + "".join(f"\n{pad}{key}: {value(depth + 1, indent + 2)}" for key in keys) if keys else "{}"

    return value(0, -2).lstrip("\n") + "\n"


@st.composite
def mutated_schedules(draw: st.DrawFn) -> bytes:
    """The valid mini schedule with a few lines changed, cut, doubled or salted with bytes."""
    lines = MINI_SCHEDULE.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        what = draw(st.integers(0, 7))
        if what <= 2 and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(scalars)}\n"
        elif what == 3:
            del lines[i]
            if not lines:
                lines = ["\n"]
        elif what == 4:
            lines.insert(i, lines[i])
        elif what == 5:
            lines.insert(i, lines[i].split(":")[0] + ": &x [*x]\n")
        else:
            lines[i] = lines[i].rstrip("\n") + draw(odd_text) + "\n"
    data = "".join(lines).encode("utf-8")
    if draw(st.booleans()) and draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


any_document = st.one_of(
    documents().map(lambda t: t.encode("utf-8")),
    mutated_schedules(),
    mutated_schedules(),
    mutated_schedules(),
    st.binary(max_size=200),
)

# --- the store and the clock that stops a hang -----------------------------------------


class Hang(Exception):
    pass


@contextmanager
def no_hang(seconds: float) -> Iterator[None]:
    """Interrupt the code under test (a timer signal, not a sleep) if it runs longer than `seconds`."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Path, Service, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "good").mkdir()
        good = write_event(folder / "good", MINI_SCHEDULE, MINI_TEMPLATES)
        db = folder / "livetweet.db"
        store = Store(f"sqlite:///{db}")
        service = Service(store, FixedClock(datetime(2020, 11, 12, 11, 0, tzinfo=UTC)))
        service.load(good)  # the store holds an event: a bad load must leave it as it is
        bad = folder / "bad"
        bad.mkdir()
        write_event(bad, MINI_SCHEDULE, MINI_TEMPLATES)
        yield bad / "schedules" / "demo.yaml", service, db
        store.close()


@settings(
    max_examples=EXAMPLES,
    deadline=HANG_SECONDS * 1000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(data=any_document)
def test_any_document_gets_problems_not_a_traceback_and_a_failed_load_changes_nothing(
    world: tuple[Path, Service, Path], data: bytes
) -> None:
    path, service, db = world
    path.write_bytes(data)
    with no_hang(HANG_SECONDS):
        report = check_schedule(path, "demo.yaml")
    assert all(p.file and p.message and "Traceback" not in p.message for p in report.problems)
    assert all("\n" not in p.message for p in report.problems), report.problems
    if report.ok:
        return  # a harmless change: loading it may well change the store
    before = dump(db)
    with no_hang(HANG_SECONDS), pytest.raises(ScheduleError):
        service.load(path)
    assert dump(db) == before
