"""The event's report as people and programs read it: a self-contained HTML page, PDF, CSV, JSON.

Every figure comes from `service.report.compute_report`; this module only shows them. The
page needs no network (its chart is inline SVG, drawn by matplotlib; its styles are inline;
it runs no script) and prints on A4. Each figure carries `data-metric` (and each post row
`data-draft`), so that a test can read the page back and compare it with the store. PDF is
Chromium's print of the same page, through Playwright. Matplotlib, Jinja2 and Playwright are
imported by the functions that use them: importing this module costs nothing.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .errors import LivetweetError
from .plan.exporting import safe_cell

if TYPE_CHECKING:
    from .config import Prices
    from .plan.cost import Cost
    from .service.report import EventReport, PostRow

TEMPLATES = Path(__file__).with_name("report_templates")
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
STATE_COLOURS = {
    "posted": "#1a7f37",
    "missed": "#b3261e",
    "failed": "#b3261e",
    "pending": "#8a8a8a",
    "approved": "#8a8a8a",
    "posting": "#8a8a8a",
    "rejected": "#8a8a8a",
}
PLAN_COLOUR, RUN_COLOUR, SHIFT_COLOUR, PAUSE_COLOUR = "#c9d3e0", "#9cc3e6", "#7a4fb5", "#c77700"


class ReportError(LivetweetError):
    """The report could not be made in the form asked for (a missing library, no Chromium)."""


# --- small formats, shared by the page, the CSV and the chart ------------------------------------


def clock(when: datetime | None, zone: ZoneInfo, day: datetime | None = None) -> str:
    """A time in the event's zone, to the second, with its date when it is not the event's."""
    if when is None:
        return ""
    local = when.astimezone(zone)
    shown = local.strftime("%H:%M:%S %Z")
    if day is not None and local.date() != day.astimezone(zone).date():
        shown = local.strftime("%Y-%m-%d ") + shown
    return shown


def seconds(value: float | None) -> str:
    """A duration for people: "1.4 s", "2 min 05 s", "1 h 02 min"; signed when negative."""
    if value is None:
        return ""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 60:
        return f"{sign}{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60:02d} s"
    return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} min"


def signed_minutes(value: int) -> str:
    """A shift as the operator typed it: +2m, -13m40s."""
    from .plan.values import format_duration

    return ("+" if value >= 0 else "-") + format_duration(timedelta(seconds=abs(value)))


def usd(value: float) -> str:
    return f"${value:,.2f}"


# --- the chart ---------------------------------------------------------------------------------


def chart_svg(report: EventReport) -> str:
    """The event's timeline as SVG: segments as bands (planned and as run), each post at its planned
    and actual time, shifts, cues and pauses marked, missed and failed posts marked; lag below."""
    try:
        import matplotlib
        import matplotlib.dates
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ReportError(
            "the report's chart needs matplotlib: pip install 'livetweet[report]' (or --format csv or json)"
        ) from exc
    mdates: Any = matplotlib.dates  # untyped: its calls are checked by the tests, not by mypy
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable, printable
    matplotlib.rcParams["svg.hashsalt"] = "livetweet"  # the same report draws the same file
    zone = ZoneInfo(report.timezone)
    fig = Figure(figsize=(11, 5.2))
    fig.subplots_adjust(left=0.07, right=0.99, top=0.94, bottom=0.06, hspace=0.16)  # fixed: no layout pass to pay
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    epoch = float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))

    def num(when: datetime) -> float:
        """A time as matplotlib's date number (days), without a call per point to its converter."""
        return epoch + when.timestamp() / 86400.0

    plan_y, run_y, h = 2.0, 1.0, 0.7
    day = 86400.0
    planned_bands = [
        (num(b.planned_start), (b.planned_end - b.planned_start).total_seconds() / day) for b in report.bands
    ]
    run_bands = [(num(b.start), (b.end - b.start).total_seconds() / day) for b in report.bands]
    top.broken_barh(planned_bands, (plan_y - h / 2, h), facecolors=PLAN_COLOUR, edgecolors="white",
                    gid="segments-planned")  # fmt: skip
    top.broken_barh(run_bands, (run_y - h / 2, h), facecolors=RUN_COLOUR, edgecolors="white", gid="segments-run")
    for band in report.bands:
        top.text(num(band.start + (band.end - band.start) / 2), run_y - h / 2 - 0.08, band.id, ha="center",
                 va="top", fontsize=7, color="#333333", clip_on=True)  # fmt: skip

    posts = report.posts
    planned = [p for p in posts if p.source == "schedule"]  # a reshare or a composed line had no planned time
    nan = float("nan")
    moves_x: list[float] = []
    moves_y: list[float] = []
    for p in planned:
        if p.posted_at is not None:  # one path for every move, however many posts: light to draw and to load
            moves_x += [num(p.planned_at), num(p.posted_at), nan]
            moves_y += [plan_y, run_y, nan]
    if moves_x:
        top.plot(moves_x, moves_y, color="#9a9a9a", linewidth=0.6, gid="post-moves")
    _marks(top, num, [p.planned_at for p in planned], plan_y, "o", "none", "#4a5a70", "posts-planned", "planned")
    posted = [p for p in posts if p.posted_at is not None]
    _marks(top, num, [p.posted_at for p in posted if p.posted_at], run_y, "o", STATE_COLOURS["posted"],
           STATE_COLOURS["posted"], "posts-posted", "posted")  # fmt: skip
    _marks(top, num, [p.due_at for p in report.missed], run_y, "X", STATE_COLOURS["missed"], STATE_COLOURS["missed"],
           "posts-missed", "missed", size=8)  # fmt: skip
    _marks(top, num, [p.due_at for p in report.failed], run_y, "s", "none", STATE_COLOURS["failed"], "posts-failed",
           "failed (X refused it)", size=6.5)  # fmt: skip
    waiting = [p for p in posts if p.posted_at is None and p.state.value not in ("missed", "failed")]
    _marks(top, num, [p.due_at for p in waiting], run_y, "|", "#8a8a8a", "#8a8a8a", "posts-not-sent",
           "not sent (rejected or never approved)", size=9)  # fmt: skip

    for mark in report.shifts:
        label = f"{mark.kind} {mark.segment or ''} {signed_minutes(mark.seconds)}".replace("  ", " ")
        for ax in (top, bottom):
            ax.axvline(num(mark.at), color=SHIFT_COLOUR, linestyle="--", linewidth=1, gid=f"{mark.kind}-mark")
        top.annotate(label, (num(mark.at), 2.62), fontsize=7, color=SHIFT_COLOUR, rotation=0, ha="left",
                     va="bottom", xytext=(2, 0), textcoords="offset points")  # fmt: skip
    for pause in report.pauses:
        top.axvline(num(pause.at), color=PAUSE_COLOUR, linestyle=":", linewidth=1.2, gid=f"{pause.kind}-mark")

    top.set_yticks([plan_y, run_y], ["Plan", "As run"])
    top.set_ylim(0.35, 2.95)
    top.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=5, fontsize=7, frameon=False)
    top.set_title(f"{report.title}: the plan and the event as it ran ({zone.key})", fontsize=9, loc="left")
    top.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    top.tick_params(axis="x", labelbottom=False)

    stems_x: list[float] = []
    stems_y: list[float] = []
    for p in posted:
        if p.lag_seconds is not None and p.posted_at is not None:
            x = num(p.posted_at)
            stems_x += [x, x, nan]
            stems_y += [0.0, p.lag_seconds, nan]
    if stems_x:
        bottom.plot(stems_x, stems_y, color=STATE_COLOURS["posted"], linewidth=1.2, gid="lag-bars")
    bottom.axhline(0, color="#555555", linewidth=0.6)
    bottom.set_ylabel("lag (s)", fontsize=8)
    bottom.grid(axis="both", color="#e6e6e6", linewidth=0.6)
    locator = mdates.AutoDateLocator(tz=zone, minticks=5, maxticks=14)
    locator.intervald[mdates.MINUTELY] = [5, 10, 15, 30]  # ticks on round minutes: 13:30, 13:45...
    locator.intervald[mdates.HOURLY] = [1, 2, 3, 6]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    bottom.set_xlim(num(report.first - timedelta(minutes=2)), num(report.last + timedelta(minutes=2)))
    for ax in (top, bottom):
        ax.tick_params(labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]  # no XML declaration or DOCTYPE inside an HTML page
    return re.sub(r"<svg ", '<svg role="img" aria-labelledby="chart-title" ', svg, count=1)


