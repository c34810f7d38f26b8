"""Simulated X, Bluesky and Mastodon for the model test of deliveries: in memory, each answering as drawn.

They stand in for the networks, not for livetweet: each answers a post as the test draws (posted,
a 5xx, a 429, a timeout before or after the post was stored, a dropped answer...), honours the
delivery's key as the real network does, and logs every request. X refuses a text it already holds
(the duplicate-content 403) and has no key. Bluesky creates the record under the key (a TID) the
dispatcher sends: a create under a key already taken fails (500, as the PDS does), and the publisher
then reads the record back by its key (livetweet/publishers/bluesky.py); find_post(key=...) reads it
by key. Mastodon keeps an Idempotency-Key an hour: the same key answers the first status and makes
no second; its find_post looks the account's recent statuses up by text (the key is not shown).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from livetweet.clock import Clock
from livetweet.inbox import IncomingMessage
from livetweet.plan.bluesky import is_tid
from livetweet.publishers.base import (
    Outcome,
    OutcomeUnknown,
    Posted,
    Publisher,
    PublisherError,
    Refused,
    RetryLater,
)

from .simx import OUTCOMES as X_OUTCOMES

# What each network may do with one post (the test draws one per call).
OUTCOMES: dict[str, tuple[str, ...]] = {
    "x": X_OUTCOMES,
    "bluesky": (
        "posted",
        "500",  # the PDS failed before writing: the publisher reads back under the key
        "503",
        "429",
        "timeout-before-store",
        "timeout-after-store",
        "drop-after-store",
        "401",
    ),
    "mastodon": (
        "posted",
        "503",
        "429",
        "timeout-before-store",
        "timeout-after-store",
        "drop-after-store",
        "503-after-store",
        "422",
        "401",
    ),
}
STORES = {"posted", "timeout-after-store", "drop-after-store", "503-after-store"}
IDEMPOTENCY_TTL = timedelta(hours=1)  # Mastodon keeps a key this long
LOOKUP_SLACK = timedelta(seconds=5)  # the publishers look a little before `since` (the server's clock may lag)

# The test's checks at the moment of a post: (text, in_reply_to, key) -> the id of the draft being posted.
OnPost = Callable[[str, "str | None", "str | None"], int]


@dataclass
class Stored:
    """One post as its network holds it."""

    post_id: str
    text: str
    draft_id: int
    key: str | None
    in_reply_to: str | None
    at: datetime


class SimulatedNetwork(Publisher):
    """What the three simulated networks share: the drawn answers, the stored posts, the request log."""

    network = "network"

    def __init__(self, clock: Clock, on_post: OnPost) -> None:
        self.clock = clock
        self.on_post = on_post
        self.outcomes: list[str] = []  # drawn by the test; "posted" when empty
        self.lookups_fail = False
        self.stored: list[Stored] = []
        self.log: list[tuple[str, int]] = []  # ("POST" | "STORE" | "LOOKUP", draft id or -1)
        self._ids = itertools.count(1000)

    def post(
        self,
        text: str,
        in_reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        key: str | None = None,
        lang: str | None = None,
    ) -> Outcome:
        draft_id = self.on_post(text, in_reply_to, key)
        self.log.append(("POST", draft_id))
        kind = self.outcomes.pop(0) if self.outcomes else "posted"
        return self.answer(kind, text, in_reply_to, key, draft_id)

    def answer(self, kind: str, text: str, in_reply_to: str | None, key: str | None, draft_id: int) -> Outcome:
        """The network's answer to one post, as drawn."""
        raise NotImplementedError

    def store(self, post_id: str, text: str, draft_id: int, key: str | None, in_reply_to: str | None) -> Stored:
        stored = Stored(post_id, text, draft_id, key, in_reply_to, self.clock.now())
        self.stored.append(stored)
        self.log.append(("STORE", draft_id))
        return stored

    def by_text(self, text: str, since: datetime) -> Stored | None:
        """Our recent post with this text, as a look-up of the account's recent posts finds it."""
        start = since - LOOKUP_SLACK
        return next((s for s in reversed(self.stored) if s.text == text and s.at >= start), None)

    def looked_up(self, found: Stored | None) -> None:
        self.log.append(("LOOKUP", found.draft_id if found else -1))
        if self.lookups_fail:
            raise PublisherError(f"looking up recent posts on {self.name} failed: HTTP 503")

    def fetch_direct_messages(self, newer_than: str | None) -> tuple[list[IncomingMessage], int]:
        return [], 1

    def check(self) -> str:
        return self.name


