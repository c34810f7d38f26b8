"""The roundtable rehearsed on X, Bluesky and Mastodon at 60x under faults and two SIGKILLs (issue 15's "must show").

Real `livetweet run --rehearse` processes post through tweepy, atproto and Mastodon.py to the
three simulated servers, which this test starts so that they outlive every run. Each network
gets a 5xx, a 429, an answer dropped after the post was stored and a timeout (before or after
the store), on slots of their own (X's 5xx and 429 on one, try after try). The first run is
killed while X holds its first post and has not answered, the second while Bluesky holds the
opening (unanswered) and Mastodon hangs before storing it (the killed runs wait ten real seconds
for an answer, so that a busy machine cannot make a kill miss its moment); each kill is followed
by a new run on the same SQLite store, which meets every network's timeout at one real second.
Afterwards every delivery is on its network exactly once, in slot order, threads and alt texts
intact, and the store says posted for each, with the id the network gave it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livetweet.config import Settings
from livetweet.draft import Draft, DraftState
from livetweet.live import LiveRun, RunOptions, plan_run
from livetweet.plan.check import check_schedule
from livetweet.publishers.bluesky import BlueskyPublisher
from livetweet.publishers.mastodon import MastodonPublisher
from livetweet.store import AuditEntry, Store

from .support.images import photo
from .support.networks import ACCOUNTS_YAML, NETWORK_OF, Networks, Post
from .support.standby import Machine
from .support.waiting import wait_for

EVENT_ID = "roundtable-networks"
# A roundtable in 12 minutes of event time (12 s at 60x), its slots far enough apart that a
# fault's retry is over before the next slot falls due: a minute after a 5xx or a dropped answer,
# two after a timeout (a minute) or X's and Bluesky's 429 (a second), three after Mastodon's 429
# (Mastodon.py adds the server's clock skew to its reset: two seconds, two minutes at 60x), whose
# slot keeps its post open five minutes: its retry then has more than a real second to spare.
SCHEDULE = f"""event:
  id: {EVENT_ID}
  title: Roundtable 2 on three networks
  account: "@UNMigNetwork"
  date: 2020-11-12
  start: "13:30"
  end: "13:42"
  timezone: Europe/Zurich
  hashtags: ["#GCM"]
  valid_for: 3m
segments:
  - id: opening
    title: Opening of the roundtable
    start: "13:30"
    end: "13:35"
  - id: q1
    title: Guiding question 1
    start: "13:35"
    end: "13:40"
  - id: closing
    title: Closing of the roundtable
    start: "13:40"
    end: "13:42"