DENSE = 300  # posts on a row past which each is drawn as a tick, all in one path, rather than a marker each


def _marks(ax: Any, num: Any, times: Sequence[datetime], y: float, marker: str, face: str, edge: str, gid: str,
           label: str, size: float = 5) -> None:  # fmt: skip
    """One kind of post on a row of the chart: a marker each, or for many posts a tick each (one path, so that
    10,000 posts draw and load as fast as ten)."""
    if not times:
        return
    named = f"{label} ({len(times)})"
    if len(times) > DENSE:
        xs: list[float] = []
        ys: list[float] = []
        for t in times:
            x = num(t)
            xs += [x, x, float("nan")]
            ys += [y - 0.14, y + 0.14, float("nan")]
        ax.plot(xs, ys, color=edge, linewidth=0.7, gid=gid, label=named, zorder=3)
        return
    ax.plot([num(t) for t in times], [y] * len(times), linestyle="none", marker=marker, markersize=size,
            markerfacecolor=face, markeredgecolor=edge, markeredgewidth=1.2, gid=gid, label=named,
            zorder=3)  # fmt: skip


# --- the page ----------------------------------------------------------------------------------


def render_html(report: EventReport, generated_at: datetime, chart: str | None = None) -> str:
    """The report as one HTML page that needs nothing else: no network, no script, prints on A4."""
    from markupsafe import Markup  # Jinja2's, a dependency

    zone = ZoneInfo(report.timezone)
    svg = Markup(chart if chart is not None else chart_svg(report))  # matplotlib escapes the text it draws
    return str(
        _template().render(
            r=report,
            clock=lambda when: clock(when, zone, report.starts_at),
            chart=svg,
            generated=clock(generated_at, zone, report.starts_at),
            event_day=report.starts_at.astimezone(zone).strftime("%A %d %B %Y"),
            span=f"{report.starts_at.astimezone(zone):%H:%M}-{report.ends_at.astimezone(zone):%H:%M} {zone.key}",
            prices=report.spent_cost.prices,
            cost_rows=_cost_rows(report.planned_cost, report.spent_cost),
            short=_short,
        )
    )


