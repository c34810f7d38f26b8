"""Turn slots into post text: Jinja2 templates in a sandbox, then the hashtag policy.

Templates are plain text (no autoescape), rendered with StrictUndefined so that a typo
in a variable is an error with the template's line, never an empty gap in a post.

A template is a program, and a mistyped one can loop for hours or build a string of
gigabytes. Rendering has a budget: a time limit, checked at every loop turn, call, filter
and operator; an output limit; and a size limit on every string or list a template builds,
checked before it is built where the size can be known in advance. The text a template
writes is put in livetweet's normal form before it is counted or given its hashtags.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.loaders import split_template_path
from jinja2.nodes import Concat
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import Problem, interrupt_point
from .media import CardText, PlannedImage
from .normal import normal_text
from .schedule import Schedule, Segment, Slot
from .tweettext import ParseResult, extract_hashtags, parse_tweet

MAX_WEIGHTED_LENGTH = 280
RENDER_SECONDS = 1.0  # a template renders in well under a millisecond
MAX_OUTPUT = 25_000  # characters a template may write (a post is 280; a direct message up to 10,000)
MAX_VALUE = 100_000  # characters or items of any one value a template builds
MAX_TEMPLATE_BYTES = 100_000


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
    media: tuple[PlannedImage, ...] = ()  # the slot's images, their alt text rendered (check reads the files)
    network: str = "x"  # the network it was written for (a template may differ per network)
    lang: str = "en"  # the language it was written in (a template and hashtags may differ per language)

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


# --- the budget ----------------------------------------------------------------------------


class BudgetExceeded(Exception):
    """A template ran too long or built too much; the message says which."""


class TemplateFileError(jinja2.TemplateError):
    """A template file that cannot be read as a template (not UTF-8, a folder, too big)."""

    def __init__(self, name: str, filename: str, lineno: int, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.filename = filename
        self.lineno = lineno
        self.problem = message


# .deadline: the thread's CPU time (time.thread_time) past which rendering stops. CPU time, not
# the clock: a loop burns it, while a machine busy with other work does not count against us.
_budget = threading.local()


def _tick() -> None:
    deadline = getattr(_budget, "deadline", None)
    if deadline is not None and time.thread_time() > deadline:
        _budget.deadline = None  # reported once; the frames unwinding need no more ticks
        raise BudgetExceeded(f"the template ran for more than {RENDER_SECONDS:g} s: a loop that does not end?")
    interrupt_point()


_UNITS = {"a text": "characters", "a range": "numbers", "a value": "characters or items"}


def _fits(size: int, what: str = "a value") -> None:
    if size > MAX_VALUE:
        unit = _UNITS.get(what, "items")
        raise BudgetExceeded(f"the template builds {what} of {size:,} {unit} (at most {MAX_VALUE:,})")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) else 0


def _kind(value: Any) -> str:
    return "a text" if isinstance(value, str | bytes) else "a list"


def _join(parts: Iterable[Any], sep: str = "") -> str:
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    _fits(sum(map(len, texts)) + len(sep) * max(len(texts) - 1, 0), "a text")
    return sep.join(texts)


def _concat(parts: Iterable[Any]) -> str:
    """Joins the pieces of a block's output ({% set %} blocks, macros, filter blocks)."""
    _tick()
    return _join(parts)


_PRINTF_WIDTH = re.compile(r"%[-+ #0]*(?:\*|[0-9]{6,}|[0-9]*\.(?:\*|[0-9]{6,}))")
_FORMAT_WIDTH = re.compile(r"\{[^{}]*:[^{}]*(?:\{|[0-9]{6,})")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    _tick()
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if _size(seq) and isinstance(n, int):
                _fits(_size(seq) * max(n, 0), _kind(seq))
        if isinstance(left, int) and isinstance(right, int):
            _fits_number(abs(left).bit_length() + abs(right).bit_length())
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            _fits_number(abs(left).bit_length() * right)
    elif operator == "+":
        if _size(left) and _size(right):
            _fits(_size(left) + _size(right), _kind(left))
    elif operator == "%" and isinstance(left, str) and _PRINTF_WIDTH.search(left):
        raise BudgetExceeded("the template formats with a width of 100,000 or more (or a * width)")


