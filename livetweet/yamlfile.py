"""YAML read as a tree of strings that remember their line.

Schedules are YAML so that every error can name its line: PyYAML's node tree keeps the
position of each value. Scalars stay strings here (no YAML 1.1 guessing: `13:30` is not
the integer 810, `NO` is not false); the schedule reader decides what each one means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import Problem

# The base loaders resolve no implicit types: every scalar stays a string.
try:
    from yaml import CBaseLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import BaseLoader as _Loader  # type: ignore[assignment]

_NULLS = ("", "~", "null", "Null", "NULL")


@dataclass(slots=True)
class Node:
    """A YAML value and the 1-based line it starts on."""

    line: int
    scalar: str | None = None
    mapping: dict[str, tuple[int, Node]] | None = None
    sequence: list[Node] | None = None
    is_null: bool = False
    quoted: bool = False

    @property
    def kind(self) -> str:
        if self.mapping is not None:
            return "mapping"
        if self.sequence is not None:
            return "list"
        return "empty value" if self.is_null else "text"


def _convert(node: yaml.Node, file: str, problems: list[Problem]) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, tuple[int, Node]] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(file, key_line, "a key must be plain text"))
                continue
            key = str(key_node.value)
            if key in out:
                problems.append(Problem(file, key_line, f'key "{key}" is given twice (first on line {out[key][0]})'))
                continue
            out[key] = (key_line, _convert(value_node, file, problems))
        return Node(line, mapping=out)
    if isinstance(node, yaml.SequenceNode):
        return Node(line, sequence=[_convert(v, file, problems) for v in node.value])
    assert isinstance(node, yaml.ScalarNode)
    is_null = node.style is None and node.value in _NULLS
    return Node(line, scalar=None if is_null else str(node.value), is_null=is_null, quoted=node.style is not None)


def read_yaml(path: Path, display_name: str) -> tuple[Node | None, list[Problem]]:
    """Parse a YAML file; on a syntax error return no tree and the error with its line."""
    problems: list[Problem] = []
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex().upper()
        return None, [Problem(display_name, line, f"the file is not UTF-8 text (byte 0x{bad}): save it as UTF-8")]
    try:
        tree = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        if exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
            context = f" ({exc.context}, started on line {exc.context_mark.line + 1})"
        return None, [Problem(display_name, line, f"YAML syntax error: {what}{context}")]
    except yaml.YAMLError as exc:
        return None, [Problem(display_name, 0, f"YAML error: {exc}")]
    if tree is None:
        return None, [Problem(display_name, 1, "the file is empty")]
    return _convert(tree, display_name, problems), problems
