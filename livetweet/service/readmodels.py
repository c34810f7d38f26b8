"""What the console shows, read in one place: the control room's board, the queue's filters, the alarms.

The console renders these and nothing else of the store, so that what "needs a person now"
means, or which drafts "upcoming" holds, is decided once, here, for every page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..draft import Actor, Draft, DraftState, actions_for
from ..store import shift_for

if TYPE_CHECKING:
    from ..inbox import Message
    from .facade import Service

S = DraftState
SOON = timedelta(minutes=5)  # a draft due this soon and not approved needs a person now
UPCOMING = (S.PENDING, S.APPROVED, S.POSTING)
FILTERS: dict[str, tuple[str, tuple[DraftState, ...] | None]] = {
    "upcoming": ("Upcoming", UPCOMING),
    "approval": ("Needs approval", (S.PENDING,)),
    "posted": ("Posted", (S.POSTED,)),
    "problems": ("Missed or failed", (S.MISSED, S.FAILED)),
    "rejected": ("Rejected or withdrawn", (S.REJECTED, S.WITHDRAWN)),
    "all": ("All", None),
}
DEFAULT_FILTER = "upcoming"


@dataclass(frozen=True)
class Alarm:
    """Something that needs a person now, said in a line, with where to act on it."""

    kind: str  # "due" (soon and not approved), "failed", "missed", "dm"
    text: str
    href: str
    at: datetime | None = None


@dataclass(frozen=True)
class Band:
    """A segment on the timeline: when it was planned and when it runs after the shifts."""

    id: str
    title: str
    planned_start: datetime
    planned_end: datetime
    start: datetime
    end: datetime
    hashtags: tuple[str, ...]


@dataclass(frozen=True)
class Timeline:
    """The event drawn from its first to its last moment: segments as bands, posts as marks."""

    starts: datetime
    ends: datetime
    bands: list[Band]
    marks: list[Draft]

    def percent(self, when: datetime) -> float:
        """Where `when` lies along the timeline, 0 to 100 (clamped)."""
        span = (self.ends - self.starts).total_seconds() or 1.0
        return round(min(max((when - self.starts).total_seconds() / span * 100, 0.0), 100.0), 2)


@dataclass(frozen=True)
class Board:
    """The control room at one moment: the segment running, the next post, the timeline, the alarms."""

    now: datetime
    segment: Band | None
    next_post: Draft | None
    upcoming: list[Draft]
    timeline: Timeline
    alarms: list[Alarm]
    parents: dict[str, Draft] = field(default_factory=dict)


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue under a filter and a search, replies placed under their parents."""

    filter: str
    query: str
    drafts: list[Draft]
    total: int
    page: int
    pages: int
    first_upcoming: int | None  # the draft "jump to now" leads to


def bands(service: Service, event_id: str) -> list[Band]:
    """The event's segments with the operators' shifts applied."""
    store = service.store
    shifts = store.shifts(event_id)
    out = []
    for s in store.segments(event_id):
        moved = shift_for(shifts, s["planned_start"])
        out.append(
            Band(
                id=s["id"],
                title=s["title"],
                planned_start=s["planned_start"],
                planned_end=s["planned_end"],
                start=s["planned_start"] + moved,
                end=s["planned_end"] + moved,
                hashtags=tuple(json.loads(s["hashtags"])),
            )
        )
    return out


def alarms(service: Service, event_id: str, now: datetime, drafts: list[Draft] | None = None) -> list[Alarm]:
    """What needs a person now: due soon and not approved, failed, missed, new messages."""
    if drafts is None:
        drafts = service.store.drafts(event_id=event_id, states=[S.PENDING, S.FAILED, S.MISSED])
    found: list[Alarm] = []
    for d in sorted(drafts, key=lambda d: d.at):
        if d.state is S.PENDING and d.at <= now + SOON and d.valid_until > now:
            found.append(Alarm("due", f"{d.slot} is due and not approved", f"/queue?show=approval#draft-{d.id}", d.at))
        elif d.state is S.FAILED:
            found.append(Alarm("failed", f"{d.slot} failed: {d.last_error or 'X refused it'}", _problem(d), d.at))
        elif d.state is S.MISSED and d.valid_until > now - timedelta(minutes=30):
            found.append(Alarm("missed", f"{d.slot} was missed: its time passed", _problem(d), d.at))
    new = [m for m in service.store.messages() if m.state == "new"]
    if new:
        who = ", ".join(sorted({"@" + m.sender for m in new})[:3])
        word = "message" if len(new) == 1 else "messages"
        found.append(Alarm("dm", f"{len(new)} new direct {word} ({who})", "/inbox", new[-1].received_at))
    return found


