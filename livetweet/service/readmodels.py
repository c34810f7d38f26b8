"""What the console shows, read in one place: the control room's board, the queue's filters, the alarms.

The console renders these and nothing else of the store, so that what "needs a person now"
means, or which drafts "upcoming" holds, is decided once, here, for every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..draft import DEFAULT_ACCOUNT, Actor, Draft, DraftState, actions_for
from ..store import SegmentRow, shift_for

if TYPE_CHECKING:
    from ..inbox import Message
    from ..store import AuditEntry
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

    @property
    def moved(self) -> timedelta:
        """How far the shifts moved it."""
        return self.start - self.planned_start


@dataclass(frozen=True)
class Mark:
    """Posts at one place of the timeline in one state (one mark, however many posts)."""

    at: datetime
    state: DraftState
    count: int


@dataclass(frozen=True)
class Timeline:
    """The event drawn from its first to its last moment: segments as bands, posts as marks."""

    starts: datetime
    ends: datetime
    bands: list[Band]
    marks: list[Mark]

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
    return banded(service.store.segments(event_id), service.store.shifts(event_id))


def banded(segments: Sequence[SegmentRow], shifts: list[tuple[datetime | None, int]]) -> list[Band]:
    """Segment rows as bands, each moved by the shifts that apply to it (the console's and the report's)."""
    out = []
    for s in segments:
        moved = shift_for(shifts, s.planned_start)
        out.append(
            Band(
                id=s.id,
                title=s.title,
                planned_start=s.planned_start,
                planned_end=s.planned_end,
                start=s.planned_start + moved,
                end=s.planned_end + moved,
                hashtags=s.hashtags,
            )
        )
    return out


def alarms(service: Service, event_id: str, now: datetime) -> list[Alarm]:
    """What needs a person now: due soon and not approved, failed, missed, new messages."""
    store = service.store
    found: list[Alarm] = []
    due: dict[str, list[Draft]] = {}  # a slot waiting on several accounts is one alarm, naming them
    for d in store.drafts(event_id=event_id, states=[S.PENDING], due_before=now + SOON, open_after=now, limit=60):
        due.setdefault(d.slot, []).append(d)
    for slot, waiting in list(due.items())[:20]:
        first = waiting[0]
        where = ""
        if len(waiting) > 1 or first.account != DEFAULT_ACCOUNT:
            where = " on " + ", ".join(d.account for d in waiting)
        link = f"/queue?show=approval#draft-{first.id}"
        found.append(Alarm("due", f"{slot} is due and not approved{where}", link, first.at))
    for d in store.drafts(event_id=event_id, states=[S.FAILED], limit=20):
        found.append(
            Alarm("failed", f"{_named(d)} failed: {d.last_error or 'the network refused it'}", _problem(d), d.at)
        )
    recently = now - timedelta(minutes=30)
    for d in store.drafts(event_id=event_id, states=[S.MISSED], open_after=recently, limit=20):
        found.append(Alarm("missed", f"{_named(d)} was missed: its time passed", _problem(d), d.at))
    new = store.messages()
    if new:
        who = ", ".join(sorted({"@" + m.sender for m in new})[:3])
        word = "message" if len(new) == 1 else "messages"
        found.append(Alarm("dm", f"{len(new)} new direct {word} ({who})", "/inbox", new[-1].received_at))
    return found


def _named(d: Draft) -> str:
    """A delivery as an alarm names it: its slot, and its account when it is not the X account."""
    return d.slot if d.account == DEFAULT_ACCOUNT else f"{d.slot} on {d.account}"


def _problem(d: Draft) -> str:
    return f"/queue?show=problems#draft-{d.id}"


def board(service: Service, event_id: str, now: datetime, alarms_now: list[Alarm] | None = None) -> Board:
    """The Now page: what runs, what goes out next, what is on the timeline, what needs a person."""
    store = service.store
    event = store.event(event_id)
    segs = bands(service, event_id)
    running = [b for b in segs if b.start <= now]
    upcoming = store.drafts(event_id=event_id, states=list(UPCOMING), limit=8)
    next_post = next(iter(store.drafts(event_id=event_id, states=[S.APPROVED, S.POSTING], limit=1)), None)
    next_post = next_post or next(iter(upcoming), None)
    times = [(at, state) for at, state in store.draft_times(event_id) if state is not S.WITHDRAWN]
    first = [min(t for t, _ in times)] if times else []
    starts = min([b.start for b in segs] + ([event.starts_at] if event else []) + first)
    ends = max([b.end for b in segs] + ([event.ends_at] if event else []) + [starts + timedelta(minutes=1)])
    timeline = Timeline(starts, ends, segs, [])  # to place the marks
    parents: dict[str, Draft] = {}
    for d in upcoming:
        parent = store.draft_by_slot(None, event_id, d.reply_to) if d.reply_to else None
        if parent is not None:
            parents[d.slot] = parent
    return Board(
        now=now,
        segment=running[-1] if running else None,
        next_post=next_post,
        upcoming=upcoming,
        timeline=Timeline(starts, ends, segs, _marks(timeline, times)),
        alarms=alarms(service, event_id, now) if alarms_now is None else alarms_now,
        parents=parents,
    )


def _marks(timeline: Timeline, times: Sequence[tuple[datetime, DraftState]], bins: int = 250) -> list[Mark]:
    """Posts on the timeline, one mark per state and place: 10,000 posts draw as a few hundred marks."""
    counts: dict[tuple[int, DraftState], tuple[datetime, int]] = {}
    for at, state in times:
        key = (round(timeline.percent(at) / 100 * bins), state)
        first, n = counts.get(key, (at, 0))
        counts[key] = (min(first, at), n + 1)
    return [Mark(at, state, n) for (_, state), (at, n) in sorted(counts.items(), key=lambda kv: kv[1][0])]


def queue(service: Service, event_id: str, show: str, query: str, page: int, size: int) -> QueuePage:
    """The queue's drafts under a filter and a text search, a page at a time, replies under parents."""
    show = show if show in FILTERS else DEFAULT_FILTER
    states = FILTERS[show][1]
    wanted = list(states) if states else None
    needle = " ".join(query.split())[:200] or None
    store = service.store
    total = store.count_drafts(event_id=event_id, states=wanted, containing=needle)
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    drafts = store.drafts(event_id=event_id, states=wanted, containing=needle, limit=size, offset=(page - 1) * size)
    now = service.clock.now()
    ahead = [s for s in (states or UPCOMING) if s in UPCOMING]
    first = store.drafts(event_id=event_id, states=ahead, containing=needle, open_after=now, limit=1) if ahead else []
    return QueuePage(show, query, threaded(drafts), total, page, pages, first[0].id if first else None)


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


