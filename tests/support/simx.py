"""A simulated X for the model-based test: in memory, answering each post as the test draws.

It is a stand-in for the network, not for livetweet: the store, the service, the ledger and
the dispatcher under test are the real ones. Like X, it refuses a text it already holds
(the duplicate-content 403). It logs every request so that the test can check, at the moment
of each POST, what the store said about the draft being posted.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from livetweet.inbox import IncomingMessage
from livetweet.publishers.base import (
    Outcome,
    OutcomeUnknown,
    Posted,
    Publisher,
    PublisherError,
    Refused,
    RetryLater,
)

# What X may do with one POST.
OUTCOMES = (
    "posted",
    "5xx",
    "429",
    "timeout-before-store",
    "timeout-after-store",
    "drop-after-store",
    "duplicate-403",
    "401",
)
STORES = {"posted", "timeout-after-store", "drop-after-store"}


@dataclass
class Stored:
    tweet_id: str
    text: str
    draft_id: int


@dataclass
class SimulatedX(Publisher):
    """X as the model test sees it."""

    on_post: Callable[[str], int] = lambda text: 0  # the test's checks at the moment of a POST; returns the draft id
    outcomes: list[str] = field(default_factory=list)  # drawn by the test; "posted" when empty
    lookups_fail: bool = False
    stored: list[Stored] = field(default_factory=list)
    log: list[tuple[str, int]] = field(default_factory=list)  # ("POST" | "STORE" | "LOOKUP", draft id)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    name: str = "simulated X"

    def post(
        self, text: str, in_reply_to: str | None = None, media_ids: Sequence[str] = (), key: str | None = None
    ) -> Outcome:
        draft_id = self.on_post(text)
        self.log.append(("POST", draft_id))
        kind = self.outcomes.pop(0) if self.outcomes else "posted"
        if any(s.text == text for s in self.stored):
            return OutcomeUnknown("X says the text is a duplicate (403)")
        if kind in STORES:
            tweet = Stored(str(next(self._ids)), text, draft_id)
            self.stored.append(tweet)
            self.log.append(("STORE", draft_id))
            return Posted(tweet.tweet_id) if kind == "posted" else OutcomeUnknown(f"{kind}: no answer")
        if kind == "5xx":
            return RetryLater("X had an error (503)")
        if kind == "429":
            return RetryLater("X's rate limit was reached (429)", retry_after=2.0)
        if kind == "timeout-before-store":
            return OutcomeUnknown("X did not answer in time")
        if kind == "duplicate-403":
            return OutcomeUnknown("X says the text is a duplicate (403)")
        if kind == "401":
            return Refused("X refused our credentials (401)", halt=True)
        raise AssertionError(kind)

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        found = next((s for s in self.stored if s.text == text), None)
        self.log.append(("LOOKUP", found.draft_id if found else -1))
        if self.lookups_fail:
            raise PublisherError("looking up recent posts failed: HTTP 503")
        return found.tweet_id if found else None

    def fetch_direct_messages(self, newer_than: str | None) -> tuple[list[IncomingMessage], int]:
        return [], 1

    def check(self) -> str:
        return "@demo on the simulated X"
