"""Languages (issue 15): each account posts in its language, a slot in the languages it names, each
delivery written by its language's template with its language's hashtags, and Bluesky's and
Mastodon's posts carrying that language (through the real atproto and Mastodon.py clients to the
simulated servers). Every bad language is one line naming the file, the line and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livetweet.draft import DraftState
from livetweet.plan.check import check_schedule
from livetweet.plan.schedule import load_schedule
from livetweet.store import EventRow, event_accounts

from .support.cli import cli
from .support.events import MINI_SCHEDULE, write_event
from .support.world import HELLO_AT, Q1_AT, NetworksWorld

S = DraftState
ACCOUNTS = """accounts:
  - id: x
    network: x
    handle: "@demo"
  - id: bsky
    network: bluesky
    handle: demo.bsky.social
    lang: en
  - id: bsky-fr
    network: bluesky
    handle: demo-fr.bsky.social
    lang: fr
  - id: masto-fr
    network: mastodon
    handle: "@demo@mastodon.social"
    lang: FR
"""
# French hashtags for the event and objective 5; a slot "merci" in French alone.
SCHEDULE = (
    MINI_SCHEDULE.replace(
        '  hashtags: ["#GCM"]\n', '  hashtags: ["#GCM"]\n  hashtags_by_lang: {fr: ["#PacteMondial"]}\n'
    )
    .replace(
        '    hashtags: ["#Pathways"]\n',
        '    hashtags: ["#Pathways"]\n    hashtags_by_lang: {fr: ["#VoiesRegulieres"]}\n',
    )
    .replace("slots:\n", "slots:\n  - id: merci\n    template: thanks\n    at: q1.start + 10m\n    lang: [fr]\n")
    + ACCOUNTS
)
BASE = SCHEDULE[: SCHEDULE.index("accounts:")].count("\n") + 1  # the accounts block's first line
TEMPLATES = {
    "hello.j2": "Welcome to {{ event.title }}!",
    "hello.fr.j2": "Bienvenue à {{ event.title }} !",
    "question.j2": "Now: {{ segment.title }}.",
    "question.fr.j2": "Maintenant : {{ segment.title }}.",
    "thanks.j2": "Thanks for your questions!",
    "thanks.fr.j2": "Merci pour vos questions ({{ lang }}, {{ network }}) !",
}


@pytest.fixture(autouse=True)
def in_event_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages name files as the officer would type them: from the event's folder."""
    monkeypatch.chdir(tmp_path)


def must(event: EventRow | None) -> EventRow:
    """The event the test loaded (its absence is the test's failure)."""
    assert event is not None, "the event is not in the store"
    return event


def event(tmp_path: Path, schedule: str = SCHEDULE, templates: dict[str, str] = TEMPLATES) -> Path:
    return write_event(tmp_path, schedule, templates)


def problems(path: Path) -> list[str]:
    return [str(p) for p in check_schedule(path).problems]


# --- reading ----------------------------------------------------------------------------------


def test_an_account_posts_in_its_language_else_the_events(tmp_path: Path) -> None:
    schedule = load_schedule(event(tmp_path))
    assert [(a.id, a.lang) for a in schedule.accounts] == [("x", "en"), ("bsky", "en"), ("bsky-fr", "fr"),
                                                            ("masto-fr", "fr")]  # fmt: skip
    assert schedule.event.lang == "en" and schedule.languages == ("en", "fr")
    in_french = SCHEDULE.replace(
        '  hashtags_by_lang: {fr: ["#PacteMondial"]}', '  lang: fr\n  hashtags_by_lang: {en: ["#GCM"]}'
    )
    french = load_schedule(event(tmp_path, in_french.replace("{fr: [", "{en: [")))
    assert [a.lang for a in french.accounts] == ["fr", "en", "fr", "fr"]  # x says none: the event's
    alone = load_schedule(event(tmp_path, MINI_SCHEDULE))
    assert [(a.id, a.lang) for a in alone.accounts] == [("x", "en")]


def test_a_slot_posts_to_the_accounts_of_its_languages(tmp_path: Path) -> None:
    schedule = load_schedule(event(tmp_path))
    slots = {s.id: s for s in schedule.slots}
    assert [a.id for a in schedule.accounts_of(slots["merci"])] == ["bsky-fr", "masto-fr"]
    assert [a.id for a in schedule.accounts_of(slots["hello"])] == ["x", "bsky", "bsky-fr", "masto-fr"]


