"""Photos in the console (issue 14), in Debian's Chromium against a real rehearsal: an image
picked in Compose with its alt text, thumbnails in the Queue, no approval without alt text,
and what reaches the browser carries no camera metadata."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .support.browser import launch
from .support.console import CHROMIUM, PASSWORD, Console, close_pages, playwright_or_skip
from .support.events import REPO
from .support.waiting import DEADLINE, wait_for

api = playwright_or_skip(allow_module_level=True)
expect = api.expect
expect.set_options(timeout=DEADLINE * 1000)
Image = pytest.importorskip("PIL.Image")
SHOTS = REPO / "test-artifacts" / "console"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with api.sync_playwright() as p:
        b = launch(p, CHROMIUM)
        yield b
        b.close()


@pytest.fixture
def console(tmp_path: Path, browser: Any) -> Iterator[Console]:
    c = Console(tmp_path, speed=5, start_in=600)  # the event an hour of rehearsal away: nothing goes out
    yield c
    close_pages(browser)
    c.stop()


def photo(path: Path) -> Path:
    """A camera's JPEG: EXIF with a GPS position and a serial number."""
    image = Image.new("RGB", (1600, 1200), (30, 90, 160))
    exif = Image.Exif()
    exif[0x010F] = "ACME Camera"  # Make
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (46.0, 12.0, 0.0), 3: "E", 4: (6.0, 8.0, 0.0)}  # GPS
    image.save(path, "JPEG", exif=exif)
    return path


def login(browser: Any, console: Console, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(console.url + "/login")
    page.get_by_label("Your name").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#alarms")).to_be_attached()
    return page


def compose(browser: Any, console: Console, text: str, image: Path | None = None) -> Any:
    """A page logged in, on Compose, with `text` written as what to post (and `image` picked as its first image)."""
    page = login(browser, console)
    page.goto(console.url + "/compose")
    page.get_by_label("What to post").fill(text)
    if image is not None:
        page.locator("#compose-image1").set_input_files(str(image))
    return page


def saved_draft(page: Any, console: Console, text: str) -> dict[str, Any]:
    """Save as draft, wait for the draft whose text starts with `text`, and open it in the Queue."""
    page.get_by_role("button", name="Save as draft").click()
    wait_for(lambda: any(d["text"].startswith(text) for d in console.drafts()), "the draft")
    draft = next(d for d in console.drafts() if d["text"].startswith(text))
    page.goto(console.url + f"/queue?show=all#draft-{draft['id']}")
    return draft


def test_compose_with_a_photo_and_its_alt_text_shows_a_clean_thumbnail(
    console: Console, browser: Any, tmp_path: Path
) -> None:
    page = compose(browser, console, "The panel on skills partnerships", photo(tmp_path / "panel.jpg"))
    page.locator("#compose-alt1").fill("Four panellists seated on a stage in front of a UN Network on Migration banner")
    draft = saved_draft(page, console, "The panel on skills")
    thumb = page.locator(f"#draft-{draft['id']} .thumbs img")
    expect(thumb).to_have_attribute(
        "alt", "Four panellists seated on a stage in front of a UN Network on Migration banner"
    )
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", thumb.element_handle())
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "queue-media-1280-light.png"), full_page=True)
    # What the browser gets is the re-encoded image: no EXIF, no GPS, no serial number.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    served = requests.get(console.url + str(thumb.get_attribute("src")), cookies=cookies, timeout=10)
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    back = Image.open(io.BytesIO(served.content))
    assert not back.getexif() and b"SERIAL-12345" not in served.content
    # Without logging in there is no image.
    assert requests.get(
        console.url + str(thumb.get_attribute("src")), timeout=10, allow_redirects=False
    ).status_code in (
        303,
        401,
    )


def test_a_photo_without_alt_text_cannot_be_approved_and_the_form_keeps_it(
    console: Console, browser: Any, tmp_path: Path
) -> None:
    page = compose(browser, console, "A photo nobody described", photo(tmp_path / "room.jpg"))
    page.get_by_label("Time (24-hour").fill("15:00")
    page.get_by_role("button", name="Approve and post").click()
    expect(page.locator("#compose-error")).to_contain_text("alt")
    assert page.get_by_label("What to post").input_value() == "A photo nobody described"
    assert not any(d["text"].startswith("A photo nobody") for d in console.drafts())
    # The photo came back with the form (no need to pick it again): describe it and approve.
    expect(page.locator("#compose-form .image-row img")).to_have_count(1)
    page.locator("#compose-alt1").fill("The meeting room seen from the back, rows of delegates facing the podium")
    page.get_by_role("button", name="Approve and post").click()
    wait_for(lambda: any(d["text"].startswith("A photo nobody") for d in console.drafts()), "the approved draft")
    draft = next(d for d in console.drafts() if d["text"].startswith("A photo nobody"))
    assert draft["state"] == "approved"


