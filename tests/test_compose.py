"""The hashtag policy and template rendering."""

from __future__ import annotations

from livetweet.plan.compose import apply_hashtag_policy

from .support.events import MINI_TEMPLATES, CheckFn


def test_missing_hashtags_are_appended_on_their_own_line() -> None:
    text, appended, missing = apply_hashtag_policy("Roundtable 2 starts now.", ["#GlobalCompactforMigration", "#GCM"])
    assert text == "Roundtable 2 starts now.\n\n#GlobalCompactforMigration #GCM"
    assert (appended, missing) == (["#GlobalCompactforMigration", "#GCM"], [])


def test_hashtags_the_template_wrote_are_not_repeated_whatever_their_case() -> None:
    text, appended, _ = apply_hashtag_policy("The #gcm roundtable starts now.", ["#GCM", "#Skills"])
    assert text == "The #gcm roundtable starts now.\n\n#Skills"
    assert appended == ["#Skills"]


def test_a_trailing_hashtag_line_is_extended() -> None:
    text, _, _ = apply_hashtag_policy("Starts now.\n\n#GCM", ["#GCM", "#Skills"])
    assert text == "Starts now.\n\n#GCM #Skills"


def test_a_hashtag_that_does_not_fit_is_reported_and_a_shorter_one_still_added() -> None:
    base = "x" * 260
    text, appended, missing = apply_hashtag_policy(base, ["#GlobalCompactforMigration", "#GCM"])
    assert missing == ["#GlobalCompactforMigration"]
    assert appended == ["#GCM"]
    assert text == base + "\n\n#GCM"


def test_opting_out_with_a_reason_removes_the_hashtag(run_check: CheckFn) -> None:
    opt_out = '    at: q1.start + 2m\n    omit_hashtags:\n      "#Pathways": "quoting a speaker"\n'
    report = run_check(replace={"    at: q1.start + 2m\n": opt_out})
    assert report.ok
    assert report.posts[1].text == "Now: Question 1.\n\n#GCM"


def test_templates_see_the_event_segment_objectives_and_slot(run_check: CheckFn) -> None:
    template = (
        "{{ event.account }} {{ segment.id }} {{ objectives[0].number }} {{ slot.id }} "
        "{{ slot.vars.extra }} {{ slot.at | hmz }} {{ hashtags | join(',') }}"
    )
    report = run_check(
        replace={"    at: q1.start + 2m\n": "    at: q1.start + 2m\n    vars:\n      extra: hi\n"},
        templates={"hello.j2": MINI_TEMPLATES["hello.j2"], "question.j2": template},
    )
    assert report.ok, report.problems
    assert report.posts[1].text == "@demo q1 5 q1 hi 13:47 CET #GCM,#Pathways"


def test_template_output_is_not_html_escaped(run_check: CheckFn) -> None:
    report = run_check(templates={"hello.j2": 'Q&A <live> "now"', "question.j2": MINI_TEMPLATES["question.j2"]})
    assert report.posts[0].text.startswith('Q&A <live> "now"')
