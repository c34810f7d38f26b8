"""`livetweet report` of a real rehearsal of the roundtable (shortened), opened in Chromium, every figure
redone from the store.

The rehearsal (`livetweet run --rehearse`, with its console, posting to the simulated X in this
process) has a shift, a cue, a missed post (never approved), a failed one (X refuses it), and a
direct message reshared; two operators approve. The test then reads the store itself and
checks each number the page shows against its own sum, not against the report's code.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livetweet.fakes import add_dm
from livetweet.fakes.metrics import public_metrics  # importing it adds GET /2/tweets to the simulated X
from livetweet.plan.tweettext import extract_urls
from livetweet.store import Store

from .support.cli import cli
from .support.console import CHROMIUM, Console, playwright_or_skip
from .support.events import REPO, X_ONLY_SCHEDULE

ARTIFACTS = REPO / "test-artifacts" / "report"
PRICES = json.loads((REPO / "livetweet" / "data" / "prices.json").read_text(encoding="utf-8"))["prices"]
OPERATORS = {"announcement": "alice", "opening": "bruno", "dm-invite": "alice", "q1": "bruno", "q2": "alice"}


@dataclass
class Rehearsal:
    """A finished rehearsal: its store, and the report made of it in every format."""

    db: Path
    folder: Path
    html: Path
    pdf: Path
    csv_text: str
    data: dict[str, Any]
    metrics_err: str
    metrics_html: Path
    x_requests: list[tuple[str, str]]


# The roundtable with its questions and closing shorter: q2 keeps its 15 minutes (the shift and the
# cue happen there), the others 5, the closing 10. The same posts, images, reply, link and moves,
# and the event is over at 14:25, not 15:10. Each segment's times are one unique pair of lines.
SHORTER = {
    '\n  end: "15:10"': '\n  end: "14:25"',  # the event's
    'posts_until: "15:10"': 'posts_until: "14:25"',
    'start: "13:40"\n    end: "13:55"': 'start: "13:40"\n    end: "13:45"',  # q1
    'start: "13:55"\n    end: "14:10"': 'start: "13:45"\n    end: "14:00"',  # q2
    'start: "14:10"\n    end: "14:25"': 'start: "14:00"\n    end: "14:05"',  # q3
    'start: "14:25"\n    end: "14:40"': 'start: "14:05"\n    end: "14:10"',  # q4
    'start: "14:40"\n    end: "14:55"': 'start: "14:10"\n    end: "14:15"',  # q5
    'start: "14:55"\n    end: "15:10"': 'start: "14:15"\n    end: "14:25"',  # closing
}


def shorter_roundtable(folder: Path) -> Path:
    """The roundtable on X with SHORTER's times, its templates and images beside it."""
    shutil.copytree(X_ONLY_SCHEDULE.parent.parent, folder, dirs_exist_ok=True)
    path = folder / "schedules" / X_ONLY_SCHEDULE.name
    text = path.read_text(encoding="utf-8")
    for old, new in SHORTER.items():
        assert text.count(old) == 1, f"test setup: {old!r} is not once in the roundtable"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def until(condition: Any, what: str, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    playwright_or_skip()
    folder = tmp_path_factory.mktemp("report")
    c = Console(folder, speed=150, start_in=15, schedule=shorter_roundtable(folder / "event"))
    db = f"sqlite:///{c.db}"

    def run(*args: str) -> str:
        out = cli("--db", db, *args, cwd=REPO)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    try:
        ids = {d["slot"]: d["id"] for d in c.drafts()}
        run("shift", "+2m", "--from", "q2", "--as", "carla")
        for slot, draft_id in ids.items():
            if slot != "materials":  # never approved: it is missed when its window closes
                run("approve", str(draft_id), "--as", OPERATORS.get(slot, "bruno"))
        add_dm(c.x.state, "@maria", "Skills portability came up three times already: a clear message from the room.")
        message = until(lambda: json.loads(run("inbox", "--json") or "[]"), "the direct message to arrive")[0]
        run("reshare", str(message["id"]), "--at", "13:05", "--as", "alice")
        reshared = next(d for d in c.drafts() if d["source"] == "dm")
        run("approve", str(reshared["id"]), "--as", "bruno")
        until(lambda: c.draft(reshared["slot"])["state"] == "posted", "the reshare to go out")
        c.x.inject_fault("400")  # X refuses the next post: the announcement fails
        until(lambda: c.draft("q2")["state"] == "posted", "q2 to go out", 240)
        run("cue", "q3", "--as", "carla")
        assert c.proc.wait(timeout=300) == 0
        env = {"LIVETWEET_X_API_URL": c.x.url}  # the simulated X is still up: the posts' metrics can be read
        html = folder / "report.html"
        run("report", "-o", str(html))
        pdf = folder / "report.pdf"
        run("report", "--format", "pdf", "-o", str(pdf))
        csv_text = run("report", "--format", "csv")
        data = json.loads(run("report", "--json"))
        metrics_html = folder / "metrics.html"
        out = cli("--db", db, "report", "--metrics", "-o", str(metrics_html), cwd=REPO, env=env)
        assert out.returncode == 0, out.stderr
        with c.x.state.lock:
            requests = list(c.x.state.requests)
    finally:
        c.stop()
    yield Rehearsal(c.db, folder, html, pdf, csv_text, data, out.stderr, metrics_html, requests)


@pytest.fixture(scope="module")
def page(rehearsal: Rehearsal) -> Iterator[Any]:
    api = playwright_or_skip()
    with api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(rehearsal.html.as_uri())
        yield tab
        browser.close()


# --- what the store says, summed here without the report's code ----------------------------------


class FromStore:
    """The store's rows and the figures a person would work out from them."""

    def __init__(self, db: Path) -> None:
        store = Store(f"sqlite:///{db}", create=False)
        try:
            event = store.events()[0]
            self.event_id = event.id
            self.drafts = [d for d in store.drafts(event_id=self.event_id) if d.state.value != "withdrawn"]
            self.audit = store.audit()
            self.revisions = {
                (d.id, r.revision): r.created_at for d in self.drafts for r in store.revisions(d.id)
            }
            self.messages = store.messages(include_all=True)
            self.segments = store.segments(self.event_id)
            self.shifts = store.shift_log(self.event_id)
        finally:
            store.close()

    def state(self, name: str) -> list[Any]:
        return [d for d in self.drafts if d.state.value == name]

    def lag(self, d: Any) -> float:
        return float((d.posted_at - d.at).total_seconds())

    def waited(self, d: Any) -> float | None:
        if d.approved_at is None:
            return None
        return max((d.approved_at - self.revisions[(d.id, d.approved_revision)]).total_seconds(), 0.0)

    def cost(self, drafts: list[Any], dms: int = 0, owned: int = 0) -> float:
        linked = sum(1 for d in drafts if extract_urls(d.text))
        images = sum(len(d.media) for d in drafts)
        return (
            (len(drafts) - linked) * PRICES["post"]["usd"]
            + linked * PRICES["post_with_url"]["usd"]
            + images * PRICES["media_metadata"]["usd"]
            + dms * PRICES["dm_read"]["usd"]
            + owned * PRICES["owned_read"]["usd"]
        )

    def figures(self) -> dict[str, str]:
        posted = self.state("posted")
        lags = [self.lag(d) for d in posted]
        schedule = [d for d in self.drafts if d.source == "schedule"]
        return {
            "count-planned": str(len(schedule)),
            "count-posted": str(len(posted)),
            "count-missed": str(len(self.state("missed"))),
            "count-failed": str(len(self.state("failed"))),
            "count-rejected": str(len(self.state("rejected"))),
            "count-unsent": str(sum(len(self.state(s)) for s in ("pending", "approved", "posting"))),
            "lag-on-time": str(sum(1 for lag in lags if abs(lag) <= 60)),
            "dm-received": str(len(self.messages)),
            "dm-reshared": str(sum(1 for m in self.messages if m.state == "reshared")),
        }


@pytest.fixture(scope="module")
def store(rehearsal: Rehearsal) -> FromStore:
    found = FromStore(rehearsal.db)
    kinds = [e.action for e in found.audit]
    assert "shift" in kinds and "cue" in kinds, "the rehearsal shifted and cued"
    assert found.state("missed") and found.state("failed"), "the rehearsal missed a post and failed one"
    assert any(m.state == "reshared" for m in found.messages), "the rehearsal reshared a direct message"
    return found


# --- the page ------------------------------------------------------------------------------------


def test_every_figure_of_the_page_equals_what_the_store_says(page: Any, store: FromStore) -> None:
    shown = {e.get_attribute("data-metric"): e.inner_text() for e in page.query_selector_all("[data-metric]")}
    for name, value in store.figures().items():
        assert shown[name] == value, name
    posted = store.state("posted")
    median = page.get_attribute("[data-metric=lag-median]", "data-value")
    assert float(median) == pytest.approx(statistics.median(store.lag(d) for d in posted), abs=1e-3)
    spent = store.cost(posted, dms=len(store.messages))
    planned = store.cost([d for d in store.drafts if d.source == "schedule"])
    assert float(page.get_attribute("[data-metric=cost-spent]", "data-value")) == pytest.approx(spent, abs=5e-5)
    assert float(page.get_attribute("[data-metric=cost-planned]", "data-value")) == pytest.approx(planned, abs=5e-5)
    assert shown["cost-spent"] == f"${spent:,.2f}"


def test_every_post_is_a_row_with_its_lag_approval_and_wait(page: Any, store: FromStore) -> None:
    rows = {int(r.get_attribute("data-draft")): r for r in page.query_selector_all("tr[data-draft]")}
    assert set(rows) == {d.id for d in store.drafts}
    for d in store.drafts:
        row, which = rows[d.id], f"draft {d.id} ({d.slot}, {d.state.value})"
        assert row.get_attribute("data-state") == d.state.value, which
        lag = row.get_attribute("data-lag")
        assert (float(lag) if lag else None) == (
            pytest.approx(store.lag(d), abs=1e-3) if d.state.value == "posted" else None
        ), which
        waited = row.get_attribute("data-waited")
        expected = store.waited(d)
        assert (float(waited) if waited else None) == (
            pytest.approx(expected, abs=1e-3) if expected is not None else None
        ), which
        assert row.get_attribute("data-approved-by") == (d.approved_by if d.approved_at else ""), which
    missed = store.state("missed")[0]
    assert missed.approved_by is None and missed.slot == "materials"


def test_missed_and_failed_posts_are_listed_with_their_reasons(page: Any, store: FromStore) -> None:
    listed = {int(r.get_attribute("data-problem")): r.inner_text() for r in page.query_selector_all("tr[data-problem]")}
    problems = store.state("missed") + store.state("failed")
    assert set(listed) == {d.id for d in problems}
    for d in problems:
        assert d.last_error and d.last_error in listed[d.id]
    failed = store.state("failed")[0]
    assert failed.slot == "announcement" and "400" in (failed.last_error or "")


def test_approvals_per_operator_are_counted_from_the_audit_trail(page: Any, store: FromStore) -> None:
    mine = {d.id for d in store.drafts}
    approvals = Counter(e.operator for e in store.audit if e.action in ("approve", "post-now") and e.draft_id in mine)
    shown = {r.get_attribute("data-approver"): int(r.get_attribute("data-approvals"))
             for r in page.query_selector_all("tr[data-approver]")}  # fmt: skip
    assert shown == dict(approvals)
    assert set(shown) == {"alice", "bruno"}


def test_shifts_and_cues_are_listed_with_the_posts_they_moved(page: Any, store: FromStore) -> None:
    rows = page.query_selector_all("tr[data-shift]")
    assert len(rows) == len(store.shifts)
    for row, shift in zip(rows, store.shifts, strict=True):
        moved = [e for e in store.audit if e.action in ("shift", "cue") and e.at == shift.at and e.draft_id]
        assert row.get_attribute("data-kind") == moved[0].action
        assert int(row.get_attribute("data-seconds")) == shift.seconds
        assert int(row.get_attribute("data-moved")) == len(moved)
    assert [r.get_attribute("data-kind") for r in rows] == ["shift", "cue"]


def test_hashtag_coverage_is_counted_per_segment(page: Any, store: FromStore) -> None:
    posted = store.state("posted")
    for segment in store.segments:
        gone = [d for d in posted if d.segment == segment.id]
        for tag in segment.hashtags:
            cell = page.query_selector(f'span[data-segment="{segment.id}"][data-hashtag="{tag}"]')
            carried = sum(1 for d in gone if tag.lower() in {t.lower() for t in d.hashtags})
            assert (int(cell.get_attribute("data-carried")), int(cell.get_attribute("data-posted"))) == (
                carried, len(gone),
            )  # fmt: skip
    assert page.query_selector('tr[data-objective^="objective 5"][data-hashtag="#RegularPathways"]')


def test_messages_and_accounts_are_reported(page: Any, store: FromStore) -> None:
    states = {int(r.get_attribute("data-message")): r.get_attribute("data-state")
              for r in page.query_selector_all("tr[data-message]")}  # fmt: skip
    assert states == {m.id: m.state for m in store.messages}
    account = page.query_selector("tr[data-account]")
    assert (account.get_attribute("data-network"), account.get_attribute("data-account")) == ("X", "@UNMigNetwork")
    assert int(account.get_attribute("data-posted")) == len(store.state("posted"))


def marks(page: Any, gid: str) -> int:
    """The markers matplotlib drew for one group: a <use> each, or a <path> each when that was shorter."""
    return len(page.query_selector_all(f'g[id="{gid}"] use, g[id="{gid}"] > path'))


def test_the_chart_is_there_with_every_post_and_mark(page: Any, store: FromStore) -> None:
    chart = page.query_selector("figure svg[role=img]")
    assert chart is not None and chart.bounding_box()["width"] > 1000
    assert marks(page, "posts-posted") == len(store.state("posted"))
    assert marks(page, "posts-missed") == len(store.state("missed"))
    assert marks(page, "posts-failed") == len(store.state("failed"))
    schedule = [d for d in store.drafts if d.source == "schedule"]
    assert marks(page, "posts-planned") == len(schedule)
    assert page.query_selector('g[id="shift-mark"]') and page.query_selector('g[id="cue-mark"]')
    assert page.query_selector('g[id="segments-run"] path') and page.query_selector('g[id="segments-planned"] path')
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-1280.png"), full_page=True)


def test_the_page_needs_no_network_and_runs_no_script(rehearsal: Rehearsal) -> None:
    text = rehearsal.html.read_text(encoding="utf-8")
    assert "<script" not in text and 'http-equiv="Content-Security-Policy" content="default-src \'none\'' in text
    assert 'src="http' not in text and 'href="http' not in text and "@import" not in text


def test_the_pdf_renders_to_pages(rehearsal: Rehearsal) -> None:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(rehearsal.pdf))
    assert len(pdf) >= 2
    image = pdf[0].render(scale=1.5).to_pil()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTIFACTS / "report-page-1.png")
    width, height = image.size
    assert width < height, "A4, upright"
    dark = sum(image.convert("L").histogram()[:128])
    assert dark > width * height * 0.005, "the page has text and a chart on it"


