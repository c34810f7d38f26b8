"""The `livetweet` command: a thin shell over the planning and service functions.

Exit codes: 0 all went well, 1 the files or the request are wrong (the message says
what to fix), 2 the command line itself is wrong (click's usage errors).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from . import __version__
from .check import Report, check_schedule
from .clock import Clock, RehearsalClock, SystemClock, call_timeout, parse_clock_time, show_time
from .compose import MAX_WEIGHTED_LENGTH, Post
from .config import REHEARSAL_CREDENTIALS, fresh_credentials, load_settings
from .draft import Draft, DraftError, DraftState
from .errors import LivetweetError, Problem, ScheduleError
from .inbox import SHOWN_LENGTH, Message, Poller, PollResult, shorten
from .publishers.base import Publisher, PublisherError
from .schedule import format_duration, parse_duration
from .service import MODES, InboxService, LoadReport, Service, compose_draft, operator_name
from .store import AuditEntry, Lease, Store
from .terminal import safe

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    from .dispatch import Notice, Runner


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


REHEARSAL_DB = "livetweet-rehearsal.db"


class AppContext:
    """What commands share: which store they act on (said on every use), opened only when needed."""

    def __init__(self, db_url: str | None, rehearsal: bool = False) -> None:
        if db_url and rehearsal:
            raise click.UsageError("give --db or --rehearsal, not both")
        self.db_url = f"sqlite:///{REHEARSAL_DB}" if rehearsal else db_url  # only from this command line
        self.rehearsal = rehearsal
        self._service: Service | None = None
        self.lease: Lease | None = None

    def open(self, create: bool = False, announce: bool = True) -> Service:
        """The service over the store; during a rehearsal on this store, on the rehearsal's clock.

        Only `load` creates a store: an operator's command in the wrong folder says so
        instead of acting on a new, empty one.
        """
        if self._service is None:
            settings = load_settings()
            store = Store(self.db_url or settings.database_url, create=create)
            self.lease = store.live_lease()
            rehearsal = self.lease.clock if self.lease is not None and self.lease.kind == "rehearsal" else None
            clock: Clock = RehearsalClock.from_json(rehearsal) if rehearsal else SystemClock()
            self._service = Service(store, clock, clock_is_live=self.lease is not None)
            current = click.get_current_context(silent=True)
            if announce and not (current is not None and current.params.get("as_json")):
                click.echo(_style(self.where(), dim=True))  # data (--json) stays data
        return self._service

    @property
    def service(self) -> Service:
        return self.open()

    def where(self) -> str:
        """Which store, and whether a run posts from it: the first line of every operator command."""
        assert self._service is not None
        store = self._service.store
        if self.lease is None:
            return f"store {store.display}: no `livetweet run` is posting from it now"
        zone = _event_zone_of(self._service)
        since = show_time(self.lease.since, zone) if self.lease.since else "?"
        return (
            f"store {store.display}: a {self.lease.kind} run posts from it (process {self.lease.pid} on "
            f"{self.lease.host}, since {since})"
        )

    @property
    def run_is_live(self) -> bool:
        self.open()
        return self.lease is not None


def _event_zone_of(service: Service) -> ZoneInfo:
    events = service.store.events()
    return ZoneInfo(events[0]["timezone"]) if events else ZoneInfo("UTC")


MAX_ID = 2**62  # ids past this are not ids (SQLite's integers end at 2**63)
GLOBAL_VALUE_OPTIONS = ("--db",)
GLOBAL_FLAGS = ("--rehearsal",)
COMMAND_VALUE_OPTIONS = ("--as",)


def _whole_number(text: str) -> int | None:
    """ASCII digits only (int() also takes ١ or ², which nobody types for a draft id)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None


class IdType(click.ParamType[int]):
    """A draft's or a message's id: a whole number from 1, in ASCII digits."""

    name = "id"

    def __init__(self, what: str = "draft", listing: str = "livetweet queue") -> None:
        self.what, self.listing = what, listing

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            number: int | None = value
        else:
            number = _whole_number(str(value).strip())
        if number is None or not 0 < number < MAX_ID:
            hint = f"ids are whole numbers like 12 (`{self.listing}` lists them)"
            self.fail(f'"{str(value)[:40]}" is not a {self.what} id: {hint}', param, ctx)
        return number


