"""A draft's life: the states it can be in and the moves between them.

Every change of state is an action of the table below, taken through
`store.Store.transition`, which checks it (from-state, actor) and compares-and-sets the
version the caller saw; no other code writes a draft's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .errors import (
    Conflict as Conflict,
    DraftError as DraftError,
    IllegalMove as IllegalMove,
    NotAllowed as NotAllowed,
    StaleRevision as StaleRevision,
    UnknownDraft as UnknownDraft,
)

MODES = ("approval", "auto", "dry-run")  # how a run treats drafts: approved by people, by itself, or not sent


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


class Actor(StrEnum):
    """Who may take an action: a person, the posting run, or the schedule (load, auto mode)."""

    OPERATOR = "operator"
    DISPATCHER = "dispatcher"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class Action:
    """One thing that can happen to a draft: where it may start, where it leads, who may do it.

    `leads_to` None means the draft stays in the state it is in (a shift, a reload, a note).
    """

    name: str
    starts: frozenset[DraftState]
    leads_to: DraftState | None
    actors: frozenset[Actor]
    verb: str

    def target(self, current: DraftState) -> DraftState:
        return current if self.leads_to is None else self.leads_to


OP, D, SCH = Actor.OPERATOR, Actor.DISPATCHER, Actor.SCHEDULE
_KEPT = frozenset({S.PENDING, S.APPROVED, S.REJECTED, S.MISSED, S.FAILED})  # not posted, not in flight


def _a(name: str, starts: set[DraftState], to: DraftState | None, actors: set[Actor], verb: str) -> Action:
    return Action(name, frozenset(starts), to, frozenset(actors), verb)


# The table of actions: the only moves a draft can make, each checked with the actor in one
# transaction (Store.transition). No action inherits another's rights: an operator's approve
# can never start from posting, and the dispatcher never leaves missed, failed, rejected or posted.
ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        # people
        _a("approve", {S.PENDING, S.FAILED}, S.APPROVED, {OP, SCH}, "approved"),
        _a("unapprove", {S.APPROVED}, S.PENDING, {OP}, "held (unapproved)"),
        _a("reject", {S.PENDING, S.APPROVED, S.MISSED, S.FAILED}, S.REJECTED, {OP}, "rejected"),
        _a("edit", set(_KEPT), S.PENDING, {OP}, "edited"),
        _a("post-now", {S.APPROVED, S.MISSED, S.FAILED}, S.APPROVED, {OP}, "posted now"),
        # A reply the network refused (X's reply restriction): sent again now, answering nothing.
        _a("standalone", {S.FAILED, S.MISSED}, S.APPROVED, {OP}, "sent as a standalone post"),
        # Undo, while it is still possible: a post-now or compose-now inside its hold, a rejection.
        _a("cancel", {S.APPROVED}, S.PENDING, {OP}, "called back"),
        _a("unreject", {S.REJECTED}, S.PENDING, {OP}, "brought back"),
        _a("shift", {S.PENDING, S.APPROVED}, None, {OP}, "moved in time"),
        _a("cue", {S.PENDING, S.APPROVED}, None, {OP}, "moved in time"),
        # the posting run
        _a("claim", {S.APPROVED}, S.POSTING, {D}, "claimed for posting"),
        _a("posted", {S.POSTING}, S.POSTED, {D}, "marked posted"),
        _a("reconciled", {S.POSTING}, S.POSTED, {D}, "marked posted"),
        # A post that went out is posted, whatever happened to the draft while it was in flight.
        _a("posted-anyway", set(_KEPT) | {S.WITHDRAWN, S.POSTING}, S.POSTED, {D}, "marked posted"),
        _a("retry", {S.POSTING}, S.APPROVED, {D}, "returned for another try"),
        _a("halt", {S.POSTING}, S.APPROVED, {D}, "returned (credentials refused)"),
        _a("unknown", {S.POSTING}, None, {D}, "noted as unknown"),
        _a("failed", {S.POSTING}, S.FAILED, {D}, "marked failed"),
        _a("missed", {S.PENDING, S.APPROVED}, S.MISSED, {D}, "marked missed"),
        _a("expired", {S.POSTING}, S.MISSED, {D}, "marked missed"),  # known not posted, window closed
        # the schedule
        _a("withdraw", set(_KEPT), S.WITHDRAWN, {SCH}, "withdrawn"),
        _a("restore", {S.WITHDRAWN}, S.PENDING, {SCH}, "restored"),
        _a("reload", {S.PENDING}, S.PENDING, {SCH}, "given the schedule's new text"),
        _a("reschedule", {S.PENDING}, S.PENDING, {SCH}, "moved by the schedule"),
    )
}

FINAL = frozenset({S.POSTED, S.REJECTED, S.FAILED, S.WITHDRAWN, S.MISSED})
EDITABLE = ACTIONS["edit"].starts


def action(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        raise ValueError(f"unknown action {name!r}") from None


def check_action(draft_id: int, current: DraftState, name: str, actor: Actor) -> DraftState:
    """The state `name` leads to from `current` for `actor`, or IllegalMove/NotAllowed with a sentence."""
    act = action(name)
    if actor not in act.actors:
        raise NotAllowed(f"{name} is not an action a {actor.value} may take (draft {draft_id})")
    if current not in act.starts:
        raise IllegalMove(f"draft {draft_id} is {current.value}: it cannot be {act.verb} ({name})")
    return act.target(current)


def actions_for(state: DraftState, actor: Actor = Actor.OPERATOR) -> frozenset[str]:
    """The actions `actor` may take on a draft in `state`: the console's buttons ask this."""
    return frozenset(a.name for a in ACTIONS.values() if actor in a.actors and state in a.starts)


@dataclass(frozen=True)
class Attachment:
    """An image a post carries: its bytes live in the store's media table under `sha256`.

    The bytes are the re-encoded image (metadata removed), never the original file.
    """

    sha256: str
    alt: str  # required before the draft can be approved (X allows 1,000 characters)
    kind: str  # MIME type: image/jpeg, image/png, image/webp, image/gif
    width: int
    height: int
    size: int  # bytes
    name: str = ""  # where it came from (the schedule's file, the uploaded file's name), for people

    def as_json(self) -> dict[str, object]:
        return {
            "sha256": self.sha256, "alt": self.alt, "kind": self.kind, "width": self.width,
            "height": self.height, "size": self.size, "name": self.name,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Attachment:
        return cls(
            sha256=str(data["sha256"]), alt=str(data.get("alt") or ""), kind=str(data["kind"]),
            width=int(str(data["width"])), height=int(str(data["height"])), size=int(str(data["size"])),
            name=str(data.get("name") or ""),
        )  # fmt: skip


DEFAULT_ACCOUNT = "x"  # the account id of an event that lists none: its X account
LIMITS = {"x": 280, "bluesky": 300, "mastodon": 500}  # each network's post length (Mastodon: its default)


def length_limit(network: str, max_chars: int | None = None) -> int:
    """How long a post may be on a network (by its own count: X's weights, Bluesky's graphemes...)."""
    return max_chars or LIMITS.get(network, 280)


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
    claim_epoch: int | None = None
    media: tuple[Attachment, ...] = ()
    account: str = DEFAULT_ACCOUNT  # the account this delivery of its slot posts to (the schedule's account id)
    post_key: str | None = None  # its idempotency key on Bluesky and Mastodon, kept from its first claim
