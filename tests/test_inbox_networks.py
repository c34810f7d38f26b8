"""Every account's inbox in one (issue 15): X's direct messages, Bluesky's chat and Mastodon's direct
messages, fetched by the real tweepy, atproto and Mastodon.py clients from the simulated servers,
kept once per account with the network they came by, listed by `livetweet inbox`, reshared to any
of the event's accounts (a delivery each, held to its network's length) and posted exactly once on
each; the photos livetweet could not fetch kept in the store's inbox_media table."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from livetweet.console import ConsoleAuth, ConsoleContext, create_app
from livetweet.console.server import ConsoleServer, allowed_hosts
from livetweet.draft import DraftState
from livetweet.fakes import FakeXServer, add_dm
from livetweet.fakes.x import DM_MEDIA_ROUTE
from livetweet.inbox import InboxError, IncomingMessage, Poller, Pollers, UnfetchedMedia
from livetweet.plan.mastodon import length as mastodon_length
from livetweet.publishers.bluesky import BlueskyPublisher
from livetweet.service import InboxService, Service
from livetweet.store import Store

from .support.cli import Result, cli
from .support.console import PASSWORD, free_port
from .support.events import DEMO_ACCOUNTS, MINI_SCHEDULE, write_event
from .support.photos import jpeg, png
from .support.waiting import wait_for
from .support.world import T_1330, X_TEST_CREDENTIALS, NetworksWorld

S = DraftState
SCHEDULE = MINI_SCHEDULE + DEMO_ACCOUNTS
LOG = "chat.bsky.convo.getLog"
NOTIFICATIONS = "GET /api/v1/notifications"
SCHEMA_5_DUMP = Path(__file__).parent / "data" / "store-schema5.sql"


class Inboxes(NetworksWorld):
    """The dispatch tests' world with the simulated Bluesky and Mastodon beside X (DEMO_ACCOUNTS), a
    publisher per account, as a run wires them, and the inbox of all three."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, SCHEDULE, mode="approval")
        self.tmp_path = tmp_path
        self.world.x.state.rate_limits.pop("GET /2/dm_events", None)
        self.bsky = self.bluesky("bsky", "demo.bsky.social")
        self.masto = self.mastodon("masto")
        self.inbox = InboxService(self.world.service)

    def poll(self, account: str) -> int:
        """One poll of the account's inbox; how many messages it kept."""
        result = self.inbox.poll(self.publishers[account], account)
        assert result.error is None, result.error
        return result.stored

    def pollers(self) -> Pollers:
        """The run's pollers: one per account, each on its own minute and its own network's rate limit."""
        shown = {"x": "@demo on X", "bsky": "demo.bsky.social on Bluesky", "masto": "@demo@mastodon.social on Mastodon"}
        return Pollers(
            [
                Poller(functools.partial(self.inbox.poll, publisher, account), self.world.clock, label=shown[account])
                for account, publisher in self.publishers.items()
            ]
        )

    def livetweet(self, *args: str) -> Result:
        return cli("--db", f"sqlite:///{self.tmp_path / 'livetweet.db'}", *args)

    def messages(self) -> list[tuple[str, str, str]]:
        return [(m.account, m.sender, m.text) for m in self.inbox.messages(include_all=True)]


@pytest.fixture
def nets(tmp_path: Path) -> Iterator[Inboxes]:
    with Inboxes(tmp_path) as inboxes:
        yield inboxes


def send_everywhere(nets: Inboxes) -> None:
    add_dm(nets.world.x.state, "speaker_one", "Thank you for having me")
    nets.bsky.add_chat("participant.bsky.social", "A question for the panel 🇫🇷")
    nets.masto.add_direct_message("alice@example.org", "Photo from room B")


# --- every network's messages in one inbox ----------------------------------------------------------


