"""Every error livetweet raises, the `Problem` that points a person at a file and line,
and Ctrl-C held back to the points where stopping is safe.

Each error's message is for the operator: what happened and what to do next. The command
line turns them into exit code 1 in one place (livetweet.cli.main); the console shows them
as a banner. The hierarchy:

    LivetweetError
    ├── ConfigError            settings (.env) that cannot be read
    ├── ScheduleError          a schedule or template with problems (each a Problem)
    ├── EventError             no such event or segment, none loaded, a renamed event
    ├── DraftError             an action on a draft that cannot be done
    │   ├── IllegalMove        not from the draft's state
    │   ├── StaleRevision      on a revision that is no longer current
    │   ├── Conflict           someone else changed it at the same moment
    │   ├── UnknownDraft       no draft has that id
    │   ├── NotAllowed         that actor may never do that
    │   ├── TextRefused        a typed text breaks the rules a template's output obeys
    │   │   └── MediaRefused   a draft's images break X's rules (alt text missing, too many)
    │   ├── Paused             (the run's) posting is paused
    │   └── NotDue             (the run's) not claimable now
    ├── LiveControlError       pause, resume, shift or cue refused
    ├── InboxError             a direct message cannot be reshared or dismissed
    ├── MediaError             a file that is not an image X takes, or too big for it
    ├── StoreError             the database cannot be used
    │   ├── LeaseHeld          another run posts from the store
    │   ├── LeaseBusy          a stalled run holds the lease row: try again
    │   └── LeaseLost          this run was fenced: it must stop posting
    └── PublisherError         X cannot be used (credentials, a failed look-up)
        └── RateLimited        X said "not now" (429)

`BadValue` (a ValueError, not for the operator as it is) says why a text is not the
number, time, date or duration it should be; callers word it with the field it came from.
"""

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


class ConfigError(LivetweetError):
    """The settings cannot be read: the message names the file and line."""


class EventError(LivetweetError):
    """No such event or segment, or none loaded: the message says which exist."""


class DraftError(LivetweetError):
    """An operator's action on a draft cannot be done; the message says why."""


class IllegalMove(DraftError):
    """The draft is in a state from which that move is not allowed."""


class StaleRevision(DraftError):
    """The operator acted on a revision that is no longer the draft's current one."""


class Conflict(DraftError):
    """Someone else changed the draft at the same moment; this action lost."""


class UnknownDraft(DraftError):
    """No draft has that id."""


class NotAllowed(DraftError):
    """That actor may not take that action at all (a person cannot claim, a run cannot approve)."""


class TextRefused(DraftError):
    """A typed text breaks a rule a template's output obeys (length, hashtags, duplicates)."""


class MediaRefused(TextRefused):
    """A draft's images break X's rules or lack alt text, so it cannot be approved or saved."""


class Paused(DraftError):
    """Posting is paused: nothing is claimed until `resume`."""


class NotDue(DraftError):
    """The draft cannot be claimed now (not approved, not yet due, window closed, parent not posted)."""

    def __init__(self, message: str, waits_for: str | None = None) -> None:
        super().__init__(message)
        self.waits_for = waits_for  # what it waits for, when it waits: "parent", "order" or "budget"


class LiveControlError(LivetweetError):
    """Pause, resume, shift or cue cannot be done now; the message says why."""


class InboxError(LivetweetError):
    """An inbox action cannot be done; the message says why."""


class MediaError(LivetweetError):
    """A file cannot be posted as an image (not JPEG, PNG, WebP or GIF, damaged, too big): the message names it."""


class StoreError(LivetweetError):
    """The database cannot be used: wrong file, newer schema, unreachable server."""


class LeaseHeld(StoreError):
    """Another run holds the store's lease: a second run is refused."""

    def __init__(self, message: str, holder: object) -> None:
        self.holder = holder
        super().__init__(message)


class LeaseBusy(StoreError):
    """A stalled run holds the lease row inside an open transaction: try again in a few seconds."""


class LeaseLost(StoreError):
    """This run no longer holds the lease (another run took over): it must stop posting at once."""


class PublisherError(LivetweetError):
    """A publisher cannot be used (missing credentials) or a look-up failed."""


class RateLimited(PublisherError):
    """X said "not now" (429); `retry_after` is seconds of real time until its reset."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
