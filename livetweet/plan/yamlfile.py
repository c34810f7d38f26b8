"""YAML read as a tree of strings that remember their line, within limits.

Schedules are YAML so that every error can name its line: the parser's events keep the
position of each value. Scalars stay strings here (no YAML 1.1 guessing: `13:30` is not
the integer 810, `NO` is not false); `~`, `null` and an empty value are "no value"; the
schedule reader decides what each one means.

A schedule comes from a person's editor, or from anyone's e-mail: the tree is built from
the parser's event stream (no recursion), and the file's size, its nesting and what its
aliases expand to are bounded before anything is built from them. Line numbers are the
ones an editor shows: only LF, CRLF and CR end a line (NEL, U+2028 and U+2029 do not, as
in YAML 1.2), and every text passes through `normal_text`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import Problem, interrupt_point
from .normal import normal_text

# The base loaders resolve no implicit types: every scalar stays a string.
try:
    from yaml import CBaseLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import BaseLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 4 * 1024 * 1024  # a 5,000-slot schedule is about 1 MB
MAX_VALUES = 1_000_000  # values written in the file
MAX_ALIAS_VALUES = 100_000  # values that aliases add, once expanded
MAX_DEPTH = 32  # a schedule needs 6 levels

_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_CORE_TAG = "tag:yaml.org,2002:"
_HARMLESS_TAGS = frozenset(_CORE_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp"))
# What YAML refuses in a stream (its "printable" set, less the line breaks we turn into LF).
_NOT_YAML = re.compile("[^\t\n\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# YAML 1.1 (and so PyYAML) ends a line at these; editors and `grep -n` do not.
_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")
_SENTINELS = [chr(0xF0000 + i) for i in range(3 * 64)]


@dataclass(slots=True, eq=False)
class Node:
    """A YAML value and the 1-based line it starts on."""

    line: int
    scalar: str | None = None
    mapping: dict[str, tuple[int, Node]] | None = None
    sequence: list[Node] | None = None
    is_null: bool = False
    quoted: bool = False
    size: int = 1  # values it holds, itself included, aliases expanded
    height: int = 1  # levels of nesting it holds (a text: 1)

    @property
    def kind(self) -> str:
        if self.mapping is not None:
            return "mapping"
        if self.sequence is not None:
            return "list"
        return "empty value" if self.is_null else "text"


class _Stop(Exception):
    """The file cannot be read on: the problem says why."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message


def _char_name(ch: str) -> str:
    if ch == "\x00":
        return "a NUL byte (U+0000)"
    name = unicodedata.name(ch, "")
    return f"the character U+{ord(ch):04X}" + (f" ({name})" if name else " (a control character)")


def read_yaml(path: Path, display_name: str) -> tuple[Node | None, list[Problem]]:
    """Read a YAML file; on any error return no tree and the problems with their lines."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [Problem(display_name, 0, _too_big(size))]
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        return None, [Problem(display_name, 0, f"cannot read the file: {exc.strerror or exc}")]
    if len(data) > MAX_BYTES:
        return None, [Problem(display_name, 0, _too_big(len(data)))]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex().upper()
        return None, [Problem(display_name, line, f"the file is not UTF-8 text (byte 0x{bad}): save it as UTF-8")]
    return parse_yaml(text, display_name)


def _too_big(size: int) -> str:
    return f"the file is {size / 1e6:.1f} MB: a schedule may be at most {MAX_BYTES / 1e6:.1f} MB"


def parse_yaml(text: str, file: str) -> tuple[Node | None, list[Problem]]:
    """Parse YAML text into a Node tree; (None, problems) when it cannot be read."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    bad_lines: dict[int, str] = {}
    for match in _NOT_YAML.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        bad_lines.setdefault(line, match.group())
        if len(bad_lines) > 10:
            break
    if bad_lines:
        return None, [
            Problem(file, line, f"the file contains {_char_name(ch)}, which YAML does not allow: remove it")
            for line, ch in list(bad_lines.items())[:10]
        ]
    restore: dict[str, str] = {}
    if _ODD_BREAKS.search(text):
        free = iter(s for s in _SENTINELS if s not in text)
        for ch in "\x85\u2028\u2029":
            if ch in text:
                sentinel = next(free)
                restore[sentinel] = ch
                text = text.replace(ch, sentinel)
    builder = _Builder(file, restore)
    try:
        root = builder.build(yaml.parse(text, Loader=_Loader))
    except _Stop as stop:
        return None, [*builder.problems, Problem(file, stop.line, stop.message)]
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(file, exc, text)]
    except yaml.YAMLError as exc:  # a reader error carries a position, not a mark
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 0
        return None, [Problem(file, line, f"YAML error: {' '.join(str(exc).split())}")]
    if root is None:
        return None, [Problem(file, 1, "the file is empty")]
    return root, builder.problems


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    what = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context else ""
    if exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
        context = f" ({exc.context}, started on line {exc.context_mark.line + 1})"
    lines = text.split("\n")
    tab_first = mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]
    if tab_first and "tab" not in what:
        what += " (a tab: indent with spaces)"
    return Problem(file, line, f"YAML syntax error: {what}{context}")


