"""The event's timeline: read a schedule file into an Event, its Segments and its Slots.

Reading never stops at the first mistake: every problem is collected with its file and
line, so that the officer fixes the whole file in one pass. What a broken part leaves
unknown is filled with a placeholder (a provisional event, segment or slot), so that the
rest of the file, templates included, is still checked.

Every number, time, date and duration is read by the `parse_*` functions below, which
accept ASCII digits only and refuse what livetweet cannot hold (a `BadValue`, never an
OverflowError). Times are clock times on the event's date in the event's zone; anchors
are added in UTC, and every datetime carries a fixed UTC offset, so that comparing or
subtracting two of them is right across a change of the clocks.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import BadValue, Problem, ScheduleError
from .tweettext import extract_hashtags
from .values import (  # re-exported: callers read values here since before they had their module
    format_duration as format_duration,
    non_ascii_digits,
    parse_clock_time as parse_clock_time,
    parse_date as parse_date,
    parse_duration as parse_duration,
    parse_whole_number as parse_whole_number,
)
from .yamlfile import MAX_BYTES as MAX_YAML_BYTES, Node, read_yaml

DEFAULT_VALID_FOR = timedelta(minutes=5)
DEFAULT_LEAD = timedelta(hours=1)
MAX_ID_LENGTH = 64

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ANCHOR = re.compile(r"^(?P<segment>[A-Za-z0-9_-]+)\.(?P<edge>[A-Za-z]+)\s*(?:(?P<sign>[+-])\s*(?P<offset>\S+))?$")
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
_ACCOUNT = re.compile(r"^@[A-Za-z0-9_]{1,15}$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"  # one label of a domain name
_BLUESKY_HANDLE = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?$")
_MASTODON_HANDLE = re.compile(rf"^@[A-Za-z0-9_]{{1,30}}@(?=.{{1,253}}$)(?:{_LABEL}\.)+[a-z]{{2,63}}$")
NETWORKS = ("x", "bluesky", "mastodon")
# How each network's handles are written, for the messages that refuse one.
_HANDLE_RULES = {
    "x": (_ACCOUNT, 'an X handle like "@UNMigNetwork" (up to 15 letters, digits or _)'),
    "bluesky": (_BLUESKY_HANDLE, 'a Bluesky handle like "unmignetwork.bsky.social" (a domain name)'),
    "mastodon": (_MASTODON_HANDLE, 'a Mastodon address like "@unmignetwork@mastodon.social"'),
}
_NOT_ZONES = frozenset(("localtime", "Factory"))  # in the database, but not a place's clock
DEFAULT_LANG = "en"
_LANG = re.compile(r"^[a-z]{2,3}$")  # a language as BCP 47's first subtag writes it (ISO 639): en, fr, ru, ast
# The UN's six languages as people write them, for the message that refuses a name where a code belongs.
_LANGUAGE_NAMES = {
    "english": "en", "anglais": "en", "french": "fr", "francais": "fr", "français": "fr", "spanish": "es",
    "espanol": "es", "español": "es", "russian": "ru", "русский": "ru", "arabic": "ar", "العربية": "ar",
    "chinese": "zh", "中文": "zh",
}  # fmt: skip


def _no_tags() -> MappingProxyType[str, tuple[str, ...]]:
    return MappingProxyType({})


def hashtag_problem(tag: str) -> str | None:
    """Why X would not count `tag` as one whole hashtag (None when it would)."""
    if not tag.startswith("#") or len(tag) < 2:
        return 'is not a hashtag (write it with its #, like "#GCM")'
    found = extract_hashtags(tag)
    if found and found[0].start == 0 and found[0].end == len(tag):
        return None
    body = tag[1:]
    if found and found[0].start == 0:
        return f'is not a hashtag X would count whole: X reads only "#{found[0].value}" (letters, digits and "_")'
    if all(ch.isdigit() or ch == "_" for ch in body):
        return 'is not a hashtag X would count: a hashtag needs a letter, like "#GCM2020"'
    return 'is not a hashtag X would count (letters, digits and "_" after the #, like "#GCM")'


# --- time in the event's zone -------------------------------------------------------------


@lru_cache(maxsize=512)
def _fixed_zone(offset: timedelta, name: str) -> timezone:
    return timezone(offset, name)


def in_zone(when: datetime, zone: ZoneInfo) -> datetime:
    """`when` as local time in `zone`, with that moment's fixed UTC offset and abbreviation."""
    local = when.astimezone(UTC).astimezone(zone)  # through UTC: a time in the gap moves on
    offset = local.utcoffset() or timedelta(0)
    return local.replace(tzinfo=_fixed_zone(offset, local.tzname() or ""))


def shifted(when: datetime, delta: timedelta, zone: ZoneInfo) -> datetime:
    """`when + delta` counted in real (UTC) time, shown in `zone`."""
    return in_zone(when.astimezone(UTC) + delta, zone)


def local_time(day: date, clock: time, zone: ZoneInfo) -> tuple[datetime, str | None, timedelta]:
    """A clock time on a day in a zone: (the moment, "gap"/"fold"/None, how far the clocks move).

    A time the clocks skip ("gap") is read with the offset before the change, so 02:30 on
    a spring-forward day is 03:30; a time they show twice ("fold") is read as the first.
    """
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=zone)
    jump = (naive.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)) - (first.utcoffset() or timedelta(0))
    kind = None
    if jump:
        kind = "gap" if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive else "fold"
    return in_zone(first, zone), kind, abs(jump)


