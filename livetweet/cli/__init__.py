"""The `livetweet` command: a thin shell over the service, one module per group of commands.

Commands are found by name and their module imported only when one is used, so that
`livetweet --help` and `livetweet queue` start at once (the console, the scheduler, tweepy,
SQLAlchemy and the template engine load only for the commands that need them). Errors
become exit codes here, in one place: 0 done, 1 the user's input or the world refused,
2 a usage error (click's own).
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..config import load_settings
from ..errors import LivetweetError, ScheduleError
from ..live import REHEARSAL_DB
from .base import AppContext, Livetweet, style

# name -> (module, function, one-line help shown by `livetweet --help` without importing it)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("plan", "check", "Check a schedule and its templates; list every problem with FILE:LINE."),
    "preview": ("plan", "preview", "Show every post as it would go out, with its time and length; nothing is posted."),
    "load": ("plan", "load", "Plan a schedule into the store as drafts (again: only what changed)."),
    "queue": ("drafts", "queue", "List the drafts by time, with their state."),
    "show": ("drafts", "show", "Show one draft in full."),
    "approve": ("drafts", "approve", "Approve drafts (a revision with ID@REV): they go out at their time."),
    "reject": ("drafts", "reject", "Refuse a draft for good (an edit can bring it back)."),
    "unapprove": ("drafts", "unapprove", "Put an approved draft back on hold, before it goes out."),
    "edit": ("drafts", "edit", "Change a draft's text: a new revision, which needs approval again."),
    "history": ("drafts", "history", "The audit trail of one draft: who did what, when."),
    "post-now": ("drafts", "post_now", "Post a draft at once: an approved one before its time, or a missed one."),
    "standalone": ("drafts", "standalone", "Send a reply X refused now as a post of its own (no longer a reply)."),
    "run": ("live", "run", "Post the event: load the schedule, then post approved drafts at their time."),
    "pause": ("live", "pause", "Stop posting at once: nothing more is claimed until `livetweet resume`."),
    "resume": ("live", "resume", "Go on posting after a pause."),
    "shift": ("live", "shift", "Move every unposted post by DURATION (+7m later, -2m earlier)."),
    "cue": ("live", "cue", 'Say "SEGMENT started now": its posts and those after it move.'),
    "compose": ("live", "compose", "Post a line you just heard, with the running segment's hashtags."),
    "console-link": ("live", "console_link", "Print a new console login link: it logs one browser in, once."),
    "inbox": ("messages", "inbox_command", "Direct messages sent to the account during the event."),
    "reshare": ("messages", "reshare", "Make a pending draft from a direct message, credited to its sender."),
    "dismiss": ("messages", "dismiss", "Set a direct message aside: it leaves the list of new messages."),
    "report": ("report", "report", "After the event: what went out when, approvals, misses, cost (HTML, PDF, CSV)."),
    "export": ("exchange", "export", "The plan as a calendar (ICS) or a spreadsheet (CSV; Hootsuite, Buffer)."),
    "import": ("exchange", "import_posts", "Make a schedule's slots from a spreadsheet (CSV) of posts."),
    "copy-store": ("stores", "copy_store", "Copy the store into an empty database (SQLite to PostgreSQL)."),
    "fake-x": ("fakex", "fake_x", "Serve the simulated X API (for rehearsals and tests)."),
}


class LazyLivetweet(Livetweet):
    """The root group: commands imported on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        module = importlib.import_module(f"{__name__}.{found[0]}")
        command = getattr(module, found[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands from the table: `--help` imports none of them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_m, _f, help_text) in COMMANDS.items()])


@click.group(cls=LazyLivetweet, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="livetweet")
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (default: LIVETWEET_DATABASE_URL, else sqlite:///livetweet.db here); "
    "before or after the command. A rehearsal uses only this, never the environment's.",
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
    ctx.obj = AppContext(db_url, rehearsal, load_settings())  # .env read once, without overriding the environment
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    """Entry point: turn our own errors into a clear message and exit code 1."""
    try:
        cli(standalone_mode=True)
    except ScheduleError as exc:
        from .render import echo_problem

        for problem in exc.problems:
            if problem.severity == "error":
                echo_problem(problem, err=True)
        click.echo("Nothing was loaded: fix the problems above (`livetweet check` lists them).", err=True)
        sys.exit(1)
    except LivetweetError as exc:
        click.echo(style(f"error: {exc}", err=True, fg="red"), err=True)
        sys.exit(1)