def _problem(d: Draft) -> str:
    return f"/queue?show=problems#draft-{d.id}"


def board(service: Service, event_id: str, now: datetime) -> Board:
    """The Now page: what runs, what goes out next, what is on the timeline, what needs a person."""
    store = service.store
    event = store.event(event_id)
    segs = bands(service, event_id)
    drafts = store.drafts(event_id=event_id)
    shown = [d for d in drafts if d.state is not S.WITHDRAWN]
    running = [b for b in segs if b.start <= now]
    starts = min([b.start for b in segs] + ([event["starts_at"]] if event else []) + [d.at for d in shown[:1]])
    ends = max([b.end for b in segs] + ([event["ends_at"]] if event else []))
    upcoming = sorted((d for d in shown if d.state in UPCOMING), key=lambda d: d.at)
    next_post = next((d for d in upcoming if d.state in (S.APPROVED, S.POSTING)), None) or next(iter(upcoming), None)
    by_slot = {d.slot: d for d in drafts}
    parents = {d.slot: by_slot[d.reply_to] for d in upcoming[:8] if d.reply_to and d.reply_to in by_slot}
    return Board(
        now=now,
        segment=running[-1] if running else None,
        next_post=next_post,
        upcoming=upcoming[:8],
        timeline=Timeline(starts, max(ends, starts + timedelta(minutes=1)), segs, shown),
        alarms=alarms(service, event_id, now, [d for d in drafts if d.state in (S.PENDING, S.FAILED, S.MISSED)]),
        parents=parents,
    )


def queue(service: Service, event_id: str, show: str, query: str, page: int, size: int) -> QueuePage:
    """The queue's drafts under a filter and a text search, a page at a time, replies under parents."""
    show = show if show in FILTERS else DEFAULT_FILTER
    states = FILTERS[show][1]
    drafts = service.store.drafts(event_id=event_id, states=list(states) if states else None)
    needle = query.casefold().strip()
    if needle:
        drafts = [d for d in drafts if needle in d.text.casefold() or needle in d.slot.casefold()]
    ordered = threaded(drafts)
    total = len(ordered)
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    now = service.clock.now()
    first = next((d.id for d in ordered if d.state in UPCOMING and d.valid_until > now), None)
    return QueuePage(show, query, ordered[(page - 1) * size : page * size], total, page, pages, first)


def threaded(drafts: list[Draft]) -> list[Draft]:
    """Drafts by time, each reply right after the post it answers (when that is in the list)."""
    ordered = sorted(drafts, key=lambda d: (d.at, d.id))
    slots = {d.slot for d in ordered}
    children: dict[str, list[Draft]] = {}
    for d in ordered:
        if d.reply_to and d.reply_to in slots and d.reply_to != d.slot:
            children.setdefault(d.reply_to, []).append(d)
    placed: set[int] = set()
    out: list[Draft] = []

    def put(d: Draft, depth: int = 0) -> None:
        if d.id in placed or depth > 50:
            return
        placed.add(d.id)
        out.append(d)
        for child in children.get(d.slot, []):
            put(child, depth + 1)

    for d in ordered:
        if not (d.reply_to and d.reply_to in slots and d.reply_to != d.slot):
            put(d)
    for d in ordered:  # replies in a loop of replies: still shown
        put(d)
    return out


def operator_actions(draft: Draft) -> frozenset[str]:
    """The buttons a draft's card offers: the table's actions for a person from its state."""
    return actions_for(draft.state, Actor.OPERATOR)


def reply_targets(service: Service, event_id: str) -> list[Draft]:
    """Posts a composed reply may answer: posted or still planned, by time."""
    wanted = [S.POSTED, S.APPROVED, S.PENDING, S.POSTING]
    return sorted(service.store.drafts(event_id=event_id, states=wanted), key=lambda d: d.at)


def messages(service: Service, include_all: bool) -> list[Message]:
    """The inbox: new messages, or all of them."""
    return service.store.messages(include_all)


def as_dict(value: Any) -> Any:
    """A read model as JSON-ready data (the console's status stream sends alarms so)."""
    if isinstance(value, Alarm):
        at = value.at.isoformat() if value.at else None
        return {"kind": value.kind, "text": value.text, "href": value.href, "at": at}
    return value