@dataclass(slots=True, eq=False)
class _Open:
    """A mapping or list being read, and (for a mapping) the key waiting for its value."""

    node: Node
    anchor: str | None
    key: str | None = None
    key_line: int = 0
    skip_value: bool = False
    expecting_value: bool = False


@dataclass
class _Builder:
    file: str
    restore: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    anchors: dict[str, tuple[Node, int]] = field(default_factory=dict)
    values: int = 0
    alias_values: int = 0

    def text(self, value: str) -> str:
        for sentinel, ch in self.restore.items():
            value = value.replace(sentinel, ch)
        return normal_text(value)

    def tag_problem(self, tag: str | None, line: int) -> None:
        if tag is not None and tag not in _HARMLESS_TAGS:
            shown = "!!" + tag[len(_CORE_TAG) :] if tag.startswith(_CORE_TAG) else tag
            message = f'the YAML tag "{shown}" means nothing in a schedule: remove it'
            self.problems.append(Problem(self.file, line, message))

    def build(self, events: Iterator[yaml.Event]) -> Node | None:
        stack: list[_Open] = []
        open_anchors: dict[str, int] = {}
        root: Node | None = None
        documents = 0
        for count, event in enumerate(events):
            if count & 4095 == 4095:
                interrupt_point()
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            if isinstance(event, yaml.ScalarEvent):
                self.tag_problem(event.tag, line)
                plain = not event.style
                is_null = event.tag == _CORE_TAG + "null" or (plain and event.tag is None and event.value in _NULLS)
                node = Node(
                    line,
                    scalar=None if is_null else self.text(event.value),
                    is_null=is_null,
                    quoted=not plain,
                )
                self.count(line)
                self.anchor(event.anchor, node, line)
                root = self.add(stack, node, line, root)
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                self.tag_problem(event.tag, line)
                if len(stack) + 1 > MAX_DEPTH:
                    raise _Stop(line, f"the YAML nests more than {MAX_DEPTH} levels deep here: a schedule needs six")
                self.count(line)
                mapping = isinstance(event, yaml.MappingStartEvent)
                node = Node(line, mapping={}) if mapping else Node(line, sequence=[])
                stack.append(_Open(node, event.anchor))
                if event.anchor is not None:
                    open_anchors[event.anchor] = line
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                done = stack.pop()
                if done.anchor is not None:
                    open_anchors.pop(done.anchor, None)
                    self.anchor(done.anchor, done.node, done.node.line)
                root = self.add(stack, done.node, done.node.line, root)
            elif isinstance(event, yaml.AliasEvent):
                name = event.anchor
                if name in open_anchors:
                    raise _Stop(
                        line,
                        f'the alias "*{name}" is inside the value it refers to (anchor "&{name}" on line '
                        f"{open_anchors[name]}): a value cannot contain itself",
                    )
                if name not in self.anchors:
                    raise _Stop(line, f'the alias "*{name}" refers to no anchor "&{name}" above it')
                target, _ = self.anchors[name]
                if len(stack) + target.height > MAX_DEPTH:
                    raise _Stop(line, f'the alias "*{name}" nests the YAML more than {MAX_DEPTH} levels deep')
                self.alias_values += target.size
                if self.alias_values > MAX_ALIAS_VALUES:
                    raise _Stop(
                        line,
                        f'the alias "*{name}" takes the file past {MAX_ALIAS_VALUES:,} values repeated by '
                        "aliases: a schedule needs far fewer",
                    )
                root = self.add(stack, target, line, root)
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Stop(line, 'a second YAML document starts here ("---"): a schedule is one document')
        return root

    def count(self, line: int) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Stop(line, f"the file holds more than {MAX_VALUES:,} values")

    def anchor(self, name: str | None, node: Node, line: int) -> None:
        if name is not None:
            self.anchors[name] = (node, line)

    def add(self, stack: list[_Open], node: Node, line: int, root: Node | None) -> Node | None:
        """Put a finished value into the mapping or list being read (or make it the root)."""
        if not stack:
            return node
        parent = stack[-1]
        holder = parent.node
        if holder.sequence is not None:
            holder.sequence.append(node)
        else:
            assert holder.mapping is not None
            if not parent.expecting_value:
                parent.expecting_value = True
                parent.skip_value = False
                parent.key_line = line
                if node.scalar is None:
                    what = "is empty" if node.is_null else f"is a {node.kind}"
                    self.problems.append(Problem(self.file, line, f"a key {what}: a key must be plain text"))
                    parent.skip_value = True
                elif node.scalar == "<<" and not node.quoted:
                    self.problems.append(
                        Problem(self.file, line, 'YAML merge keys ("<<") are not read: write the keys out')
                    )
                    parent.skip_value = True
                parent.key = node.scalar
                return root
            parent.expecting_value = False
            if parent.skip_value or parent.key is None:
                return root
            key = parent.key
            if key in holder.mapping:
                first = holder.mapping[key][0]
                self.problems.append(
                    Problem(self.file, parent.key_line, f'key "{key}" is given twice (first on line {first})')
                )
                return root
            holder.mapping[key] = (parent.key_line, node)
        holder.size += node.size
        holder.height = max(holder.height, node.height + 1)
        return root
