"""The event's report, as read models: what happened, computed by one pure function from store reads.

`read_report_data` reads the store once per table (event, segments, drafts, audit, revisions,
shifts, messages); `compute_report` turns that into every figure the report shows, and does
nothing else, so that a test can read the same rows and redo each number. Rendering (HTML,
the chart, PDF, CSV) lives in `livetweet.report` and adds no figure of its own.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..config import Prices
from ..draft import Draft, DraftState
from ..plan.cost import Cost, cost_of_posts, has_link
from .readmodels import Band, banded

if TYPE_CHECKING:
    from ..inbox import Message
    from ..plan.schedule import Budget, Schedule
    from ..store import AuditEntry, EventRow, Revision, SegmentRow, ShiftEntry, Store

S = DraftState
NETWORKS = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon"}  # as the report names them
ON_TIME = timedelta(minutes=1)  # a post this close to its time is on time
MARK_REACH = timedelta(hours=2)  # a shift or pause made this long before or after the event is still drawn
APPROVALS = ("approve", "post-now")  # the audited actions by which a person lets a draft go out


@dataclass(frozen=True)
class ReportData:
    """What the report is computed from: the store's rows for one event, as read."""

    event: EventRow
    segments: list[SegmentRow]
    drafts: list[Draft]
    audit: list[AuditEntry]
    revisions: list[Revision]
    shifts: list[ShiftEntry]
    messages: list[Message]
    budget: Budget | None = None  # the event's X budget, from its schedule (the store does not keep it yet)


@dataclass(frozen=True)
class PostMetrics:
    """A post's public metrics, as X reports them."""

    impressions: int = 0
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    bookmarks: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "impressions": self.impressions, "likes": self.likes, "reposts": self.reposts,
            "replies": self.replies, "quotes": self.quotes, "bookmarks": self.bookmarks,
        }  # fmt: skip


METRIC_NAMES = ("impressions", "likes", "reposts", "replies", "quotes", "bookmarks")


SegmentBand = Band  # a segment as planned and as it ran: the console's band, one type for both


@dataclass(frozen=True)
class PostRow:
    """One draft of the event, with its times, its approval and what became of it."""

    id: int
    slot: str
    segment: str
    source: str  # schedule, dm, compose
    state: DraftState
    text: str
    hashtags: tuple[str, ...]
    planned_at: datetime  # the schedule's time
    due_at: datetime  # after the shifts (and a post-now)
    posted_at: datetime | None
    lag_seconds: float | None  # posted_at - due_at
    approved_by: str | None
    approved_at: datetime | None
    waited_seconds: float | None  # from its approved revision's creation to its approval
    reason: str | None  # why it was missed or failed
    tweet_id: str | None
    has_link: bool
    images: int
    metrics: PostMetrics | None = None


@dataclass(frozen=True)
class ShiftMark:
    """A shift or a cue: when a person made it, by how much, from which planned time."""

    at: datetime
    by: str
    seconds: int
    from_planned: datetime | None
    kind: str  # shift, cue
    moved: int  # posts it moved
    segment: str | None  # the segment it starts from (a cue's segment), if any


@dataclass(frozen=True)
class PauseMark:
    """Posting paused or resumed, by whom and when."""

    at: datetime
    by: str
    kind: str  # pause, resume
    reason: str | None


@dataclass(frozen=True)
class LagStats:
    """How late the posts that went out were, behind the time they were due."""

    posted: int
    on_time: int  # within ON_TIME
    mean_seconds: float | None
    median_seconds: float | None
    max_seconds: float | None


@dataclass(frozen=True)
class Approver:
    """One person (or `auto`): how many approvals, and how long the drafts had waited for them."""

    name: str
    approvals: int
    median_wait_seconds: float | None
    max_wait_seconds: float | None


@dataclass(frozen=True)
class TagCoverage:
    """How many of the posts that went out in a segment carry one of its hashtags."""

    segment: str
    hashtag: str
    objective: str | None  # the objective it stands for, when the schedule says
    carried: int
    posted: int


@dataclass(frozen=True)
class ObjectiveCoverage:
    """How many of the posts that should carry an objective's hashtag (those of the segments covering it) do."""

    objective: str
    hashtag: str
    carried: int
    posted: int


@dataclass(frozen=True)
class MessageRow:
    """A direct message received, and what became of it."""

    id: int
    sender: str
    received_at: datetime
    state: str  # new, reshared, dismissed
    draft_id: int | None
    draft_state: DraftState | None  # the reshare's draft, if any


@dataclass(frozen=True)
class AccountRow:
    """Posts per network and account: planned and gone out."""

    network: str
    account: str
    planned: int
    posted: int


