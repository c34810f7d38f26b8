"""The exactly-once promise as a model: operators, posting runs and X interleaved at random.

One real store (a SQLite file), the real service, ledger and dispatcher; X is simulated in
memory (tests/support/simx.py) so that the test decides each answer and sees each request. Each post
is taken apart into its steps (claim, call, record) so that operators, the sweep, crashes and
a second run taking the lease can act between any two of them. After every step:

- no draft is POSTed again after it reached X without a lookup in between;
- nothing is POSTed whose current revision is not the approved one, or after its window
  (post-now gives a new window: a person decided), or that a person called back (cancel) or
  brought back from rejected (unreject) without approving it again;
- every draft that reached X is in posting (being settled) or posted with that tweet id;
- each draft's audit rows that record a move equal its version.

At the end every run stops, a last run takes over and settles what is left: then every draft
that reached X is posted with its tweet id.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from livetweet.clock import FixedClock
from livetweet.dispatch import Dispatcher
from livetweet.draft import DraftError, DraftState
from livetweet.errors import LiveControlError
from livetweet.publishers.base import Outcome
from livetweet.service import Service
from livetweet.service.ledger import Claim
from livetweet.store import RUNNER_STALE_SECONDS, Store

from .support.events import MINI_SCHEDULE, write_event
from .support.simx import OUTCOMES, SimulatedX

S = DraftState
T_1330 = datetime(2020, 11, 12, 12, 30, tzinfo=UTC)
T_START = T_1330 + timedelta(minutes=1)  # hello is due: the model starts where posts happen
WALL_START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# Four posts close together (one a reply), all approved by auto mode: most steps can act on one.
SCHEDULE = MINI_SCHEDULE.replace("q1.start + 2m", "opening.start + 90s") + (
    "  - id: q1b\n    template: question\n    at: opening.start + 2m\n    vars: {n: 2}\n"
    "  - id: thanks\n    template: thanks\n    at: opening.start + 3m\n    reply_to: q1\n"
)
TEMPLATES = {
    "hello.j2": "Welcome to {{ event.title }}!",
    "question.j2": "Now: {{ segment.title }} {{ slot.vars.n | default(1) }}.",
    "thanks.j2": "Thanks for your questions!",
}
OPERATOR_ACTIONS = ["approve", "unapprove", "edit", "reject", "post-now", "post-now-held", "cancel", "unreject"]
OPERATOR_ACTIONS += ["pause", "resume", "shift", "cue"]
EXAMPLES = int(os.environ.get("LIVETWEET_MODEL_EXAMPLES", "2000"))


class Template(NamedTuple):
    """The loaded store every example starts from, kept open, and its drafts' ids."""

    db: sqlite3.Connection
    ids: list[int]
    folder: Path


_TEMPLATE: Template | None = None
_STORE: Store | None = None
_READER: sqlite3.Connection | None = None  # the invariants' plain connection to the store's file


def _template() -> Template:
    """One loaded store, copied for each example (loading it each time would cost more than the steps)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        folder = Path(tempfile.mkdtemp(prefix="livetweet-model-"))
        store = Store(f"sqlite:///{folder / 'template.db'}", wall=FixedClock(WALL_START))
        Service(store, FixedClock(T_1330)).load(write_event(folder, SCHEDULE, TEMPLATES), "auto")
        ids = [d.id for d in store.drafts()]
        store.close()
        _TEMPLATE = Template(sqlite3.connect(folder / "template.db"), ids, folder)
    return _TEMPLATE


def _fresh_store(wall: FixedClock) -> Store:
    """The one store of the test, given back the template's pages (opening a store per example costs more)."""
    global _STORE, _READER
    template = _template()
    if _STORE is None:
        working = template.folder / "livetweet.db"
        _STORE = Store(f"sqlite:///{working}", wall=wall)
        _READER = sqlite3.connect(working, isolation_level=None)
    raw = _STORE.engine.raw_connection()
    try:
        template.db.backup(raw.driver_connection)  # every table in one step (SQLite's online backup)
    finally:
        raw.close()
    _STORE.wall = wall
    return _STORE


class Row(NamedTuple):
    """A draft as the invariants read it."""

    id: int
    state: str
    tweet_id: str | None
    version: int


class PostingRun:
    """One `livetweet run`: its dispatcher, and its posts taken apart between steps."""

    def __init__(self, service: Service, x: SimulatedX) -> None:
        self.dispatcher = Dispatcher(service, x, "demo")
        self.claims: list[Claim] = []  # claimed, X not yet called
        self.calls: list[tuple[Claim, Outcome]] = []  # X answered, not yet recorded


