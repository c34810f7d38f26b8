"""Whole rehearsals in real processes: `livetweet run --rehearse` against the simulated X API.

The simulated X API runs in the test process so that the test can count what reached it,
inject faults, and kill the posting process at chosen moments. The operator's commands from
another terminal (load, queue, approve, pause, inbox, reshare) run in this process, by the
real entry point (tests/support/cli.py); `fake-x dm` is a real process, like `run`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from livetweet.fakes import FakeXServer

from .support.cli import Result, cli, cli_process
from .support.events import N_POSTS, REPO, SHIPPED_ACCOUNTS, SHIPPED_SCHEDULE, X_ONLY_SCHEDULE
from .support.waiting import wait_for
from .support.world import X_TEST_CREDENTIALS

SCHEDULE = str(X_ONLY_SCHEDULE)


@pytest.fixture
def x() -> Iterator[FakeXServer]:
    server = FakeXServer(hang_seconds=20).start()
    yield server
    server.stop()


def env_for(x: FakeXServer) -> dict[str, str]:
    return {**X_TEST_CREDENTIALS, "LIVETWEET_X_API_URL": x.url, "NO_COLOR": "1"}


def start_run(x: FakeXServer, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livetweet",
            "--db",
            f"sqlite:///{db}",
            "run",
            SCHEDULE,
            "--rehearse",
            "--no-console",
            *args,
        ],
        cwd=REPO,
        env={**os.environ, **env_for(x)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def livetweet(*args: str) -> Result:
    """An operator's command, from the folder the runs start in: in this process."""
    return cli(*args, cwd=REPO)


def preview_texts() -> list[str]:
    import json

    return [p["text"] for p in json.loads(livetweet("preview", SCHEDULE, "--json").stdout)]


def test_an_auto_rehearsal_posts_every_slot_once_in_order(x: FakeXServer, tmp_path: Path) -> None:
    proc = start_run(x, tmp_path / "r.db", "--mode", "auto", "--speed", "1200", "--start-in", "0.5")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert [t.text for t in x.posts()] == preview_texts()
    assert "The event is over: 10 posted." in out
    assert "Posting as @UNMigNetwork on X at http://127.0.0.1:" in out