@dataclass(frozen=True)
class DayCost:
    """One day of the event (in its zone, as the budget counts days): the plan's cost on X, what was spent, the budget.

    Both count posts and their images' alt texts, as the budget does; reads are in the totals only."""

    day: date
    planned: Cost  # the schedule's posts planned for that day (not withdrawn)
    spent: Cost  # the posts that went out that day
    budget: Budget | None

    @property
    def budget_usd(self) -> float | None:
        return self.budget.x_usd_per_day if self.budget is not None else None

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and not self.budget.allows(self.spent.total)

    @property
    def plan_over_budget(self) -> bool:
        return self.budget is not None and not self.budget.allows(self.planned.total)


@dataclass(frozen=True)
class EventReport:
    """Every figure of the report, computed from one ReportData (and X's metrics, when read)."""

    event_id: str
    title: str
    account: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    first: datetime  # the chart's span
    last: datetime
    bands: list[SegmentBand]
    posts: list[PostRow]
    shifts: list[ShiftMark]
    pauses: list[PauseMark]
    counts: dict[str, int]  # drafts by state, and "planned"
    lag: LagStats
    approvers: list[Approver]
    coverage: list[TagCoverage]
    objective_coverage: list[ObjectiveCoverage]
    messages: list[MessageRow]
    accounts: list[AccountRow]
    planned_cost: Cost
    spent_cost: Cost
    metrics_read: bool = False
    metrics_totals: dict[str, int] = field(default_factory=dict)
    days: list[DayCost] = field(default_factory=list)  # spent vs planned, per day
    budget: Budget | None = None

    @property
    def missed(self) -> list[PostRow]:
        return [p for p in self.posts if p.state is S.MISSED]

    @property
    def failed(self) -> list[PostRow]:
        return [p for p in self.posts if p.state is S.FAILED]

    @property
    def posted(self) -> list[PostRow]:
        return [p for p in self.posts if p.state is S.POSTED]


def read_report_data(store: Store, event_id: str) -> ReportData:
    """The store's rows the report is computed from, each table read once."""
    event = store.event(event_id)
    if event is None:
        from ..errors import EventError

        raise EventError(f'there is no event "{event_id}" in {store.display}')
    return ReportData(
        event=event,
        segments=store.segments(event_id),
        drafts=store.drafts(event_id=event_id),
        audit=store.event_audit(event_id),
        revisions=store.event_revisions(event_id),
        shifts=store.shift_log(event_id),
        messages=store.messages(include_all=True),
        budget=budget_of(event.schedule_path, event.x_usd_per_day),
    )


def compute_report(
    data: ReportData,
    prices: Prices,
    metrics: Mapping[str, PostMetrics] | None = None,
    objectives: Mapping[str, str] | None = None,
) -> EventReport:
    """Every figure of the report from the store's rows; reads nothing, writes nothing.

    `metrics`: X's public metrics by tweet id (None: not read). `objectives`: the objective a
    hashtag stands for (lower-case hashtag -> "objective 5: ..."), when the schedule is at hand.
    """
    event = data.event
    drafts = [d for d in data.drafts if d.state is not S.WITHDRAWN]
    created = {(r.draft_id, r.revision): r.created_at for r in data.revisions}
    ordered = sorted(drafts, key=lambda d: (d.at, d.id))
    posts = [_post_row(d, created, metrics) for d in ordered]
    bands = _bands(data)
    shifts = _shifts(data, bands)
    pauses = [PauseMark(e.at, e.operator, e.action, e.reason) for e in data.audit if e.action in ("pause", "resume")]
    counts = Counter(p.state.value for p in posts)
    state_counts = {s.value: counts.get(s.value, 0) for s in S if s is not S.WITHDRAWN}
    state_counts["planned"] = sum(1 for d in drafts if d.source == "schedule")
    state_counts["all"] = len(posts)
    state_counts["withdrawn"] = sum(1 for d in data.drafts if d.state is S.WITHDRAWN)
    posted = [p for p in posts if p.state is S.POSTED]
    times = [p.due_at for p in posts] + [p.posted_at for p in posted if p.posted_at is not None]
    times += [b.planned_start for b in bands] + [b.end for b in bands] + [p.planned_at for p in posts]
    first = min([*times, event.starts_at])
    last = max([*times, event.ends_at])
    marks = [m.at for m in shifts] + [m.at for m in pauses]  # drawn when made, if during (or near) the event
    first = min([first, *(t for t in marks if t >= first - MARK_REACH)])
    last = max([last, *(t for t in marks if t <= last + MARK_REACH)])
    messages = _messages(data, {d.id: d for d in data.drafts})
    from ..store import event_accounts

    accounts = event_accounts(event)
    on_x = {a.id for a in accounts if a.network == "x"}  # X's prices apply to X's deliveries alone
    x_drafts = [d for d in drafts if d.account in on_x]
    x_posted = [p for p, d in zip(posts, ordered, strict=True) if p.state is S.POSTED and d.account in on_x]
    planned_texts = [d.text for d in x_drafts if d.source == "schedule"]
    planned_images = sum(len(d.media) for d in x_drafts if d.source == "schedule")
    spent = cost_of_posts(
        (p.text for p in x_posted),
        sum(p.images for p in x_posted),
        prices,
        dm_reads=len(messages),
        owned_reads=len(metrics) if metrics is not None else 0,
    )
    coverage = _coverage(bands, posted, objectives or {})
    totals = {name: sum(getattr(m, name) for m in metrics.values()) for name in METRIC_NAMES} if metrics else {}
    return EventReport(
        event_id=event.id,
        title=event.title,
        account=event.account,
        timezone=event.timezone,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        first=first,
        last=last,
        bands=bands,
        posts=posts,
        shifts=shifts,
        pauses=pauses,
        counts=state_counts,
        lag=_lag(posted),
        approvers=_approvers(data, created),
        coverage=coverage,
        objective_coverage=_by_objective(coverage),
        messages=messages,
        accounts=[
            AccountRow(
                NETWORKS.get(a.network, a.network),
                a.handle,
                sum(1 for d in drafts if d.source == "schedule" and d.account == a.id),
                sum(1 for d in drafts if d.state is S.POSTED and d.account == a.id),
            )
            for a in accounts
        ],
        planned_cost=cost_of_posts(planned_texts, planned_images, prices),
        spent_cost=spent,
        metrics_read=metrics is not None,
        metrics_totals=totals,
        days=day_costs(x_drafts, ZoneInfo(event.timezone), prices, data.budget),
        budget=data.budget,
    )


