"""Two machines on one store, played by real `livetweet run --rehearse` processes (tests and bench_failover)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from livetweet.fakes import FakeXServer

from .console import PASSWORD
from .world import X_TEST_CREDENTIALS

EVENT_ID = "standby-demo"


WINDOW_SECONDS = 600


def dense_schedule(folder: Path, n_posts: int, every_seconds: int = 60, close_after: int | None = None) -> Path:
    """An event with a post every `every_seconds`, each its own text, windows of 10 minutes.

    With `close_after` (seconds), no window stays open longer than that after the last post (the
    last posts' windows are shorter, none under `close_after`): a run is over that soon after its
    last post instead of 10 minutes of the event's time after it.
    """
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "update.j2").write_text("Update {{ vars.n }} from {{ event.title }}\n", encoding="utf-8")

    def window(n: int) -> str:
        if close_after is None:
            return ""  # the event's
        return f"    valid_for: {min(WINDOW_SECONDS, (n_posts - n) * every_seconds + close_after)}s\n"

    slots = "".join(
        f"  - id: u{n:04d}\n    template: update\n    at: main.start + {n * every_seconds}s\n    vars: {{n: {n}}}\n"
        + window(n)
        for n in range(1, n_posts + 1)
    )
    minutes = 13 * 60 + 30 + (n_posts * every_seconds) // 60 + 1
    end = f"{minutes // 60}:{minutes % 60:02d}"
    (folder / "schedules").mkdir(exist_ok=True)
    path = folder / "schedules" / "standby.yaml"
    path.write_text(
        f"""event:
  id: {EVENT_ID}
  title: Standby demo
  account: "@UNMigNetwork"
  date: 2020-11-12
  start: "13:30"
  end: "{end}"
  timezone: Europe/Zurich
  hashtags: ["#GCM"]
  valid_for: {WINDOW_SECONDS}s
segments:
  - id: main
    title: Main
    start: "13:30"
    end: "{end}"
slots:
{slots}""",
        encoding="utf-8",
    )
    return path


@dataclass
class Machine:
    """One `livetweet run` process, its output read line by line as it comes."""

    name: str
    proc: subprocess.Popen[str]
    door: FakeXServer  # the address of the simulated X it posts through
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def alive(self) -> bool:
        """True while it runs; an early exit raises with its output."""
        if self.proc.poll() is None:
            return True
        raise AssertionError(f"{self.name} exited early with {self.proc.returncode}:\n{self.output}")

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def finish(self, timeout: float = 120) -> int:
        return self.proc.wait(timeout=timeout)


def start_machine(
    name: str, db_url: str, schedule: Path, door: FakeXServer, cwd: Path, *args: str, speed: str = "60"
) -> Machine:
    """A rehearsal in auto mode on `db_url`, posting through `door`, without a console unless `--console` is given."""
    console = [] if "--console" in args else ["--no-console"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "livetweet", "--db", db_url, "run", str(schedule), "--rehearse", *console,
         "--mode", "auto", "--speed", speed, *args],
        cwd=cwd,
        env={**os.environ, **X_TEST_CREDENTIALS, "LIVETWEET_X_API_URL": door.url, "NO_COLOR": "1",
             "LIVETWEET_CONSOLE_PASSWORD": PASSWORD},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    return Machine(name, proc, door)


def stored_posts(door: FakeXServer, after: float = 0.0) -> list[float]:
    """When (wall clock) each POST /2/tweets that X stored came through this address, from `after` on."""
    return [
        a.wall
        for a in list(door.arrivals)
        if a.route == "POST /2/tweets" and a.outcome.startswith("2") and a.wall >= after
    ]


def writes_through(door: FakeXServer, after: float) -> list[str]:
    """Every POST (a post, an upload) that came through this address from `after` on."""
    return [f"{a.route} {a.outcome}" for a in list(door.arrivals) if a.wall >= after and a.route.startswith("POST /2/")]
