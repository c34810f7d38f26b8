"""Every page of the operator console, audited by axe-core and photographed, in Debian's Chromium.

One rehearsal (`livetweet run --rehearse` with its console) for the module, with something on
every page: a direct message in the Inbox, an approved, a rejected, an edited and a posted
draft. Its first post falls due long after the module has finished, so nothing changes while
a page is audited. Then, for each viewport (1280x800, 390x844) and colour scheme (light, dark),
one browser context visits the Login page and, logged in, Now, Queue, Compose, Inbox, Posted
and History; on each it takes a full-page screenshot (test-artifacts/console/) and runs axe-core
with the WCAG 2.0/2.1/2.2 A and AA rules. A violation of impact "serious" or "critical" fails
the test, which lists every one (id, impact, help, the first elements' selectors).

axe-core comes from npm (tests/browser_node, pinned) and reaches the page through a Playwright
route only (tests/support/browser.py): the console's own Content-Security-Policy stays on. The
module skips, saying why, when axe-core is not installed (`npm ci --prefix tests/browser_node`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from livetweet.fakes import add_dm
from livetweet.store import Store

from .support.browser import (
    ARTIFACTS,
    allow_axe,
    audit,
    axe_missing,
    blocking,
    describe,
    launch,
    log_in,
    screenshot_path as shot,
    settle,
)
from .support.cli import cli
from .support.console import CHROMIUM, PASSWORD, Console, playwright_or_skip
from .support.events import REPO
from .support.waiting import DEADLINE, wait_for

playwright_api = playwright_or_skip(allow_module_level=True)
if (why := axe_missing()) is not None:
    pytest.skip(why, allow_module_level=True)

TIMEOUT_MS = DEADLINE * 1000
SCREENSHOTS = ARTIFACTS / "console"
PAGES = {  # after logging in
    "now": "/",
    "queue": "/queue",
    "compose": "/compose",
    "inbox": "/inbox",
    "posted": "/posted",
    "history": "/history",
    "confirm": "/live/confirm?verb=shift&duration=%2B2m",  # a move in time shown before it happens
}
VIEWPORTS = {1280: 800, 390: 844}
SCHEMES = ("light", "dark")


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A rehearsal whose first post is 15 minutes away, with something on every page."""
    console = Console(tmp_path_factory.mktemp("a11y"), speed=20, start_in=900)
    try:
        db = f"sqlite:///{console.db}"

        def act(*args: str) -> None:  # as an operator types it in another terminal
            result = cli("--db", db, *args, "--as", "alice", cwd=REPO)
            assert result.returncode == 0, result.stdout + result.stderr

        add_dm(console.x.state, "speaker_one", "Skills partnerships work when employers are at the table @UNMigNetwork")
        ids = {d["slot"]: d["id"] for d in console.drafts()}
        act("approve", str(ids["announcement"]))
        act("post-now", str(ids["announcement"]))
        act("approve", str(ids["opening"]))
        act("reject", str(ids["q2"]), "--reason", "the panel changed")
        act("edit", str(ids["q1"]), "--text", "Question 1 to the panel: how do regular pathways open up? #GCM")

        store = Store(db, create=False)
        try:
            wait_for(lambda: len(store.messages()) >= 1, "the direct message to reach the inbox (the run's next poll)")
        finally:
            store.close()
        wait_for(lambda: console.draft("announcement")["state"] == "posted", "the announcement to be posted")
        yield console
    finally:
        console.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = launch(p, CHROMIUM)
        yield b
        b.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_every_page_passes_axe_and_is_photographed(room: Console, browser: Any, width: int, scheme: str) -> None:
    context = browser.new_context(viewport={"width": width, "height": VIEWPORTS[width]}, color_scheme=scheme)
    context.set_default_timeout(TIMEOUT_MS)
    allow_axe(context, room.url)
    found: list[str] = []

    def check(page: Any, name: str, path: str) -> None:
        response = page.goto(room.url + path)
        settle(page, TIMEOUT_MS)
        page.screenshot(path=str(shot(SCREENSHOTS, name, width, scheme)), full_page=True)
        where = f"{name} ({width} px, {scheme})"
        if response is None or not response.ok:
            found.append(f"{where}: GET {path} answered {response.status if response else 'nothing'}, not the page")
            return
        violations = blocking(audit(page, room.url, TIMEOUT_MS))
        if violations:
            found.append(describe(where, violations))

    try:
        page = context.new_page()
        check(page, "login", "/login")
        page.close()
        page = log_in(context, room.url, f"a11y-{width}-{scheme}", PASSWORD, TIMEOUT_MS)
        for name, path in PAGES.items():
            check(page, name, path)
    finally:
        context.close()
    assert not found, "axe-core found serious or critical violations of WCAG 2.x A/AA:\n" + "\n".join(found)


def test_the_audit_reports_what_it_should(room: Console, browser: Any) -> None:
    """The check itself: on a page given two faults it must name both, with their selectors."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    allow_axe(context, room.url)
    try:
        page = context.new_page()
        page.goto(room.url + "/login")
        settle(page, TIMEOUT_MS)
        page.evaluate(
            """() => {
                const faint = document.createElement("p");
                faint.id = "faint";
                faint.textContent = "Grey on white, too faint to read";
                faint.style.color = "#c8c8c8";  // the CSSOM: the console's CSP allows it
                faint.style.background = "#ffffff";
                const nameless = document.createElement("button");
                nameless.id = "nameless";
                document.body.append(faint, nameless);
            }"""
        )
        found = describe("login", blocking(audit(page, room.url, TIMEOUT_MS)))
    finally:
        context.close()
    assert "color-contrast [serious]" in found and "#faint" in found, found
    assert "button-name [critical]" in found and "#nameless" in found, found
