"""After the event: `livetweet report`, what happened, as a page to send, a PDF, or data."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .base import AppContext, pass_app, style

if TYPE_CHECKING:
    from ..config import Prices
    from ..service import Service
    from ..service.report import PostMetrics, ReportData

FORMATS = ("html", "pdf", "csv", "json")


@click.command()
@click.argument("event_id", metavar="[EVENT]", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None, help="html (the default): a page to send or print; "
    "pdf: the same page printed by Chromium; csv: one row per post; json: every figure as data.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option(
    "--metrics", is_flag=True, help="Also read each post's likes, reposts, replies and views from X (X bills these "
    "reads: the cost is stated first).",
)  # fmt: skip
@click.option("-y", "--yes", is_flag=True, help="With --metrics: read them without asking first.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the report to FILE (a PDF needs one); else it goes to standard output.")  # fmt: skip
@pass_app
def report(
    app: AppContext, event_id: str | None, fmt: str | None, as_json: bool, metrics: bool, yes: bool,
    output: Path | None,
) -> None:  # fmt: skip
    """Report on an event: every post at its planned and actual time, how late it went out, who
    approved it and how long it waited, missed and failed posts and why, shifts and cues,
    hashtag coverage, direct messages, and the cost at X's prices.

    EVENT is the event's id; it may be left out when the store holds one event. The HTML page
    needs no network and prints well; send it as it is.
    """
    if as_json and fmt not in (None, "json"):
        raise click.UsageError("give --json or --format, not both")
    chosen = "json" if as_json else (fmt or "html")
    if chosen == "pdf" and output is None:
        raise click.UsageError("a PDF goes to a file: add -o report.pdf")
    service = app.open(announce=False)
    click.echo(style(app.where(), err=True, dim=True), err=True)  # to stderr: standard output is the report
    from ..config import PRICES
    from ..service.report import compute_report, objectives_of, read_report_data

    event = service.resolve_event(event_id)
    _note("reading the store...")
    data = read_report_data(service.store, event)
    read = _read_metrics(app, service, data, PRICES, yes) if metrics else None
    figures = compute_report(data, PRICES, read, objectives_of(data.event.schedule_path))
    from .. import report as render

    if chosen == "json":
        _write(output, json.dumps(render.report_json(figures), indent=2, ensure_ascii=False) + "\n")
    elif chosen == "csv":
        _write(output, render.render_csv(figures))
    else:
        _note("drawing the chart...")
        page = render.render_html(figures, datetime.now(UTC))
        if chosen == "html":
            _write(output, page)
        else:
            assert output is not None
            _note("printing the PDF with Chromium...")
            render.html_to_pdf(page, output)
    if output is not None:
        posted, planned = figures.counts["posted"], figures.counts["planned"]
        click.echo(
            style(f"{output}: the report of {event} ({posted} of {planned} planned posts went out).", fg="green")
        )


def _note(text: str) -> None:
    """Progress for the person at a terminal (never mixed into the report, never in a script's log)."""
    if sys.stderr.isatty():
        click.echo(style(text, err=True, dim=True), err=True)


def _write(output: Path | None, text: str) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        from ..errors import LivetweetError

        raise LivetweetError(f"{output} cannot be written: {exc.strerror or exc}") from exc


def _read_metrics(
    app: AppContext, service: Service, data: ReportData, prices: Prices, yes: bool
) -> dict[str, PostMetrics]:
    """X's public metrics of the event's posts, once the cost was said (and agreed on a terminal)."""
    from ..errors import LivetweetError
    from ..publishers.base import PublisherError
    from ..service.report import PostMetrics

    ids = [d.tweet_id for d in data.drafts if d.tweet_id and d.state.value == "posted"]
    if not ids:
        click.echo("No post of this event went out: there are no metrics to read.", err=True)
        return {}
    n = len(ids)
    owned, ordinary = n * prices.owned_read, n * prices.post_read
    calls = -(-n // 100)
    click.echo(
        f"Reading the metrics of {n} post{'s' if n != 1 else ''} from X takes {calls} call{'s' if calls != 1 else ''} "
        f"and costs about ${owned:.3f} ({n} reads of the account's own posts at ${prices.owned_read:.3f}; "
        f"${ordinary:.3f} if X bills them as ordinary post reads at ${prices.post_read:.3f}), at X's prices of "
        f"{prices.as_of}. Reading them again the same UTC day costs nothing more.",
        err=True,
    )
    if not yes and sys.stdin.isatty() and not click.confirm("Read them?", default=True, err=True):
        raise click.Abort()
    credentials, base_url = _where_x_is(app, service)
    from ..publishers.xmetrics import XMetricsReader

    try:
        reader = XMetricsReader(credentials, base_url)
    except PublisherError as exc:
        raise LivetweetError(str(exc)) from exc
    try:
        found = reader.read(ids)
    except PublisherError as exc:
        raise LivetweetError(f"{exc}: the report was not made (leave out --metrics to make it without)") from exc
    finally:
        reader.close()
    return {
        tweet_id: PostMetrics(
            impressions=m["impression_count"],
            likes=m["like_count"],
            reposts=m["retweet_count"],
            replies=m["reply_count"],
            quotes=m["quote_count"],
            bookmarks=m["bookmark_count"],
        )
        for tweet_id, m in found.items()
    }


def _where_x_is(app: AppContext, service: Service) -> tuple[dict[str, str], str | None]:
    """The credentials and the address to read from: X itself, or the simulated X of a rehearsal."""
    from ..config import REHEARSAL_CREDENTIALS
    from ..errors import LivetweetError

    store = service.store
    base_url = app.settings.x_api_url or (app.lease.x_api_url if app.lease is not None else None)
    if app.rehearsal or store.last_kind() == "rehearsal":
        if not base_url:
            raise LivetweetError(
                "this store is a rehearsal's: its posts are on the simulated X, which runs only with the rehearsal. "
                "Make the report while it runs, or point LIVETWEET_X_API_URL at a simulated X (`livetweet fake-x`)"
            )
        credentials = app.settings.x_credentials
        return (credentials if len(credentials) == 4 else dict(REHEARSAL_CREDENTIALS)), base_url
    return app.settings.x_credentials, base_url