def test_a_bluesky_chat_and_a_mastodon_direct_message_land_in_the_inbox_with_their_network(nets: Inboxes) -> None:
    send_everywhere(nets)
    assert [nets.poll(account) for account in ("x", "bsky", "masto")] == [1, 1, 1]
    assert nets.messages() == [
        ("x", "speaker_one", "Thank you for having me"),
        ("bsky", "participant.bsky.social", "A question for the panel 🇫🇷"),
        ("masto", "alice@example.org", "Photo from room B"),
    ]
    assert [nets.inbox.where(m) for m in nets.inbox.messages()] == ["X", "Bluesky", "Mastodon"]
    listed = nets.livetweet("inbox")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[lines.index(next(line for line in lines if line.startswith("   1  "))) :][:6] == [
        "   1  13:30 CET  X        @speaker_one      new      ",
        "      Thank you for having me",
        "   2  13:30 CET  Bluesky  @participant.bsky.social new      ",
        "      A question for the panel 🇫🇷",
        "   3  13:30 CET  Mastodon @alice@example.org new      ",
        "      Photo from room B",
    ]
    assert "--to ACCOUNT" in listed.stdout.splitlines()[-1]
    shown = json.loads(nets.livetweet("inbox", "--json").stdout)
    assert [(m["account"], m["network"], m["sender"]) for m in shown] == [
        ("x", "x", "speaker_one"),
        ("bsky", "bluesky", "participant.bsky.social"),
        ("masto", "mastodon", "alice@example.org"),
    ]


def test_the_same_message_polled_twice_is_kept_once_even_by_a_new_run(nets: Inboxes) -> None:
    send_everywhere(nets)
    for account in ("x", "bsky", "masto"):
        assert (nets.poll(account), nets.poll(account)) == (1, 0), account
    bsky = nets.publishers["bsky"]
    assert isinstance(bsky, BlueskyPublisher)
    assert nets.world.store.inbox_cursor("bsky") == bsky.chat_cursor  # kept with what it read
    # A new run: its publishers have no cursor of their own, the store's is where they go on from.
    for publisher in [nets.publishers.pop("bsky"), nets.publishers.pop("masto")]:
        publisher.close()
    nets.publishers.update(nets.fresh_publishers())
    nets.bsky.add_chat("participant.bsky.social", "A follow-up")
    nets.masto.add_direct_message("bob", "late one")
    assert (nets.poll("bsky"), nets.poll("masto"), nets.poll("x")) == (1, 1, 0)
    # Read from the start again (a store copied without its cursors): nothing is kept twice.
    history, _ = nets.fresh_publishers()["bsky"].fetch_direct_messages(None)
    assert len(history) == 2 and nets.inbox.keep(history, account="bsky") == 0
    assert len(nets.messages()) == 5


def test_ids_that_two_networks_share_are_two_messages(db_url: str) -> None:
    store = Store(db_url)
    try:
        inbox = InboxService(Service(store))
        when = datetime(2020, 11, 12, 12, 40, tzinfo=UTC)
        same = [IncomingMessage("1001", "on X", "42", "speaker_one", when, "c1")]
        assert inbox.keep(same, account="x") == 1
        assert inbox.keep([IncomingMessage("1001", "on Mastodon", "7", "alice", when, "m")], account="masto") == 1
        assert inbox.keep(same, account="x") == 0
        assert sorted((m.account, m.dm_id, m.text) for m in inbox.messages()) == [
            ("masto", "1001", "on Mastodon"),
            ("x", "1001", "on X"),
        ]
        inbox.keep([IncomingMessage(i, "n", "42", "speaker_one", when, "c1") for i in ("999", "10000")], account="x")
        assert store.newest_dm_id("x") == "10000"  # the greatest number, as text: never cast
        tids = ["3lbrwkxxq2c2a", "3lbrwkxxq2c2b"]
        inbox.keep([IncomingMessage(t, "chat", "did:plc:p", "p.bsky.social", when, "v") for t in tids], account="bsky")
        assert (store.newest_dm_id("bsky"), store.newest_dm_id("masto")) == (tids[1], "1001")
    finally:
        store.close()


def test_a_poll_failing_on_one_network_leaves_the_others_messages_coming(nets: Inboxes) -> None:
    send_everywhere(nets)
    nets.bsky.fault(LOG, "503")  # the first chat poll reads the conversations, then fails on the log
    nets.masto.fault(NOTIFICATIONS, "429", reset_seconds=120)
    pollers = nets.pollers()
    first = pollers.maybe_poll()
    assert first is not None and first.stored == 1  # X's came
    assert first.error is not None
    assert "demo.bsky.social on Bluesky: fetching Bluesky chat messages failed" in first.error
    assert "@demo@mastodon.social on Mastodon: Mastodon's rate limit for notifications was reached" in first.error
    assert nets.messages() == [("x", "speaker_one", "Thank you for having me")]
    assert pollers.maybe_poll() is None  # nobody's minute has come
    asked = len([r for r in nets.masto.requests() if r[0] == NOTIFICATIONS])
    nets.world.clock.advance(timedelta(minutes=1))
    again = pollers.maybe_poll()
    assert again is not None and (again.stored, again.error) == (1, None)  # Bluesky's came; Mastodon waits
    assert len([r for r in nets.masto.requests() if r[0] == NOTIFICATIONS]) == asked  # not asked before its reset
    nets.world.clock.advance(timedelta(minutes=2))  # past Mastodon's reset (two minutes after the 429)
    last = pollers.maybe_poll()
    assert last is not None and last.stored == 1
    assert [account for account, _, _ in nets.messages()] == ["x", "bsky", "masto"]


