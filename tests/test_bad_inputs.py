# ruff: noqa: E501 - tables of exact messages, one case per line
"""Bad command lines, stores and settings: each gets one clear line and its exit code (issue 11).

The command line runs in this process (the real `main`, as `livetweet` runs it: tests/support/cli.py)
so that many cases stay fast; the `.env` cases run as real processes, since `.env` fills the environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from livetweet.store import Store, meta_table

from .support.cli import run_cli
from .support.events import REPO, X_ONLY_SCHEDULE, write_event

SCHEDULE = str(X_ONLY_SCHEDULE)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a loaded store, x.db, and no .env; the command line runs there."""
    monkeypatch.chdir(tmp_path)
    for name in ("LIVETWEET_DATABASE_URL", "LIVETWEET_OPERATOR", "EDITOR", "VISUAL"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run_cli("--db", "sqlite:///x.db", "load", SCHEDULE)
    assert code == 0, err
    return tmp_path


def snapshot(path: Path) -> str:
    """Everything in a store, as one digest: equal before and after means nothing changed."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        rows = [(t, sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"')))) for t in tables]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


BAD_ID = "is not a draft id (like 12, or 12@3 for revision 3)"
NOT_AN_ID = "ids are whole numbers like 12 (`livetweet queue` lists them)"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["approve", "9223372036854775808"], 2, f'Error: Invalid value: "9223372036854775808" {BAD_ID}'),
        (["approve", "١"], 2, f'Error: Invalid value: "١" {BAD_ID}'),
        (["approve", "1@x"], 2, f'Error: Invalid value: "1@x" {BAD_ID}'),
        (["approve", "0"], 2, f'Error: Invalid value: "0" {BAD_ID}'),
        (["edit", "²", "--text", "x"], 2, f'Error: Invalid value: "²" {BAD_ID}'),
        (["show", "99999999999999999999"], 2, f"Error: Invalid value for 'ID': \"99999999999999999999\" is not a draft id: {NOT_AN_ID}"),
        (["show", "-1"], 2, "Error: No such option '-1'."),
        (["history", "٣"], 2, f"Error: Invalid value for 'ID': \"٣\" is not a draft id: {NOT_AN_ID}"),
        (["post-now", "4611686018427387904"], 2, f"Error: Invalid value for 'ID': \"4611686018427387904\" is not a draft id: {NOT_AN_ID}"),
        (["dismiss", "0"], 2, "Error: Invalid value for 'DM_ID': \"0\" is not a message id: ids are whole numbers like 12 (`livetweet inbox` lists them)"),
        (["reshare", "1" * 30], 2, f"Error: Invalid value for 'DM_ID': \"{'1' * 30}\" is not a message id: ids are whole numbers like 12 (`livetweet inbox` lists them)"),
        (["compose", "hi", "--at", "99999999999999999999:00"], 2, "Error: Invalid value for '--at': \"99999999999999999999:00\" is not a time: write it as HH:MM, like \"13:30\""),
        (["compose", "hi", "--at", "24:00"], 2, "Error: Invalid value for '--at': \"24:00\" is not a time of day (hours 0-23, minutes 0-59)"),
        (["compose", "hi", "--at", "١٣:٠٠"], 2, "Error: Invalid value for '--at': \"١٣:٠٠\" is not a time: write it with the digits 0-9, as HH:MM, like \"13:30\""),
        (["compose", "hi", "--at", "13:5"], 2, "Error: Invalid value for '--at': \"13:5\" is not a time: write it as HH:MM, like \"13:30\""),
        (["shift", "+99999999999999h"], 2, 'Error: Invalid value: "+99999999999999h" is longer than 100 days'),
        (["shift", "-2x"], 2, 'Error: Invalid value: "-2x" is not a duration: write it like +7m, -2m or +1m30s'),
        (["edit", "1"], 2, "Error: give the new text with --text: there is no terminal here to open an editor in"),
        (["approve", "1", "--as", "   "], 1, "error: --as needs your name: it goes in the audit trail"),
        (["approve", "1", "--as", "\x00\u202e"], 1, "error: --as needs your name: it goes in the audit trail"),
        (["run", SCHEDULE, "--console", "nonsense"], 2, 'Error: Invalid value for --console: "nonsense" is not HOST:PORT, like 127.0.0.1:8000'),
        (["run", SCHEDULE, "--console", "127.0.0.1:99999"], 2, 'Error: Invalid value for --console: "127.0.0.1:99999" is not HOST:PORT, like 127.0.0.1:8000'),
        (["run", SCHEDULE, "--console", "127.0.0.1:８０００"], 2, 'Error: Invalid value for --console: "127.0.0.1:８０００" is not HOST:PORT, like 127.0.0.1:8000'),
    ],
)  # fmt: skip
def test_a_bad_command_line_gets_one_clear_line_and_changes_nothing(
    here: Path, args: list[str], code: int, message: str
) -> None:
    before = snapshot(here / "x.db")
    got, out, err = run_cli("--db", "sqlite:///x.db", *args)
    assert (got, last_line(err)) == (code, message), out + err
    assert "Traceback" not in out + err
    assert snapshot(here / "x.db") == before


def test_a_live_run_on_the_rehearsal_store_is_refused_before_anything(here: Path) -> None:
    code, _, err = run_cli("run", SCHEDULE, "--rehearsal")
    assert (code, last_line(err)) == (
        2,
        "Error: --rehearsal names the rehearsal's store: add --rehearse, or this would be a live run",
    )
    assert not (here / "livetweet-rehearsal.db").exists()


def test_a_negative_shift_is_read_as_a_duration(here: Path) -> None:
    code, out, err = run_cli("--db", "sqlite:///x.db", "shift", "-2m", "--as", "bob")
    assert code == 0, err
    assert "by -2m" in out


def test_global_options_go_before_or_after_the_command(here: Path) -> None:
    code, out, err = run_cli("queue", "--db", "sqlite:///x.db", "--json")
    assert code == 0 and out.lstrip().startswith("["), err
    code, out, err = run_cli("--as", "bob", "--db", "sqlite:///x.db", "approve", "1")
    assert (code, "as bob" in out) == (0, True), out + err
    code, out, err = run_cli("approve", "2", "--db=sqlite:///x.db", "--as=carol")
    assert (code, "as carol" in out) == (0, True), out + err
    code, out, err = run_cli("--db", "sqlite:///x.db", "--as", "dave", "compose", "--", "--db is not an option here")
    assert code == 0, out + err  # after --, nothing is moved: the text is the text


def test_a_run_with_a_bad_console_address_loads_and_approves_nothing(here: Path) -> None:
    fresh = here / "fresh.db"
    code, _, err = run_cli("--db", f"sqlite:///{fresh}", "run", SCHEDULE, "--mode", "auto", "--console", "x:y")
    assert code == 2 and "is not HOST:PORT" in err
    assert not fresh.exists()  # nothing was created, loaded or approved


# --- stores ------------------------------------------------------------------------------------


def _other_program(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
        conn.commit()


def _garbage_version(path: Path) -> None:
    Store(f"sqlite:///{path}").close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(meta_table.update().where(meta_table.c.key == "schema_version").values(value="two"))
    engine.dispose()


STORES = [
    ("foo://x", None, "error: livetweet keeps its store in SQLite or PostgreSQL, not foo: use a URL like sqlite:///livetweet.db or postgresql://USER@HOST/DATABASE"),
    ("mysql://u@localhost/db", None, "error: livetweet keeps its store in SQLite or PostgreSQL, not mysql: use a URL like sqlite:///livetweet.db or postgresql://USER@HOST/DATABASE"),
    ("not a url at all", None, 'error: "not a url at all" is not a database URL (like sqlite:///livetweet.db)'),
    ("sqlite://", None, "error: sqlite:// is a database in memory: everything would be lost when the command ends; name a file, like sqlite:///livetweet.db"),
    ("sqlite:///:memory:", None, "error: sqlite:///%3Amemory%3A is a database in memory: everything would be lost when the command ends; name a file, like sqlite:///livetweet.db"),
    ("sqlite:///folder.db", lambda p: p.mkdir(), "error: folder.db is a folder, not a database file: name a file with --db, like sqlite:///livetweet.db"),
    ("sqlite:///pipe.db", lambda p: os.mkfifo(p), "error: pipe.db is not a regular file (a pipe or a device?): name a database file with --db"),
    ("sqlite:///corrupt.db", lambda p: p.write_bytes(b"garbage " * 100), "error: corrupt.db is not a livetweet database (not even SQLite): choose another with --db"),
    ("sqlite:///damaged.db", lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), None),
    ("sqlite:///other.db", _other_program, "error: other.db is not a livetweet database (it holds other tables: customers): choose another with --db"),
    ("sqlite:///version.db", _garbage_version, 'error: sqlite:///version.db has a schema version livetweet cannot read ("two"): it was damaged, or written by something else; choose another with --db'),
]  # fmt: skip


@pytest.mark.parametrize(("url", "make", "message"), STORES, ids=[s[0] for s in STORES])
@pytest.mark.parametrize("command", [["queue"], ["load", SCHEDULE]])
def test_a_store_that_cannot_be_used_is_refused_untouched(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    make,
    message: str | None,
    command: list[str],  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / url.rpartition("/")[2]
    if make is not None:
        make(path)
    before = path.read_bytes() if path.is_file() else None
    had_wal = Path(str(path) + "-wal").exists()
    code, out, err = run_cli("--db", url, *command)
    assert code == 1, out + err
    if message is None:
        assert last_line(err).startswith(f"error: {path.name} is damaged or not a database ("), err
    else:
        assert last_line(err) == message
    assert "Traceback" not in out + err
    if before is not None:
        assert path.read_bytes() == before  # not even its header was rewritten
        if make is not _garbage_version:  # a livetweet store (damaged) is opened as one; the others never
            assert Path(str(path) + "-wal").exists() == had_wal


# --- settings (.env) -------------------------------------------------------------------------------


def livetweet_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVETWEET_", "X_"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "livetweet", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"X_API_KEY=abc\nLIVETWEET_OPERATOR=\xe9t\xe9\n", "{env}:2: not UTF-8 text (byte 0xe9): save the file as UTF-8"),
        (b"X_API_KEY=abc\n\nA=a\x00b\n", "{env}:3: this line holds a NUL byte: remove it (a .env file is plain text)"),
        (b"A=" + b"x" * 70_000 + b"\n", "{env} is 70,003 bytes: a .env file of settings is far smaller (at most 64 KB)"),
        (None, "{env} is not a file: .env must be a text file of NAME=value lines"),
    ],
)  # fmt: skip
def test_a_bad_env_file_is_named_with_its_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    env_file = tmp_path / ".env"
    if content is None:
        env_file.mkdir()
    else:
        env_file.write_bytes(content)
    result = livetweet_in(tmp_path, "queue")
    assert result.returncode == 1
    assert last_line(result.stderr) == "error: " + message.format(env=env_file)
    assert "abc" not in result.stdout + result.stderr  # no value is ever shown


def test_a_good_env_file_with_a_bom_and_crlf_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes("\ufeffLIVETWEET_OPERATOR=amina\r\n".encode())
    assert livetweet_in(tmp_path, "load", SCHEDULE).returncode == 0
    result = livetweet_in(tmp_path, "approve", "1")
    assert result.returncode == 0 and "as amina" in result.stdout, result.stderr


# --- any command line: no traceback, no hang, nothing half-done ----------------------------------------

COMMANDS = ["queue", "show", "approve", "reject", "edit", "unapprove", "history", "pause", "resume", "shift", "cue",
            "post-now", "inbox", "reshare", "dismiss", "compose", "console-link", "check", "preview", "load"]  # fmt: skip
WORDS = st.sampled_from(
    ["1", "2", "0", "-1", "99999999999999999999", "١", "²", "1@2", "1@", "@", "--as", "--text", "--at", "--json",
     "--db", "--rehearsal", "--reason", "--from", "--event", "--now", "--", "-2m", "+7m", "13:30", "25:61", "q1",
     "opening", "", " ", "\x00", "\u202e", "x" * 300, SCHEDULE, "--help", "--mode", "auto", "--replace-edits"]
)  # fmt: skip


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(COMMANDS), words=st.lists(WORDS | st.text(max_size=12), max_size=5))
def test_any_command_line_answers_without_a_traceback_and_fails_cleanly(
    here: Path, command: str, words: list[str]
) -> None:
    if "\x00" in "".join(words):
        words = [w.replace("\x00", "") for w in words]  # the OS itself refuses NUL in arguments
    before = snapshot(here / "x.db")
    code, out, err = run_cli("--db", "sqlite:///x.db", command, *words)
    assert code in (0, 1, 2), (code, out, err)
    assert "Traceback" not in out + err, (command, words, err)
    if code != 0:
        assert (out + err).strip(), (command, words)  # a failure always says why
        assert snapshot(here / "x.db") == before, (command, words, err)  # and changed nothing


def test_renaming_the_event_and_loading_again_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_event(tmp_path)
    assert run_cli("--db", "sqlite:///x.db", "load", str(path))[0] == 0
    path.write_text(path.read_text().replace("id: demo", "id: demo-renamed"))
    before = snapshot(tmp_path / "x.db")
    code, out, err = run_cli("--db", "sqlite:///x.db", "load", str(path))
    assert code == 1, out + err
    assert last_line(err) == (
        f'error: this store already holds event "demo" from {path.resolve()}; the file now says "demo-renamed". '
        'Loading it would plan every post twice: put the id back to "demo", or load the renamed event into a new '
        "store with --db"
    )
    assert snapshot(tmp_path / "x.db") == before


def test_approving_several_drafts_is_all_or_nothing(here: Path) -> None:
    before = snapshot(here / "x.db")
    code, out, err = run_cli("--db", "sqlite:///x.db", "approve", "1", "99")
    assert code == 1 and "there is no draft 99" in err and "Nothing was approved" in err, out + err
    assert snapshot(here / "x.db") == before  # draft 1 was not approved either
    code, out, err = run_cli("--db", "sqlite:///x.db", "approve", "2", "2", "--as", "bob")
    assert code == 0 and out.count("Approved draft 2 ") == 1, out + err  # the same id twice: approved once
