"""Bluesky end to end: BlueskyPublisher drives the real atproto Client over HTTP to the simulated PDS.

Posts with facets, threads, images, limits, every fault mapped to its outcome, exactly once by
record key, find_post, the chat inbox with its cursor, and sessions that expire on a test's clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from atproto import Client
from atproto_client.exceptions import BadRequestError, RequestException

from livetweet.clock import FixedClock
from livetweet.fakes import FakeBlueskyServer
from livetweet.fakes.bluesky import did_for, post_metrics
from livetweet.publishers.base import OutcomeUnknown, Posted, PublisherError, RateLimited, Refused, RetryLater, Uploaded
from livetweet.publishers.bluesky import BlueskyPublisher

from .support.images import photo, png

HANDLE = "unmignetwork.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
KEY = "3mkzcnwsd2222"
CREATE = "com.atproto.repo.createRecord"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def pds(clock: FixedClock) -> Iterator[FakeBlueskyServer]:
    server = FakeBlueskyServer(clock=clock, hang_seconds=10).start()
    yield server
    server.stop()


@pytest.fixture
def bsky(pds: FakeBlueskyServer, clock: FixedClock) -> Iterator[BlueskyPublisher]:
    publisher = BlueskyPublisher(HANDLE, PASSWORD, pds.url, timeout=1.0, clock=clock)
    yield publisher
    publisher.close()


def posted(outcome: object) -> str:
    assert isinstance(outcome, Posted), outcome
    return outcome.tweet_id


def covered(text: str, facet: dict[str, object]) -> str:
    index = facet["index"]
    assert isinstance(index, dict)
    return text.encode()[index["byteStart"] : index["byteEnd"]].decode()


# --- posts -------------------------------------------------------------------------------------


def test_a_post_carries_link_tag_and_mention_facets_at_their_byte_offsets(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer
) -> None:
    text = "Café 👩🏽‍💻 Привет! Watch https://un.org/migration #Migración with @iom.bsky.social and @ghost.bsky.social"
    uri = posted(bsky.post(text, key=KEY))
    [record] = pds.posts()
    assert uri == f"at://{pds.did}/app.bsky.feed.post/{KEY}" == record.uri
    assert record.text == text
    found = [(covered(text, f), f["features"][0]) for f in record.facets]
    assert [(span, {k: v for k, v in feature.items() if k != "$type"}) for span, feature in found] == [
        ("https://un.org/migration", {"uri": "https://un.org/migration"}),
        ("#Migración", {"tag": "Migración"}),
        ("@iom.bsky.social", {"did": did_for("iom.bsky.social")}),
    ]  # @ghost.bsky.social does not resolve: plain text
    assert [f["features"][0]["$type"] for f in record.facets] == [
        "app.bsky.richtext.facet#link", "app.bsky.richtext.facet#tag", "app.bsky.richtext.facet#mention",
    ]  # fmt: skip


def test_a_handle_is_resolved_once_per_publisher(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    posted(bsky.post("Thanks @iom.bsky.social"))
    posted(bsky.post("And again @IOM.bsky.social, @ghost.bsky.social"))
    posted(bsky.post("Still @ghost.bsky.social"))
    assert [r[1] for r in pds.requests("com.atproto.identity.resolveHandle")] == ["200", "400"]


def test_a_thread_names_its_root_and_parent(bsky: BlueskyPublisher, pds: FakeBlueskyServer, clock: FixedClock) -> None:
    first = posted(bsky.post("1/3 The roundtable begins"))
    second = posted(bsky.post("2/3 First speaker", in_reply_to=first))
    # Another publisher (a restarted run) knows nothing of the thread: it reads the parent back.
    later = BlueskyPublisher(HANDLE, PASSWORD, pds.url, timeout=1.0, clock=clock)
    third = posted(later.post("3/3 Second speaker", in_reply_to=second))
    by_uri = {r.uri: r for r in pds.posts()}
    root = {"uri": first, "cid": by_uri[first].cid}
    assert by_uri[first].reply is None
    assert _ref(by_uri[second].reply, "root") == root
    assert _ref(by_uri[second].reply, "parent") == root
    assert _ref(by_uri[third].reply, "root") == root
    assert _ref(by_uri[third].reply, "parent") == {"uri": second, "cid": by_uri[second].cid}
    assert ("com.atproto.repo.getRecord", "200") in pds.requests()  # the restarted one read the parent


def _ref(reply: dict[str, object] | None, part: str) -> dict[str, object]:
    assert reply is not None
    ref = reply[part]
    assert isinstance(ref, dict)
    return {"uri": ref["uri"], "cid": ref["cid"]}


def test_a_reply_to_a_post_that_is_gone_is_refused(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    outcome = bsky.post("reply", in_reply_to=f"at://{pds.did}/app.bsky.feed.post/3mkzcnwsd2zzz")
    assert isinstance(outcome, Refused) and "not on Bluesky" in outcome.reason
    assert pds.posts() == []


def test_images_go_with_their_alt_text(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    square, picture = png((40, 30)), photo((64, 48))
    uploads = [bsky.upload(square, "image/png", "A green square"), bsky.upload(picture, "image/jpeg", "The hall")]
    assert all(isinstance(u, Uploaded) for u in uploads)
    posted(bsky.post("Two pictures", media_ids=[u.media_id for u in uploads if isinstance(u, Uploaded)]))
    [record] = pds.posts()
    assert record.embed is not None and record.embed["$type"] == "app.bsky.embed.images"
    images = record.embed["images"]
    assert [i["alt"] for i in images] == ["A green square", "The hall"]
    assert [(i["aspectRatio"]["width"], i["aspectRatio"]["height"]) for i in images] == [(40, 30), (64, 48)]
    blobs = {b.cid: b for b in pds.blobs()}
    assert [blobs[i["image"]["ref"]["$link"]].data for i in images] == [square, picture]
    assert [blobs[i["image"]["ref"]["$link"]].mime for i in images] == ["image/png", "image/jpeg"]
    assert all(b.used_by == [record.uri] for b in blobs.values())


def test_images_the_pds_no_longer_has_are_uploaded_again(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    upload = bsky.upload(png(), "image/png", "A green square")
    assert isinstance(upload, Uploaded)
    with pds.state.lock:
        pds.state.blobs.clear()  # as the PDS does with a blob no record took within minutes
    outcome = bsky.post("Late picture", media_ids=[upload.media_id])
    assert isinstance(outcome, RetryLater) and outcome.stale_media
    assert pds.posts() == []


# --- limits --------------------------------------------------------------------------------------


def test_a_text_over_the_limit_is_refused_before_it_is_sent(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    outcome = bsky.post("é" * 301)
    assert outcome == Refused("the post is 301 characters long; Bluesky allows 300")
    assert pds.requests(CREATE) == []


def test_an_image_or_alt_text_over_the_limit_is_refused_before_it_is_sent(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer
) -> None:
    too_big = bsky.upload(b"\x89PNG\r\n\x1a\n" + b"\0" * 2_000_000, "image/png", "alt")
    assert too_big == Refused("the image is 2,000,008 bytes; Bluesky takes at most 2,000,000")
    assert bsky.upload(png(), "image/png", "a" * 2001) == Refused(
        "the alt text is 2,001 characters long; Bluesky allows 2,000"
    )
    assert pds.requests("com.atproto.repo.uploadBlob") == []
    assert bsky.post("five", media_ids=["{}"] * 5) == Refused("a post carries 5 images; Bluesky allows 4")


@pytest.fixture
def raw_client(pds: FakeBlueskyServer) -> Client:
    """The atproto Client itself, logged in: to send what the publisher never would."""
    client = Client(pds.url)
    client.login(HANDLE, PASSWORD, fetch_bsky_profile=False)
    return client


def _create(client: Client, did: str, record: Mapping[str, object], rkey: str | None = KEY) -> object:
    data = {"repo": did, "collection": "app.bsky.feed.post", "record": record}
    return client.com.atproto.repo.create_record({**data, **({"rkey": rkey} if rkey else {})})


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "é" * 301}, "Record/text must not be longer than 300 graphemes"),
        ({"text": "👩‍👩‍👧" * 170}, "Record/text must not be longer than 3000 characters"),
        ({"text": "ab", "facets": [{"index": {"byteStart": 0, "byteEnd": 3},
                                     "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "x"}]}]},
         "Record/facets/0/index (0-3) must lie inside the text's 2 bytes"),
        ({"text": "x", "embed": {"$type": "app.bsky.embed.images", "images": [
            {"alt": "", "image": {"$type": "blob", "ref": {"$link": "bafkreinope"}, "mimeType": "image/png",
                                  "size": 3}}]}}, "Could not find blob: bafkreinope"),
    ],
)  # fmt: skip
def test_the_simulated_pds_checks_a_post_as_the_pds_does(
    raw_client: Client, pds: FakeBlueskyServer, record: dict[str, object], message: str
) -> None:
    record = {"$type": "app.bsky.feed.post", "createdAt": "2026-05-04T09:00:00.000Z", **record}
    with pytest.raises(BadRequestError) as caught:
        _create(raw_client, pds.did, record)
    assert message in str(caught.value)
    assert pds.posts() == []


def test_the_simulated_pds_answers_a_taken_record_key_as_the_pds_does_today(
    raw_client: Client, pds: FakeBlueskyServer
) -> None:
    record = {"$type": "app.bsky.feed.post", "text": "once", "createdAt": "2026-05-04T09:00:00.000Z"}
    _create(raw_client, pds.did, record)
    with pytest.raises(RequestException) as caught:
        _create(raw_client, pds.did, record)
    assert caught.value.response.status_code == 500
    assert caught.value.response.content.error == "InternalServerError"  # bluesky-social/atproto#3718
    with pytest.raises(BadRequestError, match="is not a TID"):
        _create(raw_client, pds.did, record, rkey="not-a-tid")
    assert len(pds.posts()) == 1


def test_the_simulated_pds_images_must_be_small_enough(raw_client: Client, pds: FakeBlueskyServer) -> None:
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * 2_000_000
    blob = raw_client.com.atproto.repo.upload_blob(big).blob
    assert blob.mime_type == "image/png"  # read from the bytes, whatever the client said
    record = {"$type": "app.bsky.feed.post", "text": "big", "createdAt": "2026-05-04T09:00:00.000Z",
              "embed": {"$type": "app.bsky.embed.images", "images": [
                  {"alt": "", "image": {"$type": "blob", "ref": {"$link": blob.ref.link}, "mimeType": "image/png",
                                        "size": len(big)}}]}}  # fmt: skip
    with pytest.raises(BadRequestError, match="This file is too large"):
        _create(raw_client, pds.did, record)


# --- faults: each mapped to its outcome, and a retry with the same key makes one post ---------------


@pytest.mark.parametrize(
    ("kind", "expected", "stored"),
    [
        ("500", RetryLater, False),  # read back by its key: not made
        ("502", OutcomeUnknown, False),
        ("503", OutcomeUnknown, False),
        ("503-after-store", OutcomeUnknown, True),
        ("drop-after-store", OutcomeUnknown, True),
        ("hang-after-store", OutcomeUnknown, True),
        ("hang", OutcomeUnknown, False),
        ("429", RetryLater, False),
        ("401", Refused, False),
        ("400", Refused, False),
    ],
)
def test_each_fault_has_its_outcome_and_the_retry_with_the_same_key_posts_once(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer, kind: str, expected: type, stored: bool
) -> None:
    text = f"The panel starts now ({kind})"
    pds.fault(CREATE, kind)
    first = bsky.post(text, key=KEY)
    assert isinstance(first, expected), first
    assert [r.text for r in pds.posts()] == ([text] if stored else [])
    if kind == "429":
        assert isinstance(first, RetryLater) and first.retry_after is not None and 25 <= first.retry_after <= 30
    if kind == "401":
        assert isinstance(first, Refused) and first.halt
    uri = posted(bsky.post(text, key=KEY))
    assert [(r.uri, r.text) for r in pds.posts()] == [(uri, text)]
    assert uri.endswith(f"/{KEY}")


def test_exactly_once_a_lost_answer_then_a_retry_with_the_same_key(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer
) -> None:
    pds.fault(CREATE, "drop-after-store")
    assert isinstance(bsky.post("Welcome to the roundtable", key=KEY), OutcomeUnknown)
    assert bsky.find_post("Welcome to the roundtable", START, key=KEY) == pds.posts()[0].uri
    retried = posted(bsky.post("Welcome to the roundtable", key=KEY))
    assert [r.uri for r in pds.posts()] == [retried]
    # The retry met the taken key (the PDS's 500) and read the record back by it.
    assert pds.requests(CREATE)[-1] == (CREATE, "500")
    assert pds.requests("com.atproto.repo.getRecord")[-1] == ("com.atproto.repo.getRecord", "200")


def test_the_same_key_with_another_text_is_refused_not_posted(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    posted(bsky.post("The first text", key=KEY))
    outcome = bsky.post("Another text", key=KEY)
    assert isinstance(outcome, Refused) and f"record key {KEY} already holds another post" in outcome.reason
    assert [r.text for r in pds.posts()] == ["The first text"]


def test_a_server_that_cannot_be_reached_is_a_retry(clock: FixedClock) -> None:
    server = FakeBlueskyServer(clock=clock)
    url = server.url
    server.server_close()  # bound once, now nobody listens there
    outcome = BlueskyPublisher(HANDLE, PASSWORD, url, timeout=1.0, clock=clock).post("hello")
    assert isinstance(outcome, RetryLater) and "nothing was posted" in outcome.reason


def test_while_rehearsing_nothing_is_sent_anywhere_else(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    pds.state.url = "https://pds.example.org"  # the DID document would send the client elsewhere
    outcome = bsky.post("hello")
    assert isinstance(outcome, Refused) and outcome.halt and "pds.example.org" in outcome.reason


def test_a_wrong_app_password_halts_and_is_never_shown(pds: FakeBlueskyServer, clock: FixedClock) -> None:
    wrong = BlueskyPublisher(HANDLE, "wxyz-wxyz-wxyz-wxyz", pds.url, timeout=1.0, clock=clock)
    outcome = wrong.post("hello")
    assert isinstance(outcome, Refused) and outcome.halt
    with pytest.raises(PublisherError) as caught:
        wrong.check()
    for said in (outcome.reason, str(caught.value), repr(wrong)):
        assert "wxyz" not in said and PASSWORD not in said
    assert "Invalid identifier or password" in str(caught.value)


def test_check_says_which_account_where(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    assert bsky.check() == f"Bluesky @{HANDLE} at {pds.url}"


# --- find_post ---------------------------------------------------------------------------------------


def test_find_post_by_key(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    uri = posted(bsky.post("Found by its key", key=KEY))
    assert bsky.find_post("whatever the text", START, key=KEY) == uri
    assert bsky.find_post("Found by its key", START, key="3mkzcnwsd2zzz") is None


def test_find_post_by_text_since_a_time(bsky: BlueskyPublisher, clock: FixedClock) -> None:
    old = posted(bsky.post("Said twice"))
    clock.advance(timedelta(hours=1))
    posted(bsky.post("Something else"))
    assert bsky.find_post("Said  twice", START) == old  # spacing aside
    assert bsky.find_post("Said twice", START + timedelta(minutes=30)) is None  # too old for the question
    assert bsky.find_post("Never said", START) is None


def test_find_post_raises_when_the_read_fails(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    pds.fault("com.atproto.repo.getRecord", "503")
    with pytest.raises(PublisherError, match="reading the post back by its record key failed: 503"):
        bsky.find_post("x", START, key=KEY)


# --- the chat inbox --------------------------------------------------------------------------------


def test_chat_messages_arrive_once_each_across_polls(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    pds.add_chat("participant.bsky.social", "A question for the panel")
    pds.add_chat("stranger.bsky.social", "Bonjour ! Une question 🇫🇷")
    first, _pages = bsky.fetch_direct_messages(None)
    assert [(m.sender_username, m.text) for m in first] == [
        ("participant.bsky.social", "A question for the panel"),
        ("stranger.bsky.social", "Bonjour ! Une question 🇫🇷"),
    ]
    assert first[0].sender_id == did_for("participant.bsky.social") and first[0].conversation_id
    cursor = bsky.chat_cursor
    assert cursor is not None
    pds.add_chat("participant.bsky.social", "A follow-up")
    second, _ = bsky.fetch_direct_messages(cursor)
    assert [m.text for m in second] == ["A follow-up"]
    assert bsky.fetch_direct_messages(bsky.chat_cursor)[0] == []
    assert len({m.id for m in [*first, *second]}) == 3
    # A restarted run that kept the cursor reads only what came after it.
    pds.add_chat("stranger.bsky.social", "Last one")
    restarted = BlueskyPublisher(HANDLE, PASSWORD, pds.url, timeout=1.0, clock=bsky.clock)
    assert [m.text for m in restarted.fetch_direct_messages(bsky.chat_cursor)[0]] == ["Last one"]


def test_the_chat_log_is_read_page_after_page(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    pds.state.log_page_size = 2
    pds.add_chat("participant.bsky.social", "hello")
    bsky.fetch_direct_messages(None)
    for i in range(5):
        pds.add_chat("participant.bsky.social", f"message {i}")
    messages, pages = bsky.fetch_direct_messages(bsky.chat_cursor)
    assert [m.text for m in messages] == [f"message {i}" for i in range(5)]
    assert pages == 4  # 2 + 2 + 1, then an empty page


def test_a_shared_photo_in_a_chat_message_can_be_fetched(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    picture = photo((32, 24))
    pds.add_chat("participant.bsky.social", "Our photo", image=picture)
    [message], _ = bsky.fetch_direct_messages(None)
    [media] = message.media
    assert message.media_keys == (media.key,) and media.kind == "photo"
    assert bsky.fetch_dm_media(media.url, 1_000_000) == picture
    with pytest.raises(PublisherError, match="over 100 bytes"):
        bsky.fetch_dm_media(media.url, 100)
    with pytest.raises(PublisherError, match="not where Bluesky serves"):
        bsky.fetch_dm_media("https://evil.example/x.jpg", 1_000_000)


def test_a_rate_limited_chat_poll_says_when_to_come_back(bsky: BlueskyPublisher, pds: FakeBlueskyServer) -> None:
    bsky.fetch_direct_messages(None)
    pds.fault("chat.bsky.convo.getLog", "429")
    with pytest.raises(RateLimited) as caught:
        bsky.fetch_direct_messages(bsky.chat_cursor)
    assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 30


def test_chat_routes_need_the_chat_proxy(raw_client: Client) -> None:
    with pytest.raises(RequestException) as caught:
        raw_client.chat.bsky.convo.get_log({})
    assert caught.value.response.status_code == 501
    assert raw_client.with_bsky_chat_proxy().chat.bsky.convo.get_log({}).logs == []


# --- sessions ---------------------------------------------------------------------------------------


def test_the_session_is_refreshed_before_it_expires_on_our_clock(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer, clock: FixedClock
) -> None:
    posted(bsky.post("Morning"))
    clock.advance(timedelta(hours=1, minutes=50))  # inside the client's 15 minutes before the 2 h expiry
    posted(bsky.post("Noon"))
    clock.advance(timedelta(hours=3))  # long past the new token's expiry too
    posted(bsky.post("Evening"))
    sessions = [r for r in pds.requests() if r[0].startswith("com.atproto.server.")]
    assert sessions == [
        ("com.atproto.server.createSession", "200"),
        ("com.atproto.server.refreshSession", "200"),
        ("com.atproto.server.refreshSession", "200"),
    ]


def test_a_token_the_server_says_expired_means_a_new_login_and_one_more_try(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer
) -> None:
    posted(bsky.post("Before"))
    pds.expire_sessions()  # the server's clock and ours disagree
    posted(bsky.post("After"))
    assert [r[1] for r in pds.requests(CREATE)] == ["200", "400", "200"]
    assert len(pds.requests("com.atproto.server.createSession")) == 2


# --- the simulated server's own manners --------------------------------------------------------------


def test_bad_json_too_large_bodies_and_other_hosts_are_refused(pds: FakeBlueskyServer) -> None:
    url = f"{pds.url}/xrpc/com.atproto.server.createSession"
    bad = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and set(bad.json()) == {"error", "message"}
    assert bad.json()["error"] == "InvalidRequest"
    huge = httpx.post(url, content=b"x" * (200 * 1024), headers={"Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"] == "PayloadTooLarge"
    rebound = httpx.get(f"{pds.url}/xrpc/com.atproto.identity.resolveHandle?handle={HANDLE}",
                        headers={"Host": "evil.example"})  # fmt: skip
    assert rebound.status_code == 400 and "127.0.0.1" in rebound.json()["message"]


def test_get_posts_reports_counts_for_the_report(bsky: BlueskyPublisher) -> None:
    uri = posted(bsky.post("Counted"))
    made_up = post_metrics(uri)
    expected = {"likes": made_up["likeCount"], "reposts": made_up["repostCount"], "replies": made_up["replyCount"],
                "quotes": made_up["quoteCount"]}  # fmt: skip
    assert bsky.metrics([uri]) == {uri: expected}


def test_the_timeline_page_shows_posts_escaped_with_their_alt_text(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer
) -> None:
    upload = bsky.upload(png(), "image/png", "A <b>green</b> square")
    assert isinstance(upload, Uploaded)
    posted(bsky.post("<script>alert(1)</script>", media_ids=[upload.media_id]))
    page = httpx.get(f"{pds.url}/")
    assert "&lt;script&gt;" in page.text and "<script>" not in page.text
    assert "A &lt;b&gt;green&lt;/b&gt; square" in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_rehearsal_adds_chat_messages_and_faults_through_json_control_routes(
    bsky: BlueskyPublisher, pds: FakeBlueskyServer
) -> None:
    sent = httpx.post(f"{pds.url}/fake/chat", json={"from": "participant.bsky.social", "text": "From the hall"})
    assert sent.status_code == 201
    assert [m.text for m in bsky.fetch_direct_messages(None)[0]] == ["From the hall"]
    form = httpx.post(f"{pds.url}/fake/chat", content=b"from=x&text=y",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 415
    other_site = httpx.post(f"{pds.url}/fake/chat", json={"from": "x.bsky.social", "text": "y"},
                            headers={"Origin": "https://evil.example"})  # fmt: skip
    assert other_site.status_code == 403
    assert httpx.post(f"{pds.url}/fake/faults", json={"route": CREATE, "kind": "503"}).status_code == 201
    assert isinstance(bsky.post("Faulted once"), OutcomeUnknown)
    state = httpx.get(f"{pds.url}/fake/state").json()
    assert state["chat"] == 1 and state["posts"] == [] and [CREATE, "fault:503"] in state["requests"]
