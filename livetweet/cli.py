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
from .config import load_settings
from .draft import Draft, DraftError, DraftState
from .errors import LivetweetError, Problem, ScheduleError
from .service import MODES, LoadReport, Service, operator_name
from .store import AuditEntry, Store


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


class AppContext:
    """What commands share: the database URL, and the store opened only when needed."""

    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._service: Service | None = None

    @property
    def service(self) -> Service:
        if self._service is None:
            settings = load_settings()
            self._service = Service(Store(self.db_url or settings.database_url))
        return self._service


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="livetweet")
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (default: LIVETWEET_DATABASE_URL, else sqlite:///livetweet.db here).",
)
@click.pass_context
def cli(ctx: click.Context, db_url: str | None) -> None:
    """Run an organisation's X account during a live event.

    Plan the posts from a schedule and templates (check, preview), load them as
    drafts (load), and approve, edit or reject them (queue, show, approve, edit,
    reject, unapprove, history).
    """
    load_settings()  # .env, without overriding the real environment
    ctx.obj = AppContext(db_url)


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


# --- the draft queue ---------------------------------------------------------------

pass_app = click.make_pass_decorator(AppContext)
as_option = click.option(
    "--as",
    "as_name",
    metavar="NAME",
    help="Your name for the audit trail (default: LIVETWEET_OPERATOR, else your login name).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _iso(when: datetime | None, zone: ZoneInfo) -> str | None:
    return when.astimezone(zone).isoformat() if when else None


def draft_json(draft: Draft, zone: ZoneInfo) -> dict[str, Any]:
    """A draft as `queue --json` and `show --json` print it."""
    return {
        "id": draft.id,
        "event": draft.event_id,
        "slot": draft.slot,
        "segment": draft.segment,
        "source": draft.source,
        "state": draft.state.value,
        "at": _iso(draft.at, zone),
        "valid_until": _iso(draft.valid_until, zone),
        "text": draft.text,
        "weighted_length": draft.weighted_length,
        "hashtags": list(draft.hashtags),
        "revision": draft.revision,
        "approved_revision": draft.approved_revision,
        "approved_by": draft.approved_by,
        "approved_at": _iso(draft.approved_at, zone),
        "reply_to": draft.reply_to,
        "tweet_id": draft.tweet_id,
        "posted_at": _iso(draft.posted_at, zone),
    }


def audit_json(entry: AuditEntry, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "at": _iso(entry.at, zone),
        "operator": entry.operator,
        "action": entry.action,
        "from": entry.from_state,
        "to": entry.to_state,
        "revision": entry.revision,
        "reason": entry.reason,
        "detail": entry.detail,
    }


_STATE_COLOURS = {
    "pending": "yellow",
    "approved": "green",
    "posted": "blue",
    "rejected": "red",
    "failed": "red",
    "missed": "magenta",
    "posting": "cyan",
    "withdrawn": None,
}


def _state(draft: Draft) -> str:
    return _style(f"{draft.state.value:<9}", fg=_STATE_COLOURS.get(draft.state.value))


def _first_line(text: str, width: int = 70) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@cli.command()
@schedule_argument
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="approval",
    show_default=True,
    help="approval: drafts wait for a person; auto: new drafts are approved by 'auto'.",
)
@as_option
@json_option
@pass_app
def load(app: AppContext, schedule: Path, mode: str, as_name: str | None, as_json: bool) -> None:
    """Plan a schedule into the store as drafts (loading twice creates nothing new).

    After a change to the schedule or a template, pending drafts get a new revision;
    approved and posted drafts are reported and left as they are.
    """
    report = app.service.load(schedule, mode, by=operator_name(as_name) if as_name else None)
    zone = app.service.zone(report.event_id)
    if as_json:
        click.echo(json.dumps(_load_json(report, zone), indent=2, ensure_ascii=False))
        return
    _print_load(report, app.service.store.display)


def _load_json(report: LoadReport, zone: ZoneInfo) -> dict[str, Any]:
    def ids(drafts: list[Draft]) -> list[int]:
        return [d.id for d in drafts]

    return {
        "event": report.event_id,
        "mode": report.mode,
        "created": ids(report.created),
        "revised": ids(report.revised),
        "rescheduled": ids(report.rescheduled),
        "restored": ids(report.restored),
        "withdrawn": ids(report.withdrawn),
        "auto_approved": ids(report.auto_approved),
        "untouched": [{"id": d.id, "slot": d.slot, "why": why} for d, why in report.untouched],
        "unchanged": report.unchanged,
    }


