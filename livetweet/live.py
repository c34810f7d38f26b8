"""A run's wiring: what it uses, chosen from the options (a pure `RunPlan`), and the pieces it
starts, each torn down once and in reverse order whatever happens (`LiveRun`).

`plan_run` decides, without touching anything, which store, clock, credentials and X the
run uses: a rehearsal always gets its own store and placeholder credentials, never `.env`'s;
a dry run gets a temporary store and sends nothing. `LiveRun` then starts the store, the
simulated X, the publisher, the lease, the console and the signal handlers inside one
`ExitStack`, so that a failure halfway (the console's port taken, X refusing the keys)
undoes exactly what was started.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .clock import Clock, RehearsalClock, SystemClock, call_timeout
from .config import REHEARSAL_CREDENTIALS, Settings, fresh_credentials
from .draft import DraftState
from .errors import LivetweetError

if TYPE_CHECKING:
    from .console.server import ConsoleServer
    from .dispatch import LeaseKeeper, Notice, Runner
    from .fakes import FakeXServer
    from .inbox import PollResult
    from .plan.check import Report
    from .plan.schedule import Event
    from .publishers.base import Publisher
    from .service import Service
    from .store import Leadership, Lease

REHEARSAL_DB = "livetweet-rehearsal.db"
DEFAULT_DB = "sqlite:///livetweet.db"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DM_POLL_EVERY = timedelta(minutes=1)
STANDBY_POLL_SECONDS = 0.25  # how often a standby asks for the lease (a takeover within this, on PostgreSQL)


@dataclass(frozen=True)
class RunOptions:
    """What the operator asked for on the command line."""

    schedule: Path
    mode: str  # approval, auto, dry-run
    rehearse: bool
    speed: float = 1.0
    start_in: float = 3.0  # real seconds until a rehearsal's earliest post
    timeout: float = 10.0  # event seconds to wait for X on each call
    console: tuple[str, int] | None = ("127.0.0.1", 8000)
    db_url: str | None = None  # --db or --rehearsal: only ever from the command line
    on_rehearsal_store: bool = False  # --rehearsal was given
    standby: bool = False  # --standby: wait while another run posts, take over when it stops


@dataclass(frozen=True)
class RunPlan:
    """Everything a run will use, decided before anything starts."""

    kind: str  # live, rehearsal, dry-run
    mode: str
    db_url: str | None  # None: a temporary store, deleted afterwards (dry run)
    clear_rehearsal_store: str | None  # a rehearsal's own file, started afresh
    placeholder_credentials: bool
    start_fake_x: bool
    x_api_url: str | None
    console: tuple[str, int] | None
    speed: float
    clock_start: datetime | None  # a rehearsal's event clock, --start-in before the first post
    timeout: float
    notes: tuple[str, ...] = ()  # said before anything starts
    standby: bool = False  # asked to wait as a standby (on PostgreSQL a second run waits anyway)

    @property
    def rehearsal(self) -> bool:
        return self.kind == "rehearsal"

    @property
    def load_mode(self) -> str:
        return "approval" if self.mode == "approval" else "auto"

    @property
    def on_default_rehearsal_store(self) -> bool:
        return self.rehearsal and (self.db_url or "").endswith(REHEARSAL_DB)


def is_loopback_url(url: str) -> bool:
    """A URL on this machine: a rehearsal may post there, and nowhere else."""
    return (urlsplit(url).hostname or "") in LOOPBACK


def plan_run(options: RunOptions, settings: Settings, earliest: datetime | None) -> RunPlan:
    """Choose the store, clock, credentials and X for a run (pure: it reads and starts nothing)."""
    if options.on_rehearsal_store and not options.rehearse:
        raise LivetweetError("--rehearsal names the rehearsal's store: add --rehearse, or this would be a live run")
    kind = "dry-run" if options.mode == "dry-run" else "rehearsal" if options.rehearse else "live"
    clock_start: datetime | None = None
    if options.rehearse:
        if earliest is None:
            raise LivetweetError("the schedule has no posts to rehearse")
        clock_start = earliest - timedelta(seconds=options.start_in * options.speed)
    notes: list[str] = []
    clear: str | None = None
    if kind == "dry-run":
        db_url = None
    elif options.rehearse:
        # Its own store, whatever LIVETWEET_DATABASE_URL or .env say: only an explicit --db (or --rehearsal).
        db_url = options.db_url or f"sqlite:///{REHEARSAL_DB}"
        # A standby shares the running rehearsal's store: it never starts it afresh.
        clear = REHEARSAL_DB if options.db_url is None and not options.standby else None
        ignored = " (LIVETWEET_DATABASE_URL is not used by rehearsals)" if settings.database_url != DEFAULT_DB else ""
        notes.append(
            f"Rehearsal on its own store {db_url}{ignored}, with placeholder credentials: "
            "nothing reaches the real account."
        )
    else:
        db_url = options.db_url or settings.database_url
    x_api_url = None if kind == "dry-run" else settings.x_api_url
    start_fake_x = options.rehearse and kind != "dry-run" and not (x_api_url and is_loopback_url(x_api_url))
    return RunPlan(
        kind=kind,
        mode=options.mode,
        db_url=db_url,
        clear_rehearsal_store=clear,
        placeholder_credentials=options.rehearse,
        start_fake_x=start_fake_x,
        x_api_url=None if start_fake_x else x_api_url,
        console=options.console,
        speed=options.speed if options.rehearse else 1.0,
        clock_start=clock_start,
        timeout=options.timeout,
        notes=tuple(notes),
        standby=options.standby and kind != "dry-run",
    )


class Screen(Protocol):
    """What a run shows while it runs (the CLI's terminal screen, or nothing in a test)."""

    def notice(self, report: Notice) -> None: ...

    def polled(self, result: PollResult) -> None: ...

    def idle(self, runner: Runner) -> None: ...

    def close(self) -> None: ...


@dataclass
class Outcome:
    """How a run ended: "finished", "stopped" or "lost", and the drafts' final counts."""

    ended: str
    counts: dict[str, int] = field(default_factory=dict)
    lost: str | None = None
    led: bool = True  # False: a standby stopped before it ever posted

    @property
    def summary(self) -> str:
        return ", ".join(f"{n} {state}" for state, n in self.counts.items() if n)


def describe_leader(lease: Lease | None) -> str:
    """The standby's line: who posts now, from where, since when."""
    if lease is None:
        return "standby: no run posts from the store now; this one takes over in a moment"
    since = lease.since.strftime("%H:%M:%S UTC") if lease.since else "?"
    return (
        f"standby: leader is {lease.host}, process {lease.pid}, since {since} (a {lease.kind} run, epoch "
        f"{lease.epoch}); this machine takes over when it stops"
    )


class LiveRun:
    """The pieces of a run, started in order on enter and stopped in reverse on exit."""

    def __init__(
        self,
        plan: RunPlan,
        schedule: Path,
        report: Report,
        settings: Settings,
        say: Callable[[str], None],
        warn: Callable[[str], None],
        screen: Callable[[Service, Event], Screen],
        dry_run_echo: Callable[[str], None] | None = None,
    ) -> None:
        assert report.schedule is not None
        self.plan = plan
        self.schedule_path = schedule
        self.report = report
        self.event = report.schedule.event
        self.settings = settings
        self.say, self.warn = say, warn
        self._make_screen = screen
        self._dry_run_echo = dry_run_echo or say
        self._stack = ExitStack()
        self.rehearsal_clock = RehearsalClock(plan.clock_start, plan.speed) if plan.clock_start else None
        self.clock: Clock = self.rehearsal_clock or SystemClock()
        self.fake: FakeXServer | None = None
        self.fakes: dict[str, Any] = {}  # network -> its simulated server in a rehearsal (Bluesky's, Mastodon's)
        self.console: ConsoleServer | None = None
        self.base_url: str | None = plan.x_api_url
        self.link_token: str | None = None
        self.keeper: LeaseKeeper | None = None  # None while this run is a standby
        self.leadership: Leadership | None = None
        self.stopped = threading.Event()  # Ctrl-C or SIGTERM
        self.took_over: list[str] = []  # what each takeover said (for the screen and the tests)

    # --- start and stop ----------------------------------------------------------------------

    def __enter__(self) -> LiveRun:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.close()

    def credentials(self) -> dict[str, str]:
        """The credentials to post with, as they are now (a rehearsal's are placeholders)."""
        return dict(REHEARSAL_CREDENTIALS) if self.plan.placeholder_credentials else fresh_credentials()

    def _start(self) -> None:
        from .service import Service
        from .store import Store

        plan, stack = self.plan, self._stack
        for note in plan.notes:
            self.say(note)
        db_url = plan.db_url
        if db_url is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="livetweet-dry-run-"))
            db_url = f"sqlite:///{Path(folder) / 'dry-run.db'}"
            self.say(f"Dry run: its own store in {folder}, deleted afterwards; nothing is sent.")
        elif plan.clear_rehearsal_store:
            _fresh_rehearsal_store(plan.clear_rehearsal_store)
        self.store = store = Store(db_url)
        stack.callback(store.close)
        self.service = service = Service(store, self.clock)
        self.publisher = self._publisher()
        self.publishers = self._other_publishers()
        stack.callback(self._give_up)
        self.screen = screen = self._make_screen(service, self.event)
        stack.callback(screen.close)
        if self._try_to_lead():
            self._lead(load=True)
        else:
            self._follow_leader()
            self.say(describe_leader(store.lease()))
        if plan.console is not None:
            self._serve_console(*plan.console)
        if self.keeper is not None and self.rehearsal_clock is not None:
            # The event's clock starts now that everything is loaded, so --start-in holds.
            self.rehearsal_clock.restart()
            self.keeper.renew(self.rehearsal_clock.to_json())  # operators' commands follow this clock

    @property
    def standby(self) -> bool:
        """Waiting while another run posts from the store."""
        return self.keeper is None

    def _try_to_lead(self) -> bool:
        """Become the run that posts, if no other one does; False: this one waits as a standby.

        On PostgreSQL the server's advisory lock decides (`Leadership`) and a second run waits
        by itself; on SQLite the lease row decides, and a second run waits only with --standby.
        """
        from .dispatch import LeaseKeeper
        from .store import LeaseHeld

        store, plan = self.store, self.plan
        if not store.is_sqlite and plan.kind != "dry-run":
            if self.leadership is None:
                self.leadership = store.leadership(f"livetweet leader {os.getpid()}")
            assert self.leadership is not None
            if not self.leadership.acquire():
                self._check_leader_kind()
                return False
            self._check_leader_kind(just_died=True)  # a live run that just died is not taken over by a rehearsal
            self.keeper = LeaseKeeper.lead(store, plan.kind, self.leadership, self.base_url)
            return True
        if plan.standby and store.live_lease() is not None:  # a read: no write lock taken four times a second
            self._check_leader_kind()
            return False
        try:
            self.keeper = LeaseKeeper.take(store, plan.kind, self.base_url)
        except LeaseHeld:
            if not plan.standby:
                raise
            self._check_leader_kind()
            return False
        return True

    def _check_leader_kind(self, just_died: bool = False) -> None:
        """A rehearsal never stands by for a live run, nor a live run for a rehearsal.

        With `just_died` (this run holds the leadership): only a lease renewed lately counts,
        so that a run that crashed long ago does not stop the next one."""
        held = self.store.lease()
        if just_died and held is not None and not held.alive(self.store.wall.now(), check_process=False):
            return
        if held is not None and held.kind != self.plan.kind:
            raise LivetweetError(
                f"the run posting from {self.store.display} is a {held.kind} run and this one a {self.plan.kind}: "
                "a standby must be the same kind of run (add or drop --rehearse)"
            )
        speed = float(str(held.clock.get("speed", 1))) if held is not None and held.clock else None
        if speed is not None and self.rehearsal_clock is not None and speed != self.plan.speed:
            raise LivetweetError(
                f"the rehearsal posting from {self.store.display} plays at {speed:g}x and this one at "
                f"{self.plan.speed:g}x: start the standby with --speed {speed:g}"
            )

    def _follow_leader(self) -> Lease | None:
        """A standby shows the leader's event clock (a rehearsal's), so both consoles agree."""
        held = self.store.lease()
        if held is not None and held.clock and self.rehearsal_clock is not None:
            self.rehearsal_clock.follow(held.clock)
        return held

    def _lead(self, load: bool) -> None:
        """Post from this machine: load the schedule (the first leader only), then the dispatcher and its jobs."""
        from .dispatch import Dispatcher, Runner
        from .service import InboxService

        assert self.keeper is not None
        service, plan = self.service, self.plan
        if not load and service.store.event(self.event.id) is None and service.store.events():
            others = ", ".join(e.id for e in service.store.events())
            raise LivetweetError(
                f"this machine's schedule is event {self.event.id}, but the store holds {others}: a standby takes "
                "over with the leader's schedule (copy it here and start again)"
            )
        if load or service.store.event(self.event.id) is None:
            service.load(self.schedule_path, plan.load_mode)
        self.dispatcher = Dispatcher(
            service, self.publishers, self.event.id, on_notice=self.screen.notice, keeper=self.keeper,
            credentials=self.credentials,
        )  # fmt: skip
        self.runner = runner = Runner(self.dispatcher)
        clock = self.rehearsal_clock
        runner.keep_alive(lambda: clock.to_json() if clock else None)
        if plan.kind != "dry-run":
            from .inbox import Poller, Pollers

            # Every account's inbox (X's DMs, Bluesky's chat, Mastodon's direct messages), each by its own
            # poller: its own rate limit, and one network failing leaves the others' messages coming.
            inbox = InboxService(service)
            assert self.report.schedule is not None
            shown = {a.id: a.display for a in self.report.schedule.accounts}
            pollers: list[Poller] = []
            polled: set[int] = set()  # a publisher two accounts share is read once, for the first
            for account, publisher in self.publishers.items():
                if id(publisher) in polled:
                    continue
                polled.add(id(publisher))
                poll = functools.partial(inbox.poll, publisher, account)
                pollers.append(Poller(poll, self.clock, DM_POLL_EVERY, label=shown.get(account, account)))
            if pollers:
                runner.poll_messages(Pollers(pollers), self.screen.polled)

    def _wait_to_lead(self) -> bool:
        """As a standby: ask for the lease until this run has it (True) or is stopped (False)."""
        from sqlalchemy.exc import SQLAlchemyError

        from .store import LeaseBusy, StoreError

        leader = self._follow_leader()
        waiting_since = time.monotonic()
        complained = 0.0
        while not self.stopped.wait(STANDBY_POLL_SECONDS):
            try:
                if self._try_to_lead():
                    break
                now_leading = self._follow_leader()
            except LeaseBusy:  # a frozen leader's transaction: the server ends it within seconds
                continue
            except (StoreError, SQLAlchemyError) as exc:  # the database is away: a standby waits it out
                if time.monotonic() - complained > 30:
                    why = str(exc).splitlines()[0][:200]
                    self.warn(f"standby: the store cannot be reached now ({why}); still waiting")
                    complained = time.monotonic()
                continue
            if now_leading is not None and (leader is None or now_leading.epoch != leader.epoch):
                self.say(describe_leader(now_leading))
            leader = now_leading
        else:
            return False
        assert self.keeper is not None
        heard = ""
        if leader is not None and leader.heartbeat is not None:
            quiet = (self.store.wall.now() - leader.heartbeat).total_seconds()
            heard = f"; the last leader ({leader.host}, process {leader.pid}) was last heard {quiet:.1f} s ago"
        line = (
            f"{datetime.now(UTC).strftime('%H:%M:%S.%f')[:-3]} UTC: this machine took over posting (epoch "
            f"{self.keeper.run.epoch}, after {time.monotonic() - waiting_since:.1f} s as standby){heard}"
        )
        self.took_over.append(line)
        self.say(line)
        if self.rehearsal_clock is not None:
            self.keeper.renew(self.rehearsal_clock.to_json())
        self._lead(load=False)
        # What the last leader sent in its last seconds may still be on its way: a post left in
        # posting is looked up only once such a call would have ended (an upload and a post).
        self.dispatcher.settle_seconds = 2 * self._timeout_real + 1.0
        if self.console is not None:
            self.service.console_serving(self.console.url)
        return True

    def _give_up(self) -> None:
        """On the way out: end the leader's session if this run still holds one."""
        if self.keeper is not None:
            self.keeper.close()
        elif self.leadership is not None:
            self.leadership.close()

    def _publisher(self) -> Publisher:
        if self.plan.kind == "dry-run":
            from .publishers.dryrun import DryRunPublisher

            return DryRunPublisher(echo=self._dry_run_echo)
        from .publishers.x import XPublisher

        if self.plan.start_fake_x:
            from .fakes import FakeXServer

            self.fake = FakeXServer(clock=self.clock, username=self.event.account).start()
            self._stack.callback(self.fake.stop)
            self.base_url = self.fake.url
            console_host = self.plan.console[0] if self.plan.console else "127.0.0.1"
            self.say(f"Simulated X API at {self.fake.url} (its timeline: {self.fake.page_url(console_host)}/)")
        publisher = XPublisher(self.credentials(), self.base_url, self._timeout_real, self.clock)
        self._stack.callback(publisher.close)
        self.say(f"Posting as {publisher.check()}.")  # a PublisherError says why X refused
        return publisher

    def _other_publishers(self) -> dict[str, Publisher]:
        """A publisher for every account of the event: X's above, Bluesky's and Mastodon's here (a
        rehearsal starts a simulated server for each, with placeholder credentials)."""
        from .config import REHEARSAL_NETWORK_CREDENTIALS, account_credentials

        assert self.report.schedule is not None
        publishers: dict[str, Publisher] = {}
        for account in self.report.schedule.accounts:
            if account.network == "x":
                publishers[account.id] = self.publisher
                continue
            if self.plan.kind == "dry-run":
                from .publishers.dryrun import DryRunPublisher

                publishers[account.id] = DryRunPublisher(echo=functools.partial(self._echo_to, account.display))
                continue
            if self.plan.placeholder_credentials:
                credentials = dict(REHEARSAL_NETWORK_CREDENTIALS[account.network])
            else:
                credentials = account_credentials(account.id, account.network)
            publisher = self._network_publisher(account.network, account.handle, account.max_chars, credentials)
            self._stack.callback(publisher.close)
            self.say(f"Posting to {account.display} as {publisher.check()}.")
            publishers[account.id] = publisher
        return publishers

    def _echo_to(self, account: str, line: str) -> None:
        self._dry_run_echo(f"[{account}] {line}")

    def _network_publisher(
        self, network: str, handle: str, max_chars: int | None, credentials: dict[str, str]
    ) -> Publisher:
        """Bluesky's or Mastodon's publisher for one account (against its simulated server in a rehearsal)."""
        host = self.plan.console[0] if self.plan.console else "127.0.0.1"
        rehearsal = self.plan.placeholder_credentials
        # A rehearsal posts to a simulated server already running on this machine when it is named
        # (one that outlives the run, as LIVETWEET_X_API_URL names a simulated X), else starts its own.
        variable, given = (
            ("LIVETWEET_BLUESKY_URL", self.settings.bluesky_url)
            if network == "bluesky"
            else ("LIVETWEET_MASTODON_URL", self.settings.mastodon_url)
        )
        running = given if rehearsal and given and is_loopback_url(given) else None
        if rehearsal and given and running is None:
            self.warn(f"{variable} ({given}) is not on this machine: a rehearsal starts its own simulated server")
        elif running is not None:
            self.say(f"Simulated {network.capitalize()} at {running} ({variable}): the rehearsal posts there")
        if network == "bluesky":
            from .publishers.bluesky import BLUESKY, BlueskyPublisher

            password = credentials.get("BLUESKY_APP_PASSWORD", "")
            base = running or credentials.get("BLUESKY_PDS_URL") or BLUESKY
            if rehearsal and running is None:
                from .fakes.bluesky import FakeBlueskyServer

                bsky = FakeBlueskyServer(clock=self.clock, handle=handle, password=password).start()
                self._stack.callback(bsky.stop)
                self.fakes[network] = bsky
                base = bsky.url
                self.say(f"Simulated Bluesky at {bsky.url} (its timeline: http://{host}:{bsky.server_address[1]}/)")
            return BlueskyPublisher(handle, password, base, self._timeout_real, self.clock)
        from .publishers.mastodon import MastodonPublisher

        user, _, domain = handle.removeprefix("@").partition("@")
        token = credentials.get("MASTODON_ACCESS_TOKEN", "")
        base = running or credentials.get("MASTODON_API_BASE_URL") or f"https://{domain}"
        if rehearsal and running is None:
            from .fakes.mastodon import FakeMastodonServer
            from .plan.mastodon import DEFAULT_MAX_CHARS

            masto = FakeMastodonServer(
                clock=self.clock, username=user, domain=domain, max_chars=max_chars or DEFAULT_MAX_CHARS, token=token
            ).start()
            self._stack.callback(masto.stop)
            self.fakes[network] = masto
            base = masto.url
            self.say(f"Simulated Mastodon at {masto.url} (its timeline: http://{host}:{masto.server_address[1]}/)")
        return MastodonPublisher(base, token, self._timeout_real, self.clock)

    @property
    def _timeout_real(self) -> float:
        # Timeouts are in the event's time: at 60x a 10-second timeout lasts a sixth of a second.
        return call_timeout(self.plan.timeout, self.clock)

    def verify_credentials(self) -> str:
        """Ask X again who we are, with the credentials as they are now (a resume after a 401)."""
        from .publishers.x import XPublisher

        checker = XPublisher(self.credentials(), self.base_url, self._timeout_real, self.clock)
        try:
            return checker.check()
        finally:
            checker.close()

    def _serve_console(self, host: str, port: int) -> None:
        from .console import ConsoleAuth, ConsoleContext, create_app
        from .console.server import ConsoleServer, allowed_hosts

        settings, service, event = self.settings, self.service, self.event
        auth = ConsoleAuth(settings.console_password, settings.console_password_hash, store=service.store)
        link_base = self.fake.page_url(host) if self.fake else self.base_url
        account = event.account.lstrip("@")
        context = ConsoleContext(
            service,
            event.id,
            self.plan.mode,
            auth,
            post_link=(lambda _id: f"{link_base}/") if link_base else (lambda i: f"https://x.com/{account}/status/{i}"),
            speed=self.plan.speed,
            verify_credentials=self.verify_credentials if self.plan.kind != "dry-run" else None,
            # Any other Host is refused (DNS rebinding); a proxy's or the LAN's names go in
            # LIVETWEET_CONSOLE_HOSTS (comma-separated).
            allowed_hosts=allowed_hosts(host, port, settings.console_hosts),
        )
        if host not in LOOPBACK:
            self.warn(
                f"warning: the console listens on {host}, reachable from other machines: protect it "
                "with a strong LIVETWEET_CONSOLE_PASSWORD (it answers only to the Host names "
                f"{host}, localhost, 127.0.0.1 and [::1]; add others to LIVETWEET_CONSOLE_HOSTS)"
            )
        try:
            console = ConsoleServer(create_app(context), host, port).start()
        except OSError as exc:
            raise LivetweetError(
                f"{exc}: is another run using it? Choose another with --console HOST:PORT, or --no-console"
            ) from exc
        self.console = console
        self._stack.callback(self._stop_console, console)
        if self.keeper is not None:  # a standby's console is its own; `console-link` names the leader's
            service.console_serving(console.url)
        if auth.uses_token:
            self.link_token = auth.new_link_token()

    def _stop_console(self, console: ConsoleServer) -> None:
        console.stop()
        if self.keeper is not None and not self.keeper.lost and self.service.console_url() == console.url:
            with contextlib.suppress(LivetweetError):
                self.service.console_serving(None)

    # --- running ---------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self.service.store.count_drafts(event_id=self.event.id, states=[DraftState.PENDING])

    def wait(self) -> Outcome:
        """Post until the event is over, a signal stops it, or the lease is lost; then stop the
        scheduler and release the lease (a lost one is not ours to release).

        A standby first waits for the lease; a run started with --standby that loses it
        (its session ended while it was frozen) waits again instead of stopping."""
        ended, led = "stopped", not self.standby
        with self._signals_stop():
            while not self.stopped.is_set():
                ended = "stopped"
                if self.standby and not self._wait_to_lead():
                    break
                if self.stopped.is_set():  # Ctrl-C while it took over: hand the lease back at once
                    assert self.keeper is not None
                    self.keeper.release()
                    break
                led = True
                keeper, runner = self.keeper, self.runner
                assert keeper is not None
                try:
                    runner.start()
                    ended = runner.wait(on_idle=functools.partial(self.screen.idle, runner))
                finally:
                    runner.stop()
                    if ended != "lost":
                        keeper.release()
                if ended != "lost" or not self.plan.standby or self.stopped.is_set():
                    break
                self.say(f"This run stopped posting: {self.dispatcher.lost}. It waits as a standby again.")
                keeper.close()
                self.keeper, self.leadership = None, None
        counts = self.service.store.count_by_state(self.event.id)
        lost = self.dispatcher.lost if ended == "lost" else None
        return Outcome(ended, dict(counts), lost, led)

    @contextlib.contextmanager
    def _signals_stop(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM stop the run cleanly (the scheduler finishes what it started)."""

        def stop(_signum: int, _frame: FrameType | None) -> None:
            self.stopped.set()
            if self.keeper is not None and hasattr(self, "runner"):
                self.runner.stopped.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _fresh_rehearsal_store(path: str) -> None:
    """A rehearsal starts afresh, unless another rehearsal is still running on this file."""
    from .store import Store

    if Path(path).exists():
        earlier = Store(f"sqlite:///{path}")
        try:
            held = earlier.live_lease()
        finally:
            earlier.close()
        if held is not None:
            raise LivetweetError(
                f"another rehearsal is running on {path} ({held.describe(SystemClock().now())}): "
                "stop it first, or give this one its own store with --db"
            )
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