def test_in_approval_mode_only_approved_drafts_post_and_a_reply_lands_under_its_parent(
    x: FakeXServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert livetweet("--db", db, "load", SCHEDULE).returncode == 0
    ids = {d["slot"]: d["id"] for d in __import__("json").loads(livetweet("--db", db, "queue", "--json").stdout)}
    assert (
        livetweet(
            "--db", db, "approve", str(ids["opening"]), str(ids["dm-invite"]), str(ids["q3"]), "--as", "alice"
        ).returncode
        == 0
    )
    proc = start_run(x, tmp_path / "r.db", "--speed", "1200", "--start-in", "0.5")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    posts = x.posts()
    assert len(posts) == 3
    opening, invite, q3 = posts
    assert opening.text.startswith("The roundtable has started!")
    assert (invite.text.startswith("Taking part today?"), invite.in_reply_to) == (True, opening.id)
    assert q3.text.startswith("Now at the roundtable, guiding question 3")
    assert "The event is over: 3 posted, 7 missed." in out


def test_the_shipped_event_rehearses_on_x_bluesky_and_mastodon_each_post_once(tmp_path: Path) -> None:
    """The README's first command: the shipped schedule lists three accounts, so the rehearsal starts
    a simulated X, Bluesky and Mastodon and posts every slot once on each."""
    env = {**os.environ, "NO_COLOR": "1"}
    for name in ("LIVETWEET_X_API_URL", "LIVETWEET_BLUESKY_URL", "LIVETWEET_MASTODON_URL", *X_TEST_CREDENTIALS):
        env.pop(name, None)
    # At 300x a five-minute window is a real second: at 1200x (a quarter of one) a second copy of the
    # suite on the machine made two posts miss theirs, each network's first post logging in and uploading.
    command = [sys.executable, "-m", "livetweet", "run", str(SHIPPED_SCHEDULE), "--rehearse", "--mode", "auto",
               "--speed", "300", "--start-in", "0.2", "--no-console"]  # fmt: skip
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 0, said
    for network in ("Simulated X API at http://127.0.0.1:", "Simulated Bluesky at", "Simulated Mastodon at"):
        assert network in proc.stdout, said
    assert f"The event is over: {N_POSTS * len(SHIPPED_ACCOUNTS)} posted." in proc.stdout, said
    import json

    listed = json.loads(cli("--rehearsal", "queue", "--json", cwd=tmp_path).stdout)
    for account in SHIPPED_ACCOUNTS:
        mine = [d for d in listed if d["account"] == account]
        assert len(mine) == N_POSTS and {d["state"] for d in mine} == {"posted"}
        assert len({d["tweet_id"] for d in mine}) == N_POSTS
    assert {d["slot"] for d in listed} == {d["slot"] for d in listed if d["account"] == "bsky"}


def test_the_simulated_api_can_be_started_by_the_rehearsal_itself(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    for name in ("LIVETWEET_X_API_URL", *X_TEST_CREDENTIALS):
        env.pop(name, None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "livetweet",
            "run",
            SCHEDULE,
            "--rehearse",
            "--mode",
            "auto",
            "--speed",
            "1200",
            "--start-in",
            "0.2",
            "--no-console",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Simulated X API at http://127.0.0.1:" in proc.stdout
    assert "The event is over: 10 posted." in proc.stdout
    assert (tmp_path / "livetweet-rehearsal.db").is_file()


def test_missing_credentials_are_reported_at_start_naming_the_variables(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("X_") and k != "LIVETWEET_X_API_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "livetweet", "run", SCHEDULE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: X credentials missing: X_API_KEY, X_API_KEY_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET. "
        "Set them in .env (see .env.example) or the environment; to rehearse without X, use "
        "`livetweet run --rehearse`"
    )


def test_sigterm_stops_cleanly(x: FakeXServer, tmp_path: Path) -> None:
    proc = start_run(x, tmp_path / "r.db", "--mode", "auto", "--speed", "60", "--start-in", "0.5")
    wait_for(lambda: len(x.posts()) >= 1, "the first post")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Stopped: 9 approved, 1 posted." in out


# --- crashes: SIGKILL at chosen moments, restart on the same database ---------------


def _finish(x: FakeXServer, db: Path) -> str:
    proc = start_run(x, db, "--mode", "auto", "--speed", "1200", "--start-in", "0.2")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def _assert_each_posted_once(x: FakeXServer) -> None:
    texts = [t.text for t in x.posts()]
    assert sorted(texts) == sorted(preview_texts())  # every slot, and none twice
    assert len(texts) == len(set(texts)) == N_POSTS


@pytest.mark.parametrize(
    "fault,moment",
    [
        ("hang", "after the claim, during the call (X never stored it)"),
        ("hang-after-store", "between the call and the recording (X stored it)"),
    ],
)
def test_killed_mid_post_then_restarted_posts_each_draft_once(
    x: FakeXServer, tmp_path: Path, fault: str, moment: str
) -> None:
    db = tmp_path / "r.db"
    x.inject_fault(fault)
    proc = start_run(x, db, "--mode", "auto", "--speed", "60", "--start-in", "0.5")
    wait_for(lambda: any(o == f"fault:{fault}" for _, o in x.state.requests), moment)
    proc.kill()
    proc.wait(timeout=30)
    stored = len(x.posts())
    assert stored == (1 if fault == "hang-after-store" else 0)
    out = _finish(x, db)
    _assert_each_posted_once(x)
    if fault == "hang-after-store":
        assert "found on the account" in out


def test_killed_at_several_moments_posts_each_draft_at_most_once(x: FakeXServer, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    for posts_before_kill in (2, 5):
        proc = start_run(x, db, "--mode", "auto", "--speed", "400", "--start-in", "0.3")
        wait_for(lambda n=posts_before_kill: len(x.posts()) >= n, f"{posts_before_kill} posts")  # type: ignore[misc]
        proc.kill()
        proc.wait(timeout=30)
        texts = [t.text for t in x.posts()]
        assert len(texts) == len(set(texts))
    _finish(x, db)
    _assert_each_posted_once(x)


def test_an_approval_from_another_terminal_reaches_a_running_run(x: FakeXServer, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    proc = start_run(x, db, "--speed", "10", "--start-in", "0")  # the announcement is due at once
    try:
        wait_for(
            lambda: db.exists() and livetweet("--db", f"sqlite:///{db}", "queue", "--json").stdout.startswith("[\n"),
            "the run to load the schedule",
        )
        assert livetweet("--db", f"sqlite:///{db}", "approve", "1", "--as", "alice").returncode == 0
        wait_for(lambda: len(x.posts()) == 1, "the approved announcement to be posted")
        assert x.posts()[0].text.startswith("Today at 13:30 CET")
        assert livetweet("--db", f"sqlite:///{db}", "pause", "--as", "alice").returncode == 0
        assert livetweet("--db", f"sqlite:///{db}", "approve", "2", "--as", "alice").returncode == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert len(x.posts()) == 1  # paused: the opening was approved but not posted
    assert "Stopped:" in out


def test_a_dry_run_prints_every_post_and_sends_nothing(x: FakeXServer, tmp_path: Path) -> None:
    proc = start_run(x, tmp_path / "r.db", "--mode", "dry-run", "--speed", "1200", "--start-in", "0.2")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert out.count("[dry run] would post:") == N_POSTS
    assert x.posts() == []
    assert (
        not (tmp_path / "r.db").exists()
        or livetweet("--db", f"sqlite:///{tmp_path / 'r.db'}", "queue", "--json").stdout.strip() == "[]"
    )


def test_direct_messages_during_a_rehearsal_are_kept_once_and_reshared(x: FakeXServer, tmp_path: Path) -> None:
    import json

    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"

    def inbox(*args: str) -> list[dict]:  # type: ignore[type-arg]
        result = livetweet("--db", url, "inbox", "--json", *args)
        return json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else []

    def running_until(run: subprocess.Popen[str], condition: Callable[[], bool], what: str) -> None:
        """Wait for `condition` while the run runs; a run that ended, or the deadline, fails with its output."""
        try:
            wait_for(lambda: run.poll() is not None or condition(), what)
        except AssertionError as exc:
            run.send_signal(signal.SIGTERM)
            said = run.communicate(timeout=60)[0]
            raise AssertionError(f"timed out waiting for {what}; the run said:\n{said}") from exc
        if run.poll() is not None and not condition():
            raise AssertionError(f"the run ended before {what}:\n{run.communicate(timeout=60)[0]}")

    # At 60x the runs ask for the inbox every real second: X's 15 reads per 15 minutes (real time on
    # this simulated X) ran out on a busy machine, and the second run waited for the reset.
    x.state.rate_limits.pop("GET /2/dm_events", None)
    first = start_run(x, db, "--speed", "60", "--start-in", "1")
    try:
        sent = cli_process("fake-x", "dm", "--from", "speaker_one", "--url", x.url, "Migrants kept us going {{ 7*7 }}")
        assert sent.returncode == 0, sent.stderr
        running_until(first, lambda: len(inbox()) == 1, "the message in the inbox within one poll")
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=60)
    # Restarted: the first message is not doubled, a new one is added.
    cli_process("fake-x", "dm", "--from", "speaker_two", "--url", x.url, "Skills partnerships work")
    second = start_run(x, db, "--speed", "60", "--start-in", "1")
    try:
        running_until(second, lambda: len(inbox("--all")) == 2, "the second message")
        messages = inbox("--all")
        assert [(m["sender"], m["text"]) for m in messages] == [
            ("speaker_one", "Migrants kept us going {{ 7*7 }}"),
            ("speaker_two", "Skills partnerships work"),
        ]
        made = livetweet("--db", url, "reshare", str(messages[0]["id"]), "--now", "--as", "alice")
        assert made.returncode == 0, made.stderr
        draft_id = made.stdout.splitlines()[-1].split()[1]
        assert livetweet("--db", url, "approve", draft_id, "--as", "alice").returncode == 0
        wait_for(lambda: any("via @speaker_one" in t.text for t in x.posts()), "the reshare to be posted")
    finally:
        if second.poll() is None:
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=60)
    reshared = next(t.text for t in x.posts() if "via @speaker_one" in t.text)
    assert reshared.startswith("Migrants kept us going {{ 7*7 }}\n\n(via @speaker_one)")
    assert "#GlobalCompactforMigration" in reshared and "#GCM" in reshared
    assert len(inbox("--all")) == 2


def test_a_second_run_on_the_same_database_is_refused(x: FakeXServer, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    first = start_run(x, db, "--mode", "auto", "--speed", "10", "--start-in", "30")
    try:
        wait_for(
            lambda: db.exists() and livetweet("--db", f"sqlite:///{db}", "queue", "--json").stdout.startswith("[\n"),
            "the first run to start",
        )
        second = start_run(x, db, "--mode", "auto", "--speed", "10", "--start-in", "30")
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"another `livetweet run` is posting from sqlite:///{db} (a rehearsal run, process {first.pid} on" in out
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert x.posts() == []
