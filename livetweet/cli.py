"""The `livetweet` command: a thin shell over the planning and service functions.

Exit codes: 0 all went well, 1 the files or the request are wrong (the message says
what to fix), 2 the command line itself is wrong (click's usage errors).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from . import __version__
from .check import Report, check_schedule
from .compose import MAX_WEIGHTED_LENGTH, Post
from .errors import LivetweetError, Problem


def use_colour(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def _style(text: str, err: bool = False, **kwargs: Any) -> str:
    return click.style(text, **kwargs) if use_colour(sys.stderr if err else sys.stdout) else text


def _echo_problem(problem: Problem, err: bool = False) -> None:
    colour = "yellow" if problem.severity == "warning" else "red"
    click.echo(_style(str(problem), err=err, fg=colour), err=err)


def _zone_option(value: str | None) -> ZoneInfo | None:
    if value is None:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f'unknown time zone "{value}": use an IANA name such as "America/New_York"') from exc


def _fmt_time(when: datetime, zone: ZoneInfo | None = None) -> str:
    local = when.astimezone(zone) if zone else when
    return local.strftime("%H:%M %Z")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="livetweet")
def cli() -> None:
    """Run an organisation's X account during a live event.

    Plan the posts from a schedule and templates, check them, preview them,
    and (in later versions) approve and post them on time.
    """


schedule_argument = click.argument("schedule", type=click.Path(dir_okay=False, path_type=Path))


@cli.command()
@schedule_argument
@click.option("--json", "as_json", is_flag=True, help="Print the problems and the cost as JSON.")
def check(schedule: Path, as_json: bool) -> None:
    """Check a schedule and its templates; list every problem as FILE:LINE: message.

    Exits 0 when the schedule can be used (warnings do not fail), 1 otherwise.
    """
    report = check_schedule(schedule)
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2, ensure_ascii=False))
        sys.exit(0 if report.ok else 1)
    for problem in report.problems:
        _echo_problem(problem)
    if report.cost is not None:
        click.echo(f"{report.schedule.display_name if report.schedule else schedule}: {report.cost.describe()}")
    n_err, n_warn = len(report.errors), len(report.warnings)
    if report.ok:
        summary = f"{len(report.posts)} posts checked: no problems"
        summary += f", {n_warn} warning{'s' if n_warn != 1 else ''} to read." if n_warn else "."
        click.echo(_style(summary, fg="green"))
        return
    click.echo(
        _style(
            f"{n_err} problem{'s' if n_err != 1 else ''} and {n_warn} warning{'s' if n_warn != 1 else ''}: "
            "fix the problems above, then run `livetweet check` again.",
            fg="red",
        )
    )
    sys.exit(1)


def _report_json(report: Report) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "errors": [p.as_dict() for p in report.errors],
        "warnings": [p.as_dict() for p in report.warnings],
        "posts": len(report.posts),
        "cost": None
        if report.cost is None
        else {
            "posts": report.cost.posts,
            "posts_with_url": report.cost.posts_with_url,
            "usd": round(report.cost.total, 4),
            "prices_as_of": report.cost.prices.as_of,
        },
    }


def post_json(post: Post, zone: ZoneInfo | None) -> dict[str, Any]:
    """One post as `preview --json` prints it."""
    item: dict[str, Any] = {
        "slot": post.slot.id,
        "segment": post.segment.id,
        "at": post.slot.at.isoformat(),
        "at_utc": post.slot.at.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z"),
        "valid_until": post.slot.valid_until.isoformat(),
        "template": post.slot.template,
        "text": post.text,
        "weighted_length": post.weighted_length,
        "valid": post.parsed.valid,
        "hashtags": list(post.hashtags),
        "reply_to": post.slot.reply_to,
    }
    if zone is not None:
        item["at_local"] = post.slot.at.astimezone(zone).isoformat()
    return item


@cli.command()
@schedule_argument
@click.option("--json", "as_json", is_flag=True, help="Print the posts as a JSON list.")
@click.option("--tz", "tz", metavar="ZONE", help="Also show times in this IANA time zone, e.g. America/New_York.")
def preview(schedule: Path, as_json: bool, tz: str | None) -> None:
    """Show every post of the event, in time order, exactly as it would be posted.

    Nothing is sent anywhere: this is the dry run of the whole event.
    """
    zone = _zone_option(tz)
    report = check_schedule(schedule)
    for problem in report.errors:
        _echo_problem(problem, err=True)
    if report.schedule is None:
        click.echo("The schedule cannot be previewed until the problems above are fixed.", err=True)
        sys.exit(1)
    posts = sorted(report.posts, key=lambda p: (p.slot.at, p.slot.line))
    if as_json:
        click.echo(json.dumps([post_json(p, zone) for p in posts], indent=2, ensure_ascii=False))
    else:
        _print_preview(report, posts, zone)
    if not report.ok:
        click.echo(
            f"{len(report.errors)} problem(s) listed above: run `livetweet check {schedule}` for details.", err=True
        )
        sys.exit(1)


def _print_preview(report: Report, posts: list[Post], zone: ZoneInfo | None) -> None:
    assert report.schedule is not None
    event = report.schedule.event
    click.echo(_style(f"{event.title} ({event.account})", bold=True))
    click.echo(
        f"{event.date:%A} {event.date.day} {event.date:%B %Y}, {event.start:%H:%M}-{event.end:%H:%M %Z} "
        f"({event.timezone}){'; times also in ' + str(zone) if zone else ''}"
    )
    click.echo("")
    for post in posts:
        when = _fmt_time(post.slot.at)
        if zone is not None:
            when += f" ({_fmt_time(post.slot.at, zone)})"
        length = f"{post.weighted_length}/{MAX_WEIGHTED_LENGTH}"
        length_colour = "red" if post.weighted_length > MAX_WEIGHTED_LENGTH else None
        reply = f"  reply to {post.slot.reply_to}" if post.slot.reply_to else ""
        click.echo(
            f"{_style(when, bold=True)}  {post.segment.id}  {_style(post.slot.id, fg='cyan')}  "
            f"{_style(length, fg=length_colour)}  {' '.join(post.hashtags)}{reply}"
        )
        for line in post.text.splitlines() or [""]:
            click.echo(f"    {line}")
        click.echo("")
    click.echo(
        f"{len(posts)} posts from {_fmt_time(posts[0].slot.at) if posts else '-'} "
        f"to {_fmt_time(posts[-1].slot.at) if posts else '-'}. Nothing was posted (preview)."
    )


def main() -> None:
    """Entry point: turn our own errors into a clear message and exit code 1."""
    try:
        cli(standalone_mode=True)
    except LivetweetError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
