"""A draft's life: the states it can be in and the moves between them.

Every change of state goes through `store.Store.transition`, which asks `check_move`
first; no other code writes a draft's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .errors import LivetweetError


class DraftState(StrEnum):
    """Where a draft is in its life."""

    PENDING = "pending"  # waiting for a person to approve it
    APPROVED = "approved"  # will be posted at its time
    POSTING = "posting"  # claimed: the call to X is under way (or its outcome unknown)
    POSTED = "posted"  # on X, with its tweet id
    REJECTED = "rejected"  # a person said no
    MISSED = "missed"  # its window passed before it could go out
    FAILED = "failed"  # X refused it for good
    WITHDRAWN = "withdrawn"  # its slot left the schedule


S = DraftState

# to-state -> the states it may be reached from.
MOVES: dict[DraftState, frozenset[DraftState]] = {
    S.PENDING: frozenset({S.PENDING, S.APPROVED, S.REJECTED, S.MISSED, S.FAILED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.PENDING, S.APPROVED, S.POSTING, S.MISSED, S.FAILED}),
    S.POSTING: frozenset({S.APPROVED, S.POSTING}),  # posting -> posting: outcome still unknown
    S.POSTED: frozenset({S.POSTING}),
    S.REJECTED: frozenset({S.PENDING, S.APPROVED, S.MISSED, S.FAILED}),
    S.MISSED: frozenset({S.APPROVED, S.POSTING, S.PENDING}),
    S.FAILED: frozenset({S.POSTING}),
    S.WITHDRAWN: frozenset({S.PENDING, S.APPROVED, S.REJECTED, S.MISSED, S.FAILED}),
}

FINAL = frozenset({S.POSTED, S.REJECTED, S.FAILED, S.WITHDRAWN, S.MISSED})
EDITABLE = frozenset({S.PENDING, S.APPROVED, S.REJECTED, S.MISSED, S.FAILED})

_VERB = {
    S.PENDING: "returned to pending",
    S.APPROVED: "approved",  # approved -> approved: moved in time (shift, post-now)
    S.POSTING: "claimed for posting",
    S.POSTED: "marked posted",
    S.REJECTED: "rejected",
    S.MISSED: "marked missed",
    S.FAILED: "marked failed",
    S.WITHDRAWN: "withdrawn",
}


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


def is_legal(current: DraftState, to: DraftState) -> bool:
    return current in MOVES[to]


def check_move(draft_id: int, current: DraftState, to: DraftState) -> None:
    """Raise IllegalMove with a sentence for people when `current -> to` is not allowed."""
    if not is_legal(current, to):
        raise IllegalMove(f"draft {draft_id} is {current.value}: it cannot be {_VERB[to]}")


@dataclass(frozen=True)
class Draft:
    """A row of the drafts table, as the service layer sees it."""

    id: int
    event_id: str
    slot: str
    segment: str
    source: str
    state: DraftState
    revision: int
    text: str
    weighted_length: int
    hashtags: tuple[str, ...]
    wanted_hashtags: tuple[str, ...]
    at: datetime
    valid_until: datetime
    reply_to: str | None
    approved_revision: int | None
    approved_by: str | None
    approved_at: datetime | None
    tweet_id: str | None
    posted_at: datetime | None
    version: int
    updated_at: datetime
    planned_text: str
    template: str
    planned_at: datetime
    claimed_at: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
