"""The run's plan is chosen from the options alone (livetweet.live.plan_run): no I/O, so every
combination is cheap to check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livetweet.config import Settings
from livetweet.errors import LivetweetError
from livetweet.live import REHEARSAL_DB, RunOptions, plan_run

FIRST = datetime(2020, 11, 12, 12, 15, tzinfo=UTC)
REAL_ENV = Settings(database_url="postgresql://secretariat@db/live", x_api_url=None, x_credentials={"X_API_KEY": "k"})


def options(**kw: object) -> RunOptions:
    return RunOptions(**{"schedule": Path("s.yaml"), "mode": "auto", "rehearse": False, **kw})  # type: ignore[arg-type]


def test_a_rehearsal_never_uses_the_environments_store_or_credentials() -> None:
    plan = plan_run(options(rehearse=True, speed=60, start_in=3), REAL_ENV, FIRST)
    assert plan.kind == "rehearsal" and plan.placeholder_credentials
    assert plan.db_url == f"sqlite:///{REHEARSAL_DB}" and plan.clear_rehearsal_store == REHEARSAL_DB
    assert plan.start_fake_x and plan.x_api_url is None
    assert plan.clock_start == FIRST - timedelta(seconds=180)  # --start-in 3 s at 60x
    assert "LIVETWEET_DATABASE_URL is not used by rehearsals" in plan.notes[0]


def test_a_rehearsal_posts_to_a_loopback_x_it_was_given_and_nowhere_else() -> None:
    local = Settings(x_api_url="http://127.0.0.1:8765")
    assert plan_run(options(rehearse=True), local, FIRST).x_api_url == "http://127.0.0.1:8765"
    assert not plan_run(options(rehearse=True), local, FIRST).start_fake_x
    remote = Settings(x_api_url="https://api.x.com")
    plan = plan_run(options(rehearse=True), remote, FIRST)
    assert plan.start_fake_x and plan.x_api_url is None  # the real API is never a rehearsal's


def test_a_rehearsal_on_an_explicit_store_keeps_it() -> None:
    plan = plan_run(options(rehearse=True, db_url="sqlite:///mine.db"), REAL_ENV, FIRST)
    assert (plan.db_url, plan.clear_rehearsal_store) == ("sqlite:///mine.db", None)


def test_a_live_run_uses_the_environments_store_and_real_credentials() -> None:
    plan = plan_run(options(mode="approval"), REAL_ENV, FIRST)
    assert (plan.kind, plan.db_url, plan.placeholder_credentials, plan.clock_start) == (
        "live",
        REAL_ENV.database_url,
        False,
        None,
    )
    assert plan.load_mode == "approval" and plan.speed == 1.0


def test_a_dry_run_gets_a_temporary_store_and_no_x() -> None:
    plan = plan_run(options(mode="dry-run", rehearse=True), REAL_ENV, FIRST)
    assert (plan.kind, plan.db_url, plan.start_fake_x, plan.x_api_url) == ("dry-run", None, False, None)
    assert plan.load_mode == "auto"


def test_refusals() -> None:
    with pytest.raises(LivetweetError, match="--rehearsal names the rehearsal's store"):
        plan_run(options(on_rehearsal_store=True), REAL_ENV, FIRST)
    with pytest.raises(LivetweetError, match="no posts to rehearse"):
        plan_run(options(rehearse=True), REAL_ENV, None)
