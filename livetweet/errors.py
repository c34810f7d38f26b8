"""Every error livetweet raises, and the `Problem` that points a person at a file and line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


class ScheduleError(LivetweetError):
    """A schedule could not be read or planned; `problems` lists every place at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "the schedule has problems")