def _fits_number(bits: int) -> None:
    if bits > 64:
        raise BudgetExceeded("the template computes a number larger than 64 bits")


def _guard_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter with the budget: arguments that set a size are bounded, results measured."""
    passes = getattr(f, "jinja_pass_arg", None) is not None

    @wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        value_args = args[1:] if passes else args
        value = value_args[0] if value_args else None
        for extra in (*value_args[1:], *kwargs.values()):
            if isinstance(extra, int) and abs(extra) > MAX_VALUE:
                raise BudgetExceeded(f"the template passes {extra:,} to the {name} filter (at most {MAX_VALUE:,})")
        if name == "indent" and isinstance(value, str):
            width = value_args[1] if len(value_args) > 1 else kwargs.get("width", 4)
            _fits(len(value) + (value.count("\n") + 1) * (width if isinstance(width, int) else _size(width)), "a text")
        elif name == "replace" and isinstance(value, str) and len(value_args) > 2:
            old, new = str(value_args[1]), str(value_args[2])
            hits = value.count(old) if old else len(value) + 1
            _fits(len(value) + hits * max(len(new) - len(old), 0), "a text")
        elif name == "wordwrap" and isinstance(value, str):
            wrap = kwargs.get("wrapstring") or (value_args[3] if len(value_args) > 3 else None) or "\n"
            _fits(len(value) * (1 + _size(wrap)), "a text")
        elif name == "format" and isinstance(value, str) and _PRINTF_WIDTH.search(value):
            raise BudgetExceeded("the template formats with a width of 100,000 or more (or a * width)")
        elif name == "sum" and not isinstance(kwargs.get("start", 0), int | float):
            raise BudgetExceeded("the sum filter adds numbers only in a template")
        result = f(*args, **kwargs)
        _fits(_size(result), _kind(result))
        return result

    return guarded


@jinja2.pass_environment
def _join_filter(environment: jinja2.Environment, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """`join`, measuring the text before it is built."""
    _tick()
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    return _join(value, str(d))


def _bounded_range(*args: int) -> range:
    _tick()
    numbers = range(*args)
    _fits(len(numbers), "a range")
    return numbers


class _BudgetCodeGenerator(CodeGenerator):
    """Jinja's code generator, with a budget tick at every loop turn and `~` measured."""

    def blockvisit(self, nodes: Iterable[jinja2.nodes.Node], frame: Frame) -> None:
        if frame.loop_frame:
            self.writeline("environment.livetweet_tick()")
        super().blockvisit(nodes, frame)

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.livetweet_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _TemplateLoader(jinja2.BaseLoader):
    """Templates from one folder, read as UTF-8 (and said so when they are not)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: set[str] = set()

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder.joinpath(*split_template_path(template))
        filename = str(path)
        if path.is_dir():
            raise TemplateFileError(template, filename, 0, "is a folder, not a template file")
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        try:
            with path.open("rb") as f:
                data = f.read(MAX_TEMPLATE_BYTES + 1)
        except OSError as exc:
            raise TemplateFileError(template, filename, 0, f"cannot be read: {exc.strerror or exc}") from None
        if len(data) > MAX_TEMPLATE_BYTES:
            raise TemplateFileError(
                template, filename, 0, f"is larger than {MAX_TEMPLATE_BYTES // 1000} KB: a post template is short"
            )
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            bad = data[exc.start : exc.start + 1].hex().upper()
            raise TemplateFileError(
                template, filename, line, f"is not UTF-8 text (byte 0x{bad}): save it as UTF-8"
            ) from None
        self.files.add(filename)
        return source.removeprefix("\ufeff"), filename, lambda: True


class _BudgetEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with every operation that can grow a value or take time on the budget."""

    code_generator_class = _BudgetCodeGenerator
    intercepted_binops = frozenset(("*", "**", "+", "%"))

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters["join"] = _join_filter
        self.globals.pop("lipsum", None)
        self.globals["range"] = _bounded_range
        self.concat = _concat  # type: ignore[method-assign,assignment]

    @staticmethod
    def livetweet_tick() -> None:
        _tick()

    @staticmethod
    def livetweet_join(parts: Iterable[Any]) -> str:
        _tick()
        return _join(parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str):
            numbers = [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
            if name in ("center", "ljust", "rjust", "zfill", "expandtabs") and any(abs(n) > MAX_VALUE for n in numbers):
                raise BudgetExceeded(f"the template pads a text to more than {MAX_VALUE:,} characters")
            if name == "expandtabs" and numbers:
                _fits(len(owner) + owner.count("\t") * abs(numbers[0]), "a text")
            elif name == "replace" and len(args) >= 2:
                old, new = str(args[0]), str(args[1])
                hits = owner.count(old) if old else len(owner) + 1
                _fits(len(owner) + hits * max(len(new) - len(old), 0), "a text")
            elif name == "join" and args:
                return _join(list(args[0]), owner)
            elif name in ("format", "format_map") and (
                _FORMAT_WIDTH.search(owner) or any(abs(n) > MAX_VALUE for n in numbers)
            ):
                raise BudgetExceeded("the template formats with a width of 100,000 or more")
        result = super().call(__context, __obj, *args, **kwargs)
        _fits(_size(result), _kind(result))
        return result


def make_environment(templates_dir: Path) -> jinja2.Environment:
    """The one Jinja2 environment for tweet text: sandboxed, strict, not HTML-escaped, on a budget."""
    env = _BudgetEnvironment(
        loader=_TemplateLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        optimized=False,  # the optimizer would run filters at compile time, outside the budget
    )
    env.filters["hm"] = _hm
    env.filters["hmz"] = _hmz
    env.filters["long_date"] = _long_date
    return env


def clean_text(text: str) -> str:
    """Trim what templates leave behind: trailing spaces, runs of blank lines, edges."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def wanted_hashtags(
    schedule: Schedule, segment: Segment, omit: Mapping[str, str] = {}, lang: str | None = None
) -> list[str]:
    """The hashtags a post in this segment must carry: the event's, then its objectives', each in the
    post's language (`lang`; None: the event's) where a list is given for it."""
    lang = lang or schedule.event.lang
    wanted: list[str] = list(schedule.event.hashtags_in(lang))
    for number in segment.objectives:
        objective = schedule.objectives.get(number)
        if objective:
            wanted.extend(objective.hashtags_in(lang))
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


def _written(text: str, tag: str) -> bool:
    """Is `tag` in the text as a word, whether X links it or not (it is not appended twice)."""
    return re.search(rf"(?<![\w#]){re.escape(tag)}(?!\w)", text, re.IGNORECASE) is not None


def tag_text(text: str, wanted: list[str]) -> Tagged:
    """Append the wanted hashtags the text lacks, each only if the post still fits."""
    written = ["#" + e.value for e in extract_hashtags(text)]
    present = {t[1:].lower() for t in written}
    lacking = [t for t in wanted if t[1:].lower() not in present and not _written(text, t)]
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


def _one_line(text: object) -> str:
    """An exception's text in a message: one line, and not endless."""
    line = " ".join(str(text).split())
    return line if len(line) <= 300 else line[:299] + "…"


