"""The one source of time: everything that asks "what time is it" asks a Clock.

Tests and rehearsals pass their own clock; nothing deep inside calls datetime.now().
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Something that tells the time, always as an aware UTC datetime."""

    def now(self) -> datetime: ...

    def real_seconds(self, delta: timedelta) -> float:
        """How many seconds of the machine's clock `delta` of this clock's time lasts."""
        ...

    def from_real(self, seconds: float) -> timedelta:
        """How much of this clock's time `seconds` of the machine's clock lasts."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds(self, delta: timedelta) -> float:
        return delta.total_seconds()

    def from_real(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds)


class RehearsalClock:
    """Event time on a fast clock: `start` at launch, running `speed` times real time.

    The real clock is read through `time.monotonic`, so changing the machine's time during
    a rehearsal does not make it jump.
    """

    def __init__(self, start: datetime, speed: float = 1.0, launched_at: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        # Another process (an operator's command during a rehearsal) follows the same clock
        # from the launch's wall-clock time.
        self.launched_at = launched_at or datetime.now(UTC)
        self._launch = time.monotonic() - (datetime.now(UTC) - self.launched_at).total_seconds()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._launch) * self.speed)

    def to_json(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "speed": self.speed, "launched_at": self.launched_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RehearsalClock:
        return cls(
            datetime.fromisoformat(str(data["start"])),
            float(str(data["speed"])),
            datetime.fromisoformat(str(data["launched_at"])),
        )

    def real_seconds(self, delta: timedelta) -> float:
        return delta.total_seconds() / self.speed

    def from_real(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds * self.speed)

    def follow(self, data: dict[str, object]) -> None:
        """Show another process's clock from now on (a standby follows the leader's rehearsal)."""
        other = RehearsalClock.from_json(data)
        self.start, self.speed, self.launched_at = other.start, other.speed, other.launched_at
        self._launch = other._launch

    def restart(self) -> None:
        """Show `start` again from now: the clock starts when the schedule is loaded, not before."""
        self.launched_at = datetime.now(UTC)
        self._launch = time.monotonic()


class FixedClock:
    """A clock that moves only when told to: for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def real_seconds(self, delta: timedelta) -> float:
        return 0.0

    def from_real(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds)  # a test's clock counts real time one to one

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


MIN_CALL_TIMEOUT = 0.5  # seconds of real time: below this a busy machine times out calls that worked


def call_timeout(event_seconds: float, clock: Clock) -> float:
    """A network call's timeout, given in the event's seconds, in seconds of the machine's clock.

    At 60x a 10-second timeout lasts a sixth of a second, so that it stays short beside a
    5-minute window of the event; never less than MIN_CALL_TIMEOUT.
    """
    return max(clock.real_seconds(timedelta(seconds=event_seconds)), MIN_CALL_TIMEOUT)


# A post's window lasts at least this long in real time: a rehearsal at 900x shrinks a
# 5-minute window to a third of a second, shorter than a busy laptop needs to post, and
# would record misses the real event never has. At real speed no window is this short.
MIN_WINDOW_REAL_SECONDS = 2.0


def window_end(at: datetime, valid_until: datetime, clock: Clock) -> datetime:
    """When a post's window closes on this clock: its own end, or MIN_WINDOW_REAL_SECONDS after it is due."""
    return max(valid_until, at + clock.from_real(MIN_WINDOW_REAL_SECONDS))


def show_time(when: datetime, zone: ZoneInfo) -> str:
    """A time for people: with its zone, and with its date when that is not today."""
    local = when.astimezone(zone)
    today = datetime.now(zone).date()
    return local.strftime("%H:%M:%S %Z") if local.date() == today else local.strftime("%Y-%m-%d %H:%M:%S %Z")
