"""Runs in a separate process for the concurrency tests: one operator acting on many drafts."""

from __future__ import annotations

from typing import Any

from livetweet.draft import DraftError
from livetweet.service import Service
from livetweet.store import Store


def act(
    name: str, url: str, role: str, seen: list[tuple[int, int]], pin_version: bool, barrier: Any, results: Any
) -> None:
    store = Store(url)
    service = Service(store)
    outcome: dict[int, str] = {}
    barrier.wait(timeout=60)
    for draft_id, version in seen:
        pinned = version if pin_version else None
        try:
            if role == "approve":
                service.approve(draft_id, "alice", seen_version=pinned)
            else:
                service.edit(draft_id, f"Bob rewrote draft {draft_id} #GCM", "bob", seen_version=pinned)
            outcome[draft_id] = "won"
        except DraftError as exc:
            outcome[draft_id] = f"lost: {exc}"
    store.close()
    results.put((name, outcome))
