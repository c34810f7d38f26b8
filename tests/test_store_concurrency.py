"""Two operators in two processes act on the same drafts at the same moment."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from livetweet.draft import DraftState
from livetweet.service import Service
from livetweet.store import Store

from .support.events import MINI_SCHEDULE, write_event
from .support.race_worker import act

N_SLOTS = 30


def _many_slots_schedule() -> str:
    head = MINI_SCHEDULE.split("slots:\n")[0]
    slots = "".join(
        f"  - id: s{i}\n    template: many\n    at: q1.start + {i}m\n    vars:\n      n: {i}\n" for i in range(N_SLOTS)
    )
    return head + "slots:\n" + slots


def _race(db_url: str, tmp_path: Path, roles: tuple[str, str], pin_version: bool) -> tuple[Service, dict]:  # type: ignore[type-arg]
    path = write_event(tmp_path, _many_slots_schedule(), {"many.j2": "Post {{ slot.vars.n }}"})
    service = Service(Store(db_url))
    service.load(path)
    seen = [(d.id, d.version) for d in service.queue()]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=act, args=(f"{role}-{i}", db_url, role, seen, pin_version, barrier, results))
        for i, role in enumerate(roles)
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return service, outcomes


def test_approve_and_edit_at_once_exactly_one_wins_each_draft(db_url: str, tmp_path: Path) -> None:
    service, outcomes = _race(db_url, tmp_path, ("approve", "edit"), pin_version=True)
    for draft in service.queue():
        approve, edit = outcomes["approve-0"][draft.id], outcomes["edit-1"][draft.id]
        assert [approve, edit].count("won") == 1, (approve, edit)
        loser = edit if approve == "won" else approve
        assert "changed since you looked at it" in loser or "changed by someone else" in loser
        if approve == "won":
            assert (draft.state, draft.revision, draft.approved_by) == (DraftState.APPROVED, 1, "alice")
        else:
            assert (draft.state, draft.revision, draft.text) == (
                DraftState.PENDING,
                2,
                f"Bob rewrote draft {draft.id} #GCM\n\n#Pathways",
            )
        # No lost update: one change, one audit row, on top of the creation.
        assert draft.version == 2 == len(service.history(draft.id))


def test_two_approvals_at_once_exactly_one_wins(db_url: str, tmp_path: Path) -> None:
    service, outcomes = _race(db_url, tmp_path, ("approve", "approve"), pin_version=False)
    for draft in service.queue():
        results = [outcomes["approve-0"][draft.id], outcomes["approve-1"][draft.id]]
        assert results.count("won") == 1, results
        loser = next(r for r in results if r != "won")
        assert "already approved" in loser or "changed by someone else" in loser
        assert [e.action for e in service.history(draft.id)] == ["create", "approve"]
        assert draft.state == DraftState.APPROVED
