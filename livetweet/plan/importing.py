"""Posts from a spreadsheet (CSV) as a schedule's slots: every bad row named with its line.

`read_sheet` reads the sheet's bytes against the event's schedule (its segments give the
anchors, its account the one account a sheet may name) and returns the rows and every problem
as `FILE:LINE: message`; `schedule_text` writes the event's schedule with these rows as its
slots, and says which line of it came from which row, so that what `check` then finds is told
against the sheet. Pure: the command reads and writes the files.

The columns (a header row names them; case, spaces and order do not matter):
    time or anchor    13:45, 2020-11-12 13:45, 2020-11-12T13:45:00+01:00, or q2.start + 2m (both: they must agree)
    text or template  the post as written, or a template's name (with `vars`, a JSON object)
    hashtags          added to a written text when it lacks them
    media, alt_text   image files (relative to the schedule's folder) and their alt texts, one a line
    reply_to          the id of another row; id: the slot's id (else post-1, post-2... by row)
    account           the event's account, or empty; valid_for: 10m; omit_hashtags: {"#Tag": "why"}
A row that gives a text and a template keeps the template when it writes exactly that text
(a sheet exported by livetweet and left as it was), and the text otherwise.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import BadValue, Problem
from .normal import normal_text
from .schedule import hashtag_problem, local_time, shifted
from .tweettext import extract_hashtags
from .values import format_duration, parse_clock_time, parse_date, parse_duration

if TYPE_CHECKING:
    from .schedule import Schedule, Segment
    from .yamlfile import Node

MAX_BYTES = 4 * 1024 * 1024  # the size limit of a schedule: a sheet of posts is far smaller
MAX_ROWS = 20_000
MAX_CELL = 10_000  # characters in one cell (a post is 280)
TEXT_TEMPLATE = "text"  # templates/text.j2: {{ slot.vars.text }}, for the posts written in the sheet
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what `livetweet export` protects with an apostrophe

COLUMNS = ("id", "time", "anchor", "text", "template", "vars", "hashtags", "media", "alt_text", "reply_to",
           "account", "valid_for", "omit_hashtags")  # fmt: skip
ALIASES = {
    "slot": "id", "at": "time", "when": "time", "date": "time", "datetime": "time", "posting_time": "time",
    "scheduled_at": "time", "message": "text", "post": "text", "content": "text", "tags": "hashtags",
    "image": "media", "images": "media", "file": "media", "files": "media", "alt": "alt_text",
    "alt_texts": "alt_text", "in_reply_to": "reply_to", "window": "valid_for",
}  # fmt: skip
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ANCHOR = re.compile(r"^(?P<segment>[A-Za-z0-9_-]+)\.(?P<edge>[A-Za-z]+)\s*(?:(?P<sign>[+-])\s*(?P<offset>\S+))?$")
_TEMPLATE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
_STAMP = re.compile(
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[ T](?P<time>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)(?:\.[0-9]+)?"
    r"(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_JINJA = ("{{", "{%", "{#")


@dataclass(frozen=True)
class SheetRow:
    """One post of the sheet, read and checked as far as a sheet can be (the rest is `check`'s)."""

    line: int
    id: str
    anchor: str
    segment: str
    at: datetime
    text: str | None  # written in the sheet (with the hashtags column added)
    template: str | None
    vars: dict[str, Any]
    media: tuple[str, ...]
    alt_texts: tuple[str, ...]
    reply_to: str | None
    valid_for: timedelta | None
    omit_hashtags: dict[str, str]

    @property
    def written(self) -> bool:
        """The slot posts the sheet's text (through the text template), not a template of its own."""
        return self.template is None


@dataclass
class Sheet:
    """What a sheet holds: its rows, and everything wrong with it."""

    rows: list[SheetRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def read_sheet(data: bytes, name: str, schedule: Schedule) -> Sheet:
    """The sheet's rows for `schedule`'s event, and every problem with its line; never raises for the file."""
    sheet = Sheet()
    text = _decode(data, name, sheet)
    if text is None:
        return sheet
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: dict[int, str] | None = None
    width = 0  # the header row's cells
    seen: dict[str, int] = {}
    raw: list[tuple[int, dict[str, str]]] = []
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header, width = _header(cells, name, line, sheet), len(cells)
                if header is None:
                    return sheet
                continue
            if len(raw) >= MAX_ROWS:
                sheet.problems.append(Problem(name, line, f"the sheet has more than {MAX_ROWS:,} posts: split it"))
                return sheet
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                sheet.problems.append(
                    Problem(name, line, f"this row has {len(cells)} cells but the header names {width} columns")
                )
                continue
            raw.append((line, {header[i]: _cell(c) for i, c in enumerate(cells) if i in header}))
    except csv.Error as exc:
        sheet.problems.append(Problem(name, reader.line_num or start, f"is not readable as CSV here ({exc})"))
        return sheet
    if header is None:
        sheet.problems.append(Problem(name, 0, "is empty: a sheet of posts starts with a header row (time, text...)"))
        return sheet
    if not raw:
        sheet.problems.append(Problem(name, 0, "has a header but no post"))
        return sheet
    given = {values["id"]: line for line, values in raw if values.get("id")}
    for number, (line, values) in enumerate(raw, 1):
        row = _row(values, line, number, name, schedule, sheet, given)
        if row is None:
            continue
        if row.id in seen:
            sheet.problems.append(Problem(name, line, f'id "{row.id}" is used twice (first on line {seen[row.id]})'))
            continue
        seen[row.id] = line
        sheet.rows.append(row)
    for row in sheet.rows:
        if row.reply_to is not None and row.reply_to not in seen:
            close = difflib.get_close_matches(row.reply_to, list(seen), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            sheet.problems.append(
                Problem(name, row.line, f'reply_to "{_short(row.reply_to)}" is the id of no row of this sheet{hint}')
            )
    sheet.problems.sort(key=lambda p: (p.line, p.message))
    return sheet


def _decode(data: bytes, name: str, sheet: Sheet) -> str | None:
    if len(data) > MAX_BYTES:
        sheet.problems.append(
            Problem(name, 0, f"is {len(data) / 1e6:.1f} MB: a sheet of posts is far smaller (at most 4 MB)")
        )
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        sheet.problems.append(Problem(name, 1, 'is UTF-16 text ("Unicode text"): save the sheet as "CSV UTF-8"'))
        return None
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        sheet.problems.append(Problem(name, line, "this line holds a NUL byte: a sheet of posts is text"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        sheet.problems.append(
            Problem(name, line, f'is not UTF-8 text (byte 0x{data[exc.start]:02x}): save the sheet as "CSV UTF-8"')
        )
        return None


def _delimiter(text: str) -> str:
    """A comma, or what the header row separates its names with (a semicolon in many locales, a tab)."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell(value: str) -> str:
    """A cell's text in livetweet's normal form, the apostrophe `export` put before a formula-like start taken off."""
    if len(value) > MAX_CELL:
        return value  # reported by the row, with its length
    if value.startswith("'") and value[1:2] and value[1] in "=+-@\t\r":
        value = value[1:]
    return normal_text(value).strip()


def _header(cells: list[str], name: str, line: int, sheet: Sheet) -> dict[int, str] | None:
    found: dict[int, str] = {}
    problems = []
    for index, cell in enumerate(cells):
        label = re.sub(r"[\s-]+", "_", normal_text(cell).strip().lower())
        if not label:
            continue
        column = ALIASES.get(label, label)
        if column not in COLUMNS:
            close = difflib.get_close_matches(column, COLUMNS, n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"the columns are {', '.join(COLUMNS)}"
            problems.append(f'unknown column "{_short(cell)}" ({hint})')
            continue
        if column in found.values():
            problems.append(f'the column "{column}" is named twice')
            continue
        found[index] = column
    names = set(found.values())
    if not problems and not names & {"time", "anchor"}:
        problems.append("the header names no time or anchor column: each post needs one (13:45, or q2.start + 2m)")
    if not problems and not names & {"text", "template"}:
        problems.append("the header names no text or template column: each post needs one")
    for message in problems:
        sheet.problems.append(Problem(name, line, message))
    return None if problems else found


def _row(
    cells: dict[str, str], line: int, number: int, name: str, schedule: Schedule, sheet: Sheet, given: dict[str, int]
) -> SheetRow | None:
    """One row as a slot, or None with its problems recorded (every problem of the row, not only the first)."""
    errors: list[str] = []
    for column, value in cells.items():
        if len(value) > MAX_CELL:
            errors.append(f"the {column} cell is {len(value):,} characters long: at most {MAX_CELL:,}")
    if errors:
        sheet.problems.extend(Problem(name, line, e) for e in errors)
        return None
    get = cells.get
    row_id = get("id") or _fresh_id(number, given)
    if get("id") and (not _ID.match(row_id) or len(row_id) > 64):
        errors.append(f'id "{_short(row_id)}" must be lower-case letters, digits, "-" or "_" (at most 64)')
    placed = _when(get("time") or "", get("anchor") or "", schedule, errors)
    text, template = get("text") or None, get("template") or None
    if text is None and template is None:
        errors.append("this row has no text and no template: write the post in text, or name a template")
    if template is not None and (not _TEMPLATE.match(template.removesuffix(".j2")) or ".." in template):
        errors.append(f'template "{_short(template)}" must name a file of the templates folder, like "question"')
    variables = _json_object(get("vars") or "", "vars", '{"number": 2}', errors)
    if variables and template is None:
        errors.append("vars go with a template: this row has only a text")
    tags = _hashtags(get("hashtags") or "", errors)
    media = tuple(m.strip() for m in (get("media") or "").split("\n") if m.strip())
    alts = tuple(a.strip() for a in (get("alt_text") or "").split("\n"))
    alts = () if alts == ("",) else alts
    if alts and not media:
        errors.append("alt_text is given but media names no image")
    elif alts and len(alts) != len(media):
        errors.append(
            f"media names {len(media)} image(s) but alt_text gives {len(alts)} (one a line, in the same order)"
        )
    if any(".." in m.replace("\\", "/").split("/") or m.startswith("/") for m in media):
        errors.append("media files are named relative to the schedule's folder, inside it (no /... or ..)")
    for alt in alts:
        if "endraw" in alt and any(j in alt for j in _JINJA):
            errors.append("an alt text holds template markers and {% endraw %}: write it without them")
    reply_to = get("reply_to") or None
    if reply_to is not None and not _ID.match(reply_to):
        errors.append(f'reply_to "{_short(reply_to)}" must be the id of another row')
    account = get("account") or ""
    if account and account.lstrip("@").lower() != schedule.event.account.lstrip("@").lower():
        errors.append(
            f"account {_short(account)} is not the event's ({schedule.event.account}): a schedule posts from one "
            "account; make a sheet per account"
        )
    valid_for = None
    if get("valid_for"):
        try:
            valid_for = parse_duration(get("valid_for") or "")
            if not valid_for:
                errors.append(f'valid_for "{get("valid_for")}" is no time at all: a post needs a window to go out in')
        except BadValue as exc:
            errors.append(f'valid_for "{_short(get("valid_for") or "")}" {exc}')
    omit = _json_object(get("omit_hashtags") or "", "omit_hashtags", '{"#GCM": "why it is left out"}', errors)
    for tag, why in omit.items():
        problem = hashtag_problem(str(tag))
        if problem:
            errors.append(f'omit_hashtags: "{_short(str(tag))}" {problem}')
        elif not isinstance(why, str) or not why.strip():
            errors.append(f"omit_hashtags leaves out {tag} without a reason: say why")
    if errors or placed is None:
        sheet.problems.extend(Problem(name, line, e) for e in errors)
        return None
    segment, anchor, at = placed
    if text is not None:
        text = _with_tags(text, tags)
    elif tags:
        errors.append("hashtags go with a text: a template writes its own (or add them to the template)")
        sheet.problems.extend(Problem(name, line, e) for e in errors)
        return None
    return SheetRow(
        line=line, id=row_id, anchor=anchor, segment=segment.id, at=at, text=text, template=template,
        vars=variables, media=media, alt_texts=alts, reply_to=reply_to,
        valid_for=valid_for if valid_for != schedule.event.valid_for else None,
        omit_hashtags={str(k): str(v).strip() for k, v in omit.items()},
    )  # fmt: skip


def _fresh_id(number: int, given: dict[str, int]) -> str:
    """post-N for the N-th row, unless a row's own id is that already."""
    candidate, n = f"post-{number}", 1
    while candidate in given:
        n += 1
        candidate = f"post-{number}-{n}"
    return candidate


def _when(
    time_text: str, anchor_text: str, schedule: Schedule, errors: list[str]
) -> tuple[Segment, str, datetime] | None:
    """The row's segment, its anchor and its moment, from its anchor or its time (both: they must agree)."""
    event = schedule.event
    if not time_text and not anchor_text:
        errors.append("this row has no time: give a time (13:45) or an anchor (q2.start + 2m)")
        return None
    anchored = _read_anchor(anchor_text, schedule, errors) if anchor_text else None
    if anchor_text and anchored is None:
        return None
    at = _read_time(time_text, schedule, errors) if time_text else None
    if time_text and at is None:
        return None
    if anchored is not None:
        if at is not None and at != anchored[2]:
            shown = anchored[2].astimezone(event.zone).strftime("%H:%M:%S" if anchored[2].second else "%H:%M")
            errors.append(
                f'time {_short(time_text)} and anchor "{_short(anchor_text)}" ({shown}) disagree: give one, or '
                "make them agree"
            )
            return None
        return anchored
    assert at is not None
    return _anchor_for(at, schedule)


def _read_anchor(text: str, schedule: Schedule, errors: list[str]) -> tuple[Segment, str, datetime] | None:
    m = _ANCHOR.match(text)
    if not m:
        errors.append(f'anchor "{_short(text)}" must be a segment\'s start or end, like "q2.start + 2m"')
        return None
    segments = {s.id: s for s in schedule.segments}
    segment = segments.get(m.group("segment"))
    if segment is None:
        close = difflib.get_close_matches(m.group("segment"), list(segments), n=1)
        hint = f'did you mean "{close[0]}"?' if close else f"segments: {', '.join(segments)}"
        errors.append(f'anchor "{_short(text)}" names no segment of the event ({hint})')
        return None
    edge = m.group("edge")
    if edge not in ("start", "end"):
        errors.append(f'anchor "{_short(text)}": a segment has a "start" and an "end", not "{_short(edge, 20)}"')
        return None
    offset = timedelta(0)
    if m.group("offset"):
        try:
            offset = parse_duration(m.group("offset"))
        except BadValue as exc:
            errors.append(f'anchor "{_short(text)}": "{_short(m.group("offset"), 20)}" {exc}')
            return None
        offset = offset if m.group("sign") == "+" else -offset
    base = segment.start if edge == "start" else segment.end
    return segment, " ".join(text.split()), shifted(base, offset, schedule.event.zone)


def _read_time(text: str, schedule: Schedule, errors: list[str]) -> datetime | None:
    """13:45 (the event's day), 2020-11-12 13:45 (in the event's zone), or with its offset (2020-11-12T13:45+01:00)."""
    event = schedule.event
    value = text.strip()
    try:
        m = _STAMP.match(value)
        if m is None:
            clock = parse_clock_time(value)
            return local_time(event.date, clock, event.zone)[0]
        day, clock = parse_date(m.group("date")), parse_clock_time(m.group("time"))
        zone = m.group("zone")
        if zone is None:
            return local_time(day, clock, event.zone)[0]
        if zone == "Z":
            offset = timedelta(0)
        else:
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = offset if zone[0] == "+" else -offset
        moment = datetime.combine(day, clock).replace(tzinfo=UTC) - offset
        return moment.astimezone(event.zone)
    except BadValue as exc:
        hint = (
            exc.hint
            if "/" not in value
            else "write the date as YYYY-MM-DD (13/11/2020 is read differently by each country)"
        )
        errors.append(f'time "{_short(value)}" {exc.reason}' + (f": {hint}" if hint else ""))
        return None


def _anchor_for(at: datetime, schedule: Schedule) -> tuple[Segment, str, datetime]:
    """The anchor that names `at`: from the start of the segment it falls in, the end of the one before
    it (a gap, or after the last), or before the start of the first."""
    segments = sorted(schedule.segments, key=lambda s: s.start)
    inside = [s for s in segments if s.start <= at < s.end]
    if inside:
        segment, edge, base = inside[-1], "start", inside[-1].start
    else:
        before = [s for s in segments if s.end <= at]
        if before:
            segment, edge, base = before[-1], "end", before[-1].end
        else:
            segment, edge, base = segments[0], "start", segments[0].start
    delta = at.astimezone(UTC) - base.astimezone(UTC)
    whole = timedelta(seconds=round(delta.total_seconds()))
    if not whole:
        anchor = f"{segment.id}.{edge}"
    else:
        sign = "+" if whole > timedelta(0) else "-"
        anchor = f"{segment.id}.{edge} {sign} {format_duration(abs(whole))}"
    return segment, anchor, shifted(base, whole, schedule.event.zone)


def _json_object(text: str, what: str, example: str, errors: list[str]) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        errors.append(f"{what} must be a JSON object, like {example}")
        return {}
    return value


def _hashtags(text: str, errors: list[str]) -> list[str]:
    tags = []
    for word in re.split(r"[\s,]+", text):
        if not word:
            continue
        tag = word if word.startswith("#") else "#" + word
        problem = hashtag_problem(tag)
        if problem:
            errors.append(f'hashtags: "{_short(word)}" {problem}')
            continue
        tags.append(tag)
    return tags


def _with_tags(text: str, tags: list[str]) -> str:
    """The text with each hashtag of the column it lacks, on its last line of hashtags or a new one."""
    present = {e.value.lower() for e in extract_hashtags(text)}
    for tag in tags:
        if tag[1:].lower() in present:
            continue
        present.add(tag[1:].lower())
        last = text.rsplit("\n", 1)[-1].split()
        text = f"{text} {tag}" if last and all(w.startswith(("#", "@")) for w in last) else f"{text}\n\n{tag}"
    return text


def _short(text: str, limit: int = 60) -> str:
    one = " ".join(text.replace("\n", "\\n").split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


# --- writing the schedule ----------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style for texts of several lines, as a person would write them."""


def _text_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text_representer)


def _literal_alt(alt: str) -> str:
    """An alt text as template source that renders to itself (alt text is a template in a schedule)."""
    return f"{{% raw %}}{alt}{{% endraw %}}" if any(j in alt for j in _JINJA) else alt


def _slot(row: SheetRow) -> dict[str, Any]:
    slot: dict[str, Any] = {"id": row.id, "template": row.template or TEXT_TEMPLATE, "at": row.anchor}
    if row.valid_for is not None:
        slot["valid_for"] = format_duration(row.valid_for)
    if row.reply_to:
        slot["reply_to"] = row.reply_to
    if row.omit_hashtags:
        slot["omit_hashtags"] = dict(row.omit_hashtags)
    if row.template is None:
        slot["vars"] = {"text": row.text}
    elif row.vars:
        slot["vars"] = {k: _yaml_value(v) for k, v in row.vars.items()}
    if row.media:
        items = []
        for number, file in enumerate(row.media):
            item: dict[str, str] = {"file": file}
            alt = row.alt_texts[number] if number < len(row.alt_texts) else ""
            if alt:
                item["alt"] = _literal_alt(alt)
            items.append(item)
        slot["media"] = items
    return slot


def _yaml_value(value: Any) -> Any:
    """A JSON value as the schedule reads it: text (no YAML type guessing there), lists and mappings."""
    if isinstance(value, dict):
        return {str(k): _yaml_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_value(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def slots_text(rows: list[SheetRow], source: str) -> tuple[str, list[tuple[int, int, int]]]:
    """The `slots:` section for these rows, and (first line, last line, sheet line) of each slot in it."""
    lines = [f"# Made by `livetweet import` from {source}: one slot per row of the sheet.", "slots:"]
    spans = []
    for row in rows:
        dumped = yaml.dump([_slot(row)], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
        block = ["  " + line if line.strip() else "" for line in dumped.rstrip("\n").split("\n")]
        spans.append((len(lines) + 1, len(lines) + len(block), row.line))
        lines.extend(block)
    return "\n".join(lines) + "\n", spans


def schedule_text(
    source_text: str, tree: Node, rows: list[SheetRow], sheet_name: str, templates: str | None
) -> tuple[str, list[tuple[int, int, int]]]:
    """The event's schedule (its text as written, comments kept) with the sheet's rows as its slots.

    `tree` is the schedule's YAML tree (for the lines of its top-level keys); `templates`, when
    given, is the templates folder as the new file must name it (relative to its own folder).
    Returns the text and, for each slot, (first line, last line, sheet line) in the new file.
    """
    assert tree.mapping is not None
    lines = source_text.split("\n")
    keys = sorted((line, key) for key, (line, _node) in tree.mapping.items())
    slots_line = tree.mapping["slots"][0]
    after = [line for line, _key in keys if line > slots_line]
    end = after[0] - 1 if after else len(lines)
    while end > slots_line and after and lines[end - 1].lstrip().startswith("#"):
        end -= 1  # the comment above the next key belongs to it
    head, tail = lines[: slots_line - 1], lines[end:]
    if templates is not None:
        if "templates" in tree.mapping:
            t_line = tree.mapping["templates"][0]
            if t_line < slots_line:
                head[t_line - 1] = f"templates: {json.dumps(templates)}"
            else:
                tail[t_line - end - 1] = f"templates: {json.dumps(templates)}"
        else:
            head.append(f"templates: {json.dumps(templates)}")
    section, spans = slots_text(rows, sheet_name)
    offset = len(head)
    text = "\n".join(head) + ("\n" if head else "") + section + "\n".join(tail)
    if not text.endswith("\n"):
        text += "\n"
    return text, [(first + offset, last + offset, sheet_line) for first, last, sheet_line in spans]


def sheet_line(spans: list[tuple[int, int, int]], line: int) -> int | None:
    """The sheet's line of the row that made the schedule's `line`, if a slot holds it."""
    for first, last, source in spans:
        if first <= line <= last:
            return source
    return None
