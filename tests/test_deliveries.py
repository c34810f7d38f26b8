"""Deliveries (issue 15): one draft per slot and account, approved per account or for all at once,
each posted exactly once on its own network through the real tweepy, atproto and Mastodon.py
clients to the simulated X, Bluesky and Mastodon, threads kept per network, and a retry after a
lost answer making no second post (Bluesky's record key, Mastodon's Idempotency-Key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livetweet.draft import DraftState
from livetweet.plan.bluesky import is_tid
from livetweet.plan.check import check_schedule
from livetweet.service import TextRefused, compose_draft
from livetweet.service.readmodels import alarms

from .support.cli import cli
from .support.events import DEMO_ACCOUNTS, MINI_SCHEDULE
from .support.world import HELLO_AT, Q1_AT, NetworksWorld

S = DraftState
# hello on every account; q1 answers it (a thread on each network); thanks on Bluesky alone.
SCHEDULE = (
    MINI_SCHEDULE.replace("    template: question\n", "    template: question\n    reply_to: hello\n")
    + """  - id: thanks
    template: thanks
    at: q1.start + 10m
    accounts: [bsky]
"""
    + DEMO_ACCOUNTS
)


class Networks(NetworksWorld):
    """The world of the dispatch tests with Bluesky and Mastodon beside X (DEMO_ACCOUNTS), as a run wires them."""

    def __init__(self, tmp_path: Path, schedule: str = SCHEDULE, mode: str = "auto") -> None:
        super().__init__(tmp_path, schedule, mode)
        self.bsky = self.bluesky("bsky", "demo.bsky.social", hang_seconds=3)
        self.masto = self.mastodon("masto", hang_seconds=3)
        self.dispatcher = self.world.dispatcher  # the world's run, posting to every account
        self.db = f"sqlite:///{tmp_path / 'livetweet.db'}"

    def delivery(self, slot: str, account: str):  # type: ignore[no-untyped-def]
        return self.world.store.draft_by_slot(None, "demo", slot, account)


@pytest.fixture
def nets(tmp_path: Path) -> Iterator[Networks]:
    with Networks(tmp_path) as networks:
        yield networks


def test_a_slot_makes_one_draft_per_account_it_posts_to(nets: Networks) -> None:
    drafts = nets.world.store.drafts(event_id="demo")
    assert sorted((d.slot, d.account) for d in drafts) == [
        ("hello", "bsky"), ("hello", "masto"), ("hello", "x"),
        ("q1", "bsky"), ("q1", "masto"), ("q1", "x"),
        ("thanks", "bsky"),
    ]  # fmt: skip
    hello = {d.account: d for d in drafts if d.slot == "hello"}
    assert hello["bsky"].weighted_length == len(hello["bsky"].text)  # Bluesky counts graphemes
    assert {d.text for d in hello.values()} == {hello["x"].text}


def test_every_delivery_goes_out_once_on_its_own_network_with_its_thread(nets: Networks) -> None:
    nets.at(HELLO_AT).at(Q1_AT).at(Q1_AT + timedelta(minutes=8))
    assert {d.state for d in nets.world.store.drafts(event_id="demo")} == {S.POSTED}
    tweets = nets.world.x.posts()
    assert [t.text for t in tweets] == [nets.delivery("hello", "x").text, nets.delivery("q1", "x").text]
    assert tweets[1].in_reply_to == tweets[0].id
    records = nets.bsky.posts()
    assert len(records) == 3
    hello_uri = nets.delivery("hello", "bsky").tweet_id
    q1_record = next(r for r in records if r.uri == nets.delivery("q1", "bsky").tweet_id)
    assert q1_record.value["reply"]["parent"]["uri"] == hello_uri
    assert q1_record.value["reply"]["root"]["uri"] == hello_uri
    for slot in ("hello", "q1", "thanks"):  # each record's key is the TID chosen at its claim
        delivery = nets.delivery(slot, "bsky")
        assert is_tid(delivery.post_key) and delivery.tweet_id.endswith("/" + delivery.post_key)
    statuses = nets.masto.statuses()
    assert [s.id for s in statuses] == [nets.delivery("hello", "masto").tweet_id, nets.delivery("q1", "masto").tweet_id]
    assert statuses[1].in_reply_to_id == statuses[0].id
    assert [s.idempotency_key for s in statuses] == [nets.delivery(s, "masto").post_key for s in ("hello", "q1")]


def test_a_reply_waits_for_its_parent_on_the_same_network_only(nets: Networks) -> None:
    nets.bsky.fault("com.atproto.repo.createRecord", "503", times=1)
    nets.at(HELLO_AT)
    assert nets.delivery("hello", "x").state == S.POSTED
    assert nets.delivery("hello", "bsky").state == S.APPROVED  # to be tried again
    nets.world.clock.set(Q1_AT)
    claim = nets.dispatcher.claim(nets.delivery("q1", "x").id)
    assert claim is not None and claim.parent_tweet_id == nets.delivery("hello", "x").tweet_id
    nets.dispatcher.record(claim, nets.dispatcher.call(claim))  # type: ignore[arg-type]
    assert nets.delivery("q1", "x").state == S.POSTED


@pytest.mark.parametrize("network", ["bsky", "masto"])
def test_a_lost_answer_after_the_post_was_made_is_no_second_post(nets: Networks, network: str) -> None:
    if network == "bsky":
        nets.bsky.fault("com.atproto.repo.createRecord", "drop-after-store", times=1)
    else:
        nets.masto.fault("POST /api/v1/statuses", "drop-after-store", times=1)
    nets.at(HELLO_AT)
    for _ in range(5):
        nets.at(HELLO_AT + timedelta(seconds=30))
    hello = nets.delivery("hello", network)
    assert hello.state == S.POSTED
    made = nets.bsky.posts() if network == "bsky" else nets.masto.statuses()
    assert len(made) == 1
    key = made[0].uri.rsplit("/", 1)[1] if network == "bsky" else made[0].idempotency_key  # type: ignore[union-attr]
    assert key == hello.post_key  # one key, kept from the claim through the retry


@pytest.mark.parametrize("network", ["bsky", "masto"])
def test_a_retry_with_the_same_key_after_a_kill_makes_no_second_post(nets: Networks, network: str) -> None:
    """The run dies between the post and its record: the next run's retry carries the stored key."""
    nets.world.clock.set(HELLO_AT)
    hello = nets.delivery("hello", network)
    claim = nets.dispatcher.claim(hello.id)
    assert claim is not None and claim.draft.post_key
    outcome = nets.dispatcher.call(claim)  # posted; then the run is killed before it records it
    assert outcome is not None
    second = nets.world.crash()
    second.publishers = nets.publishers
    for _ in range(4):
        nets.at(HELLO_AT + timedelta(seconds=20), second)
    assert nets.delivery("hello", network).state == S.POSTED
    made = nets.bsky.posts() if network == "bsky" else nets.masto.statuses()
    assert len(made) == 1
    assert nets.delivery("hello", network).post_key == claim.draft.post_key


