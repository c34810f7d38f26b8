"""The event's timeline: read a schedule file into an Event, its Segments and its Slots.

Reading never stops at the first mistake: every problem is collected with its file and
line, so that the officer fixes the whole file in one pass.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import Problem, ScheduleError
from .yamlfile import Node, read_yaml

DEFAULT_VALID_FOR = timedelta(minutes=5)
DEFAULT_LEAD = timedelta(hours=1)

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TIME = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?$")
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_ANCHOR = re.compile(r"^(?P<segment>[A-Za-z0-9_-]+)\.(?P<edge>[A-Za-z]+)\s*(?:(?P<sign>[+-])\s*(?P<offset>\S+))?$")
_HASHTAG = re.compile(r"^#\w+$")


@dataclass(frozen=True)
class Objective:
    """A GCM objective the event covers, with its editorial hashtags."""

    number: int
    title: str
    hashtags: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Event:
    """One live event: who posts, when, in which zone, with which hashtags."""

    id: str
    title: str
    account: str
    timezone: str
    date: date
    start: datetime
    end: datetime
    hashtags: tuple[str, ...]
    posts_from: datetime
    posts_until: datetime
    valid_for: timedelta
    links: MappingProxyType[str, str]
    line: int

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Segment:
    """A stretch of the event: the opening, a guiding question, the closing."""

    id: str
    title: str
    start: datetime
    end: datetime
    objectives: tuple[int, ...]
    question: str
    topic: str
    speakers: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Slot:
    """A planned post: its template, its time (anchored to a segment) and its window."""

    id: str
    template: str
    segment: str
    anchor: str
    at: datetime
    valid_for: timedelta
    reply_to: str | None
    omit_hashtags: MappingProxyType[str, str]
    vars: MappingProxyType[str, Any]
    line: int
    template_line: int
    reply_to_line: int = 0

    @property
    def valid_until(self) -> datetime:
        return self.at + self.valid_for


@dataclass(frozen=True)
class Schedule:
    """A whole schedule file, read and checked for structure."""

    path: Path
    display_name: str
    event: Event
    objectives: MappingProxyType[int, Objective]
    segments: tuple[Segment, ...]
    slots: tuple[Slot, ...]
    templates_dir: Path

    def segment(self, segment_id: str) -> Segment:
        return next(s for s in self.segments if s.id == segment_id)


def parse_duration(text: str) -> timedelta | None:
    """`2m`, `90s`, `1h30m`, `1m30s` -> timedelta; None when it is not one."""
    m = _DURATION.match(text.strip())
    if not m or not any(m.groupdict().values()):
        return None
    h, mi, s = (int(m.group(k) or 0) for k in ("h", "m", "s"))
    return timedelta(hours=h, minutes=mi, seconds=s)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    return sign + ("".join(parts) or "0s")


class _Reader:
    """Reads typed values out of YAML nodes, recording a Problem for each bad one."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message, "warning"))

    def mapping(
        self, node: Node, what: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Node] | None:
        if node.mapping is None:
            self.error(node.line, f"{what} must be a mapping of keys to values, not {node.kind}")
            return None
        known = required + optional
        id_node = node.mapping.get("id", (0, None))[1]
        if what.startswith("a ") and id_node is not None and id_node.scalar:
            what = f'{what[2:]} "{id_node.scalar.strip()}"'
        out: dict[str, Node] = {}
        for key in node.mapping:
            key_line, value = node.mapping[key]
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else f" (known keys: {', '.join(known)})"
                self.error(key_line, f'unknown key "{key}" in {what}{hint}')
                continue
            out[key] = value
        for key in required:
            if key not in out or out[key].is_null:
                self.error(node.line, f'{what} is missing the key "{key}"')
        return out

    def text(self, node: Node | None, what: str, *, required: bool = True) -> str | None:
        if node is None or node.is_null:
            return None
        if node.scalar is None:
            self.error(node.line, f"{what} must be text, not a {node.kind}")
            return None
        value = node.scalar.strip()
        if required and not value:
            self.error(node.line, f"{what} is empty")
            return None
        return value

    def ident(self, node: Node | None, what: str) -> str | None:
        value = self.text(node, what)
        if value is None or node is None:
            return None
        if not _ID.match(value):
            self.error(
                node.line,
                f'{what} "{value}" must be lower-case letters, digits, "-" or "_", starting with a letter or digit',
            )
            return None
        return value

    def clock_time(self, node: Node | None, what: str, day: date, zone: ZoneInfo | None) -> datetime | None:
        value = self.text(node, what)
        if value is None or node is None:
            return None
        m = _TIME.match(value)
        if not m:
            self.error(node.line, f'{what} "{value}" is not a time: write it as HH:MM, like "13:30"')
            return None
        h, mi, s = int(m.group("h")), int(m.group("m")), int(m.group("s") or 0)
        if h > 23 or mi > 59 or s > 59:
            self.error(node.line, f'{what} "{value}" is not a time of day (hours 0-23, minutes 0-59)')
            return None
        if zone is None:
            return None
        return datetime.combine(day, time(h, mi, s), tzinfo=zone)

    def duration(self, node: Node | None, what: str) -> timedelta | None:
        value = self.text(node, what)
        if value is None or node is None:
            return None
        delta = parse_duration(value)
        if delta is None:
            self.error(node.line, f'{what} "{value}" is not a duration: write it like 5m, 90s or 1h30m')
        return delta

    def text_list(self, node: Node | None, what: str) -> list[tuple[str, int]]:
        if node is None or node.is_null:
            return []
        items = node.sequence if node.sequence is not None else [node] if node.scalar is not None else None
        if items is None:
            self.error(node.line, f"{what} must be a list, not a {node.kind}")
            return []
        out = []
        for item in items:
            value = self.text(item, f"an item of {what}")
            if value is not None:
                out.append((value, item.line))
        return out

    def hashtags(self, node: Node | None, what: str) -> list[str]:
        tags = []
        for value, line in self.text_list(node, what):
            if not _HASHTAG.match(value):
                self.error(line, f'{what}: "{value}" is not a hashtag (write it with its #, like "#GCM")')
                continue
            tags.append(value)
        return tags

    def integer(self, node: Node | None, what: str) -> int | None:
        value = self.text(node, what)
        if value is None or node is None:
            return None
        if not value.isdigit():
            self.error(node.line, f'{what} "{value}" must be a whole number')
            return None
        return int(value)

    def plain(self, node: Node) -> Any:
        """A free-form value (slot vars) as plain Python data."""
        if node.mapping is not None:
            return MappingProxyType({k: self.plain(v) for k, (_, v) in node.mapping.items()})
        if node.sequence is not None:
            return tuple(self.plain(v) for v in node.sequence)
        return node.scalar if node.scalar is not None else ""


