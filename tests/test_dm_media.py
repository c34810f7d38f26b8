"""Photos sent by direct message: fetched from the simulated X with the account's OAuth 1.0a
signature, re-encoded without their metadata, kept with the message, reshared with the alt text
an operator writes, and posted with it. Real tweepy over HTTP, a real SQLite store."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from PIL import Image

from livetweet.draft import DraftState
from livetweet.fakes import add_dm
from livetweet.fakes.x import DM_MEDIA_ROUTE
from livetweet.inbox import InboxError, PollResult
from livetweet.publishers.base import PublisherError
from livetweet.publishers.x import XPublisher
from livetweet.service import InboxService

from .support.cli import Result, cli
from .support.photos import CAMERA_SERIAL, GPS_IFD, jpeg, png
from .support.world import T_1330, X_TEST_CREDENTIALS, World

S = DraftState
ALT = "Three delegates holding a banner that reads 'Migration is part of the solution'"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, mode="approval")
    w.x.state.rate_limits.pop("GET /2/dm_events", None)
    w.clock.set(T_1330 + timedelta(minutes=5))
    yield w
    w.close()


def inbox(w: World) -> InboxService:
    return InboxService(w.service)


def photo_url(w: World) -> str:
    with w.x.state.lock:
        [media] = w.x.state.dm_media.values()
        return media.url


def test_a_dm_photo_is_fetched_kept_without_its_exif_and_shown_on_the_message(world: World) -> None:
    add_dm(world.x.state, "delegate_one", "Our banner at the roundtable!", [jpeg(gps=True)])
    result = inbox(world).poll(world.publisher)
    assert (result.stored, result.notes) == (1, [])
    [message] = inbox(world).messages()
    [photo] = message.media
    assert (photo.kind, photo.alt, photo.width, photo.height) == ("image/jpeg", "", 640, 480)
    kept = world.store.media_data(photo.sha256)
    assert kept is not None and kept[1] == "image/jpeg"
    exif = Image.open(io.BytesIO(kept[0])).getexif()
    assert dict(exif) == {} and dict(exif.get_ifd(GPS_IFD)) == {} and CAMERA_SERIAL not in exif.get_ifd(0x8769)
    assert b"SN-0042-SECRET" not in kept[0] and b"PhoneMaker" not in kept[0]
    assert (DM_MEDIA_ROUTE, "200") in world.x.state.requests


def test_a_reshared_dm_photo_is_posted_with_the_alt_text_and_the_senders_credit(world: World) -> None:
    add_dm(world.x.state, "delegate_one", "Our banner at the roundtable!", [jpeg(gps=True)])
    inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    [draft] = inbox(world).reshare(message.id, "alice", alt=[ALT])
    assert [(m.sha256, m.alt) for m in draft.media] == [(message.media[0].sha256, ALT)]
    world.service.approve(draft.id, "alice")
    world.dispatcher.tick()
    posted = world.store.get(draft.id)
    assert posted.state == S.POSTED, world.notices
    [post] = world.x.posts()
    assert post.id == posted.tweet_id and "via @delegate_one" in post.text
    [media] = world.x.media_of(post)
    assert (media.sha256, media.alt) == (message.media[0].sha256, ALT)  # the re-encoded photo, never the original
    assert inbox(world).get(message.id).state == "reshared"


def test_a_reshare_of_a_message_with_photos_needs_one_alt_text_per_photo(world: World) -> None:
    add_dm(world.x.state, "delegate_two", "Two views of the room", [jpeg(), png()])
    inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    with pytest.raises(InboxError, match="carries 2 photos: write 2 alt texts, one per photo"):
        inbox(world).reshare(message.id, "alice")
    with pytest.raises(InboxError, match=r"\(1 given\)"):
        inbox(world).reshare(message.id, "alice", alt=[ALT])
    with pytest.raises(InboxError, match="photo 2 has no alt text"):
        inbox(world).reshare(message.id, "alice", alt=[ALT, "  "])
    with pytest.raises(InboxError, match='photo 1 alt text starts with "Image of"'):
        inbox(world).reshare(message.id, "alice", alt=["Image of the room", ALT])
    assert inbox(world).get(message.id).state == "new"  # nothing was created
    assert [d for d in world.store.drafts() if d.source == "dm"] == []
    [draft] = inbox(world).reshare(message.id, "alice", alt=["The room from the podium", "The room from the back"])
    assert [m.alt for m in draft.media] == ["The room from the podium", "The room from the back"]


def test_alt_text_for_a_message_without_photos_is_refused(world: World) -> None:
    add_dm(world.x.state, "delegate_one", "Just words")
    inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    with pytest.raises(InboxError, match="carries no photos to describe"):
        inbox(world).reshare(message.id, "alice", alt=[ALT])


def test_a_photo_that_cannot_be_fetched_keeps_its_message_and_says_so(world: World) -> None:
    world.x.inject_fault("500", route=DM_MEDIA_ROUTE)
    add_dm(world.x.state, "delegate_one", "Photo of the panel", [jpeg()])
    result = inbox(world).poll(world.publisher)
    assert result.stored == 1 and result.error is None
    assert result.notes == [
        "the direct message from @delegate_one is kept without the photo for now: fetching a direct message's "
        "image failed: X answered 500 Internal Server Error; livetweet asks X again on its next polls (up to 3 "
        "more times)"
    ]
    [message] = inbox(world).messages()
    assert (message.text, len(message.media_keys), message.media) == ("Photo of the panel", 1, ())
    [entry] = [e for e in world.store.audit() if e.action == "photo-not-fetched"]
    assert entry.reason == result.notes[0]
    with pytest.raises(InboxError, match=r"no photos to describe \(the photo is not fetched yet: livetweet asks"):
        inbox(world).reshare(message.id, "alice", alt=[ALT])
    assert inbox(world).reshare(message.id, "alice")[0].media == ()  # the words can still go out


def test_a_file_that_is_not_an_image_is_not_kept(world: World) -> None:
    add_dm(world.x.state, "delegate_one", "see attached", [b"MZ\x90\x00" + bytes(500)])
    result = inbox(world).poll(world.publisher)
    [note] = result.notes
    assert note.startswith("the direct message from @delegate_one is kept without the photo: ")
    assert [m.media for m in inbox(world).messages()] == [()]


def test_a_video_is_not_fetched_and_the_message_is_kept(world: World) -> None:
    add_dm(world.x.state, "delegate_one", "a clip", ["7_1326000000000000001"])  # X's key of a video
    result = inbox(world).poll(world.publisher)
    assert result.stored == 1
    assert result.notes == [
        "the direct message from @delegate_one is kept without the video: a video is not fetched "
        "(livetweet posts photos and GIFs)"
    ]
    assert (DM_MEDIA_ROUTE, "200") not in world.x.state.requests


def test_dm_media_are_served_only_to_requests_signed_with_the_accounts_keys(world: World) -> None:
    add_dm(world.x.state, "delegate_one", "photo", [jpeg()])
    url = photo_url(world)
    path = url.removeprefix("https://ton.twitter.com")
    assert requests.get(world.x.url + path, timeout=5).status_code == 401
    bearer = requests.get(world.x.url + path, headers={"Authorization": "Bearer app-only"}, timeout=5)
    assert bearer.status_code == 401
    forged = XPublisher({**X_TEST_CREDENTIALS, "X_ACCESS_TOKEN_SECRET": "guessed"}, world.x.url, timeout=1.0)
    with pytest.raises(PublisherError, match="X answered 401"):
        forged.fetch_dm_media(url, 10_000_000)
    forged.close()
    assert world.publisher.fetch_dm_media(url, 10_000_000).startswith(b"\xff\xd8\xff")


def test_a_dm_image_larger_than_the_limit_is_refused_before_it_is_all_read(world: World) -> None:
    add_dm(world.x.state, "delegate_one", "photo", [jpeg()])
    with pytest.raises(PublisherError, match="more than livetweet takes"):
        world.publisher.fetch_dm_media(photo_url(world), 100)


def test_only_x_dm_media_addresses_are_fetched(world: World) -> None:
    with pytest.raises(PublisherError, match="is not where X serves the images of direct messages"):
        world.publisher.fetch_dm_media("https://example.org/photo.jpg", 10_000_000)


# --- a photo X failed to give: asked for again on later polls, a bounded number of times ----------


def dm_media_requests(w: World) -> list[str]:
    """What the simulated X answered to each request for a direct message's image, in order."""
    with w.x.state.lock:
        return [outcome for route, outcome in w.x.state.requests if route == DM_MEDIA_ROUTE]