def test_approve_on_all_accounts_approves_each_delivery_and_says_which(tmp_path: Path) -> None:
    nets = Networks(tmp_path, mode="approval")
    try:
        hello_x = nets.delivery("hello", "x")
        done = cli("--db", nets.db, "approve", str(hello_x.id), "--all-accounts", "--as", "ana")
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("Approved draft") == 3 and "hello on bsky" in done.stdout
        for account in ("x", "bsky", "masto"):
            delivery = nets.delivery("hello", account)
            assert delivery.state == S.APPROVED and delivery.approved_by == "ana"
            entry = nets.world.store.audit(delivery.id)[-1]
            assert entry.action == "approve"
            assert entry.detail == {"all_accounts": ["x", "bsky", "masto"], "through": hello_x.id}
        assert nets.delivery("q1", "bsky").state == S.PENDING  # another slot: untouched
        alone = cli("--db", nets.db, "approve", str(nets.delivery("q1", "masto").id), "--as", "ana")
        assert alone.returncode == 0 and alone.stdout.count("Approved draft") == 1
        assert nets.delivery("q1", "x").state == S.PENDING
        listed = json.loads(cli("--db", nets.db, "queue", "--json").stdout)
        assert {(d["slot"], d["account"]) for d in listed} >= {("hello", "bsky"), ("thanks", "bsky")}
    finally:
        nets.close()