class SimX(SimulatedNetwork):
    """X: no key; a text it already holds is refused as a duplicate (403), which says nothing of this post."""

    network = "x"
    name = "simulated X"

    def answer(self, kind: str, text: str, in_reply_to: str | None, key: str | None, draft_id: int) -> Outcome:
        if any(s.text == text for s in self.stored):
            return OutcomeUnknown("X says the text is a duplicate (403)")
        if kind in STORES:
            tweet = self.store(str(next(self._ids)), text, draft_id, key, in_reply_to)
            return Posted(tweet.post_id) if kind == "posted" else OutcomeUnknown(f"{kind}: no answer")
        if kind == "5xx":
            return RetryLater("X had an error (503)")
        if kind == "429":
            return RetryLater("X's rate limit was reached (429)", retry_after=2.0)
        if kind in ("timeout-before-store", "duplicate-403"):
            return OutcomeUnknown(f"X: {kind}")
        if kind == "401":
            return Refused("X refused our credentials (401)", halt=True)
        raise AssertionError(kind)

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        found = self.by_text(text, since)
        self.looked_up(found)
        return found.post_id if found else None


class SimBluesky(SimulatedNetwork):
    """Bluesky: the record is created under the delivery's key; a key already taken is refused (500) and read back."""

    network = "bluesky"
    name = "simulated Bluesky"
    did = "did:plc:demo"

    def _under(self, key: str) -> Stored | None:
        return next((s for s in self.stored if s.key == key), None)

    def answer(self, kind: str, text: str, in_reply_to: str | None, key: str | None, draft_id: int) -> Outcome:
        if key is None or not is_tid(key):
            return Refused(f"the record key {key!r} is not a TID")  # as the publisher refuses it
        if kind == "429":
            return RetryLater("Bluesky's rate limit was reached (429)", retry_after=2.0)
        if kind == "401":
            return Refused("Bluesky refused our credentials (401)", halt=True)
        if kind == "timeout-before-store":
            return OutcomeUnknown("Bluesky did not answer in time: the post may have been made")
        if kind == "503":
            return OutcomeUnknown("Bluesky: 503; the post may have been made")
        if kind == "500":
            return self._read_back(key, text)
        if kind in STORES:
            if self._under(key) is not None:  # the repository refuses a second record under the key
                return self._read_back(key, text) if kind == "posted" else OutcomeUnknown(f"{kind}: no answer")
            record = self.store(f"at://{self.did}/app.bsky.feed.post/{key}", text, draft_id, key, in_reply_to)
            return Posted(record.post_id) if kind == "posted" else OutcomeUnknown(f"{kind}: no answer")
        raise AssertionError(kind)

    def _read_back(self, key: str, text: str) -> Outcome:
        """The publisher's answer to a 500: the record under the key says what happened."""
        found = self._under(key)
        try:
            self.looked_up(found)
        except PublisherError:
            return OutcomeUnknown("Bluesky answered 500, and reading the post back failed: it may have been made")
        if found is None:
            return RetryLater("Bluesky answered 500; no post was made under its key (read back)")
        if found.text != text:
            return Refused(f"record key {key} already holds another post ({found.post_id}): not posted again")
        return Posted(found.post_id)

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        found = self._under(key) if key is not None else self.by_text(text, since)
        self.looked_up(found)
        return found.post_id if found else None


class SimMastodon(SimulatedNetwork):
    """Mastodon: the same Idempotency-Key within the hour answers the first status; look-ups are by text."""

    network = "mastodon"
    name = "simulated Mastodon"

    def __init__(self, clock: Clock, on_post: OnPost) -> None:
        super().__init__(clock, on_post)
        self.keys: dict[str, tuple[Stored, datetime]] = {}

    def answer(self, kind: str, text: str, in_reply_to: str | None, key: str | None, draft_id: int) -> Outcome:
        if kind == "429":
            return RetryLater("Mastodon's rate limit was reached (429)", retry_after=2.0)
        if kind == "401":
            return Refused("Mastodon refused our access token (401)", halt=True)
        if kind == "422":
            return Refused("Mastodon refused it (422): Validation failed")
        if kind == "timeout-before-store":
            return OutcomeUnknown("Mastodon did not answer in time")
        if kind == "503":
            return OutcomeUnknown("Mastodon had an error (503)")
        if kind in STORES:
            now = self.clock.now()
            kept = self.keys.get(key) if key is not None else None
            if kept is not None and now - kept[1] < IDEMPOTENCY_TTL:
                status = kept[0]  # the first status is the answer; no second one is made
            else:
                status = self.store(str(next(self._ids)), text, draft_id, key, in_reply_to)
                if key is not None:
                    self.keys[key] = (status, now)
            return Posted(status.post_id) if kind == "posted" else OutcomeUnknown(f"Mastodon: {kind}")
        raise AssertionError(kind)

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        found = self.by_text(text, since)
        self.looked_up(found)
        return found.post_id if found else None