def _innermost_template(tb: TracebackType | None, files: set[str]) -> tuple[str, int] | None:
    """The template file and line a render error happened on: Jinja puts template frames in
    tracebacks, and the innermost one is where it happened (an included template, say)."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in files:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _suspended_at(gen: Any, env: jinja2.Environment, files: set[str]) -> tuple[str, int] | None:
    """Where a template's output generator stands: the innermost template and its line."""
    found = None
    while gen is not None:
        frame = getattr(gen, "gi_frame", None)
        if frame is not None and frame.f_code.co_filename in files:
            found = (frame.f_code.co_filename, frame.f_lineno)
        gen = getattr(gen, "gi_yieldfrom", None)
    if found is None:
        return None
    filename, python_line = found
    for template in _loaded_templates(env):
        if template.filename == filename:
            return filename, template.get_corresponding_lineno(python_line)
    return filename, 0


def _loaded_templates(env: jinja2.Environment) -> Iterator[jinja2.Template]:
    cache = env.cache
    if cache is None:
        return iter(())
    return iter(list(cache.values()))


class Composer:
    """Renders slots of one schedule; templates are compiled once and reused."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.env = make_environment(schedule.templates_dir)
        loader = self.env.loader
        assert isinstance(loader, _TemplateLoader)
        self._files = loader.files
        self._broken: dict[str, Problem] = {}
        self._shown: dict[str, str] = {}
        self._particular: dict[tuple[str, str, str | None], str] = {}  # template_for's answers: one look per name

    def shown_path(self, name: str) -> str:
        """A template's path as messages show it (computed once per template)."""
        file = self.template_file(name)
        if file not in self._shown:
            self._shown[file] = display_path(self.schedule.templates_dir / file)
        return self._shown[file]

    def _shown_file(self, filename: str) -> str:
        if filename not in self._shown:
            self._shown[filename] = display_path(Path(filename))
        return self._shown[filename]

    def template_file(self, name: str) -> str:
        return name if name.endswith(".j2") else f"{name}.j2"

    def check_templates(self) -> list[Problem]:
        """Syntax-check every template in the folder, used by a slot or not."""
        problems: list[Problem] = []
        if not self.schedule.templates_dir.is_dir():
            return problems
        for path in sorted(self.schedule.templates_dir.glob("*.j2")):
            if not path.is_file():
                continue
            problem = self._load(path.name, None)
            if isinstance(problem, Problem):
                problems.append(problem)
        return problems

    def _available(self) -> str:
        folder = self.schedule.templates_dir
        names = sorted(p.stem for p in folder.glob("*.j2") if p.is_file()) if folder.is_dir() else []
        return ", ".join(names) or "none"

    def _load(self, name: str, slot: Slot | None) -> jinja2.Template | Problem:
        file = self.template_file(name)
        if file in self._broken:
            return self._broken[file]
        shown = self.shown_path(name)
        where = (self.schedule.display_name, slot.template_line) if slot else (shown, 0)
        problem: Problem
        try:
            return self.env.get_template(file)
        except jinja2.TemplateNotFound:
            return Problem(
                where[0],
                where[1],
                f'unknown template "{name}": {shown} does not exist (templates there: {self._available()})',
            )
        except TemplateFileError as exc:
            if exc.lineno or not slot:
                problem = Problem(shown, exc.lineno, f"the template {exc.problem}")
            else:
                problem = Problem(where[0], where[1], f'template "{name}": {shown} {exc.problem}')
        except jinja2.TemplateSyntaxError as exc:
            problem = Problem(
                self._shown_file(exc.filename or "") if exc.filename else shown,
                exc.lineno or 0,
                f"template syntax error: {_one_line(exc.message)}",
            )
        except RecursionError:
            problem = Problem(shown, 0, "the template nests too deeply to be read")
        except Exception as exc:  # compiling a template can fail in Python itself
            problem = Problem(shown, 0, f"the template cannot be compiled: {type(exc).__name__}: {_one_line(exc)}")
        self._broken[file] = problem
        return problem

    def render(self, name: str, context: dict[str, Any], slot: Slot | None = None) -> str | Problem:
        """Render one template; a failure comes back as a Problem at the template's line."""
        template = self._load(name, slot)
        if isinstance(template, Problem):
            return template
        during = f' (rendering slot "{slot.id}")' if slot else ""
        return self._generate(template, context, (self.shown_path(name), 0), during, self.template_file(name))

    def render_text(self, source: str, context: dict[str, Any], where: tuple[str, int], what: str) -> str | Problem:
        """Render a short template written in the schedule itself (an image's alt text), on the same budget.

        A failure comes back as a Problem at `where` (the schedule's line), naming `what`."""
        if len(source) > MAX_TEMPLATE_BYTES:
            return Problem(*where, f"{what} is longer than {MAX_TEMPLATE_BYTES // 1000} KB")
        try:
            template = self.env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            return Problem(*where, f"{what}: template syntax error: {_one_line(exc.message)}")
        except RecursionError:
            return Problem(*where, f"{what} nests too deeply to be read")
        except Exception as exc:  # compiling a template can fail in Python itself
            return Problem(*where, f"{what} cannot be compiled: {type(exc).__name__}: {_one_line(exc)}")
        return self._generate(template, context, where, f" (in {what})", None)

    def _generate(
        self,
        template: jinja2.Template,
        context: dict[str, Any],
        default: tuple[str, int],
        during: str,
        file: str | None,
    ) -> str | Problem:
        """Run a template on the budget: its text, or a Problem where it went wrong (else at `default`).

        A template that broke the budget is remembered as broken under `file` (None: not remembered)."""
        shown = default[0]

        def at(where: tuple[str, int] | None) -> tuple[str, int]:
            return (self._shown_file(where[0]), where[1]) if where else default

        chunks: list[str] = []
        written = 0
        gen: Generator[str, None, None] = template.generate(context)  # type: ignore[assignment]
        _budget.deadline = time.thread_time() + RENDER_SECONDS
        try:
            for chunk in gen:
                chunks.append(chunk)
                written += len(chunk)
                if written > MAX_OUTPUT:
                    where = at(_suspended_at(gen, self.env, self._files))
                    gen.close()
                    problem = Problem(*where, f"the template writes more than {MAX_OUTPUT:,} characters{during}")
                    if file is not None:
                        self._broken[file] = problem
                    return problem
            return clean_text(normal_text("".join(chunks)))
        except BudgetExceeded as exc:
            problem = Problem(*at(_innermost_template(exc.__traceback__, self._files)), f"{exc}{during}")
            if file is not None:
                self._broken[file] = problem
            return problem
        except jinja2.UndefinedError as exc:
            where = at(_innermost_template(exc.__traceback__, self._files))
            return Problem(*where, f"undefined template variable: {_one_line(exc.message)}{during}")
        except SecurityError as exc:
            where = at(_innermost_template(exc.__traceback__, self._files))
            return Problem(*where, f"the template did something unsafe: {_one_line(exc)}{during}")
        except TemplateFileError as exc:  # an included template (the file's fault, whichever slot)
            return Problem(self._shown_file(exc.filename), exc.lineno, f"the template {exc.problem}")
        except jinja2.TemplateNotFound as exc:  # an {% include %} or {% import %} of a missing file
            where = at(_innermost_template(exc.__traceback__, self._files))
            return Problem(
                *where,
                f'the template includes "{exc.name}", which does not exist (templates there: {self._available()})'
                f"{during}",
            )
        except jinja2.TemplateSyntaxError as exc:  # in an included template
            filename = self._shown_file(exc.filename) if exc.filename else shown
            return Problem(filename, exc.lineno or 0, f"template syntax error: {_one_line(exc.message)}")
        except RecursionError as exc:
            where = at(_innermost_template(exc.__traceback__, self._files))
            return Problem(*where, f"the template calls itself without end (a macro or include){during}")
        except MemoryError:
            return Problem(shown, 0, f"the template ran out of memory{during}")
        except Exception as exc:  # a template can raise anything; it is the template's fault
            where = at(_innermost_template(exc.__traceback__, self._files))
            return Problem(*where, f"template error: {type(exc).__name__}: {_one_line(exc)}{during}")
        finally:
            _budget.deadline = None

    def context_for(self, segment: Segment, wanted: list[str], lang: str | None = None) -> dict[str, Any]:
        """What every template sees: the event, the segment, its objectives, the hashtags, the language."""
        schedule = self.schedule
        return {
            "event": schedule.event,
            "segment": segment,
            "objectives": [schedule.objectives[n] for n in segment.objectives if n in schedule.objectives],
            "event_objectives": list(schedule.objectives.values()),
            "hashtags": wanted,
            "lang": lang or schedule.event.lang,
        }

    def context(
        self, slot: Slot, segment: Segment, wanted: list[str], network: str = "x", lang: str | None = None
    ) -> dict[str, Any]:
        return {**self.context_for(segment, wanted, lang), "slot": slot, "vars": slot.vars, "network": network}

    def template_for(self, name: str, network: str, lang: str | None = None) -> str:
        """The most particular template there is: the language's and network's (`question.fr.bluesky.j2`),
        the language's (`question.fr.j2`), the network's (`question.bluesky.j2`), else `question.j2`.

        A language comes before a network: a text in the wrong language is worse than one not tuned to
        its network."""
        key = (name, network, lang)
        found = self._particular.get(key)
        if found is None:
            found = self._particular[key] = self._most_particular(name, network, lang)
        return found

    def _most_particular(self, name: str, network: str, lang: str | None) -> str:
        base = name.removesuffix(".j2")
        candidates = [f"{base}.{lang}.{network}", f"{base}.{lang}"] if lang else []
        for own in (*candidates, f"{base}.{network}"):
            if (self.schedule.templates_dir / f"{own}.j2").is_file():
                return own
        return name

    def compose(self, slot: Slot, network: str = "x", lang: str | None = None) -> Post | Problem:
        """Render a slot for a network in a language (the most particular template there is; `network`
        and `lang` are variables) and apply the hashtag policy with that language's hashtags.

        `lang` None: the event's language."""
        lang = lang or self.schedule.event.lang
        segment = self.schedule.segment(slot.segment)
        wanted = wanted_hashtags(self.schedule, segment, slot.omit_hashtags, lang)
        template = self.template_for(slot.template, network, lang)
        rendered = self.render(template, self.context(slot, segment, wanted, network, lang), slot)
        if isinstance(rendered, Problem):
            return rendered
        if not rendered:
            return Problem(
                self.schedule.display_name,
                slot.line,
                f'slot "{slot.id}": {self.shown_path(template)} wrote nothing, and a post of hashtags '
                "alone says nothing",
            )
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
            network=network,
            lang=lang,
        )

    def plan_card(self, post: Post) -> CardText | Problem | None:
        """The slot's quote card with its quote and speaker rendered in the slot's context (None: it has
        none), or the Problem one of their templates had."""
        card = post.slot.card
        if card is None:
            return None
        context = self.context(post.slot, post.segment, list(post.wanted_hashtags), post.network)
        texts = []
        for source, line, part in (
            (card.quote, card.quote_line, "quote"),
            (card.speaker, card.speaker_line, "speaker"),
        ):
            what = f'slot "{post.slot.id}" card {part}'
            rendered = self.render_text(source, context, (self.schedule.display_name, line), what)
            if isinstance(rendered, Problem):
                return rendered
            texts.append(" ".join(rendered.split()))
        hashtag = post.wanted_hashtags[0] if post.wanted_hashtags else ""
        return CardText(texts[0], texts[1], self.schedule.event.title, hashtag, tuple(card.colours.items()))

    def plan_media(self, post: Post) -> list[tuple[PlannedImage, Problem | None]]:
        """A post's images with their alt text rendered in the slot's context, as its text was (the
        files are not read here); each with the Problem its alt text's template had, if any (its
        alt is then empty)."""
        slot = post.slot
        if not slot.media:
            return []
        context = self.context(slot, post.segment, list(post.wanted_hashtags), post.network, post.lang)
        planned: list[tuple[PlannedImage, Problem | None]] = []
        for number, ref in enumerate(slot.media, 1):
            alt, problem = "", None
            if ref.alt is not None:
                what = f'slot "{slot.id}" media {number} alt'
                rendered = self.render_text(ref.alt, context, (self.schedule.display_name, ref.alt_line), what)
                if isinstance(rendered, Problem):
                    problem = rendered
                else:
                    alt = " ".join(rendered.split())
            planned.append((PlannedImage(ref.file, ref.path, alt, ref.line, ref.file_line, ref.alt_line), problem))
        return planned