def _print_load(report: LoadReport, where: str) -> None:
    parts = [
        f"{len(report.created)} new",
        f"{len(report.revised)} revised",
        f"{len(report.rescheduled)} moved",
        f"{len(report.restored)} restored",
        f"{len(report.withdrawn)} withdrawn",
        f"{report.unchanged} unchanged",
    ]
    click.echo(f"Loaded {report.event_id} ({report.mode} mode) into {where}: {', '.join(parts)}.")
    for draft in report.revised:
        click.echo(f"  draft {draft.id} ({draft.slot}): new text, revision {draft.revision}; it needs approval")
    for draft in report.withdrawn:
        click.echo(f"  draft {draft.id} ({draft.slot}): withdrawn, its slot left the schedule")
    for draft, why in report.untouched:
        click.echo(_style(f"  draft {draft.id} ({draft.slot}) left as it is: {why}", fg="yellow"))
    if report.auto_approved:
        click.echo(f"  {len(report.auto_approved)} drafts approved automatically (auto mode)")
    if not report.auto_approved and (report.created or report.revised or report.restored):
        click.echo("Next: `livetweet queue` to see them, `livetweet approve ID` to approve.")


@cli.command()
@click.option("--state", type=click.Choice([s.value for s in DraftState]), help="Only drafts in this state.")
@click.option("--event", "event_id", metavar="ID", help="Only drafts of this event.")
@json_option
@pass_app
def queue(app: AppContext, state: str | None, event_id: str | None, as_json: bool) -> None:
    """List drafts by time, with their state, revision and length."""
    drafts = app.service.queue(DraftState(state) if state else None, event_id)
    if as_json:
        click.echo(
            json.dumps([draft_json(d, app.service.zone(d.event_id)) for d in drafts], indent=2, ensure_ascii=False)
        )
        return
    if not drafts:
        click.echo("No drafts" + (f" in state {state}" if state else "") + ". Load a schedule with `livetweet load`.")
        return
    click.echo(f"{'ID':>4}  {'TIME':<10} {'STATE':<9} {'REV':>3} {'LEN':>7}  {'SLOT':<14} TEXT")
    for d in drafts:
        when = _fmt_time(d.at, app.service.zone(d.event_id))
        rev = f"{d.revision}" + ("" if d.approved_revision in (None, d.revision) else "*")
        click.echo(
            f"{d.id:>4}  {when:<10} {_state(d)} {rev:>3} {d.weighted_length:>3}/280  {d.slot:<14} {_first_line(d.text)}"
        )


def _draft_id(value: str) -> tuple[int, int | None]:
    """`12` or `12@3` (draft 12, revision 3)."""
    ident, _, rev = value.partition("@")
    if not ident.isdigit() or (rev and not rev.isdigit()):
        raise click.BadParameter(f'"{value}" is not a draft id (like 12, or 12@3 for revision 3)')
    return int(ident), int(rev) if rev else None


@cli.command()
@click.argument("draft_id", metavar="ID", type=int)
@json_option
@pass_app
def show(app: AppContext, draft_id: int, as_json: bool) -> None:
    """Show one draft in full."""
    draft = app.service.show(draft_id)
    zone = app.service.zone(draft.event_id)
    if as_json:
        click.echo(json.dumps(draft_json(draft, zone), indent=2, ensure_ascii=False))
        return
    click.echo(f"Draft {draft.id}: {draft.event_id} / {draft.slot} (segment {draft.segment})")
    click.echo(f"  state     {draft.state.value}, revision {draft.revision}")
    click.echo(f"  due       {_fmt_time(draft.at, zone)}, may go out until {_fmt_time(draft.valid_until, zone)}")
    if draft.approved_by:
        click.echo(
            f"  approved  revision {draft.approved_revision} by {draft.approved_by} at "
            f"{_fmt_time(draft.approved_at, zone) if draft.approved_at else '-'}"
        )
    if draft.reply_to:
        click.echo(f"  reply to  {draft.reply_to}")
    if draft.tweet_id:
        click.echo(f"  posted    tweet {draft.tweet_id}")
    click.echo(f"  length    {draft.weighted_length}/280; hashtags {' '.join(draft.hashtags) or '-'}")
    click.echo("")
    for line in draft.text.splitlines():
        click.echo(f"    {line}")


