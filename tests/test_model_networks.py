"""Exactly once on X, Bluesky and Mastodon as a model: operators, posting runs and three networks interleaved.

One real store (a SQLite file), the real service, ledger and dispatcher posting each delivery through
its account's publisher; the networks are simulated in memory (tests/support/simnet.py), each
answering as drawn and honouring keys as the real one does. Each post is taken apart into its steps
(claim, call, record) so that operators, the sweep, crashes and a second run taking the lease act
between any two of them. After every step, on each network:

- no delivery is stored twice;
- every delivery that reached it is in posting (being settled) or posted with that post's id, and
  nothing is recorded posted that did not reach it;
- nothing is posted whose current revision is not the approved one (checked at each post);
- Bluesky: a delivery's record key never changes from its first claim on, and is the key it is
  posted with; Mastodon: its Idempotency-Key is the one derived from its revision; X: no key;
- a reply is posted only once its parent is posted on the same network, as a reply to that post;
- each draft's audit rows that record a move equal its version.

At the end every run stops, a last run takes over and settles what is left: then every delivery
that reached its network is posted with its id. What the two model tests share is in
tests/support/model.py.
"""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import NamedTuple

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from livetweet.draft import DraftState
from livetweet.plan.bluesky import is_tid

from .support.events import DEMO_ACCOUNTS, MINI_SCHEDULE
from .support.model import PostingModel, PostingRun, StoreTemplate, model_settings
from .support.simnet import OUTCOMES, SimBluesky, SimMastodon, SimulatedNetwork, SimX
from .support.world import T_1330

S = DraftState
EVENT = "demo"
T_START = T_1330 + timedelta(minutes=2)  # every slot is due: the model starts where posts happen
NETWORK_OF = {"x": "x", "bsky": "bluesky", "masto": "mastodon"}  # account id -> network
# hello on every account; q1 answers it on each (a thread per network); q1b on Bluesky and Mastodon alone.
SCHEDULE = (
    MINI_SCHEDULE.replace("    template: question\n    at: q1.start + 2m\n", "")
    + "    template: question\n    at: opening.start + 90s\n    reply_to: hello\n"
    + "  - id: q1b\n    template: question\n    at: opening.start + 2m\n    vars: {n: 2}\n    accounts: [bsky, masto]\n"
    + DEMO_ACCOUNTS
)
TEMPLATES = {
    "hello.j2": "Welcome to {{ event.title }}!",
    "question.j2": "Now: {{ segment.title }} {{ slot.vars.n | default(1) }}.",
}
OPERATOR_ACTIONS = ["approve", "approve-all-accounts", "unapprove", "edit", "reject", "post-now", "cancel", "unreject"]
OPERATOR_ACTIONS += ["resume"]  # after a network refused our credentials (a 401 pauses posting)
N_DRAFTS = 8  # hello and q1 on three accounts, q1b on two
EXAMPLES = int(os.environ.get("LIVETWEET_MODEL_EXAMPLES", "200"))
DRAWN = st.fixed_dictionaries({n: st.lists(st.sampled_from(OUTCOMES[n]), max_size=2) for n in OUTCOMES})


def mastodon_key(event_id: str, slot: str, revision: int, account: str, draft_id: int) -> str:
    """The Idempotency-Key a Mastodon delivery must be posted with: one per revision (README's exactly-once)."""
    seed = "\x1f".join((event_id, slot, str(revision), account, str(draft_id)))
    return "livetweet-" + hashlib.sha256(seed.encode()).hexdigest()[:40]


class Row(NamedTuple):
    """A delivery as the invariants read it."""

    id: int
    slot: str
    account: str
    state: str
    tweet_id: str | None
    version: int
    revision: int
    post_key: str | None
    reply_to: str | None
    attempts: int