def test_hashtags_in_a_language_replace_the_default_ones(tmp_path: Path) -> None:
    schedule = load_schedule(event(tmp_path))
    assert schedule.event.hashtags_in("fr") == ("#PacteMondial",)
    assert schedule.event.hashtags_in("en") == schedule.event.hashtags_in("ru") == ("#GCM",)
    assert schedule.objectives[5].hashtags_in("fr") == ("#VoiesRegulieres",)


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("    lang: FR\n", "    lang: French\n", BASE + 15,
         'account "masto-fr" lang "French" is not a language code: write its code, "fr"'),
        ("    lang: FR\n", "    lang: pt-BR\n", BASE + 15,
         'account "masto-fr" lang "pt-BR" is not a language code: write the language alone, "pt" (Mastodon takes '
         "no region)"),
        ("    lang: FR\n", "    lang: [fr]\n", BASE + 15, 'account "masto-fr" lang must be text, not a list'),
        ("    lang: [fr]\n", "    lang: [fr, de]\n", 30,
         'slot "merci" lang de: no account of the event posts in de (they post in en, fr): give an account lang: de, '
         "or leave it out of the slot's lang"),
        ("    lang: [fr]\n", "    lang: [fr]\n    accounts: [x]\n", 30,
         'slot "merci" lang fr: none of its accounts posts in fr (they post in en): give an account lang: fr, '
         "or leave it out of the slot's lang"),
        ("    lang: [fr]\n", "    lang: [francais]\n", 30,
         'slot "merci" lang "francais" is not a language code: write its code, "fr"'),
        ("{fr: [\"#PacteMondial\"]}", "{en: [\"#PacteMondial\"]}", 10,
         "event hashtags_by_lang: en is the event's own language (event lang), whose hashtags are the hashtags "
         "above: write them there"),
        ("{fr: [\"#PacteMondial\"]}", "{fr: []}", 10, "event hashtags_by_lang fr must list at least one hashtag"),
        ("{fr: [\"#PacteMondial\"]}", "{fr: [\"PacteMondial\"]}", 10,
         'event hashtags_by_lang fr: "PacteMondial" is not a hashtag (write it with its #, like "#GCM")'),
        ("{fr: [\"#PacteMondial\"]}", "[\"#PacteMondial\"]", 10,
         'event hashtags_by_lang must map each language to its hashtags, like {fr: ["#PacteMondial"]}'),
        ("{fr: [\"#VoiesRegulieres\"]}", "{Français: [\"#VoiesRegulieres\"]}", 15,
         'objective 5 hashtags_by_lang: language "Français" is not a language code: write its code, "fr"'),
        ('  handle: "@demo"\n', '  handle: "@demo_fr"\n    lang: fr\n', BASE + 3,
         'account "x" is @demo_fr on X, but the event account is @demo: they are one account, write the same handle '
         "(an X account in another language needs an event of its own)"),
    ],
)  # fmt: skip
def test_a_bad_language_is_one_error_at_its_line(tmp_path: Path, old: str, new: str, line: int, expected: str) -> None:
    assert old in SCHEDULE
    found = problems(event(tmp_path, SCHEDULE.replace(old, new, 1)))
    assert f"schedules/demo.yaml:{line}: {expected}" in found, found


def test_hashtags_in_a_language_no_account_posts_in_are_a_warning(tmp_path: Path) -> None:
    found = problems(event(tmp_path, SCHEDULE.replace("{fr: [\"#PacteMondial\"]}", "{fr: [\"#PacteMondial\"], ru: "
                                                      "[\"#ГДМ\"]}")))  # fmt: skip
    assert found == [
        "schedules/demo.yaml:10: warning: event hashtags_by_lang ru: no account posts in ru (give one lang: ru), "
        "so these hashtags are not used"
    ]


# --- composing and checking --------------------------------------------------------------------


