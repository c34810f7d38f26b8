"""Benchmark: how fast the command line answers (issue 12).

Run:  .venv/bin/python bench/bench_cli.py [--runs N]
Targets: `livetweet --help` and `livetweet queue --help` under 150 ms, `livetweet queue` on the
shipped event under 300 ms, on an idle machine; each printed beside `python -c pass`, measured
in the same run, and as a ratio to it. livetweet's bytecode is compiled first, as installing it
does: where PYTHONDONTWRITEBYTECODE is set, every run would otherwise compile its modules anew.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEDULE = next((REPO / "schedules").glob("*.yaml"))
TARGETS_MS = {"livetweet --help": 150, "livetweet queue --help": 150, "livetweet queue": 300}


def timed(args: list[str], cwd: Path, runs: int) -> list[float]:
    """Wall times in ms of `runs` runs (after one warm-up run that fills the OS's caches)."""
    env = {**os.environ, "NO_COLOR": "1"}
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        result = subprocess.run(args, cwd=cwd, env=env, capture_output=True)
        elapsed = (time.perf_counter() - started) * 1000
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {result.stderr.decode()[-500:]}")
        if i:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    python = sys.executable
    compileall.compile_dir(REPO / "livetweet", quiet=1)  # what `pip install` does; an editable install's first run
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        subprocess.run([python, "-m", "livetweet", "--db", "sqlite:///bench.db", "load", str(SCHEDULE)], cwd=here,
                       check=True, capture_output=True)  # fmt: skip
        cases = {
            "python -c pass": [python, "-c", "pass"],
            "livetweet --help": [python, "-m", "livetweet", "--help"],
            "livetweet queue --help": [python, "-m", "livetweet", "queue", "--help"],
            "livetweet queue": [python, "-m", "livetweet", "--db", "sqlite:///bench.db", "queue"],
        }
        results = {name: timed(args, here, runs) for name, args in cases.items()}
    base = statistics.median(results["python -c pass"])
    load = os.getloadavg()[0]
    print(f"CLI start-up, median and max of {runs} runs (load average {load:.2f} on {os.cpu_count()} cores)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: livetweet's .pyc files were compiled before the runs")
    print(f"{'command':<26}{'median ms':>10}{'max ms':>9}{'x pass':>8}   target")
    for name, times in results.items():
        median = statistics.median(times)
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else (f"< {target} ms: " + ("met" if median < target else "MISSED"))
        print(f"{name:<26}{median:>10.1f}{max(times):>9.1f}{median / base:>8.1f}   {verdict}")


if __name__ == "__main__":
    main()