def poll_at(w: World, after: timedelta) -> PollResult:
    w.clock.advance(after)
    return inbox(w).poll(w.publisher)


def test_a_photo_x_failed_to_give_is_fetched_on_a_later_poll_at_its_place(world: World) -> None:
    world.x.inject_fault("503", route=DM_MEDIA_ROUTE)  # the first photo's first try only
    add_dm(world.x.state, "delegate_two", "Two views of the room", [jpeg(), png()])
    first = inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    assert [m.kind for m in message.media] == ["image/png"]  # photo 2; photo 1 is waiting
    [waiting] = inbox(world).not_fetched([message])[message.id]
    assert (waiting.number, waiting.state, waiting.tries) == (1, "waiting", 1)
    assert "X answered 503" in first.notes[0] and "asks X again" in first.notes[0]
    assert poll_at(world, timedelta(seconds=30)).refetched == 0  # not before its time (a minute after)
    assert dm_media_requests(world) == ["fault:503", "200"]
    later = poll_at(world, timedelta(seconds=30))
    assert (later.refetched, later.notes) == (
        1,
        ["photo 1 of 2 of the direct message from @delegate_two has arrived (try 2)"],
    )
    [message] = inbox(world).messages()
    assert [m.kind for m in message.media] == ["image/jpeg", "image/png"]  # in the order sent
    assert inbox(world).not_fetched([message]) == {}
    assert [e.action for e in world.store.audit() if e.action.startswith("photo-")] == [
        "photo-not-fetched",
        "photo-fetched",
    ]
    [draft] = inbox(world).reshare(message.id, "alice", alt=["The room from the podium", "The room from the back"])
    assert [m.kind for m in draft.media] == ["image/jpeg", "image/png"]


