"""The plan out (`export`: iCalendar, CSV for livetweet, Hootsuite and Buffer) and posts in (`import` of a CSV)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from livetweet.plan.exporting import BUFFER_COLUMNS, SHEET_COLUMNS, safe_cell
from livetweet.plan.importing import read_sheet
from livetweet.plan.schedule import load_schedule

from .support.cli import cli
from .support.events import MINI_SCHEDULE, MINI_TEMPLATES, REPO, SHIPPED_SCHEDULE, write_event

HEADER = "id,time,anchor,text,template,vars,hashtags,media,alt_text,reply_to,account,valid_for,omit_hashtags\n"
TEMPLATES = {**MINI_TEMPLATES, "text.j2": (REPO / "templates" / "text.j2").read_text(encoding="utf-8")}


@pytest.fixture
def event(tmp_path: Path) -> Path:
    """The small demo event (13:30-15:00 CET, segments opening and q1, @demo, #GCM) with the text template."""
    return write_event(tmp_path, MINI_SCHEDULE, TEMPLATES)


def import_sheet(folder: Path, sheet: str, *extra: str) -> tuple[int, str, str]:
    (folder / "posts.csv").write_text(sheet, encoding="utf-8")
    out = cli("import", "posts.csv", "--event", "schedules/demo.yaml", *extra, cwd=folder)
    return out.returncode, out.stdout, out.stderr


def export(schedule: Path, *args: str) -> str:
    out = cli("export", str(schedule), *args, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out.stdout


def preview(schedule: Path) -> list[dict]:  # type: ignore[type-arg]
    out = cli("preview", str(schedule), "--json", cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


# --- iCalendar -------------------------------------------------------------------------------


def test_the_calendar_has_one_event_per_post_with_its_text_and_time() -> None:
    import icalendar

    posts = preview(SHIPPED_SCHEDULE)
    cal = icalendar.Calendar.from_ical(export(SHIPPED_SCHEDULE, "--format", "ics").encode())
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == len(posts) == 10
    assert str(cal["X-WR-CALNAME"]).startswith("@UNMigNetwork posts: ")
    assert cal.walk("VTIMEZONE"), "Outlook needs the zone's definition"
    by_uid = {str(e["UID"]): e for e in events}
    for post in posts:
        item = by_uid[f"{post['slot']}.gcm-unece-2020-roundtable-2@livetweet"]
        assert item.decoded("DTSTART") == datetime.fromisoformat(post["at"])
        assert item.decoded("DTEND") == datetime.fromisoformat(post["valid_until"])
        assert str(item["DESCRIPTION"]).startswith(post["text"])
        assert str(item["TRANSP"]) == "TRANSPARENT"


def test_a_calendar_library_reads_the_file_without_errors() -> None:
    import icalendar
    import ics
    import recurring_ical_events

    data = export(SHIPPED_SCHEDULE, "--format", "ics")
    found = recurring_ical_events.of(icalendar.Calendar.from_ical(data)).between(
        datetime(2020, 11, 12), datetime(2020, 11, 13)
    )
    assert len(found) == 10
    calendar = ics.Calendar(data)
    assert len(calendar.events) == 10
    assert {e.begin.to("UTC").strftime("%H:%M") for e in calendar.events} >= {"12:15", "12:31", "12:56"}


def test_the_calendar_goes_to_a_file(tmp_path: Path) -> None:
    out = cli("export", str(SHIPPED_SCHEDULE), "--format", "ics", "-o", str(tmp_path / "plan.ics"), cwd=REPO)
    assert out.returncode == 0 and "10 posts, one calendar event each" in out.stdout
    assert (tmp_path / "plan.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")


# --- spreadsheets ----------------------------------------------------------------------------------


def test_the_livetweet_sheet_has_its_columns_and_a_row_per_post() -> None:
    rows = list(csv.reader(io.StringIO(export(SHIPPED_SCHEDULE, "--format", "csv"))))
    assert tuple(rows[0]) == SHEET_COLUMNS
    assert [r[0] for r in rows[1:]] == [p["slot"] for p in preview(SHIPPED_SCHEDULE)]
    q2 = next(dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[0] == "q2")
    assert (q2["time"], q2["anchor"], q2["template"], json.loads(q2["vars"])) == (
        "2020-11-12 13:56", "q2.start + 1m", "question", {"number": "2"},
    )  # fmt: skip
    assert q2["account"] == "'@UNMigNetwork"  # a cell starting with @ is one a spreadsheet may run


def test_the_hootsuite_sheet_is_date_message_link_without_a_header() -> None:
    rows = list(csv.reader(io.StringIO(export(SHIPPED_SCHEDULE, "--format", "csv", "--columns", "hootsuite"))))
    texts = [p["text"] for p in preview(SHIPPED_SCHEDULE)]
    assert [len(r) for r in rows] == [3] * 10
    assert rows[0] == ["12/11/2020 13:15", texts[0], ""]
    assert [r[1] for r in rows] == texts


def test_the_buffer_sheet_has_buffers_columns() -> None:
    out = cli("export", str(SHIPPED_SCHEDULE), "--format", "csv", "--columns", "buffer", cwd=REPO)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert tuple(rows[0]) == BUFFER_COLUMNS
    assert rows[0]["Posting Time"] == "2020-11-12 13:15"
    assert rows[0]["Tags"] == "GlobalCompactforMigration, GCM"
    assert "set the Buffer account to that time zone" in out.stderr
    assert "2 post(s) carry images, which Buffer takes only by URL" in out.stderr


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-1", "@someone", "\tx", "\rx"])
def test_a_cell_that_looks_like_a_formula_gets_an_apostrophe(text: str) -> None:
    assert safe_cell(text) == "'" + text
    assert safe_cell("#GCM and =1") == "#GCM and =1"


def test_a_schedule_that_does_not_check_is_not_exported(tmp_path: Path) -> None:
    path = write_event(tmp_path, MINI_SCHEDULE.replace("template: question", "template: questoin"), TEMPLATES)
    out = cli("export", str(path), "--format", "csv", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout == ""
    assert 'unknown template "questoin"' in out.stderr and "Nothing was exported" in out.stderr


# --- import: the round trip -----------------------------------------------------------------------


def test_export_then_import_gives_the_same_posts(tmp_path: Path) -> None:
    sheet = tmp_path / "plan.csv"
    sheet.write_text(export(SHIPPED_SCHEDULE, "--format", "csv"), encoding="utf-8")
    new = SHIPPED_SCHEDULE.with_name(f"round-trip-{tmp_path.name}.yaml")  # beside it: media and templates resolve
    try:
        out = cli("import", str(sheet), "--event", str(SHIPPED_SCHEDULE), "-o", str(new), cwd=REPO)
        assert out.returncode == 0, out.stderr
        checked = cli("check", str(new), cwd=REPO)
        assert checked.returncode == 0, checked.stdout
        assert preview(new) == preview(SHIPPED_SCHEDULE)
        assert "# The five GCM objectives of the roundtable." in new.read_text(encoding="utf-8")  # comments kept
    finally:
        new.unlink(missing_ok=True)


def test_a_text_edited_in_the_sheet_is_kept_and_said(event: Path) -> None:
    folder = event.parent.parent
    rows = list(csv.reader(io.StringIO(export(event, "--format", "csv"))))
    rows[2][3] = "Now: the first question, live.\n\n#GCM #Pathways"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    code, out, err = import_sheet(folder, buffer.getvalue())
    assert code == 0, err
    # The hello row's text runs over lines 2-4 of the sheet: q1's row starts on line 5.
    assert 'posts.csv:5: warning: the text differs from what template "question" writes: the text of the sheet ' in err
    new = folder / "schedules" / "new.yaml"
    new.write_text(out, encoding="utf-8")
    texts = {p["slot"]: (p["template"], p["text"]) for p in preview(new)}
    assert texts == {
        "hello": ("hello", "Welcome to Demo event!\n\n#GCM"),
        "q1": ("text", "Now: the first question, live.\n\n#GCM #Pathways"),
    }


def test_a_sheet_written_by_hand_becomes_a_schedule_check_accepts(event: Path) -> None:
    folder = event.parent.parent
    sheet = (
        "Time;Text;Hashtags;Reply to\n"
        "13:31;Welcome to the roundtable!;#Migration;\n"
        '13:50;"We start the first question.\nStay with us";;post-1\n'
        "2020-11-12T14:50:30+01:00;'=1 day to go;;\n"
    )
    code, out, err = import_sheet(folder, sheet, "-o", "schedules/new.yaml")
    assert code == 0, err
    assert "schedules/new.yaml: 3 slots from posts.csv" in out
    assert cli("check", "schedules/new.yaml", cwd=folder).returncode == 0
    posts = preview(folder / "schedules" / "new.yaml")
    assert [(p["slot"], p["at"], p["text"], p["reply_to"]) for p in posts] == [
        ("post-1", "2020-11-12T13:31:00+01:00", "Welcome to the roundtable!\n\n#Migration #GCM", None),
        (
            "post-2",
            "2020-11-12T13:50:00+01:00",
            "We start the first question.\nStay with us\n\n#GCM #Pathways",
            "post-1",
        ),
        ("post-3", "2020-11-12T14:50:30+01:00", "=1 day to go\n\n#GCM #Pathways", None),
    ]
    written = (folder / "schedules" / "new.yaml").read_text(encoding="utf-8")
    assert (
        "at: opening.start + 1m" in written and "at: q1.start + 5m" in written and "at: q1.start + 1h5m30s" in written
    )


# --- import: every bad row, with its line and the exact message -----------------------------------

BAD_ROWS = [
    (",,,Hello,,,,,,,,,", "this row has no time: give a time (13:45) or an anchor (q2.start + 2m)"),
    (",25:00,,Hello,,,,,,,,,", 'time "25:00" is not a time of day (hours 0-23, minutes 0-59)'),
    (",,q9.start,Hello,,,,,,,,,", 'anchor "q9.start" names no segment of the event (segments: opening, q1)'),
    (",,q1.middle,Hello,,,,,,,,,", 'anchor "q1.middle": a segment has a "start" and an "end", not "middle"'),
    (
        ",,q1.start + 2x,Hello,,,,,,,,,",
        'anchor "q1.start + 2x": "2x" is not a duration: write it like 2m, 90s or 1h30m',
    ),
    (
        ",13:31,q1.start + 2m,Hello,,,,,,,,,",
        'time 13:31 and anchor "q1.start + 2m" (13:47) disagree: give one, or make them agree',
    ),
    (",13:31,,,,,,,,,,,", "this row has no text and no template: write the post in text, or name a template"),
    (",13:31,,,../x,,,,,,,,", 'template "../x" must name a file of the templates folder, like "question"'),
    (',13:31,,,hello,"{oops",,,,,,,', 'vars must be a JSON object, like {"number": 2}'),
    (',13:31,,Hi,,"{""a"": 1}",,,,,,,', "vars go with a template: this row has only a text"),
    (
        ",13:31,,Hi,,,#2020,,,,,,",
        'hashtags: "#2020" is not a hashtag X would count: a hashtag needs a letter, like "#GCM2020"',
    ),
    (",13:31,,Hi,,,,,alt,,,,", "alt_text is given but media names no image"),
    (
        ',13:31,,Hi,,,,"a.jpg\nb.jpg",one alt,,,,',
        "media names 2 image(s) but alt_text gives 1 (one a line, in the same order)",
    ),
    (",13:31,,Hi,,,,,,Bad Id,,,", 'reply_to "Bad Id" must be the id of another row'),
    (
        ",13:31,,Hi,,,,,,,@other,,",
        "account @other is not the event's (@demo): a schedule posts from one account; make a sheet per account",
    ),
    (",13:31,,Hi,,,,,,,,0m,", 'valid_for "0m" is no time at all: a post needs a window to go out in'),
    (",13:31,,Hi,,,,,,,,5 minutes,", 'valid_for "5 minutes" is not a duration: write it like 2m, 90s or 1h30m'),
    (',13:31,,Hi,,,,,,,,,"{""#GCM"": """"}"', "omit_hashtags leaves out #GCM without a reason: say why"),
    ("Bad Id!,13:31,,Hi,,,,,,,,,", 'id "Bad Id!" must be lower-case letters, digits, "-" or "_" (at most 64)'),
    (
        ",13/11/2020 13:31,,Hi,,,,,,,,,",
        'time "13/11/2020 13:31" is not a time: write the date as YYYY-MM-DD '
        "(13/11/2020 is read differently by each country)",
    ),
    (
        ",13:31,,,hello,,#Extra,,,,,,",
        "hashtags go with a text: a template writes its own (or add them to the template)",
    ),
    (
        ",13:31,,Hi,,,,../secret.jpg,x,,,,",
        "media files are named relative to the schedule's folder, inside it (no /... or ..)",
    ),
    (",13:31,,Hi,,,,,,nobody,,,", 'reply_to "nobody" is the id of no row of this sheet'),
    (
        ",2020-11-12 13:31:99,,Hi,,,,,,,,,",
        'time "2020-11-12 13:31:99" is not a time of day (hours 0-23, minutes and seconds 0-59)',
    ),
    (",13:31,,Hi,,,,,,,,,,extra", "this row has 14 cells but the header names 13 columns"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS, ids=[m[:40] for _, m in BAD_ROWS])
def test_a_bad_row_is_named_with_its_line(event: Path, row: str, message: str) -> None:
    folder = event.parent.parent
    code, out, err = import_sheet(folder, HEADER + ",13:40,,A good row,,,,,,,,,\n" + row + "\n", "-o", "new.yaml")
    assert code == 1 and out == ""
    assert err.splitlines()[0] == f"posts.csv:3: {message}"
    assert "nothing was written" in err and not (folder / "new.yaml").exists()


MAPPED = [  # found by `check` in the schedule made from the sheet, told against the sheet's line
    (
        "b,13:32,,nosuch,,",
        'unknown template "nosuch": templates/nosuch.j2 does not exist (templates there: hello, question, text)',
    ),
    (
        "c,13:33," + "x" * 279 + ",,,",
        'slot "c": the post lacks #GCM (required by the event) and it does not fit (279/280 without it): '
        'shorten the text or opt out with omit_hashtags: {"#GCM": "the reason"}',
    ),
    ("d,13:34,Picture,,missing.jpg,A hall", 'slot "d" media 1 file missing.jpg does not exist'),
    (
        "e,11:00,Too early,,,",
        'slot "e" at 11:00 lies outside the event\'s posting window (12:30-15:00); set event '
        "posts_from/posts_until to post earlier or later",
    ),
    ("h,13:37,Hello,,,", 'slot "h" has the same text as slot "a" (line 2): X refuses duplicate posts'),
]


@pytest.mark.parametrize(("row", "message"), MAPPED, ids=[m[:40] for _, m in MAPPED])
def test_what_check_finds_is_told_against_the_sheet(event: Path, row: str, message: str) -> None:
    sheet = "id,time,text,template,media,alt_text\na,13:31,Hello,,,\n" + row + "\n"
    code, out, err = import_sheet(event.parent.parent, sheet)
    assert code == 1 and out == ""
    assert f"posts.csv:3: {message}" in err.splitlines()


def test_a_reply_due_before_its_parent_is_named_at_the_reply(event: Path) -> None:
    sheet = "id,time,text,reply_to\nf,13:35,Reply before,g\ng,13:36,Parent,\n"
    code, _, err = import_sheet(event.parent.parent, sheet)
    assert code == 1
    assert 'posts.csv:2: slot "f" replies to "g" but is due before it (13:35:00 < 13:36:00)' in err


def test_every_row_is_reported_in_one_run(event: Path) -> None:
    code, _, err = import_sheet(event.parent.parent, HEADER + ",25:00,,Hi,,,,,,,,,\n,13:31,,,,,,,,,,,\n")
    assert code == 1
    assert [line.split(":")[1] for line in err.splitlines()[:2]] == ["2", "3"]
    assert "2 problems: nothing was written." in err


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("time,txt\n", 'unknown column "txt" (did you mean "text"?)'),
        ("text,hashtags\n", "the header names no time or anchor column: each post needs one (13:45, or q2.start + 2m)"),
        ("time,hashtags\n", "the header names no text or template column: each post needs one"),
        ("time,text,Text\n", 'the column "text" is named twice'),
    ],
)
def test_a_bad_header_is_named(event: Path, header: str, message: str) -> None:
    code, _, err = import_sheet(event.parent.parent, header + "13:31,Hi\n")
    assert code == 1 and err.splitlines()[0] == f"posts.csv:1: {message}"


def test_a_sheet_too_large_is_refused_before_it_is_read(event: Path) -> None:
    folder = event.parent.parent
    (folder / "posts.csv").write_bytes(b"time,text\n" + b"13:31,x\n" * 600_000)
    out = cli("import", "posts.csv", "--event", "schedules/demo.yaml", cwd=folder)
    assert out.returncode == 1
    assert "error: posts.csv is 4.8 MB: a sheet of posts is far smaller (at most 4 MB)" in out.stderr


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"time,text\n13:31,caf\xe9\n", 'posts.csv:2: is not UTF-8 text (byte 0xe9): save the sheet as "CSV UTF-8"'),
        ("time,text\n".encode("utf-16"), 'posts.csv:1: is UTF-16 text ("Unicode text"): save the sheet as "CSV UTF-8"'),
        (b"time,text\n13:31,a\x00b\n", "posts.csv:2: this line holds a NUL byte: a sheet of posts is text"),
        (b'time,text\n13:31,"open\n', "posts.csv:2: is not readable as CSV here (unexpected end of data)"),
    ],
)
def test_a_file_that_is_not_a_sheet_is_refused(event: Path, data: bytes, message: str) -> None:
    sheet = read_sheet(data, "posts.csv", load_schedule(event))
    assert [str(p) for p in sheet.problems] == [message]


def test_a_time_becomes_the_anchor_of_its_segment(event: Path) -> None:
    sheet = "time,text\n12:50,Soon\n13:30,Now\n13:44:30,Late in the opening\n15:00,After the end\n"
    rows = read_sheet(sheet.encode(), "posts.csv", load_schedule(event)).rows
    assert [r.anchor for r in rows] == [
        "opening.start - 40m", "opening.start", "opening.start + 14m30s", "q1.end",
    ]  # fmt: skip
    assert rows[0].at.utcoffset() == timedelta(hours=1)