class ExactlyOnceEverywhere(PostingModel):
    template = StoreTemplate("livetweet-model-networks-", SCHEDULE, TEMPLATES, drafts=N_DRAFTS)
    max_runs = 2

    def __init__(self) -> None:
        super().__init__(T_START)
        self.nets: dict[str, SimulatedNetwork] = {
            "x": SimX(self.clock, lambda text, parent, key: self._at_post("x", text, parent, key)),
            "bsky": SimBluesky(self.clock, lambda text, parent, key: self._at_post("bsky", text, parent, key)),
            "masto": SimMastodon(self.clock, lambda text, parent, key: self._at_post("masto", text, parent, key)),
        }
        self.publishers = self.nets
        self.runs.append(self.new_run())
        self.first_keys: dict[int, str] = {}  # a Bluesky delivery's record key, as first seen

    # --- what is checked at the moment a network is called -------------------------------

    def _at_post(self, account: str, text: str, parent: str | None, key: str | None) -> int:
        draft = self.claimed(text, account)
        assert key == draft.post_key, f"delivery {draft.id} posted with key {key!r}, its key is {draft.post_key!r}"
        network = NETWORK_OF[account]
        if network == "bluesky":
            assert key is not None and is_tid(key), f"delivery {draft.id} posted to Bluesky with key {key!r}"
            assert self.first_keys.setdefault(draft.id, key) == key, (draft.id, self.first_keys[draft.id], key)
        elif network == "mastodon":
            assert key == mastodon_key(draft.event_id, draft.slot, draft.revision, account, draft.id), (draft, key)
        else:
            assert key is None, (draft, key)
        if draft.reply_to is None:
            assert parent is None, (draft, parent)
        else:
            above = self.store.draft_by_slot(None, draft.event_id, draft.reply_to, account)
            assert above is not None and above.state == S.POSTED, f"reply {draft.id} posted before its parent: {above}"
            assert parent == above.tweet_id, f"reply {draft.id} answers {parent!r}, its parent is {above.tweet_id!r}"
            assert any(s.post_id == parent for s in self.nets[account].stored), f"{parent!r} is not on {account}"
        return draft.id

    # --- operators ---------------------------------------------------------------------

    @rule(action=st.sampled_from(OPERATOR_ACTIONS), which=st.integers(0, N_DRAFTS - 1))
    def operator(self, action: str, which: int | str) -> None:
        """A person acts, at any moment, possibly on a delivery whose post is under way."""
        draft_id = self._target(which)
        acts = self.acts(draft_id) | {
            "approve-all-accounts": lambda: self.service.approve_all([(draft_id, None)], "alice", all_accounts=True),
            "resume": lambda: self.service.resume("frank", verify=self.nets["x"].check),
        }
        self.act(acts, action)

    @precondition(lambda self: any(r.claims or r.calls for r in self.runs))
    @rule(action=st.sampled_from(["approve-all-accounts", "unapprove", "edit", "reject", "post-now"]))
    def operator_on_a_post_in_flight(self, action: str) -> None:
        """A person acts on a delivery whose post is claimed or whose call is out."""
        self.operator(action, "in-flight")

    # --- time (its passing by seconds: PostingModel) -------------------------------------

    @precondition(lambda self: self._posting())
    @rule()
    def an_hour_passes(self) -> None:
        """Past Mastodon's hour for an Idempotency-Key while a delivery is being settled: its look-up must do."""
        self.clock.advance(timedelta(minutes=61))

    def _posting(self) -> bool:
        assert self.template.reader is not None
        found = self.template.reader.execute("SELECT 1 FROM drafts WHERE state = 'posting' LIMIT 1").fetchone()
        return found is not None

    # --- the posting runs, step by step (crashes and take-overs: PostingModel) --------------

    def _answers(self, drawn: dict[str, list[str]]) -> None:
        for net in self.nets.values():
            net.outcomes = list(drawn[net.network])

    def _quiet(self) -> None:
        for net in self.nets.values():
            net.outcomes = []

    @rule(n=st.integers(0, 1), drawn=DRAWN)
    def sweep(self, n: int, drawn: dict[str, list[str]]) -> None:
        """A whole pass of the one-second sweep (claims, calls and records inside it)."""
        self._answers(drawn)
        self._run(n).dispatcher.tick()
        self._quiet()

    def _call(self, run: PostingRun, data: st.DataObject) -> None:
        """Step 2: the run calls the claim's network, which answers as drawn (the answer waits for step 3)."""
        claim = run.claims.pop(0)
        net = self.nets[claim.draft.account]
        net.outcomes = [data.draw(st.sampled_from(OUTCOMES[net.network]), label=f"{net.network} answers")]
        answer = run.dispatcher.call(claim)
        self._quiet()
        if answer is not None:
            run.calls.append((claim, answer))

    def _record(self, run: PostingRun, then: dict[str, list[str]]) -> None:
        """Step 3: the run records the answer (which may look the post up and post again)."""
        claim, answer = run.calls.pop(0)
        self._answers(then)
        run.dispatcher.record(claim, answer)
        self._quiet()

    @rule(
        n=st.integers(0, 1),
        step=st.sampled_from(["next", "claim", "call", "record"]),
        i=st.integers(0, N_DRAFTS - 1),
        then=DRAWN,
        data=st.data(),
    )
    def post_step(self, n: int, step: str, i: int, then: dict[str, list[str]], data: st.DataObject) -> None:
        """One step of one run's posts: claim a delivery, call its network for a claim, or record an answer."""
        self.step(n, step, i, lambda run: self._call(run, data), lambda run: self._record(run, then))

    post_step_again = post_step  # posting steps three times as often as the other rules
    post_step_once_more = post_step

    @rule(account=st.sampled_from(sorted(NETWORK_OF)), fail=st.booleans())
    def lookups(self, account: str, fail: bool) -> None:
        self.nets[account].lookups_fail = fail

    # --- invariants ------------------------------------------------------------------------

    def _read(self) -> tuple[dict[int, Row], dict[int, int]]:
        rows, moves = self.template.read(
            "SELECT id, slot, account, state, tweet_id, version, revision, post_key, reply_to, attempts FROM drafts"
        )
        return {r[0]: Row(*r) for r in rows}, moves

    @invariant()
    def exactly_once_on_each_network(self) -> None:
        drafts, moves = self._read()
        by_slot = {(d.slot, d.account): d for d in drafts.values()}
        for account, net in self.nets.items():
            stored = [s.draft_id for s in net.stored]
            # No delivery is stored twice on its network.
            assert len(stored) == len(set(stored)), f"{account} holds a delivery twice: {net.stored}"
            ids = {s.post_id for s in net.stored}
            for post in net.stored:
                draft = drafts[post.draft_id]
                assert draft.account == account, (post, draft)
                # Every delivery that reached its network is being settled or posted with that post's id.
                assert draft.state in (S.POSTING.value, S.POSTED.value), (account, post, draft)
                if draft.state == S.POSTED.value:
                    assert draft.tweet_id == post.post_id, (account, post, draft)
                # A reply answers its parent's post on the same network, stored before it.
                if draft.reply_to is not None:
                    parent = by_slot[(draft.reply_to, account)]
                    above = [s for s in net.stored[: net.stored.index(post)] if s.draft_id == parent.id]
                    assert above and post.in_reply_to == above[0].post_id, (account, post, net.stored)
            # Nothing is recorded posted that did not reach its network.
            for draft in drafts.values():
                if draft.account == account and draft.state == S.POSTED.value:
                    assert draft.tweet_id in ids, (account, draft, net.stored)
        for draft in drafts.values():
            network = NETWORK_OF[draft.account]
            if network == "bluesky" and draft.attempts:
                # The record key is chosen at the first claim and never changes.
                assert draft.post_key is not None and is_tid(draft.post_key), draft
                assert self.first_keys.setdefault(draft.id, draft.post_key) == draft.post_key, (
                    draft,
                    self.first_keys[draft.id],
                )
            elif network == "mastodon" and draft.state in (S.POSTING.value, S.POSTED.value):
                derived = mastodon_key(EVENT, draft.slot, draft.revision, draft.account, draft.id)
                assert draft.post_key == derived, draft
            elif network == "x":
                assert draft.post_key is None, draft
        # Each draft's audit rows that record a move equal its version.
        assert moves == {draft_id: d.version for draft_id, d in drafts.items()}

    def teardown(self) -> None:
        # Everyone stops; a last run takes over with every network answering, and settles what is left.
        self.runs.clear()
        for net in self.nets.values():
            net.lookups_fail = False
        self.take_over()
        for account, net in self.nets.items():
            self.settled([(post.draft_id, post.post_id) for post in net.stored], account)
        self.exactly_once_on_each_network()


ExactlyOnceEverywhere.TestCase.settings = model_settings(EXAMPLES)
test_exactly_once_on_every_network = ExactlyOnceEverywhere.TestCase
