"""Bad schedules and templates, as a hostile tester writes them: each gets one line naming
its file and line, never a traceback, a hang or a silently wrong post.

The schedule under test is MINI_SCHEDULE (tests/support/events.py); each test breaks one thing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livetweet.errors import BadValue, deferred_interrupts, interrupt_point
from livetweet.plan.check import check_schedule, stored_event_problems
from livetweet.plan.compose import tag_text
from livetweet.plan.schedule import format_duration, load_schedule, parse_clock_time, parse_date, parse_duration

from .support.cli import cli
from .support.events import MINI_SCHEDULE, MINI_TEMPLATES, REPO, CheckFn, write_event

S = "schedules/demo.yaml"
HELLO = MINI_TEMPLATES["hello.j2"]
QUESTION = MINI_TEMPLATES["question.j2"]
SEGMENTS = MINI_SCHEDULE[MINI_SCHEDULE.index("segments:\n") : MINI_SCHEDULE.index("slots:\n")]


def errors(report: object) -> list[str]:
    return [str(p) for p in report.errors]  # type: ignore[attr-defined]


def warnings(report: object) -> list[str]:
    return [str(p) for p in report.warnings]  # type: ignore[attr-defined]


def with_templates(**templates: str) -> dict[str, str]:
    return {"hello.j2": HELLO, "question.j2": QUESTION, **{f"{k}.j2": v for k, v in templates.items()}}


# --- YAML: limits, nulls, lines ---------------------------------------------------------

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_a_billion_laughs_is_refused_at_the_alias_that_passes_the_limit(run_check: CheckFn) -> None:
    assert len(BILLION_LAUGHS.encode()) < 1200
    started = time.monotonic()
    report = run_check(schedule=BILLION_LAUGHS)
    assert time.monotonic() - started < 2
    assert errors(report) == [
        f'{S}:6: the alias "*e" takes the file past 100,000 values repeated by aliases: a schedule needs far fewer'
    ]


def test_an_alias_inside_its_own_anchor_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={"    at: q1.start + 2m\n": "    at: q1.start + 2m\n    vars: &v\n      me: *v\n"})
    assert errors(report) == [
        f'{S}:32: the alias "*v" is inside the value it refers to (anchor "&v" on line 31): '
        "a value cannot contain itself"
    ]


def test_a_mapping_500_levels_deep_is_refused_at_the_33rd(run_check: CheckFn) -> None:
    deep = "event:\n" + "".join(" " * (i + 1) + "x:\n" for i in range(500))
    report = run_check(schedule=deep)
    assert errors(report) == [f"{S}:33: the YAML nests more than 32 levels deep here: a schedule needs six"]


def test_an_alias_used_before_its_anchor_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": "  title: *name\n"})
    assert errors(report) == [f'{S}:3: the alias "*name" refers to no anchor "&name" above it']


def test_aliases_within_the_limits_are_read(run_check: CheckFn) -> None:
    report = run_check(
        replace={"  title: Demo event\n": "  title: &t Demo event\n", "    title: Question 1\n": "    title: *t\n"}
    )
    assert report.ok, report.problems
    assert report.posts[1].text == "Now: Demo event.\n\n#GCM #Pathways"


@pytest.mark.parametrize("null", ["~", "null", "NULL", ""])
def test_a_null_title_is_no_title_not_the_text_null(run_check: CheckFn, null: str) -> None:
    report = run_check(replace={"  title: Demo event\n": f"  title: {null}\n"})
    assert errors(report) == [f"{S}:3: event title has no value (~, null or nothing after the colon mean none)"]


def test_a_quoted_tilde_is_text(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": '  title: "~"\n'})
    assert report.ok
    assert report.posts[0].text.startswith("Welcome to ~!")


def test_a_null_optional_value_never_reaches_a_post(run_check: CheckFn) -> None:
    report = run_check(
        replace={"    title: Opening\n": "    title: Opening\n    question: ~\n"},
        templates=with_templates(hello="Question: [{{ segment.question }}]"),
    )
    assert report.ok, report.problems
    assert report.posts[0].text == "Question: []\n\n#GCM"


def test_a_slot_var_left_empty_is_an_error_not_an_empty_gap(run_check: CheckFn) -> None:
    report = run_check(replace={"    at: q1.start + 2m\n": "    at: q1.start + 2m\n    vars:\n      number: null\n"})
    assert errors(report) == [f'{S}:32: slot "q1" vars: "number" has no value (write "" for an empty text)']


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_line_separator_in_a_value_does_not_shift_later_lines(run_check: CheckFn, separator: str) -> None:
    report = run_check(
        replace={"  title: Demo event\n": f"  title: Demo{separator}event\n", 'end: "13:45"': 'end: "13:75"'}
    )
    assert errors(report) == [f'{S}:18: segment "opening" end "13:75" is not a time of day (hours 0-23, minutes 0-59)']


def test_a_line_separator_in_a_value_becomes_a_newline_in_the_post(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": '  title: "Demo\u2028event"\n'})
    assert report.posts[0].text == "Welcome to Demo\nevent!\n\n#GCM"


def test_a_raw_nul_is_named_with_its_line(run_check: CheckFn) -> None:
    report = run_check(replace={"    title: Opening\n": "    title: Open\x00ing\n"})
    assert errors(report) == [f"{S}:16: the file contains a NUL byte (U+0000), which YAML does not allow: remove it"]


def test_a_control_character_is_named_with_its_line(run_check: CheckFn) -> None:
    report = run_check(replace={'  account: "@demo"\n': '  account: "@demo\x1b[2J"\n'})
    assert errors(report) == [
        f"{S}:4: the file contains the character U+001B (a control character), which YAML does not allow: remove it"
    ]


def test_bidi_controls_and_zero_width_spaces_are_removed_from_values(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": "  title: Demo\u200b \u202eevent\n"})
    assert report.ok
    assert report.posts[0].text.startswith("Welcome to Demo event!")


def test_a_second_yaml_document_is_refused(run_check: CheckFn) -> None:
    report = run_check(schedule=MINI_SCHEDULE + "---\nevent: {}\n")
    assert errors(report) == [f'{S}:31: a second YAML document starts here ("---"): a schedule is one document']


def test_a_yaml_tag_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": "  title: !!python/object Demo event\n"})
    assert errors(report) == [f'{S}:3: the YAML tag "!!python/object" means nothing in a schedule: remove it']


def test_a_merge_key_says_it_is_not_read(run_check: CheckFn) -> None:
    report = run_check(replace={"  - id: q1\n    template": "  - <<: {valid_for: 5m}\n    id: q1\n    template"})
    assert errors(report) == [f'{S}:28: YAML merge keys ("<<") are not read: write the keys out']


def test_a_tab_in_the_indentation_is_named(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": "\ttitle: Demo event\n"})
    assert errors(report) == [
        f"{S}:3: YAML syntax error: found a tab character that violates indentation (while scanning a plain "
        "scalar, started on line 2)"
    ]


def test_a_key_that_is_a_list_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={"  title: Demo event\n": "  title: Demo event\n  [a, b]: c\n"})
    assert errors(report) == [f"{S}:4: a key is a list: a key must be plain text"]


def test_a_schedule_over_4_mb_is_refused_before_it_is_read(run_check: CheckFn) -> None:
    report = run_check(schedule=MINI_SCHEDULE + "#" * (4 * 1024 * 1024) + "\n")
    assert errors(report) == [f"{S}: the file is 4.2 MB: a schedule may be at most 4.2 MB"]


def test_a_folder_given_as_the_schedule(run_check: CheckFn) -> None:
    run_check()
    assert errors(check_schedule(Path("schedules"))) == ["schedules: is a folder, not a schedule file"]


# --- numbers, times, dates, durations ---------------------------------------------------


def test_a_superscript_digit_is_not_an_objective_number(run_check: CheckFn) -> None:
    report = run_check(replace={"objectives: [5]": "objectives: [²]"})
    assert errors(report) == [
        f'{S}:21: segment "q1" objectives: "²" is not an objective number (write it with the digits 0-9)'
    ]


def test_an_arabic_indic_number_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={"  - number: 5": "  - number: ٥"})
    assert errors(report)[0] == f'{S}:11: objective number "٥" is not a whole number: write it with the digits 0-9'


def test_a_time_in_other_digits_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={'    end: "13:45"': '    end: "١٣:٤٥"'})
    assert errors(report) == [
        f'{S}:18: segment "opening" end "١٣:٤٥" is not a time: write it with the digits 0-9, as HH:MM, like "13:30"'
    ]


def test_a_huge_offset_is_refused_not_an_overflow(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": "at: q1.start + 99999999999999999999h"})
    assert errors(report) == [
        f'{S}:30: slot "q1" at "q1.start + 99999999999999999999h": "99999999999999999999h" is longer than 100 days'
    ]


def test_a_window_of_zero_is_refused_not_read_as_five_minutes(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": "at: q1.start + 2m\n    valid_for: 0s"})
    assert errors(report) == [f'{S}:31: slot "q1" valid_for "0s" is no time at all: a post needs a window to go out in']


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_date_near_the_ends_of_the_calendar_is_refused(run_check: CheckFn, day: str) -> None:
    report = run_check(replace={"date: 2020-11-12": f"date: {day}"})
    assert errors(report) == [
        f'{S}:5: event date "{day}" is out of range: livetweet plans events in the years 1970 to 9000'
    ]


def test_a_day_that_is_not_in_the_calendar(run_check: CheckFn) -> None:
    report = run_check(replace={"date: 2020-11-12": "date: 2021-02-29"})
    assert errors(report) == [f'{S}:5: event date "2021-02-29" is not a day of the calendar: write it as YYYY-MM-DD']


def test_a_week_date_is_not_taken_for_a_date(run_check: CheckFn) -> None:
    report = run_check(replace={"date: 2020-11-12": "date: 2020W464"})
    assert errors(report) == [f'{S}:5: event date "2020W464" is not a date: write it as YYYY-MM-DD']


def test_the_parsers_refuse_with_value_errors_and_keep_valid_input() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(" 90s ") == timedelta(seconds=90)
    assert format_duration(parse_duration("1m30s")) == "1m30s"
    assert parse_clock_time("13:30:15").second == 15
    assert parse_date("2020-11-12").day == 12
    for bad in ("99999999999999999999h", "²m", "5", "", "1h 30m", "-2m"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(BadValue, match="is longer than 100 days"):
        parse_duration(f"{10**25}s")


def test_a_time_in_seconds_is_shown_with_its_seconds(run_check: CheckFn) -> None:
    report = run_check(replace={"at: q1.start + 2m": "at: q1.end + 30s"})
    assert errors(report) == [
        f'{S}:30: slot "q1" at 15:00:30 lies outside the event\'s posting window (12:30:00-15:00:00); '
        "set event posts_from/posts_until to post earlier or later"
    ]


def test_posting_from_after_posting_until_is_refused(run_check: CheckFn) -> None:
    report = run_check(
        replace={
            "  timezone: Europe/Zurich\n": '  timezone: Europe/Zurich\n  posts_from: "15:00"\n  posts_until: "14:00"\n'
        }
    )
    assert errors(report)[0] == f"{S}:9: event posts_from (15:00) is not before posts_until (14:00)"


@pytest.mark.parametrize(
    "zone,message",
    [
        ("Europe", 'unknown time zone "Europe": use an IANA name such as "Europe/Zurich"'),
        (
            "europe/zurich",
            'unknown time zone "europe/zurich" (did you mean "Europe/Zurich"?): '
            'use an IANA name such as "Europe/Zurich"',
        ),
        ("localtime", 'unknown time zone "localtime": use an IANA name such as "Europe/Zurich"'),
        ("../../etc/passwd", 'unknown time zone "../../etc/passwd": use an IANA name such as "Europe/Zurich"'),
    ],
)
def test_a_time_zone_that_is_a_folder_or_not_a_place(run_check: CheckFn, zone: str, message: str) -> None:
    report = run_check(replace={"timezone: Europe/Zurich": f"timezone: {zone}"})
    assert errors(report) == [f"{S}:8: {message}"]


# --- the clocks change ----------------------------------------------------------------------


def _dst(day: str, event: tuple[str, str], opening: tuple[str, str], q1: tuple[str, str]) -> str:
    text = MINI_SCHEDULE.replace("date: 2020-11-12", f"date: {day}")
    text = text.replace('  start: "13:30"\n  end: "15:00"', f'  start: "{event[0]}"\n  end: "{event[1]}"')
    text = text.replace('    start: "13:30"\n    end: "13:45"', f'    start: "{opening[0]}"\n    end: "{opening[1]}"')
    return text.replace('    start: "13:45"\n    end: "15:00"', f'    start: "{q1[0]}"\n    end: "{q1[1]}"')


SPRING = _dst("2021-03-28", ("01:30", "04:00"), ("01:30", "01:45"), ("01:45", "04:00"))
AUTUMN = _dst("2021-10-31", ("01:00", "04:00"), ("01:00", "01:45"), ("01:45", "04:00"))


def test_an_anchor_across_spring_forward_is_an_hour_of_real_time(run_check: CheckFn) -> None:
    report = run_check(schedule=SPRING, replace={"at: q1.start + 2m": "at: opening.start + 60m"})
    assert report.ok
    assert warnings(report) == [
        f'{S}:30: warning: slot "q1" at "opening.start + 60m" is 03:30 CEST: the clocks change in between, so it is '
        "2h from 01:30 CET on the clock"
    ]
    assert report.posts[1].slot.at.isoformat() == "2021-03-28T03:30:00+02:00"
    assert report.posts[1].slot.at - report.posts[0].slot.at == timedelta(minutes=59)


def test_a_time_the_clocks_skip_is_warned_about(run_check: CheckFn) -> None:
    report = run_check(
        schedule=SPRING.replace('"01:45"\n  - id: q1', '"02:30"\n  - id: q1').replace(
            '    start: "01:45"', '    start: "02:30"'
        )
    )
    assert warnings(report)[0] == (
        f'{S}:18: warning: segment "opening" end 02:30 does not exist on 2021-03-28 in Europe/Zurich (the clocks go '
        "forward 1h): it is read as 03:30 CEST"
    )


def test_a_time_the_clocks_show_twice_is_warned_about(run_check: CheckFn) -> None:
    report = run_check(
        schedule=AUTUMN.replace('"01:45"\n  - id: q1', '"02:30"\n  - id: q1').replace(
            '    start: "01:45"', '    start: "02:30"'
        )
    )
    assert warnings(report)[0] == (
        f'{S}:18: warning: segment "opening" end 02:30 happens twice on 2021-10-31 in Europe/Zurich (the clocks go '
        "back 1h): it is read as the first, 02:30 CEST (UTC+02:00)"
    )


def test_a_reply_before_its_parent_across_the_autumn_change_is_caught(run_check: CheckFn) -> None:
    # 02:50 CEST comes before 02:30 CET: on the clock the reply looks later, in time it is not.
    report = run_check(
        schedule=AUTUMN,
        replace={
            "at: opening.start + 1m\n": "at: opening.start + 150m\n",
            "at: q1.start + 2m": "at: opening.start + 110m\n    reply_to: hello",
        },
    )
    assert errors(report) == [
        f'{S}:31: slot "q1" replies to "hello" but is due before it (02:50:00 CEST < 02:30:00 CET)'
    ]


# --- templates ----------------------------------------------------------------------------------


def test_an_empty_template_is_refused_not_posted_as_hashtags(run_check: CheckFn) -> None:
    report = run_check(templates=with_templates(hello="{# nothing #}\n"))
    assert errors(report) == [
        f'{S}:25: slot "hello": templates/hello.j2 wrote nothing, and a post of hashtags alone says nothing'
    ]


def test_a_latin1_template_is_named_with_its_line(run_check: CheckFn) -> None:
    run_check()
    Path("templates/hello.j2").write_bytes("Bienvenue\nà {{ event.title }}\n".encode("latin-1"))
    report = check_schedule(Path(S))
    assert errors(report) == ["templates/hello.j2:2: the template is not UTF-8 text (byte 0xE0): save it as UTF-8"]


def test_an_error_in_an_included_template_names_that_template_and_line(run_check: CheckFn) -> None:
    report = run_check(
        templates=with_templates(hello="Hi\n{% include 'footer.j2' %}\n", footer="Follow\n{{ event.hashtag }}\n")
    )
    assert errors(report) == [
        "templates/footer.j2:2: undefined template variable: 'livetweet.plan.schedule.Event object' has no attribute "
        "'hashtag' (rendering slot \"hello\")"
    ]


def test_an_include_of_a_missing_template_names_the_including_line(run_check: CheckFn) -> None:
    report = run_check(templates=with_templates(hello="Hi\n{% include 'footer.j2' %}\n"))
    assert errors(report) == [
        'templates/hello.j2:2: the template includes "footer.j2", which does not exist (templates there: hello, '
        'question) (rendering slot "hello")'
    ]


def test_a_template_that_is_a_folder_is_not_called_missing(run_check: CheckFn) -> None:
    run_check()
    Path("templates/hello.j2").unlink()
    Path("templates/hello.j2").mkdir()
    report = check_schedule(Path(S))
    assert errors(report) == [f'{S}:26: template "hello": templates/hello.j2 is a folder, not a template file']


def test_a_template_name_that_leaves_the_folder_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={"    template: hello\n": "    template: ../../etc/hello\n"})
    assert errors(report) == [
        f'{S}:26: slot "hello" template "../../etc/hello" must name a file in the templates folder, like "question"'
    ]


def test_a_runaway_loop_is_stopped_by_the_time_budget(run_check: CheckFn) -> None:
    loops = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\nHi"
    started = time.monotonic()
    report = run_check(templates=with_templates(hello="Hello\n" + loops))
    # Unstopped, the loop turns 10^10 times (hours); stopped, the check returns a second after it
    # starts, plus what the machine is busy with: the budget's own 1 s is asserted in the message.
    assert time.monotonic() - started < 30
    assert errors(report) == [
        'templates/hello.j2:2: the template ran for more than 1 s: a loop that does not end? (rendering slot "hello")'
    ]


@pytest.mark.parametrize(
    "expression,message",
    [
        ("'x' * 1000000000", "the template builds a text of 1,000,000,000 characters (at most 100,000)"),
        ("'x' | center(1000000000)", "the template passes 1,000,000,000 to the center filter (at most 100,000)"),
        ("'{:>1000000000}'.format('x')", "the template formats with a width of 100,000 or more"),
        ("9 ** 9 ** 9", "the template computes a number larger than 64 bits"),
        (
            "('x' * 100000).replace('x', 'x' * 100000)",
            "the template builds a text of 10,000,000,000 characters (at most 100,000)",
        ),
    ],
)
def test_a_huge_value_is_refused_before_it_is_built(run_check: CheckFn, expression: str, message: str) -> None:
    report = run_check(templates=with_templates(hello="Hello\n{{ " + expression + " }}"))
    assert errors(report) == [f'templates/hello.j2:2: {message} (rendering slot "hello")']


def test_a_doubling_string_is_stopped_at_the_size_limit(run_check: CheckFn) -> None:
    template = (
        "{% set ns = namespace(s='x') %}\n{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    )
    report = run_check(templates=with_templates(hello=template))
    assert errors(report) == [
        "templates/hello.j2:2: the template builds a text of 131,072 characters (at most 100,000) "
        '(rendering slot "hello")'
    ]


def test_output_past_the_budget_is_stopped(run_check: CheckFn) -> None:
    report = run_check(templates=with_templates(hello="Hi\n{% for i in range(10000) %}{{ 'word ' }}{% endfor %}"))
    assert errors(report) == [
        'templates/hello.j2:2: the template writes more than 25,000 characters (rendering slot "hello")'
    ]


def test_a_macro_that_calls_itself_is_stopped(run_check: CheckFn) -> None:
    report = run_check(templates=with_templates(hello="{% macro f() %}{{ f() }}{% endmacro %}\nHi {{ f() }}"))
    assert errors(report) == [
        'templates/hello.j2:1: the template calls itself without end (a macro or include) (rendering slot "hello")'
    ]


def test_template_output_is_in_normal_form_before_it_is_counted(run_check: CheckFn) -> None:
    report = run_check(templates=with_templates(hello="Cafe\u0301\r\nnow\u202e\u200b {{ event.title }}"))
    assert report.ok
    assert report.posts[0].text == "Café\nnow Demo event\n\n#GCM"


# --- hashtags -----------------------------------------------------------------------------------


def test_a_hashtag_of_digits_only_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={'hashtags: ["#GCM"]': 'hashtags: ["#GCM", "#2020"]'})
    assert errors(report) == [
        f'{S}:9: event hashtags: "#2020" is not a hashtag X would count: a hashtag needs a letter, like "#GCM2020"'
    ]


def test_a_hashtag_x_would_cut_short_is_refused(run_check: CheckFn) -> None:
    report = run_check(replace={'    hashtags: ["#Pathways"]': '    hashtags: ["#regular-pathways"]'})
    assert errors(report) == [
        f'{S}:13: objective hashtags: "#regular-pathways" is not a hashtag X would count whole: X reads only '
        '"#regular" (letters, digits and "_")'
    ]


def test_a_tag_already_written_is_not_appended_again_even_if_x_would_not_link_it() -> None:
    assert tag_text("Roundtable #2020", ["#2020", "#GCM"]).text == "Roundtable #2020\n\n#GCM"


# --- schedules that cannot be loaded --------------------------------------------------------------


def test_no_segments_is_refused_by_check_and_by_load(run_check: CheckFn, tmp_path: Path) -> None:
    from livetweet.errors import ScheduleError

    report = run_check(replace={SEGMENTS: "segments: []\n"})
    assert errors(report) == [f"{S}:14: segments lists no segment: a schedule needs at least one"]
    with pytest.raises(ScheduleError):
        load_schedule(Path(S))


def test_no_slots_is_refused(run_check: CheckFn) -> None:
    report = run_check(schedule=MINI_SCHEDULE.split("slots:\n")[0] + "slots: []\n")
    assert errors(report) == [f"{S}:24: slots lists no slot: there is nothing to post"]


def test_check_with_the_store_sees_a_renamed_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from livetweet.clock import FixedClock
    from livetweet.service import Service
    from livetweet.store import Store

    monkeypatch.chdir(tmp_path)
    path = write_event(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    Service(store, FixedClock(datetime(2020, 11, 12, 10, 0, tzinfo=UTC))).load(path)
    path.write_text(MINI_SCHEDULE.replace("id: demo", "id: demo-2"))
    report = check_schedule(Path(S), store=store)
    assert errors(report) == [
        f'{S}:2: event id "demo-2" is new to the store sqlite:///{tmp_path / "x.db"}, which holds event "demo" '
        '(2 drafts, 0 posted) from this file: loading would plan every post a second time; put back "id: demo", '
        "or load the renamed event into a new store with --db"
    ]
    assert report.schedule is not None
    assert stored_event_problems(report.schedule, store) == report.errors
    store.close()


# --- check lists every problem it can find ----------------------------------------------------


def test_a_bad_event_start_does_not_hide_the_rest(run_check: CheckFn) -> None:
    report = run_check(
        replace={
            '  start: "13:30"\n  end: "15:00"': '  start: "1:30pm"\n  end: "15:00"',
            'end: "13:45"': 'end: "13:75"',
        },
        templates=with_templates(hello="Welcome to {{ event.titel }}"),
    )
    assert errors(report) == [
        f'{S}:6: event start "1:30pm" is not a time: write it as HH:MM, like "13:30"',
        f'{S}:18: segment "opening" end "13:75" is not a time of day (hours 0-23, minutes 0-59)',
        "templates/hello.j2:1: undefined template variable: 'livetweet.plan.schedule.Event object' has no attribute "
        "'titel' (rendering slot \"hello\")",
    ]


def test_a_bad_anchor_does_not_hide_a_template_typo(run_check: CheckFn) -> None:
    report = run_check(
        replace={"at: q1.start + 2m": "at: q1.middle + 2m"},
        templates=with_templates(question="Now: {{ segment.titel }}"),
    )
    assert errors(report) == [
        f'{S}:30: slot "q1" at "q1.middle + 2m": a segment has a "start" and an "end", not "middle"',
        "templates/question.j2:1: undefined template variable: 'livetweet.plan.schedule.Segment object' "
        "has no attribute 'titel' (rendering slot \"q1\")",
    ]


def test_a_slot_with_a_problem_does_not_hide_the_length_of_the_others(run_check: CheckFn) -> None:
    report = run_check(
        replace={"at: q1.start + 2m": "at: q1.start + 2x"}, templates=with_templates(hello="Welcome! " + "x" * 290)
    )
    assert errors(report) == [
        f'{S}:25: slot "hello": the post is 299/280 weighted characters, 19 too many: shorten templates/hello.j2 '
        "or the slot's vars",
        f'{S}:25: slot "hello": the post lacks #GCM (required by the event) and it does not fit (299/280 without '
        'it): shorten templates/hello.j2 or opt out with omit_hashtags: {"#GCM": "the reason"}',
        f'{S}:30: slot "q1" at "q1.start + 2x": "2x" is not a duration (write it like 2m, 90s or 1h30m)',
    ]


# --- Ctrl-C -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("ctrl_c_handled")
def test_ctrl_c_in_a_finalizer_during_check_is_not_lost(run_check: CheckFn, monkeypatch: pytest.MonkeyPatch) -> None:
    import livetweet.plan.check as check_module

    class PressesCtrlC:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the finalizer runs

    real_read = check_module.read_schedule_partial

    def read(*args: object) -> object:
        PressesCtrlC()  # dropped at once: its finalizer runs here
        return real_read(*args)  # type: ignore[arg-type]

    run_check()
    monkeypatch.setattr(check_module, "read_schedule_partial", read)
    with pytest.raises(KeyboardInterrupt):
        check_schedule(Path(S))


@pytest.mark.usefixtures("ctrl_c_handled")
def test_ctrl_c_stops_a_long_render_at_once(run_check: CheckFn) -> None:
    run_check()
    Path("templates/hello.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        check_schedule(Path(S))
    assert time.monotonic() - started < 0.8


@pytest.mark.usefixtures("ctrl_c_handled")
def test_ctrl_c_is_held_to_the_next_safe_point() -> None:
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        held = True  # still running: the signal only set a flag
        assert held
        interrupt_point()
        raise AssertionError("not reached")


# --- through the command line: exit code 1 and the first line ----------------------------------


@pytest.mark.parametrize(
    "content,first_line",
    [
        (
            BILLION_LAUGHS.encode(),
            f'{S}:6: the alias "*e" takes the file past 100,000 values repeated by aliases: a schedule needs far fewer',
        ),
        (
            MINI_SCHEDULE.replace("Opening", "Open\x00ing").encode(),
            f"{S}:16: the file contains a NUL byte (U+0000), which YAML does not allow: remove it",
        ),
        (
            MINI_SCHEDULE.replace("objectives: [5]", "objectives: [²]").encode(),
            f'{S}:21: segment "q1" objectives: "²" is not an objective number (write it with the digits 0-9)',
        ),
    ],
    ids=["billion-laughs", "nul", "superscript"],
)
def test_check_on_the_command_line_exits_1_with_the_file_and_line(
    tmp_path: Path, content: bytes, first_line: str
) -> None:
    write_event(tmp_path).write_bytes(content)
    result = cli("check", S, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == first_line
    assert "Traceback" not in result.stderr


def test_check_on_the_command_line_lists_template_problems_with_exit_1(tmp_path: Path) -> None:
    write_event(
        tmp_path,
        templates=with_templates(
            hello="{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
        ),
    )
    result = cli("check", S, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        'templates/hello.j2:1: the template ran for more than 1 s: a loop that does not end? (rendering slot "hello")'
    )


def test_the_shipped_schedule_still_checks_clean() -> None:
    report = check_schedule(REPO / "schedules" / "gcm-unece-2020-roundtable-2.yaml")
    assert report.ok, report.errors
    assert len(report.posts) == 10
