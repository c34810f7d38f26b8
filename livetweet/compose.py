"""Turn slots into post text: Jinja2 templates in a sandbox, then the hashtag policy.

Templates are plain text (no autoescape), rendered with StrictUndefined so that a typo
in a variable is an error with the template's line, never an empty gap in a post.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .errors import Problem
from .schedule import Schedule, Segment, Slot
from .tweettext import ParseResult, extract_hashtags, parse_tweet

MAX_WEIGHTED_LENGTH = 280


@dataclass(frozen=True)
class Post:
    """A slot's rendered text and what X will make of it."""

    slot: Slot
    segment: Segment
    text: str
    parsed: ParseResult
    hashtags: tuple[str, ...]
    wanted_hashtags: tuple[str, ...]
    appended: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def weighted_length(self) -> int:
        return self.parsed.weighted_length


def display_path(path: Path) -> str:
    """A path as the officer would type it: relative to the working folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _hm(value: datetime) -> str:
    return value.strftime("%H:%M")


def _hmz(value: datetime) -> str:
    return value.strftime("%H:%M %Z")


def _long_date(value: Any) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


def make_environment(templates_dir: Path) -> SandboxedEnvironment:
    """The one Jinja2 environment for tweet text: sandboxed, strict, not HTML-escaped."""
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.filters["hm"] = _hm
    env.filters["hmz"] = _hmz
    env.filters["long_date"] = _long_date
    return env


def clean_text(text: str) -> str:
    """Trim what templates leave behind: trailing spaces, runs of blank lines, edges."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def wanted_hashtags(schedule: Schedule, segment: Segment, omit: Mapping[str, str] = {}) -> list[str]:
    """The hashtags a post in this segment must carry: the event's, then its objectives'."""
    wanted: list[str] = []
    for tag in schedule.event.hashtags:
        wanted.append(tag)
    for number in segment.objectives:
        objective = schedule.objectives.get(number)
        if objective:
            wanted.extend(objective.hashtags)
    omitted = {t.lower() for t in omit}
    seen: set[str] = set()
    out = []
    for tag in wanted:
        key = tag.lower()
        if key in seen or key in omitted:
            continue
        seen.add(key)
        out.append(tag)
    return out


def _append_tag(text: str, tag: str) -> str:
    last_line = text.rsplit("\n", 1)[-1]
    words = last_line.split()
    if words and all(w.startswith(("#", "@")) for w in words):
        return f"{text} {tag}"
    return f"{text}\n\n{tag}" if text else tag


@dataclass(frozen=True)
class Tagged:
    """A text after the hashtag policy: what was added, what could not be, and its parse."""

    text: str
    appended: tuple[str, ...]
    missing: tuple[str, ...]
    hashtags: tuple[str, ...]
    parsed: ParseResult


def tag_text(text: str, wanted: list[str]) -> Tagged:
    """Append the wanted hashtags the text lacks, each only if the post still fits."""
    written = ["#" + e.value for e in extract_hashtags(text)]
    present = {t[1:].lower() for t in written}
    lacking = [t for t in wanted if t[1:].lower() not in present]
    candidate = text
    for tag in lacking:
        candidate = _append_tag(candidate, tag)
    parsed = parse_tweet(candidate)
    if parsed.weighted_length <= MAX_WEIGHTED_LENGTH:  # the usual case: one parse
        return Tagged(candidate, tuple(lacking), (), tuple(written + lacking), parsed)
    appended: list[str] = []
    missing: list[str] = []
    for tag in lacking:
        longer = _append_tag(text, tag)
        if parse_tweet(longer).weighted_length <= MAX_WEIGHTED_LENGTH:
            text = longer
            appended.append(tag)
        else:
            missing.append(tag)
    return Tagged(text, tuple(appended), tuple(missing), tuple(written + appended), parse_tweet(text))


def apply_hashtag_policy(text: str, wanted: list[str]) -> tuple[str, list[str], list[str]]:
    """(text, appended, still missing): `tag_text` for callers that want only the text."""
    tagged = tag_text(text, wanted)
    return tagged.text, list(tagged.appended), list(tagged.missing)


