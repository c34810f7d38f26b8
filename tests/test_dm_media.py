"""Photos sent by direct message: fetched from the simulated X with the account's OAuth 1.0a
signature, re-encoded without their metadata, kept with the message, reshared with the alt text
an operator writes, and posted with it. Real tweepy over HTTP, a real SQLite store."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from PIL import Image

from livetweet.draft import DraftState
from livetweet.fakes import add_dm
from livetweet.fakes.x import DM_MEDIA_ROUTE
from livetweet.inbox import InboxError
from livetweet.publishers.base import PublisherError
from livetweet.publishers.x import XPublisher
from livetweet.service import InboxService

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
    draft = inbox(world).reshare(message.id, "alice", alt=[ALT])
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
    draft = inbox(world).reshare(message.id, "alice", alt=["The room from the podium", "The room from the back"])
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
        "the direct message from @delegate_one is kept without the photo: fetching a direct message's image "
        "failed: X answered 500 Internal Server Error"
    ]
    [message] = inbox(world).messages()
    assert (message.text, len(message.media_keys), message.media) == ("Photo of the panel", 1, ())
    [entry] = [e for e in world.store.audit() if e.action == "photo-not-fetched"]
    assert entry.reason == result.notes[0]
    with pytest.raises(InboxError, match="its 1 media could not be fetched"):
        inbox(world).reshare(message.id, "alice", alt=[ALT])
    assert inbox(world).reshare(message.id, "alice").media == ()  # the words can still go out


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