def test_a_photo_that_timed_out_is_asked_for_again(world: World) -> None:
    world.x.inject_fault("hang", route=DM_MEDIA_ROUTE)  # longer than the publisher waits
    add_dm(world.x.state, "delegate_one", "Our banner", [jpeg()])
    [note] = inbox(world).poll(world.publisher).notes
    assert "for now" in note and "ReadTimeout" in note
    assert poll_at(world, timedelta(minutes=1)).refetched == 1
    assert len(inbox(world).messages()[0].media) == 1


def test_a_photo_x_keeps_failing_is_asked_for_four_times_then_lost(world: World) -> None:
    world.x.inject_fault("500", route=DM_MEDIA_ROUTE, times=10)
    add_dm(world.x.state, "delegate_one", "Our banner", [jpeg()])
    inbox(world).poll(world.publisher)
    for wait in (1, 2):  # minutes after the 1st and the 2nd failed try
        assert poll_at(world, timedelta(minutes=wait) - timedelta(seconds=1)).notes == []  # not yet
        [note] = poll_at(world, timedelta(seconds=1)).notes
        assert "for now" in note
    [lost] = poll_at(world, timedelta(minutes=4)).notes
    assert lost == (
        "the direct message from @delegate_one is kept without the photo: X failed 4 times, livetweet no longer "
        "asks (the last time: fetching a direct message's image failed: X answered 500 Internal Server Error)"
    )
    assert dm_media_requests(world) == ["fault:500"] * 4
    assert poll_at(world, timedelta(hours=1)).notes == [] and len(dm_media_requests(world)) == 4
    [message] = inbox(world).messages()
    [gone] = inbox(world).not_fetched([message])[message.id]
    assert (gone.state, gone.tries, message.media) == ("lost", 4, ())
    [entry] = [e for e in world.store.audit() if e.action == "photo-lost"]
    assert entry.reason == lost and entry.detail["tries"] == 4