slots:
  - id: announcement
    template: announcement
    at: opening.start
    media:
      - file: media/objectives.jpg
        alt: "Slide listing the five objectives of {{{{ event.title }}}}"
  - id: opening
    template: opening
    at: opening.start + 1m
    media:
      - file: media/panel.jpg
        alt: Five speakers seated at a long table under a blue banner
  - id: dm-invite
    template: dm_invite
    at: opening.start + 3m
    reply_to: opening
  - id: materials
    template: materials
    at: q1.start
    accounts: [bsky, masto]
    valid_for: 5m
  - id: q1
    template: question
    at: q1.start + 3m
    vars: {{number: 1}}
  - id: closing
    template: closing
    at: closing.start
    valid_for: 2m
    reply_to: announcement
{ACCOUNTS_YAML}"""
TEMPLATES = {
    "announcement.j2": "Today at 13:30 CET: {{ event.title }}. Follow along here.",
    "opening.j2": "The roundtable has started! ¡Bienvenidos! Добро пожаловать 👋",
    "dm_invite.j2": "Taking part? Send us your key messages by direct message.",
    "materials.j2": "Background reading for today: https://migrationnetwork.un.org/",
    "question.j2": "Now: guiding question {{ slot.vars.number }}, {{ segment.title }}.",
    "closing.j2": "Thank you for following {{ event.title }}!",
}
ACCOUNTS = ("x", "bsky", "masto")
SLOTS = ("announcement", "opening", "dm-invite", "materials", "q1", "closing")
ON = {"materials": ("bsky", "masto")}  # the accounts a slot posts to, when not all three
PARENT = {"dm-invite": "opening", "closing": "announcement"}
ALTS = {
    "announcement": ("Slide listing the five objectives of Roundtable 2 on three networks",),
    "opening": ("Five speakers seated at a long table under a blue banner",),
}
# What each network answers to the post of a slot, try after try (then it answers normally). The
# kills are aimed with these: run 1 dies while X holds the announcement unanswered
# (hang-after-store), run 2 while Bluesky holds the opening unanswered and Mastodon hangs before
# making it. "hang" is a timeout before the post is made, "hang-after-store" one after.
FAULTS: dict[str, dict[str, tuple[str, ...]]] = {
    "x": {"announcement": ("hang-after-store",), "opening": ("503", "429"), "dm-invite": ("drop-after-store",),
          "q1": ("hang",)},
    "bsky": {"announcement": ("503",), "opening": ("hang-after-store",), "dm-invite": ("429",),
             "materials": ("drop-after-store",), "q1": ("hang",)},
    "masto": {"announcement": ("503",), "opening": ("hang",), "dm-invite": ("drop-after-store",),
              "materials": ("429",), "q1": ("hang-after-store",)},
}  # fmt: skip
SPEED = "60"
TIMEOUT = "60"  # event seconds: one real second at 60x (the last run meets every network's timeout)
# The runs that are killed wait ten real seconds for an answer, so that each kill lands while the
# networks hold the posts it is aimed at, however busy the machine (one second is easily missed).
KILLED_RUN_TIMEOUT = "600"


def slots_of(account: str) -> list[str]:
    """The slots that post to this account, in their order."""
    return [s for s in SLOTS if account in ON.get(s, ACCOUNTS)]


N_DELIVERIES = sum(len(slots_of(a)) for a in ACCOUNTS)


class FaultPlan:
    """Injects each slot's fault on a network once the slot before it is on that network: the next
    post sent there is that slot's first try (a retry of an earlier one never takes its fault)."""

    def __init__(self, nets: Networks) -> None:
        self.nets = nets
        self.injected: dict[str, int] = {a: -1 for a in ACCOUNTS}  # the index of the last slot given its fault
        self.stopped = threading.Event()
        self.step()
        self._thread = threading.Thread(target=self._watch, name="fault-plan", daemon=True)
        self._thread.start()

    def step(self) -> None:
        for account in ACCOUNTS:
            slots = slots_of(account)
            made = self.nets.count(account)  # the slots already on the network (they go out in order)
            if made < len(slots) and self.injected[account] < made:
                self.injected[account] = made
                for fault in FAULTS[account].get(slots[made], ()):
                    self.nets.fault(account, fault, reset_seconds=1.0)

    def _watch(self) -> None:
        while not self.stopped.wait(0.005):  # a condition polled, not a pause: each step acts on what it sees
            self.step()

    def stop(self) -> None:
        self.stopped.set()
        self._thread.join(timeout=5)


@pytest.fixture
def nets() -> Iterator[Networks]:
    started = Networks.start(hang_seconds=30.0)
    yield started
    started.stop()


@pytest.fixture
def runs() -> Iterator[list[Machine]]:
    started: list[Machine] = []
    yield started
    for m in started:
        if m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait(timeout=30)


def rehearse(name: str, db_url: str, schedule: Path, nets: Networks, cwd: Path, timeout: str = TIMEOUT) -> Machine:
    """One `livetweet run --rehearse` on the store, posting to the three simulated networks."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "livetweet", "--db", db_url, "run", str(schedule), "--rehearse", "--no-console",
         "--mode", "auto", "--speed", SPEED, "--start-in", "0", "--timeout", timeout],
        cwd=cwd,
        env={**os.environ, **nets.env(), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    return Machine(name, proc, nets.x)


def write_event(folder: Path) -> Path:
    (folder / "templates").mkdir()
    for name, text in TEMPLATES.items():
        (folder / "templates" / name).write_text(text, encoding="utf-8")
    (folder / "schedules" / "media").mkdir(parents=True)
    (folder / "schedules" / "media" / "objectives.jpg").write_bytes(photo((120, 80), colour=(20, 60, 160)))
    (folder / "schedules" / "media" / "panel.jpg").write_bytes(photo((96, 64), colour=(160, 120, 40)))
    path = folder / "schedules" / "roundtable.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    return path


def outcomes(nets: Networks, account: str) -> list[str]:
    """How the network answered each post sent to it, in order ("201", "fault:503"...)."""
    return [outcome for _, outcome in nets.requests(account)]


def hung_after_store(nets: Networks, account: str, posts: int) -> bool:
    """The network stored its `posts`-th post and has not answered: its call hangs."""
    return nets.count(account) >= posts and "fault:hang-after-store" in outcomes(nets, account)


def kill(run: Machine) -> None:
    run.alive()
    os.kill(run.proc.pid, signal.SIGKILL)
    run.finish(timeout=30)


def deliveries(db_url: str) -> tuple[dict[tuple[str, str], Draft], dict[int, list[AuditEntry]]]:
    """The store's deliveries by (slot, account), and each one's audit trail, read while no run writes."""
    store = Store(db_url, create=False)
    try:
        drafts = {(d.slot, d.account): d for d in store.drafts(event_id=EVENT_ID)}
        trails: dict[int, list[AuditEntry]] = {}
        for entry in store.audit():
            if entry.draft_id is not None:
                trails.setdefault(entry.draft_id, []).append(entry)
        return drafts, trails
    finally:
        store.close()


def how_posted(trail: list[AuditEntry]) -> tuple[str, int]:
    """The action that recorded the post (posted: its answer; reconciled: found on the account) and the run's epoch."""
    entry = next(e for e in trail if e.to_state == DraftState.POSTED.value)
    return entry.action, int(entry.detail["epoch"])