def _check_clock_time(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a bad --at before any work is done."""
    if value is not None:
        try:
            parse_clock_time(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param=param) from exc
    return value


DRAFT_ID = IdType()
MESSAGE_ID = IdType("message", "livetweet inbox")


class Livetweet(click.Group):
    """The command line, with global options anywhere: `livetweet queue --db URL` means
    `livetweet --db URL queue`, and `livetweet --as NAME approve 3` means `approve 3 --as NAME`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _arrange(args))


def _arrange(args: list[str]) -> list[str]:
    """Global options (--db, --rehearsal) to the front, --as after the command's name."""
    front: list[str] = []
    rest: list[str] = []
    moved_as: list[str] = []
    command_seen = False
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            rest.extend(args[i:])
            break
        name = token.split("=", 1)[0]
        takes_value = "=" not in token
        if name in GLOBAL_FLAGS:
            front.append(token)
        elif name in GLOBAL_VALUE_OPTIONS:
            front.extend(args[i : i + 2] if takes_value else [token])
            i += 1 if takes_value else 0
        elif name in COMMAND_VALUE_OPTIONS and not command_seen:
            moved_as.extend(args[i : i + 2] if takes_value else [token])
            i += 1 if takes_value else 0
        else:
            if not command_seen and not token.startswith("-"):
                command_seen = True
                rest.append(token)
                rest.extend(moved_as)
                moved_as = []
            else:
                rest.append(token)
        i += 1
    return front + rest + moved_as


