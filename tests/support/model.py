"""What the two model tests of exactly-once share: test_model.py (X alone) and test_model_networks.py
(X, Bluesky and Mastodon), each a state machine of operators, posting runs and simulated networks.

- `StoreTemplate`: one loaded store, given back to the one store the test keeps open before each
  example (loading or opening a store per example would cost more than the steps), and the plain
  connection the invariants read it through;
- `PostingRun`: one `livetweet run`, its dispatcher and its posts taken apart into their steps
  (claim, call, record), so that operators, the sweep, crashes and a second run taking the lease
  can act between any two of them;
- `PostingModel`: the state machine's common part: the clocks, the store, the runs, the operators'
  actions, time passing, the steps of a post and a run taking over;
- `model_settings`: how many examples, of how many steps.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from livetweet.clock import FixedClock
from livetweet.dispatch import Dispatcher
from livetweet.draft import Draft, DraftError, DraftState
from livetweet.errors import LiveControlError
from livetweet.publishers.base import Outcome, Publisher
from livetweet.service import Service
from livetweet.service.ledger import Claim
from livetweet.store import RUNNER_STALE_SECONDS, Store

from .events import write_event
from .world import T_1330

S = DraftState
WALL_START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the machine's clock, for leases
# Each draft's audit rows that record a move, counted (the invariants compare them with its version).
MOVES = "SELECT draft_id, count(*) FROM audit WHERE to_state IS NOT NULL AND draft_id IS NOT NULL GROUP BY draft_id"


class Template(NamedTuple):
    """The loaded store every example starts from, kept open, and its drafts' ids."""

    db: sqlite3.Connection
    ids: list[int]
    folder: Path


class StoreTemplate:
    """The event loaded once (in auto mode, at 13:30) into a template store; each example's store is a copy of it."""

    def __init__(self, prefix: str, schedule: str, templates: dict[str, str], drafts: int | None = None) -> None:
        self.prefix = prefix  # of the template's folder
        self.schedule = schedule
        self.templates = templates
        self.drafts = drafts  # how many drafts the load must make, if the test counts on it
        self._template: Template | None = None
        self._store: Store | None = None
        self.reader: sqlite3.Connection | None = None  # the invariants' plain connection to the store's file

    def template(self) -> Template:
        """One loaded store, copied for each example (loading it each time would cost more than the steps)."""
        if self._template is None:
            folder = Path(tempfile.mkdtemp(prefix=self.prefix))
            store = Store(f"sqlite:///{folder / 'template.db'}", wall=FixedClock(WALL_START))
            Service(store, FixedClock(T_1330)).load(write_event(folder, self.schedule, self.templates), "auto")
            ids = [d.id for d in store.drafts()]
            if self.drafts is not None:
                assert len(ids) == self.drafts, [(d.slot, d.account) for d in store.drafts()]
            store.close()
            self._template = Template(sqlite3.connect(folder / "template.db"), ids, folder)
        return self._template

    def fresh_store(self, wall: FixedClock) -> Store:
        """The one store of the test, given back the template's pages (opening a store per example costs more)."""
        template = self.template()
        if self._store is None:
            working = template.folder / "livetweet.db"
            self._store = Store(f"sqlite:///{working}", wall=wall)
            self.reader = sqlite3.connect(working, isolation_level=None)
        raw = self._store.engine.raw_connection()
        try:
            template.db.backup(raw.driver_connection)  # every table in one step (SQLite's online backup)
        finally:
            raw.close()
        self._store.wall = wall
        return self._store

    def read(self, drafts: str) -> tuple[list[Any], dict[int, int]]:
        """The rows of the `drafts` query and each draft's moves (MOVES), in one read on the plain connection."""
        assert self.reader is not None
        self.reader.execute("BEGIN")  # one read, on a plain connection: this runs after every step
        try:
            rows = self.reader.execute(drafts).fetchall()
            moves = dict(self.reader.execute(MOVES).fetchall())
        finally:
            self.reader.execute("COMMIT")
        return rows, moves


class PostingRun:
    """One `livetweet run`: its dispatcher (over one publisher, or one per account), and its posts taken apart
    between steps."""

    def __init__(self, service: Service, publishers: Publisher | Mapping[str, Publisher], event: str = "demo") -> None:
        self.dispatcher = Dispatcher(
            service, publishers if isinstance(publishers, Publisher) else dict(publishers), event
        )
        self.claims: list[Claim] = []  # claimed, the network not yet called
        self.calls: list[tuple[Claim, Outcome]] = []  # the network answered, not yet recorded