def story(runs: list[Machine], nets: Networks, db_url: str) -> str:
    """What each run said and what each network was asked: the message of a failed assertion."""
    said = "\n".join(f"--- {m.name}\n{m.output}" for m in runs)
    asked = "\n".join(f"--- {a}: {nets.requests(a)}" for a in ACCOUNTS)
    journal = "\n".join(nets.masto.state.journal)
    return f"\n{said}\n{asked}\n--- Mastodon's journal\n{journal}\n{ledger(runs, db_url)}"


def ledger(runs: list[Machine], db_url: str) -> str:
    """The store's deliveries and their audit trails, as the story's last part (read only once no run is alive)."""
    if any(m.proc.poll() is None for m in runs):
        return ""
    drafts, trails = deliveries(db_url)
    lines = ["--- the store"]
    for (slot, account), d in sorted(drafts.items(), key=lambda kv: kv[1].id):
        lines.append(f"{d.id} {slot}/{account} {d.state.value} attempts={d.attempts} key={(d.post_key or '')[:12]}")
        lines += [f"    {e.action} {e.from_state}->{e.to_state} {e.detail}" for e in trails.get(d.id, [])]
    return "\n".join(lines)


def test_every_delivery_goes_out_once_on_its_network_through_faults_and_two_kills(
    tmp_path: Path, nets: Networks, runs: list[Machine]
) -> None:
    schedule = write_event(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'rehearsal.db'}"
    plan = FaultPlan(nets)
    began = time.monotonic()
    marks: list[str] = []
    try:
        first = rehearse("run 1", db_url, schedule, nets, tmp_path, KILLED_RUN_TIMEOUT)
        runs.append(first)
        wait_for(lambda: first.alive() and hung_after_store(nets, "x", 1), "X to hold the announcement, unanswered")
        kill(first)
        marks.append(f"first kill at {time.monotonic() - began:.1f} s")
        # Killed after X made the post and before the run heard of it: the store still says posting.
        drafts, _ = deliveries(db_url)
        assert drafts[("announcement", "x")].state == DraftState.POSTING, story(runs, nets, db_url)

        second = rehearse("run 2", db_url, schedule, nets, tmp_path, KILLED_RUN_TIMEOUT)
        runs.append(second)
        wait_for(
            lambda: second.alive() and hung_after_store(nets, "bsky", 2) and ("fault:hang" in outcomes(nets, "masto")),
            "Bluesky to hold the opening unanswered, and Mastodon to hang on it",
        )
        kill(second)
        marks.append(f"second kill at {time.monotonic() - began:.1f} s")
        drafts, _ = deliveries(db_url)
        assert drafts[("opening", "bsky")].state == DraftState.POSTING, story(runs, nets, db_url)
        assert drafts[("opening", "masto")].state == DraftState.POSTING, story(runs, nets, db_url)

        third = rehearse("run 3", db_url, schedule, nets, tmp_path)
        runs.append(third)
        assert third.finish(timeout=120) == 0, story(runs, nets, db_url)
        marks.append(f"the event over at {time.monotonic() - began:.1f} s")
    finally:
        plan.stop()
    why = story(runs, nets, db_url)
    assert f"The event is over: {N_DELIVERIES} posted." in third.output, why
    for account, faults in FAULTS.items():
        # Every planned fault was met, on its slot's first try; every other post was answered at once,
        # not even a second create refused as a duplicate (a record key taken, a text X already holds).
        outcomes_seen = outcomes(nets, account)
        met = [o.removeprefix("fault:") for o in outcomes_seen if o.startswith("fault:")]
        assert met == [f for s in slots_of(account) for f in faults.get(s, ())], (account, why)
        assert all(o.startswith(("fault:", "2")) for o in outcomes_seen), (account, why)
    drafts, trails = deliveries(db_url)
    assert len(drafts) == N_DELIVERIES
    for account in ACCOUNTS:
        posts = nets.posts(account)
        expected = slots_of(account)
        # Exactly once each, in slot order: the network's posts, one for one, are the store's deliveries.
        assert [p.id for p in posts] == [drafts[(s, account)].tweet_id for s in expected], (account, why)
        by_slot: dict[str, Post] = dict(zip(expected, posts, strict=True))
        for slot, post in by_slot.items():
            delivery = drafts[(slot, account)]
            assert delivery.state == DraftState.POSTED, (slot, account, delivery.last_error)
            assert post.text == delivery.text, (slot, account)
            assert post.alts == ALTS.get(slot, ()), (slot, account)
            parent = PARENT.get(slot)
            assert post.parent == (by_slot[parent].id if parent else None), (slot, account)
            if NETWORK_OF[account] == "bluesky":
                assert post.key == delivery.post_key  # the record key chosen at the first claim, kept through kills
                assert post.root == (by_slot[parent].id if parent else None)  # each parent here starts its thread
            if NETWORK_OF[account] == "mastodon":
                assert post.key == delivery.post_key  # the Idempotency-Key, kept through kills
    # Each kill's delivery was settled by the next run: found on the network where it had been made
    # (X's post, Bluesky's record under its key), posted afresh where it had not (Mastodon's).
    assert how_posted(trails[drafts[("announcement", "x")].id]) == ("reconciled", 2), why
    assert how_posted(trails[drafts[("opening", "bsky")].id]) == ("reconciled", 3), why
    assert how_posted(trails[drafts[("opening", "masto")].id]) == ("posted", 3), why
    print(f"\n{'; '.join(marks)}")