def test_a_reload_that_drops_an_account_from_a_slot_withdraws_that_delivery_alone(tmp_path: Path) -> None:
    nets = Networks(tmp_path, mode="approval")
    try:
        schedule = Path(nets.world.store.event("demo").schedule_path)  # type: ignore[union-attr]
        text = schedule.read_text().replace(
            "    at: opening.start + 1m\n", "    at: opening.start + 1m\n    accounts: [x]\n"
        )
        schedule.write_text(text)
        report = nets.world.service.load(schedule)
        assert [(d.slot, d.account) for d in report.withdrawn] == [("hello", "bsky"), ("hello", "masto")]
        entry = nets.world.store.audit(nets.delivery("hello", "bsky").id)[-1]
        assert entry.reason == 'its slot no longer posts to account "bsky"'
        assert nets.delivery("hello", "x").state == S.PENDING
    finally:
        nets.close()


def test_a_reply_x_refuses_under_its_reply_rule_fails_with_why_and_goes_out_standalone(nets: Networks) -> None:
    nets.world.x.state.reply_restriction = "all"
    nets.at(HELLO_AT).at(Q1_AT)
    refused = nets.delivery("q1", "x")
    assert refused.state == S.FAILED
    assert "X refuses this reply" in (refused.last_error or "") and "standalone" in (refused.last_error or "")
    assert nets.delivery("q1", "bsky").state == S.POSTED and nets.delivery("q1", "masto").state == S.POSTED
    nets.world.service.standalone(refused.id, "ana")  # the CLI's clock is the machine's: the world's here
    nets.at(Q1_AT + timedelta(seconds=5))
    sent = nets.delivery("q1", "x")
    assert sent.state == S.POSTED and sent.reply_to is None
    tweet = next(t for t in nets.world.x.posts() if t.id == sent.tweet_id)
    assert tweet.in_reply_to is None
    assert [e.action for e in nets.world.store.audit(sent.id)][-3:] == ["standalone", "claim", "posted"]
    again = cli("--db", nets.db, "standalone", str(nets.delivery("hello", "x").id))
    assert again.returncode == 1 and "not a reply" in again.stderr


def test_a_network_may_have_its_own_template_or_read_the_network_variable(tmp_path: Path) -> None:
    nets = Networks(tmp_path, mode="approval")
    try:
        schedule = Path(nets.world.store.event("demo").schedule_path)  # type: ignore[union-attr]
        templates = schedule.parent.parent / "templates"
        (templates / "hello.bluesky.j2").write_text("Hello Bluesky, this is {{ event.title }}!\n")
        (templates / "question.j2").write_text("{% if network == 'mastodon' %}Toot: {% endif %}{{ segment.title }}.\n")
        report = check_schedule(schedule)
        assert report.ok, report.problems
        nets.world.service.load(schedule)
        texts = {(d.slot, d.account): d.text for d in nets.world.store.drafts(event_id="demo")}
        assert texts["hello", "bsky"].startswith("Hello Bluesky, this is Demo event!")
        assert (
            texts["hello", "x"].startswith("Welcome to Demo event!") and texts["hello", "masto"] == texts["hello", "x"]
        )
        assert texts["q1", "masto"].startswith("Toot: Question 1.") and texts["q1", "x"].startswith("Question 1.")
        shown = json.loads(cli("preview", str(schedule), "--json").stdout)
        hello = next(p for p in shown if p["slot"] == "hello")
        assert [d.get("text", "").split("\n")[0] for d in hello["deliveries"]] == [
            "", "Hello Bluesky, this is Demo event!", ""
        ]  # fmt: skip
    finally:
        nets.close()


