"""Every error livetweet raises, the `Problem` that points a person at a file and line,
and Ctrl-C held back to the points where stopping is safe."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """Something wrong (or worth a look) at a place in a schedule or template file."""

    file: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.severity == "warning":
            return f"{where}: warning: {self.message}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "severity": self.severity, "message": self.message}


class LivetweetError(Exception):
    """Base of every error meant for the operator: its message says what to do next."""


class BadValue(ValueError):
    """A text that is not the number, time, date or duration it should be.

    `reason` follows the quoted text ('"25:00" is not a time of day'), `hint` says how to
    write it; messages put the two together in their own words.
    """

    def __init__(self, reason: str, hint: str = "") -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason}: {hint}" if hint else reason)


class ScheduleError(LivetweetError):
    """A schedule could not be read or planned; `problems` lists every place at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "the schedule has problems")


# --- Ctrl-C ---------------------------------------------------------------------------
# Python raises KeyboardInterrupt wherever the main thread happens to be, finalizers
# (__del__, a generator's close) included, and an exception raised in a finalizer is
# printed and dropped: the Ctrl-C is lost and the work goes on. Inside `deferred_interrupts`
# the signal only sets a flag, and `interrupt_point` raises at a place chosen for it.

_Handler = Callable[[int, FrameType | None], Any] | int | None
_interrupt_pending = threading.Event()
_held: list[_Handler] = []  # the handler that was in place, while interrupts are deferred


def _note_interrupt(signum: int, frame: FrameType | None) -> None:
    _interrupt_pending.set()


def _deliver(handler: _Handler) -> None:
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, None)
        return
    raise KeyboardInterrupt


def interrupt_point() -> None:
    """Act on a Ctrl-C pressed inside `deferred_interrupts`, here: a place where stopping is safe."""
    if _interrupt_pending.is_set() and _held:
        _interrupt_pending.clear()
        _deliver(_held[-1])


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C until the next `interrupt_point` (or the end of the block), never losing it.

    Only the main thread receives signals; elsewhere, when nested, or when Ctrl-C is
    ignored, this does nothing. A handler installed before (the run's clean stop) is
    called at that point instead of raising KeyboardInterrupt.
    """
    if _held or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous: _Handler = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            yield
            return
        signal.signal(signal.SIGINT, _note_interrupt)
    except ValueError:  # not the main interpreter
        yield
        return
    _interrupt_pending.clear()
    _held.append(previous)
    try:
        yield
    finally:
        _held.pop()
        signal.signal(signal.SIGINT, previous)
    if _interrupt_pending.is_set():
        _interrupt_pending.clear()
        _deliver(previous)
