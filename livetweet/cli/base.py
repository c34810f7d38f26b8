"""What every command shares: the store it acts on, its options, and colour."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ..clock import Clock, RehearsalClock, SystemClock, show_time
from ..config import Settings, load_settings
from ..errors import BadValue
from ..live import REHEARSAL_DB
from ..plan.values import parse_clock_time, parse_signed_duration as _signed

if TYPE_CHECKING:  # what commands use is imported when they run: `--help` stays instant
    from ..draft import Attachment
    from ..rows import EventRow
    from ..service import Service
    from ..snapshot import Snapshot
    from ..store import Lease


def who(as_name: str | None) -> str:
    """The operator's name for the audit trail: --as, else LIVETWEET_OPERATOR, else the login name."""
    from ..service import operator_name

    return operator_name(as_name)


if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    pass


def use_colour(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def style(text: str, err: bool = False, **kwargs: Any) -> str:
    return click.style(text, **kwargs) if use_colour(sys.stderr if err else sys.stdout) else text


def zone_option(value: str | None) -> ZoneInfo | None:
    if value is None:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f'unknown time zone "{value}": use an IANA name such as "America/New_York"') from exc


def hm(when: datetime, zone: ZoneInfo | None = None) -> str:
    local = when.astimezone(zone) if zone else when
    return local.strftime("%H:%M %Z")


class AppContext:
    """What commands share: which store they act on (said on every use), opened only when needed."""

    def __init__(self, db_url: str | None, rehearsal: bool = False, settings: Settings | None = None) -> None:
        if db_url and rehearsal:
            raise click.UsageError("give --db or --rehearsal, not both")
        self.settings = settings or load_settings()
        self.db_url = f"sqlite:///{REHEARSAL_DB}" if rehearsal else db_url  # only from this command line
        self.rehearsal = rehearsal
        self._service: Service | None = None
        self._snapshot: Snapshot | None = None
        self.lease: Lease | None = None

    def open(self, create: bool = False, announce: bool = True) -> Service:
        """The service over the store; during a rehearsal on this store, on the rehearsal's clock.

        Only `load` creates a store: an operator's command in the wrong folder says so
        instead of acting on a new, empty one.
        """
        if self._service is None:
            from ..service import Service
            from ..store import Store

            store = Store(self.db_url or self.settings.database_url, create=create)
            self.lease = store.live_lease()
            rehearsal = self.lease.clock if self.lease is not None and self.lease.kind == "rehearsal" else None
            clock: Clock = RehearsalClock.from_json(rehearsal) if rehearsal else SystemClock()
            self._service = Service(store, clock, clock_is_live=self.lease is not None)
            if announce:
                self._announce()
        return self._service

    def reads(self) -> Snapshot | Service:
        """For a command that only reads: a `Snapshot` of a SQLite store of ours (it answers without
        loading SQLAlchemy), else the service; both answer `queue`, `zone` and `accounts` alike."""
        if self._service is None and self._snapshot is None:
            from ..snapshot import Snapshot

            self._snapshot = Snapshot.open(self.db_url or self.settings.database_url)
            if self._snapshot is not None:
                self.lease = self._snapshot.live_lease()
                self._announce()
        return self._snapshot if self._snapshot is not None else self.open()

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()

    def _announce(self) -> None:
        current = click.get_current_context(silent=True)
        if not (current is not None and current.params.get("as_json")):
            click.echo(style(self.where(), dim=True))  # data (--json) stays data

    @property
    def service(self) -> Service:
        return self.open()

    def where(self) -> str:
        """Which store, and whether a run posts from it: the first line of every operator command."""
        if self._snapshot is not None:
            display, events = self._snapshot.display, self._snapshot.events
        else:
            assert self._service is not None
            display, events = self._service.store.display, self._service.store.events
        if self.lease is None:
            return f"store {display}: no `livetweet run` is posting from it now"
        zone = first_zone(events())
        since = show_time(self.lease.since, zone) if self.lease.since else "?"
        return (
            f"store {display}: a {self.lease.kind} run posts from it (process {self.lease.pid} on "
            f"{self.lease.host}, since {since})"
        )

    @property
    def run_is_live(self) -> bool:
        self.open()
        return self.lease is not None


