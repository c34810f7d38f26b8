"""Posts with images, through real tweepy over HTTP to the simulated X, on a clock the test moves.

The publisher uploads with X's v2 media routes (one call for a photo; initialize, append and
finalize for a GIF, waiting while X processes it), gives each image its alt text, then posts
with the media ids. The dispatcher uploads a claimed draft's images just before the post: an
upload that fails is retried inside the window like a post that failed, and the post itself
goes out once.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from livetweet.draft import DraftState
from livetweet.fakes.x import INVALID_MEDIA, MAX_IMAGE_BYTES
from livetweet.publishers.base import Posted, Refused, RetryLater, Uploaded
from livetweet.publishers.dryrun import DryRunPublisher

from .support.events import MINI_SCHEDULE
from .support.photos import gif, jpeg, photo_draft, png
from .support.world import HELLO_AT, T_1330, World

S = DraftState
AT = T_1330 + timedelta(minutes=3)  # 13:33 CET, between hello and q1
TEXT = "The panel of Roundtable 2 #GCM"
PANEL = "Five panellists seated at a long table under the UNECE banner"
SLIDE = "Slide: 'Regular pathways save lives' in white on blue"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, mode="approval")
    yield w
    w.close()


def routes(w: World, prefix: str = "") -> list[tuple[str, str]]:
    with w.x.state.lock:
        return [r for r in w.x.state.requests if r[0].startswith(prefix)]


# --- the publisher and the simulated X -------------------------------------------------------


def test_a_photo_is_uploaded_once_with_its_alt_text_and_an_expiry(world: World) -> None:
    uploaded = world.publisher.upload(jpeg(), "image/jpeg", PANEL)
    assert isinstance(uploaded, Uploaded) and uploaded.expires_after == 86_400
    [media] = world.x.uploads()
    assert (media.id, media.kind, media.category, media.alt) == (uploaded.media_id, "image/jpeg", "tweet_image", PANEL)
    assert [r for r, _ in routes(world, "POST /2/media")] == ["POST /2/media/upload", "POST /2/media/metadata"]


def test_a_gif_goes_through_the_chunked_upload_and_waits_while_x_processes_it(world: World) -> None:
    before = world.clock.now()
    uploaded = world.publisher.upload(gif(frames=4), "image/gif", "A waving flag, four frames")
    assert isinstance(uploaded, Uploaded)
    assert [r for r, _ in routes(world, "POST /2/media") + routes(world, "GET /2/media")] == [
        "POST /2/media/upload/initialize",
        "POST /2/media/upload/:id/append",
        "POST /2/media/upload/:id/finalize",
        "POST /2/media/metadata",
        "GET /2/media/upload",
        "GET /2/media/upload",
    ]
    [media] = world.x.uploads()
    assert (media.kind, media.category, media.state) == ("image/gif", "tweet_gif", "succeeded")
    assert world.clock.now() - before == timedelta(seconds=2)  # X took 2 s to process it; the publisher waited


def test_x_reads_the_type_from_the_bytes_not_from_what_it_is_told(world: World) -> None:
    program = b"MZ\x90\x00\x03" + bytes(2000)  # a Windows program, called a JPEG
    refused = world.publisher.upload(program, "image/jpeg", "not a photo")
    assert isinstance(refused, Refused) and "Unsupported media type" in refused.reason
    mislabelled = world.publisher.upload(png(), "image/jpeg", "a PNG called a JPEG")
    assert isinstance(mislabelled, Refused) and "the bytes are image/png" in mislabelled.reason
    assert world.x.uploads() == []


def test_x_refuses_an_image_over_5_mb_and_alt_text_over_1000_characters(world: World) -> None:
    big = jpeg()[:-2] + bytes(MAX_IMAGE_BYTES) + b"\xff\xd9"
    too_big = world.publisher.upload(big, "image/jpeg", PANEL)
    assert isinstance(too_big, Refused) and "File size exceeds" in too_big.reason
    long_alt = world.publisher.upload(jpeg(), "image/jpeg", "a" * 1001)
    assert isinstance(long_alt, Refused) and "at most 1000" in long_alt.reason


def test_a_post_with_unknown_or_expired_media_ids_is_refused_as_x_refuses_it(world: World) -> None:
    unknown = world.publisher.post(TEXT, media_ids=["1234"])
    assert isinstance(unknown, RetryLater) and unknown.stale_media and INVALID_MEDIA in unknown.reason
    world.x.state.media_expires_after = 60
    uploaded = world.publisher.upload(jpeg(), "image/jpeg", PANEL)
    assert isinstance(uploaded, Uploaded) and uploaded.expires_after == 60
    world.clock.advance(timedelta(seconds=61))
    expired = world.publisher.post(TEXT, media_ids=[uploaded.media_id])
    assert isinstance(expired, RetryLater) and expired.stale_media
    assert world.x.posts() == []


def test_an_upload_x_fails_is_a_retry_never_an_unknown_outcome(world: World) -> None:
    world.x.inject_fault("503", route="POST /2/media/upload")
    failed = world.publisher.upload(jpeg(), "image/jpeg", PANEL)
    assert isinstance(failed, RetryLater) and "503" in failed.reason
    world.x.inject_fault("401", route="POST /2/media/metadata")
    refused = world.publisher.upload(jpeg(), "image/jpeg", PANEL)
    assert isinstance(refused, Refused) and refused.halt


def test_the_timeline_page_shows_each_post_with_its_images_and_escaped_alt_text(world: World) -> None:
    uploaded = world.publisher.upload(jpeg(), "image/jpeg", "<script>alert(1)</script> & 'quotes'")
    assert isinstance(uploaded, Uploaded)
    assert isinstance(world.publisher.post(TEXT, media_ids=[uploaded.media_id]), Posted)
    page = requests.get(f"{world.x.url}/", timeout=5)
    assert "<script>" not in page.text
    assert "alt='&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#x27;quotes&#x27;'" in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no script runs
    [media] = world.x.uploads()
    image = requests.get(f"{world.x.url}/fake/media/{media.key}", timeout=5)
    assert (image.status_code, image.headers["Content-Type"], image.content) == (200, "image/jpeg", media.data)
    rebound = requests.get(f"{world.x.url}/fake/media/{media.key}", headers={"Host": "evil.example:80"}, timeout=5)
    assert rebound.status_code == 421


def test_the_dry_run_says_which_images_it_would_post(world: World) -> None:
    lines: list[str] = []
    dry = DryRunPublisher(echo=lines.append)
    uploaded = dry.upload(jpeg(), "image/jpeg", PANEL)
    assert isinstance(uploaded, Uploaded)
    dry.post(TEXT, media_ids=[uploaded.media_id])
    assert lines[0].startswith(TEXT) and f"alt text: {PANEL}" in lines[0]


# --- the dispatcher: upload just before the post, retry inside the window, post once ----------


def test_a_post_with_two_images_reaches_x_once_with_both_images_and_their_alt_texts(world: World) -> None:
    draft = photo_draft(world, "panel", TEXT, [(jpeg(gps=True), PANEL), (png(), SLIDE)], AT)
    world.at(AT - timedelta(seconds=1))
    assert world.x.uploads() == []  # nothing is uploaded before the post is due
    world.at(AT)
    [post] = world.x.posts()
    assert (post.text, world.store.get(draft.id).tweet_id) == (TEXT, post.id)
    assert [(m.sha256, m.alt) for m in world.x.media_of(post)] == [(a.sha256, a.alt) for a in draft.media]
    assert [m.attached_to for m in world.x.uploads()] == [[post.id], [post.id]]  # each uploaded once, on this post


def test_an_upload_that_fails_once_is_retried_and_the_post_goes_out_once(world: World) -> None:
    draft = photo_draft(world, "panel", TEXT, [(jpeg(), PANEL), (png(), SLIDE)], AT)
    world.x.inject_fault("500", route="POST /2/media/upload", times=1)
    world.at(AT)
    retried = world.store.get(draft.id)
    assert retried.state == S.APPROVED and retried.last_error
    assert retried.last_error.startswith("its images could not be uploaded: X had an error (500)")
    assert world.x.posts() == []
    world.at(AT + timedelta(seconds=5))
    [post] = world.x.posts()
    assert world.store.get(draft.id).state == S.POSTED
    assert [m.alt for m in world.x.media_of(post)] == [PANEL, SLIDE]
    assert len(world.x.uploads()) == 2


def test_an_image_already_on_x_is_not_uploaded_again_when_the_next_one_failed(world: World) -> None:
    photo_draft(world, "panel", TEXT, [(jpeg(), PANEL), (png(), SLIDE)], AT)
    world.x.inject_fault("500", route="POST /2/media/metadata", times=1)  # the first image's alt text
    world.at(AT).at(AT + timedelta(seconds=5))
    [post] = world.x.posts()
    first, second = world.x.media_of(post)
    assert (first.alt, second.alt) == (PANEL, SLIDE)
    assert len(world.x.uploads()) == 3  # the first image twice (its alt text failed), the second once


def test_a_post_whose_images_cannot_be_uploaded_inside_its_window_is_missed_with_the_reason(world: World) -> None:
    draft = photo_draft(world, "panel", TEXT, [(jpeg(), PANEL)], AT)
    world.x.inject_fault("503", route="POST /2/media/upload", times=1000)
    for seconds in range(0, 6 * 60, 5):
        world.at(AT + timedelta(seconds=seconds))
    missed = world.store.get(draft.id)
    assert missed.state == S.MISSED
    assert missed.last_error and missed.last_error.startswith("its images could not be uploaded: X had an error (503)")
    assert world.x.posts() == []
    assert any(n.what == "missed" and "its images could not be uploaded" in n.detail for n in world.notices)


def test_an_image_x_refuses_fails_the_draft_with_the_reason(world: World) -> None:
    draft = photo_draft(world, "panel", TEXT, [(jpeg(), PANEL)], AT)
    world.x.inject_fault("400", route="POST /2/media/upload")
    world.at(AT)
    failed = world.store.get(draft.id)
    assert failed.state == S.FAILED
    assert failed.last_error and failed.last_error.startswith("its images could not be uploaded: X refused the image")


def test_a_media_id_that_expired_is_uploaded_again_for_the_next_try(world: World) -> None:
    world.x.state.media_expires_after = 30
    photo_draft(world, "panel", TEXT, [(jpeg(), PANEL)], AT)
    world.x.inject_fault("429", route="POST /2/tweets", reset_seconds=60)  # not posted: wait for X's reset
    world.at(AT).at(AT + timedelta(seconds=60))
    [post] = world.x.posts()
    first, second = world.x.uploads()
    assert (first.attached_to, second.attached_to) == ([], [post.id])  # the expired one was never used
    assert second.alt == PANEL


def test_images_x_forgot_are_uploaded_again_and_the_post_goes_out_once(world: World) -> None:
    photo_draft(world, "panel", TEXT, [(jpeg(), PANEL)], AT)
    world.x.inject_fault("500", route="POST /2/tweets")  # the post fails: looked up, not found, tried again
    world.at(AT)
    with world.x.state.lock:
        world.x.state.media.clear()  # X lost the upload before it said it would
    world.at(AT + timedelta(seconds=1))  # X: "Your media IDs are invalid"; nothing posted
    assert world.x.posts() == []
    world.at(AT + timedelta(seconds=11))  # after the back-off, uploaded again and posted
    [post] = world.x.posts()
    assert [m.alt for m in world.x.media_of(post)] == [PANEL]
    assert ("POST /2/tweets", "400-media") in routes(world)


@pytest.mark.parametrize("fault", ["drop-after-store", "hang-after-store", "503-after-store"])
def test_a_post_with_images_whose_outcome_is_unknown_is_found_on_the_account_not_posted_again(
    world: World, fault: str
) -> None:
    draft = photo_draft(world, "panel", TEXT, [(jpeg(), PANEL), (png(), SLIDE)], AT)
    world.x.inject_fault(fault, route="POST /2/tweets")
    world.at(AT).at(AT + timedelta(seconds=10)).at(AT + timedelta(seconds=30))
    [post] = world.x.posts()  # X shows it as "... https://t.co/...": still found as ours
    posted = world.store.get(draft.id)
    assert (posted.state, posted.tweet_id) == (S.POSTED, post.id)
    assert [e.action for e in world.service.history(draft.id)][-1] == "reconciled"
    assert [m.attached_to for m in world.x.uploads()] == [[post.id], [post.id]]


def test_a_gif_draft_is_posted_through_the_chunked_upload(world: World) -> None:
    photo_draft(world, "flag", TEXT, [(gif(), "A flag waving in the wind")], AT)
    world.at(AT)
    [post] = world.x.posts()
    [media] = world.x.media_of(post)
    assert (media.kind, media.category, media.alt) == ("image/gif", "tweet_gif", "A flag waving in the wind")
    assert ("POST /2/media/upload/initialize", "200") in routes(world)


def test_a_planned_image_goes_out_with_its_slot_and_its_templated_alt_text(tmp_path: Path) -> None:
    (tmp_path / "schedules" / "media").mkdir(parents=True)
    (tmp_path / "schedules" / "media" / "panel.jpg").write_bytes(jpeg(gps=True))
    schedule = MINI_SCHEDULE.replace(
        "    at: opening.start + 1m\n",
        "    at: opening.start + 1m\n    media:\n      - file: media/panel.jpg\n"
        '        alt: "The panel of {{ event.title }}: five people at a long table"\n',
    )
    w = World(tmp_path, schedule, mode="auto")
    try:
        w.at(HELLO_AT).at(HELLO_AT + timedelta(minutes=20))
        hello, q1 = w.x.posts()
        assert [m.alt for m in w.x.media_of(hello)] == ["The panel of Demo event: five people at a long table"]
        assert w.x.media_of(q1) == [] and len(w.x.uploads()) == 1
        assert b"SN-0042-SECRET" not in w.x.uploads()[0].data  # what reached X is the re-encoded photo
    finally:
        w.close()


def test_a_post_without_images_sends_no_media_call(world: World) -> None:
    world.service.approve(world.draft("hello").id, "alice")
    world.at(HELLO_AT)
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]
    assert routes(world, "POST /2/media") == [] and world.x.uploads() == []


def test_the_simulated_x_takes_dm_images_on_its_control_route(world: World) -> None:
    body = {"from": "participant", "text": "our photo", "images": [base64.b64encode(jpeg()).decode()]}
    answer = requests.post(f"{world.x.url}/fake/dm", json=body, timeout=5)
    assert answer.status_code == 201
    [key] = answer.json()["data"]["media_keys"]
    assert key.startswith("3_") and key in world.x.state.dm_media