def day_costs(drafts: list[Draft], zone: ZoneInfo, prices: Prices, budget: Budget | None) -> list[DayCost]:
    """Spent vs planned per day of the event: the schedule's posts by their planned day, those that
    went out by the day they did, each priced with its alt texts (the figures the run's budget counts)."""
    from ..plan.schedule import budget_day
    from .ledger import spent_cost

    planned: dict[date, list[Draft]] = {}
    spent: dict[date, list[Draft]] = {}
    for d in drafts:
        if d.source == "schedule":
            planned.setdefault(budget_day(d.planned_at, zone), []).append(d)
        if d.state is S.POSTED and d.posted_at is not None:
            spent.setdefault(budget_day(d.posted_at, zone), []).append(d)

    return [
        DayCost(day, spent_cost(planned.get(day, []), prices), spent_cost(spent.get(day, []), prices), budget)
        for day in sorted(set(planned) | set(spent))
    ]


def _post_row(
    d: Draft, created: Mapping[tuple[int, int], datetime], metrics: Mapping[str, PostMetrics] | None
) -> PostRow:
    lag = (d.posted_at - d.at).total_seconds() if d.state is S.POSTED and d.posted_at is not None else None
    waited = None
    if d.approved_at is not None and d.approved_revision is not None:
        made = created.get((d.id, d.approved_revision))
        waited = max((d.approved_at - made).total_seconds(), 0.0) if made is not None else None
    reason = None
    if d.state in (S.MISSED, S.FAILED):
        reason = d.last_error or ("its window passed before it went out" if d.state is S.MISSED else "X refused it")
    return PostRow(
        id=d.id,
        slot=d.slot,
        segment=d.segment,
        source=d.source,
        state=d.state,
        text=d.text,
        hashtags=d.hashtags,
        planned_at=d.planned_at,
        due_at=d.at,
        posted_at=d.posted_at if d.state is S.POSTED else None,
        lag_seconds=lag,
        approved_by=d.approved_by if d.approved_at is not None else None,
        approved_at=d.approved_at,
        waited_seconds=waited,
        reason=reason,
        tweet_id=d.tweet_id if d.state is S.POSTED else None,
        has_link=has_link(d.text),
        images=len(d.media),
        metrics=metrics.get(d.tweet_id) if metrics is not None and d.tweet_id else None,
    )


def _bands(data: ReportData) -> list[SegmentBand]:
    return banded(data.segments, [(s.from_planned, s.seconds) for s in data.shifts])


def _shifts(data: ReportData, bands: list[SegmentBand]) -> list[ShiftMark]:
    """Each shift with its kind: a cue writes "cue" audit rows at the same moment, by the same person."""
    moved: Counter[tuple[datetime, str, str]] = Counter()
    for e in data.audit:
        if e.action in ("shift", "cue") and e.draft_id is not None:
            moved[(e.at, e.operator, e.action)] += 1
    cues = {(e.at, e.operator) for e in data.audit if e.action == "cue"}
    starts = {b.planned_start: b.id for b in bands}
    out = []
    for s in data.shifts:
        kind = "cue" if (s.at, s.by) in cues else "shift"
        segment = starts.get(s.from_planned) if s.from_planned is not None else None
        out.append(
            ShiftMark(
                at=s.at,
                by=s.by,
                seconds=s.seconds,
                from_planned=s.from_planned,
                kind=kind,
                moved=moved[(s.at, s.by, kind)],
                segment=segment,
            )
        )
    return out