_TOP_REQUIRED = ("event", "segments", "slots")
_TOP_OPTIONAL = ("objectives", "templates")
_EVENT_REQUIRED = ("id", "title", "account", "date", "start", "end", "timezone", "hashtags")
_EVENT_OPTIONAL = ("posts_from", "posts_until", "valid_for", "links")
_OBJECTIVE_REQUIRED = ("number", "title")
_OBJECTIVE_OPTIONAL = ("hashtags",)
_SEGMENT_REQUIRED = ("id", "title", "start", "end")
_SEGMENT_OPTIONAL = ("objectives", "question", "topic", "speakers")
_SLOT_REQUIRED = ("id", "template", "at")
_SLOT_OPTIONAL = ("valid_for", "reply_to", "omit_hashtags", "vars")


def load_schedule(path: Path, display_name: str | None = None) -> Schedule:
    """Read and structurally check a schedule; raise ScheduleError listing every problem.

    Warnings found while reading are kept on the error too, and on success they are
    returned by `read_schedule`.
    """
    schedule, problems = read_schedule(path, display_name)
    if schedule is None:
        raise ScheduleError(problems)
    return schedule


def read_schedule(path: Path, display_name: str | None = None) -> tuple[Schedule | None, list[Problem]]:
    """Read a schedule: (the schedule or None when it has errors, every problem found)."""
    name = display_name or str(path)
    if not path.is_file():
        return None, [Problem(name, 0, "no such schedule file")]
    tree, problems = read_yaml(path, name)
    if tree is None:
        return None, problems
    r = _Reader(name)
    r.problems.extend(problems)
    schedule = _read(r, tree, path)
    has_errors = any(p.severity == "error" for p in r.problems)
    return (None if has_errors else schedule), sorted(r.problems, key=lambda p: (p.line, p.message))


