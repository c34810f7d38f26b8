"""A publisher that posts nothing and says what it would have posted."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime

from .base import Outcome, Posted, Publisher


class DryRunPublisher(Publisher):
    """Prints each post instead of sending it; every post "succeeds" with a made-up id."""

    name = "dry run (nothing leaves this machine)"

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.echo = echo
        self._ids = itertools.count(1)
        self.posted: list[tuple[str, str | None]] = []

    def post(self, text: str, in_reply_to: str | None = None) -> Outcome:
        self.posted.append((text, in_reply_to))
        self.echo(text if in_reply_to is None else f"{text}\n(as a reply to {in_reply_to})")
        return Posted(f"dry-run-{next(self._ids)}")

    def find_post(self, text: str, since: datetime) -> str | None:
        return None
