"""Random operator sessions against the real store: the invariants hold whatever they do."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from livetweet.clock import FixedClock
from livetweet.draft import DraftError, DraftState
from livetweet.service import Service
from livetweet.store import Store

from .support.events import MINI_SCHEDULE, MINI_TEMPLATES, write_event
from .support.world import posting_run

S = DraftState

draft_index = st.integers(min_value=0, max_value=1)
actions = st.one_of(
    st.tuples(st.just("approve"), draft_index, st.sampled_from(["none", "current", "stale"])),
    st.tuples(st.just("edit"), draft_index, st.integers(min_value=0, max_value=3)),
    st.tuples(st.just("reject"), draft_index),
    st.tuples(st.just("unapprove"), draft_index),
    st.tuples(st.just("claim"), draft_index),
    st.tuples(st.just("posted"), draft_index),
    st.tuples(st.just("reload"), st.sampled_from(["template", "time", "drop-q1", "original"])),
)


def _reload(folder: Path, variant: str) -> Path:
    schedule, templates = MINI_SCHEDULE, dict(MINI_TEMPLATES)
    if variant == "template":
        templates["question.j2"] = "Coming up: {{ segment.title }}"
    elif variant == "time":
        schedule = schedule.replace("q1.start + 2m", "q1.start + 4m")
    elif variant == "drop-q1":
        schedule = schedule.split("  - id: q1\n    template")[0]
    return write_event(folder, schedule, templates)


def _check_invariants(service: Service) -> None:
    for draft in service.store.drafts():
        trail = service.store.audit(draft.id)
        # Every change of the row has its audit row: the version counts them.
        assert draft.version == len(trail), (draft, trail)
        assert len(service.store.revisions(draft.id)) == draft.revision
        # No draft reaches posting without its current revision approved.
        approved: int | None = None
        for entry in trail:
            if entry.action in ("approve", "post-now"):
                approved = entry.revision
            elif entry.to_state in ("pending", "rejected", "withdrawn", "missed", "failed"):
                approved = None
            if entry.to_state == "posting" and entry.from_state != "posting":
                assert entry.from_state == "approved"
                assert approved == entry.revision, trail
        if draft.state in (S.POSTING, S.POSTED):
            assert draft.approved_revision == draft.revision


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=25))
def test_random_operator_sessions_keep_the_invariants(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = Store(f"sqlite:///{folder / 'livetweet.db'}")
        service = Service(store, FixedClock(datetime(2020, 11, 12, 12, 31, tzinfo=UTC)))
        service.load(write_event(folder))
        try:
            for n, step in enumerate(steps):
                drafts = sorted(store.drafts(), key=lambda d: d.slot)
                kind = step[0]
                try:
                    if kind == "reload":
                        service.load(_reload(folder, step[1]))
                        continue
                    draft = drafts[step[1] % len(drafts)]
                    if kind == "approve":
                        pin = {"none": None, "current": draft.revision, "stale": draft.revision - 1}[step[2]]
                        service.approve(draft.id, "alice", revision=pin)
                    elif kind == "edit":
                        service.edit(draft.id, f"Edited text number {n} #GCM", "bob")
                    elif kind == "reject":
                        service.reject(draft.id, "carol", reason="random")
                    elif kind == "unapprove":
                        service.unapprove(draft.id, "dave")
                    elif kind == "claim":
                        service.clock.set(max(draft.at, service.clock.now()))
                        posting_run(service).claim(draft.id)
                    elif kind == "posted" and draft.state == S.POSTING:  # an outcome follows a claim
                        posting_run(service).posted(draft.id, draft.version, str(n))
                except DraftError:
                    pass  # refused actions must change nothing: the invariants below check it
                finally:
                    _check_invariants(service)
        finally:
            store.close()
