"""Broken schedules and templates: each gets the exact file, line and message.

The schedule under test is MINI_SCHEDULE (tests/support/events.py); each test breaks one thing.
"""

from __future__ import annotations

import pytest

from .support.events import MINI_SCHEDULE, MINI_TEMPLATES, CheckFn

S = "schedules/demo.yaml"
QUESTION = MINI_TEMPLATES["question.j2"]


def errors(report: object) -> list[str]:
    return [str(p) for p in report.errors]  # type: ignore[attr-defined]


def test_the_mini_schedule_is_clean(run_check: CheckFn) -> None:
    report = run_check()
    assert report.problems == []
    assert [p.text for p in report.posts] == ["Welcome to Demo event!\n\n#GCM", "Now: Question 1.\n\n#GCM #Pathways"]


def test_yaml_syntax_error(run_check: CheckFn) -> None:
    report = run_check(replace={"    title: Opening\n": "    title: [Opening\n"})
    assert errors(report) == [
        f"{S}:17: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence, started on line 16)"
    ]
    assert report.posts == []


def test_unknown_key_suggests_the_right_one(run_check: CheckFn) -> None:
    report = run_check(replace={'    start: "13:30"\n    end: "13:45"': '    strat: "13:30"\n    end: "13:45"'})
    assert errors(report) == [
        f'{S}:15: segment "opening" is missing the key "start"',
        f'{S}:17: unknown key "strat" in segment "opening" (did you mean "start"?)',
    ]