@pytest.mark.parametrize(
    ("attachment", "fault", "reason"),
    [
        (b"MZ\x90\x00" + bytes(500), None, "is not an image livetweet can post"),  # a program, by its bytes
        (None, "403", "X answered 403"),  # X says no, for good
    ],
)
def test_a_photo_refused_for_good_is_never_asked_for_again(
    world: World, attachment: bytes | None, fault: str | None, reason: str
) -> None:
    if fault:
        world.x.inject_fault(fault, route=DM_MEDIA_ROUTE)
    add_dm(world.x.state, "delegate_one", "see attached", [attachment or jpeg()])
    [note] = inbox(world).poll(world.publisher).notes
    assert reason in note and "for now" not in note and "asks X again" not in note
    asked = len(dm_media_requests(world))
    for _ in range(5):
        assert poll_at(world, timedelta(minutes=5)).notes == []
    assert len(dm_media_requests(world)) == asked == 1
    [message] = inbox(world).messages()
    [lost] = inbox(world).not_fetched([message])[message.id]
    assert (lost.state, lost.tries) == ("lost", 1)


def test_while_x_keeps_failing_one_try_a_poll_the_other_photos_keep_their_tries(world: World) -> None:
    world.x.inject_fault("500", route=DM_MEDIA_ROUTE, times=3)
    add_dm(world.x.state, "delegate_one", "first", [jpeg()])
    add_dm(world.x.state, "delegate_two", "second", [png()])
    inbox(world).poll(world.publisher)  # both fail once
    [note] = poll_at(world, timedelta(minutes=1)).notes  # the first fails again; the second is not asked
    assert "@delegate_one" in note and len(dm_media_requests(world)) == 3
    waiting = {u.sender: u.tries for u in world.store.unfetched_media()}
    assert waiting == {"delegate_one": 2, "delegate_two": 1}
    assert poll_at(world, timedelta(minutes=2)).refetched == 2  # X answers again: both come
    assert [len(m.media) for m in inbox(world).messages()] == [1, 1]


def test_a_photo_whose_message_was_reshared_meanwhile_is_no_longer_asked_for(world: World) -> None:
    world.x.inject_fault("500", route=DM_MEDIA_ROUTE)
    add_dm(world.x.state, "delegate_one", "Photo of the panel", [jpeg()])
    inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    [draft] = inbox(world).reshare(message.id, "alice")  # the words alone
    [note] = poll_at(world, timedelta(minutes=1)).notes
    assert note.endswith(f"message {message.id} was reshared (draft {draft.id}) before X gave it")
    assert dm_media_requests(world) == ["fault:500"]  # not asked again


# --- the command line: `livetweet inbox` shows the photos, `reshare --alt` describes them ----------


def livetweet(tmp_path: Path, *args: str) -> Result:
    return cli("--db", f"sqlite:///{tmp_path / 'livetweet.db'}", *args)


