"""The simulated X API answers real tweepy as X does."""

from __future__ import annotations

import pytest
import requests
import tweepy

from livetweet.fakes import FakeXServer, add_dm
from livetweet.publishers.x import X_API, _RoutingAdapter

from .support.world import X_TEST_CREDENTIALS


def client_for(server: FakeXServer) -> tweepy.Client:
    c = X_TEST_CREDENTIALS
    client = tweepy.Client(
        consumer_key=c["X_API_KEY"],
        consumer_secret=c["X_API_KEY_SECRET"],
        access_token=c["X_ACCESS_TOKEN"],
        access_token_secret=c["X_ACCESS_TOKEN_SECRET"],
    )
    client.session.mount(X_API, _RoutingAdapter(server.url, 2.0))
    return client


def test_post_reply_delete_and_me(fake_x: FakeXServer) -> None:
    client = client_for(fake_x)
    me = client.get_me(user_auth=True).data
    assert me.username == "UNMigNetwork"
    first = client.create_tweet(text="Roundtable 2 starts #GCM", user_auth=True).data
    reply = client.create_tweet(text="Send us DMs #GCM", in_reply_to_tweet_id=first["id"], user_auth=True).data
    assert [t.in_reply_to for t in fake_x.posts()] == [None, first["id"]]
    assert client.delete_tweet(reply["id"], user_auth=True).data == {"deleted": True}
    assert [t.text for t in fake_x.posts()] == ["Roundtable 2 starts #GCM"]


def test_duplicate_content_is_refused_with_403(fake_x: FakeXServer) -> None:
    client = client_for(fake_x)
    client.create_tweet(text="Same words", user_auth=True)
    with pytest.raises(tweepy.Forbidden, match="duplicate content"):
        client.create_tweet(text="Same words", user_auth=True)
    assert len(fake_x.posts()) == 1


def test_text_over_280_is_refused_with_400(fake_x: FakeXServer) -> None:
    with pytest.raises(tweepy.BadRequest, match="too long"):
        client_for(fake_x).create_tweet(text="x" * 281, user_auth=True)
    assert fake_x.posts() == []


def test_unsigned_requests_get_401(fake_x: FakeXServer) -> None:
    response = requests.post(f"{fake_x.url}/2/tweets", json={"text": "hi"}, timeout=5)
    assert response.status_code == 401


def test_rate_limit_headers_and_429_with_reset() -> None:
    server = FakeXServer(rate_limits={"POST /2/tweets": 2}).start()
    try:
        client = client_for(server)
        response = client.create_tweet(text="one", user_auth=True)
        assert response.data["text"] == "one"
        client.create_tweet(text="two", user_auth=True)
        with pytest.raises(tweepy.TooManyRequests) as caught:
            client.create_tweet(text="three", user_auth=True)
        assert caught.value.response.headers["x-rate-limit-remaining"] == "0"
        assert caught.value.reset_time is not None
        assert [t.text for t in server.posts()] == ["one", "two"]
    finally:
        server.stop()


def test_recent_tweets_with_since_id_and_pagination(fake_x: FakeXServer) -> None:
    client = client_for(fake_x)
    ids = [client.create_tweet(text=f"post {i}", user_auth=True).data["id"] for i in range(12)]
    me = client.get_me(user_auth=True).data.id
    page = client.get_users_tweets(me, max_results=5, user_auth=True)
    assert [t.text for t in page.data] == ["post 11", "post 10", "post 9", "post 8", "post 7"]
    second = client.get_users_tweets(me, max_results=5, pagination_token=page.meta["next_token"], user_auth=True)
    assert [t.text for t in second.data] == ["post 6", "post 5", "post 4", "post 3", "post 2"]
    newer = client.get_users_tweets(me, since_id=ids[9], user_auth=True)
    assert [t.text for t in newer.data] == ["post 11", "post 10"]


def test_direct_messages_with_senders_and_pagination(fake_x: FakeXServer) -> None:
    for i in range(3):
        add_dm(fake_x.state, "speaker_one", f"message {i}")
    client = client_for(fake_x)
    page = client.get_direct_message_events(max_results=2, expansions=["sender_id"], user_auth=True)
    assert [e.text for e in page.data] == ["message 2", "message 1"]
    assert page.includes["users"][0].username == "speaker_one"
    rest = client.get_direct_message_events(max_results=2, pagination_token=page.meta["next_token"], user_auth=True)
    assert [e.text for e in rest.data] == ["message 0"]


def test_injected_faults_happen_once_then_x_recovers(fake_x: FakeXServer) -> None:
    client = client_for(fake_x)
    fake_x.inject_fault("503")
    with pytest.raises(tweepy.TwitterServerError):
        client.create_tweet(text="first try", user_auth=True)
    assert client.create_tweet(text="first try", user_auth=True).data["text"] == "first try"


def test_the_timeline_page_escapes_text(fake_x: FakeXServer) -> None:
    client_for(fake_x).create_tweet(text="<script>alert(1)</script> #GCM", user_auth=True)
    page = requests.get(f"{fake_x.url}/", timeout=5).text
    assert "&lt;script&gt;" in page and "<script>" not in page