class PostingModel(RuleBasedStateMachine):
    """What both machines hold and do. A subclass sets `template` and `max_runs`, makes its simulated networks
    (`publishers`, what each run posts through) and starts the first run (`new_run()`)."""

    template: StoreTemplate
    max_runs: int  # how many runs may hold the store at once (one stalled, one that took over...)
    publishers: Publisher | Mapping[str, Publisher]

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.clock = FixedClock(start)
        self.wall = FixedClock(WALL_START)
        self.store = self.template.fresh_store(self.wall)
        self.service = Service(self.store, self.clock)
        self.runs: list[PostingRun] = []
        self.ids = list(self.template.template().ids)
        self.edits = 0

    # --- what is checked at the moment a network is called -------------------------------

    def claimed(self, text: str, account: str | None = None) -> Draft:
        """The one draft claimed (for `account`, if given) with this text: posted at its approved revision,
        inside its window."""
        now = self.clock.now()
        posting = [d for d in self.store.drafts(states=[S.POSTING]) if d.text == text and account in (None, d.account)]
        to = f" to {account}" if account else ""
        assert len(posting) == 1, f"a post{to} of a text no claimed draft{to and ' there'} has: {text!r}"
        draft = posting[0]
        assert draft.approved_revision == draft.revision, f"posted draft {draft.id} at an unapproved revision"
        assert now <= draft.valid_until, f"posted draft {draft.id} at {now}, after its window ({draft.valid_until})"
        return draft

    # --- operators ---------------------------------------------------------------------

    def _target(self, which: int | str) -> int:
        """A draft by index, or "in-flight": one whose post is claimed or whose call is out, if any."""
        if which == "in-flight":
            for run in self.runs:
                for claim in run.claims + [c for c, _ in run.calls]:
                    return claim.draft.id
            which = 0
        return self.ids[int(which)]

    def acts(self, draft_id: int) -> dict[str, Callable[[], Any]]:
        """What a person may do to a draft in both models (each adds its own)."""
        return {
            "approve": lambda: self.service.approve(draft_id, "alice"),
            "unapprove": lambda: self.service.unapprove(draft_id, "bob"),
            "edit": lambda: self.service.edit(draft_id, f"Edited line {self.edits} #GCM", "carol"),
            "reject": lambda: self.service.reject(draft_id, "dave", "random"),
            "post-now": lambda: self.service.post_now(draft_id, "erin"),
            "cancel": lambda: self.service.cancel_post(draft_id, "erin"),
            "unreject": lambda: self.service.restore(draft_id, "dave"),
        }

    def act(self, acts: dict[str, Callable[[], Any]], action: str) -> None:
        """A person does `action`; a refusal is fine (the invariants check that nothing changed)."""
        self.edits += 1
        with contextlib.suppress(DraftError, LiveControlError):
            acts[action]()

    # --- time ----------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 5, 30, 60, 301]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    # --- the posting runs, step by step ----------------------------------------------------

    def _run(self, n: int) -> PostingRun:
        return self.runs[n % len(self.runs)]

    def _claim(self, run: PostingRun, i: int) -> None:
        """Step 1 of a post: the run claims the first draft it may, from the i-th on."""
        for draft_id in self.ids[i:] + self.ids[:i]:
            claim = run.dispatcher.claim(draft_id)
            if claim is not None:
                run.claims.append(claim)
                return

    def step(
        self, n: int, step: str, i: int, call: Callable[[PostingRun], None], record: Callable[[PostingRun], None]
    ) -> None:
        """One step of run n's posts: claim a draft (from the i-th on), `call` its network for a claim, or `record`
        an answer; "next" is the step the run's oldest post is at."""
        run = self._run(n)
        if step == "next":
            step = "record" if run.calls else "call" if run.claims else "claim"
        if step == "record" and run.calls:
            record(run)
        elif step == "call" and run.claims:
            call(run)
        else:
            self._claim(run, i)

    def new_run(self) -> PostingRun:
        return PostingRun(self.service, self.publishers)

    def take_over(self) -> None:
        """A new run starts once the store's lease has gone quiet, and settles what it finds under way."""
        self.wall.advance(timedelta(seconds=RUNNER_STALE_SECONDS + 1))
        run = self.new_run()
        run.dispatcher.reconcile_all()
        self.runs.append(run)

    @rule()
    def crash_and_restart(self) -> None:
        """The posting process dies wherever it was; a new one starts when its lease has gone quiet."""
        self.runs.pop()
        self.take_over()

    @precondition(lambda self: len(self.runs) < self.max_runs)
    @rule()
    def second_run_takes_over(self) -> None:
        """The run stalls past its lease (SIGSTOP, a closed lid) and another takes over; the old one may wake."""
        self.take_over()

    def settled(self, stored: list[tuple[int, str]], *where: str) -> None:
        """Each (draft id, post id) that reached the network is posted with that id."""
        for draft_id, post_id in stored:
            draft = self.store.get(draft_id)
            assert (draft.state, draft.tweet_id) == (S.POSTED, post_id), (*where, draft_id, post_id, draft)


def model_settings(examples: int) -> settings:
    """`examples` examples of up to 30 steps, however slow."""
    return settings(
        max_examples=examples,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
