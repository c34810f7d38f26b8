"""The code's shape (ARCHITECTURE.md): what each package may import, and what starts light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent / "livetweet" / "service"

# The planning pipeline: only load, edit, compose and reshare need it.
PLANNING = ("jinja2", "yaml", "emoji", "regex", "livetweet.plan.check", "livetweet.plan.compose",
            "livetweet.plan.schedule", "livetweet.plan.tweettext")  # fmt: skip


def test_importing_the_service_loads_no_planning_module() -> None:
    code = (
        f"import livetweet.service, sys; planning = {PLANNING!r}; "
        "print(sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in planning)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_service_module_imports_sqlalchemy_or_a_table() -> None:
    found = []
    for path in sorted(SERVICE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [f"{path.name}: import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
            elif isinstance(node, ast.ImportFrom):
                if (node.module or "").split(".")[0] == "sqlalchemy":
                    found.append(f"{path.name}: from {node.module}")
                found += [f"{path.name}: {a.name}" for a in node.names if a.name.endswith("_table")]
    assert found == []


# --- what each part may import (ARCHITECTURE.md, "Who may import whom") ----------------------------

PACKAGE = Path(__file__).resolve().parent.parent / "livetweet"
FOUNDATION = {"livetweet.errors", "livetweet.clock", "livetweet.draft", "livetweet.config"}
IO_LIBRARIES = {"sqlalchemy", "starlette", "uvicorn", "tweepy", "requests", "apscheduler", "httpx", "socket", "urllib3"}
# module prefix -> (livetweet modules it may import, by prefix; third-party libraries it may not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "livetweet.plan": ({"livetweet.plan", "livetweet.errors", "livetweet.config"}, IO_LIBRARIES | {"PIL"}),
    "livetweet.errors": (set(), IO_LIBRARIES),
    "livetweet.clock": (set(), IO_LIBRARIES),
    "livetweet.draft": ({"livetweet.errors"}, IO_LIBRARIES),
    "livetweet.config": ({"livetweet.errors"}, IO_LIBRARIES),
    "livetweet.inbox": (FOUNDATION | {"livetweet.plan.normal"}, IO_LIBRARIES),
    "livetweet.rows": (FOUNDATION, IO_LIBRARIES - {"socket"}),  # socket: is a lease's process of this machine gone?
    # a read-only look at a SQLite file through the standard library: no SQLAlchemy, by design
    "livetweet.snapshot": (FOUNDATION | {"livetweet.rows"}, IO_LIBRARIES),
    "livetweet.store": (FOUNDATION | {"livetweet.inbox", "livetweet.rows"}, IO_LIBRARIES - {"sqlalchemy", "socket"}),
    "livetweet.service": (
        FOUNDATION
        | {"livetweet.service", "livetweet.store", "livetweet.plan", "livetweet.inbox", "livetweet.publishers.base",
           "livetweet.media", "livetweet.cards"},
        IO_LIBRARIES,
    ),
    "livetweet.media": (FOUNDATION | {"livetweet.plan.media", "livetweet.plan.normal"}, IO_LIBRARIES),
    # draws with Pillow, reads and writes nothing; its rules (alt text, quote length) are plan.media's
    "livetweet.cards": (FOUNDATION | {"livetweet.plan.media"}, IO_LIBRARIES),
    "livetweet.publishers": (
        FOUNDATION | {"livetweet.publishers", "livetweet.inbox", "livetweet.plan.tweettext", "livetweet.plan.bluesky",
                      "livetweet.plan.mastodon"},
        {"sqlalchemy", "starlette", "uvicorn", "apscheduler"},
    ),
    "livetweet.fakes": (
        {"livetweet.fakes", "livetweet.clock", "livetweet.plan.tweettext", "livetweet.plan.bluesky",
         "livetweet.plan.mastodon"},
        IO_LIBRARIES - {"socket"},
    ),
    "livetweet.console": (
        FOUNDATION
        | {"livetweet.console", "livetweet.service", "livetweet.store", "livetweet.plan", "livetweet.inbox",
           "livetweet.media", "livetweet.cards", "livetweet.report"},
        {"tweepy", "requests", "apscheduler", "sqlalchemy"},
    ),
    "livetweet.dispatch": (
        FOUNDATION | {"livetweet.service", "livetweet.store", "livetweet.inbox", "livetweet.publishers.base"},
        {"starlette", "uvicorn", "tweepy", "requests", "sqlalchemy"},
    ),
}  # fmt: skip


def _imports(path: Path, module: str | None = None) -> set[str]:
    """Every module `path` imports, outside `if TYPE_CHECKING:` blocks, relative ones made absolute."""
    parts = (module or _module(path)).split(".")
    package = parts if path.name == "__init__.py" else parts[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                found.update({f"{base}.{a.name}" for a in node.names} if node.module is None else {base})
            else:
                found.add(node.module or "")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _under(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(module: str, imported: set[str]) -> list[str]:
    rule = next((RULES[p] for p in sorted(RULES, key=len, reverse=True) if _under(module, {p})), None)
    if rule is None:
        return []  # live.py and cli/ compose everything
    allowed, forbidden = rule
    broken = []
    for name in sorted(imported):
        if name.startswith("livetweet.") and not _under(name, allowed | {module}):
            broken.append(f"{module} imports {name}")
        elif name.split(".")[0] in forbidden:
            broken.append(f"{module} imports {name} (I/O it must not do)")
    return broken


def test_every_module_imports_only_across_the_lines_it_may() -> None:
    broken = [v for path in sorted(PACKAGE.rglob("*.py")) for v in _violations(_module(path), _imports(path))]
    assert broken == []


def test_nothing_but_the_command_line_imports_it() -> None:
    users = [
        _module(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if not _under(_module(path), {"livetweet.cli", "livetweet.__main__"})
        and any(_under(name, {"livetweet.cli"}) for name in _imports(path))
    ]
    assert users == []


def test_the_checker_catches_a_forbidden_import_and_skips_type_checking_ones(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\nimport requests\nfrom ..store import Store\nfrom . import compose\n"
        "if TYPE_CHECKING:\n    from ..console import app\n"
        "def later():\n    from ..service import Service\n"
    )
    imported = _imports(probe, "livetweet.plan.probe")
    assert imported == {"typing", "requests", "livetweet.store", "livetweet.plan.compose", "livetweet.service"}
    assert _violations("livetweet.plan.probe", imported) == [
        "livetweet.plan.probe imports livetweet.service",
        "livetweet.plan.probe imports livetweet.store",
        "livetweet.plan.probe imports requests (I/O it must not do)",
    ]


# --- the tests' own shape: what two test modules share lives in tests/support/ ----------------------

TESTS = Path(__file__).resolve().parent


def _test_module_imports(path: Path) -> list[str]:
    """The test modules `path` imports (anywhere in it, relative or absolute)."""
    imported = _imports(path, f"tests.{path.stem}")
    return sorted(n for n in imported if any(_under(n, {f"tests.{m.stem}"}) for m in TESTS.glob("test_*.py")))


def test_no_test_module_imports_another_test_module() -> None:
    found = [f"{p.name} imports {name}" for p in sorted(TESTS.glob("test_*.py")) for name in _test_module_imports(p)]
    assert found == []


def test_no_test_module_imports_the_conftest() -> None:
    """Fixtures come by name; whatever else tests share is imported from tests/support/."""
    found = [
        f"{p.name} imports {name}"
        for p in sorted(TESTS.glob("test_*.py"))
        for name in sorted(_imports(p, f"tests.{p.stem}"))
        if _under(name, {"tests.conftest"})
    ]
    assert found == []


def test_the_test_import_check_sees_relative_absolute_and_late_imports(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from .support.cli import cli\nfrom .test_cli import x\nimport tests.test_store\n"
        "from . import test_model\nfrom tests.test_fencing import y\n"
        "def later():\n    from .test_rehearsal import z\n"
    )
    assert _test_module_imports(probe) == [
        "tests.test_cli",
        "tests.test_fencing",
        "tests.test_model",
        "tests.test_rehearsal",
        "tests.test_store",
    ]
