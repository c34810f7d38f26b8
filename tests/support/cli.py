"""The `livetweet` command line for tests: in this process, or as a real process.

`cli()` runs the real entry point, `livetweet.cli.main` (the one `livetweet` runs: our errors
become exit code 1 there, click's usage errors 2), in this process, as a fresh process would
run it: in `cwd`, with `env` added to the environment and nothing on stdin. Afterwards the
environment is as it was (`.env` is read into it), so is the working directory, and the stores
the command opened are closed (a process that ends closes its own). Most command tests use it:
it costs milliseconds where a process costs the interpreter's start-up and every import.

`cli_process()` starts `python -m livetweet` for what only a real process shows: `run` and
`fake-x`, signals, start-up, file modes, an environment of its own, `.env` in a folder, a
terminal; and a few smoke tests of ordinary commands, so the real entry point runs too.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .events import REPO


@dataclass(frozen=True)
class Result:
    """What a command did: its exit code and what it wrote (the fields of CompletedProcess)."""

    returncode: int
    stdout: str
    stderr: str


class _Routed:
    """sys.stdout or sys.stderr while a command runs: the command's thread writes into its own
    buffer, every other thread (a server's, say) where it wrote before."""

    def __init__(self, mine: io.StringIO, others: Any) -> None:
        self._mine, self._others, self._thread = mine, others, threading.get_ident()

    def _target(self) -> Any:
        return self._mine if threading.get_ident() == self._thread else self._others

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return bool(self._target().isatty())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)


_one_at_a_time = threading.Lock()  # sys.argv, the working directory and the environment are the process's


@contextlib.contextmanager
def _environment(added: Mapping[str, str]) -> Iterator[None]:
    """`added` in the environment while the command runs; afterwards exactly what was there before."""
    before = dict(os.environ)
    os.environ.update(added)
    try:
        yield
    finally:
        for name in [n for n in os.environ if n not in before]:
            del os.environ[name]
        for name, value in before.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


@contextlib.contextmanager
def _closing_opened_stores() -> Iterator[None]:
    """Close every store this thread opens meanwhile, as the end of a process would."""
    from livetweet import store as store_module

    opened: list[Any] = []
    me = threading.get_ident()
    original = store_module.Store.__init__

    def tracked(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if threading.get_ident() == me:
            opened.append(self)

    store_module.Store.__init__ = tracked  # type: ignore[method-assign]
    try:
        yield
    finally:
        store_module.Store.__init__ = original  # type: ignore[method-assign]
        for store in opened:
            store.close()


def cli(*args: str, cwd: Path | str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """`livetweet ARGS` in this process, by the real `main`: (exit code, stdout, stderr).

    `cwd` is where it runs (default: where the test runs); `env` is added to the environment
    for the command only. An exception that escapes `main` is printed as Python prints it and
    gives exit code 1, as it would in a real process."""
    from livetweet.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _one_at_a_time:
        saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
        here = os.getcwd()
        code = 0
        try:
            with _environment(env or {}), _closing_opened_stores():
                if cwd is not None:
                    os.chdir(cwd)
                sys.argv = ["livetweet", *args]
                sys.stdin = io.StringIO("")
                sys.stdout, sys.stderr = _Routed(out, saved[2]), _Routed(err, saved[3])
                try:
                    main()
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except Exception:  # as Python itself would: the traceback on stderr, exit code 1
                    err.write(traceback.format_exc())
                    code = 1
        finally:
            sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
            os.chdir(here)
    return Result(code, out.getvalue(), err.getvalue())


def run_cli(*args: str) -> tuple[int, str, str]:
    """`livetweet ARGS` in this process, where the test runs: (exit code, stdout, stderr)."""
    result = cli(*args)
    return result.returncode, result.stdout, result.stderr


def cli_process(
    *args: str, cwd: Path | str = REPO, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m livetweet ARGS` as a real process, with `env` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "livetweet", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