class ExactlyOnce(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(T_START)
        self.wall = FixedClock(WALL_START)
        self.store = _fresh_store(self.wall)
        self.service = Service(self.store, self.clock)
        self.x = SimulatedX(on_post=self._at_post)
        self.runs: list[PostingRun] = [PostingRun(self.service, self.x)]
        self.ids = list(_template().ids)
        self.edits = 0

    # --- what is checked at the moment X is called --------------------------------------

    def _at_post(self, text: str) -> int:
        now = self.clock.now()
        posting = [d for d in self.store.drafts(states=[S.POSTING]) if d.text == text]
        assert len(posting) == 1, f"a POST of a text no claimed draft has: {text!r}"
        draft = posting[0]
        assert draft.approved_revision == draft.revision, f"POSTed draft {draft.id} at an unapproved revision"
        assert now <= draft.valid_until, f"POSTed draft {draft.id} at {now}, after its window ({draft.valid_until})"
        return draft.id

    # --- operators ---------------------------------------------------------------------

    def _target(self, which: int | str) -> int:
        """A draft by index, or "in-flight": one whose post is claimed or whose call is out, if any."""
        if which == "in-flight":
            for run in self.runs:
                for claim in run.claims + [c for c, _ in run.calls]:
                    return claim.draft.id
            which = 0
        return self.ids[int(which)]

    @rule(
        action=st.sampled_from(OPERATOR_ACTIONS),
        which=st.integers(0, 3),
        minutes=st.integers(-6, 6),
        from_q1=st.booleans(),
    )
    def operator(self, action: str, which: int | str, minutes: int, from_q1: bool) -> None:
        """A person acts, at any moment, possibly on a draft whose post is under way."""
        draft_id = self._target(which)
        acts: dict[str, Any] = {
            "approve": lambda: self.service.approve(draft_id, "alice"),
            "unapprove": lambda: self.service.unapprove(draft_id, "bob"),
            "edit": lambda: self.service.edit(draft_id, f"Edited line {self.edits} #GCM", "carol"),
            "reject": lambda: self.service.reject(draft_id, "dave", "random"),
            "post-now": lambda: self.service.post_now(draft_id, "erin"),
            "post-now-held": lambda: self.service.post_now(draft_id, "erin", hold=timedelta(seconds=10)),
            "cancel": lambda: self.service.cancel_post(draft_id, "erin"),
            "unreject": lambda: self.service.restore(draft_id, "dave"),
            "pause": lambda: self.service.pause("frank", "random"),
            "resume": lambda: self.service.resume("frank", verify=self.x.check),
            "shift": lambda: self.service.shift(timedelta(minutes=minutes), "gina", "q1" if from_q1 else None),
            "cue": lambda: self.service.cue("q1", "gina"),
        }
        self.edits += 1
        with contextlib.suppress(DraftError, LiveControlError):  # refused: the invariants check that nothing changed
            acts[action]()

    @precondition(lambda self: any(r.claims or r.calls for r in self.runs))
    @rule(action=st.sampled_from(["approve", "unapprove", "edit", "reject", "post-now", "cancel"]))
    def operator_on_a_post_in_flight(self, action: str) -> None:
        """The wave-1 hole, made likely: a person acts on a draft whose post is claimed or whose call is out."""
        self.operator(action, "in-flight", 0, False)

    # --- time ----------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 5, 30, 60, 301]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    # --- the posting runs, step by step ----------------------------------------------------

    def _run(self, n: int) -> PostingRun:
        return self.runs[n % len(self.runs)]

    @rule(n=st.integers(0, 2), outcomes=st.lists(st.sampled_from(OUTCOMES), max_size=3))
    def sweep(self, n: int, outcomes: list[str]) -> None:
        """A whole pass of the one-second sweep (claims, calls and records inside it)."""
        self.x.outcomes = list(outcomes)
        self._run(n).dispatcher.tick()
        self.x.outcomes = []

    def _claim(self, run: PostingRun, i: int) -> None:
        """Step 1 of a post: the run claims the first draft it may, from the i-th on."""
        for draft_id in self.ids[i:] + self.ids[:i]:
            claim = run.dispatcher.claim(draft_id)
            if claim is not None:
                run.claims.append(claim)
                return

    def _call(self, run: PostingRun, outcome: str) -> None:
        """Step 2: the run calls X, which answers as drawn (the answer waits for step 3)."""
        claim = run.claims.pop(0)
        self.x.outcomes = [outcome]
        answer = run.dispatcher.call(claim)
        self.x.outcomes = []
        if answer is not None:
            run.calls.append((claim, answer))

    def _record(self, run: PostingRun, then: list[str]) -> None:
        """Step 3: the run records X's answer (which may look the post up and post again)."""
        claim, answer = run.calls.pop(0)
        self.x.outcomes = list(then)
        run.dispatcher.record(claim, answer)
        self.x.outcomes = []

    @rule(
        n=st.integers(0, 2),
        step=st.sampled_from(["next", "claim", "call", "record"]),
        i=st.integers(0, 3),
        outcome=st.sampled_from(OUTCOMES),
        then=st.lists(st.sampled_from(OUTCOMES), max_size=2),
    )
    def post_step(self, n: int, step: str, i: int, outcome: str, then: list[str]) -> None:
        """One step of one run's posts: claim a draft, call X for a claim, or record an answer."""
        run = self._run(n)
        if step == "next":
            step = "record" if run.calls else "call" if run.claims else "claim"
        if step == "record" and run.calls:
            self._record(run, then)
        elif step == "call" and run.claims:
            self._call(run, outcome)
        else:
            self._claim(run, i)

    post_step_again = post_step  # posting steps twice as often as the other rules

    @rule(fail=st.booleans())
    def lookups(self, fail: bool) -> None:
        self.x.lookups_fail = fail

    @rule()
    def crash_and_restart(self) -> None:
        """The posting process dies wherever it was; a new one starts when its lease has gone quiet."""
        self.runs.pop()
        self.wall.advance(timedelta(seconds=RUNNER_STALE_SECONDS + 1))
        run = PostingRun(self.service, self.x)
        run.dispatcher.reconcile_all()
        self.runs.append(run)

    @precondition(lambda self: len(self.runs) < 3)
    @rule()
    def second_run_takes_over(self) -> None:
        """The run stalls past its lease (SIGSTOP, a closed lid) and another takes over; the old one may wake."""
        self.wall.advance(timedelta(seconds=RUNNER_STALE_SECONDS + 1))
        run = PostingRun(self.service, self.x)
        run.dispatcher.reconcile_all()
        self.runs.append(run)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def exactly_once(self) -> None:
        """Invariants 1, 4 and 5 of the README (2 and 3 are checked at each POST, in `_at_post`)."""
        self.no_second_post_without_a_lookup()
        assert _READER is not None
        _READER.execute("BEGIN")  # one read, on a plain connection: this runs after every step
        try:
            drafts = {r[0]: Row(*r) for r in _READER.execute("SELECT id, state, tweet_id, version FROM drafts")}
            moves = dict(
                _READER.execute(
                    "SELECT draft_id, count(*) FROM audit WHERE to_state IS NOT NULL AND draft_id IS NOT NULL "
                    "GROUP BY draft_id"
                ).fetchall()
            )
        finally:
            _READER.execute("COMMIT")
        # Every draft that reached X is being settled (posting) or posted with that tweet id.
        for tweet in self.x.stored:
            draft = drafts[tweet.draft_id]
            assert draft.state in (S.POSTING.value, S.POSTED.value), (tweet, draft)
            if draft.state == S.POSTED.value:
                assert draft.tweet_id == tweet.tweet_id, (tweet, draft)
        # Nothing is recorded posted that did not reach X.
        on_x = {t.tweet_id for t in self.x.stored}
        assert all(d.tweet_id in on_x for d in drafts.values() if d.state == S.POSTED.value), drafts
        # Each draft's audit rows that record a move equal its version.
        assert moves == {draft_id: d.version for draft_id, d in drafts.items()}

    def no_second_post_without_a_lookup(self) -> None:
        reached: set[int] = set()
        looked: set[int] = set()
        for what, draft_id in self.x.log:
            if what == "POST":
                assert draft_id not in reached or draft_id in looked, f"draft {draft_id} POSTed again: {self.x.log}"
                looked.discard(draft_id)
            elif what == "STORE":
                reached.add(draft_id)
            elif what == "LOOKUP":
                looked.add(draft_id)

    def teardown(self) -> None:
        # Everyone stops; a last run takes over with X answering, and settles what is left.
        self.runs.clear()
        self.x.lookups_fail = False
        self.wall.advance(timedelta(seconds=RUNNER_STALE_SECONDS + 1))
        last = PostingRun(self.service, self.x)
        last.dispatcher.reconcile_all()
        for tweet in self.x.stored:
            draft = self.store.get(tweet.draft_id)
            assert (draft.state, draft.tweet_id) == (S.POSTED, tweet.tweet_id), (tweet, draft)
        self.no_second_post_without_a_lookup()


ExactlyOnce.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_exactly_once_under_interleavings = ExactlyOnce.TestCase