def _read(r: _Reader, tree: Node, path: Path) -> Schedule | None:
    top = r.mapping(tree, "the schedule", _TOP_REQUIRED, _TOP_OPTIONAL)
    if top is None:
        return None
    event = _read_event(r, top["event"]) if "event" in top else None
    objectives = _read_objectives(r, top.get("objectives"))
    templates_text = r.text(top.get("templates"), "templates") if "templates" in top else None
    templates_dir = (path.parent / (templates_text or "../templates")).resolve()
    if templates_text is not None and not templates_dir.is_dir():
        r.error(top["templates"].line, f'templates folder "{templates_text}" does not exist ({templates_dir})')
    if event is None:
        return None
    segments, declared = _read_segments(r, top.get("segments"), event, objectives)
    slots = _read_slots(r, top.get("slots"), event, segments, declared)
    return Schedule(
        path=path,
        display_name=r.file,
        event=event,
        objectives=MappingProxyType(objectives),
        segments=tuple(segments),
        slots=tuple(slots),
        templates_dir=templates_dir,
    )


def _read_event(r: _Reader, node: Node) -> Event | None:
    m = r.mapping(node, "event", _EVENT_REQUIRED, _EVENT_OPTIONAL)
    if m is None:
        return None
    event_id = r.ident(m.get("id"), "event id")
    title = r.text(m.get("title"), "event title")
    account = r.text(m.get("account"), "event account")
    if account is not None and not re.match(r"^@[A-Za-z0-9_]{1,15}$", account):
        r.error(m["account"].line, f'event account "{account}" must be an X handle like "@UNMigNetwork"')
    day: date | None = None
    day_text = r.text(m.get("date"), "event date")
    if day_text is not None:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            r.error(m["date"].line, f'event date "{day_text}" is not a date: write it as YYYY-MM-DD')
    zone: ZoneInfo | None = None
    tz_name = r.text(m.get("timezone"), "event timezone")
    if tz_name is not None:
        try:
            zone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            r.error(
                m["timezone"].line,
                f'unknown time zone "{tz_name}": use an IANA name such as "Europe/Zurich"',
            )
    when = day or date(2000, 1, 1)
    start = r.clock_time(m.get("start"), "event start", when, zone)
    end = r.clock_time(m.get("end"), "event end", when, zone)
    if start and end and end <= start:
        r.error(m["end"].line, f"event ends ({end:%H:%M}) before it starts ({start:%H:%M})")
    hashtags = r.hashtags(m.get("hashtags"), "event hashtags")
    if "hashtags" in m and not hashtags and not any(p.line == m["hashtags"].line for p in r.problems):
        r.error(m["hashtags"].line, "event hashtags must list at least one hashtag")
    posts_from = r.clock_time(m.get("posts_from"), "event posts_from", when, zone)
    posts_until = r.clock_time(m.get("posts_until"), "event posts_until", when, zone)
    valid_for = r.duration(m.get("valid_for"), "event valid_for") if "valid_for" in m else None
    links: dict[str, str] = {}
    if "links" in m:
        lm = m["links"]
        if lm.mapping is None:
            r.error(lm.line, f"event links must be a mapping of names to addresses, not a {lm.kind}")
        else:
            for key, (_, value) in lm.mapping.items():
                text = r.text(value, f'event link "{key}"')
                if text is not None:
                    links[key] = text
    if None in (event_id, title, account, day, zone, start, end) or not hashtags:
        return None
    assert event_id and title and account and day and tz_name and start and end
    return Event(
        id=event_id,
        title=title,
        account=account,
        timezone=tz_name,
        date=day,
        start=start,
        end=end,
        hashtags=tuple(hashtags),
        posts_from=posts_from or start - DEFAULT_LEAD,
        posts_until=posts_until or end,
        valid_for=valid_for or DEFAULT_VALID_FOR,
        links=MappingProxyType(links),
        line=node.line,
    )


def _read_objectives(r: _Reader, node: Node | None) -> dict[int, Objective]:
    out: dict[int, Objective] = {}
    if node is None or node.is_null:
        return out
    if node.sequence is None:
        r.error(node.line, f"objectives must be a list, not a {node.kind}")
        return out
    for item in node.sequence:
        m = r.mapping(item, "an objective", _OBJECTIVE_REQUIRED, _OBJECTIVE_OPTIONAL)
        if m is None:
            continue
        number = r.integer(m.get("number"), "objective number")
        title = r.text(m.get("title"), "objective title")
        tags = r.hashtags(m.get("hashtags"), "objective hashtags")
        if number is None or title is None:
            continue
        if number in out:
            r.error(m["number"].line, f"objective {number} is listed twice (first on line {out[number].line})")
            continue
        out[number] = Objective(number, title, tuple(tags), item.line)
    return out