class SignedArgument(click.Command):
    """A command whose argument may start with "-" (`shift -2m`), read before the options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for index, token in enumerate(args):
            if token == "--":
                break
            if len(token) > 1 and token[0] == "-" and token[1].isdigit():
                return super().parse_args(ctx, [*args[:index], *args[index + 1 :], "--", token])
        return super().parse_args(ctx, args)


@click.group(cls=Livetweet, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="livetweet")
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (default: LIVETWEET_DATABASE_URL, else sqlite:///livetweet.db here).",
)
@click.option(
    "--rehearsal",
    is_flag=True,
    help=f"Act on the rehearsal's store ({REHEARSAL_DB} here), the one `run --rehearse` uses.",
)
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, rehearsal: bool) -> None:
    """Run an organisation's X account during a live event.

    Plan the posts from a schedule and templates (check, preview), load them as
    drafts (load), and approve, edit or reject them (queue, show, approve, edit,
    reject, unapprove, history). Every command that uses a store names it first.
    """
    load_settings()  # .env, without overriding the real environment
    ctx.obj = AppContext(db_url, rehearsal)


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
        "wanted_hashtags": list(draft.wanted_hashtags),
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
    return safe(line if len(line) <= width else line[: width - 1] + "…")


@cli.command()
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
    report = service.load(schedule, mode, by=operator_name(as_name) if as_name else None, replace_edits=replace_edits)
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
        "kept": [{"id": d.id, "slot": d.slot, "why": why} for d, why in report.kept],
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
    for draft, why in report.kept:
        click.echo(_style(f"  draft {draft.id} ({draft.slot}): {why}", fg="yellow"))
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
            f"{d.id:>4}  {when:<10} {_state(d)} {rev:>3} {d.weighted_length:>3}/280  {safe(d.slot):<14} "
            f"{_first_line(d.text)}"
        )


def _draft_id(value: str) -> tuple[int, int | None]:
    """`12` or `12@3` (draft 12, revision 3)."""
    ident, _, rev = value.partition("@")
    number, revision = _whole_number(ident), _whole_number(rev) if rev else None
    if number is None or not 0 < number < MAX_ID or (rev and (revision is None or not 0 < revision < MAX_ID)):
        raise click.BadParameter(f'"{value[:40]}" is not a draft id (like 12, or 12@3 for revision 3)')
    return number, revision


@cli.command()
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@json_option
@pass_app
def show(app: AppContext, draft_id: int, as_json: bool) -> None:
    """Show one draft in full."""
    draft = app.service.show(draft_id)
    zone = app.service.zone(draft.event_id)
    if as_json:
        click.echo(json.dumps(draft_json(draft, zone), indent=2, ensure_ascii=False))
        return
    click.echo(f"Draft {draft.id}: {safe(draft.event_id)} / {safe(draft.slot)} (segment {safe(draft.segment)})")
    click.echo(f"  state     {draft.state.value}, revision {draft.revision}")
    click.echo(f"  due       {_fmt_time(draft.at, zone)}, may go out until {_fmt_time(draft.valid_until, zone)}")
    if draft.approved_by:
        click.echo(
            f"  approved  revision {draft.approved_revision} by {safe(draft.approved_by)} at "
            f"{_fmt_time(draft.approved_at, zone) if draft.approved_at else '-'}"
        )
    if draft.reply_to:
        click.echo(f"  reply to  {safe(draft.reply_to)}")
    if draft.tweet_id:
        click.echo(f"  posted    tweet {safe(draft.tweet_id)}")
    click.echo(f"  length    {draft.weighted_length}/280; hashtags {safe(' '.join(draft.hashtags)) or '-'}")
    click.echo("")
    for line in safe(draft.text, newlines=True).splitlines():
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
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@click.option("--reason", metavar="TEXT", help="Why, for the audit trail.")
@as_option
@pass_app
def reject(app: AppContext, draft_id: int, reason: str | None, as_name: str | None) -> None:
    """Reject a draft: it will not be posted."""
    by = operator_name(as_name)
    draft = app.service.reject(draft_id, by, reason)
    click.echo(f"Rejected draft {draft.id} ({draft.slot}) as {by}" + (f": {reason}" if reason else "."))


@cli.command()
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
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
    chosen_editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")  # a deliberate choice, even in a script
    if text is None and not chosen_editor and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.UsageError("give the new text with --text: there is no terminal here to open an editor in")
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
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
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
        move = safe(f"{e.from_state or '-'} -> {e.to_state or '-'}")
        reason = f"  ({safe(e.reason)})" if e.reason else ""
        click.echo(
            f"{e.at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}  {safe(e.operator):<12} {safe(e.action):<10} {move:<22} "
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


# --- live posting --------------------------------------------------------------------


def _parse_signed_duration(value: str) -> timedelta:
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    try:
        delta = parse_duration(text.lstrip("+-")[:40])
    except (OverflowError, ValueError):
        delta = None
    if delta is None or not text:
        raise click.BadParameter(f'"{value}" is not a duration: write it like +7m, -2m or +1m30s')
    return sign * delta


class _Screen:
    """What `run` shows: one line per outcome, and the next post with its countdown."""

    def __init__(self, service: Service, event_id: str, zone: ZoneInfo) -> None:
        self.service = service
        self.event_id = event_id
        self.zone = zone
        self.tty = use_colour()
        self._lock = threading.Lock()
        self._last_next: tuple[int, datetime] | None = None
        self._status_shown = False

    def _clear(self) -> None:
        if self._status_shown:
            click.echo("\r\x1b[2K", nl=False)
            self._status_shown = False

    def notice(self, report: Notice) -> None:
        colours = {
            "posted": "green",
            "failed": "red",
            "missed": "magenta",
            "halted": "red",
            "retry": "yellow",
            "unknown": "yellow",
        }
        with self._lock:
            self._clear()
            now = self.service.clock.now().astimezone(self.zone).strftime("%H:%M:%S %Z")
            what = _style(f"{report.what:<8}", fg=colours.get(report.what))
            click.echo(f"{now}  {what} {report.draft.slot} (draft {report.draft.id}): {report.detail}")

    def polled(self, result: PollResult) -> None:
        if not (result.stored or result.error):
            return
        with self._lock:
            self._clear()
            now = self.service.clock.now().astimezone(self.zone).strftime("%H:%M:%S %Z")
            if result.stored:
                click.echo(
                    f"{now}  {_style('inbox', fg='cyan'):<8} {result.stored} new direct message"
                    f"{'s' if result.stored != 1 else ''}: `livetweet inbox` shows them"
                )
            if result.error:
                later = f"; next try at {_fmt_time(result.retry_at, self.zone)}" if result.retry_at else ""
                click.echo(f"{now}  {_style('inbox', fg='yellow'):<8} {result.error}{later}")

    def idle(self, runner: Runner) -> None:
        upcoming = runner.next_due()
        paused = self.service.paused()
        with self._lock:
            if upcoming is None:
                return
            draft, due = upcoming
            key = (draft.id, due)
            wait = max((due - self.service.clock.now()).total_seconds(), 0)
            line = f"Next: {draft.slot} (draft {draft.id}) at {_fmt_time(due, self.zone)}, in {_countdown(wait)}"
            if paused:
                line += f" - posting is PAUSED by {paused['by']}"
            if self.tty:
                click.echo("\r\x1b[2K" + line, nl=False)
                self._status_shown = True
            elif key != self._last_next:
                click.echo(line)
            self._last_next = key

    def close(self) -> None:
        with self._lock:
            self._clear()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _countdown(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


@cli.command()
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
    if app.rehearsal and not rehearse:
        raise click.UsageError("--rehearsal names the rehearsal's store: add --rehearse, or this would be a live run")
    from .console.server import parse_address

    try:  # before anything is loaded or approved
        host, port = parse_address(console_at)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--console") from exc
    from .console import ConsoleAuth, ConsoleContext, create_app
    from .console.server import LOOPBACK, ConsoleServer, allowed_hosts
    from .dispatch import Dispatcher, LeaseKeeper, Runner
    from .fakex import FakeXServer
    from .publishers.dryrun import DryRunPublisher
    from .publishers.x import XPublisher

    settings = load_settings()
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
        publisher = DryRunPublisher(echo=lambda text: click.echo(_indent(f"[dry run] would post:\n{text}")))
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
    screen = _Screen(service, event.id, zone)
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
        + (f" at {speed:g}x (event clock now {_fmt_time(clock.now(), zone)})" if rehearse else "")
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
            _style(f"error: this run stopped posting: {dispatcher.lost}. Nothing more was posted from here.", err=True,
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


DEFAULT_DB = "sqlite:///livetweet.db"


def _is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _fresh_rehearsal_store(path: str) -> None:
    """A rehearsal starts afresh, unless another rehearsal is still running on this file."""
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


@cli.command()
@click.option("--reason", metavar="TEXT", help="Why, for the audit trail and the console.")
@as_option
@pass_app
def pause(app: AppContext, reason: str | None, as_name: str | None) -> None:
    """Stop posting at once: nothing more is claimed until `livetweet resume`."""
    by = operator_name(as_name)
    app.service.pause(by, reason)
    if app.run_is_live:
        click.echo(
            f"Posting is paused (by {by}). Drafts whose window closes meanwhile will be missed; "
            "`livetweet resume` goes on."
        )
    else:
        click.echo(f"Posting is paused (by {by}); no run posts from this store now, and the next `livetweet run` "
                   "will not post until `livetweet resume`.")  # fmt: skip


@cli.command()
@as_option
@pass_app
def resume(app: AppContext, as_name: str | None) -> None:
    """Go on posting after a pause (after X refused the credentials: checks them against X first)."""
    by = operator_name(as_name)
    lifted = app.service.resume(by, verify=lambda: _check_credentials(app))
    after = " (X accepts the credentials again)" if lifted.get("kind") == "credentials" else ""
    click.echo(f"Posting resumed (by {by}){after}.")


def _check_credentials(app: AppContext) -> str:
    """Ask X who we are with the credentials as they are now (`.env` read again): where the run posts."""
    settings = load_settings()
    store = app.service.store
    rehearsal = app.rehearsal or store.last_kind() == "rehearsal"  # the run now, or the last one
    credentials = dict(REHEARSAL_CREDENTIALS) if rehearsal else fresh_credentials()
    base_url = app.lease.x_api_url if app.lease is not None else settings.x_api_url
    if rehearsal and not (base_url and _is_loopback_url(base_url)):
        raise LivetweetError(
            "this is a rehearsal's store and no rehearsal is running: start it again with "
            "`livetweet run SCHEDULE --rehearse`, which checks the simulated X itself"
        )
    from .publishers.x import XPublisher

    publisher = XPublisher(credentials, base_url, 10.0)
    try:
        return publisher.check()
    finally:
        publisher.close()


def _print_moves(app: AppContext, moved: list[tuple[Draft, Draft]]) -> None:
    for before, after in moved:
        zone = app.service.zone(after.event_id)
        old, new = show_time(before.at, zone), show_time(after.at, zone)
        click.echo(f"  draft {after.id:>4} {after.slot:<16} {old} -> {new}")
    if moved and not app.run_is_live:
        click.echo("No run posts from this store now: the new times apply when `livetweet run` starts.")


@cli.command(cls=SignedArgument)
@click.argument("duration", metavar="DURATION")
@click.option("--from", "from_segment", metavar="SEGMENT", help="Only this segment and what follows.")
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def shift(app: AppContext, duration: str, from_segment: str | None, event_id: str | None, as_name: str | None) -> None:
    """Move every unposted post by DURATION (+7m later, -2m earlier), and list each move."""
    delta = _parse_signed_duration(duration)
    moved = app.service.shift(delta, operator_name(as_name), from_segment, event_id)
    where = f" from segment {from_segment} on" if from_segment else ""
    click.echo(f"Moved {len(moved)} posts{where} by {format_duration(delta)}:")
    _print_moves(app, moved)


@cli.command()
@click.argument("segment", metavar="SEGMENT")
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def cue(app: AppContext, segment: str, event_id: str | None, as_name: str | None) -> None:
    """Say "SEGMENT started now" (on the running run's clock): its posts and those after it move."""
    delta, moved = app.service.cue(segment, operator_name(as_name), event_id)
    late = "late" if delta >= timedelta(0) else "early"
    click.echo(f"Segment {segment} started {format_duration(abs(delta))} {late}: moved {len(moved)} posts:")
    _print_moves(app, moved)


@cli.command()
@click.argument("text")
@click.option(
    "--at",
    "at_text",
    metavar="HH:MM",
    callback=_check_clock_time,
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
    if at_text and now:
        raise click.UsageError("give --at or --now, not both")
    at = _event_time(app, at_text, event_id) if at_text else None
    draft, added = compose_draft(app.service, text, operator_name(as_name), at, event_id)
    zone = app.service.zone(draft.event_id)
    tags = f" (added {' '.join(added)})" if added else ""
    who = (
        "the running `livetweet run` posts it"
        if app.run_is_live
        else "no run posts from this store now: `livetweet run` posts it if started inside its window"
    )
    click.echo(f"Draft {draft.id} composed and approved{tags}: {draft.weighted_length}/280, due "
               f"{show_time(draft.at, zone)}; {who}.")  # fmt: skip


@cli.command("post-now")
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@as_option
@pass_app
def post_now(app: AppContext, draft_id: int, as_name: str | None) -> None:
    """Post a draft at once: an approved one before its time, or a missed one."""
    by = operator_name(as_name)
    draft = app.service.post_now(draft_id, by)
    zone = app.service.zone(draft.event_id)
    if app.run_is_live:
        click.echo(f"Draft {draft.id} ({draft.slot}) goes out now (decided by {by}): the running `livetweet run` "
                   "posts it within a second.")  # fmt: skip
    else:
        click.echo(
            f"Draft {draft.id} ({draft.slot}) is due now (decided by {by}), but no run posts from this store: it goes "
            f"out if `livetweet run` starts before {show_time(draft.valid_until, zone)}."
        )


# --- direct messages ---------------------------------------------------------------------


def message_json(message: Message, zone: ZoneInfo) -> dict[str, Any]:
    """An inbox item as `inbox --json` prints it (text cleaned and shortened, original kept)."""
    return {
        "id": message.id,
        "dm_id": message.dm_id,
        "sender": message.sender,
        "sender_id": message.sender_id,
        "text": shorten(message.text, SHOWN_LENGTH),
        "length": len(message.text),
        "received_at": _iso(message.received_at, zone),
        "conversation_id": message.conversation_id,
        "media_keys": list(message.media_keys),
        "state": message.state,
        "draft_id": message.draft_id,
    }


@cli.command("inbox")
@click.option("--all", "include_all", is_flag=True, help="Also messages already reshared or dismissed.")
@json_option
@pass_app
def inbox_command(app: AppContext, include_all: bool, as_json: bool) -> None:
    """Direct messages sent to the account during the event (new ones by default)."""
    messages = InboxService(app.service).messages(include_all)
    zone = _event_zone_of(app.service)
    if as_json:
        click.echo(json.dumps([message_json(m, zone) for m in messages], indent=2, ensure_ascii=False))
        return
    if not messages:
        click.echo("No new direct messages." if not include_all else "No direct messages.")
        return
    for m in messages:
        media = f"  [{len(m.media_keys)} media]" if m.media_keys else ""
        click.echo(f"{m.id:>4}  {_fmt_time(m.received_at, zone)}  @{safe(m.sender):<16} {safe(m.state):<9}{media}")
        for line in safe(shorten(m.text, 280), newlines=True).splitlines() or [""]:
            click.echo(f"      {line}")
    click.echo("Reshare one with `livetweet reshare ID`, or `livetweet dismiss ID`.")


@cli.command()
@click.argument("message_id", metavar="DM_ID", type=MESSAGE_ID)
@click.option("--at", "at_text", metavar="HH:MM", help="When to post it (event time zone, on the event's date).")
@click.option("--now", "now", is_flag=True, help="Post it as soon as it is approved (the default).")
@click.option("--text", metavar="TEXT", help="Your shortened version of the message (still credited).")
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def reshare(
    app: AppContext,
    message_id: int,
    at_text: str | None,
    now: bool,
    text: str | None,
    event_id: str | None,
    as_name: str | None,
) -> None:
    """Make a pending draft from a direct message, credited to its sender."""
    if at_text and now:
        raise click.UsageError("give --at or --now, not both")
    inbox = InboxService(app.service)
    at: datetime | None = None
    if at_text:
        at = _event_time(app, at_text, event_id)
    draft = inbox.reshare(message_id, operator_name(as_name), at, text, event_id)
    zone = app.service.zone(draft.event_id)
    click.echo(
        f"Draft {draft.id} made from message {message_id} ({draft.weighted_length}/280, segment "
        f"{draft.segment}, due {_fmt_time(draft.at, zone)}): approve it with `livetweet approve {draft.id}`."
    )


def _event_time(app: AppContext, text: str, event_id: str | None) -> datetime:
    event_id = app.service._event_id(event_id)
    event = app.service.store.event(event_id)
    assert event is not None
    zone = ZoneInfo(event["timezone"])
    try:
        hour, minute = parse_clock_time(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from exc
    return datetime.combine(
        event["starts_at"].astimezone(zone).date(), datetime.min.time().replace(hour=hour, minute=minute), tzinfo=zone
    )


@cli.command("console-link")
@json_option
@pass_app
def console_link(app: AppContext, as_json: bool) -> None:
    """Print a new console login link: it logs one browser in, once, within the hour."""
    from .console.auth import LINK_VALID, ConsoleAuth

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


@cli.command()
@click.argument("message_id", metavar="DM_ID", type=MESSAGE_ID)
@as_option
@pass_app
def dismiss(app: AppContext, message_id: int, as_name: str | None) -> None:
    """Set a direct message aside: it leaves the list of new messages."""
    InboxService(app.service).dismiss(message_id, operator_name(as_name))
    click.echo(f"Message {message_id} dismissed.")


@cli.group("fake-x", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on.")
@click.option("--account", default="UNMigNetwork", show_default=True, help="The account's username.")
@click.pass_context
def fake_x(ctx: click.Context, host: str, port: int, account: str) -> None:
    """Serve the simulated X API (for rehearsals and tests).

    Point livetweet at it with LIVETWEET_X_API_URL=http://HOST:PORT.
    """
    if ctx.invoked_subcommand is not None:
        return
    from .fakex import FakeXServer

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: the simulated X API listens on {host}, not only on this machine", err=True)
    try:
        server = FakeXServer(host, port, username=account)
    except OSError as exc:
        raise LivetweetError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    click.echo(f"Simulated X API for @{account.lstrip('@')} at {server.url} (Ctrl-C stops it).")
    click.echo(f"Its timeline: {server.url}/   Rehearse with: LIVETWEET_X_API_URL={server.url} livetweet run ...")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@fake_x.command("dm")
@click.option("--from", "sender", required=True, metavar="USERNAME", help="Who sends it.")
@click.option("--url", metavar="URL", help="The simulated X API (default LIVETWEET_X_API_URL).")
@click.argument("text")
def fake_x_dm(sender: str, url: str | None, text: str) -> None:
    """Send the account a direct message through the simulated X API."""
    import requests

    base = url or os.environ.get("LIVETWEET_X_API_URL")
    if not base:
        raise LivetweetError("where is the simulated X API? Give --url or set LIVETWEET_X_API_URL")
    try:
        response = requests.post(f"{base.rstrip('/')}/fake/dm", json={"from": sender, "text": text}, timeout=10)
    except requests.RequestException as exc:
        raise LivetweetError(f"cannot reach the simulated X API at {base}: {type(exc).__name__}") from exc
    if response.status_code != 201:
        raise LivetweetError(f"the simulated X API refused the message ({response.status_code})")
    click.echo(f"Direct message {response.json()['data']['id']} from @{sender.lstrip('@')} sent.")