def test_each_delivery_is_written_in_its_accounts_language_with_its_hashtags(tmp_path: Path) -> None:
    report = check_schedule(event(tmp_path))
    assert report.ok and not report.problems, report.problems
    posts = {p.slot.id: p for p in report.posts}
    assert (posts["hello"].lang, posts["hello"].network) == ("en", "x")  # the event's language, on X
    assert posts["hello"].text == "Welcome to Demo event!\n\n#GCM"
    french = report.post_for(posts["q1"], "mastodon", "fr")
    assert french.text == "Maintenant : Question 1.\n\n#PacteMondial #VoiesRegulieres"
    assert french.wanted_hashtags == ("#PacteMondial", "#VoiesRegulieres") and french.lang == "fr"
    assert report.post_for(posts["q1"], "bluesky", "en") is posts["q1"]  # the same words as on X
    assert report.post_for(posts["q1"], "bluesky") is posts["q1"]  # no language: the post's own
    merci = posts["merci"]  # French alone: its first account's network writes the base post
    assert (merci.lang, merci.network, merci.text) == ("fr", "bluesky", "Merci pour vos questions (fr, bluesky) !\n\n"
                                                       "#PacteMondial #VoiesRegulieres")  # fmt: skip
    assert report.post_for(merci, "mastodon", "fr").text.startswith("Merci pour vos questions (fr, mastodon) !")


def test_a_language_and_network_template_comes_before_either_alone(tmp_path: Path) -> None:
    templates = {**TEMPLATES, "hello.bluesky.j2": "Hi Bluesky!", "hello.fr.bluesky.j2": "Salut Bluesky !"}
    report = check_schedule(event(tmp_path, templates=templates))
    hello = next(p for p in report.posts if p.slot.id == "hello")
    assert report.post_for(hello, "bluesky", "fr").text.startswith("Salut Bluesky !")
    assert report.post_for(hello, "bluesky", "en").text.startswith("Hi Bluesky!")
    assert report.post_for(hello, "mastodon", "fr").text.startswith("Bienvenue à Demo event !")


def test_a_language_without_its_template_is_a_warning_when_it_would_post_the_same_words(tmp_path: Path) -> None:
    templates = {k: v for k, v in TEMPLATES.items() if k != "hello.fr.j2"}
    found = problems(event(tmp_path, SCHEDULE.replace('  hashtags_by_lang: {fr: ["#PacteMondial"]}\n', ""),
                           templates))  # fmt: skip
    assert found == [
        'schedules/demo.yaml:30: warning: slot "hello": its post in fr is word for word its post in en '
        "(templates/hello.j2 wrote both): write hello.fr.j2 beside it, or use {{ lang }} in the template"
    ]


def test_check_names_the_language_of_a_post_too_long_for_its_network(tmp_path: Path) -> None:
    templates = {**TEMPLATES, "question.fr.j2": "Maintenant : " + "mot " * 130}
    found = problems(event(tmp_path, templates=templates))
    assert any(
        p.startswith('schedules/demo.yaml:34: slot "q1" to @demo@mastodon.social on Mastodon (fr): the post is ')
        and p.endswith("shorten templates/question.fr.j2 or the slot's vars")
        for p in found
    ), found