def _read_segments(
    r: _Reader, node: Node | None, event: Event, objectives: dict[int, Objective]
) -> tuple[list[Segment], set[str] | None]:
    """The segments in time order, and every id declared (None: unreadable)."""
    segments: list[Segment] = []
    if node is None or node.sequence is None:
        if node is not None:
            r.error(node.line, f"segments must be a list, not a {node.kind}")
        return segments, None
    declared: set[str] = set()
    seen: dict[str, int] = {}
    for item in node.sequence:
        m = r.mapping(item, "a segment", _SEGMENT_REQUIRED, _SEGMENT_OPTIONAL)
        if m is None:
            continue
        seg_id = r.ident(m.get("id"), "segment id")
        if seg_id:
            declared.add(seg_id)
        what = f'segment "{seg_id}"' if seg_id else "segment"
        title = r.text(m.get("title"), f"{what} title")
        start = r.clock_time(m.get("start"), f"{what} start", event.date, event.zone)
        end = r.clock_time(m.get("end"), f"{what} end", event.date, event.zone)
        numbers: list[int] = []
        for value, line in r.text_list(m.get("objectives"), f"{what} objectives"):
            if not value.isdigit():
                r.error(line, f'{what} objectives: "{value}" is not an objective number')
                continue
            number = int(value)
            numbers.append(number)
            if number not in objectives:
                r.warn(
                    line,
                    f"{what} cites objective {number}, which the event does not list under objectives: "
                    "its posts get no hashtags for it",
                )
        question = r.text(m.get("question"), f"{what} question", required=False) or ""
        topic = r.text(m.get("topic"), f"{what} topic", required=False) or ""
        speakers = tuple(v for v, _ in r.text_list(m.get("speakers"), f"{what} speakers"))
        if seg_id is not None and seg_id in seen:
            r.error(m["id"].line, f'segment id "{seg_id}" is used twice (first on line {seen[seg_id]})')
            continue
        if seg_id is None or title is None or start is None or end is None:
            continue
        seen[seg_id] = item.line
        if end <= start:
            r.error(m["end"].line, f"{what} ends ({end:%H:%M}) before it starts ({start:%H:%M})")
            continue
        if start < event.start or end > event.end:
            r.error(
                item.line,
                f"{what} ({start:%H:%M}-{end:%H:%M}) lies outside the event ({event.start:%H:%M}-{event.end:%H:%M})",
            )
        segments.append(Segment(seg_id, title, start, end, tuple(numbers), question, topic, speakers, item.line))
    ordered = sorted(segments, key=lambda s: (s.start, s.line))
    for before, after in pairwise(ordered):
        if after.start < before.end:
            r.error(
                after.line,
                f'segment "{after.id}" ({after.start:%H:%M}-{after.end:%H:%M}) overlaps segment '
                f'"{before.id}" ({before.start:%H:%M}-{before.end:%H:%M}, line {before.line})',
            )
    return ordered, declared


