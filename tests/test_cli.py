"""The `livetweet` command as the officer runs it, on real files.

The commands run in this process, by the real entry point (tests/support/cli.py); the first
test and the colour test start a real process, so that `python -m livetweet` itself is tested.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from .support.cli import cli, cli_process
from .support.events import MINI_SCHEDULE, MINI_TEMPLATES, REPO, SHIPPED_SCHEDULE


def test_shipped_schedule_checks_clean() -> None:  # a real process: the smoke test of `check`
    result = cli_process("check", str(SHIPPED_SCHEDULE.relative_to(REPO)), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems" in result.stdout
    assert "estimated X API cost" in result.stdout
    assert "cites objective 8" in result.stdout  # the note's objective 8 is only warned about


def test_shipped_schedule_preview_json_meets_the_brief() -> None:
    result = cli("preview", str(SHIPPED_SCHEDULE.relative_to(REPO)), "--json", cwd=REPO)
    assert result.returncode == 0, result.stderr
    posts = json.loads(result.stdout)
    start = datetime.fromisoformat("2020-11-12T13:00:00+01:00")
    end = datetime.fromisoformat("2020-11-12T15:10:00+01:00")
    times = [datetime.fromisoformat(p["at"]) for p in posts]
    assert len(posts) >= 8
    assert all(start <= t <= end and t.utcoffset().total_seconds() == 3600 for t in times)  # type: ignore[union-attr]
    assert times == sorted(times)
    for post in posts:
        assert post["weighted_length"] <= 280
        assert "#GCM" in post["hashtags"] or "#GlobalCompactforMigration" in post["hashtags"]
        assert set(post) >= {"slot", "segment", "at", "text", "weighted_length", "hashtags", "reply_to"}
    assert {p["slot"]: p["reply_to"] for p in posts}["dm-invite"] == "opening"


def test_preview_shows_times_with_their_zone_and_another_zone() -> None:
    result = cli("preview", str(SHIPPED_SCHEDULE.relative_to(REPO)), "--tz", "America/New_York", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "13:31 CET (07:31 EST)" in result.stdout
    assert "Nothing was posted" in result.stdout


def test_preview_json_with_tz_adds_local_time() -> None:
    result = cli("preview", str(SHIPPED_SCHEDULE.relative_to(REPO)), "--json", "--tz", "Asia/Tokyo", cwd=REPO)
    first = json.loads(result.stdout)[0]
    assert first["at_local"] == "2020-11-12T21:15:00+09:00"


def _broken(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    for name, text in MINI_TEMPLATES.items():
        (tmp_path / "templates" / name).write_text(text)
    (tmp_path / "schedules").mkdir()
    path = tmp_path / "schedules" / "demo.yaml"
    path.write_text(MINI_SCHEDULE.replace('end: "13:45"', 'end: "13:75"'))
    return path


def test_check_exits_1_with_file_and_line(tmp_path: Path) -> None:
    _broken(tmp_path)
    result = cli("check", "schedules/demo.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        'schedules/demo.yaml:18: segment "opening" end "13:75" is not a time of day (hours 0-23, minutes 0-59)'
    )


def test_check_json(tmp_path: Path) -> None:
    _broken(tmp_path)
    result = cli("check", "schedules/demo.yaml", "--json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert result.returncode == 1
    assert data["ok"] is False
    assert data["errors"][0]["line"] == 18


def test_preview_of_a_broken_schedule_exits_1_and_says_why(tmp_path: Path) -> None:
    _broken(tmp_path)
    result = cli("preview", "schedules/demo.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "schedules/demo.yaml:18:" in result.stderr
    assert result.stdout == ""


def test_usage_errors_exit_2() -> None:
    assert cli("preview", cwd=REPO).returncode == 2
    assert cli("check", "--bogus", "x.yaml", cwd=REPO).returncode == 2
    bad_tz = cli("preview", str(SHIPPED_SCHEDULE), "--tz", "Mars/Olympus", cwd=REPO)
    assert bad_tz.returncode == 2
    assert 'unknown time zone "Mars/Olympus"' in bad_tz.stderr


@pytest.mark.parametrize("command", [[], ["check"], ["preview"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = cli(*command, "--help", cwd=REPO)
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_no_colour_when_output_is_not_a_terminal() -> None:  # a real process: its stdout a real pipe
    result = cli_process("check", str(SHIPPED_SCHEDULE))
    assert "\x1b[" not in result.stdout


def test_no_colour_when_no_color_is_set_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from livetweet.cli.base import use_colour

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())


def test_preview_states_the_plans_cost_on_x_with_its_images() -> None:
    from livetweet.media import reencode_file
    from livetweet.plan.check import check_schedule
    from livetweet.plan.cost import estimate_cost

    result = cli("preview", str(SHIPPED_SCHEDULE.relative_to(REPO)), cwd=REPO)
    assert result.returncode == 0, result.stderr
    report = check_schedule(SHIPPED_SCHEDULE, read_media=reencode_file)
    assert report.schedule is not None
    expected = estimate_cost(report.schedule, report.posts)
    assert f"Estimated cost on X: {expected.describe()}" in result.stdout.splitlines()
    assert expected.images == 2 and "2 image alt texts" in expected.describe()  # the two planned images
