"""On the day: run the event, and correct it live (pause, resume, shift, cue, compose)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..clock import show_time
from ..config import REHEARSAL_CREDENTIALS, fresh_credentials
from ..draft import MODES
from ..errors import LivetweetError, ScheduleError
from ..plan.values import format_duration

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    pass


from .base import (
    AppContext,
    SignedArgument,
    as_option,
    check_clock_time,
    event_time,
    hm,
    json_option,
    keep_media,
    pair_media,
    parse_signed_duration,
    pass_app,
    schedule_argument,
    style,
    who,
    with_media_options,
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
@click.option(
    "--standby",
    is_flag=True,
    help="Wait while another run posts from the same store, and take over when it stops (on PostgreSQL a "
    "second run waits anyway). Its console works meanwhile.",
)
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
    standby: bool,
) -> None:
    """Post the event: load the schedule, then post approved drafts at their time.

    Shows each post's outcome and the next post with its countdown; exits by itself
    when every draft is final and the event is over; Ctrl-C or SIGTERM stops it cleanly.
    Run `livetweet approve`, `edit`, `pause`... from another terminal meanwhile.
    A rehearsal always uses its own store and placeholder credentials, never `.env`'s.
    A second run on the same store waits as its standby (--standby on SQLite; by itself on
    PostgreSQL) and takes over within seconds when the first stops, dies or freezes.
    """
    from ..console.server import parse_address
    from ..live import LiveRun, RunOptions, plan_run
    from ..plan.check import check_schedule

    try:  # before anything is loaded or approved
        console = None if no_console else parse_address(console_at)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--console") from exc
    if app.rehearsal and not rehearse:
        raise click.UsageError("--rehearsal names the rehearsal's store: add --rehearse, or this would be a live run")
    options = RunOptions(
        schedule, mode, rehearse, speed, start_in, timeout, console, app.db_url, app.rehearsal, standby
    )
    report = check_schedule(schedule)
    if report.schedule is None or not report.ok:
        raise ScheduleError(report.problems)
    plan = plan_run(options, app.settings, min((p.slot.at for p in report.posts), default=None))
    event = report.schedule.event
    with LiveRun(
        plan,
        schedule,
        report,
        app.settings,
        say=click.echo,
        warn=lambda text: click.echo(text, err=True),
        screen=lambda service, ev: Screen(service, ev.id, ev.zone),
        dry_run_echo=lambda text: click.echo(indent(f"[dry run] would post:\n{text}")),
    ) as live:
        if live.console is not None:
            if live.link_token:
                store_flag = "--rehearsal " if app.rehearsal or plan.on_default_rehearsal_store else ""
                click.echo(f"Console: {live.console.url}/login?token={live.link_token} (logs one browser in, within "
                           f"the hour; `livetweet {store_flag}console-link` prints another)")  # fmt: skip
            else:
                click.echo(f"Console: {live.console.url}/ (log in with LIVETWEET_CONSOLE_PASSWORD)")
        clock_note = f" at {speed:g}x (event clock now {hm(live.clock.now(), event.zone)})" if rehearse else ""
        role = "standing by" if live.keeper is None else f"epoch {live.keeper.run.epoch}"
        click.echo(f"{event.title}: {len(report.posts)} posts, {mode} mode, {'rehearsal' if rehearse else 'live'}"
                   f"{clock_note}; store {live.service.store.display}; {role}.")  # fmt: skip
        if live.keeper is None and not standby:
            click.echo("Another run posts from this store (PostgreSQL): this one waits as its standby and takes "
                       "over if it stops; Ctrl-C ends it.")  # fmt: skip
        pending = live.pending
        if mode == "approval" and pending and live.keeper is not None:
            flag = " (with --rehearsal)" if plan.on_default_rehearsal_store else ""
            click.echo(f"{pending} drafts wait for approval: `livetweet approve ID` from another terminal{flag}.")
        outcome = live.wait()
    if outcome.ended == "lost":
        message = f"error: this run stopped posting: {outcome.lost}. Nothing more was posted from here."
        click.echo(style(message, err=True, fg="red"), err=True)
        sys.exit(1)
    if outcome.ended == "finished":
        click.echo(f"The event is over: {outcome.summary}.")
    elif not outcome.led:
        click.echo(f"Standby stopped; it never posted ({outcome.summary or 'no drafts'}).")
    elif not live.service.store.is_sqlite:
        click.echo(f"Stopped: {outcome.summary}. A standby waiting on this store takes over now; "
                   "`livetweet pause` stops posting from every machine.")  # fmt: skip
    else:
        click.echo(f"Stopped: {outcome.summary}. Approved drafts still inside their window go out when you run again.")


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
    after = " (X accepts the credentials again)" if lifted.kind == "credentials" else ""
    click.echo(f"Posting resumed (by {by}){after}.")


def _check_credentials(app: AppContext) -> str:
    """Ask X who we are with the credentials as they are now (`.env` read again): where the run posts."""
    from ..live import is_loopback_url
    from ..publishers.x import XPublisher

    settings = app.settings
    store = app.service.store
    rehearsal = app.rehearsal or store.last_kind() == "rehearsal"  # the run now, or the last one
    credentials = dict(REHEARSAL_CREDENTIALS) if rehearsal else fresh_credentials()
    base_url = app.lease.x_api_url if app.lease is not None else settings.x_api_url
    if rehearsal and not (base_url and is_loopback_url(base_url)):
        raise LivetweetError(
            "this is a rehearsal's store and no rehearsal is running: start it again with "
            "`livetweet run SCHEDULE --rehearse`, which checks the simulated X itself"
        )
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
@click.option("--pending", is_flag=True, help="Save it as a pending draft, to approve later, instead of approving it.")
@with_media_options
@as_option
@pass_app
def compose(
    app: AppContext,
    text: str,
    at_text: str | None,
    now: bool,
    event_id: str | None,
    pending: bool,
    media_files: tuple[Path, ...],
    alts: tuple[str, ...],
    as_name: str | None,
) -> None:
    """Post a line you just heard: the running segment's hashtags are added, it is checked,
    audited and approved by you, and goes out now or at --at.

    --media FILE --alt TEXT (repeatable, in pairs) attaches images, each with the alt text a
    screen reader reads out."""
    from ..service import compose_draft

    if at_text and now:
        raise click.UsageError("give --at or --now, not both")
    pairs = pair_media(media_files, alts)
    at = event_time(app, at_text, event_id) if at_text else None
    media = keep_media(app, pairs)
    draft, added = compose_draft(app.service, text, who(as_name), at, event_id, approve=not pending, media=media)
    zone = app.service.zone(draft.event_id)
    tags = f" (added {' '.join(added)})" if added else ""
    images = f", with {len(media)} image{'s' if len(media) != 1 else ''}" if media else ""
    if pending:
        click.echo(f"Draft {draft.id} composed{tags}{images}: {draft.weighted_length}/280, due "
                   f"{show_time(draft.at, zone)}; it needs approval: `livetweet approve {draft.id}`.")  # fmt: skip
        return
    poster = (
        "the running `livetweet run` posts it"
        if app.run_is_live
        else "no run posts from this store now: `livetweet run` posts it if started inside its window"
    )
    click.echo(f"Draft {draft.id} composed and approved{tags}{images}: {draft.weighted_length}/280, due "
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