def _lag(posted: list[PostRow]) -> LagStats:
    lags = [p.lag_seconds for p in posted if p.lag_seconds is not None]
    return LagStats(
        posted=len(posted),
        on_time=sum(1 for lag in lags if abs(lag) <= ON_TIME.total_seconds()),
        mean_seconds=statistics.fmean(lags) if lags else None,
        median_seconds=statistics.median(lags) if lags else None,
        max_seconds=max(lags) if lags else None,
    )


def _approvers(data: ReportData, created: Mapping[tuple[int, int], datetime]) -> list[Approver]:
    """Every approval in the audit trail (approve, post-now) by its author, with how long its revision had waited."""
    waits: dict[str, list[float]] = {}
    for e in data.audit:
        if e.action not in APPROVALS or e.draft_id is None:
            continue
        made = created.get((e.draft_id, e.revision or 0))
        waits.setdefault(e.operator, []).append(max((e.at - made).total_seconds(), 0.0) if made else 0.0)
    return [
        Approver(name, len(w), statistics.median(w) if w else None, max(w) if w else None)
        for name, w in sorted(waits.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def _coverage(bands: list[SegmentBand], posted: list[PostRow], objectives: Mapping[str, str]) -> list[TagCoverage]:
    by_segment: dict[str, list[PostRow]] = {}
    for p in posted:
        by_segment.setdefault(p.segment, []).append(p)
    out = []
    for band in bands:
        gone = by_segment.get(band.id, [])
        for tag in band.hashtags:
            key = tag.lower()
            carried = sum(1 for p in gone if key in {t.lower() for t in p.hashtags})
            out.append(TagCoverage(band.id, tag, objectives.get(key), carried, len(gone)))
    return out


def _by_objective(coverage: list[TagCoverage]) -> list[ObjectiveCoverage]:
    """The segments' coverage summed per hashtag of each objective (and of the event), in the schedule's order."""
    sums: dict[tuple[str, str], list[int]] = {}
    for c in coverage:
        if c.objective is None:
            continue
        found = sums.setdefault((c.objective, c.hashtag.lower()), [0, 0])
        found[0] += c.carried
        found[1] += c.posted
    shown = {(c.objective, c.hashtag.lower()): c.hashtag for c in coverage if c.objective is not None}
    return [ObjectiveCoverage(o, shown[(o, t)], carried, posted) for (o, t), (carried, posted) in sums.items()]


def objective_labels(schedule: Schedule) -> dict[str, str]:
    """What each hashtag of the schedule stands for (lower-case hashtag -> "objective 5: ..."), for the report."""
    labels = {tag.lower(): "the event" for tag in schedule.event.hashtags}
    for objective in schedule.objectives.values():
        for tag in objective.hashtags:
            labels.setdefault(tag.lower(), f"objective {objective.number}: {objective.title}")
    return labels


def _messages(data: ReportData, drafts: Mapping[int, Draft]) -> list[MessageRow]:
    """The messages of this event: those reshared into it, and those not reshared into any event.

    A message belongs to no event until it is reshared (the account receives it), so a store
    that held several events counts the others' unreshared messages too."""
    out = []
    for m in data.messages:
        draft = drafts.get(m.draft_id) if m.draft_id is not None else None
        if m.draft_id is not None and draft is None:
            continue  # reshared into another event
        out.append(MessageRow(m.id, m.sender, m.received_at, m.state, m.draft_id, draft.state if draft else None))
    return out


def budget_of(schedule_path: str, kept: float | None = None) -> Budget | None:
    """The event's X budget: as the store kept it at load, else from its schedule when it is still there."""
    from pathlib import Path

    from ..plan.schedule import Budget, read_budget

    in_file = read_budget(Path(schedule_path))
    if kept is not None and (in_file is None or in_file.x_usd_per_day != float(kept)):
        return Budget(float(kept), 0)  # the file moved or changed since the load: the run went by the store's
    return in_file


def objectives_of(schedule_path: str) -> dict[str, str] | None:
    """What each hashtag stands for, from the event's schedule when it is still there (else None)."""
    from pathlib import Path

    path = Path(schedule_path)
    if not path.is_file():
        return None
    from ..plan.schedule import read_schedule

    schedule, _problems = read_schedule(path)
    return objective_labels(schedule) if schedule is not None else None
