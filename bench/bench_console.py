"""Benchmark: the console as a live control room: 10,000 drafts, 50 operators logged in at once.

The console is served as on the day, and as the suite serves it: a real `livetweet run
--rehearse --console` (one process: the dispatcher, its sweep, the DM poll and the console's
uvicorn) on a generated schedule of 10,000 slots (each a pending draft; `run` loads them in
one transaction). Its first post falls due an hour away, so nothing changes but what the
benchmark changes. 50 clients (httpx, asyncio, one process) log in, one after another, each
its own session, and each holds the event stream (/events, Server-Sent Events) open the
whole time, as every open console page does. Then:

1. Pages under load: the 50 clients ask for the Queue page (/queue), each again as soon as it
   has its answer, `--requests` times (or until `--phase-seconds` have passed); then the same
   for the Now page (/). p50/p99 latency. With every client waiting on the server at once,
   a request's latency is about 50 times the server's time per request (saturation).
   Then paced: each client asks every `--pace` s (0.5: 100 requests/s from the room, more
   than 50 people click), which is the latency an operator meets.
2. Live updates: an operator changes a draft (`--changes` times: approving one in the console,
   a POST like the page's button, and as many from another process, the CLI's way, through
   the store). From just before each change until each of the 50 clients reads its `changed`
   event: p50/p99 over every client of every change, and of the slowest client of each change.
   Each client then fetches its page again, as console.js does on `changed`: that too, from
   the change to the page in hand.

Targets (issue 13): Queue and Now p99 < 50 ms, live update p99 < 500 ms. The figures are
printed, with the machine's load average; nothing is asserted.

Logins under password guessing: bench/bench_login.py.

Run:  .venv/bin/python bench/bench_console.py [--drafts 10000] [--clients 50] [--requests 20]
        [--changes 20] [--change-via both|console|store] [--refetch /queue] [--phase-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_text import generated_schedule

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench"
PAGE_P99_TARGET = 50.0  # ms, the Queue and the Now page
LIVE_P99_TARGET = 500.0  # ms, from a change to every client's `changed` event
START_IN = 3600.0  # seconds until the first post falls due: nothing moves by itself meanwhile
TIMEOUT = 120.0  # seconds a client waits for an answer


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def figures(ms: list[float], target: float | None = None) -> str:
    if not ms:
        return "no samples"
    text = f"p50 {statistics.median(ms):,.1f} ms, p99 {pct(ms, 0.99):,.1f} ms, max {max(ms):,.1f} ms"
    if target is not None:
        text += f"  (target p99 < {target:.0f} ms: {'meets' if pct(ms, 0.99) < target else 'MISSES'})"
    return text


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


# --- the console: a real `livetweet run --rehearse` --------------------------------------------


@contextlib.contextmanager
def running_console(folder: Path, n_drafts: int) -> Iterator[tuple[str, str, float]]:
    """`livetweet run --rehearse --console` on a generated schedule; yields its URL, the store's
    URL and the seconds the run took from its start to its console answering."""
    schedule = generated_schedule(folder, n_drafts, inside_segments=True)
    db = f"sqlite:///{folder / 'bench.db'}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LIVETWEET_CONSOLE_PASSWORD": PASSWORD, "NO_COLOR": "1"}
    env.pop("LIVETWEET_CONSOLE_PASSWORD_HASH", None)
    command = [
        sys.executable, "-m", "livetweet", "--db", db, "run", str(schedule), "--rehearse", "--speed", "1",
        "--start-in", str(START_IN), "--console", f"127.0.0.1:{port}",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    said: list[str] = []
    for line in proc.stdout:
        said.append(line)
        if line.startswith("Console: "):
            break
    else:
        raise RuntimeError("the run ended before its console started:\n" + "".join(said))
    took = time.perf_counter() - started
    # What the run says from now on is read (and dropped) so that its pipe never fills.
    threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", db, took
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- the clients ----------------------------------------------------------------------------------


CSRF = re.compile(r'(?:name="csrf" value|data-csrf)="([^"]+)"')


@dataclass
class Operator:
    """One logged-in browser: its session, its CSRF token, its event stream."""

    number: int
    http: httpx.AsyncClient
    csrf: str
    hello: asyncio.Event = field(default_factory=asyncio.Event)
    on_changed: Callable[[Operator, float], None] | None = None
    stream: asyncio.Task[None] | None = None


async def log_in(base: str, number: int) -> Operator:
    http = httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=httpx.Limits(max_connections=4))
    response = await http.post("/login", data={"name": f"operator{number}", "password": PASSWORD})
    if response.status_code != 303:
        raise RuntimeError(f"login refused: {response.status_code} {response.text[:200]}")
    page = await http.get("/queue")
    found = CSRF.search(page.text)
    if page.status_code != 200 or found is None:
        raise RuntimeError(f"the Queue page after login: {page.status_code}, no CSRF token in it")
    return Operator(number, http, found.group(1))


async def listen(op: Operator) -> None:
    """Read the event stream: `hello` once connected, then a `changed` for each change."""
    async with op.http.stream("GET", "/events", headers={"accept": "text/event-stream"}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"/events answered {response.status_code}")
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                now = time.perf_counter()
                if kind == "hello":
                    op.hello.set()
                elif kind == "changed" and op.on_changed is not None:
                    op.on_changed(op, now)
            elif not line:
                kind = ""


async def hammer(
    op: Operator, path: str, n: int, until: float, ms: list[float], failures: list[str], every: float = 0.0
) -> None:
    """`n` requests, each as soon as the last is answered, or (`every` > 0) one every `every` seconds."""
    due = time.perf_counter() + random.uniform(0, every)
    for _ in range(n):
        if every:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due += every
        if time.perf_counter() > until:
            return
        start = time.perf_counter()
        try:
            response = await op.http.get(path)
        except httpx.HTTPError as exc:  # counted as long as it took (a timeout: at least TIMEOUT)
            failures.append(f"{path}: {type(exc).__name__}")
            continue
        finally:
            ms.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            failures.append(f"{path}: {response.status_code}")


async def pages(
    ops: list[Operator], path: str, n: int, seconds: float, every: float = 0.0
) -> tuple[list[float], list[str], float]:
    ms: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(hammer(op, path, n, start + seconds, ms, failures, every) for op in ops))
    return ms, failures, time.perf_counter() - start


@dataclass
class LiveFigures:
    event_ms: list[float] = field(default_factory=list)  # every client of every change
    slowest_ms: list[float] = field(default_factory=list)  # the last client of each change
    page_ms: list[float] = field(default_factory=list)  # change -> the page fetched again
    missing: int = 0  # clients that never saw a change (within the deadline)
    page_failures: int = 0


async def one_change(
    ops: list[Operator], change: Callable[[], Awaitable[None]], result: LiveFigures, refetch: str, deadline: float
) -> None:
    """Make one change and time it to every client's `changed` event (and its page fetched again)."""
    waiting = {op.number for op in ops}
    everyone = asyncio.Event()
    refetches: list[asyncio.Task[None]] = []
    t0: float | None = None

    async def fetch_again(op: Operator, since: float) -> None:
        try:
            response = await op.http.get(refetch, headers={"x-livetweet-refresh": "1"})  # as the page's fetch
        except httpx.HTTPError:
            result.page_failures += 1
            return
        if response.status_code == 200:
            result.page_ms.append((time.perf_counter() - since) * 1000)
        else:
            result.page_failures += 1

    def changed(op: Operator, when: float) -> None:
        if t0 is None or op.number not in waiting:
            return  # not this change's: it has not been made yet, or this client has seen it
        waiting.discard(op.number)
        result.event_ms.append((when - t0) * 1000)
        if refetch:
            refetches.append(asyncio.create_task(fetch_again(op, t0)))
        if not waiting:
            result.slowest_ms.append((when - t0) * 1000)
            everyone.set()

    for op in ops:
        op.on_changed = changed
    # A pause of random length before each change, so that changes do not fall at one fixed
    # point of the streams' polling (each looks for a change every 0.25 s): what is measured is
    # a change at any moment, as operators make them. It waits for nothing.
    await asyncio.sleep(random.uniform(0, 0.5))
    t0 = time.perf_counter()
    await change()
    try:
        await asyncio.wait_for(everyone.wait(), deadline)
    except TimeoutError:
        result.missing += len(waiting)
    await asyncio.gather(*refetches, return_exceptions=True)  # every page in hand before the next change
    for op in ops:
        op.on_changed = None