def _offset_text(when: datetime) -> str:
    minutes = int((when.utcoffset() or timedelta(0)).total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def clock_texts(day: date | None, *times: datetime, seconds: bool = False) -> list[str]:
    """Times for one message: HH:MM, with seconds if any has them, with the zone if their offsets
    differ, and with the date when it is not the event's."""
    seconds = seconds or any(t.second or t.microsecond for t in times)
    zoned = len({t.utcoffset() for t in times}) > 1
    out = []
    for t in times:
        text = t.strftime("%H:%M:%S" if seconds else "%H:%M")
        if day is not None and t.date() != day:
            text = f"{t:%Y-%m-%d} {text}"
        out.append(f"{text} {t:%Z}" if zoned else text)
    return out


# --- the schedule's parts -------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """A GCM objective the event covers, with its editorial hashtags."""

    number: int
    title: str
    hashtags: tuple[str, ...]
    line: int
    hashtags_by_lang: MappingProxyType[str, tuple[str, ...]] = field(default_factory=_no_tags)  # per language

    def hashtags_in(self, lang: str) -> tuple[str, ...]:
        """The objective's hashtags in a language: that language's own list where it has one, else the default."""
        return self.hashtags_by_lang.get(lang, self.hashtags)


@dataclass(frozen=True)
class Budget:
    """What the organisation allows itself to spend on X's API in one day of the event (its zone)."""

    x_usd_per_day: float
    line: int  # the line of x_usd_per_day, for a warning about it

    def allows(self, usd: float) -> bool:
        """Whether a day's cost of `usd` stays within the budget (to a millionth: sums of prices are inexact)."""
        return round(usd, 6) <= round(self.x_usd_per_day, 6)


def budget_day(when: datetime, zone: ZoneInfo) -> date:
    """The day a budget counts `when` in: the event's calendar day, so that a day means what people read."""
    return when.astimezone(zone).date()


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
    provisional: bool = False  # some part could not be read: placeholders stand in
    id_line: int = 0
    budget: Budget | None = None  # what X may cost a day; None: no limit
    lang: str = DEFAULT_LANG  # the language its accounts post in unless they say another
    hashtags_by_lang: MappingProxyType[str, tuple[str, ...]] = field(default_factory=_no_tags)  # per language

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hashtags_in(self, lang: str) -> tuple[str, ...]:
        """The event's hashtags in a language: that language's own list where it has one, else `hashtags`."""
        return self.hashtags_by_lang.get(lang, self.hashtags)


@dataclass(frozen=True)
class Account:
    """One account the event posts to: its id in the schedule, its network, its handle there."""

    id: str
    network: str  # x, bluesky, mastodon
    handle: str  # @name on X, name.domain on Bluesky, @user@domain on Mastodon
    line: int
    max_chars: int | None = None  # a Mastodon server's own limit, when it is not 500
    lang: str = DEFAULT_LANG  # the language it posts in (a code: en, fr, ru...)

    @property
    def display(self) -> str:
        return f"{self.handle} on {'X' if self.network == 'x' else self.network.capitalize()}"


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
    provisional: bool = False


@dataclass(frozen=True)
class MediaRef:
    """An image a slot carries, as the schedule writes it: the file and the alt text (a template)."""

    file: str  # as written, relative to the schedule's folder
    path: Path  # where it is
    alt: str | None  # the alt text's template source; None when the item has no alt
    line: int  # the item's line
    file_line: int
    alt_line: int


@dataclass(frozen=True)
class CardRef:
    """A quote card a slot asks for, as the schedule writes it: the quote and the speaker (templates, like
    an alt text) and the card's colours (hex; None: the default)."""

    quote: str
    speaker: str
    line: int
    quote_line: int
    speaker_line: int
    colours: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))


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
    provisional: bool = False  # read only far enough to check its template
    media: tuple[MediaRef, ...] = ()  # the images it carries, in order
    media_line: int = 0
    accounts: tuple[str, ...] = ()  # the account ids it posts to; () for every account of the event
    langs: tuple[str, ...] = ()  # the languages it is posted in; () for every language of its accounts
    lang_line: int = 0
    card: CardRef | None = None  # a quote card drawn for it (after its images)

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
    complete: bool = True  # False: read despite errors, for checking what can be checked
    provisional_segments: tuple[Segment, ...] = ()
    accounts: tuple[Account, ...] = ()  # every account the event posts to (the X account when none are listed)

    def accounts_of(self, slot: Slot) -> tuple[Account, ...]:
        """The accounts a slot posts to: those it names, else all of the event's; of those, the ones
        in a language the slot is written in (all, when it names none)."""
        chosen = self.accounts if not slot.accounts else tuple(a for a in self.accounts if a.id in slot.accounts)
        if slot.langs:
            chosen = tuple(a for a in chosen if a.lang in slot.langs)
        return chosen

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language the event posts in (its accounts'), in the order they are listed."""
        return tuple(dict.fromkeys(a.lang for a in self.accounts))

    def segment(self, segment_id: str) -> Segment:
        for s in self.segments:
            if s.id == segment_id:
                return s
        return next(s for s in self.provisional_segments if s.id == segment_id)


class _Reader:
    """Reads typed values out of YAML nodes, recording a Problem for each bad one."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.day: date | None = None
        self.tag_langs: list[tuple[str, str, int]] = []  # (what, language, line) of each hashtags_by_lang entry

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message, "warning"))

    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    def mapping(
        self, node: Node | None, what: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Node] | None:
        if node is None:
            return None
        if node.mapping is None:
            self.error(node.line, f"{what} must be a mapping of keys to values, not {_a(node.kind)}")
            return None
        known = required + optional
        id_node = node.mapping.get("id", (0, None))[1]
        if what.startswith("a ") and id_node is not None and id_node.scalar and _ID.match(id_node.scalar.strip()):
            what = f'{what[2:]} "{id_node.scalar.strip()}"'
        out: dict[str, Node] = {}
        for key in node.mapping:
            key_line, value = node.mapping[key]
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else f" (known keys: {', '.join(known)})"
                self.error(key_line, f'unknown key "{_short(key)}" in {what}{hint}')
                continue
            out[key] = value
        for key in required:
            if key not in out:
                self.error(node.line, f'{what} is missing the key "{key}"')
            elif out[key].is_null:
                named = key if what == "the schedule" else f"{what} {key}"
                self.error(out[key].line, f"{named} has no value (~, null or nothing after the colon mean none)")
        return out

    def text(self, node: Node | None, what: str, *, required: bool = True) -> str | None:
        if node is None or node.is_null:
            return None
        if node.scalar is None:
            self.error(node.line, f"{what} must be text, not {_a(node.kind)}")
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
                f'{what} "{_short(value)}" must be lower-case letters, digits, "-" or "_", starting with a letter '
                "or digit",
            )
            return None
        if len(value) > MAX_ID_LENGTH:
            self.error(node.line, f'{what} "{_short(value)}" is {len(value)} characters long: at most {MAX_ID_LENGTH}')
            return None
        return value

    def value(self, node: Node | None, what: str, parse: Any) -> Any:
        """A value read by one of the parse_* functions; None (and a problem) when it is not one."""
        text = self.text(node, what)
        if text is None or node is None:
            return None
        try:
            return parse(text)
        except BadValue as exc:
            self.error(node.line, f'{what} "{_short(text)}" {exc}')
            return None

    def clock_time(self, node: Node | None, what: str, day: date, zone: ZoneInfo) -> datetime | None:
        clock = self.value(node, what, parse_clock_time)
        if clock is None or node is None:
            return None
        when, kind, jump = local_time(day, clock, zone)
        shown = clock.strftime("%H:%M:%S" if clock.second else "%H:%M")
        if kind == "gap":
            self.warn(
                node.line,
                f"{what} {shown} does not exist on {day} in {zone.key} (the clocks go forward "
                f"{format_duration(jump)}): it is read as {when:%H:%M %Z}",
            )
        elif kind == "fold":
            self.warn(
                node.line,
                f"{what} {shown} happens twice on {day} in {zone.key} (the clocks go back {format_duration(jump)}): "
                f"it is read as the first, {when:%H:%M %Z} (UTC{_offset_text(when)})",
            )
        return when

    def duration(self, node: Node | None, what: str) -> timedelta | None:
        delta: timedelta | None = self.value(node, what, parse_duration)
        if delta is not None and node is not None and not delta:
            self.error(node.line, f'{what} "{node.scalar}" is no time at all: a post needs a window to go out in')
            return None
        return delta

    def text_list(self, node: Node | None, what: str) -> list[tuple[str, int]]:
        if node is None or node.is_null:
            return []
        items = node.sequence if node.sequence is not None else [node] if node.scalar is not None else None
        if items is None:
            self.error(node.line, f"{what} must be a list, not {_a(node.kind)}")
            return []
        out = []
        for item in items:
            if item.is_null:
                self.error(item.line, f"an item of {what} is empty")
                continue
            value = self.text(item, f"an item of {what}")
            if value is not None:
                out.append((value, item.line))
        return out

    def hashtags(self, node: Node | None, what: str) -> list[str]:
        tags = []
        for value, line in self.text_list(node, what):
            problem = hashtag_problem(value)
            if problem:
                self.error(line, f'{what}: "{_short(value)}" {problem}')
                continue
            tags.append(value)
        return tags

    def lang(self, node: Node | None, what: str) -> str | None:
        """A language code (en, fr, ru: two or three letters, read in lower case)."""
        value = self.text(node, what)
        if value is None or node is None:
            return None
        return self.lang_code(value, node.line, what)

    def lang_code(self, value: str, line: int, what: str) -> str | None:
        code = value.strip().lower()
        if _LANG.match(code):
            return code
        named = _LANGUAGE_NAMES.get(code)
        region = re.match(r"^([a-z]{2,3})[-_][a-z0-9]{2,8}$", code)
        if named:
            hint = f'write its code, "{named}"'
        elif region:
            hint = f'write the language alone, "{region.group(1)}" (Mastodon takes no region)'
        else:
            hint = 'write its two or three letters (ISO 639), like "en", "fr" or "ru"'
        self.error(line, f'{what} "{_short(value)}" is not a language code: {hint}')
        return None

    def hashtags_by_lang(
        self, node: Node | None, what: str, own: str, *, required: bool
    ) -> MappingProxyType[str, tuple[str, ...]]:
        """Hashtags per language ({fr: ["#PacteMondial"]}): each replaces the default list in its language.

        `own` is the event's language, whose hashtags are the default list itself."""
        out: dict[str, tuple[str, ...]] = {}
        if node is None or node.is_null:
            return MappingProxyType(out)
        if node.mapping is None:
            self.error(node.line, f'{what} must map each language to its hashtags, like {{fr: ["#PacteMondial"]}}')
            return MappingProxyType(out)
        for key, (key_line, value) in node.mapping.items():
            lang = self.lang_code(key, key_line, f"{what}: language")
            if lang is None:
                continue
            if lang == own:
                self.error(
                    key_line,
                    f"{what}: {lang} is the event's own language (event lang), whose hashtags are the "
                    "hashtags above: write them there",
                )
                continue
            if lang in out:
                self.error(key_line, f"{what}: {lang} is listed twice")
                continue
            before = self.errors()
            tags = self.hashtags(value, f"{what} {lang}")
            if required and not tags and self.errors() == before:
                self.error(key_line, f"{what} {lang} must list at least one hashtag")
            out[lang] = tuple(tags)
            self.tag_langs.append((f"{what} {lang}", lang, key_line))
        return MappingProxyType(out)

    def integer(self, node: Node | None, what: str) -> int | None:
        number: int | None = self.value(node, what, parse_whole_number)
        return number

    def plain(self, node: Node, what: str) -> Any:
        """A free-form value (slot vars) as plain Python data; a value left empty is an error."""
        if node.mapping is not None:
            out = {}
            for key, (line, value) in node.mapping.items():
                if value.is_null:
                    self.error(line, f'{what}: "{_short(key)}" has no value (write "" for an empty text)')
                    continue
                out[key] = self.plain(value, what)
            return MappingProxyType(out)
        if node.sequence is not None:
            items = []
            for value in node.sequence:
                if value.is_null:
                    self.error(value.line, f'{what}: a list item has no value (write "" for an empty text)')
                    continue
                items.append(self.plain(value, what))
            return tuple(items)
        return node.scalar if node.scalar is not None else ""

    def times(self, *times: datetime, seconds: bool = False) -> list[str]:
        return clock_texts(self.day, *times, seconds=seconds)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _short(text: str, limit: int = 60) -> str:
    """A value quoted in a message: one line, and not the whole of a long one."""
    one_line = " ".join(text.replace("\n", "\\n").split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


_TOP_REQUIRED = ("event", "segments", "slots")
_TOP_OPTIONAL = ("objectives", "templates", "accounts")
_ACCOUNT_REQUIRED = ("id", "network", "handle")
_ACCOUNT_OPTIONAL = ("max_chars", "lang")
_EVENT_REQUIRED = ("id", "title", "account", "date", "start", "end", "timezone", "hashtags")
_EVENT_OPTIONAL = ("posts_from", "posts_until", "valid_for", "links", "budget", "lang", "hashtags_by_lang")
_BUDGET_REQUIRED = ("x_usd_per_day",)
_BUDGET_OPTIONAL: tuple[str, ...] = ()
_USD = re.compile(r"^[0-9]{1,9}(?:\.[0-9]{1,6})?$")
_OBJECTIVE_REQUIRED = ("number", "title")
_OBJECTIVE_OPTIONAL = ("hashtags", "hashtags_by_lang")
_SEGMENT_REQUIRED = ("id", "title", "start", "end")
_SEGMENT_OPTIONAL = ("objectives", "question", "topic", "speakers")
_SLOT_REQUIRED = ("id", "template", "at")
_SLOT_OPTIONAL = ("valid_for", "reply_to", "omit_hashtags", "vars", "media", "accounts", "lang", "card")
_CARD_REQUIRED = ("quote", "speaker")
_CARD_OPTIONAL = ("background", "text", "accent")
_MEDIA_REQUIRED = ("file",)
_MEDIA_OPTIONAL = ("alt",)


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
    schedule, problems = read_schedule_partial(path, display_name)
    return (schedule if schedule is not None and schedule.complete else None), problems


def read_schedule_partial(path: Path, display_name: str | None = None) -> tuple[Schedule | None, list[Problem]]:
    """Read a schedule as far as it goes: `complete` is False when it has errors, and then
    placeholders stand in for what could not be read (None: nothing could be)."""
    name = display_name or str(path)
    try:
        if path.is_dir():
            return None, [Problem(name, 0, "is a folder, not a schedule file")]
        if not path.exists():
            return None, [Problem(name, 0, "no such schedule file")]
        if not path.is_file():
            return None, [Problem(name, 0, "is not a regular file (a schedule is a YAML file)")]
    except OSError as exc:  # a name too long for the file system, a folder we may not enter...
        return None, [Problem(name[:200], 0, f"cannot be read: {exc.strerror or exc}")]
    tree, problems = read_yaml(path, name)
    if tree is None:
        return None, problems
    r = _Reader(name)
    r.problems.extend(problems)
    schedule = _read(r, tree, path)
    ordered = sorted(r.problems, key=lambda p: (p.line, p.message))
    if schedule is None:
        return None, ordered
    return replace(schedule, complete=r.errors() == 0), ordered


def _read(r: _Reader, tree: Node, path: Path) -> Schedule | None:
    top = r.mapping(tree, "the schedule", _TOP_REQUIRED, _TOP_OPTIONAL)
    if top is None:
        return None
    event = _read_event(r, top.get("event"), tree.line)
    objectives = _read_objectives(r, top.get("objectives"), event.lang)
    accounts = _read_accounts(r, top.get("accounts"), event, tree.line)
    _check_tag_languages(r, accounts)
    templates_text = r.text(top.get("templates"), "templates")
    templates_dir = (path.parent / (templates_text or "../templates")).resolve()
    if not templates_dir.is_dir():
        where = top["templates"].line if templates_text is not None else 0
        given = f'templates folder "{templates_text}"' if templates_text is not None else "the templates folder"
        what = "is not a folder" if templates_dir.exists() else "does not exist"
        hint = "" if templates_text is not None else ' (the default; name another with "templates: FOLDER")'
        r.error(where, f"{given} {what} ({templates_dir}){hint}")
    segments, provisional, written = _read_segments(r, top.get("segments"), event, objectives)
    slots = _read_slots(r, top.get("slots"), event, segments, provisional, written, path.parent)
    _check_slot_accounts(r, top.get("slots"), slots, accounts)
    return Schedule(
        path=path,
        display_name=r.file,
        event=event,
        objectives=MappingProxyType(objectives),
        segments=tuple(segments),
        slots=tuple(slots),
        templates_dir=templates_dir,
        provisional_segments=tuple(provisional.values()),
        accounts=tuple(accounts),
    )


def _read_zone(r: _Reader, node: Node | None) -> ZoneInfo | None:
    name = r.text(node, "event timezone")
    if name is None or node is None:
        return None
    zone: ZoneInfo | None = None
    if _ZONE_NAME.match(name) and len(name) <= 64 and name not in _NOT_ZONES:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zone = None
    if zone is None:
        hint = ""
        if _ZONE_NAME.match(name) and len(name) <= 64:
            import zoneinfo

            same = [z for z in zoneinfo.available_timezones() if z.lower() == name.lower() and z not in _NOT_ZONES]
            hint = f' (did you mean "{same[0]}"?)' if same else ""
        r.error(node.line, f'unknown time zone "{_short(name)}"{hint}: use an IANA name such as "Europe/Zurich"')
    return zone


def _read_event(r: _Reader, node: Node | None, top_line: int) -> Event:
    """The event; when a part is missing or wrong, a provisional one with placeholders."""
    m = {} if node is None or node.is_null else r.mapping(node, "event", _EVENT_REQUIRED, _EVENT_OPTIONAL) or {}
    errors_before = r.errors()
    event_id = r.ident(m.get("id"), "event id")
    title = r.text(m.get("title"), "event title")
    account = r.text(m.get("account"), "event account")
    if account is not None and not _ACCOUNT.match(account):
        r.error(m["account"].line, f'event account "{_short(account)}" must be an X handle like "@UNMigNetwork"')
        account = None
    day: date | None = r.value(m.get("date"), "event date", parse_date)
    r.day = day
    zone = _read_zone(r, m.get("timezone"))
    when = day or date(2000, 1, 1)
    place = zone or ZoneInfo("UTC")
    start = r.clock_time(m.get("start"), "event start", when, place)
    end = r.clock_time(m.get("end"), "event end", when, place)
    if start and end and end <= start:
        r.error(m["end"].line, "event ends ({}) before it starts ({})".format(*r.times(end, start)))
        end = None
    errors_before_tags = r.errors()
    hashtags = r.hashtags(m.get("hashtags"), "event hashtags")
    if "hashtags" in m and not hashtags and not m["hashtags"].is_null and r.errors() == errors_before_tags:
        r.error(m["hashtags"].line, "event hashtags must list at least one hashtag")
    posts_from = r.clock_time(m.get("posts_from"), "event posts_from", when, place)
    posts_until = r.clock_time(m.get("posts_until"), "event posts_until", when, place)
    valid_for = r.duration(m.get("valid_for"), "event valid_for")
    links: dict[str, str] = {}
    if "links" in m and not m["links"].is_null:
        lm = m["links"]
        if lm.mapping is None:
            r.error(lm.line, f"event links must be a mapping of names to addresses, not {_a(lm.kind)}")
        else:
            for key, (key_line, value) in lm.mapping.items():
                if value.is_null:
                    r.error(key_line, f'event link "{_short(key)}" has no address')
                    continue
                text = r.text(value, f'event link "{_short(key)}"')
                if text is not None:
                    links[key] = text
    span_known = start is not None and end is not None
    start = start or local_time(when, time(0, 0), place)[0]
    end = end or shifted(start, timedelta(hours=1), place)
    opens = posts_from or shifted(start, -DEFAULT_LEAD, place)
    closes = posts_until or end
    if span_known and opens >= closes:
        line = m["posts_from"].line if posts_from else m["posts_until"].line
        r.error(line, "event posts_from ({}) is not before posts_until ({})".format(*r.times(opens, closes)))
    provisional = r.errors() > errors_before or node is None or None in (event_id, title, account, day, zone)
    budget = _read_budget(r, m.get("budget"))  # after: a wrong budget leaves the posts' times and texts checkable
    lang = r.lang(m.get("lang"), "event lang") or DEFAULT_LANG
    by_lang = r.hashtags_by_lang(m.get("hashtags_by_lang"), "event hashtags_by_lang", lang, required=True)
    return Event(
        id=event_id or "event",
        title=title or "",
        account=account or "@account",
        timezone=zone.key if zone else "UTC",
        date=when,
        start=start,
        end=end,
        hashtags=tuple(hashtags),
        posts_from=opens,
        posts_until=closes,
        valid_for=valid_for or DEFAULT_VALID_FOR,
        links=MappingProxyType(links),
        line=node.line if node is not None else top_line,
        provisional=provisional,
        id_line=m["id"].line if "id" in m else 0,
        budget=budget,
        lang=lang,
        hashtags_by_lang=by_lang,
    )


def parse_usd(text: str) -> float:
    """`5` or `2.50` -> a positive amount of US dollars; BadValue otherwise (no sign, no $, a dot for cents)."""
    value = text.strip()
    if _USD.match(value):
        amount = float(value)
        if amount > 0:
            return amount
        raise BadValue("is no budget at all", "give a positive amount, or leave budget out for no limit")
    if non_ascii_digits(value):
        raise BadValue("is not an amount of US dollars", "write it with the digits 0-9, like 5 or 2.50")
    if value.startswith("-"):
        raise BadValue("is negative", "a budget is a positive amount of US dollars, like 5 or 2.50")
    if value.startswith("$") or value.upper().startswith("USD") or value.upper().endswith("USD"):
        raise BadValue("is not a number", "write the amount alone (it is in US dollars), like 5 or 2.50")
    if re.match(r"^[0-9]+,[0-9]+$", value):
        raise BadValue("is not a number", "write cents after a dot, like 2.50")
    if re.match(r"^[0-9]{10,}", value):
        raise BadValue("is too large an amount")
    raise BadValue("is not an amount of US dollars", "write it as a number, like 5 or 2.50")


def _read_budget(r: _Reader, node: Node | None) -> Budget | None:
    """The event's budget: a mapping with x_usd_per_day, a positive number; None when there is none."""
    if node is None or node.is_null:
        return None
    if node.mapping is None:
        shown = f' "{_short(node.scalar)}"' if node.scalar else ""
        r.error(node.line, f"event budget{shown} must be a mapping, like budget: {{x_usd_per_day: 5}}")
        return None
    m = r.mapping(node, "event budget", _BUDGET_REQUIRED, _BUDGET_OPTIONAL)
    if not m or "x_usd_per_day" not in m:
        return None
    given = m["x_usd_per_day"]
    if given.scalar is None and not given.is_null:
        r.error(given.line, f"event budget x_usd_per_day must be a number, like 5 or 2.50, not {_a(given.kind)}")
        return None
    amount: float | None = r.value(given, "event budget x_usd_per_day", parse_usd)
    return Budget(amount, given.line) if amount is not None else None


def read_budget(path: Path) -> Budget | None:
    """The budget a schedule file sets, for a run or a report that has only the stored event's path.

    Only the YAML and the budget are read (not the whole plan), so that a claim can afford it;
    None when the file sets none, cannot be read, or sets one that is wrong (`check` says so).
    """
    try:
        if not path.is_file():
            return None
        with path.open("rb") as f:
            head = f.read(MAX_YAML_BYTES + 1)
    except OSError:
        return None
    if b"budget" not in head and b"\\" not in head:  # no key can spell it (not even with an escape): skip the parse
        return None
    tree, _problems = read_yaml(path, str(path))
    if tree is None or tree.mapping is None or "event" not in tree.mapping:
        return None
    event = tree.mapping["event"][1]
    if event.mapping is None or "budget" not in event.mapping:
        return None
    r = _Reader(str(path))
    budget = _read_budget(r, event.mapping["budget"][1])
    return budget if r.errors() == 0 else None


def _read_accounts(r: _Reader, node: Node | None, event: Event, top_line: int) -> list[Account]:
    """The event's accounts; none listed: its X account alone (event account)."""
    x_account = Account("x", "x", event.account, top_line, lang=event.lang)
    if node is None or node.is_null:
        return [x_account]
    if node.sequence is None:
        r.error(node.line, f"accounts must be a list, not {_a(node.kind)}")
        return [x_account]
    if not node.sequence:
        r.error(node.line, "accounts lists no account: leave it out to post to the event account on X alone")
        return [x_account]
    out: dict[str, Account] = {}
    for item in node.sequence:
        m = r.mapping(item, "an account", _ACCOUNT_REQUIRED, _ACCOUNT_OPTIONAL)
        if m is None:
            continue
        ident = r.ident(m.get("id"), "account id")
        network = r.text(m.get("network"), "account network")
        handle = r.text(m.get("handle"), "account handle")
        what = f'account "{ident}"' if ident else "account"
        if network is not None and network not in NETWORKS:
            r.error(m["network"].line, f'{what} network "{_short(network)}" is not one livetweet posts to: '
                    f"write {', '.join(NETWORKS[:-1])} or {NETWORKS[-1]}")  # fmt: skip
            network = None
        if network is not None and handle is not None:
            handle = handle.strip()
            if network == "bluesky":
                handle = handle.removeprefix("@").lower()
            elif network == "mastodon":
                handle = "@" + handle.removeprefix("@")
                user, _, domain = handle.partition("@")[2].partition("@")
                handle = f"@{user}@{domain.lower()}"
            pattern, rule = _HANDLE_RULES[network]
            if not pattern.match(handle):
                r.error(m["handle"].line, f'{what} handle "{_short(handle)}" is not {rule}')
                handle = None
            elif network == "x" and event.account and handle.lower() != event.account.lower():
                # One X account per event: a run posts to X with the event account's keys alone.
                other = " (an X account in another language needs an event of its own)" if "lang" in m else ""
                r.error(m["handle"].line, f"{what} is {handle} on X, but the event account is {event.account}: "
                        f"they are one account, write the same handle{other}")  # fmt: skip
                handle = None
        max_chars = r.integer(m.get("max_chars"), f"{what} max_chars") if "max_chars" in m else None
        if max_chars is not None and network != "mastodon":
            r.error(m["max_chars"].line, f"{what} max_chars: only a Mastodon server sets its own limit")
            max_chars = None
        elif max_chars is not None and not 1 <= max_chars <= 100_000:
            r.error(m["max_chars"].line, f"{what} max_chars {max_chars} is no server's limit: write one like 500")
            max_chars = None
        lang = r.lang(m.get("lang"), f"{what} lang") if "lang" in m else event.lang
        if ident is None or network is None or handle is None or lang is None:
            continue
        if ident in out:
            r.error(m["id"].line, f'account "{ident}" is listed twice (first on line {out[ident].line})')
            continue
        out[ident] = Account(ident, network, handle, item.line, max_chars, lang)
    return list(out.values()) or [x_account]


def _check_slot_accounts(r: _Reader, node: Node | None, slots: list[Slot], accounts: list[Account]) -> None:
    """A slot names only accounts the schedule lists, and only languages some of its accounts post in."""
    known = {a.id for a in accounts}
    for slot in slots:
        for name in slot.accounts:
            if name not in known:
                r.error(slot.line, f'slot "{slot.id}" posts to account "{_short(name)}", which accounts does not '
                        f"list (it lists {', '.join(sorted(known))})")  # fmt: skip
        mine = [a for a in accounts if not slot.accounts or a.id in slot.accounts]
        spoken = list(dict.fromkeys(a.lang for a in mine))
        for lang in slot.langs:
            if lang not in spoken:
                where = "none of its accounts posts" if slot.accounts else "no account of the event posts"
                r.error(slot.lang_line or slot.line, f'slot "{slot.id}" lang {lang}: {where} in {lang} '
                        f"(they post in {', '.join(spoken) or 'none'}): give an account lang: {lang}, "
                        "or leave it out of the slot's lang")  # fmt: skip


def _check_tag_languages(r: _Reader, accounts: list[Account]) -> None:
    """A warning for hashtags given in a language no account posts in (a typo, or an account forgotten)."""
    spoken = {a.lang for a in accounts}
    for what, lang, line in r.tag_langs:
        if lang not in spoken:
            r.warn(line, f"{what}: no account posts in {lang} (give one lang: {lang}), so these hashtags are not used")


def _read_objectives(r: _Reader, node: Node | None, lang: str) -> dict[int, Objective]:
    out: dict[int, Objective] = {}
    if node is None or node.is_null:
        return out
    if node.sequence is None:
        r.error(node.line, f"objectives must be a list, not {_a(node.kind)}")
        return out
    for item in node.sequence:
        m = r.mapping(item, "an objective", _OBJECTIVE_REQUIRED, _OBJECTIVE_OPTIONAL)
        if m is None:
            continue
        number = r.integer(m.get("number"), "objective number")
        title = r.text(m.get("title"), "objective title")
        tags = r.hashtags(m.get("hashtags"), "objective hashtags")
        what = f"objective {number} hashtags_by_lang" if number is not None else "objective hashtags_by_lang"
        by_lang = r.hashtags_by_lang(m.get("hashtags_by_lang"), what, lang, required=False)
        if number is None or title is None:
            continue
        if number in out:
            r.error(m["number"].line, f"objective {number} is listed twice (first on line {out[number].line})")
            continue
        out[number] = Objective(number, title, tuple(tags), item.line, by_lang)
    return out


def _read_segments(
    r: _Reader, node: Node | None, event: Event, objectives: dict[int, Objective]
) -> tuple[list[Segment], dict[str, Segment], set[str] | None]:
    """The segments in time order, those read only in part (by id, provisional), and every id
    written, valid or not (None: the list itself is unreadable)."""
    segments: list[Segment] = []
    provisional: dict[str, Segment] = {}
    if node is None or node.is_null:
        return segments, provisional, None
    if node.sequence is None:
        r.error(node.line, f"segments must be a list, not {_a(node.kind)}")
        return segments, provisional, None
    written: set[str] | None = set() if node.sequence else None  # no segment at all: said once
    for item in node.sequence:
        id_node = item.mapping.get("id", (0, None))[1] if item.mapping is not None else None
        if written is not None and id_node is not None and id_node.scalar:
            written.add(id_node.scalar.strip())
    if not node.sequence:
        r.error(node.line, "segments lists no segment: a schedule needs at least one")
    seen: dict[str, int] = {}
    zone = ZoneInfo(event.timezone)
    for item in node.sequence:
        errors_before = r.errors()
        m = r.mapping(item, "a segment", _SEGMENT_REQUIRED, _SEGMENT_OPTIONAL)
        if m is None:
            continue
        seg_id = r.ident(m.get("id"), "segment id")
        what = f'segment "{seg_id}"' if seg_id else "segment"
        title = r.text(m.get("title"), f"{what} title")
        start = r.clock_time(m.get("start"), f"{what} start", event.date, zone)
        end = r.clock_time(m.get("end"), f"{what} end", event.date, zone)
        numbers: list[int] = []
        for value, line in r.text_list(m.get("objectives"), f"{what} objectives"):
            try:
                number = parse_whole_number(value)
            except BadValue as exc:
                hint = f" ({exc.hint})" if exc.hint else ""
                r.error(line, f'{what} objectives: "{_short(value)}" is not an objective number{hint}')
                continue
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
        if start is not None and end is not None and end <= start:
            r.error(m["end"].line, "{} ends ({}) before it starts ({})".format(what, *r.times(end, start)))
            end = None
        if seg_id is None:
            continue
        seen[seg_id] = item.line
        if start is not None and end is not None and not event.provisional and (start < event.start or end > event.end):
            r.error(
                item.line,
                "{} ({}-{}) lies outside the event ({}-{})".format(what, *r.times(start, end, event.start, event.end)),
            )
        segment = Segment(
            seg_id,
            title or "",
            start or event.start,
            end or event.end,
            tuple(numbers),
            question,
            topic,
            speakers,
            item.line,
            provisional=r.errors() > errors_before or None in (title, start, end),
        )
        if segment.provisional:
            provisional[seg_id] = segment
        else:
            segments.append(segment)
    ordered = sorted(segments, key=lambda s: (s.start, s.line))
    for before, after in pairwise(ordered):
        if after.start < before.end:
            r.error(
                after.line,
                'segment "{}" ({}-{}) overlaps segment "{}" ({}-{}, line {})'.format(
                    after.id,
                    *r.times(after.start, after.end),
                    before.id,
                    *r.times(before.start, before.end),
                    before.line,
                ),
            )
    return ordered, provisional, written


def _read_slots(
    r: _Reader,
    node: Node | None,
    event: Event,
    segments: list[Segment],
    provisional: dict[str, Segment],
    written: set[str] | None,
    folder: Path,
) -> list[Slot]:
    """Slots in time order; anchors to segments that exist but are broken are not re-reported.

    A slot's media files are named relative to `folder`, the schedule's."""
    slots: list[Slot] = []
    if node is None or node.is_null:
        return slots
    if node.sequence is None:
        r.error(node.line, f"slots must be a list, not {_a(node.kind)}")
        return slots
    if not node.sequence:
        r.error(node.line, "slots lists no slot: there is nothing to post")
    by_id = {s.id: s for s in segments}
    fallback = segments[0] if segments else next(iter(provisional.values()), None)
    seen: dict[str, int] = {}
    zone = ZoneInfo(event.timezone)
    for item in node.sequence:
        errors_before = r.errors()
        m = r.mapping(item, "a slot", _SLOT_REQUIRED, _SLOT_OPTIONAL)
        if m is None:
            continue
        slot_id = r.ident(m.get("id"), "slot id")
        what = f'slot "{slot_id}"' if slot_id else "slot"
        template = _read_template_name(r, m.get("template"), what)
        anchored = _read_anchor(r, m.get("at"), what, by_id, provisional, written, zone)
        valid_for = r.duration(m.get("valid_for"), f"{what} valid_for")
        reply_to = r.ident(m.get("reply_to"), f"{what} reply_to")
        omit: dict[str, str] = {}
        om = m.get("omit_hashtags")
        if om is not None and not om.is_null:
            if om.mapping is None:
                r.error(om.line, f'{what} omit_hashtags must map each hashtag to the reason, like "#GCM": "why"')
            else:
                for tag, (tag_line, reason_node) in om.mapping.items():
                    reason = r.text(reason_node, f"{what} omit_hashtags {_short(tag)}", required=False)
                    problem = hashtag_problem(tag)
                    if problem:
                        r.error(tag_line, f'{what} omit_hashtags: "{_short(tag)}" {problem}')
                    elif not reason:
                        r.error(tag_line, f"{what} omits {tag} without a reason: say why after the colon")
                    else:
                        omit[tag] = reason
        variables: Any = MappingProxyType({})
        vm = m.get("vars")
        if vm is not None and not vm.is_null:
            if vm.mapping is None:
                r.error(vm.line, f"{what} vars must be a mapping of names to values")
            else:
                variables = r.plain(vm, f"{what} vars")
        media = _read_media(r, m.get("media"), what, folder)
        card = _read_card(r, m.get("card"), what)
        langs: list[str] = []
        for value, line in r.text_list(m.get("lang"), f"{what} lang"):
            code = r.lang_code(value, line, f"{what} lang")
            if code is not None and code not in langs:
                langs.append(code)
        if slot_id is not None and slot_id in seen:
            r.error(m["id"].line, f'slot id "{slot_id}" is used twice (first on line {seen[slot_id]})')
        if slot_id is not None:
            seen.setdefault(slot_id, item.line)
        if slot_id is None or template is None:
            continue
        if anchored is not None:
            segment, anchor, at = anchored
        elif fallback is not None:
            segment, anchor, at = fallback, "", fallback.start
        else:
            continue  # no segment at all to render the template in
        is_provisional = r.errors() > errors_before or anchored is None or segment.provisional or event.provisional
        if not is_provisional and (at < event.posts_from or at > event.posts_until):
            r.error(
                m["at"].line,
                "{} at {} lies outside the event's posting window ({}-{}); set event posts_from/posts_until "
                "to post earlier or later".format(what, *r.times(at, event.posts_from, event.posts_until)),
            )
        slots.append(
            Slot(
                id=slot_id,
                template=template,
                segment=segment.id,
                anchor=anchor,
                at=at,
                valid_for=valid_for or event.valid_for,
                reply_to=reply_to,
                omit_hashtags=MappingProxyType(omit),
                vars=variables,
                line=item.line,
                template_line=m["template"].line,
                reply_to_line=m["reply_to"].line if "reply_to" in m else 0,
                provisional=is_provisional,
                media=tuple(media),
                media_line=item.mapping["media"][0] if item.mapping and "media" in m else 0,  # the key's line
                accounts=tuple(dict.fromkeys(v for v, _ in r.text_list(m.get("accounts"), f"{what} accounts"))),
                langs=tuple(langs),
                lang_line=m["lang"].line if "lang" in m else 0,
                card=card,
            )
        )
    named = set(seen) | {
        id_node.scalar.strip()
        for item in node.sequence
        if item.mapping is not None and (id_node := item.mapping.get("id", (0, None))[1]) is not None and id_node.scalar
    }
    _check_replies(r, slots, named)
    return sorted(slots, key=lambda s: (s.at, s.line))


def _read_media(r: _Reader, node: Node | None, what: str, folder: Path) -> list[MediaRef]:
    """A slot's images: each a file (relative to the schedule) and its alt text, as written.

    What the files hold and whether the alt text serves is for `check`, which renders the alt
    text and reads the files; here only the shape is read."""
    if node is None or node.is_null:
        return []
    if node.sequence is None:
        r.error(node.line, f'{what} media must be a list of images, like [{{file: media/panel.jpg, alt: "..."}}]')
        return []
    out = []
    for number, item in enumerate(node.sequence, 1):
        label = f"{what} media {number}"
        if item.mapping is None:
            shown = f' "{_short(item.scalar)}"' if item.scalar else ""
            r.error(
                item.line,
                f"{label}{shown} must give the file and its alt text, like "
                '{file: media/panel.jpg, alt: "The five panellists on stage"}',
            )
            continue
        m = r.mapping(item, label, _MEDIA_REQUIRED, _MEDIA_OPTIONAL)
        if m is None:
            continue
        file = r.text(m.get("file"), f"{label} file")
        if file is None:
            continue
        alt_node = m.get("alt")
        alt = None
        if alt_node is not None and not alt_node.is_null:
            alt = r.text(alt_node, f"{label} alt", required=False)
        out.append(
            MediaRef(
                file=file,
                path=folder / file,
                alt=alt,
                line=item.line,
                file_line=m["file"].line,
                alt_line=alt_node.line if alt_node is not None else item.line,
            )
        )
    return out


def _read_card(r: _Reader, node: Node | None, what: str) -> CardRef | None:
    """A slot's quote card: what the speaker said, who said it, and its colours (like #0B57D0)."""
    if node is None or node.is_null:
        return None
    m = r.mapping(node, f"{what} card", _CARD_REQUIRED, _CARD_OPTIONAL)
    if m is None:
        return None
    quote = r.text(m.get("quote"), f"{what} card quote")
    speaker = r.text(m.get("speaker"), f"{what} card speaker")
    colours: dict[str, str] = {}
    for name in _CARD_OPTIONAL:
        value = r.text(m.get(name), f"{what} card {name}") if name in m else None
        if value is None:
            continue
        if not _COLOUR.fullmatch(value):
            r.error(m[name].line, f'{what} card {name} "{_short(value)}" is not a colour: write one like "#0B57D0"')
            continue
        colours[name] = value
    if quote is None or speaker is None:
        return None
    return CardRef(quote, speaker, node.line, m["quote"].line, m["speaker"].line, MappingProxyType(colours))


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _read_template_name(r: _Reader, node: Node | None, what: str) -> str | None:
    name = r.text(node, f"{what} template")
    if name is None or node is None:
        return None
    bare = name.removesuffix(".j2")
    if not _TEMPLATE_NAME.match(bare) or ".." in bare.split("/") or len(name) > 100:
        r.error(
            node.line,
            f'{what} template "{_short(name)}" must name a file in the templates folder, like "question"',
        )
        return None
    return name


def _read_anchor(
    r: _Reader,
    node: Node | None,
    what: str,
    segments: dict[str, Segment],
    provisional: dict[str, Segment],
    written: set[str] | None,
    zone: ZoneInfo,
) -> tuple[Segment, str, datetime] | None:
    value = r.text(node, f"{what} at")
    if value is None or node is None:
        return None
    m = _ANCHOR.match(value)
    if not m:
        r.error(
            node.line,
            f'{what} at "{_short(value)}" must be anchored to a segment, like "q2.start + 2m" or "closing.end - 5m"',
        )
        return None
    seg_id, edge = m.group("segment"), m.group("edge")
    if edge not in ("start", "end"):
        r.error(node.line, f'{what} at "{_short(value)}": a segment has a "start" and an "end", not "{edge}"')
        return None
    segment = segments.get(seg_id) or provisional.get(seg_id)
    if segment is None and (written is None or seg_id in written):
        return None  # the segment itself is at fault, and reported there
    if segment is None:
        close = difflib.get_close_matches(seg_id, list(segments) + list(provisional), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        r.error(node.line, f'{what} is anchored to unknown segment "{seg_id}"{hint}')
        return None
    offset = timedelta(0)
    if m.group("offset"):
        try:
            parsed = parse_duration(m.group("offset"))
        except BadValue as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            r.error(node.line, f'{what} at "{_short(value)}": "{_short(m.group("offset"))}" {exc.reason}{hint}')
            return None
        offset = parsed if m.group("sign") == "+" else -parsed
    base = segment.start if edge == "start" else segment.end
    at = shifted(base, offset, zone)
    if not segment.provisional and at.utcoffset() != base.utcoffset():
        wall = at.replace(tzinfo=None) - base.replace(tzinfo=None)
        r.warn(
            node.line,
            '{} at "{}" is {}: the clocks change in between, so it is {} from {} on the clock'.format(
                what, _short(value), *r.times(at, base)[:1], format_duration(wall), r.times(base, at)[0]
            ),
        )
    return segment, value, at


def _check_replies(r: _Reader, slots: list[Slot], named: set[str]) -> None:
    """Replies to slots that exist, after them, without cycles (`named`: every slot id written)."""
    by_id: dict[str, Slot] = {}
    for s in slots:
        by_id.setdefault(s.id, s)
    reported: set[frozenset[str]] = set()
    for slot in slots:
        if slot.reply_to is None:
            continue
        parent = by_id.get(slot.reply_to)
        if parent is None and slot.reply_to in named:
            continue  # that slot is at fault, and reported there
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
        if slot.provisional or parent.provisional:
            continue
        if slot.at < parent.at:
            r.error(
                slot.reply_to_line,
                'slot "{}" replies to "{}" but is due before it ({} < {})'.format(
                    slot.id, parent.id, *r.times(slot.at, parent.at, seconds=True)
                ),
            )