@functools.cache
def _template() -> Any:
    """The page's template, compiled once a process (a report of 3,000 posts renders in a fraction of a second)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = seconds
    env.filters["usd"] = usd
    env.filters["signed"] = signed_minutes
    env.filters["percent"] = lambda n, d: f"{(100 * n / d):.0f}%" if d else "–"
    return env.get_template("report.html")


def _cost_rows(planned: Cost, spent: Cost) -> list[tuple[str, float, int, float, int, float]]:
    """(what, unit price, planned count, planned $, spent count, spent $) per kind of call."""
    return [
        (p.what, p.unit_usd, p.count, p.usd, s.count, s.usd)
        for p, s in zip(planned.lines, spent.lines, strict=True)
        if p.count or s.count
    ]


def _short(text: str, limit: int = 90) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def chromium_path() -> str | None:
    """The Chromium to print with: LIVETWEET_CHROMIUM, else the system's."""
    import os
    import shutil

    given = os.environ.get("LIVETWEET_CHROMIUM")
    if given:
        return given
    for path in CHROMIUM_PATHS:
        if Path(path).exists():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def html_to_pdf(html: str, path: Path, chromium: str | None = None) -> None:
    """Print the page to PDF (A4, backgrounds on) with Chromium through Playwright; downloads no browser."""
    executable = chromium or chromium_path()
    if executable is None:
        raise ReportError(
            "a PDF is printed by Chromium, and none was found: install it (apt-get install chromium) or name it "
            "in LIVETWEET_CHROMIUM; or make the HTML report (--format html) and print it from a browser"
        )
    try:
        from playwright.sync_api import Error as PlaywrightError, sync_playwright
    except ImportError as exc:
        raise ReportError(
            "a PDF needs Playwright: pip install 'livetweet[report]'; or make the HTML report and print it"
        ) from exc
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.set_content(html, wait_until="load")
                page.emulate_media(media="print")
                page.pdf(path=str(path), format="A4", print_background=True, prefer_css_page_size=True)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise ReportError(f"Chromium ({executable}) could not print the report: {str(exc).splitlines()[0]}") from exc


# --- data: CSV and JSON --------------------------------------------------------------------------

CSV_COLUMNS = (
    "id", "slot", "segment", "source", "state", "planned_at", "due_at", "posted_at", "lag_seconds",
    "approved_by", "approved_at", "waited_seconds", "reason", "tweet_id", "has_link", "images", "hashtags", "text",
    *(f"metrics_{name}" for name in ("impressions", "likes", "reposts", "replies", "quotes", "bookmarks")),
)  # fmt: skip


