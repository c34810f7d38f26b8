"""The week before: the plan out to calendars and spreadsheets (`export`), and posts in from a sheet (`import`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import LivetweetError, Problem
from .base import AppContext, pass_app, schedule_argument, style
from .render import echo_problem

if TYPE_CHECKING:
    from ..plan.check import Report
    from ..plan.importing import SheetRow
    from ..plan.schedule import Schedule

EXPORT_FORMATS = ("ics", "csv")


def _checked(schedule: Path, read_media: bool = False) -> Report:
    """The schedule checked; its problems printed and exit 1 when it cannot be used."""
    from ..plan.check import check_schedule

    reader = None
    if read_media:
        from ..media import reencode_file

        reader = reencode_file
    report = check_schedule(schedule, read_media=reader)
    if not report.ok or report.schedule is None:
        for problem in report.errors:
            echo_problem(problem, err=True)
        click.echo(f"Nothing was exported: fix the problems above (`livetweet check {schedule}`).", err=True)
        sys.exit(1)
    return report


def _write_bytes(output: Path | None, data: bytes) -> None:
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)  # both formats are UTF-8 text
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise LivetweetError(f"{output} cannot be written: {exc.strerror or exc}") from exc


@click.command()
@schedule_argument
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True,
              help="ics: a calendar (one event per post; Outlook, Google Calendar); csv: a spreadsheet.")  # fmt: skip
@click.option(
    "--columns", type=click.Choice(("livetweet", "hootsuite", "buffer")), default="livetweet", show_default=True,
    help="With --format csv: livetweet's own columns (what `livetweet import` reads back), or those of "
    "Hootsuite's bulk composer or Buffer's bulk upload.",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write to FILE (else standard output).")  # fmt: skip
def export(schedule: Path, fmt: str, columns: str, output: Path | None) -> None:
    """Export the plan of SCHEDULE as a calendar or a spreadsheet, for colleagues and other tools.

    Every post with its time (in the event's zone) and its text as it will be posted. A cell
    that a spreadsheet could read as a formula (starting with = + - or @) gets a leading
    apostrophe; `livetweet import` takes it off again. Nothing is posted or stored.
    """
    from ..plan.exporting import calendars, plan_rows, sheet_csv

    report = _checked(schedule)
    assert report.schedule is not None
    plan = report.schedule
    zone = plan.event.timezone
    if fmt == "ics":
        try:
            made = calendars(plan, report.posts, datetime.now(UTC))
        except ImportError as exc:
            raise LivetweetError("a calendar needs the icalendar package: pip install 'livetweet[report]'") from exc
        if len(made) == 1:
            _write_bytes(output, next(iter(made.values())))
        else:  # a calendar per account: one file each
            if output is None:
                raise click.UsageError("the plan posts from several accounts: give -o FILE.ics (one file per account)")
            for account, data in made.items():
                path = output.with_name(f"{output.stem}-{account.lstrip('@')}{output.suffix or '.ics'}")
                _write_bytes(path, data)
                click.echo(f"{path}: the calendar of {account}", err=True)
        if output is not None:
            click.echo(style(f"{output}: {len(report.posts)} posts, one calendar event each ({zone}).", fg="green"))
        return
    rows = plan_rows(plan, report.posts)
    _write_bytes(output, sheet_csv(rows, columns).encode("utf-8"))
    if columns != "livetweet":
        tool = "Hootsuite" if columns == "hootsuite" else "Buffer"
        click.echo(f"Times are in the event's zone ({zone}): set the {tool} account to that time zone.", err=True)
        with_images = sum(1 for r in rows if r.media)
        if with_images:
            click.echo(f"{with_images} post(s) carry images, which {tool} takes only by URL: add them there.", err=True)
    if output is not None:
        click.echo(style(f"{output}: {len(rows)} posts in {columns}'s columns.", fg="green"))


@click.command("import")
@click.argument("sheet", metavar="POSTS.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--event", "event", metavar="EVENT",
    help="The event the posts belong to: a schedule file (its event, objectives and segments are kept, its slots "
    "replaced), or the id of an event loaded in the store. Default: the one event loaded.",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the schedule to FILE (else standard output); files are named from its folder.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON instead of the schedule's text.")
@pass_app
def import_posts(app: AppContext, sheet: Path, event: str | None, output: Path | None, as_json: bool) -> None:
    """Make a schedule whose slots are the rows of a spreadsheet (CSV, UTF-8, a header row).

    Columns: time or anchor, text or template (with vars), hashtags, media and alt_text,
    reply_to, account, and optionally id, valid_for, omit_hashtags. Every bad row is reported
    as POSTS.csv:LINE: message, and then nothing is written (exit 1). The schedule written is
    one `livetweet check` accepts; without -o, its files (templates, images) are named
    relative to the event's schedule's folder: save it there.
    """
    from ..plan.importing import MAX_BYTES, read_sheet
    from ..plan.schedule import read_schedule
    from ..plan.yamlfile import read_yaml

    source = _event_schedule(app, event)
    schedule, problems = read_schedule(source)
    if schedule is None:
        for problem in problems:
            if problem.severity == "error":
                echo_problem(problem, err=True)
        raise LivetweetError(f"the event's schedule {source} has the problems above: fix them before importing into it")
    data = _read_sheet_bytes(sheet, MAX_BYTES)
    name = _shown(sheet)
    read = read_sheet(data, name, schedule)
    if read.errors:
        _fail(read.problems, as_json, len(read.rows))
    folder = (output.parent if output is not None else source.parent).resolve()
    if any(r.written for r in read.rows) and not (schedule.templates_dir / "text.j2").is_file():
        said = f"posts written in the sheet need the template {schedule.templates_dir}/text.j2: create it with the one "
        _fail([Problem(name, 0, said + "line {{ slot.vars.text }}")], as_json, 0)
    tree, _ = read_yaml(source, str(source))
    assert tree is not None
    templates = os.path.relpath(schedule.templates_dir, folder)
    rows = list(read.rows)
    text, found = _check_import(source.read_text(encoding="utf-8-sig"), tree, rows, name, templates, folder, output)
    if found is not None:  # rows whose text differs from their template's: the sheet's text is kept
        changed, warnings = _edited_rows(rows, found, schedule, name)
        if changed:
            text, found = _check_import(
                source.read_text(encoding="utf-8-sig"), tree, changed, name, templates, folder, output
            )
        problems = warnings + (found.problems if found is not None else [])
    else:
        problems = []
    mapped = [p for p in problems if p.severity == "error"]
    if mapped:
        _fail(problems, as_json, len(rows))
    for problem in problems:
        echo_problem(problem, err=True)
    if as_json:
        click.echo(json.dumps({"ok": True, "rows": len(rows), "problems": [p.as_dict() for p in problems]}, indent=2))
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise LivetweetError(f"{output} cannot be written: {exc.strerror or exc}") from exc
        click.echo(
            style(f"{output}: {len(rows)} slots from {name}; `livetweet check {output}` accepts it.", fg="green")
        )
    elif not as_json:
        click.echo(text, nl=False)


class _Checked:
    """`check`'s findings on the new schedule, told against the sheet's lines where a row made them."""

    def __init__(self, report: Report, problems: list[Problem]) -> None:
        self.report = report
        self.problems = problems


def _check_import(
    source_text: str, tree: object, rows: list[SheetRow], name: str, templates: str, folder: Path, output: Path | None
) -> tuple[str, _Checked | None]:
    """The new schedule's text, checked as `check` would (written beside where it goes, then removed)."""
    from ..media import reencode_file
    from ..plan.check import check_schedule
    from ..plan.importing import schedule_text, sheet_line
    from ..plan.yamlfile import Node

    assert isinstance(tree, Node)
    text, spans = schedule_text(source_text, tree, rows, name, templates)
    shown = _shown(output) if output is not None else "the schedule"
    handle, temp = tempfile.mkstemp(prefix=".livetweet-import-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        report = check_schedule(Path(temp), shown, read_media=reencode_file)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    problems = []
    for p in report.problems:
        line = sheet_line(spans, p.line) if p.file == shown else None
        if line is None:
            problems.append(p)
            continue
        message = re.sub(r"shorten \S*text\.j2", "shorten the text", p.message)  # a text of the sheet, not a template
        message = re.sub(r"(line )(\d+)", lambda m: m.group(1) + str(sheet_line(spans, int(m.group(2))) or m.group(2)),
                         message)  # fmt: skip
        problems.append(Problem(name, line, message, p.severity))
    return text, _Checked(report, problems)


def _edited_rows(
    rows: list[SheetRow], checked: _Checked, schedule: Schedule, name: str
) -> tuple[list[SheetRow], list[Problem]]:
    """Rows that give a template and a text the template does not write: the sheet's text wins (a warning says so)."""
    from dataclasses import replace

    posts = {p.slot.id: p for p in checked.report.posts}
    changed = False
    out, warnings = [], []
    for row in rows:
        post = posts.get(row.id)
        if row.template is not None and row.text is not None and post is not None and post.text != row.text:
            said = f'the text differs from what template "{row.template}" writes: the text of the sheet is kept'
            warnings.append(Problem(name, row.line, said, "warning"))
            row = replace(row, template=None, vars={})
            changed = True
        out.append(row)
    return (out if changed else []), warnings


def _fail(problems: list[Problem], as_json: bool, rows: int) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        click.echo(json.dumps({"ok": False, "rows": rows, "problems": [p.as_dict() for p in problems]}, indent=2))
    else:
        for problem in problems:
            echo_problem(problem, err=True)
        n = len(errors)
        click.echo(
            f"{n} problem{'s' if n != 1 else ''}: nothing was written. Fix the sheet and import it again.", err=True
        )
    sys.exit(1)


def _read_sheet_bytes(sheet: Path, limit: int) -> bytes:
    """The sheet's bytes, its size checked before it is read."""
    shown = _shown(sheet)
    try:
        if not sheet.is_file():
            raise LivetweetError(f"{shown}: no such file" if not sheet.exists() else f"{shown} is not a file")
        size = sheet.stat().st_size
        if size > limit:
            raise LivetweetError(f"{shown} is {size / 1e6:.1f} MB: a sheet of posts is far smaller (at most 4 MB)")
        with sheet.open("rb") as f:
            return f.read(limit + 1)
    except OSError as exc:
        raise LivetweetError(f"{shown} cannot be read: {exc.strerror or exc}") from exc


def _event_schedule(app: AppContext, event: str | None) -> Path:
    """The schedule file of the event the posts join: named, or the store's (named by id, or its one event)."""
    if event is not None and (event.endswith((".yaml", ".yml")) or Path(event).is_file()):
        return Path(event)
    from ..store import StoreError

    try:
        service = app.open(announce=False)
    except StoreError as exc:
        raise LivetweetError(
            "say which event the posts are for: --event SCHEDULE.yaml (the schedule whose event and segments they "
            f"join); no store here names one ({exc})"
        ) from exc
    event_id = service.resolve_event(event)
    found = service.store.event(event_id)
    assert found is not None
    path = Path(found.schedule_path)
    if not path.is_file():
        raise LivetweetError(f'the schedule of event "{event_id}" ({path}) is no longer there: name it with --event')
    return path


def _shown(path: Path) -> str:
    from ..plan.compose import display_path

    return display_path(path)
