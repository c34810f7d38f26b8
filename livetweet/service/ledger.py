"""What the posting run writes: claims and outcomes, each fenced by the run's lease epoch.

Every method is one store transaction that re-reads the draft, checks that this run still
holds the lease, and compares-and-sets the version the run acted on (the claim's, or the
sweep's read). A run that lost the lease gets LeaseLost and an audit row, and changes
nothing, with one exception: a post that went out is a fact, and is recorded as posted
whatever happened to the draft meanwhile (the operator is told).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clock import Clock, show_time, window_end
from ..draft import Actor, Draft, DraftState
from ..errors import NotDue as NotDue, Paused as Paused
from ..store import Connection, EventRow, LeaseLost, Pause, Store, event_accounts

if TYPE_CHECKING:
    from ..config import Prices
    from ..plan.cost import Cost
    from ..plan.schedule import Budget

S = DraftState
DISPATCHER = "dispatcher"
# Where an event's budget comes from: given its stored row, the budget (None: no limit).
BudgetSource = Callable[[EventRow], "Budget | None"]


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

    def __init__(self, store: Store, clock: Clock, run: Run, budget_of: BudgetSource | None = None) -> None:
        self.store = store
        self.clock = clock
        self.run = run
        # The event's X budget; by default read from its schedule file, once per load (see _budget).
        self.budget_of = budget_of
        self._budgets: dict[str, tuple[tuple[str, Any], Budget | None]] = {}
        self._held: dict[int, str] = {}  # drafts the budget holds back in this run: why, for their missed reason
        self._waited: dict[int, str] = {}  # drafts waiting in this run for an earlier one on their account: which

    # --- claiming ---------------------------------------------------------------------

    def claim(self, draft_id: int, seen_version: int | None = None) -> Claim:
        """approved -> posting, committed before any network call, only if every rule holds now.

        Checked in the claiming transaction, at the moment of the claim: this run holds the
        lease, posting is not paused, the draft is approved at its current revision, due,
        inside its window, past its back-off, its parent (for a reply) is posted, no earlier post on its
        account is still on its way (unless a person sent it with post-now), and X's
        spend today stays within the event's budget (unless a person sent it with post-now).
        """
        with self._refusals(draft_id, "claim"), self.store.begin() as conn:
            self._fence(conn, draft_id, "claim")
            paused = self.store.paused(conn, lock=True)
            if paused:
                raise Paused(f"posting is paused (by {paused.by}): `livetweet resume` to go on")
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
            if now > window_end(draft.at, draft.valid_until, self.clock):
                raise NotDue(f"draft {draft.id}'s window closed")
            parent_tweet: str | None = None
            if draft.reply_to:
                parent = self.store.draft_by_slot(conn, draft.event_id, draft.reply_to, draft.account)
                if parent is None or parent.state != S.POSTED or not parent.tweet_id:
                    state = parent.state.value if parent else "gone"
                    raise NotDue(f"draft {draft.id} waits for {draft.reply_to} to be posted (it is {state})", "parent")
                parent_tweet = parent.tweet_id
            event = self.store.event(draft.event_id, conn)  # read once: the order, the budget and the key need it
            ahead = self._ahead(conn, draft, now, ZoneInfo(event.timezone if event else "UTC"))
            if ahead is not None:
                self._waited[draft.id] = f"{ahead}, due before it on the account"
                raise NotDue(
                    f"draft {draft.id} waits for {ahead}, due before it on the same account, to go out first: "
                    "an account's posts go out in their order",
                    "order",
                )
            self._waited.pop(draft.id, None)
            held = self._over_budget(conn, draft, now, event)
            if held is not None:
                self._held[draft.id] = held
                raise NotDue(f"draft {draft.id} waits for {held}", "budget")
            self._held.pop(draft.id, None)
            changes: dict[str, Any] = {"claimed_at": now, "attempts": draft.attempts + 1, "claim_epoch": self.run.epoch}
            key = self._delivery_key(event, draft)
            if key != draft.post_key:
                changes["post_key"] = key
            claimed = self.store.transition(
                conn,
                draft,
                "claim",
                actor=Actor.DISPATCHER,
                by=DISPATCHER,
                at=now,
                seen_version=seen_version,
                changes=changes,
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
        """Pending or approved, and its window closed: missed (a person may still post it now).

        A draft the budget or the account's order held back says so in its reason, which the report shows."""
        held = self._held.pop(draft_id, None)
        if held is not None:
            reason = f"{reason}; it was held back, waiting for {held}"
        waited = self._waited.pop(draft_id, None)
        if waited is not None:
            reason = f"{reason}; it last waited for {waited}"
        return self._record(draft_id, seen_version, "missed", reason, {"last_error": reason})

    def pause_for_credentials(self, reason: str) -> bool:
        """Pause posting because X refused our credentials; False if it was paused already."""
        with self._refusals(None, "pause"), self.store.begin() as conn:
            self._fence(conn, None, "pause")
            if self.store.paused(conn, lock=True):
                return False
            now = self.clock.now()
            self.store.set_paused(conn, Pause(DISPATCHER, now.isoformat(), reason, "credentials"))
            self.store.write_audit(conn, at=now, operator=DISPATCHER, action="pause", reason=reason)
            return True

    # --- idempotency keys ----------------------------------------------------------------

    def _delivery_key(self, event: EventRow | None, draft: Draft) -> str | None:
        """The key that makes a retry of this delivery the same post: on Bluesky a record key (a TID)
        chosen at the first claim and kept; on Mastodon an Idempotency-Key derived from the event,
        slot, revision, account and draft (a new revision is a new post); X has none (nor an account
        the event no longer lists)."""
        accounts = event_accounts(event) if event is not None else []
        network = next((a.network for a in accounts if a.id == draft.account), "x")
        if network == "bluesky":
            if draft.post_key is not None:
                return draft.post_key
            from ..plan.bluesky import MAX_CLOCK_ID, tid_at

            return tid_at(datetime.now(UTC), secrets.randbelow(MAX_CLOCK_ID + 1))
        if network == "mastodon":
            seed = "\x1f".join((draft.event_id, draft.slot, str(draft.revision), draft.account, str(draft.id)))
            return "livetweet-" + hashlib.sha256(seed.encode()).hexdigest()[:40]
        return None

    def _ahead(self, conn: Connection, draft: Draft, now: datetime, zone: ZoneInfo) -> str | None:
        """What `draft` waits for, due before it on its account and still on its way, or None.

        Posts on one account go out in their order: a later one waits while an earlier one is being
        posted, waits for a retry inside its window, or is due and free to go. One that cannot go
        (the budget holds it, its parent is not posted, its window has closed or its next try would
        be past it) holds nothing back, a person's post-now waits for nothing, and no post waits
        into the last third of its own window: late and out of order is better than missed."""
        closes = window_end(draft.at, draft.valid_until, self.clock)
        if now >= closes - (closes - draft.at) / 3:
            return None
        for earlier in self.store.ahead_on_account(conn, draft, now):
            why = self._on_its_way(conn, earlier, now, zone)
            if why is not None:
                return (
                    None
                    if sent_by_a_person(self.store, conn, draft.id)
                    else f"{earlier.slot} (draft {earlier.id}, {why})"
                )
        return None

    def _on_its_way(self, conn: Connection, draft: Draft, now: datetime, zone: ZoneInfo) -> str | None:
        """How an earlier delivery is still on its way (being posted, trying again at..., due now), or None."""
        closes = window_end(draft.at, draft.valid_until, self.clock)
        if now > closes:
            return None  # never sent again: the sweep settles it (found, or missed)
        if draft.state == S.POSTING:
            return "being posted"
        retry_at = draft.next_attempt_at
        if draft.id in self._held or (retry_at is not None and retry_at > closes):
            return None
        if draft.reply_to:
            parent = self.store.draft_by_slot(conn, draft.event_id, draft.reply_to, draft.account)
            if parent is None or parent.state != S.POSTED:
                return None
        if retry_at is not None and retry_at > now:
            return f"trying again at {show_time(retry_at, zone)}"
        return "due now"

    # --- the budget -------------------------------------------------------------------

    def _over_budget(self, conn: Connection, draft: Draft, now: datetime, event: EventRow | None) -> str | None:
        """Why X's spend today would pass the event's budget with this post (None: it would not, or a
        person sent it with post-now). Read in the claim's transaction, so claims in flight count."""
        budget = self._budget(event) if event is not None else None
        if event is None or budget is None:
            return None
        on_x = {a.id for a in event_accounts(event) if a.network == "x"}
        if draft.account not in on_x:
            return None  # the budget is X's spend: Bluesky and Mastodon charge nothing
        from ..plan.cost import cost_of_posts
        from ..plan.schedule import budget_day

        zone = ZoneInfo(event.timezone)
        today = budget_day(now, zone)
        this = cost_of_posts([draft.text], len(draft.media))
        # The posts of this event that went out today, and those in flight (X may bill them).
        # Wanted from the store: one query of the posted and posting drafts of an event with
        # posted_at (or claimed_at) in a span, instead of every posted draft read here.
        gone = [
            d
            for d in self.store.drafts(event_id=draft.event_id, states=[S.POSTED, S.POSTING], conn=conn)
            if d.id != draft.id and d.account in on_x and budget_day(d.posted_at or d.claimed_at or now, zone) == today
        ]
        spent = spent_cost(gone)
        if budget.allows(spent.total + this.total) or sent_by_a_person(self.store, conn, draft.id):
            return None
        return (
            f"the X budget: ${spent.total:.3f} spent on {today:%A %Y-%m-%d} and this post's ${this.total:.3f} "
            f"would pass budget.x_usd_per_day (${budget.x_usd_per_day:.2f}); `livetweet post-now {draft.id}` "
            "sends it anyway, or raise the budget in the schedule and load it again"
        )

    def _budget(self, event: EventRow) -> Budget | None:
        """The event's budget: from `budget_of`, else as the store kept it at load (schema 5), else from
        its schedule file (a store loaded before the budget was kept), read again only after a load."""
        if self.budget_of is not None:
            return self.budget_of(event)
        if event.x_usd_per_day is not None:
            from ..plan.schedule import Budget

            return Budget(float(event.x_usd_per_day), 0)
        key = (event.schedule_path, event.loaded_at)
        known = self._budgets.get(event.id)
        if known is None or known[0] != key:
            from pathlib import Path

            from ..plan.schedule import read_budget

            known = (key, read_budget(Path(key[0])))
            self._budgets[event.id] = known
        return known[1]

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


def spent_cost(drafts: Iterable[Draft], prices: Prices | None = None) -> Cost:
    """What these drafts cost on X as posted: each post (with a link or not) and its images' alt texts."""
    from ..plan.cost import cost_of_posts

    chosen = list(drafts)
    return cost_of_posts((d.text for d in chosen), sum(len(d.media) for d in chosen), prices)


def sent_by_a_person(store: Store, conn: Connection | None, draft_id: int) -> bool:
    """Did a person send this draft with post-now (its last approval), so that the budget does not hold it?

    The posting run's own moves since (claim, retry...) do not undo it; an approval after it does."""
    for entry in reversed(store.audit(draft_id, conn)):
        if entry.action == "post-now":
            return True
        if entry.action == "approve":
            return False
    return False
