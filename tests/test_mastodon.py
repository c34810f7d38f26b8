"""MastodonPublisher: the real Mastodon.py over real HTTP against the simulated Mastodon (fakes/mastodon.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from livetweet.clock import FixedClock, SystemClock
from livetweet.errors import PublisherError, RateLimited
from livetweet.fakes.mastodon import FakeMastodonServer
from livetweet.publishers.base import OutcomeUnknown, Posted, Refused, RetryLater, Uploaded
from livetweet.publishers.mastodon import PROCESSING_WAIT, MastodonPublisher

from .support.photos import png

TOKEN = "test-token-5ecret"
START = datetime(2026, 3, 18, 9, 0, tzinfo=UTC)
LONG_URL = "https://www.un.org/en/migration/" + "m" * 150


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def server(clock: FixedClock) -> Iterator[FakeMastodonServer]:
    fake = FakeMastodonServer(clock=clock, token=TOKEN, hang_seconds=5.0).start()
    yield fake
    fake.stop()


@pytest.fixture
def publisher(server: FakeMastodonServer, clock: FixedClock) -> Iterator[MastodonPublisher]:
    pub = MastodonPublisher(server.url, TOKEN, timeout=0.5, clock=clock, sleep=_no_sleep)
    yield pub
    pub.close()


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the publisher slept {seconds} s where the fake was ready")


# --- posting -------------------------------------------------------------------------------------


def test_a_post_makes_one_status_and_answers_its_id(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    outcome = publisher.post("Opening session: the Migration Network meets", key="ev1:s1:r1:masto")
    assert isinstance(outcome, Posted)
    [status] = server.statuses()
    assert (status.id, status.text, status.idempotency_key) == (outcome.tweet_id, status.text, "ev1:s1:r1:masto")
    assert status.text == "Opening session: the Migration Network meets"
    assert status.visibility == "public"


def test_a_post_without_a_key_still_sends_one(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    assert isinstance(publisher.post("No key given"), Posted)
    assert server.statuses()[0].idempotency_key


def test_a_long_link_counts_23_at_the_server(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    text = "x" * (500 - 24) + " " + LONG_URL  # 476 + 1 + 23 = 500 as Mastodon counts, 659 as written
    assert len(text) > 500
    assert isinstance(publisher.post(text, key="k-url"), Posted)
    too_long = publisher.post("y" * 501, key="k-long")
    assert isinstance(too_long, Refused) and not too_long.halt
    assert "character limit of 500" in too_long.reason


def test_the_instances_own_limit_is_read_at_first_use(clock: FixedClock) -> None:
    fake = FakeMastodonServer(clock=clock, token=TOKEN, max_chars=1000, domain="social.example").start()
    try:
        pub = MastodonPublisher(fake.url, TOKEN, timeout=0.5)
        assert fake.requests() == []  # nothing asked before it is used
        assert pub.max_chars == 1000
        assert isinstance(pub.post("z" * 900, key="k900"), Posted)
        assert pub.check() == f"Mastodon @unmignetwork@social.example at {fake.url} (1000 characters)"
    finally:
        fake.stop()


def test_a_reply_is_threaded_under_its_parent(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    first = publisher.post("1/2 The panel opens", key="k1")
    assert isinstance(first, Posted)
    second = publisher.post("2/2 First speaker", in_reply_to=first.tweet_id, key="k2")
    assert isinstance(second, Posted)
    parent, child = server.statuses()
    assert child.in_reply_to_id == parent.id == first.tweet_id


def test_a_reply_to_a_status_that_is_gone_is_refused(publisher: MastodonPublisher) -> None:
    outcome = publisher.post("reply", in_reply_to="123456", key="k-orphan")
    assert isinstance(outcome, Refused) and "does not appear to exist" in outcome.reason


# --- images ---------------------------------------------------------------------------------------


def test_an_image_goes_up_with_its_alt_text_and_is_attached(
    publisher: MastodonPublisher, server: FakeMastodonServer
) -> None:
    uploaded = publisher.upload(png(), "image/png", "A chart of remittances by region")
    assert isinstance(uploaded, Uploaded)
    assert ("POST /api/v2/media", "202") in server.requests()  # processing, then done at the first look
    assert ("GET /api/v1/media/:id", "200") in server.requests()
    posted = publisher.post("Remittances in 2025", media_ids=[uploaded.media_id], key="k-img")
    assert isinstance(posted, Posted)
    [status] = server.statuses()
    assert [(m.id, m.kind, m.description) for m in status.media] == [
        (uploaded.media_id, "image/png", "A chart of remittances by region")
    ]


def test_processing_is_waited_for_with_growing_pauses(clock: FixedClock) -> None:
    fake = FakeMastodonServer(clock=clock, token=TOKEN, processing_polls=3).start()
    waits: list[float] = []
    try:
        pub = MastodonPublisher(fake.url, TOKEN, timeout=0.5, sleep=waits.append)
        assert isinstance(pub.upload(png(), "image/png", "slide"), Uploaded)
        assert waits == [1.0, 2.0]  # asked at once, then after 1 s and 2 s
        assert [o for r, o in fake.requests() if r == "GET /api/v1/media/:id"] == ["206", "206", "200"]
    finally:
        fake.stop()


def test_processing_that_never_ends_is_a_retry_later(clock: FixedClock) -> None:
    fake = FakeMastodonServer(clock=clock, token=TOKEN, processing_polls=10_000).start()
    waits: list[float] = []
    try:
        pub = MastodonPublisher(fake.url, TOKEN, timeout=0.5, sleep=waits.append)
        outcome = pub.upload(png(), "image/png", "slide")
        assert isinstance(outcome, RetryLater) and "still processing" in outcome.reason
        assert sum(waits) <= PROCESSING_WAIT
    finally:
        fake.stop()


def test_an_alt_text_over_1500_characters_is_refused_before_it_is_sent(
    publisher: MastodonPublisher, server: FakeMastodonServer
) -> None:
    outcome = publisher.upload(png(), "image/png", "a" * 1501)
    assert isinstance(outcome, Refused) and "1,501" in outcome.reason
    assert not any(route == "POST /api/v2/media" for route, _ in server.requests())


def test_a_file_that_is_no_image_is_refused(publisher: MastodonPublisher) -> None:
    outcome = publisher.upload(b"MZ\x90\x00 a program", "image/png", "not really")
    assert isinstance(outcome, Refused) and "content type is invalid" in outcome.reason


def test_an_upload_the_server_forgot_is_uploaded_again(publisher: MastodonPublisher) -> None:
    outcome = publisher.post("with a lost image", media_ids=["999"], key="k-lost")
    assert isinstance(outcome, RetryLater) and outcome.stale_media


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("500", RetryLater), ("503", RetryLater), ("429", RetryLater), ("drop", RetryLater), ("401", Refused)],
)
def test_an_uploads_failures_are_never_unknown(
    publisher: MastodonPublisher, server: FakeMastodonServer, kind: str, expected: type
) -> None:
    server.fault("POST /api/v2/media", kind)
    assert isinstance(publisher.upload(png(), "image/png", "alt"), expected)


# --- each fault, its outcome --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected", "halt"),
    [
        ("500", OutcomeUnknown, None),
        ("503", OutcomeUnknown, None),
        ("503-after-store", OutcomeUnknown, None),
        ("drop-after-store", OutcomeUnknown, None),
        ("hang-after-store", OutcomeUnknown, None),
        ("429", RetryLater, None),
        ("401", Refused, True),
        ("403", Refused, True),
        ("422", Refused, False),
    ],
)
def test_each_fault_on_a_post_has_its_outcome(
    publisher: MastodonPublisher, server: FakeMastodonServer, kind: str, expected: type, halt: bool | None
) -> None:
    server.fault("POST /api/v1/statuses", kind)
    outcome = publisher.post("Fault drill", key=f"k-{kind}")
    assert isinstance(outcome, expected), outcome
    if halt is not None:
        assert isinstance(outcome, Refused) and outcome.halt is halt
    assert TOKEN not in str(outcome)


def test_a_429_says_when_the_limit_resets(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    server.fault("POST /api/v1/statuses", "429", reset_seconds=42)
    outcome = publisher.post("later", key="k-429")
    assert isinstance(outcome, RetryLater)
    assert outcome.retry_after is not None and 41 <= outcome.retry_after <= 44  # the Date header has whole seconds
    assert server.statuses() == []


def test_the_servers_own_rate_limit_answers_429_with_its_reset() -> None:
    fake = FakeMastodonServer(clock=SystemClock(), token=TOKEN).start()
    try:
        fake.state.rate_limits["POST /api/v1/statuses"] = (2, 300.0)
        pub = MastodonPublisher(fake.url, TOKEN, timeout=0.5)
        assert isinstance(pub.post("one", key="a"), Posted)
        assert isinstance(pub.post("two", key="b"), Posted)
        third = pub.post("three", key="c")
        assert isinstance(third, RetryLater)
        assert third.retry_after is not None and 295 <= third.retry_after <= 301
        assert len(fake.statuses()) == 2
    finally:
        fake.stop()


def test_a_server_that_is_not_there_is_a_retry_later() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pub = MastodonPublisher(f"http://127.0.0.1:{port}", TOKEN, timeout=0.5)
    outcome = pub.post("nobody home", key="k")
    assert isinstance(outcome, RetryLater) and "could not be reached" in outcome.reason


def test_a_wrong_token_is_refused_for_good_and_never_repeated(server: FakeMastodonServer) -> None:
    pub = MastodonPublisher(server.url, "wrong-token-xyz", timeout=0.5)
    with pytest.raises(PublisherError) as raised:
        pub.check()
    assert "401" in str(raised.value) and "wrong-token-xyz" not in str(raised.value)
    outcome = pub.post("with a bad token", key="k")
    assert isinstance(outcome, Refused) and outcome.halt and "wrong-token-xyz" not in outcome.reason


def test_a_missing_token_or_a_plain_http_address_is_refused_at_once() -> None:
    with pytest.raises(PublisherError, match="access token is missing"):
        MastodonPublisher("https://mastodon.social", " ")
    with pytest.raises(PublisherError, match="https://host"):
        MastodonPublisher("http://mastodon.social", TOKEN)


# --- exactly once ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["drop-after-store", "503-after-store", "hang-after-store"])
def test_a_retry_with_the_same_key_makes_no_second_status(
    publisher: MastodonPublisher, server: FakeMastodonServer, kind: str
) -> None:
    server.fault("POST /api/v1/statuses", kind)
    first = publisher.post("Keynote starts now", key="ev1:keynote:r1:masto")
    assert isinstance(first, OutcomeUnknown)
    [stored] = server.statuses()  # the server did make it
    again = publisher.post("Keynote starts now", key="ev1:keynote:r1:masto")
    assert again == Posted(stored.id)
    assert len(server.statuses()) == 1


def test_a_key_is_kept_an_hour_as_mastodon_keeps_it(
    publisher: MastodonPublisher, server: FakeMastodonServer, clock: FixedClock
) -> None:
    first = publisher.post("Same words", key="k-hour")
    clock.advance(timedelta(minutes=59))
    assert publisher.post("Same words", key="k-hour") == first
    clock.advance(timedelta(minutes=2))
    later = publisher.post("Same words", key="k-hour")
    assert isinstance(later, Posted) and later != first  # past the hour: why find_post looks first
    assert len(server.statuses()) == 2


def test_find_post_finds_the_status_an_unknown_outcome_made(
    publisher: MastodonPublisher, server: FakeMastodonServer, clock: FixedClock
) -> None:
    text = f"Panel 2 with @amina@mastodon.social:\n\nwatch {LONG_URL} #Migration #GCM"
    since = clock.now()
    server.fault("POST /api/v1/statuses", "drop-after-store")
    assert isinstance(publisher.post(text, key="k-find"), OutcomeUnknown)
    [stored] = server.statuses()
    assert publisher.find_post(text, since) == stored.id  # compared on the text the server renders as HTML
    assert publisher.find_post("Panel 2 with someone else", since) is None


def test_find_post_pages_back_and_stops_at_since(
    publisher: MastodonPublisher, server: FakeMastodonServer, clock: FixedClock
) -> None:
    before = publisher.post("the wanted words", key="k-old")
    assert isinstance(before, Posted)
    clock.advance(timedelta(minutes=30))
    since = clock.now()
    target = publisher.post("the wanted words, again", key="k-target")
    assert isinstance(target, Posted)
    for n in range(90):  # more than two pages of 40 after it
        clock.advance(timedelta(seconds=1))
        assert isinstance(publisher.post(f"update {n}", key=f"k{n}"), Posted)
    assert publisher.find_post("the wanted words, again", since) == target.tweet_id
    assert publisher.find_post("the wanted words", since) is None  # made before `since`
    pages = [r for r, _ in server.requests() if r == "GET /api/v1/accounts/:id/statuses"]
    assert len(pages) >= 3


def test_a_failed_look_up_raises_publisher_error(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    publisher.me()
    server.fault("GET /api/v1/accounts/:id/statuses", "503")
    with pytest.raises(PublisherError, match="looking up recent statuses failed"):
        publisher.find_post("anything", START)


# --- direct messages ----------------------------------------------------------------------------------


def test_direct_messages_come_once_across_polls(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    server.add_direct_message("alice@example.org", "Question for the panel: what about climate?")
    server.add_direct_message("bob", "Photo from room B")
    server.add_direct_message("carol@example.net", "a public mention, not a message", visibility="public")
    messages, pages = publisher.fetch_direct_messages(None)
    assert [(m.sender_username, m.text) for m in messages] == [
        ("bob", "Photo from room B"),
        ("alice@example.org", "Question for the panel: what about climate?"),
    ]
    assert pages >= 1
    newest = max(messages, key=lambda m: int(m.id)).id
    assert publisher.fetch_direct_messages(newest)[0] == []
    server.add_direct_message("dave@example.org", "late one")
    again, _ = publisher.fetch_direct_messages(newest)
    assert [m.text for m in again] == ["late one"]


def test_many_direct_messages_are_read_page_after_page(
    publisher: MastodonPublisher, server: FakeMastodonServer, clock: FixedClock
) -> None:
    for n in range(95):
        clock.advance(timedelta(seconds=1))
        server.add_direct_message(f"p{n}@example.org", f"message {n}")
    messages, pages = publisher.fetch_direct_messages(None)
    assert sorted(int(m.text.split()[1]) for m in messages) == list(range(95))
    assert pages >= 3  # 40 a page


def test_a_message_is_shown_as_typed_html_and_all(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    typed = "<script>alert(1)</script> & <b>bold</b>\nsecond line"
    server.add_direct_message("mallory@example.org", typed)
    [message] = publisher.fetch_direct_messages(None)[0]
    assert message.text == typed  # escaped in Mastodon's HTML, read back as the words typed


def test_a_direct_messages_photo_is_fetched_within_its_limit(
    publisher: MastodonPublisher, server: FakeMastodonServer
) -> None:
    photo = png("teal")
    server.add_direct_message("alice@example.org", "from the hall", (photo,))
    [message] = publisher.fetch_direct_messages(None)[0]
    [media] = message.media
    assert media.kind == "photo" and message.media_keys == (media.key,)
    assert publisher.fetch_dm_media(media.url, 10_000_000) == photo
    with pytest.raises(PublisherError, match="more than livetweet takes"):
        publisher.fetch_dm_media(media.url, 100)
    with pytest.raises(PublisherError, match="not fetched"):
        publisher.fetch_dm_media("https://evil.example/steal.png", 10_000)


def test_a_429_on_direct_messages_is_rate_limited_with_its_reset(
    publisher: MastodonPublisher, server: FakeMastodonServer
) -> None:
    publisher.me()
    server.fault("GET /api/v1/notifications", "429", reset_seconds=60)
    with pytest.raises(RateLimited) as raised:
        publisher.fetch_direct_messages(None)
    assert raised.value.retry_after is not None and 59 <= raised.value.retry_after <= 62


# --- the report's counts, and the simulated server's own guards -----------------------------------------


def test_the_counts_are_read_back_for_the_report(publisher: MastodonPublisher, server: FakeMastodonServer) -> None:
    posted = publisher.post("Thanks to all speakers", key="k-thanks")
    assert isinstance(posted, Posted)
    server.set_counts(posted.tweet_id, favourites=12, reblogs=5, replies=2)
    assert publisher.read_metrics([posted.tweet_id, "404404"]) == {
        posted.tweet_id: {"like_count": 12, "retweet_count": 5, "reply_count": 2}
    }


def test_the_fake_wants_the_token_and_a_small_body(server: FakeMastodonServer) -> None:
    assert requests.post(f"{server.url}/api/v1/statuses", data={"status": "x"}, timeout=5).status_code == 401
    big = requests.post(
        f"{server.url}/api/v1/statuses",
        data={"status": "x" * 70_000},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert big.status_code == 413
    assert server.statuses() == []


def test_the_timeline_page_shows_posts_with_their_alt_text(
    publisher: MastodonPublisher, server: FakeMastodonServer
) -> None:
    uploaded = publisher.upload(png(), "image/png", 'A <chart> "quoted"')
    assert isinstance(uploaded, Uploaded)
    assert isinstance(publisher.post("On the timeline", media_ids=[uploaded.media_id], key="k-page"), Posted)
    page = requests.get(server.url + "/", timeout=5)
    assert "On the timeline" in page.text and "A &lt;chart&gt; &quot;quoted&quot;" in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]


def test_a_deleted_status_is_gone_and_no_longer_found(
    publisher: MastodonPublisher, server: FakeMastodonServer, clock: FixedClock
) -> None:
    posted = publisher.post("posted by mistake", key="k-undo")
    assert isinstance(posted, Posted)
    publisher.delete(posted.tweet_id)
    assert server.statuses() == []
    assert publisher.find_post("posted by mistake", START) is None
    with pytest.raises(PublisherError, match="deleting status"):
        publisher.delete(posted.tweet_id)
