"""On the day: run the event, and correct it live (pause, resume, shift, cue, compose)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..clock import Clock, RehearsalClock, SystemClock, call_timeout, show_time
from ..config import REHEARSAL_CREDENTIALS, fresh_credentials
from ..draft import MODES, DraftState
from ..errors import LivetweetError, ScheduleError
from ..inbox import Poller

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    from ..publishers.base import Publisher


from .base import (
    DEFAULT_DB,
    REHEARSAL_DB,
    AppContext,
    SignedArgument,
    as_option,
    check_clock_time,
    event_time,
    hm,
    json_option,
    parse_signed_duration,
    pass_app,
    schedule_argument,
    style,
    who,
)
from .render import Screen, indent, print_moves


@click.command()
@schedule_argument
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="approval",
    show_default=True,
    help="approval: only approved drafts post; auto: drafts are approved on load; dry-run: nothing is "
    "sent, every post is printed at its time.",
)
@click.option("--rehearse", is_flag=True, help="Play the event on a fast clock against the simulated X API.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0.1, max=100000),
    default=1.0,
    show_default=True,
    help="With --rehearse: how many times faster than real time the clock runs.",
)
@click.option(
    "--start-in",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="With --rehearse: seconds until the earliest post falls due.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds (of the event's time: a rehearsal at 60x waits a sixtieth) to wait for X on each call.",
)
@click.option(
    "--console",
    "console_at",
    metavar="HOST:PORT",
    default="127.0.0.1:8000",
    show_default=True,
    help="Where the operator console listens.",
)
@click.option("--no-console", is_flag=True, help="Do not serve the operator console.")
@pass_app
def run(
    app: AppContext,
    schedule: Path,
    mode: str,
    rehearse: bool,
    speed: float,
    start_in: float,
    timeout: float,
    console_at: str,
    no_console: bool,
) -> None:
    """Post the event: load the schedule, then post approved drafts at their time.

    Shows each post's outcome and the next post with its countdown; exits by itself
    when every draft is final and the event is over; Ctrl-C or SIGTERM stops it cleanly.
    Run `livetweet approve`, `edit`, `pause`... from another terminal meanwhile.
    A rehearsal always uses its own store and placeholder credentials, never `.env`'s.
    """
    from ..check import check_schedule
    from ..publishers.base import PublisherError
    from ..service import InboxService, Service
    from ..store import Store

    if app.rehearsal and not rehearse:
        raise click.UsageError("--rehearsal names the rehearsal's store: add --rehearse, or this would be a live run")
    from ..console.server import parse_address

    try:  # before anything is loaded or approved
        host, port = parse_address(console_at)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--console") from exc
    from ..console import ConsoleAuth, ConsoleContext, create_app
    from ..console.server import LOOPBACK, ConsoleServer, allowed_hosts
    from ..dispatch import Dispatcher, LeaseKeeper, Runner
    from ..fakex import FakeXServer
    from ..publishers.dryrun import DryRunPublisher
    from ..publishers.x import XPublisher

    settings = app.settings
    report = check_schedule(schedule)
    if report.schedule is None or not report.ok:
        raise ScheduleError(report.problems)
    event = report.schedule.event
    clock: Clock = SystemClock()
    rehearsal_clock: RehearsalClock | None = None
    if rehearse:
        if not report.posts:
            raise LivetweetError("the schedule has no posts to rehearse")
        earliest = min(p.slot.at for p in report.posts)
        rehearsal_clock = RehearsalClock(earliest - timedelta(seconds=start_in * speed), speed)
        clock = rehearsal_clock

    temp_dir: tempfile.TemporaryDirectory[str] | None = None
    if mode == "dry-run":
        temp_dir = tempfile.TemporaryDirectory(prefix="livetweet-dry-run-")
        db_url = f"sqlite:///{Path(temp_dir.name) / 'dry-run.db'}"
        click.echo(f"Dry run: its own store in {temp_dir.name}, deleted afterwards; nothing is sent.")
    elif rehearse:
        # Its own store, whatever LIVETWEET_DATABASE_URL or .env say: only an explicit --db (or --rehearsal).
        db_url = app.db_url or f"sqlite:///{REHEARSAL_DB}"
        if app.db_url is None:
            _fresh_rehearsal_store(REHEARSAL_DB)
        ignored = " (LIVETWEET_DATABASE_URL is not used by rehearsals)" if settings.database_url != DEFAULT_DB else ""
        click.echo(
            f"Rehearsal on its own store {db_url}{ignored}, with placeholder credentials: "
            "nothing reaches the real account."
        )
    else:
        db_url = app.db_url or settings.database_url
    service = Service(Store(db_url), clock)

    # Timeouts are in the event's time: at 60x a 10-second timeout lasts a sixth of a second.
    timeout_real = call_timeout(timeout, clock)
    fake: FakeXServer | None = None
    publisher: Publisher
    credentials_now: Callable[[], dict[str, str]] = fresh_credentials
    base_url: str | None = None
    if mode == "dry-run":
        publisher = DryRunPublisher(echo=lambda text: click.echo(indent(f"[dry run] would post:\n{text}")))
    else:
        base_url = settings.x_api_url
        if rehearse:
            credentials_now = lambda: dict(REHEARSAL_CREDENTIALS)  # noqa: E731
            if not base_url or not _is_loopback_url(base_url):
                fake = FakeXServer(clock=clock, username=event.account).start()
                base_url = fake.url
                console_host = console_at.rpartition(":")[0].strip("[]") or "127.0.0.1"
                click.echo(f"Simulated X API at {fake.url} (its timeline: {fake.page_url(console_host)}/)")
        try:
            publisher = XPublisher(credentials_now(), base_url, timeout_real, clock)
            account = publisher.check()
        except PublisherError:
            if fake:
                fake.stop()
            raise
        click.echo(f"Posting as {account}.")

    kind = "dry-run" if mode == "dry-run" else "rehearsal" if rehearse else "live"
    try:
        keeper = LeaseKeeper.take(service.store, kind, base_url)
    except LivetweetError:
        publisher.close()
        if fake:
            fake.stop()
        raise
    service.load(schedule, "approval" if mode == "approval" else "auto")
    zone = event.zone
    screen = Screen(service, event.id, zone)
    dispatcher = Dispatcher(
        service, publisher, event.id, on_notice=screen.notice, keeper=keeper, credentials=credentials_now
    )
    runner = Runner(dispatcher)
    runner.keep_alive(lambda: rehearsal_clock.to_json() if rehearsal_clock else None)
    if mode != "dry-run":
        inbox = InboxService(service)
        poll_every = timedelta(minutes=1)
        runner.poll_messages(Poller(lambda: inbox.poll(publisher), clock, poll_every), screen.polled)
    pending = service.store.count_drafts(event_id=event.id, states=[DraftState.PENDING])

    def stop(signum: int, _frame: object) -> None:
        runner.stopped.set()

    def verify_credentials() -> str:
        return XPublisher(credentials_now(), base_url, timeout_real, clock).check()

    console = None
    if not no_console:
        auth = ConsoleAuth(
            os.environ.get("LIVETWEET_CONSOLE_PASSWORD"),
            os.environ.get("LIVETWEET_CONSOLE_PASSWORD_HASH"),
            store=service.store,
        )
        link_base = fake.page_url(host) if fake else base_url
        account = event.account.lstrip("@")
        context = ConsoleContext(
            service,
            event.id,
            mode,
            auth,
            post_link=(lambda _id: f"{link_base}/") if link_base else (lambda i: f"https://x.com/{account}/status/{i}"),
            speed=speed if rehearse else 1.0,
            verify_credentials=verify_credentials if mode != "dry-run" else None,
            # Any other Host is refused (DNS rebinding); a proxy's or the LAN's names go in
            # LIVETWEET_CONSOLE_HOSTS (comma-separated).
            allowed_hosts=allowed_hosts(host, port, os.environ.get("LIVETWEET_CONSOLE_HOSTS", "").split(",")),
        )
        if host not in LOOPBACK:
            click.echo(
                f"warning: the console listens on {host}, reachable from other machines: protect it "
                "with a strong LIVETWEET_CONSOLE_PASSWORD (it answers only to the Host names "
                f"{host}, localhost, 127.0.0.1 and [::1]; add others to LIVETWEET_CONSOLE_HOSTS)",
                err=True,
            )
        try:
            console = ConsoleServer(create_app(context), host, port).start()
        except OSError as exc:
            keeper.release()
            publisher.close()
            if fake:
                fake.stop()
            raise LivetweetError(
                f"{exc}: is another run using it? Choose another with --console HOST:PORT, or --no-console"
            ) from exc
        service.console_serving(console.url)
        if auth.uses_token:
            click.echo(
                f"Console: {console.url}/login?token={auth.new_link_token()} (logs one browser in, within the hour; "
                f"`livetweet {'--rehearsal ' if app.rehearsal or (rehearse and db_url.endswith(REHEARSAL_DB)) else ''}"
                "console-link` prints another)"
            )
        else:
            click.echo(f"Console: {console.url}/ (log in with LIVETWEET_CONSOLE_PASSWORD)")
    if rehearsal_clock is not None:
        # The event's clock starts now that everything is loaded, so --start-in holds.
        rehearsal_clock.restart()
        keeper.renew(rehearsal_clock.to_json())  # operators' commands follow this clock
    where = "rehearsal" if rehearse else "live"
    click.echo(
        f"{event.title}: {len(report.posts)} posts, {mode} mode, {where}"
        + (f" at {speed:g}x (event clock now {hm(clock.now(), zone)})" if rehearse else "")
        + f"; store {service.store.display}; epoch {keeper.run.epoch}."
    )
    if mode == "approval" and pending:
        click.echo(
            f"{pending} drafts wait for approval: `livetweet approve ID` from another terminal"
            + (" (with --rehearsal)" if rehearse and db_url.endswith(REHEARSAL_DB) else "")
            + "."
        )
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    ended = "stopped"
    try:
        runner.start()
        ended = runner.wait(on_idle=lambda: screen.idle(runner))
    finally:
        runner.stop()
        screen.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if console:
            console.stop()
            with contextlib.suppress(LivetweetError):
                service.console_serving(None)
        if ended != "lost":
            keeper.release()
        publisher.close()
        if fake:
            fake.stop()
    counts = service.store.count_by_state(event.id)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    if ended == "lost":
        click.echo(
            style(f"error: this run stopped posting: {dispatcher.lost}. Nothing more was posted from here.", err=True,
                   fg="red"),
            err=True,
        )  # fmt: skip
    elif ended == "finished":
        click.echo(f"The event is over: {summary}.")
    else:
        click.echo(f"Stopped: {summary}. Approved drafts still inside their window go out when you run again.")
    service.store.close()
    if temp_dir:
        temp_dir.cleanup()
    if ended == "lost":
        sys.exit(1)


def _is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _fresh_rehearsal_store(path: str) -> None:
    """A rehearsal starts afresh, unless another rehearsal is still running on this file."""
    from ..store import Store

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


@click.command()
@click.option("--reason", metavar="TEXT", help="Why, for the audit trail and the console.")
@as_option
@pass_app
def pause(app: AppContext, reason: str | None, as_name: str | None) -> None:
    """Stop posting at once: nothing more is claimed until `livetweet resume`."""
    by = who(as_name)
    app.service.pause(by, reason)
    if app.run_is_live:
        click.echo(
            f"Posting is paused (by {by}). Drafts whose window closes meanwhile will be missed; "
            "`livetweet resume` goes on."
        )
    else:
        click.echo(f"Posting is paused (by {by}); no run posts from this store now, and the next `livetweet run` "
                   "will not post until `livetweet resume`.")  # fmt: skip


@click.command()
@as_option
@pass_app
def resume(app: AppContext, as_name: str | None) -> None:
    """Go on posting after a pause (after X refused the credentials: checks them against X first)."""
    by = who(as_name)
    lifted = app.service.resume(by, verify=lambda: _check_credentials(app))
    after = " (X accepts the credentials again)" if lifted.get("kind") == "credentials" else ""
    click.echo(f"Posting resumed (by {by}){after}.")


def _check_credentials(app: AppContext) -> str:
    """Ask X who we are with the credentials as they are now (`.env` read again): where the run posts."""
    settings = app.settings
    store = app.service.store
    rehearsal = app.rehearsal or store.last_kind() == "rehearsal"  # the run now, or the last one
    credentials = dict(REHEARSAL_CREDENTIALS) if rehearsal else fresh_credentials()
    base_url = app.lease.x_api_url if app.lease is not None else settings.x_api_url
    if rehearsal and not (base_url and _is_loopback_url(base_url)):
        raise LivetweetError(
            "this is a rehearsal's store and no rehearsal is running: start it again with "
            "`livetweet run SCHEDULE --rehearse`, which checks the simulated X itself"
        )
    from ..publishers.x import XPublisher

    publisher = XPublisher(credentials, base_url, 10.0)
    try:
        return publisher.check()
    finally:
        publisher.close()


@click.command(cls=SignedArgument)
@click.argument("duration", metavar="DURATION")
@click.option("--from", "from_segment", metavar="SEGMENT", help="Only this segment and what follows.")
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def shift(app: AppContext, duration: str, from_segment: str | None, event_id: str | None, as_name: str | None) -> None:
    """Move every unposted post by DURATION (+7m later, -2m earlier), and list each move."""
    from ..schedule import format_duration

    delta = parse_signed_duration(duration)
    moved = app.service.shift(delta, who(as_name), from_segment, event_id)
    where = f" from segment {from_segment} on" if from_segment else ""
    click.echo(f"Moved {len(moved)} posts{where} by {format_duration(delta)}:")
    print_moves(app, moved)


@click.command()
@click.argument("segment", metavar="SEGMENT")
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def cue(app: AppContext, segment: str, event_id: str | None, as_name: str | None) -> None:
    """Say "SEGMENT started now" (on the running run's clock): its posts and those after it move."""
    from ..schedule import format_duration

    delta, moved = app.service.cue(segment, who(as_name), event_id)
    late = "late" if delta >= timedelta(0) else "early"
    click.echo(f"Segment {segment} started {format_duration(abs(delta))} {late}: moved {len(moved)} posts:")
    print_moves(app, moved)


@click.command()
@click.argument("text")
@click.option(
    "--at",
    "at_text",
    metavar="HH:MM",
    callback=check_clock_time,
    help="When to post it (event time zone, on the event's date).",
)
@click.option("--now", "now", is_flag=True, help="Post it at once (the default).")
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def compose(
    app: AppContext, text: str, at_text: str | None, now: bool, event_id: str | None, as_name: str | None
) -> None:
    """Post a line you just heard: the running segment's hashtags are added, it is checked,
    audited and approved by you, and goes out now or at --at."""
    from ..service import compose_draft

    if at_text and now:
        raise click.UsageError("give --at or --now, not both")
    at = event_time(app, at_text, event_id) if at_text else None
    draft, added = compose_draft(app.service, text, who(as_name), at, event_id)
    zone = app.service.zone(draft.event_id)
    tags = f" (added {' '.join(added)})" if added else ""
    poster = (
        "the running `livetweet run` posts it"
        if app.run_is_live
        else "no run posts from this store now: `livetweet run` posts it if started inside its window"
    )
    click.echo(f"Draft {draft.id} composed and approved{tags}: {draft.weighted_length}/280, due "
               f"{show_time(draft.at, zone)}; {poster}.")  # fmt: skip


@click.command("console-link")
@json_option
@pass_app
def console_link(app: AppContext, as_json: bool) -> None:
    """Print a new console login link: it logs one browser in, once, within the hour."""
    from ..console.auth import LINK_VALID, ConsoleAuth

    token = ConsoleAuth(store=app.service.store).new_link_token()
    url = app.service.console_url()
    link = f"{url or 'http://127.0.0.1:8000'}/login?token={token}"
    minutes = int(LINK_VALID.total_seconds() // 60)
    if as_json:
        click.echo(json.dumps({"link": link, "serving": url is not None, "valid_minutes": minutes}))
        return
    click.echo(link)
    if url is None:
        click.echo(
            "No run serves the console from this store now: the link works once `livetweet run` serves it "
            f"(at the address it prints), within {minutes} minutes.",
            err=True,
        )
    else:
        click.echo(f"Open it in the browser that should log in: it works once, within {minutes} minutes.", err=True)
