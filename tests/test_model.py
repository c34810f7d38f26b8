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
that reached X is posted with its tweet id. What the two model tests share is in
tests/support/model.py.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import NamedTuple

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from livetweet.draft import DraftState

from .support.events import MINI_SCHEDULE
from .support.model import PostingModel, PostingRun, StoreTemplate, model_settings
from .support.simx import OUTCOMES, SimulatedX
from .support.world import T_1330

S = DraftState
T_START = T_1330 + timedelta(minutes=1)  # hello is due: the model starts where posts happen
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


class Row(NamedTuple):
    """A draft as the invariants read it."""

    id: int
    state: str
    tweet_id: str | None
    version: int


class ExactlyOnce(PostingModel):
    template = StoreTemplate("livetweet-model-", SCHEDULE, TEMPLATES)
    max_runs = 3

    def __init__(self) -> None:
        super().__init__(T_START)
        self.x = SimulatedX(on_post=self._at_post)
        self.publishers = self.x
        self.runs.append(self.new_run())

    # --- what is checked at the moment X is called --------------------------------------

    def _at_post(self, text: str) -> int:
        return self.claimed(text).id

    # --- operators ---------------------------------------------------------------------

    @rule(
        action=st.sampled_from(OPERATOR_ACTIONS),
        which=st.integers(0, 3),
        minutes=st.integers(-6, 6),
        from_q1=st.booleans(),
    )
    def operator(self, action: str, which: int | str, minutes: int, from_q1: bool) -> None:
        """A person acts, at any moment, possibly on a draft whose post is under way."""
        draft_id = self._target(which)
        acts = self.acts(draft_id) | {
            "post-now-held": lambda: self.service.post_now(draft_id, "erin", hold=timedelta(seconds=10)),
            "pause": lambda: self.service.pause("frank", "random"),
            "resume": lambda: self.service.resume("frank", verify=self.x.check),
            "shift": lambda: self.service.shift(timedelta(minutes=minutes), "gina", "q1" if from_q1 else None),
            "cue": lambda: self.service.cue("q1", "gina"),
        }
        self.act(acts, action)

    @precondition(lambda self: any(r.claims or r.calls for r in self.runs))
    @rule(action=st.sampled_from(["approve", "unapprove", "edit", "reject", "post-now", "cancel"]))
    def operator_on_a_post_in_flight(self, action: str) -> None:
        """The wave-1 hole, made likely: a person acts on a draft whose post is claimed or whose call is out."""
        self.operator(action, "in-flight", 0, False)

    # --- the posting runs, step by step (time passing, crashes and take-overs: PostingModel) ---

    @rule(n=st.integers(0, 2), outcomes=st.lists(st.sampled_from(OUTCOMES), max_size=3))
    def sweep(self, n: int, outcomes: list[str]) -> None:
        """A whole pass of the one-second sweep (claims, calls and records inside it)."""
        self.x.outcomes = list(outcomes)
        self._run(n).dispatcher.tick()
        self.x.outcomes = []

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
        self.step(n, step, i, lambda run: self._call(run, outcome), lambda run: self._record(run, then))

    post_step_again = post_step  # posting steps twice as often as the other rules

    @rule(fail=st.booleans())
    def lookups(self, fail: bool) -> None:
        self.x.lookups_fail = fail

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def exactly_once(self) -> None:
        """Invariants 1, 4 and 5 of the README (2 and 3 are checked at each POST, in `_at_post`)."""
        self.no_second_post_without_a_lookup()
        rows, moves = self.template.read("SELECT id, state, tweet_id, version FROM drafts")
        drafts = {r[0]: Row(*r) for r in rows}
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
        self.take_over()
        self.settled([(tweet.draft_id, tweet.tweet_id) for tweet in self.x.stored])
        self.no_second_post_without_a_lookup()


ExactlyOnce.TestCase.settings = model_settings(EXAMPLES)
test_exactly_once_under_interleavings = ExactlyOnce.TestCase