def _template_line(tb: TracebackType | None, filename: str | None) -> int:
    """The template line a render error happened on (Jinja2 puts template frames in tracebacks)."""
    line = 0
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Composer:
    """Renders slots of one schedule; templates are compiled once and reused."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.env = make_environment(schedule.templates_dir)
        self._broken: dict[str, Problem] = {}
        self._shown: dict[str, str] = {}

    def shown_path(self, name: str) -> str:
        """A template's path as messages show it (computed once per template)."""
        file = self.template_file(name)
        if file not in self._shown:
            self._shown[file] = display_path(self.schedule.templates_dir / file)
        return self._shown[file]

    def template_file(self, name: str) -> str:
        return name if name.endswith(".j2") else f"{name}.j2"

    def check_templates(self) -> list[Problem]:
        """Syntax-check every template in the folder, used by a slot or not."""
        problems = []
        for path in sorted(self.schedule.templates_dir.glob("*.j2")):
            problem = self._load(path.name, None)
            if isinstance(problem, Problem):
                problems.append(problem)
        return problems

    def _load(self, name: str, slot: Slot | None) -> jinja2.Template | Problem:
        file = self.template_file(name)
        if file in self._broken:
            return self._broken[file]
        shown = self.shown_path(name)
        try:
            return self.env.get_template(file)
        except jinja2.TemplateNotFound:
            available = ", ".join(p.stem for p in sorted(self.schedule.templates_dir.glob("*.j2"))) or "none"
            where = (self.schedule.display_name, slot.template_line) if slot else (shown, 0)
            return Problem(
                where[0],
                where[1],
                f'unknown template "{name}": {shown} does not exist (templates there: {available})',
            )
        except jinja2.TemplateSyntaxError as exc:
            problem = Problem(shown, exc.lineno or 0, f"template syntax error: {exc.message}")
            self._broken[file] = problem
            return problem

    def render(self, name: str, context: dict[str, Any], slot: Slot | None = None) -> str | Problem:
        """Render one template; a failure comes back as a Problem at the template's line."""
        template = self._load(name, slot)
        if isinstance(template, Problem):
            return template
        shown = self.shown_path(name)
        during = f' (rendering slot "{slot.id}")' if slot else ""
        try:
            return clean_text(template.render(context))
        except jinja2.UndefinedError as exc:
            line = _template_line(exc.__traceback__, template.filename)
            return Problem(shown, line, f"undefined template variable: {exc.message}{during}")
        except jinja2.exceptions.SecurityError as exc:
            line = _template_line(exc.__traceback__, template.filename)
            return Problem(shown, line, f"the template did something unsafe: {exc}{during}")
        except Exception as exc:  # a template can raise anything; it is the template's fault
            line = _template_line(exc.__traceback__, template.filename)
            return Problem(shown, line, f"template error: {type(exc).__name__}: {exc}{during}")

    def context_for(self, segment: Segment, wanted: list[str]) -> dict[str, Any]:
        """What every template sees: the event, the segment, its objectives, the hashtags."""
        schedule = self.schedule
        return {
            "event": schedule.event,
            "segment": segment,
            "objectives": [schedule.objectives[n] for n in segment.objectives if n in schedule.objectives],
            "event_objectives": list(schedule.objectives.values()),
            "hashtags": wanted,
        }

    def context(self, slot: Slot, segment: Segment, wanted: list[str]) -> dict[str, Any]:
        return {**self.context_for(segment, wanted), "slot": slot, "vars": slot.vars}

    def compose(self, slot: Slot) -> Post | Problem:
        """Render a slot and apply the hashtag policy."""
        segment = self.schedule.segment(slot.segment)
        wanted = wanted_hashtags(self.schedule, segment, slot.omit_hashtags)
        rendered = self.render(slot.template, self.context(slot, segment, wanted), slot)
        if isinstance(rendered, Problem):
            return rendered
        tagged = tag_text(rendered, wanted)
        return Post(
            slot=slot,
            segment=segment,
            text=tagged.text,
            parsed=tagged.parsed,
            hashtags=tagged.hashtags,
            wanted_hashtags=tuple(wanted),
            appended=tagged.appended,
            missing=tagged.missing,
        )