# --- data ----------------------------------------------------------------------------------------


def test_the_csv_has_a_row_per_post_with_the_expected_columns(rehearsal: Rehearsal, store: FromStore) -> None:
    from livetweet.report import CSV_COLUMNS

    rows = list(csv.DictReader(io.StringIO(rehearsal.csv_text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {int(r["id"]): r["state"] for r in rows} == {d.id: d.state.value for d in store.drafts}
    for r in rows:
        if r["state"] == "posted":
            d = next(x for x in store.drafts if x.id == int(r["id"]))
            assert float(r["lag_seconds"]) == pytest.approx(store.lag(d), abs=1e-3)


def test_the_json_holds_the_same_figures(rehearsal: Rehearsal, store: FromStore) -> None:
    data = rehearsal.data
    assert data["counts"]["posted"] == len(store.state("posted"))
    assert len(data["posts"]) == len(store.drafts)
    assert [s["kind"] for s in data["shifts"]] == ["shift", "cue"]
    assert data["cost"]["spent"]["usd"] == pytest.approx(
        store.cost(store.state("posted"), len(store.messages)), abs=1e-4
    )


def test_metrics_are_read_after_their_cost_is_stated(rehearsal: Rehearsal, page: Any, store: FromStore) -> None:
    posted = store.state("posted")
    n = len(posted)
    assert (
        f"Reading the metrics of {n} posts from X takes 1 call and costs about ${n * 0.001:.3f}"
        in rehearsal.metrics_err
    )
    assert ("GET /2/tweets", "200") in rehearsal.x_requests
    tab = page.context.browser.new_page()
    tab.goto(rehearsal.metrics_html.as_uri())
    likes = int(tab.inner_text("[data-metric=metrics-likes]"))
    spent = float(tab.get_attribute("[data-metric=cost-spent]", "data-value"))
    tab.close()
    assert likes == sum(public_metrics(d.tweet_id)["like_count"] for d in posted)
    assert spent == pytest.approx(store.cost(posted, len(store.messages), owned=n), abs=5e-5)


def test_a_report_of_a_store_without_the_event_says_so(tmp_path: Path) -> None:
    out = cli("--db", f"sqlite:///{tmp_path / 'none.db'}", "report", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout == ""


def test_a_pdf_needs_a_file(tmp_path: Path) -> None:
    out = cli("report", "--format", "pdf", cwd=tmp_path)
    assert out.returncode == 2 and "a PDF goes to a file: add -o report.pdf" in out.stderr


def test_help_and_queue_do_not_load_matplotlib_or_icalendar(tmp_path: Path) -> None:
    probe = (
        "import sys; from livetweet.cli import main; sys.argv = ['livetweet', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('matplotlib', 'icalendar', 'playwright')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    for args in (["--help"], ["report", "--help"], ["export", "--help"], ["queue", "--help"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, capture_output=True, text=True)
        assert out.stdout.rsplit("LOADED ", 1)[1].strip() == "[]", args


def test_the_plans_cost_is_estimated_from_the_schedule() -> None:
    from livetweet.plan.cost import daily_costs, estimate_cost
    from livetweet.plan.schedule import load_schedule

    schedule = load_schedule(X_ONLY_SCHEDULE)
    cost = estimate_cost(schedule)
    assert (cost.posts, cost.posts_with_url, cost.images) == (8, 2, 2)  # materials and closing carry a link
    assert cost.total == pytest.approx(8 * 0.015 + 2 * 0.200 + 2 * 0.005)
    assert list(daily_costs(schedule).values()) == [cost]
    assert "at X's prices of 2026-08" in cost.describe()
