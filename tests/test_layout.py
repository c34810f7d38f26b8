"""The service package's shape: light to import, and no SQL of its own."""

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