def test_inbox_lists_each_photo_with_its_size_and_each_one_missing_with_why(world: World, tmp_path: Path) -> None:
    world.x.inject_fault("500", route=DM_MEDIA_ROUTE)
    add_dm(world.x.state, "delegate_two", "Two views of the room", [jpeg(), png()])
    add_dm(world.x.state, "delegate_one", "a clip", ["7_1326000000000000001"])  # X's key of a video
    inbox(world).poll(world.publisher)
    out = livetweet(tmp_path, "inbox")
    assert out.returncode == 0, out.stderr
    png_size = round(inbox(world).messages()[0].media[0].size / 1000)
    assert out.stdout.splitlines()[1:] == [
        "   1  13:35 CET  @delegate_two     new        [1 photo, 1 not fetched]",
        "      Two views of the room",
        "      - photo 1: not fetched yet, livetweet asks X again on its first poll after 13:36 CET (try 2 of 4): "
        "fetching a direct message's image failed: X answered 500 Internal Server Error",
        f"      - photo 2: PNG 320x240, {png_size} KB",
        "   2  13:35 CET  @delegate_one     new        [1 not fetched]",
        "      a clip",
        "      - video 1: not fetched: a video is not fetched (livetweet posts photos and GIFs)",
        "Reshare one with `livetweet reshare ID` (a message with photos: one --alt TEXT per photo, in order, "
        "saying what it shows), or `livetweet dismiss ID`.",
    ]
    listed = json.loads(livetweet(tmp_path, "inbox", "--json").stdout)
    photo = inbox(world).messages()[0].media[0]
    assert listed[0]["media"] == [
        {"number": 2, "sha256": photo.sha256, "type": "image/png", "width": 320, "height": 240, "bytes": photo.size}
    ]
    assert listed[0]["unfetched"] == [
        {"number": 1, "kind": "photo", "state": "waiting", "tries": 1, "next_try_at": "2020-11-12T13:36:00+01:00",
         "reason": "fetching a direct message's image failed: X answered 500 Internal Server Error"}
    ]  # fmt: skip
    assert [(u["kind"], u["state"], u["tries"]) for u in listed[1]["unfetched"]] == [("video", "lost", 0)]
    poll_at(world, timedelta(minutes=1))
    again = json.loads(livetweet(tmp_path, "inbox", "--json").stdout)[0]
    assert ([m["number"] for m in again["media"]], again["unfetched"]) == ([1, 2], [])


def test_reshare_with_alt_on_the_command_line_carries_the_photos_to_the_post(world: World, tmp_path: Path) -> None:
    add_dm(world.x.state, "delegate_two", "Two views of the room", [jpeg(gps=True), png()])
    inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    podium, back = "The room from the podium", "The room from the back, every seat taken"
    made = livetweet(
        tmp_path, "reshare", "--alt", podium, str(message.id), "--at", "13:40", "--alt", back, "--as", "alice"
    )
    assert made.returncode == 0, made.stderr
    assert ", with 2 photos and their alt text, segment opening, due 13:40 CET" in made.stdout
    draft = next(d for d in world.store.drafts() if d.source == "dm")
    assert [(m.sha256, m.alt) for m in draft.media] == [
        (message.media[0].sha256, podium),
        (message.media[1].sha256, back),
    ]
    world.service.approve(draft.id, "alice")
    world.at(T_1330 + timedelta(minutes=10))
    assert world.store.get(draft.id).state == S.POSTED, world.notices
    [post] = world.x.posts()
    assert "via @delegate_two" in post.text
    assert [(m.sha256, m.alt) for m in world.x.media_of(post)] == [(m.sha256, m.alt) for m in draft.media]


@pytest.mark.parametrize(
    ("alts", "says"),
    [
        ([], "carries 2 photos: write 2 alt texts, one per photo, in order, saying what it shows"),
        (["The room from the podium"], "(1 given)"),
        (["Image of the room", "The room from the back"], 'photo 1 alt text starts with "Image of"'),
        (["Two views of the room (via @delegate_two)", "The back"], "photo 1 alt text repeats the post's text"),
    ],
)
def test_reshare_without_the_right_alt_texts_is_refused_with_exit_1_and_creates_nothing(
    world: World, tmp_path: Path, alts: list[str], says: str
) -> None:
    add_dm(world.x.state, "delegate_two", "Two views of the room", [jpeg(), png()])
    inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    refused = livetweet(tmp_path, "reshare", str(message.id), *[a for alt in alts for a in ("--alt", alt)])
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: message {message.id}") and says in refused.stderr
    assert "nothing was created" in refused.stderr
    assert [d for d in world.store.drafts() if d.source == "dm"] == []
    assert inbox(world).get(message.id).state == "new"


def test_alt_may_come_before_the_command_as_as_does(world: World, tmp_path: Path) -> None:
    add_dm(world.x.state, "delegate_one", "Our banner at the roundtable!", [jpeg()])
    inbox(world).poll(world.publisher)
    [message] = inbox(world).messages()
    made = livetweet(tmp_path, "--alt", ALT, "reshare", str(message.id), "--at", "13:40")
    assert made.returncode == 0, made.stderr
    assert [m.alt for m in next(d for d in world.store.drafts() if d.source == "dm").media] == [ALT]
