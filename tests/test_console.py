"""The operator console in a real headless Chromium (Debian's), driven by Playwright.

Each test starts a real `livetweet run --rehearse` with its console, against a simulated X
API in the test process, and logs in through the login form like an operator would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from livetweet.console.auth import ConsoleAuth
from livetweet.fakes import add_dm
from livetweet.plan.compose import tag_text
from livetweet.plan.normal import normal_text
from livetweet.plan.tweettext import parse_tweet
from livetweet.store import Store

from .support.console import CHROMIUM, PASSWORD, Console, close_pages, playwright_or_skip
from .support.events import REPO, shared_testdata
from .support.waiting import DEADLINE, wait_for

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
PAGES = {
    "now": "/",
    "queue": "/queue",
    "compose": "/compose",
    "inbox": "/inbox",
    "posted": "/posted",
    "history": "/history",
}

playwright_api = playwright_or_skip(allow_module_level=True)
expect = playwright_api.expect
# What a page must come to show (a post, a message, another operator's change) it may take its
# time to show on a loaded machine: every expectation waits up to the generous deadline.
expect.set_options(timeout=DEADLINE * 1000)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def console(tmp_path: Path, browser: object) -> Iterator[Console]:
    c = Console(tmp_path, speed=20, start_in=12)
    yield c
    close_pages(browser)
    c.stop()


def login(browser: object, console: Console, name: str = "alice", width: int = 1280) -> object:
    context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(console.url + "/login")
    page.get_by_label("Your name").fill(name)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Queue")).to_be_visible()
    return page


def draft_card(page: object, draft_id: int) -> object:
    return page.locator(f"[data-draft-id='{draft_id}']").first  # type: ignore[attr-defined]


def test_every_page_is_refused_without_login(console: Console, browser: object) -> None:
    for path in [*PAGES.values(), "/events"]:
        response = requests.get(console.url + path, allow_redirects=False, timeout=10)
        assert response.status_code in (303, 401), path
        if response.status_code == 303:
            assert response.headers["location"] == "/login"
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(console.url + "/queue")
    assert page.url.endswith("/login")
    assert page.locator("[data-draft-id]").count() == 0
    page.close()


def test_a_wrong_password_is_refused(console: Console, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(console.url + "/login")
    page.get_by_label("Your name").fill("mallory")
    page.locator("input[name=password]").fill("guess")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong password or token")
    page.close()


def test_log_in_approve_a_draft_and_see_it_posted(console: Console, browser: object) -> None:
    page = login(browser, console)
    page.goto(console.url + "/queue?show=all")  # type: ignore[attr-defined]  # posted cards leave "upcoming"
    announcement = console.draft("announcement")["id"]
    card = draft_card(page, announcement)
    card.get_by_role("button", name="Approve").click()  # type: ignore[attr-defined]
    # Approved, or already on its way: it is due, and on a busy machine the run claimed it before the
    # page showed "approved" (beside a second copy of the suite the card went from posting to posted).
    expect(draft_card(page, announcement).locator(".state")).to_have_text(re.compile("^(approved|posting|posted)$"))
    # The run posts it at its time; the page follows by itself (Server-Sent Events).
    expect(draft_card(page, announcement).locator(".state")).to_have_text("posted")
    assert [t.text for t in console.x.posts()] == [console.draft("announcement")["text"]]
    history = console.drafts()
    assert next(d for d in history if d["slot"] == "announcement")["approved_by"] == "alice"


def test_edit_a_draft_and_watch_the_counter(console: Console, browser: object) -> None:
    page = login(browser, console)
    page.goto(console.url + "/queue")  # type: ignore[attr-defined]
    opening = console.draft("opening")["id"]
    card = draft_card(page, opening)
    card.get_by_role("button", name="Edit", exact=True).click()  # type: ignore[attr-defined]
    area = card.locator("textarea[name=text]")  # type: ignore[attr-defined]
    counter = card.locator("output.counter")  # type: ignore[attr-defined]
    typed = "The roundtable starts now 🌍 https://migrationnetwork.un.org/"
    area.fill(typed)
    wanted = list(console.draft("opening")["wanted_hashtags"])
    posted = tag_text(typed, wanted)  # the counter shows the post as it will go out: hashtags added
    assert posted.appended and posted.parsed.weighted_length > parse_tweet(typed).weighted_length
    expect(counter).to_have_text(f"{posted.parsed.weighted_length}/280 with {' '.join(posted.appended)} added")
    card.get_by_role("button", name="Save edit").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status").first).to_contain_text("revision 2")  # type: ignore[attr-defined]
    edited = console.draft("opening")
    assert (edited["revision"], edited["state"]) == (2, "pending")
    assert edited["text"].startswith("The roundtable starts now 🌍 https://migrationnetwork.un.org/")


def test_the_counter_agrees_with_parse_tweet_on_every_conformance_case(console: Console, browser: object) -> None:
    cases_file = shared_testdata() / "twitter-text" / "validate_weighted.json"
    if not cases_file.is_file():
        pytest.skip(f"twitter-text conformance data not found at {cases_file}")
    cases = json.loads(cases_file.read_text(encoding="utf-8"))
    page = login(browser, console)
    page.goto(console.url + "/compose")  # type: ignore[attr-defined]
    area = page.locator("textarea[name=text]")  # type: ignore[attr-defined]
    counter = page.locator("#compose-counter")  # type: ignore[attr-defined]
    store = Store(f"sqlite:///{console.db}", create=False)
    wanted = list(store.segments(store.events()[0].id)[0].hashtags)  # before the event: the first's
    store.close()
    for case in cases:
        area.evaluate(
            "(el, text) => { el.value = text; el.dispatchEvent(new Event('input', {bubbles: true})); }", case["text"]
        )
        posted = tag_text(normal_text(case["text"]).strip(), wanted)
        expect(counter).to_have_attribute("data-weighted-length", str(posted.parsed.weighted_length))


def test_compose_a_post_and_see_it_posted_with_the_segments_hashtags(console: Console, browser: object) -> None:
    page = login(browser, console)
    page.goto(console.url + "/compose")  # type: ignore[attr-defined]
    page.get_by_label("What to post").fill("Great question from the floor on skills portability")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Approve and post").click()  # type: ignore[attr-defined]  # after its hold
    wait_for(lambda: any("skills portability" in t.text for t in console.x.posts()), "the composed post")
    posted = next(t.text for t in console.x.posts() if "skills portability" in t.text)
    assert posted == "Great question from the floor on skills portability\n\n#GlobalCompactforMigration #GCM"


def test_reshare_an_injected_message(console: Console, browser: object) -> None:
    add_dm(console.x.state, "speaker_one", "Skills partnerships work when employers are at the table")
    page = login(browser, console)
    page.goto(console.url + "/inbox")  # type: ignore[attr-defined]
    message = page.locator("[data-dm-id]").first  # type: ignore[attr-defined]
    expect(message).to_contain_text("Skills partnerships work")  # arrives with the next poll
    message.get_by_role("button", name="Reshare").click()
    expect(page).to_have_url(re.compile(r"/queue"))  # type: ignore[arg-type]
    reshared = next(d for d in console.drafts() if d["slot"].startswith("dm-"))
    assert reshared["text"].startswith("Skills partnerships work when employers are at the table\n\n(via @speaker_one)")
    expect(draft_card(page, reshared["id"]).locator(".state")).to_have_text("pending")


def test_two_operators_see_each_others_changes(console: Console, browser: object) -> None:
    alice, bob = login(browser, console, "alice"), login(browser, console, "bob")
    for page in (alice, bob):
        page.goto(console.url + "/queue")  # type: ignore[attr-defined]
    q3 = console.draft("q3")["id"]
    draft_card(alice, q3).get_by_role("button", name="Approve").click()  # type: ignore[attr-defined]
    expect(draft_card(bob, q3).locator(".state")).to_have_text("approved")
    draft_card(bob, q3).get_by_role("button", name="Hold").click()  # type: ignore[attr-defined]
    expect(draft_card(alice, q3).locator(".state")).to_have_text("pending")


def test_hostile_message_text_is_shown_inert(console: Console, browser: object) -> None:
    add_dm(
        console.x.state,
        "prankster",
        '<script>document.body.dataset.pwned="script"</script>'
        "<img src=x onerror=\"document.body.dataset.pwned='img'\">",
    )
    page = login(browser, console)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    page.goto(console.url + "/inbox")  # type: ignore[attr-defined]
    message = page.locator("[data-dm-id] .text").first  # type: ignore[attr-defined]
    expect(message).to_contain_text("<script>")
    expect(message).to_contain_text("<img src=x onerror=\"document.body.dataset.pwned='img'\">")
    assert page.locator("[data-dm-id] img").count() == 0  # type: ignore[attr-defined]
    assert page.evaluate("document.body.dataset.pwned") is None  # type: ignore[attr-defined]
    assert dialogs == []


def test_a_post_without_the_csrf_token_is_refused(console: Console, browser: object) -> None:
    page = login(browser, console)
    draft = console.draft("q1")
    response = page.request.post(
        console.url + f"/drafts/{draft['id']}/approve",  # type: ignore[attr-defined]
        form={"version": str(1)},
    )
    assert response.status == 403
    assert console.draft("q1")["state"] == "pending"
    forged = page.request.post(
        console.url + f"/drafts/{draft['id']}/approve",  # type: ignore[attr-defined]
        form={"version": "1", "csrf": "forged"},
    )
    assert forged.status == 403


def test_security_headers_and_cookie(console: Console) -> None:
    session = requests.Session()
    response = session.post(
        console.url + "/login", data={"name": "alice", "password": PASSWORD}, allow_redirects=False, timeout=10
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = session.get(console.url + "/queue", timeout=10)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "onclick" not in page.text  # no inline script


def test_pages_at_desktop_and_phone_width_with_screenshots(console: Console, browser: object) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    add_dm(console.x.state, "speaker_one", "Thank you for the invitation #GCM")
    for width in (1280, 390):
        page = login(browser, console, f"op{width}", width)
        for name, path in PAGES.items():
            page.goto(console.url + path)  # type: ignore[attr-defined]
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
            assert overflow <= 0, f"{name} scrolls sideways at {width} px"
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    assert len(list(SCREENSHOTS.glob("*.png"))) >= 12


def test_without_a_password_run_prints_a_one_time_login_link(tmp_path: Path, browser: object) -> None:
    c = Console(tmp_path, speed=20, start_in=12, password=None)
    try:
        line = c.first_lines[-1]
        match = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=\S+)", line)
        assert match, line
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(match.group(1))
        page.get_by_label("Your name").fill("alice")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("link", name="Queue")).to_be_visible()
        page.close()
        assert not any(
            match.group(1).split("token=")[1] in p.read_text(errors="ignore")
            for p in tmp_path.rglob("*")
            if p.is_file() and p.suffix != ".db"
        )
    finally:
        c.stop()


def test_failed_logins_are_slowed_down() -> None:
    auth = ConsoleAuth(password="right")
    assert auth.delay_for("10.0.0.1") == 0
    for _ in range(3):
        assert not auth.check_password("wrong")
        auth.failed("10.0.0.1")
    assert auth.delay_for("10.0.0.1") == 1.0
    assert auth.delay_for("10.0.0.2") == 0
    auth.succeeded("10.0.0.1")  # a right password clears its failures
    assert auth.delay_for("10.0.0.1") == 0


def test_a_password_hash_works() -> None:
    from argon2 import PasswordHasher

    auth = ConsoleAuth(password_hash=PasswordHasher().hash("s3cret"))
    assert auth.check_password("s3cret") and not auth.check_password("nope") and not auth.uses_token
