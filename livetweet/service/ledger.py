"""What the posting run writes: claims and outcomes, each fenced by the run's lease epoch.

Every method is one store transaction that re-reads the draft, checks that this run still
holds the lease, and compares-and-sets the version the run acted on (the claim's, or the
sweep's read). A run that lost the lease gets LeaseLost and an audit row, and changes
nothing, with one exception: a post that went out is a fact, and is recorded as posted
whatever happened to the draft meanwhile (the operator is told).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import Clock
from ..draft import Actor, Draft, DraftState
from ..errors import NotDue as NotDue
from ..errors import Paused as Paused
from ..store import Connection, LeaseLost, Store

S = DraftState
DISPATCHER = "dispatcher"


@dataclass(frozen=True)
class Run:
    """The run that writes: its lease holder id and the epoch it holds."""

    holder: str
    epoch: int


@dataclass(frozen=True)
class Claim:
    """A draft claimed for posting by one run: what to post, as a reply to what."""

    draft: Draft
    parent_tweet_id: str | None
    epoch: int


@dataclass(frozen=True)
class Recorded:
    """What recording an outcome did, and what the operator must be told (if anything)."""

    draft: Draft
    note: str | None = None


class Ledger:
    """The posting run's writes to the store."""

    def __init__(self, store: Store, clock: Clock, run: Run) -> None:
        self.store = store
        self.clock = clock
        self.run = run

    # --- claiming ---------------------------------------------------------------------

    def claim(self, draft_id: int, seen_version: int | None = None) -> Claim:
        """approved -> posting, committed before any network call, only if every rule holds now.

        Checked in the claiming transaction, at the moment of the claim: this run holds the
        lease, posting is not paused, the draft is approved at its current revision, due,
        inside its window, past its back-off, and its parent (for a reply) is posted.
        """
        with self._refusals(draft_id, "claim"), self.store.begin() as conn:
            self._fence(conn, draft_id, "claim")
            paused = self.store.paused(conn, lock=True)
            if paused:
                raise Paused(f"posting is paused (by {paused['by']}): `livetweet resume` to go on")
            draft = self.store.get(draft_id, conn)
            now = self.clock.now()
            if draft.state != S.APPROVED:
                raise NotDue(f"draft {draft.id} is {draft.state.value}, not approved")
            if draft.approved_revision != draft.revision:
                raise NotDue(
                    f"draft {draft.id} is approved at revision {draft.approved_revision} but is now at revision "
                    f"{draft.revision}: it needs approval again"
                )
            if draft.at > now or (draft.next_attempt_at is not None and draft.next_attempt_at > now):
                raise NotDue(f"draft {draft.id} is not due yet")
            if now > draft.valid_until:
                raise NotDue(f"draft {draft.id}'s window closed")
            parent_tweet: str | None = None
            if draft.reply_to:
                parent = self.store.draft_by_slot(conn, draft.event_id, draft.reply_to)
                if parent is None or parent.state != S.POSTED or not parent.tweet_id:
                    state = parent.state.value if parent else "gone"
                    raise NotDue(f"draft {draft.id} waits for {draft.reply_to} to be posted (it is {state})")
                parent_tweet = parent.tweet_id
            claimed = self.store.transition(
                conn,
                draft,
                "claim",
                actor=Actor.DISPATCHER,
                by=DISPATCHER,
                at=now,
                seen_version=seen_version,
                changes={"claimed_at": now, "attempts": draft.attempts + 1, "claim_epoch": self.run.epoch},
                detail={"epoch": self.run.epoch},
            )
            return Claim(claimed, parent_tweet, self.run.epoch)

    # --- outcomes -----------------------------------------------------------------------

    def posted(self, draft_id: int, seen_version: int, tweet_id: str, how: str = "posted") -> Recorded:
        """The post is on the account: recorded as posted, even if the draft moved or this run was fenced."""
        with self.store.begin() as conn:
            draft = self.store.get(draft_id, conn)
            now = self.clock.now()
            fenced = not self.store.holds_lease(conn, self.run.holder, self.run.epoch)
            detail: dict[str, Any] = {"tweet_id": tweet_id, "epoch": self.run.epoch}
            if draft.state == S.POSTED:
                if draft.tweet_id == tweet_id:
                    return Recorded(draft)
                self._note(
                    conn, draft, "duplicate", f"X holds it twice: tweets {draft.tweet_id} and {tweet_id}", detail
                )
                return Recorded(
                    draft,
                    f"X now holds this post twice (tweets {draft.tweet_id} and {tweet_id}): delete {tweet_id} "
                    "on the account",
                )
            changes = {"tweet_id": tweet_id, "posted_at": now, "last_error": None, "next_attempt_at": None}
            if not fenced and draft.state == S.POSTING and draft.version == seen_version:
                moved = self.store.transition(
                    conn, draft, how, actor=Actor.DISPATCHER, by=DISPATCHER, at=now, changes=changes, detail=detail
                )
                return Recorded(moved)
            why = "this run had lost the lease" if fenced else f"the draft was {draft.state.value} by then"
            moved = self.store.transition(
                conn,
                draft,
                "posted-anyway",
                actor=Actor.DISPATCHER,
                by=DISPATCHER,
                at=now,
                reason=f"it went out as tweet {tweet_id} ({why})",
                changes=changes,
                detail=detail,
            )
            return Recorded(moved, f"it went out as tweet {tweet_id} although {why}: recorded as posted")

    def retry(self, draft_id: int, seen_version: int, reason: str, not_before: datetime) -> Draft:
        """Not posted (known): approved again, not before `not_before`."""
        return self._record(
            draft_id, seen_version, "retry", reason, {"last_error": reason, "next_attempt_at": not_before}
        )

    def halted(self, draft_id: int, seen_version: int, reason: str) -> Draft:
        """X refused our credentials: not posted, approved again; its window still counts."""
        return self._record(draft_id, seen_version, "halt", reason, {"last_error": reason, "next_attempt_at": None})

    def unknown(self, draft_id: int, seen_version: int, reason: str, look_again_at: datetime) -> Draft:
        """Outcome unknown: stays in posting, to be looked up at `look_again_at`."""
        return self._record(
            draft_id, seen_version, "unknown", reason, {"last_error": reason, "next_attempt_at": look_again_at}
        )

    def failed(self, draft_id: int, seen_version: int, reason: str) -> Draft:
        return self._record(draft_id, seen_version, "failed", reason, {"last_error": reason})

    def expired(self, draft_id: int, seen_version: int, reason: str) -> Draft:
        """In posting, known not to be on the account, and its window has closed: missed."""
        return self._record(draft_id, seen_version, "expired", reason, {"last_error": reason, "next_attempt_at": None})

    def missed(self, draft_id: int, seen_version: int, reason: str) -> Draft:
        """Pending or approved, and its window closed: missed (a person may still post it now)."""
        return self._record(draft_id, seen_version, "missed", reason, {"last_error": reason})

    def pause_for_credentials(self, reason: str) -> bool:
        """Pause posting because X refused our credentials; False if it was paused already."""
        with self._refusals(None, "pause"), self.store.begin() as conn:
            self._fence(conn, None, "pause")
            if self.store.paused(conn, lock=True):
                return False
            now = self.clock.now()
            self.store.set_paused(
                conn, {"by": DISPATCHER, "at": now.isoformat(), "reason": reason, "kind": "credentials"}
            )
            self.store.write_audit(conn, at=now, operator=DISPATCHER, action="pause", reason=reason)
            return True

    # --- inside -----------------------------------------------------------------------

    def _record(self, draft_id: int, seen_version: int, action: str, reason: str, changes: dict[str, Any]) -> Draft:
        with self._refusals(draft_id, action), self.store.begin() as conn:
            self._fence(conn, draft_id, action)
            draft = self.store.get(draft_id, conn)
            return self.store.transition(
                conn,
                draft,
                action,
                actor=Actor.DISPATCHER,
                by=DISPATCHER,
                at=self.clock.now(),
                reason=reason,
                seen_version=seen_version,
                changes=changes,
            )

    def _fence(self, conn: Connection, draft_id: int | None, action: str) -> None:
        """Refuse a write from a run that no longer holds the lease (audited by `_refusals`)."""
        if self.store.holds_lease(conn, self.run.holder, self.run.epoch, renew=True):
            return
        raise LeaseLost(self.store.lost_message(conn, self.run.epoch))

    @contextmanager
    def _refusals(self, draft_id: int | None, action: str) -> Iterator[None]:
        """Audit, in a transaction of its own, every write refused because this run was fenced."""
        try:
            yield
        except LeaseLost:
            with self.store.begin() as conn:
                self.store.write_audit(
                    conn,
                    at=self.clock.now(),
                    operator=DISPATCHER,
                    action="refused",
                    draft_id=draft_id,
                    reason=f"{action} from a run that had lost the lease (epoch {self.run.epoch})",
                    detail={"epoch": self.run.epoch, "current_epoch": self._current_epoch(conn)},
                )
            raise

    def _current_epoch(self, conn: Connection) -> int | None:
        current = self.store.lease(conn)
        return current.epoch if current else None

    def _note(self, conn: Connection, draft: Draft, action: str, reason: str, detail: dict[str, Any]) -> None:
        self.store.write_audit(
            conn,
            at=self.clock.now(),
            operator=DISPATCHER,
            action=action,
            draft_id=draft.id,
            event_id=draft.event_id,
            reason=reason,
            detail=detail,
        )