# --- main ---------------------------------------------------------------------------------------


async def bench(base: str, db: str, args: argparse.Namespace) -> None:
    from livetweet.service import Service
    from livetweet.store import Store

    print(f"Before: {load_average()}")
    started = time.perf_counter()
    ops = [await log_in(base, i) for i in range(args.clients)]  # one after another: the login throttle
    print(f"{args.clients} operators logged in, one after another, in {time.perf_counter() - started:.1f} s")
    for op in ops:
        op.stream = asyncio.create_task(listen(op))
    await asyncio.wait_for(asyncio.gather(*(op.hello.wait() for op in ops)), 60)
    print(f"{args.clients} event streams open (/events)")

    gc.collect()
    gc.disable()  # the clients' garbage collection is not the server's latency
    try:
        for name, path in (("Queue", "/queue"), ("Now", "/")):
            ms, failures, took = await pages(ops, path, args.requests, args.phase_seconds)
            print(
                f"{name} page, GET {path}: {len(ms):,} requests from {args.clients} clients at once in {took:.1f} s "
                f"({len(ms) / took:,.0f}/s): {figures(ms, PAGE_P99_TARGET)}"
            )
            if failures:
                print(f"  {len(failures)} failed: {', '.join(sorted(set(failures))[:5])}")
            # The room as it is: every client asks again every PACE s (a page refreshing far more
            # often than a person clicks), so the latency is the server's, not a queue of 50.
            ms, failures, took = await pages(ops, path, args.requests, args.phase_seconds, args.pace)
            print(
                f"{name} page, GET {path}, each of {args.clients} clients every {args.pace:g} s "
                f"({args.clients / args.pace:,.0f}/s): {figures(ms, PAGE_P99_TARGET)}"
            )
            if failures:
                print(f"  {len(failures)} failed: {', '.join(sorted(set(failures))[:5])}")

        store = Store(db, create=False)
        service = Service(store)
        targets = iter([d.id for d in service.queue()][: 2 * args.changes])  # the next posts, on everyone's page
        console_op = ops[0]

        approve_ms: list[float] = []

        async def through_console(draft_id: int) -> None:
            start = time.perf_counter()
            response = await console_op.http.post(
                f"/drafts/{draft_id}/approve", data={"csrf": console_op.csrf}, headers={"referer": base + "/queue"}
            )
            approve_ms.append((time.perf_counter() - start) * 1000)
            if response.status_code != 303:
                raise RuntimeError(f"approve in the console: {response.status_code} {response.text[:200]}")

        async def through_store(draft_id: int) -> None:
            await asyncio.get_running_loop().run_in_executor(None, service.approve, draft_id, "cli-operator")

        ways = ["console", "store"] if args.change_via == "both" else [args.change_via]
        results = {way: LiveFigures() for way in ways}
        for _ in range(args.changes):
            for way in ways:
                make = through_console if way == "console" else through_store
                await one_change(ops, functools.partial(make, next(targets)), results[way], args.refetch, 30.0)
        store.close()
        for way, result in results.items():
            what = (
                "approve in the console (POST, as its button)"
                if way == "console"
                else "approve from another process, through the store (as the CLI)"
            )
            print(f"Live update, {what}, {args.changes} changes x {args.clients} clients:")
            print(f"  change -> each client's `changed` event: {figures(result.event_ms, LIVE_P99_TARGET)}")
            print(f"  change -> the last client's `changed` event, per change: {figures(result.slowest_ms)}")
            if way == "console":
                print(f"  the POST itself, to its 303: {figures(approve_ms)}")
            if args.refetch:
                print(f"  change -> GET {args.refetch} again in hand (as console.js does): {figures(result.page_ms)}")
            if result.page_failures:
                print(f"  {result.page_failures} of those fetches failed")
            if result.missing:
                print(f"  {result.missing} times a client did not see a change within 30 s (not counted above)")
    finally:
        gc.enable()
        for op in ops:
            if op.stream is not None:
                op.stream.cancel()
        await asyncio.gather(*(op.stream for op in ops if op.stream is not None), return_exceptions=True)
        for op in ops:
            await op.http.aclose()
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = used.ru_utime + used.ru_stime
    print(f"After: {load_average()}; the {args.clients} clients (this process) used {cpu:.1f} s of CPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--drafts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests of each page per client")
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between a client's requests (paced run)")
    parser.add_argument("--phase-seconds", type=float, default=60.0, help="each page's phase ends after this")
    parser.add_argument("--changes", type=int, default=20, help="changes of each way")
    parser.add_argument("--change-via", choices=["both", "console", "store"], default="both")
    parser.add_argument("--refetch", default="/queue", help="page each client fetches on `changed` ('' for none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_console(Path(tmp), args.drafts) as (base, db, took):
        print(
            f"`livetweet run --rehearse --console` on {args.drafts:,} drafts (pending, loaded by the run): "
            f"its console answered {took:.1f} s after start; first post in {START_IN / 60:.0f} min"
        )
        asyncio.run(bench(base, db, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