def render_csv(report: EventReport) -> str:
    """One row per post (every draft but the withdrawn), times in ISO 8601 with their offset."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in report.posts:
        writer.writerow(_csv_row(p))
    return out.getvalue()


def _csv_row(p: PostRow) -> list[object]:
    m = p.metrics.as_json() if p.metrics is not None else {}
    return [
        p.id, safe_cell(p.slot), safe_cell(p.segment), p.source, p.state.value, _iso(p.planned_at), _iso(p.due_at),
        _iso(p.posted_at), _number(p.lag_seconds), safe_cell(p.approved_by or ""), _iso(p.approved_at),
        _number(p.waited_seconds), safe_cell(p.reason or ""), p.tweet_id or "", "yes" if p.has_link else "no",
        p.images, safe_cell(" ".join(p.hashtags)), safe_cell(p.text),
        *(m.get(name, "") for name in ("impressions", "likes", "reposts", "replies", "quotes", "bookmarks")),
    ]  # fmt: skip


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when is not None else ""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def report_json(report: EventReport) -> dict[str, Any]:
    """The report as data: every figure of the page, times in ISO 8601 (UTC offsets kept)."""
    return {
        "event": {
            "id": report.event_id, "title": report.title, "account": report.account, "timezone": report.timezone,
            "starts_at": _iso(report.starts_at), "ends_at": _iso(report.ends_at),
        },
        "counts": report.counts,
        "lag": {
            "posted": report.lag.posted, "on_time": report.lag.on_time, "mean_seconds": report.lag.mean_seconds,
            "median_seconds": report.lag.median_seconds, "max_seconds": report.lag.max_seconds,
        },
        "segments": [
            {"id": b.id, "title": b.title, "planned_start": _iso(b.planned_start), "planned_end": _iso(b.planned_end),
             "start": _iso(b.start), "end": _iso(b.end), "hashtags": list(b.hashtags)}
            for b in report.bands
        ],
        "posts": [
            {
                "id": p.id, "slot": p.slot, "segment": p.segment, "source": p.source, "state": p.state.value,
                "planned_at": _iso(p.planned_at), "due_at": _iso(p.due_at), "posted_at": _iso(p.posted_at) or None,
                "lag_seconds": p.lag_seconds, "approved_by": p.approved_by, "approved_at": _iso(p.approved_at) or None,
                "waited_seconds": p.waited_seconds, "reason": p.reason, "tweet_id": p.tweet_id,
                "has_link": p.has_link, "images": p.images, "hashtags": list(p.hashtags), "text": p.text,
                "metrics": p.metrics.as_json() if p.metrics is not None else None,
            }
            for p in report.posts
        ],
        "shifts": [
            {"at": _iso(s.at), "by": s.by, "kind": s.kind, "seconds": s.seconds, "segment": s.segment,
             "from_planned": _iso(s.from_planned) or None, "moved": s.moved}
            for s in report.shifts
        ],
        "pauses": [{"at": _iso(p.at), "by": p.by, "kind": p.kind, "reason": p.reason} for p in report.pauses],
        "approvers": [
            {"name": a.name, "approvals": a.approvals, "median_wait_seconds": a.median_wait_seconds,
             "max_wait_seconds": a.max_wait_seconds}
            for a in report.approvers
        ],
        "hashtag_coverage": [
            {"segment": c.segment, "hashtag": c.hashtag, "objective": c.objective, "carried": c.carried,
             "posted": c.posted}
            for c in report.coverage
        ],
        "messages": [
            {"id": m.id, "sender": m.sender, "received_at": _iso(m.received_at), "state": m.state,
             "draft_id": m.draft_id, "draft_state": m.draft_state.value if m.draft_state else None}
            for m in report.messages
        ],
        "accounts": [
            {"network": a.network, "account": a.account, "planned": a.planned, "posted": a.posted}
            for a in report.accounts
        ],
        "cost": {"planned": report.planned_cost.as_json(), "spent": report.spent_cost.as_json(),
                 "prices": _prices_json(report.spent_cost.prices),
                 "budget_usd_per_day": report.budget.x_usd_per_day if report.budget is not None else None,
                 "days": [
                     {"day": d.day.isoformat(), "planned": d.planned.as_json(), "spent": d.spent.as_json(),
                      "budget_usd": d.budget_usd, "over_budget": d.over_budget}
                     for d in report.days
                 ]},
        "metrics": report.metrics_totals if report.metrics_read else None,
    }  # fmt: skip


def _prices_json(p: Prices) -> dict[str, object]:
    return {
        "as_of": p.as_of, "source": p.source, "post": p.post, "post_with_url": p.post_with_url,
        "media_metadata": p.media_metadata, "dm_read": p.dm_read, "post_read": p.post_read,
        "owned_read": p.owned_read,
    }  # fmt: skip
