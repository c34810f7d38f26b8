"""What a run writes to its log: APScheduler's notes about watch jobs skipped on purpose are left out."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES

from livetweet.dispatch import Runner

from .support.waiting import wait_for
from .support.world import World


def test_a_watch_job_still_running_at_its_next_turn_is_skipped_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path)
    runner = Runner(world.dispatcher, watch_seconds=0.05)
    release, turns = threading.Event(), []

    def slow() -> None:
        turns.append(1)
        release.wait(10)

    skipped = threading.Event()
    runner.scheduler.add_listener(lambda _event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    runner.scheduler.add_job(slow, "interval", seconds=0.05, id="slow-watch")
    caplog.set_level(logging.WARNING)
    runner.scheduler.start()
    try:
        wait_for(lambda: turns, "the slow job to start")
        logging.getLogger("apscheduler.scheduler").warning("something else went wrong")
        assert skipped.wait(30), "APScheduler never skipped a turn of the slow job"
    finally:
        release.set()
        runner.scheduler.shutdown(wait=True)
        world.close()
    messages = [r.getMessage() for r in caplog.records]
    assert "something else went wrong" in messages
    assert not any("maximum number of running instances" in m for m in messages)
