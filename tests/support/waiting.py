"""Waiting in tests: on a condition, polled, with a generous deadline; never a fixed sleep.

A loaded machine makes a test that waits slower, not red: the deadline is there only so that
a condition that never comes fails the test (saying what it waited for) instead of hanging it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEADLINE = 60.0  # seconds: the default wait, far past what an idle machine needs


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll for a condition (not for time): fail with `what` if it never comes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
