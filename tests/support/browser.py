"""The console's pages in Chromium for checks that look at whole pages: an accessibility audit
with axe-core (from npm, tests/browser_node) and full-page screenshots.

axe-core is put into the page under test by the test run only, never by the console: a
Playwright route answers one same-origin URL (AXE_PATH) with the vendored file, and a script
tag loads it from there. The console's Content-Security-Policy (`script-src 'self'`, no inline
script) stays on: an inline tag (`add_script_tag(content=...)`) would be refused, and
`bypass_csp=True` would also let through inline styles the console's own CSP refuses, so the
audit and the screenshots would not see the page an operator sees.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .events import REPO

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

BROWSER_NODE = REPO / "tests" / "browser_node"
AXE = BROWSER_NODE / "node_modules" / "axe-core" / "axe.min.js"
AXE_PATH = "/__livetweet-tests__/axe.min.js"  # answered by the test's route; the console has no such URL
ARTIFACTS = REPO / "test-artifacts"
# WCAG 2.0, 2.1 and 2.2, levels A and AA (2.2 AA has the target size rule).
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa")
BLOCKING = ("serious", "critical")  # the impacts that fail the check
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def axe_missing() -> str | None:
    """Why the accessibility check cannot run here, or None."""
    if not AXE.is_file():
        how = "run `npm ci --prefix tests/browser_node` (the CI script does)"
        if shutil.which("npm") is None:
            how = "npm is not installed, so `npm ci --prefix tests/browser_node` (the CI script) could not run"
        return f"axe-core is not installed at {AXE.relative_to(REPO)}: {how}"
    return None


def launch(playwright: Playwright, chromium: str) -> Browser:
    """Debian's Chromium, headless (Playwright downloads no browser)."""
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)


def allow_axe(context: BrowserContext, origin: str) -> None:
    """Answer AXE_PATH on `origin` with the vendored axe-core, for every page of `context`."""
    source = AXE.read_bytes()

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, body=source, headers={"content-type": "text/javascript; charset=utf-8"})

    context.route(origin + AXE_PATH, fulfil)


def log_in(context: BrowserContext, origin: str, name: str, password: str, timeout_ms: float) -> Page:
    """A page of `context` logged in through the login form, as an operator does it."""
    page = context.new_page()
    page.goto(origin + "/login")
    page.get_by_label("Your name").fill(name)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: not url.split("?")[0].endswith("/login"), timeout=timeout_ms)
    return page


def settle(page: Page, timeout_ms: float) -> None:
    """Wait until the page has loaded, its styles and fonts applied (no fixed sleep)."""
    page.wait_for_load_state("load", timeout=timeout_ms)
    page.wait_for_function(
        "() => document.readyState === 'complete' && document.fonts.status === 'loaded'", timeout=timeout_ms
    )


def audit(page: Page, origin: str, timeout_ms: float) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.x A and AA on the page as it is now, each as axe reports it
    (id, impact, help, helpUrl, nodes with their target selectors)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(url=origin + AXE_PATH)
        page.wait_for_function("() => typeof window.axe === 'object'", timeout=timeout_ms)
    result: dict[str, Any] = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return {violations: r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target, impact: n.impact, summary: n.failureSummary})),
            }))};
        }""",
        list(WCAG_TAGS),
    )
    return list(result["violations"])


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(where: str, violations: list[dict[str, Any]], first: int = 3) -> str:
    """One line per violation: where, id, impact, help, how many elements and the first selectors."""
    lines = []
    for v in violations:
        targets = [" ".join(str(t) for t in n["target"]) for n in v["nodes"]]
        shown = ", ".join(targets[:first]) + (f" (+{len(targets) - first} more)" if len(targets) > first else "")
        lines.append(f"{where}: {v['id']} [{v['impact']}] {v['help']} - {len(targets)} element(s): {shown}")
    return "\n".join(lines)


def screenshot_path(folder: Path, page_name: str, width: int, scheme: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{page_name}-{width}-{scheme}.png"