def test_missing_key(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": ""})
    assert errors(report) == [f'{S}:2: event is missing the key "title"']


def test_duplicate_key(run_check: CheckFn) -> None:
    report = run_check(replace={"  id: demo\n": "  id: demo\n  id: demo2\n"})
    assert errors(report) == [f'{S}:3: key "id" is given twice (first on line 2)']


def test_time_out_of_range(run_check: CheckFn) -> None:
    report = run_check(replace={'    end: "13:45"': '    end: "13:75"'})
    assert errors(report) == [f'{S}:18: segment "opening" end "13:75" is not a time of day (hours 0-23, minutes 0-59)']


def test_time_in_the_wrong_format(run_check: CheckFn) -> None:
    report = run_check(replace={'    end: "13:45"': "    end: 1pm"})
    assert errors(report) == [f'{S}:18: segment "opening" end "1pm" is not a time: write it as HH:MM, like "13:30"']


def test_bad_date(run_check: CheckFn) -> None:
    report = run_check(replace={"date: 2020-11-12": "date: 12/11/2020"})
    assert errors(report) == [f'{S}:5: event date "12/11/2020" is not a date: write it as YYYY-MM-DD']


def test_unknown_time_zone(run_check: CheckFn) -> None:
    report = run_check(replace={"timezone: Europe/Zurich": "timezone: Europe/Geneva"})
    assert errors(report) == [f'{S}:8: unknown time zone "Europe/Geneva": use an IANA name such as "Europe/Zurich"']


def test_hashtag_without_its_sign(run_check: CheckFn) -> None:
    report = run_check(replace={'hashtags: ["#GCM"]': 'hashtags: ["GCM"]'})
    assert errors(report)[0] == f'{S}:9: event hashtags: "GCM" is not a hashtag (write it with its #, like "#GCM")'


def test_account_must_be_a_handle(run_check: CheckFn) -> None:
    report = run_check(replace={'account: "@demo"': "account: UN Migration"})
    assert errors(report) == [f'{S}:4: event account "UN Migration" must be an X handle like "@UNMigNetwork"']


def test_segment_ends_before_it_starts(run_check: CheckFn) -> None:
    report = run_check(replace={'    start: "13:30"\n    end: "13:45"': '    start: "13:50"\n    end: "13:45"'})
    # The slot anchored to the broken segment is not reported a second time.
    assert errors(report) == [f'{S}:18: segment "opening" ends (13:45) before it starts (13:50)']


def test_segments_overlap(run_check: CheckFn) -> None:
    report = run_check(replace={'    start: "13:45"\n    end: "15:00"': '    start: "13:40"\n    end: "15:00"'})
    assert errors(report) == [f'{S}:19: segment "q1" (13:40-15:00) overlaps segment "opening" (13:30-13:45, line 15)']


def test_segment_outside_the_event(run_check: CheckFn) -> None:
    report = run_check(replace={'    start: "13:45"\n    end: "15:00"': '    start: "13:45"\n    end: "15:30"'})
    assert errors(report) == [f'{S}:19: segment "q1" (13:45-15:30) lies outside the event (13:30-15:00)']


def test_slot_anchored_to_unknown_segment(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": "at: q2.start + 2m"})
    assert errors(report) == [f'{S}:30: slot "q1" is anchored to unknown segment "q2"']


def test_slot_outside_the_posting_window(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": "at: q1.end + 20m"})
    assert errors(report) == [
        f'{S}:30: slot "q1" at 15:20 lies outside the event\'s posting window (12:30-15:00); '
        "set event posts_from/posts_until to post earlier or later"
    ]


def test_slot_time_must_be_anchored(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": 'at: "13:47"'})
    assert errors(report) == [
        f'{S}:30: slot "q1" at "13:47" must be anchored to a segment, like "q2.start + 2m" or "closing.end - 5m"'
    ]


def test_bad_offset_duration(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": "at: q1.start + 2x"})
    assert errors(report) == [
        f'{S}:30: slot "q1" at "q1.start + 2x": "2x" is not a duration (write it like 2m, 90s or 1h30m)'
    ]


def test_unknown_template(run_check: CheckFn) -> None:
    report = run_check(replace={"template: question": "template: questoin"})
    assert errors(report) == [
        f'{S}:29: unknown template "questoin": templates/questoin.j2 does not exist (templates there: hello, question)'
    ]


def test_template_syntax_error_names_the_template_line(run_check: CheckFn) -> None:
    report = run_check(
        templates={"hello.j2": "Welcome\n{% if event.title %}\nto {{ event.title }}\n", "question.j2": QUESTION}
    )
    assert errors(report) == [
        "templates/hello.j2:3: template syntax error: Unexpected end of template. Jinja was looking for the "
        "following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'."
    ]


def test_undefined_template_variable_names_the_template_line(run_check: CheckFn) -> None:
    report = run_check(templates={"hello.j2": "Welcome\nto {{ event.titel }}!\n", "question.j2": QUESTION})
    assert errors(report) == [
        "templates/hello.j2:2: undefined template variable: 'livetweet.plan.schedule.Event object' has no "
        "attribute 'titel' (rendering slot \"hello\")"
    ]


def test_template_cannot_escape_the_sandbox(run_check: CheckFn) -> None:
    report = run_check(templates={"hello.j2": "Hi {{ event.__class__.__mro__ }}", "question.j2": QUESTION})
    assert errors(report) == [
        "templates/hello.j2:1: the template did something unsafe: access to attribute '__class__' of 'Event' "
        'object is unsafe. (rendering slot "hello")'
    ]


def test_text_over_280_gives_the_count(run_check: CheckFn) -> None:
    report = run_check(templates={"hello.j2": "Welcome! " + "x" * 290, "question.j2": QUESTION})
    assert errors(report)[0] == (
        f'{S}:25: slot "hello": the post is 299/280 weighted characters, 19 too many: '
        "shorten templates/hello.j2 or the slot's vars"
    )


def test_required_hashtag_that_does_not_fit(run_check: CheckFn) -> None:
    report = run_check(templates={"hello.j2": MINI_TEMPLATES["hello.j2"], "question.j2": "Now. " + "y" * 272})
    assert errors(report) == [
        f'{S}:28: slot "q1": the post lacks #GCM (required by the event) and it does not fit (277/280 without '
        'it): shorten templates/question.j2 or opt out with omit_hashtags: {"#GCM": "the reason"}',
        f'{S}:28: slot "q1": the post lacks #Pathways (for objective 5) and it does not fit (277/280 without '
        'it): shorten templates/question.j2 or opt out with omit_hashtags: {"#Pathways": "the reason"}',
    ]


def test_two_slots_with_the_same_text(run_check: CheckFn) -> None:
    same = "Same text #GCM #Pathways"
    report = run_check(templates={"hello.j2": same, "question.j2": same})
    assert errors(report) == [
        f'{S}:28: slot "q1" has the same text as slot "hello" (line 25): X refuses duplicate posts'
    ]


def test_reply_to_cycle(run_check: CheckFn) -> None:
    report = run_check(
        replace={
            "    at: opening.start + 1m\n": "    at: opening.start + 1m\n    reply_to: q1\n",
            "    at: q1.start + 2m\n": "    at: q1.start + 2m\n    reply_to: hello\n",
        }
    )
    assert errors(report) == [f'{S}:28: slot "hello" is part of a reply_to cycle (hello -> q1 -> hello)']


def test_reply_to_unknown_slot(run_check: CheckFn) -> None:
    report = run_check(replace={"    at: q1.start + 2m\n": "    at: q1.start + 2m\n    reply_to: helo\n"})
    assert errors(report) == [f'{S}:31: slot "q1" replies to unknown slot "helo"']


def test_reply_due_before_its_parent(run_check: CheckFn) -> None:
    report = run_check(replace={"    at: opening.start + 1m\n": "    at: opening.start + 1m\n    reply_to: q1\n"})
    assert errors(report) == [f'{S}:28: slot "hello" replies to "q1" but is due before it (13:31:00 < 13:47:00)']


def test_slot_id_used_twice(run_check: CheckFn) -> None:
    report = run_check(replace={"  - id: q1\n    template: question": "  - id: hello\n    template: question"})
    assert errors(report) == [f'{S}:28: slot id "hello" is used twice (first on line 25)']


def test_opting_out_of_a_hashtag_needs_a_reason(run_check: CheckFn) -> None:
    report = run_check(
        replace={"    at: q1.start + 2m\n": '    at: q1.start + 2m\n    omit_hashtags:\n      "#Pathways": ""\n'}
    )
    assert errors(report) == [f'{S}:32: slot "q1" omits #Pathways without a reason: say why after the colon']


def test_sections_of_the_wrong_kind(run_check: CheckFn) -> None:
    report = run_check(replace={"segments:\n  - id: opening": "segments: opening\nxx:\n  - id: opening"})
    assert errors(report) == [
        f"{S}:14: segments must be a list, not a text",
        f'{S}:15: unknown key "xx" in the schedule '
        "(known keys: event, segments, slots, objectives, templates, accounts)",
    ]


def test_missing_schedule_file(run_check: CheckFn, tmp_path: object) -> None:
    from pathlib import Path

    from livetweet.plan.check import check_schedule

    report = check_schedule(Path("schedules/nope.yaml"))
    assert errors(report) == ["schedules/nope.yaml: no such schedule file"]


def test_schedule_not_utf8(run_check: CheckFn) -> None:
    run_check()
    from pathlib import Path

    from livetweet.plan.check import check_schedule

    Path("schedules/latin1.yaml").write_bytes("event:\n  title: Migración\n".encode("latin-1"))
    report = check_schedule(Path("schedules/latin1.yaml"))
    assert errors(report) == ["schedules/latin1.yaml:2: the file is not UTF-8 text (byte 0xF3): save it as UTF-8"]


# --- warnings: reported, but the schedule still passes ------------------------------


def test_objective_cited_but_not_listed_warns(run_check: CheckFn) -> None:
    report = run_check(replace={"objectives: [5]": "objectives: [5, 8]"})
    assert report.ok
    assert [str(p) for p in report.warnings] == [
        f'{S}:21: warning: segment "q1" cites objective 8, which the event does not list under objectives: '
        "its posts get no hashtags for it"
    ]


def test_posts_closer_than_60_seconds_warn(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": "at: opening.start + 1m30s"})
    assert report.ok
    assert [str(p) for p in report.warnings] == [
        f'{S}:28: warning: slot "q1" is due 30 s after slot "hello": leave at least 60 s between posts'
    ]


@pytest.mark.parametrize("count,warned", [(100, False), (101, True)])
def test_more_posts_in_15_minutes_than_x_allows_warns(run_check: CheckFn, count: int, warned: bool) -> None:
    slots = "".join(
        f"  - id: s{i}\n    template: many\n    at: q1.start + {i * 5}s\n    vars:\n      n: {i}\n"
        for i in range(count)
    )
    text = MINI_SCHEDULE.split("slots:\n")[0] + "slots:\n" + slots
    report = run_check(schedule=text, templates={"many.j2": "Post number {{ slot.vars.n }}"})
    rate = [str(p) for p in report.warnings if "allows 100" in str(p)]
    assert report.ok
    if warned:
        assert rate == [
            f"{S}:525: warning: 101 posts between 13:45:00 and 13:53:20 CET: X allows 100 in any 15 minutes "
            "and will refuse the rest"
        ]
    else:
        assert rate == []


def test_the_cost_is_estimated(run_check: CheckFn) -> None:
    report = run_check(templates={"hello.j2": "Read https://un.org", "question.j2": QUESTION})
    assert report.cost is not None
    assert (report.cost.posts, report.cost.posts_with_url) == (2, 1)
    assert report.cost.total == pytest.approx(0.015 + 0.20)