def test_the_same_words_on_two_accounts_are_two_deliveries_not_a_duplicate(tmp_path: Path) -> None:
    """X refuses a duplicate on one account; the same post on X and Bluesky is what deliveries are."""
    nets = Networks(tmp_path, mode="approval")
    try:
        service = nets.world.service
        hello_x, hello_bsky = nets.delivery("hello", "x"), nets.delivery("hello", "bsky")
        service.reject(hello_x.id, "ana")
        assert service.restore(hello_x.id, "ana").state == S.PENDING  # its twins are on other accounts
        q1_masto = nets.delivery("q1", "masto")
        edited, _ = service.edit(q1_masto.id, hello_bsky.text, "ana")  # the words of another account's post
        assert edited.text.startswith(hello_bsky.text)  # (with q1's own hashtags added)
        q1_x = nets.delivery("q1", "x")
        with pytest.raises(TextRefused, match=f"draft {q1_x.id} .*already has this text"):
            service.edit(hello_x.id, q1_x.text, "ana")  # the same account: refused
    finally:
        nets.close()


def test_a_typed_line_goes_to_the_x_account_and_a_typed_reply_to_its_parents(nets: Networks) -> None:
    nets.at(HELLO_AT)
    hello_bsky = nets.delivery("hello", "bsky")
    assert hello_bsky.state == S.POSTED
    line, _ = compose_draft(nets.world.service, "The panel is starting now", "ana")
    reply, _ = compose_draft(nets.world.service, "Follow the thread here", "ana", reply_to=hello_bsky.id)
    assert (line.account, reply.account) == ("x", "bsky")
    nets.at(HELLO_AT + timedelta(seconds=5))
    assert nets.world.store.get(line.id).state == S.POSTED and nets.world.store.get(reply.id).state == S.POSTED
    record = next(r for r in nets.bsky.posts() if r.uri == nets.world.store.get(reply.id).tweet_id)
    assert record.value["reply"]["parent"]["uri"] == hello_bsky.tweet_id
    assert any(t.text.startswith("The panel is starting now") for t in nets.world.x.posts())


def test_a_slot_waiting_on_three_accounts_is_one_alarm_naming_them(tmp_path: Path) -> None:
    nets = Networks(tmp_path, mode="approval")
    try:
        found = alarms(nets.world.service, "demo", HELLO_AT - timedelta(minutes=1))
        assert [a.text for a in found if a.kind == "due"] == ["hello is due and not approved on x, bsky, masto"]
        nets.world.service.approve(nets.delivery("hello", "x").id, "ana")
        found = alarms(nets.world.service, "demo", HELLO_AT - timedelta(minutes=1))
        assert [a.text for a in found if a.kind == "due"] == ["hello is due and not approved on bsky, masto"]
    finally:
        nets.close()


def test_a_delivery_to_an_account_the_run_has_no_connection_to_fails_and_goes_nowhere_else(nets: Networks) -> None:
    """A reload may add an account while a run posts: its deliveries must not fall back on X's publisher."""
    nets.dispatcher.publishers = {k: v for k, v in nets.publishers.items() if k != "masto"}
    nets.at(HELLO_AT)
    refused = nets.delivery("hello", "masto")
    assert refused.state == S.FAILED and 'no connection to account "masto"' in (refused.last_error or "")
    assert [t.text for t in nets.world.x.posts()] == [nets.delivery("hello", "x").text]  # once, on X
    assert nets.masto.statuses() == [] and nets.delivery("hello", "bsky").state == S.POSTED
