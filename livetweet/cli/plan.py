"""The day before: check a schedule, preview its posts, load them as drafts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..draft import MODES

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    pass


from .base import AppContext, as_option, json_option, pass_app, schedule_argument, style, who, zone_option
from .render import echo_problem, load_json, post_json, print_load, print_preview, report_json


@click.command()
@schedule_argument
@click.option("--json", "as_json", is_flag=True, help="Print the problems and the cost as JSON.")
@pass_app
def check(app: AppContext, schedule: Path, as_json: bool) -> None:
    """Check a schedule and its templates; list every problem as FILE:LINE: message.

    With a store here (or --db), also what loading into it would do wrong (a renamed
    event). Exits 0 when the schedule can be used (warnings do not fail), 1 otherwise.
    """
    from ..media import reencode_file
    from ..plan.check import check_schedule
    from ..store import StoreError

    try:
        store = app.open(announce=False).store  # only an existing store: check creates nothing
    except StoreError:
        store = None
    report = check_schedule(schedule, store=store, read_media=reencode_file)
    if as_json:
        click.echo(json.dumps(report_json(report), indent=2, ensure_ascii=False))
        sys.exit(0 if report.ok else 1)
    for problem in report.problems:
        echo_problem(problem)
    if report.cost is not None:
        click.echo(f"{report.schedule.display_name if report.schedule else schedule}: {report.cost.describe()}")
    n_err, n_warn = len(report.errors), len(report.warnings)
    if report.ok:
        summary = f"{len(report.posts)} posts checked"
        if report.schedule is not None and len(report.schedule.accounts) > 1:
            count = sum(len(report.schedule.accounts_of(p.slot)) for p in report.posts)
            summary += f" ({count} deliveries on {len(report.schedule.accounts)} accounts)"
        summary += ": no problems"
        summary += f", {n_warn} warning{'s' if n_warn != 1 else ''} to read." if n_warn else "."
        click.echo(style(summary, fg="green"))
        return
    click.echo(
        style(
            f"{n_err} problem{'s' if n_err != 1 else ''} and {n_warn} warning{'s' if n_warn != 1 else ''}: "
            "fix the problems above, then run `livetweet check` again.",
            fg="red",
        )
    )
    sys.exit(1)


@click.command()
@schedule_argument
@click.option("--json", "as_json", is_flag=True, help="Print the posts as a JSON list.")
@click.option("--tz", "tz", metavar="ZONE", help="Also show times in this IANA time zone, e.g. America/New_York.")
def preview(schedule: Path, as_json: bool, tz: str | None) -> None:
    """Show every post of the event, in time order, exactly as it would be posted.

    Nothing is sent anywhere: this is the dry run of the whole event.
    """
    from ..media import reencode_file
    from ..plan.check import check_schedule

    zone = zone_option(tz)
    from ..service.planning import draw_card

    report = check_schedule(schedule, read_media=reencode_file, draw_card=draw_card)
    for problem in report.errors:
        echo_problem(problem, err=True)
    if report.schedule is None:
        click.echo("The schedule cannot be previewed until the problems above are fixed.", err=True)
        sys.exit(1)
    posts = sorted(report.posts, key=lambda p: (p.slot.at, p.slot.line))
    if as_json:
        schedule_read = report.schedule
        listed = [a.network for a in schedule_read.accounts] != ["x"]  # deliveries only when there is more than X
        items = [
            post_json(p, zone, schedule_read.accounts_of(p.slot) if listed else (), report.variants) for p in posts
        ]
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
    else:
        from ..plan.cost import estimate_cost

        print_preview(report, posts, zone)
        # What the plan costs on X's pay-per-use, images' alt texts included (prices dated).
        click.echo(f"Estimated cost on X: {estimate_cost(report.schedule, posts).describe()}")
    if not report.ok:
        click.echo(
            f"{len(report.errors)} problem(s) listed above: run `livetweet check {schedule}` for details.", err=True
        )
        sys.exit(1)


@click.command()
@schedule_argument
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="approval",
    show_default=True,
    help="approval: drafts wait for a person; auto: new drafts are approved by 'auto'.",
)
@click.option(
    "--replace-edits",
    is_flag=True,
    help="Take the schedule's text even for drafts whose text a person wrote (edited, composed, reshared).",
)
@as_option
@json_option
@pass_app
def load(app: AppContext, schedule: Path, mode: str, replace_edits: bool, as_name: str | None, as_json: bool) -> None:
    """Plan a schedule into the store as drafts (loading twice creates nothing new).

    After a change to the schedule or a template, pending drafts get a new revision;
    approved and posted drafts are reported and left as they are, and so is a text a
    person wrote (unless --replace-edits).
    """
    service = app.open(create=True)
    report = service.load(schedule, mode, by=who(as_name) if as_name else None, replace_edits=replace_edits)
    zone = app.service.zone(report.event_id)
    if as_json:
        click.echo(json.dumps(load_json(report, zone), indent=2, ensure_ascii=False))
        return
    print_load(report, app.service.store.display)
