"""Start-up: what a command imports, checked in a fresh process (bench/bench_cli.py times it).

`--help` loads no command's libraries, and `queue` reads a SQLite store without SQLAlchemy (through
`snapshot`), the planner, the console, the network or Pillow; `.env`'s parser loads only where
there is a `.env` to read.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .support.events import write_event

PLANNING = ("jinja2", "yaml", "emoji", "regex", "livetweet.plan.check", "livetweet.plan.compose",
            "livetweet.plan.schedule", "livetweet.plan.tweettext")  # fmt: skip
NETWORK = ("tweepy", "requests", "apscheduler", "starlette", "uvicorn", "livetweet.console", "livetweet.dispatch")
IMAGES = ("PIL", "livetweet.media")  # Pillow: only for a command that keeps a photo

# Runs the real entry point, then prints the names of the modules it loaded, on a line of their own.
PROBE = """
import json, sys
from livetweet.cli import main
sys.argv = ["livetweet", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded(args: list[str], cwd: Path) -> set[str]:
    """The modules `livetweet ARGS` loaded, run in a fresh interpreter in `cwd`."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout
    report = json.loads(out.rsplit("\nMODULES ", 1)[1])
    assert report["code"] in (0, None), out
    return set(report["modules"])


def of(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


@pytest.mark.parametrize("args", [["--help"], ["queue", "--help"]])
def test_help_loads_neither_the_store_nor_the_planner(tmp_path: Path, args: list[str]) -> None:
    store = ("sqlalchemy", "livetweet.store", "livetweet.service")
    assert of(loaded(args, tmp_path), (*store, "dotenv", *PLANNING, *NETWORK, *IMAGES)) == []


def test_queue_reads_a_sqlite_store_without_sqlalchemy_the_planner_or_the_network(tmp_path: Path) -> None:
    write_event(tmp_path)
    subprocess.run([sys.executable, "-m", "livetweet", "load", "schedules/demo.yaml"], cwd=tmp_path, check=True,
                   capture_output=True)  # fmt: skip
    modules = loaded(["queue"], tmp_path)
    assert "livetweet.snapshot" in modules
    assert of(modules, ("sqlalchemy", "livetweet.store", "livetweet.service", "dotenv", *PLANNING, *NETWORK,
                        *IMAGES)) == []  # fmt: skip


def test_queue_on_a_store_the_snapshot_cannot_read_leaves_it_to_the_store(tmp_path: Path) -> None:
    write_event(tmp_path)
    subprocess.run([sys.executable, "-m", "livetweet", "load", "schedules/demo.yaml"], cwd=tmp_path, check=True,
                   capture_output=True)  # fmt: skip
    with sqlite3.connect(tmp_path / "livetweet.db") as conn:  # written by a newer livetweet
        conn.execute("UPDATE livetweet_meta SET value = '99' WHERE key = 'schema_version'")
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["queue"])], cwd=tmp_path, capture_output=True,
                          text=True)  # fmt: skip
    report = json.loads(done.stdout.rsplit("\nMODULES ", 1)[1])
    assert report["code"] == 1
    assert "error: sqlite:///livetweet.db was written by a newer livetweet (schema 99; this one knows 6)" in done.stderr
    assert "sqlalchemy" in report["modules"] and "livetweet.store" in report["modules"]


def test_the_env_file_parser_loads_when_there_is_an_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LIVETWEET_OPERATOR=alice\n", encoding="utf-8")
    assert "dotenv" in loaded(["queue", "--help"], tmp_path)