def test_a_saved_draft_with_an_undescribed_photo_offers_no_approve_until_described(
    console: Console, browser: Any, tmp_path: Path
) -> None:
    page = compose(browser, console, "Saved with a photo to describe later", photo(tmp_path / "later.jpg"))
    draft = saved_draft(page, console, "Saved with a photo")
    card = page.locator(f"#draft-{draft['id']}")
    expect(card.locator(".alt.missing")).to_be_visible()
    expect(card.get_by_role("button", name="Approve")).to_have_count(0)
    expect(card.locator(f"#alt-needed-{draft['id']}")).to_contain_text("alt text")
    # The service refuses it too, whatever a page sends.
    csrf = page.evaluate("document.body.dataset.csrf")
    answer = page.request.post(
        console.url + f"/drafts/{draft['id']}/approve",
        form={"csrf": csrf, "version": card.get_attribute("data-version")},
    )
    assert answer.ok  # the page comes back with the refusal as its banner
    assert next(d for d in console.drafts() if d["id"] == draft["id"])["state"] == "pending"
    card.get_by_role("button", name="Edit", exact=True).click()
    card.locator(f"#edit-{draft['id']}-alt1").fill("A speaker at the podium, hands raised, mid-sentence")
    card.get_by_role("button", name="Save edit").click()
    card = page.locator(f"#draft-{draft['id']}")
    expect(card.get_by_role("button", name="Approve")).to_be_visible()
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".banner.ok, .banner.error").first).to_contain_text("Approved")
    # Approved, and (composed for now) it goes out at once: approved, in flight or posted.
    wait_for(
        lambda: (
            next(d for d in console.drafts() if d["id"] == draft["id"])["state"] in ("approved", "posting", "posted")
        ),
        "approved",
    )


def test_a_photo_sent_by_direct_message_shows_in_the_inbox_and_is_reshared_with_alt_text(
    console: Console, browser: Any, tmp_path: Path
) -> None:
    from livetweet.fakes import add_dm

    add_dm(console.x.state, "speaker_one", "Our panel this afternoon", [photo(tmp_path / "dm.jpg").read_bytes()])
    page = login(browser, console)
    page.goto(console.url + "/inbox")
    message = page.locator("[data-dm-id]").first
    thumb = message.locator(".thumbs img")
    expect(thumb).to_have_attribute("alt", "Photo from @speaker_one, not described yet")
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", thumb.element_handle())
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "inbox-media-1280-light.png"), full_page=True)
    # Alt text is required before the photo can be reshared (the browser asks, the service refuses).
    message.get_by_label("Alt text for photo 1").fill("Three speakers on a panel, one holding a microphone")
    message.get_by_role("button", name="Reshare").click()
    wait_for(lambda: any(d["slot"].startswith("dm-") for d in console.drafts()), "the reshared draft")
    page.goto(console.url + "/queue?show=all")
    reshared = next(d for d in console.drafts() if d["slot"].startswith("dm-"))
    expect(page.locator(f"#draft-{reshared['id']} .thumbs img")).to_have_attribute(
        "alt", "Three speakers on a panel, one holding a microphone"
    )


def test_compose_makes_a_quote_card_with_its_alt_text(console: Console, browser: Any) -> None:
    page = compose(browser, console, "Heard at the roundtable")
    page.get_by_label("Quote", exact=True).fill("Decent work is the best integration policy")
    page.get_by_label("Speaker").fill("A panellist")
    draft = saved_draft(page, console, "Heard at the roundtable")
    thumb = page.locator(f"#draft-{draft['id']} .thumbs img")
    expect(thumb).to_have_attribute(
        "alt", re.compile(r"^Quote card: “Decent work is the best integration policy” — A panellist")
    )
    assert page.evaluate("(img) => img.naturalWidth", thumb.element_handle()) == 1200