def _read_slots(
    r: _Reader, node: Node | None, event: Event, segments: list[Segment], declared: set[str] | None
) -> list[Slot]:
    """Slots in time order; anchors to segments that exist but are broken are not re-reported."""
    slots: list[Slot] = []
    if node is None or node.sequence is None:
        if node is not None:
            r.error(node.line, f"slots must be a list, not a {node.kind}")
        return slots
    by_id = {s.id: s for s in segments}
    seen: dict[str, int] = {}
    for item in node.sequence:
        m = r.mapping(item, "a slot", _SLOT_REQUIRED, _SLOT_OPTIONAL)
        if m is None:
            continue
        slot_id = r.ident(m.get("id"), "slot id")
        what = f'slot "{slot_id}"' if slot_id else "slot"
        template = r.text(m.get("template"), f"{what} template")
        anchored = _read_anchor(r, m.get("at"), what, by_id, declared)
        valid_for = r.duration(m.get("valid_for"), f"{what} valid_for") if "valid_for" in m else None
        reply_to = r.ident(m.get("reply_to"), f"{what} reply_to") if "reply_to" in m else None
        omit: dict[str, str] = {}
        if "omit_hashtags" in m:
            om = m["omit_hashtags"]
            if om.mapping is None:
                r.error(om.line, f'{what} omit_hashtags must map each hashtag to the reason, like "#GCM": "why"')
            else:
                for tag, (tag_line, reason_node) in om.mapping.items():
                    reason = r.text(reason_node, f"{what} omit_hashtags {tag}", required=False)
                    if not _HASHTAG.match(tag):
                        r.error(tag_line, f'{what} omit_hashtags: "{tag}" is not a hashtag')
                    elif not reason:
                        r.error(tag_line, f"{what} omits {tag} without a reason: say why after the colon")
                    else:
                        omit[tag] = reason
        variables: Any = MappingProxyType({})
        if "vars" in m:
            if m["vars"].mapping is None:
                r.error(m["vars"].line, f"{what} vars must be a mapping of names to values")
            else:
                variables = r.plain(m["vars"])
        if slot_id is not None and slot_id in seen:
            r.error(m["id"].line, f'slot id "{slot_id}" is used twice (first on line {seen[slot_id]})')
            continue
        if slot_id is None or template is None or anchored is None:
            continue
        seen[slot_id] = item.line
        segment_id, anchor, at = anchored
        if at < event.posts_from or at > event.posts_until:
            r.error(
                m["at"].line,
                f"{what} at {at:%H:%M} lies outside the event's posting window "
                f"({event.posts_from:%H:%M}-{event.posts_until:%H:%M}); set event posts_from/posts_until "
                "to post earlier or later",
            )
        slots.append(
            Slot(
                id=slot_id,
                template=template,
                segment=segment_id,
                anchor=anchor,
                at=at,
                valid_for=valid_for or event.valid_for,
                reply_to=reply_to,
                omit_hashtags=MappingProxyType(omit),
                vars=variables,
                line=item.line,
                template_line=m["template"].line,
                reply_to_line=m["reply_to"].line if "reply_to" in m else 0,
            )
        )
    _check_replies(r, slots)
    return sorted(slots, key=lambda s: (s.at, s.line))


def _read_anchor(
    r: _Reader, node: Node | None, what: str, segments: dict[str, Segment], declared: set[str] | None
) -> tuple[str, str, datetime] | None:
    value = r.text(node, f"{what} at")
    if value is None or node is None:
        return None
    m = _ANCHOR.match(value)
    if not m:
        r.error(
            node.line,
            f'{what} at "{value}" must be anchored to a segment, like "q2.start + 2m" or "closing.end - 5m"',
        )
        return None
    seg_id, edge = m.group("segment"), m.group("edge")
    if edge not in ("start", "end"):
        r.error(node.line, f'{what} at "{value}": a segment has a "start" and an "end", not "{edge}"')
        return None
    segment = segments.get(seg_id)
    if segment is None and (declared is None or seg_id in declared):
        return None  # the segment itself is at fault, and reported there
    if segment is None:
        close = difflib.get_close_matches(seg_id, list(segments), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        r.error(node.line, f'{what} is anchored to unknown segment "{seg_id}"{hint}')
        return None
    offset = timedelta(0)
    if m.group("offset"):
        parsed = parse_duration(m.group("offset"))
        if parsed is None:
            r.error(
                node.line,
                f'{what} at "{value}": "{m.group("offset")}" is not a duration (write it like 2m, 90s or 1h30m)',
            )
            return None
        offset = parsed if m.group("sign") == "+" else -parsed
    base = segment.start if edge == "start" else segment.end
    return segment.id, value, base + offset


def _check_replies(r: _Reader, slots: list[Slot]) -> None:
    by_id = {s.id: s for s in slots}
    reported: set[frozenset[str]] = set()
    for slot in slots:
        if slot.reply_to is None:
            continue
        parent = by_id.get(slot.reply_to)
        if parent is None:
            r.error(slot.reply_to_line, f'slot "{slot.id}" replies to unknown slot "{slot.reply_to}"')
            continue
        chain = [slot.id]
        current: Slot | None = parent
        while current is not None and current.id not in chain:
            chain.append(current.id)
            current = by_id.get(current.reply_to) if current.reply_to else None
        if current is not None:
            members = chain[chain.index(current.id) :]
            cycle = " -> ".join([*members, current.id])
            if slot.id == current.id and frozenset(members) not in reported:
                reported.add(frozenset(members))
                r.error(slot.reply_to_line, f'slot "{slot.id}" is part of a reply_to cycle ({cycle})')
            continue
        if slot.at < parent.at:
            r.error(
                slot.reply_to_line,
                f'slot "{slot.id}" replies to "{parent.id}" but is due before it '
                f"({slot.at:%H:%M:%S} < {parent.at:%H:%M:%S})",
            )
