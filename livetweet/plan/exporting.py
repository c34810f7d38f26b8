"""The plan for other tools: a calendar (iCalendar) and spreadsheets (livetweet's own, Hootsuite's, Buffer's).

Pure functions of a checked schedule's posts: nothing is read or written here. The
spreadsheet in livetweet's own columns is the one `livetweet import` reads back, so a plan
sent to colleagues as a sheet and edited there comes back as a schedule.

Which columns the other tools take (their help pages, as read for issue 17; they change):
- Hootsuite's bulk composer: no header row; the date and time (DD/MM/YYYY HH:MM, 24-hour, in
  the time zone of the Hootsuite account), the message, and an optional link.
- Buffer's bulk upload: a header row `Text,Image URL,Tags,Posting Time`, the time as
  YYYY-MM-DD HH:MM in the channel's time zone; images only by URL.
Every text cell that a spreadsheet could take for a formula (starting with = + - @, a tab or a
carriage return) gets a leading apostrophe; `livetweet import` takes it off again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .values import format_duration

if TYPE_CHECKING:  # only their types: the report imports safe_cell without the planner
    from .compose import Post
    from .schedule import Schedule

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# livetweet's own columns, in the order of the sheet: what `livetweet import` reads.
SHEET_COLUMNS = (
    "id", "time", "anchor", "text", "template", "vars", "hashtags", "media", "alt_text", "reply_to", "account",
    "valid_for", "omit_hashtags",
)  # fmt: skip
HOOTSUITE_COLUMNS = ("date", "message", "link")  # written without a header row, as Hootsuite asks
BUFFER_COLUMNS = ("Text", "Image URL", "Tags", "Posting Time")
SHEETS = ("livetweet", "hootsuite", "buffer")


def safe_cell(value: object) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True)
class PlanRow:
    """A post of the plan as a sheet shows it."""

    id: str
    at: datetime  # in the event's zone
    anchor: str
    text: str  # as it will be posted, hashtags included
    template: str
    vars: Mapping[str, Any]
    hashtags: tuple[str, ...]
    media: tuple[str, ...]  # files, as the schedule names them
    alt_texts: tuple[str, ...]  # rendered, one per file
    reply_to: str | None
    account: str
    valid_for: timedelta | None  # None: the event's default
    omit_hashtags: Mapping[str, str]
    segment: str


def plan_rows(schedule: Schedule, posts: Sequence[Post]) -> list[PlanRow]:
    """The schedule's posts in time order, as rows of a sheet."""
    event = schedule.event
    rows = []
    for post in sorted(posts, key=lambda p: (p.slot.at, p.slot.line)):
        slot = post.slot
        alts = tuple(image.alt for image in post.media) if post.media else tuple("" for _ in slot.media)
        rows.append(
            PlanRow(
                id=slot.id,
                at=slot.at.astimezone(event.zone),
                anchor=slot.anchor,
                text=post.text,
                template=slot.template,
                vars=slot.vars,
                hashtags=post.hashtags,
                media=tuple(ref.file for ref in slot.media),
                alt_texts=alts,
                reply_to=slot.reply_to,
                account=event.account,
                valid_for=None if slot.valid_for == event.valid_for else slot.valid_for,
                omit_hashtags=slot.omit_hashtags,
                segment=slot.segment,
            )
        )
    return rows


def _plain(value: Any) -> Any:
    """Slot vars (read-only mappings and tuples) as JSON-ready data."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _time_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S" if when.second else "%Y-%m-%d %H:%M")


def sheet_csv(rows: Sequence[PlanRow], columns: str = "livetweet") -> str:
    """The rows as CSV in livetweet's own columns (what `livetweet import` reads), or Hootsuite's or Buffer's."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if columns == "livetweet":
        writer.writerow(SHEET_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    safe_cell(r.id),
                    _time_text(r.at),
                    safe_cell(r.anchor),
                    safe_cell(r.text),
                    safe_cell(r.template),
                    json.dumps(_plain(r.vars), ensure_ascii=False) if r.vars else "",
                    safe_cell(" ".join(r.hashtags)),
                    safe_cell("\n".join(r.media)),
                    safe_cell("\n".join(r.alt_texts)),
                    safe_cell(r.reply_to or ""),
                    safe_cell(r.account),
                    format_duration(r.valid_for) if r.valid_for is not None else "",
                    json.dumps(_plain(r.omit_hashtags), ensure_ascii=False) if r.omit_hashtags else "",
                ]
            )
    elif columns == "hootsuite":
        for r in rows:
            writer.writerow([r.at.strftime("%d/%m/%Y %H:%M"), safe_cell(r.text), ""])
    elif columns == "buffer":
        writer.writerow(BUFFER_COLUMNS)
        for r in rows:
            tags = ", ".join(t.lstrip("#") for t in r.hashtags)
            writer.writerow([safe_cell(r.text), "", safe_cell(tags), r.at.strftime("%Y-%m-%d %H:%M")])
    else:
        raise ValueError(f"unknown sheet {columns!r}: one of {', '.join(SHEETS)}")
    return out.getvalue()


def calendars(schedule: Schedule, posts: Sequence[Post], stamp: datetime) -> dict[str, bytes]:
    """The plan as iCalendar, one calendar per account: one event per post, with its text.

    `stamp` is the DTSTAMP of every event (when the file was made). Each event lasts the
    post's window (its time until it may no longer go out on its own), is marked free time
    (TRANSP: TRANSPARENT) and has a UID made of the slot and the event, so that a calendar
    importing the file again updates its events instead of doubling them.
    """
    import icalendar

    event = schedule.event
    by_account: dict[str, list[PlanRow]] = {}
    for row in plan_rows(schedule, posts):
        by_account.setdefault(row.account, []).append(row)
    out: dict[str, bytes] = {}
    for account, rows in by_account.items():
        cal = icalendar.Calendar()
        cal.add("prodid", "-//livetweet//plan export//EN")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("method", "PUBLISH")
        cal.add("x-wr-calname", f"{account} posts: {event.title}")
        cal.add("x-wr-timezone", event.timezone)
        for r in rows:
            item = icalendar.Event()
            item.add("uid", f"{r.id}.{event.id}@livetweet")
            item.add("dtstamp", stamp)
            start = r.at.astimezone(event.zone)
            item.add("dtstart", start)
            item.add("dtend", start + (r.valid_for or event.valid_for))
            item.add("summary", f"Post on X ({account}): {_first_line(r.text)}")
            item.add("description", _description(r, event.valid_for))
            item.add("location", f"X, {account}")
            item.add("categories", [r.segment])
            item.add("transp", "TRANSPARENT")
            cal.add_component(item)
        cal.add_missing_timezones()
        out[account] = cal.to_ical()
    return out


def _first_line(text: str, limit: int = 70) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _description(r: PlanRow, default_window: timedelta) -> str:
    lines = [r.text, "", f"Slot {r.id}, segment {r.segment}, at {r.anchor or _time_text(r.at)}."]
    lines.append(f"It may go out until {format_duration(r.valid_for or default_window)} after its time.")
    if r.reply_to:
        lines.append(f"A reply to {r.reply_to}.")
    for file, alt in zip(r.media, r.alt_texts, strict=False):
        lines.append(f"Image {file}: {alt or '(no alt text yet)'}")
    return "\n".join(lines)
