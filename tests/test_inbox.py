"""Direct messages: fetched from the simulated X API with real tweepy, kept once, never run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livetweet.draft import DraftState
from livetweet.fakes import add_dm
from livetweet.inbox import InboxError, Poller, clean_text
from livetweet.service import InboxService
from livetweet.store import Store

from .support.world import HELLO_AT, T_1330, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, mode="approval")
    w.x.state.rate_limits.pop("GET /2/dm_events", None)
    yield w
    w.close()


def inbox(w: World) -> InboxService:
    return InboxService(w.service)


def send(w: World, sender: str, text: str, media: list[str] | None = None) -> None:
    add_dm(w.x.state, sender, text, media)


def reshare_and_post(w: World, message_id: int, text: str | None = None) -> str:
    """Reshare, approve and post a message; return the text that reached X."""
    [draft] = inbox(w).reshare(message_id, "alice", text=text)
    w.service.approve(draft.id, "alice")
    w.dispatcher.tick()
    posted = w.store.get(draft.id)
    assert posted.state == DraftState.POSTED, w.notices
    return next(t.text for t in w.x.posts() if t.id == posted.tweet_id)


def test_a_poll_keeps_each_message_once_even_after_a_restart(world: World, tmp_path: Path) -> None:
    send(world, "speaker_one", "Thank you for having me")
    send(world, "UNMigNetwork", "our own reply: not an inbox item")
    send(world, "speaker_two", "Photo of the panel", media=["3_1326"])
    first = inbox(world).poll(world.publisher)
    assert (first.fetched, first.stored) == (2, 2)
    assert inbox(world).poll(world.publisher).stored == 0
    restarted = InboxService(type(world.service)(Store(f"sqlite:///{tmp_path / 'livetweet.db'}"), world.clock))
    send(world, "speaker_one", "One more thing")
    assert restarted.poll(world.publisher).stored == 1
    messages = restarted.messages()
    assert [(m.sender, m.text, m.media_keys) for m in messages] == [
        ("speaker_one", "Thank you for having me", ()),
        ("speaker_two", "Photo of the panel", ("3_1326",)),
        ("speaker_one", "One more thing", ()),
    ]


def test_pagination_stops_at_the_last_message_kept(world: World) -> None:
    for i in range(250):
        send(world, "crowd", f"message {i}")
    result = inbox(world).poll(world.publisher)
    assert (result.stored, result.pages) == (250, 3)
    for i in range(5):
        send(world, "crowd", f"late {i}")
    later = inbox(world).poll(world.publisher)
    assert (later.stored, later.pages) == (5, 1)


def test_a_reshare_credits_the_sender_and_carries_the_hashtags(world: World) -> None:
    send(world, "speaker_one", "Regular pathways save lives")
    inbox(world).poll(world.publisher)
    world.clock.set(HELLO_AT)
    message = inbox(world).messages()[0]
    posted = reshare_and_post(world, message.id)
    assert posted == "Regular pathways save lives\n\n(via @speaker_one)\n\n#GCM"
    assert inbox(world).messages() == []  # no longer new
    assert inbox(world).messages(include_all=True)[0].state == "reshared"
    created = world.service.history(next(d for d in world.store.drafts() if d.source == "dm").id)[0]
    assert (created.action, created.operator, created.detail["dm_id"]) == ("reshare", "alice", message.dm_id)


def test_a_reshare_that_would_repeat_a_draft_word_for_word_is_refused(world: World) -> None:
    send(world, "speaker_one", "Regular pathways save lives")
    send(world, "speaker_one", "Regular  pathways save lives\r\n")  # the same message, sent twice
    inbox(world).poll(world.publisher)
    world.clock.set(HELLO_AT)
    first, second = sorted(inbox(world).messages(), key=lambda m: m.id)
    inbox(world).reshare(first.id, "alice")
    before = len(world.store.drafts())
    with pytest.raises(
        InboxError, match=rf"the reshare of message {second.id} would repeat draft \d+ \(dm-{first.id}\)"
    ):
        inbox(world).reshare(second.id, "alice")
    assert len(world.store.drafts()) == before  # nothing was created
    assert [m.id for m in inbox(world).messages()] == [second.id]  # still there to dismiss or reword
    [other] = inbox(world).reshare(second.id, "alice", text="Regular pathways save lives, again")
    assert other.text.startswith("Regular pathways save lives, again")


def test_a_reshare_lands_in_the_segment_running_at_its_time(world: World) -> None:
    send(world, "speaker_one", "On pathways")
    inbox(world).poll(world.publisher)
    world.clock.set(T_1330 + timedelta(minutes=20))  # q1 runs from 13:45
    [draft] = inbox(world).reshare(inbox(world).messages()[0].id, "alice")
    assert (draft.segment, draft.text) == ("q1", "On pathways\n\n(via @speaker_one)\n\n#GCM #Pathways")


@pytest.mark.parametrize(
    "hostile", ["{{ 7*7 }}", "{% for x in range(3) %}x{% endfor %}", "{{ config }}", "{{ event.__class__.__mro__ }}"]
)
def test_template_syntax_in_a_message_comes_out_literally(world: World, hostile: str) -> None:
    send(world, "prankster", f"Look: {hostile}")
    inbox(world).poll(world.publisher)
    world.clock.set(HELLO_AT)
    message = inbox(world).messages()[0]
    assert message.text == message.original == f"Look: {hostile}"
    assert reshare_and_post(world, message.id).startswith(f"Look: {hostile}\n\n(via @prankster)")


def test_html_is_kept_as_text(world: World) -> None:
    send(world, "prankster", '<script>alert(1)</script><img src=x onerror="alert(2)">')
    inbox(world).poll(world.publisher)
    world.clock.set(HELLO_AT)
    message = inbox(world).messages()[0]
    assert message.text == '<script>alert(1)</script><img src=x onerror="alert(2)">'
    assert reshare_and_post(world, message.id).startswith("<script>alert(1)</script>")


def test_bidi_overrides_and_zero_width_spaces_are_removed_joiners_stay(world: World) -> None:
    original = (
        "safe\u202egnp.exe\u202c \u2066iso\u2069 zero\u200bwidth\ufeff bell\x07 family 👨\u200d👩\u200d👧 ok\u200c"
    )
    send(world, "speaker", original)
    inbox(world).poll(world.publisher)
    world.clock.set(HELLO_AT)
    message = inbox(world).messages()[0]
    shown = "safegnp.exe iso zerowidth bell family 👨\u200d👩\u200d👧 ok\u200c"
    assert message.text == shown
    assert message.original == original  # kept exactly for the audit
    assert reshare_and_post(world, message.id).startswith(shown)
    audit = world.service.history(next(d for d in world.store.drafts() if d.source == "dm").id)[0]
    assert audit.detail["original"] == original


def test_a_huge_message_is_kept_shown_shortened_and_not_cut_silently(world: World) -> None:
    send(world, "long_winded", "word " * 2000)
    inbox(world).poll(world.publisher)
    message = inbox(world).messages()[0]
    assert len(message.original) == 10_000
    from livetweet.inbox import shorten

    assert shorten(message.text).endswith("(9,500 more characters)")
    with pytest.raises(Exception, match=r"would be \d+/280 weighted characters, \d+ characters too long"):
        inbox(world).reshare(message.id, "alice")
    assert inbox(world).messages()[0].state == "new"
    world.clock.set(HELLO_AT)
    assert reshare_and_post(world, message.id, text="A long message, in short").startswith(
        "A long message, in short\n\n(via @long_winded)"
    )


def test_lone_surrogates_are_kept_and_replaced_when_shown(world: World) -> None:
    send(world, "broken_client", "half an emoji \ud83d here")
    result = inbox(world).poll(world.publisher)
    assert result.stored == 1
    message = inbox(world).messages()[0]
    assert message.original == "half an emoji \ud83d here"
    assert message.text == "half an emoji \ufffd here"
    assert clean_text(message.original) == message.text


def test_a_429_on_messages_delays_the_next_poll_to_the_reset_and_posting_goes_on(world: World) -> None:
    world.service.approve(world.draft("hello").id, "alice")
    poller = Poller(lambda: inbox(world).poll(world.publisher), world.clock)
    world.x.inject_fault("429", route="GET /2/dm_events")
    send(world, "speaker", "hello")
    world.clock.set(HELLO_AT)
    limited = poller.maybe_poll()
    assert limited is not None and limited.retry_at == HELLO_AT + timedelta(seconds=30)
    requests_after_429 = len(world.x.state.requests)
    world.at(HELLO_AT + timedelta(seconds=10))  # posting goes on meanwhile
    assert world.draft("hello").state == DraftState.POSTED
    assert poller.maybe_poll() is None  # not before the reset
    assert [r for r in world.x.state.requests[requests_after_429:] if r[0] == "GET /2/dm_events"] == []
    world.clock.set(HELLO_AT + timedelta(seconds=30))
    after = poller.maybe_poll()
    assert after is not None and after.stored == 1
    assert poller.next_at == HELLO_AT + timedelta(seconds=30) + timedelta(minutes=1)


def test_the_runs_screen_says_what_became_of_a_photo(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from livetweet.cli.render import Screen
    from livetweet.fakes.x import DM_MEDIA_ROUTE

    from .support.photos import jpeg

    world.clock.set(HELLO_AT)
    world.x.inject_fault("500", route=DM_MEDIA_ROUTE)
    add_dm(world.x.state, "speaker_one", "The panel", [jpeg()])
    screen = Screen(world.service, "demo", world.service.zone("demo"))
    screen.polled(inbox(world).poll(world.publisher))
    world.clock.advance(timedelta(minutes=1))
    screen.polled(inbox(world).poll(world.publisher))
    assert capsys.readouterr().out.splitlines() == [
        "13:31:00 CET  inbox    1 new direct message: `livetweet inbox` shows them",
        "13:31:00 CET  inbox    the direct message from @speaker_one is kept without the photo for now: fetching a "
        "direct message's image failed: X answered 500 Internal Server Error; livetweet asks X again on its next "
        "polls (up to 3 more times)",
        "13:32:00 CET  inbox    the photo of the direct message from @speaker_one has arrived (try 2)",
    ]
