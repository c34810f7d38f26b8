"""Numbers, times, dates and durations as people write them: one parser for each kind.

Every value livetweet reads (from a schedule, the command line or the console) goes
through these. They accept ASCII digits only (int() would also take "١" or "²") and refuse
what livetweet cannot hold with a `BadValue`, never an OverflowError. Pure and light: the
command line imports them without the schedule's YAML reader.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from ..errors import BadValue

MAX_DURATION = timedelta(days=100)
FIRST_YEAR, LAST_YEAR = 1970, 9000  # with durations under 100 days, every sum stays a datetime

_TIME = re.compile(r"^(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2}))?$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DURATION = re.compile(r"^(?:(?P<h>[0-9]{1,30})h)?(?:(?P<m>[0-9]{1,30})m)?(?:(?P<s>[0-9]{1,30})s)?$")
_NUMBER = re.compile(r"^[0-9]{1,9}$")


def non_ascii_digits(text: str) -> bool:
    return any(ch.isdigit() and not ch.isascii() for ch in text)


def _digits_hint(text: str, hint: str) -> str:
    return f"write it with the digits 0-9, {hint[len('write it ') :]}" if non_ascii_digits(text) else hint


def parse_duration(text: str) -> timedelta:
    """`2m`, `90s`, `1h30m`, `1m30s` -> timedelta; BadValue (a ValueError) when it is not one."""
    value = text.strip()
    m = _DURATION.match(value)
    if not m or not any(m.groupdict().values()):
        raise BadValue("is not a duration", _digits_hint(value, "write it like 2m, 90s or 1h30m"))
    h, mi, s = (int(m.group(k) or 0) for k in ("h", "m", "s"))
    seconds = h * 3600 + mi * 60 + s
    if seconds > MAX_DURATION.total_seconds():
        raise BadValue(f"is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    return sign + ("".join(parts) or "0s")


def parse_signed_duration(text: str) -> timedelta:
    """`+7m` (later), `-2m` (earlier) or `1m30s` -> timedelta, for a shift; BadValue otherwise."""
    value = text.strip()
    sign = -1 if value.startswith("-") else 1
    body = value[1:] if value[:1] in "+-" else value
    if not body:
        raise BadValue("is not a duration", "write it like +7m, -2m or +1m30s")
    try:
        return sign * parse_duration(body[:40])
    except BadValue as exc:
        raise BadValue(exc.reason, "write it like +7m, -2m or +1m30s" if exc.hint else "") from None


def parse_clock_time(text: str) -> time:
    """`13:30` or `13:30:15` (24-hour clock, ASCII digits) -> time; BadValue otherwise."""
    value = text.strip()
    m = _TIME.match(value)
    if not m:
        raise BadValue("is not a time", _digits_hint(value, 'write it as HH:MM, like "13:30"'))
    h, mi, s = int(m.group("h")), int(m.group("m")), int(m.group("s") or 0)
    if h > 23 or mi > 59 or s > 59:
        limits = "minutes and seconds" if m.group("s") else "minutes"
        raise BadValue(f"is not a time of day (hours 0-23, {limits} 0-59)")
    return time(h, mi, s)


def parse_date(text: str) -> date:
    """`2020-11-12` -> date, for the years livetweet plans in; BadValue otherwise."""
    value = text.strip()
    if not _DATE.match(value):
        raise BadValue("is not a date", _digits_hint(value, "write it as YYYY-MM-DD"))
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadValue("is not a day of the calendar", "write it as YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise BadValue(f"is out of range: livetweet plans events in the years {FIRST_YEAR} to {LAST_YEAR}")
    return day


def parse_whole_number(text: str) -> int:
    """`12` -> 12 (ASCII digits, at most nine); BadValue otherwise."""
    value = text.strip()
    if not _NUMBER.match(value):
        if non_ascii_digits(value):
            raise BadValue("is not a whole number", "write it with the digits 0-9")
        if value.isascii() and value.isdigit():
            raise BadValue("is too large a number")
        raise BadValue("is not a whole number")
    return int(value)