class QuietScreen:
    """A run's screen that shows nothing (the test reads the store and the servers instead)."""

    def notice(self, report: object) -> None: ...

    def polled(self, result: object) -> None: ...

    def idle(self, runner: object) -> None: ...

    def close(self) -> None: ...


def test_a_rehearsal_posts_to_the_simulated_servers_it_is_named_on_this_machine_only(
    tmp_path: Path, nets: Networks
) -> None:
    """LIVETWEET_MASTODON_URL on this machine is used; a LIVETWEET_BLUESKY_URL elsewhere is not, the
    rehearsal starts its own simulated Bluesky and says why."""
    schedule = write_event(tmp_path)
    report = check_schedule(schedule)
    settings = Settings(x_api_url=nets.x.url, bluesky_url="https://bsky.social", mastodon_url=nets.masto.url)
    options = RunOptions(
        schedule, "auto", rehearse=True, speed=60, console=None, db_url=f"sqlite:///{tmp_path / 'r.db'}"
    )
    plan = plan_run(options, settings, min(p.slot.at for p in report.posts))
    said: list[str] = []
    warned: list[str] = []
    with LiveRun(plan, schedule, report, settings, said.append, warned.append, lambda *_: QuietScreen()) as live:
        bluesky, mastodon = live.publishers["bsky"], live.publishers["masto"]
        assert isinstance(bluesky, BlueskyPublisher) and isinstance(mastodon, MastodonPublisher)
        assert list(live.fakes) == ["bluesky"]  # its own Bluesky, and no Mastodon of its own
        assert bluesky.base_url == live.fakes["bluesky"].url != "https://bsky.social"
        assert mastodon.base_url == nets.masto.url
        assert ("GET /api/v1/accounts/verify_credentials", "200") in nets.masto.requests()  # the placeholder token
        assert nets.bsky.requests() == []
    assert warned == [
        "LIVETWEET_BLUESKY_URL (https://bsky.social) is not on this machine: "
        "a rehearsal starts its own simulated server"
    ]
    assert f"Simulated Mastodon at {nets.masto.url} (LIVETWEET_MASTODON_URL): the rehearsal posts there" in said