def event_zone(service: Service) -> ZoneInfo:
    return first_zone(service.store.events())


def first_zone(events: list[EventRow]) -> ZoneInfo:
    """The zone of the store's earliest event, for times that belong to no event (UTC without one)."""
    return ZoneInfo(events[0].timezone) if events else ZoneInfo("UTC")


MAX_ID = 2**62  # ids past this are not ids (SQLite's integers end at 2**63)


GLOBAL_VALUE_OPTIONS = ("--db",)


GLOBAL_FLAGS = ("--rehearsal",)


COMMAND_VALUE_OPTIONS = ("--as", "--alt", "--to")


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


def check_clock_time(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a bad --at before any work is done."""
    if value is not None:
        try:
            parse_clock_time(value)
        except BadValue as exc:
            raise click.BadParameter(f'"{value[:40]}" {exc}', param=param) from exc
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


schedule_argument = click.argument("schedule", type=click.Path(dir_okay=False, path_type=Path))


pass_app = click.make_pass_decorator(AppContext)


as_option = click.option(
    "--as",
    "as_name",
    metavar="NAME",
    help="Your name for the audit trail (default: LIVETWEET_OPERATOR, else your login name).",
)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def parse_draft_ref(value: str) -> tuple[int, int | None]:
    """`12` or `12@3` (draft 12, revision 3)."""
    ident, _, rev = value.partition("@")
    number, revision = _whole_number(ident), _whole_number(rev) if rev else None
    if number is None or not 0 < number < MAX_ID or (rev and (revision is None or not 0 < revision < MAX_ID)):
        raise click.BadParameter(f'"{value[:40]}" is not a draft id (like 12, or 12@3 for revision 3)')
    return number, revision


def parse_signed_duration(value: str) -> timedelta:
    """A shift's DURATION as a usage error when it is not one."""
    try:
        return _signed(value)
    except BadValue as exc:
        raise click.BadParameter(f'"{value[:40]}" {exc}') from exc


def event_time(app: AppContext, text: str, event_id: str | None) -> datetime:
    event_id = app.service.resolve_event(event_id)
    event = app.service.store.event(event_id)
    assert event is not None
    zone = ZoneInfo(event.timezone)
    try:
        clock = parse_clock_time(text)
    except BadValue as exc:
        raise click.BadParameter(f'"{text[:40]}" {exc}', param_hint="--at") from exc
    return datetime.combine(event.starts_at.astimezone(zone).date(), clock, tzinfo=zone)


media_options = [
    click.option(
        "--media",
        "media_files",
        metavar="FILE",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="An image to post (JPEG, PNG, WebP or GIF; up to 4, or one GIF). Repeat for each; re-encoded, "
        "its metadata removed.",
    ),
    click.option(
        "--alt",
        "alts",
        metavar="TEXT",
        multiple=True,
        help="The alt text of the image given with the --media before it (in order): what it shows, for "
        "people who cannot see it. Required before the post can be approved.",
    ),
]


def with_media_options(command: Any) -> Any:
    """Add --media FILE and --alt TEXT (repeatable, paired in order) to a command."""
    for option in reversed(media_options):
        command = option(command)
    return command


def pair_media(media_files: tuple[Path, ...], alts: tuple[str, ...]) -> list[tuple[Path, str]]:
    """Each --media with its --alt, in order; a usage error when their numbers differ."""
    if len(media_files) != len(alts):
        raise click.UsageError(
            f"give one --alt for each --media, in order ({len(media_files)} --media, {len(alts)} --alt); "
            '--alt "" leaves an image without alt text for now (it cannot be approved until it has one)'
        )
    return list(zip(media_files, alts, strict=True))


def keep_media(app: AppContext, pairs: list[tuple[Path, str]]) -> tuple[Attachment, ...]:
    """The images, re-encoded and kept in the store: Attachments for the service (MediaError: exit 1)."""
    if not pairs:
        return ()
    from ..media import keep_file

    store = app.service.store
    return tuple(keep_file(store, None, path, str(path), alt) for path, alt in pairs)
