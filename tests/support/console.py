"""The operator console for tests: a real `livetweet run --rehearse` with its console, the
simulated X API it posts to (in this process), free ports, and Chromium through Playwright."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from livetweet.fakes import FakeXServer

from .cli import cli
from .events import REPO, X_ONLY_SCHEDULE
from .world import X_TEST_CREDENTIALS

CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright drives it and downloads no browser
PASSWORD = "correct horse battery staple"


def playwright_or_skip(allow_module_level: bool = False) -> ModuleType:
    """Playwright's sync API, once Chromium is known to be there; else the test (or module) skips."""
    try:
        import playwright.sync_api as api
    except ImportError:
        pytest.skip("playwright is in the dev extras", allow_module_level=allow_module_level)
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)", allow_module_level=allow_module_level
        )
    return api


def close_pages(browser: Any) -> None:
    """Close every page a test opened in `browser`: their event streams end, so the run they
    watch stops at once instead of waiting out its console's grace for open connections."""
    for context in browser.contexts:
        context.close()


_PORTS = random.Random()  # seeded from the system in each process, whatever a test does to `random`


def _ephemeral_start() -> int:
    """Where the range begins that the kernel gives every bind to port 0 and every outgoing connection."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free now, and below the ephemeral range: a process started next binds it a second later,
    and no simulated server or outgoing connection can have taken it meanwhile (one from the range
    itself was taken so, beside a second copy of the suite)."""
    low = _ephemeral_start()
    for _ in range(100):
        port = _PORTS.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: another
            return port
    with socket.socket() as s:  # a machine whose low ports are all taken: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Console:
    """A running `livetweet run` with its console, and the simulated X API it posts to."""

    def __init__(
        self,
        tmp_path: Path,
        speed: float,
        start_in: float,
        password: str | None = PASSWORD,
        schedule: Path = X_ONLY_SCHEDULE,
    ) -> None:
        self.x = FakeXServer(hang_seconds=5).start()
        self.x.state.rate_limits.pop("GET /2/dm_events", None)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = tmp_path / "console.db"
        env = {**os.environ, **X_TEST_CREDENTIALS, "LIVETWEET_X_API_URL": self.x.url, "NO_COLOR": "1"}
        env.pop("LIVETWEET_CONSOLE_PASSWORD", None)
        if password:
            env["LIVETWEET_CONSOLE_PASSWORD"] = password
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "livetweet",
                "--db",
                f"sqlite:///{self.db}",
                "run",
                str(schedule),
                "--rehearse",
                "--speed",
                str(speed),
                "--start-in",
                str(start_in),
                "--console",
                f"127.0.0.1:{self.port}",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.first_lines: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.first_lines.append(line)
            if line.startswith("Console: "):
                break
        else:
            raise AssertionError("the run ended before its console started: " + "".join(self.first_lines))

    def drafts(self) -> list[dict]:  # type: ignore[type-arg]
        """`livetweet queue --json` on the run's store, as from another terminal (in this process)."""
        import json

        out = cli("--db", f"sqlite:///{self.db}", "queue", "--json", cwd=REPO)
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def draft(self, slot: str) -> dict:  # type: ignore[type-arg]
        return next(d for d in self.drafts() if d["slot"] == slot)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.x.stop()