def posted(service: Service, event_id: str) -> list[tuple[Draft, float | None]]:
    """What went out, in the order it went, each with its lag behind its time (seconds)."""
    drafts = service.store.drafts(event_id=event_id, states=[S.POSTED])
    return [
        (d, (d.posted_at - d.at).total_seconds() if d.posted_at else None)
        for d in sorted(drafts, key=lambda d: d.posted_at or d.at)
    ]


def history(service: Service, event_id: str, query: str, limit: int = 500) -> list[tuple[AuditEntry, str]]:
    """The audit trail, newest first, each entry with its draft's slot; filtered by words."""
    slots = {d.id: d.slot for d in service.store.drafts(event_id=event_id)}
    rows = [(e, slots.get(e.draft_id or 0, "")) for e in reversed(service.store.audit())]
    needle = query.casefold().strip()
    if needle:
        rows = [
            (e, slot)
            for e, slot in rows
            if needle
            in " ".join(str(x) for x in (e.operator, e.action, e.to_state, e.reason, slot, e.draft_id)).casefold()
        ]
    return rows[:limit]


def messages(service: Service, include_all: bool) -> list[Message]:
    """The inbox: new messages, or all of them."""
    return service.store.messages(include_all)


def as_dict(value: Any) -> Any:
    """A read model as JSON-ready data (the console's status stream sends alarms so)."""
    if isinstance(value, Alarm):
        at = value.at.isoformat() if value.at else None
        return {"kind": value.kind, "text": value.text, "href": value.href, "at": at}
    return value
