"""Stores that cannot be confused: every operator command says which store it acts on, and what
will happen when no run posts from it (real files).

The commands run in this process, by the real entry point (tests/support/cli.py), except where
a real process is the point: the first line of an operator command, `run`, and a `resume` with
credentials in its own environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support.cli import cli, cli_process
from .support.events import MINI_SCHEDULE, write_event


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_event(tmp_path)
    assert cli("load", "schedules/demo.yaml", cwd=tmp_path).returncode == 0
    return tmp_path


def test_a_command_in_a_folder_without_a_store_says_so_and_creates_none(tmp_path: Path) -> None:
    result = cli("queue", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: there is no livetweet store at {tmp_path / 'livetweet.db'}: run this where you ran "
        "`livetweet load` or `livetweet run`, or name the store with --db (a rehearsal's: --rehearsal)"
    )
    assert list(tmp_path.iterdir()) == []


def test_every_operator_command_names_its_store_and_whether_a_run_holds_it(folder: Path) -> None:
    out = cli_process("approve", "1", "--as", "alice", cwd=folder)  # real processes: the smoke test of both
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "store sqlite:///livetweet.db: no `livetweet run` is posting from it now"
    data = cli_process("queue", "--json", cwd=folder)
    assert json.loads(data.stdout)[0]["state"] == "approved"  # --json output stays pure data


def test_post_now_pause_and_shift_without_a_run_say_what_will_happen(tmp_path: Path) -> None:
    folder = tmp_path
    write_event(folder, MINI_SCHEDULE.replace("date: 2020-11-12", "date: 2030-11-12"))  # an event to come
    assert cli("load", "schedules/demo.yaml", cwd=folder).returncode == 0
    cli("approve", "1", "--as", "alice", cwd=folder)
    shifted = cli("shift", "+2m", "--as", "alice", cwd=folder)
    assert shifted.returncode == 0, shifted.stderr
    assert "q1" in shifted.stdout and "13:49:00 CET" in shifted.stdout  # each moved post, old and new time
    assert "the new times apply when `livetweet run` starts" in shifted.stdout
    now = cli("post-now", "1", "--as", "alice", cwd=folder)
    assert "no run posts from this store: it goes out if `livetweet run` starts before" in now.stdout
    assert "within a second" not in now.stdout
    paused = cli("pause", "--as", "alice", cwd=folder)
    assert "no run posts from this store now, and the next `livetweet run` will not post until" in paused.stdout


def test_cue_without_a_run_refuses(folder: Path) -> None:
    result = cli("cue", "q1", "--as", "alice", cwd=folder)
    assert result.returncode == 1
    assert "no event clock" in result.stderr
    assert json.loads(cli("queue", "--json", cwd=folder).stdout)[1]["at"] == "2020-11-12T13:47:00+01:00"


def test_the_rehearsal_flag_acts_on_the_rehearsals_store(tmp_path: Path) -> None:
    write_event(tmp_path)
    assert (
        cli("--db", "sqlite:///livetweet-rehearsal.db", "load", "schedules/demo.yaml", cwd=tmp_path).returncode
        == 0
    )
    out = cli("--rehearsal", "approve", "1", "--as", "alice", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("store sqlite:///livetweet-rehearsal.db:")
    assert not (tmp_path / "livetweet.db").exists()
    both = cli("--rehearsal", "--db", "sqlite:///x.db", "queue", cwd=tmp_path)
    assert both.returncode == 2 and "give --db or --rehearsal, not both" in both.stderr


def test_run_with_the_rehearsal_store_must_be_a_rehearsal(folder: Path) -> None:
    result = cli_process("--rehearsal", "run", "schedules/demo.yaml", "--no-console", cwd=folder)  # `run`: a process
    assert result.returncode == 2
    assert "add --rehearse, or this would be a live run" in result.stderr


def test_resuming_a_rehearsals_store_never_checks_real_credentials(tmp_path: Path) -> None:
    from livetweet.store import Pause, Store

    write_event(tmp_path)
    url = "sqlite:///livetweet-rehearsal.db"
    assert cli("--db", url, "load", "schedules/demo.yaml", cwd=tmp_path).returncode == 0
    store = Store(f"sqlite:///{tmp_path / 'livetweet-rehearsal.db'}")
    with store.begin() as conn:
        store.set_paused(conn, Pause("dispatcher", "", "401", "credentials"))
    store.close()
    env = {"X_API_KEY": "REAL", "X_API_KEY_SECRET": "REAL", "X_ACCESS_TOKEN": "REAL", "X_ACCESS_TOKEN_SECRET": "REAL"}
    # A process of its own: the credentials are in the environment it starts with.
    result = cli_process("--rehearsal", "resume", "--as", "alice", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "this is a rehearsal's store and no rehearsal is running" in result.stderr
