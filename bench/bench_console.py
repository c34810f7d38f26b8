"""Benchmark: the console's Queue page and its Approve action with 2,000 drafts in the store.

The console runs as `livetweet run` serves it (uvicorn, one process) in a child process;
20 clients on loopback (httpx, asyncio) each log in and then ask for the Queue page, then
approve drafts, as fast as answers come. Prints p50 and p99 latency of each.
Target (issue 6): p99 under 50 ms for the page.

Run:  .venv/bin/python bench/bench_console.py [--clients 20] [--requests 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_text import generated_schedule

N_DRAFTS = 2_000
PASSWORD = "bench"


def serve(db: str, port: int, ready: object) -> None:
    from livetweet.console import ConsoleAuth, ConsoleContext, create_app
    from livetweet.console.server import ConsoleServer
    from livetweet.service import Service
    from livetweet.store import Store

    service = Service(Store(db))
    event_id = service.store.events()[0]["id"]
    app = create_app(ConsoleContext(service, event_id, "approval", ConsoleAuth(PASSWORD)))
    ConsoleServer(app, "127.0.0.1", port).start()
    ready.set()  # type: ignore[attr-defined]
    while True:
        time.sleep(3600)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


async def client(base: str, n: int, ids: list[int], page_ms: list[float], approve_ms: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await http.post("/login", data={"name": "bench", "password": PASSWORD})
        first = await http.get("/queue")
        csrf = re.search(r'name="csrf" value="([^"]+)"', first.text).group(1)  # type: ignore[union-attr]
        for _ in range(n):
            start = time.perf_counter()
            response = await http.get("/queue")
            page_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and "data-draft-id" in response.text
        for draft_id in ids:
            start = time.perf_counter()
            response = await http.post(
                f"/drafts/{draft_id}/approve", data={"csrf": csrf}, headers={"referer": base + "/queue"}
            )
            approve_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 303, response.text


async def load(base: str, clients: int, n: int, ids: list[int]) -> tuple[list[float], list[float]]:
    page_ms: list[float] = []
    approve_ms: list[float] = []
    share = len(ids) // clients
    await asyncio.gather(
        *(client(base, n, ids[i * share : (i + 1) * share], page_ms, approve_ms) for i in range(clients))
    )
    return page_ms, approve_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="Queue pages per client")
    args = parser.parse_args()
    from livetweet.service import Service
    from livetweet.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        service = Service(Store(db))
        service.load(generated_schedule(Path(tmp), N_DRAFTS))
        ids = [d.id for d in service.queue()][: args.clients * 25]
        service.store.close()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        server = ctx.Process(target=serve, args=(db, port, ready), daemon=True)
        server.start()
        ready.wait(30)
        try:
            gc.collect()
            gc.disable()  # the clients' own garbage collection is not the server's latency
            page_ms, approve_ms = asyncio.run(load(f"http://127.0.0.1:{port}", args.clients, args.requests, ids))
            gc.enable()
        finally:
            server.terminate()
    print(f"{N_DRAFTS:,} drafts in the store, {args.clients} concurrent clients on loopback, one server process")
    print(
        f"Queue page ({len(page_ms):,} requests, 50 drafts a page): p50 {statistics.median(page_ms):.1f} ms, "
        f"p99 {pct(page_ms, 0.99):.1f} ms, max {max(page_ms):.1f} ms "
        f"({'meets' if pct(page_ms, 0.99) < 50 else 'MISSES'} target p99 < 50 ms)"
    )
    print(
        f"Approve ({len(approve_ms):,} requests): p50 {statistics.median(approve_ms):.1f} ms, "
        f"p99 {pct(approve_ms, 0.99):.1f} ms, max {max(approve_ms):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