def test_a_rehearsal_polls_the_inbox_of_every_account_it_posts_to(tmp_path: Path) -> None:
    """`run --rehearse` starts the simulated Bluesky and Mastodon for the schedule's accounts and reads
    each one's inbox as X's, a message sent to each reaching the one inbox with its network."""
    x = FakeXServer(username="demo").start()
    x.state.rate_limits.pop("GET /2/dm_events", None)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    schedule = write_event(tmp_path, SCHEDULE)
    env = {**os.environ, **X_TEST_CREDENTIALS, "LIVETWEET_X_API_URL": x.url, "NO_COLOR": "1"}
    command = [sys.executable, "-m", "livetweet", "--db", db, "run", str(schedule), "--rehearse", "--no-console",
               "--speed", "60", "--start-in", "1"]  # fmt: skip
    run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(run.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def simulated(network: str) -> str | None:
        found = [re.search(rf"Simulated {network} at (http://[^ ]+) ", line) for line in list(said)]
        return next((m.group(1) for m in found if m), None)

    def networks() -> list[str]:
        listed = cli("--db", db, "inbox", "--json")
        return sorted(str(m["network"]) for m in json.loads(listed.stdout)) if listed.stdout.startswith("[") else []

    try:
        wait_for(lambda: bool(simulated("Bluesky") and simulated("Mastodon")), "the simulated Bluesky and Mastodon")
        sent = requests.post(
            f"{simulated('Bluesky')}/fake/chat", json={"from": "p.bsky.social", "text": "Hi"}, timeout=10
        )
        assert sent.status_code == 201, sent.text
        dm = requests.post(
            f"{simulated('Mastodon')}/fake/dm", json={"from": "alice@example.org", "text": "Hi"}, timeout=10
        )
        assert dm.status_code == 201, dm.text
        add_dm(x.state, "speaker_one", "Hi")
        wait_for(lambda: networks() == ["bluesky", "mastodon", "x"], "a message from each network in the inbox")
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        reader.join(timeout=10)
        x.stop()
    assert not [line for line in said if "Traceback" in line], "".join(said)


# --- reshares to any account ------------------------------------------------------------------------


def test_a_reshare_to_bluesky_and_x_makes_two_deliveries_that_post_once_each(nets: Inboxes) -> None:
    nets.bsky.add_chat("participant.bsky.social", "Regular pathways save lives")
    nets.poll("bsky")
    [message] = nets.inbox.messages()
    made = nets.livetweet("reshare", str(message.id), "--to", "bsky", "--to", "x", "--at", "13:32", "--as", "alice")
    assert made.returncode == 0, made.stderr
    lines = [line for line in made.stdout.splitlines() if line.startswith("Draft ")]
    assert [line.split(" made from ")[0].split(" ", 2)[2] for line in lines] == [
        "for demo.bsky.social on Bluesky",
        "for @demo on X",
    ]
    assert "/300, segment opening, due 13:32 CET" in lines[0] and "/280, segment opening" in lines[1]
    deliveries = [d for d in nets.world.store.drafts(event_id="demo") if d.source == "dm"]
    assert sorted((d.slot, d.account) for d in deliveries) == [(f"dm-{message.id}", "bsky"), (f"dm-{message.id}", "x")]
    for d in deliveries:
        nets.world.service.approve(d.id, "alice")
    nets.world.at(T_1330 + timedelta(minutes=2))
    assert {nets.world.store.get(d.id).state for d in deliveries} == {S.POSTED}, nets.world.notices
    text = "Regular pathways save lives\n\n(via @participant.bsky.social)\n\n#GCM"
    assert [r.value["text"] for r in nets.bsky.posts()] == [text]
    assert [t.text for t in nets.world.x.posts()] == [text]
    # The run dies and another takes over: nothing goes out a second time.
    again = nets.world.crash()
    again.publishers = nets.publishers
    nets.world.clock.advance(timedelta(minutes=1))
    again.tick()
    assert (len(nets.bsky.posts()), len(nets.world.x.posts())) == (1, 1)
    assert nets.inbox.get(message.id).state == "reshared"


def test_a_reshare_goes_to_the_account_the_message_came_to_by_default(nets: Inboxes) -> None:
    nets.masto.add_direct_message("alice@example.org", "Photo from room B")
    nets.poll("masto")
    [message] = nets.inbox.messages()
    [draft] = nets.inbox.reshare(message.id, "alice")
    assert (draft.account, draft.weighted_length) == ("masto", mastodon_length(draft.text))  # @user@domain as @user
    assert "(via @alice@example.org)" in draft.text
    history = nets.world.service.history(draft.id)[0]
    assert (history.action, history.detail["from_account"], history.detail["to"]) == ("reshare", "masto", ["masto"])


def test_a_reshare_is_held_to_each_networks_own_length(nets: Inboxes) -> None:
    words = "移民は解決策の一部です" * 14  # 154 characters, 308 weighted on X, 154 graphemes on Bluesky
    nets.bsky.add_chat("participant.bsky.social", words)
    nets.poll("bsky")
    [message] = nets.inbox.messages()
    with pytest.raises(InboxError, match=r"would be \d+/280 weighted characters, \d+ characters too long"):
        nets.inbox.reshare(message.id, "alice", to=["bsky", "x"])
    assert [d for d in nets.world.store.drafts() if d.source == "dm"] == []  # nothing, on neither
    with pytest.raises(InboxError, match='event "demo" has no account "threads"'):
        nets.inbox.reshare(message.id, "alice", to=["threads"])
    drafts = nets.inbox.reshare(message.id, "alice", to=["bsky", "masto"])  # 308 weighted, but not on X
    text = drafts[0].text
    assert text.startswith(words) and drafts[1].text == text
    assert [(d.account, d.weighted_length) for d in drafts] == [("bsky", len(text)), ("masto", len(text))]
    nets.bsky.add_chat("participant.bsky.social", "é" * 301)  # too long for Bluesky too
    nets.poll("bsky")
    [longer] = nets.inbox.messages()
    with pytest.raises(
        InboxError, match=r"to demo\.bsky\.social on Bluesky: the post is 3\d\d characters long; Bluesky "
    ):
        nets.inbox.reshare(longer.id, "alice")


def test_the_consoles_reshare_form_offers_each_account_and_makes_a_delivery_for_each_ticked(nets: Inboxes) -> None:
    nets.bsky.add_chat("participant.bsky.social", "Skills partnerships work")
    nets.poll("bsky")
    [message] = nets.inbox.messages()
    auth = ConsoleAuth(password=PASSWORD)
    port = free_port()
    context = ConsoleContext(
        nets.world.service, "demo", "approval", auth, allowed_hosts=allowed_hosts("127.0.0.1", port)
    )
    server = ConsoleServer(create_app(context), "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        sid = auth.login("203.0.113.9", "alice")
        session.cookies.set("livetweet_session", sid)
        page = session.get(url + "/inbox", timeout=10).text
        card = page[page.index(f'id="dm-{message.id}"') :]
        assert "to Bluesky demo.bsky.social" in card
        ticks = re.findall(r'<input type="checkbox" name="to" value="(\w+)"( checked)?>', card)
        assert ticks == [("x", ""), ("bsky", " checked"), ("masto", "")]  # where it came, ticked
        form = {"csrf": auth.session(sid).csrf, "choose": "1"}  # type: ignore[union-attr]
        post = {"headers": {"Origin": url}, "allow_redirects": False, "timeout": 10}
        refused = session.post(url + f"/inbox/{message.id}/reshare", data=form, **post)  # type: ignore[arg-type]
        assert refused.status_code == 303 and "tick%20the%20accounts" in refused.headers["location"]
        assert nets.inbox.get(message.id).state == "new"  # none ticked: nothing made
        made = session.post(url + f"/inbox/{message.id}/reshare", data={**form, "to": ["bsky", "masto"]}, **post)  # type: ignore[arg-type]
        assert made.status_code == 303
    finally:
        server.stop()
    deliveries = [d for d in nets.world.store.drafts(event_id="demo") if d.source == "dm"]
    assert sorted(d.account for d in deliveries) == ["bsky", "masto"]


# --- photos: fetched from each network, the ones missing kept in inbox_media ------------------------


def test_the_inbox_says_which_network_it_asks_again_for_a_photo_it_could_not_fetch(nets: Inboxes) -> None:
    """A Mastodon message whose photo its server failed to give: `livetweet inbox` says Mastodon is asked again."""
    status = nets.masto.add_direct_message("alice@example.org", "from the hall", (png("teal"),))
    with nets.masto.state.lock:
        nets.masto.state.media[status.media_ids[0]].polls_left = 1  # still processing: no address given yet
    nets.poll("masto")
    store = nets.world.store
    [lost] = store.unfetched_media()
    failed = "fetching a direct message's image failed: the server answered 503"
    waiting = replace(lost, state="waiting", tries=1, reason=failed, next_try_at=T_1330 + timedelta(minutes=6))
    with store.engine.begin() as conn:  # as a poll records a 503 (the fake serves no file before its address)
        store.put_unfetched_media(conn, [waiting])
    listed = nets.livetweet("inbox")
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if "photo 1:" in line]
    expected = "      - photo 1: not fetched yet, livetweet asks Mastodon again on its first poll after 13:36 CET "
    assert line == f"{expected}(try 2 of 4): {failed}"


def test_photos_come_from_the_network_the_message_came_by(nets: Inboxes) -> None:
    nets.world.x.inject_fault("500", route=DM_MEDIA_ROUTE)
    add_dm(nets.world.x.state, "speaker_one", "The panel", [jpeg()])
    nets.masto.add_direct_message("alice@example.org", "from the hall", (png("teal"),))
    nets.bsky.add_chat("participant.bsky.social", "see attached", image=b"MZ\x90\x00" + bytes(500))
    result = nets.inbox.poll(nets.publishers["bsky"], "bsky")
    [lost] = result.notes
    assert lost.startswith("the direct message from @participant.bsky.social is kept without the photo: ")
    nets.poll("masto")
    waiting = nets.inbox.poll(nets.publishers["x"], "x").notes
    assert waiting and "livetweet asks X again" in waiting[0]
    by_account = {(u.account, u.state) for u in nets.world.store.unfetched_media()}
    assert by_account == {("bsky", "lost"), ("x", "waiting")}
    masto = next(m for m in nets.inbox.messages() if m.account == "masto")
    assert [p.kind for p in masto.media] == ["image/png"]
    nets.world.clock.advance(timedelta(minutes=1))
    for account in ("bsky", "masto"):  # their polls never ask for X's photo
        nets.inbox.poll(nets.publishers[account], account)
    assert [o for r, o in nets.world.x.state.requests if r == DM_MEDIA_ROUTE] == ["fault:500"]
    assert nets.inbox.poll(nets.publishers["x"], "x").refetched == 1
    assert {(u.account, u.state) for u in nets.world.store.unfetched_media()} == {("bsky", "lost")}


def test_the_list_of_photos_not_fetched_moves_from_its_settings_row_into_its_table(tmp_path: Path) -> None:
    """A store of an earlier version (tests/data: livetweet 5's dump) with a message, and its photo
    X failed to give in the settings row that held the list then."""
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.executescript(SCHEMA_5_DUMP.read_text())
    waiting = {"dm_id": "1001", "number": 1, "total": 1, "key": "3_1", "kind": "photo", "url": "https://ton.x/1",
               "sender": "speaker_one", "reason": "X answered 500", "state": "waiting", "tries": 1,
               "next_try_at": "2020-11-12T12:31:00+00:00"}  # fmt: skip
    raw.execute(
        "INSERT INTO inbox (dm_id, sender_id, sender_username, text, original, received_at, conversation_id, "
        "media_keys, state, fetched_at, version) VALUES ('1001', '42', 'speaker_one', 'The panel', '\"The panel\"', "
        "'2020-11-12 12:30:00.000000', 'c1', '[\"3_1\"]', 'new', '2020-11-12 12:30:00.000000', 1)"
    )
    raw.execute("INSERT INTO settings VALUES ('inbox_unfetched', ?, 'then')", (json.dumps([waiting]),))
    raw.commit()
    raw.close()
    store = Store(f"sqlite:///{path}")
    try:
        [message] = store.messages()
        assert (message.account, message.dm_id) == ("x", "1001")
        [kept] = store.unfetched_media()
        assert (kept.account, kept.dm_id, kept.state, kept.tries, kept.reason) == (
            "x",
            "1001",
            "waiting",
            1,
            waiting["reason"],
        )
        assert kept.next_try_at == datetime(2020, 11, 12, 12, 31, tzinfo=UTC)
        assert store.setting("inbox_unfetched") is None
        assert store.due_media(datetime(2020, 11, 12, 12, 31, tzinfo=UTC)) == [kept]
        assert store.due_media(datetime(2020, 11, 12, 12, 30, tzinfo=UTC)) == []
        InboxService(Service(store)).keep(
            [IncomingMessage("1001", "same id", "7", "alice", message.received_at, "m")], account="masto"
        )
        assert sorted(m.account for m in store.messages()) == ["masto", "x"]  # the id is unique per account now
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            tables = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all()
        schemas: dict[str, str] = {str(name): str(sql) for name, sql in tables}
        assert "uq_inbox_account_dm_id" in schemas["inbox"] and "inbox_schema6" not in schemas
    finally:
        store.close()


def test_a_postgresql_inbox_of_an_earlier_version_gains_its_account_and_table(postgres_available: str) -> None:
    from .support.databases import reset_postgres_schema

    url = reset_postgres_schema()
    Store(url).close()
    engine = sa.create_engine(Store(url).engine.url)
    with engine.begin() as conn:  # the inbox as it was: X's ids unique, no account, the list in a settings row
        conn.execute(sa.text("DROP TABLE inbox_media"))
        conn.execute(sa.text("ALTER TABLE inbox DROP CONSTRAINT uq_inbox_account_dm_id"))
        conn.execute(sa.text("ALTER TABLE inbox DROP COLUMN account"))
        conn.execute(sa.text("ALTER TABLE inbox ADD CONSTRAINT inbox_dm_id_key UNIQUE (dm_id)"))
        item = {"dm_id": "1001", "number": 1, "total": 1, "state": "lost", "reason": "a video is not fetched"}
        conn.execute(sa.text("INSERT INTO settings VALUES ('inbox_unfetched', :v, 'then')"), {"v": json.dumps([item])})
    engine.dispose()
    store = Store(url)
    try:
        inbox = InboxService(Service(store))
        when = datetime(2020, 11, 12, 12, 40, tzinfo=UTC)
        for account in ("x", "masto"):
            assert inbox.keep([IncomingMessage("1001", account, "42", "someone", when, "c")], account=account) == 1
        [lost] = store.unfetched_media()
        assert (lost.account, lost.state, lost.reason) == ("x", "lost", "a video is not fetched")
    finally:
        store.close()


def test_copy_store_carries_the_photo_list_and_each_inbox_cursor(nets: Inboxes, db_url: str) -> None:
    nets.world.x.inject_fault("500", route=DM_MEDIA_ROUTE)
    add_dm(nets.world.x.state, "speaker_one", "The panel", [jpeg()])
    nets.bsky.add_chat("participant.bsky.social", "A question")
    nets.poll("x")
    nets.poll("bsky")
    nets.world.dispatcher.keeper.release()  # the run stops: a store is copied while nobody posts from it
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{nets.tmp_path / 'copy.db'}"
    target = Store(db_url)
    try:
        copied = nets.world.store.copy_into(target)
        assert (copied["inbox"], copied["inbox_media"]) == (2, 1)
        assert target.unfetched_media() == nets.world.store.unfetched_media()
        assert target.inbox_cursor("bsky") == nets.world.store.inbox_cursor("bsky") is not None
    finally:
        target.close()


def test_an_unfetched_photo_is_recorded_once_per_place_whatever_is_put(db_url: str) -> None:
    store = Store(db_url)
    try:
        at = datetime(2020, 11, 12, 12, 31, tzinfo=UTC)
        first = UnfetchedMedia("1001", 1, 2, "k1", "photo", "u1", "s", "X answered 500", "waiting", 1, at)
        with store.begin() as conn:
            store.put_unfetched_media(conn, [first, UnfetchedMedia(**{**first.__dict__, "number": 2})])
        later = UnfetchedMedia(**{**first.__dict__, "tries": 2, "next_try_at": at + timedelta(minutes=2)})
        with store.begin() as conn:
            store.put_unfetched_media(conn, [later, later])
        assert [(u.number, u.tries) for u in store.unfetched_media({"1001"})] == [(1, 2), (2, 1)]
        assert [u.number for u in store.due_media(at)] == [2]
        with store.begin() as conn:
            store.drop_unfetched_media(conn, [later])
        assert [u.number for u in store.unfetched_media()] == [2]
        assert store.unfetched_media({"1001"}, account="bsky") == []
    finally:
        store.close()