def test_preview_shows_each_deliverys_language(tmp_path: Path) -> None:
    path = event(tmp_path)
    result = cli("preview", str(path), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    hello = next(p for p in json.loads(result.stdout) if p["slot"] == "hello")
    assert [(d["account"], d["lang"], d.get("text", "").split("\n")[0]) for d in hello["deliveries"]] == [
        ("x", "en", ""), ("bsky", "en", ""), ("bsky-fr", "fr", "Bienvenue à Demo event !"),
        ("masto-fr", "fr", "Bienvenue à Demo event !"),
    ]  # fmt: skip
    text = cli("preview", str(path), cwd=tmp_path)
    assert "@demo@mastodon.social (mastodon, fr)" in text.stdout and "@demo (x, en)" in text.stdout


def test_old_stored_accounts_without_a_language_are_english() -> None:
    at = datetime(2020, 11, 12, 12, 30, tzinfo=UTC)
    accounts = json.dumps([{"id": "x", "network": "x", "handle": "@demo", "max_chars": None}])
    row = EventRow("demo", "Demo", "@demo", "UTC", "demo.yaml", "approval", at, at, None, None, at, None, accounts)
    assert [a.lang for a in event_accounts(row)] == ["en"]


# --- loading and posting -----------------------------------------------------------------------


class Languages(NetworksWorld):
    """The dispatch tests' world with an English and a French Bluesky account and a French Mastodon one."""

    def __init__(self, tmp_path: Path) -> None:
        for name, text in TEMPLATES.items():  # beside the world's own templates (it writes the English ones)
            (tmp_path / "templates").mkdir(exist_ok=True)
            (tmp_path / "templates" / name).write_text(text, encoding="utf-8")
        super().__init__(tmp_path, SCHEDULE, "auto", timeout=5.0)
        self.bsky = self.bluesky("bsky", "demo.bsky.social")
        self.bsky_fr = self.bluesky("bsky-fr", "demo-fr.bsky.social")
        self.masto = self.mastodon("masto-fr")

    def texts(self) -> dict[tuple[str, str], str]:
        return {(d.slot, d.account): d.text for d in self.world.store.drafts(event_id="demo")}


@pytest.fixture
def langs(tmp_path: Path) -> Iterator[Languages]:
    with Languages(tmp_path) as world:
        yield world


def test_load_makes_each_delivery_in_its_accounts_language(langs: Languages) -> None:
    texts = langs.texts()
    assert sorted(texts) == [
        ("hello", "bsky"), ("hello", "bsky-fr"), ("hello", "masto-fr"), ("hello", "x"),
        ("merci", "bsky-fr"), ("merci", "masto-fr"),
        ("q1", "bsky"), ("q1", "bsky-fr"), ("q1", "masto-fr"), ("q1", "x"),
    ]  # fmt: skip
    assert texts["q1", "x"] == texts["q1", "bsky"] == "Now: Question 1.\n\n#GCM #Pathways"
    assert (
        texts["q1", "bsky-fr"]
        == texts["q1", "masto-fr"]
        == "Maintenant : Question 1.\n\n#PacteMondial #VoiesRegulieres"
    )
    french = langs.world.store.draft_by_slot(None, "demo", "q1", "masto-fr")
    assert french is not None and french.wanted_hashtags == ("#PacteMondial", "#VoiesRegulieres")
    stored = {a.id: a.lang for a in event_accounts(must(langs.world.store.event("demo")))}
    assert stored == {"x": "en", "bsky": "en", "bsky-fr": "fr", "masto-fr": "fr"}


def test_bluesky_and_mastodon_posts_carry_their_language(langs: Languages) -> None:
    langs.at(HELLO_AT).at(Q1_AT).at(Q1_AT + timedelta(minutes=8))
    assert {d.state for d in langs.world.store.drafts(event_id="demo")} == {S.POSTED}
    assert [(r.value["text"].split("\n")[0], r.value["langs"]) for r in langs.bsky.posts()] == [
        ("Welcome to Demo event!", ["en"]), ("Now: Question 1.", ["en"])
    ]  # fmt: skip
    assert [(r.value["text"].split("\n")[0], r.value["langs"]) for r in langs.bsky_fr.posts()] == [
        ("Bienvenue à Demo event !", ["fr"]), ("Maintenant : Question 1.", ["fr"]),
        ("Merci pour vos questions (fr, bluesky) !", ["fr"]),
    ]  # fmt: skip
    assert [(s.text.split("\n")[0], s.language) for s in langs.masto.statuses()] == [
        ("Bienvenue à Demo event !", "fr"), ("Maintenant : Question 1.", "fr"),
        ("Merci pour vos questions (fr, mastodon) !", "fr"),
    ]  # fmt: skip
    assert [t.text.split("\n")[0] for t in langs.world.x.posts()] == ["Welcome to Demo event!", "Now: Question 1."]


def test_a_reload_that_drops_a_language_from_a_slot_withdraws_those_deliveries(langs: Languages) -> None:
    schedule = Path(must(langs.world.store.event("demo")).schedule_path)
    schedule.write_text(schedule.read_text().replace("    at: opening.start + 1m\n",
                                                     "    at: opening.start + 1m\n    lang: [en]\n"))  # fmt: skip
    report = langs.world.service.load(schedule)
    assert sorted((d.slot, d.account) for d in report.withdrawn) == [("hello", "bsky-fr"), ("hello", "masto-fr")]
