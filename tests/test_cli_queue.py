"""The operator commands as a person runs them: load, queue, show, approve, edit, reject, history.

They run in this process, by the real entry point (tests/support/cli.py); loading twice and a
store that is not livetweet's start real processes, so that `python -m livetweet` is tested too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .support.cli import cli, cli_process
from .support.events import MINI_SCHEDULE, REPO, write_event


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_event(tmp_path)
    result = cli("load", "schedules/demo.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path


def queue(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    result = cli("queue", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_load_uses_the_embedded_sqlite_file_by_default(folder: Path) -> None:  # a real process: load
    assert (folder / "livetweet.db").is_file()
    again = cli_process("load", "schedules/demo.yaml", cwd=folder)
    assert "0 new, 0 revised, 0 moved, 0 restored, 0 withdrawn, 2 unchanged" in again.stdout


def test_queue_json_items_carry_the_documented_fields(folder: Path) -> None:
    items = queue(folder)
    assert [i["slot"] for i in items] == ["hello", "q1"]
    first = items[0]
    assert set(first) >= {"id", "slot", "state", "at", "text", "weighted_length", "revision", "tweet_id"}
    assert first["at"] == "2020-11-12T13:31:00+01:00"
    assert (first["state"], first["revision"], first["tweet_id"]) == ("pending", 1, None)


def test_queue_filters_by_state(folder: Path) -> None:
    cli("approve", "1", "--as", "alice", cwd=folder)
    assert [i["id"] for i in json.loads(cli("queue", "--state", "approved", "--json", cwd=folder).stdout)] == [1]


def test_approve_records_the_operator_from_as_env_or_login(folder: Path) -> None:
    out = cli("approve", "1", "--as", "alice", cwd=folder)
    assert out.returncode == 0
    assert "Approved draft 1 (hello, revision 1) as alice: due 13:31 CET." in out.stdout
    cli("approve", "2", cwd=folder, env={"LIVETWEET_OPERATOR": "bob"})
    assert [i["approved_by"] for i in queue(folder)] == ["alice", "bob"]


def test_edit_with_text_then_history(folder: Path) -> None:
    out = cli("edit", "1", "--text", "Welcome, all!", "--as", "bob", cwd=folder)
    assert out.returncode == 0, out.stderr
    assert "revision 2" in out.stdout and "added #GCM" in out.stdout
    history = json.loads(cli("history", "1", "--json", cwd=folder).stdout)
    assert [(h["operator"], h["action"], h["revision"]) for h in history] == [
        ("schedule", "create", 1),
        ("bob", "edit", 2),
    ]


def test_edit_opens_the_editor_without_text(folder: Path) -> None:
    editor = folder / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('Typed in the editor #GCM')\n")
    out = cli("edit", "1", "--as", "bob", cwd=folder, env={"EDITOR": f"{sys.executable} {editor}"})
    assert out.returncode == 0, out.stderr
    assert queue(folder)[0]["text"] == "Typed in the editor #GCM"


def test_show_json(folder: Path) -> None:
    data = json.loads(cli("show", "2", "--json", cwd=folder).stdout)
    assert (data["slot"], data["segment"], data["hashtags"]) == ("q1", "q1", ["#GCM", "#Pathways"])


def test_reject_with_reason(folder: Path) -> None:
    out = cli("reject", "2", "--reason", "off topic", "--as", "carol", cwd=folder)
    first, result = out.stdout.strip().splitlines()
    assert first == "store sqlite:///livetweet.db: no `livetweet run` is posting from it now"
    assert result == "Rejected draft 2 (q1) as carol: off topic"
    assert queue(folder)[1]["state"] == "rejected"


@pytest.mark.parametrize(
    "args,message",
    [
        (["approve", "99"], "error: there is no draft 99: `livetweet queue` lists them"),
        (["unapprove", "1"], "error: draft 1 is pending: only an approved draft can be unapproved"),
        (["edit", "1", "--text", "  "], "error: the new text of draft 1 is empty: nothing was changed"),
        (
            ["edit", "1", "--text", "x" * 300],
            "error: the new text is 300/280 weighted characters, 20 too many: nothing was changed",
        ),
        (["approve", "1@2"], "error: draft 1 is now at revision 1, not 2: look at it again with `livetweet show 1`"),
    ],
)
def test_bad_requests_get_one_line_exit_1_and_change_nothing(folder: Path, args: list[str], message: str) -> None:
    before = queue(folder)
    result = cli(*args, cwd=folder)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert queue(folder) == before


def test_a_database_that_is_not_livetweets(tmp_path: Path) -> None:  # a real process: an error, exit 1
    (tmp_path / "livetweet.db").write_text("not a database")
    result = cli_process("queue", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: livetweet.db is not a livetweet database (not even SQLite): choose another with --db"
    )
    assert (tmp_path / "livetweet.db").read_text() == "not a database"


def test_loading_a_broken_schedule_loads_nothing(tmp_path: Path) -> None:
    write_event(tmp_path, MINI_SCHEDULE.replace('end: "13:45"', 'end: "13:75"'))
    result = cli("load", "schedules/demo.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "schedules/demo.yaml:18:" in result.stderr
    assert "Nothing was loaded" in result.stderr
    assert queue(tmp_path) == []


@pytest.mark.parametrize(
    "command",
    ["load", "queue", "show", "approve", "reject", "edit", "unapprove", "history", "run", "pause", "resume",
     "shift", "cue", "post-now", "inbox", "reshare", "dismiss", "compose", "console-link", "fake-x", "fake-x dm"],
)
def test_every_command_has_help(command: str) -> None:
    result = cli(*command.split(), "--help", cwd=REPO)
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_bad_draft_id_is_a_usage_error(folder: Path) -> None:
    assert cli("approve", "one", cwd=folder).returncode == 2


def test_compose_adds_the_running_segments_hashtags_and_approves(folder: Path) -> None:
    out = cli("compose", "A line worth posting", "--at", "13:50", "--as", "alice", cwd=folder)
    assert out.returncode == 0, out.stderr
    assert "composed and approved (added #GCM #Pathways)" in out.stdout
    composed = next(d for d in queue(folder) if d["source"] == "compose")
    assert (composed["state"], composed["approved_by"], composed["segment"]) == ("approved", "alice", "q1")
    assert composed["text"] == "A line worth posting\n\n#GCM #Pathways"
    assert composed["at"] == "2020-11-12T13:50:00+01:00"


def test_compose_refuses_a_text_that_is_too_long(folder: Path) -> None:
    out = cli("compose", "x" * 290, cwd=folder)
    assert out.returncode == 1
    assert "290/280 weighted characters, 10 too many" in out.stderr