@cli.command()
@click.argument("drafts", metavar="ID[@REV]...", nargs=-1, required=True)
@as_option
@pass_app
def approve(app: AppContext, drafts: tuple[str, ...], as_name: str | None) -> None:
    """Approve drafts. ID@REV approves only if REV is still the current revision."""
    by = operator_name(as_name)
    targets = [_draft_id(v) for v in drafts]
    failed = 0
    for draft_id, revision in targets:
        try:
            draft = app.service.approve(draft_id, by, revision)
        except DraftError as exc:
            failed += 1
            click.echo(_style(f"error: {exc}", err=True, fg="red"), err=True)
            continue
        zone = app.service.zone(draft.event_id)
        click.echo(
            f"Approved draft {draft.id} ({draft.slot}, revision {draft.revision}) as {by}: "
            f"due {_fmt_time(draft.at, zone)}."
        )
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("draft_id", metavar="ID", type=int)
@click.option("--reason", metavar="TEXT", help="Why, for the audit trail.")
@as_option
@pass_app
def reject(app: AppContext, draft_id: int, reason: str | None, as_name: str | None) -> None:
    """Reject a draft: it will not be posted."""
    by = operator_name(as_name)
    draft = app.service.reject(draft_id, by, reason)
    click.echo(f"Rejected draft {draft.id} ({draft.slot}) as {by}" + (f": {reason}" if reason else "."))


@cli.command()
@click.argument("draft_id", metavar="ID", type=int)
@as_option
@pass_app
def unapprove(app: AppContext, draft_id: int, as_name: str | None) -> None:
    """Hold an approved draft: it goes back to pending and will not be posted."""
    by = operator_name(as_name)
    draft = app.service.unapprove(draft_id, by)
    click.echo(f"Draft {draft.id} ({draft.slot}) is pending again (held by {by}).")


@cli.command()
@click.argument("draft", metavar="ID[@REV]")
@click.option("--text", metavar="TEXT", help="The new text (without it, $EDITOR opens).")
@as_option
@pass_app
def edit(app: AppContext, draft: str, text: str | None, as_name: str | None) -> None:
    """Change a draft's text: a new revision, which needs approval again.

    The text is checked like a template's output: 280 weighted characters, the
    required hashtags (added when missing and they fit), no duplicate of another post.
    """
    draft_id, revision = _draft_id(draft)
    by = operator_name(as_name)
    if text is None:
        current = app.service.show(draft_id)
        edited_text = click.edit(current.text + "\n", extension=".txt", require_save=True)
        if edited_text is None or edited_text.strip() == current.text.strip():
            click.echo("Edit cancelled: the text is unchanged.")
            return
        text = edited_text
    result, appended = app.service.edit(draft_id, text, by, revision)
    added = f" (added {' '.join(appended)})" if appended else ""
    click.echo(
        f"Draft {result.id} ({result.slot}) is now revision {result.revision}, "
        f"{result.weighted_length}/280{added}; it needs approval: `livetweet approve {result.id}`."
    )


@cli.command()
@click.argument("draft_id", metavar="ID", type=int)
@json_option
@pass_app
def history(app: AppContext, draft_id: int, as_json: bool) -> None:
    """The audit trail of one draft: who did what, when, to which revision."""
    entries = app.service.history(draft_id)
    zone = app.service.zone(app.service.show(draft_id).event_id)
    if as_json:
        click.echo(json.dumps([audit_json(e, zone) for e in entries], indent=2, ensure_ascii=False))
        return
    for e in entries:
        move = f"{e.from_state or '-'} -> {e.to_state or '-'}"
        reason = f"  ({e.reason})" if e.reason else ""
        click.echo(
            f"{e.at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}  {e.operator:<12} {e.action:<10} {move:<22} "
            f"rev {e.revision}{reason}"
        )


def main() -> None:
    """Entry point: turn our own errors into a clear message and exit code 1."""
    try:
        cli(standalone_mode=True)
    except ScheduleError as exc:
        for problem in exc.problems:
            if problem.severity == "error":
                _echo_problem(problem, err=True)
        click.echo("Nothing was loaded: fix the problems above (`livetweet check` lists them).", err=True)
        sys.exit(1)
    except LivetweetError as exc:
        click.echo(_style(f"error: {exc}", err=True, fg="red"), err=True)
        sys.exit(1)
