"""The draft store and the approval workflow, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from livetweet.clock import FixedClock
from livetweet.draft import (
    ACTIONS,
    Actor,
    Conflict,
    DraftError,
    DraftState,
    IllegalMove,
    NotAllowed,
    StaleRevision,
    UnknownDraft,
)
from livetweet.service import Service, TextRefused
from livetweet.service.ledger import NotDue
from livetweet.store import SCHEMA_VERSION, NewDraft, Store, StoreError, drafts_table, meta_table

from .support.events import MINI_SCHEDULE, write_event
from .support.world import posting_run

S = DraftState
T0 = datetime(2020, 11, 12, 11, 0, tzinfo=UTC)


@pytest.fixture
def service(db_url: str) -> Iterator[Service]:
    store = Store(db_url)
    yield Service(store, FixedClock(T0))
    store.close()


@pytest.fixture
def schedule(tmp_path: Path) -> Path:
    return write_event(tmp_path)


def by_slot(service: Service) -> dict[str, int]:
    return {d.slot: d.id for d in service.queue()}


def test_load_creates_one_pending_draft_per_slot(service: Service, schedule: Path) -> None:
    report = service.load(schedule)
    drafts = service.queue()
    assert [(d.slot, d.state, d.revision) for d in drafts] == [("hello", S.PENDING, 1), ("q1", S.PENDING, 1)]
    assert drafts[0].text == "Welcome to Demo event!\n\n#GCM"
    assert drafts[0].at == datetime(2020, 11, 12, 12, 31, tzinfo=UTC)  # 13:31 CET, stored in UTC
    assert len(report.created) == 2


def test_loading_twice_creates_nothing_new(service: Service, schedule: Path) -> None:
    service.load(schedule)
    audit_before = len(service.store.audit())
    report = service.load(schedule)
    assert (report.created, report.revised, report.unchanged) == ([], [], 2)
    assert len(service.queue()) == 2
    assert len(service.store.audit()) == audit_before


def test_reload_after_a_template_change_revises_pending_and_spares_approved(service: Service, schedule: Path) -> None:
    service.load(schedule)
    ids = by_slot(service)
    service.approve(ids["hello"], "alice")
    (schedule.parent.parent / "templates" / "hello.j2").write_text("Hello, {{ event.title }}!")
    (schedule.parent.parent / "templates" / "question.j2").write_text("Next: {{ segment.title }}")
    report = service.load(schedule)
    assert [d.id for d in report.revised] == [ids["q1"]]
    assert [(d.id, why) for d, why in report.untouched] == [
        (ids["hello"], "the schedule changed its text, but it is approved")
    ]
    q1 = service.show(ids["q1"])
    assert (q1.revision, q1.state, q1.text) == (2, S.PENDING, "Next: Question 1\n\n#GCM #Pathways")
    hello = service.show(ids["hello"])
    assert (hello.revision, hello.state, hello.text) == (1, S.APPROVED, "Welcome to Demo event!\n\n#GCM")


def test_reload_moves_a_pending_draft_when_its_time_changes(service: Service, schedule: Path) -> None:
    service.load(schedule)
    schedule.write_text(MINI_SCHEDULE.replace("q1.start + 2m", "q1.start + 5m"))
    report = service.load(schedule)
    assert [d.slot for d in report.rescheduled] == ["q1"]
    assert service.show(by_slot(service)["q1"]).at == datetime(2020, 11, 12, 12, 50, tzinfo=UTC)


def test_slots_that_disappear_are_withdrawn_and_come_back(service: Service, schedule: Path) -> None:
    service.load(schedule)
    ids = by_slot(service)
    without_q1 = MINI_SCHEDULE.split("  - id: q1\n    template")[0]
    schedule.write_text(without_q1)
    report = service.load(schedule)
    assert [d.id for d in report.withdrawn] == [ids["q1"]]
    assert service.show(ids["q1"]).state == S.WITHDRAWN
    schedule.write_text(MINI_SCHEDULE)
    report = service.load(schedule)
    assert [d.id for d in report.restored] == [ids["q1"]]
    assert (service.show(ids["q1"]).state, service.show(ids["q1"]).revision) == (S.PENDING, 2)


def test_a_posted_draft_is_never_withdrawn(service: Service, schedule: Path) -> None:
    service.load(schedule)
    ids = by_slot(service)
    service.approve(ids["q1"], "alice")
    service.clock.set(service.show(ids["q1"]).at)  # type: ignore[attr-defined]
    claim = posting_run(service).claim(ids["q1"])
    posting_run(service).posted(ids["q1"], claim.draft.version, "1")
    schedule.write_text(MINI_SCHEDULE.split("  - id: q1\n    template")[0])
    report = service.load(schedule)
    assert report.withdrawn == []
    assert service.show(ids["q1"]).state == S.POSTED


def test_auto_mode_approves_new_drafts_as_auto(service: Service, schedule: Path) -> None:
    service.load(schedule, mode="auto")
    drafts = service.queue()
    assert {(d.state, d.approved_by, d.approved_revision) for d in drafts} == {(S.APPROVED, "auto", 1)}
    assert service.store.event(drafts[0].event_id).mode == "auto"  # type: ignore[union-attr]


# --- the state machine -------------------------------------------------------------

# Written out by hand from the design, independently of draft.ACTIONS: action -> (who, from-states).
P, A, POSTING, POSTED, R, M, F, W = (S.PENDING, S.APPROVED, S.POSTING, S.POSTED, S.REJECTED, S.MISSED, S.FAILED,
                                     S.WITHDRAWN)  # fmt: skip
OP, DI, SC = Actor.OPERATOR, Actor.DISPATCHER, Actor.SCHEDULE
EXPECTED: dict[str, tuple[set[Actor], set[DraftState]]] = {
    "approve": ({OP, SC}, {P, F}),
    "unapprove": ({OP}, {A}),
    "reject": ({OP}, {P, A, M, F}),
    "edit": ({OP}, {P, A, R, M, F}),
    "post-now": ({OP}, {A, M, F}),
    "standalone": ({OP}, {M, F}),  # a reply the network refused, sent again as a post of its own
    "cancel": ({OP}, {A}),
    "unreject": ({OP}, {R}),
    "shift": ({OP}, {P, A}),
    "cue": ({OP}, {P, A}),
    "claim": ({DI}, {A}),
    "posted": ({DI}, {POSTING}),
    "reconciled": ({DI}, {POSTING}),
    "posted-anyway": ({DI}, {P, A, R, M, F, W, POSTING}),
    "retry": ({DI}, {POSTING}),
    "halt": ({DI}, {POSTING}),
    "unknown": ({DI}, {POSTING}),
    "failed": ({DI}, {POSTING}),
    "missed": ({DI}, {P, A}),
    "expired": ({DI}, {POSTING}),
    "withdraw": ({SC}, {P, A, R, M, F}),
    "restore": ({SC}, {W}),
    "reload": ({SC}, {P}),
    "reschedule": ({SC}, {P}),
}


def _force(service: Service, draft_id: int, state: DraftState) -> None:
    """Put a draft in a state directly (test set-up only), bumping its version."""
    with service.store.begin() as conn:
        conn.execute(
            drafts_table.update()
            .where(drafts_table.c.id == draft_id)
            .values(state=state.value, version=drafts_table.c.version + 1)
        )


def test_the_table_of_actions_is_the_one_designed() -> None:
    assert {name: (set(a.actors), set(a.starts)) for name, a in ACTIONS.items()} == EXPECTED


def test_every_action_from_every_state_by_every_actor(service: Service, schedule: Path) -> None:
    service.load(schedule)
    draft_id = by_slot(service)["hello"]
    for name, action in ACTIONS.items():
        for current in S:
            for actor in Actor:
                _force(service, draft_id, current)
                before = service.store.get(draft_id)
                audit_before = len(service.store.audit(draft_id))
                with service.store.begin() as conn:
                    try:
                        service.store.transition(conn, before, name, actor=actor, by="tester", at=T0)
                        moved = True
                    except NotAllowed as exc:
                        moved = False
                        assert actor not in EXPECTED[name][0], exc
                    except IllegalMove as exc:
                        moved = False
                        assert str(exc).startswith(f"draft {draft_id} is {current.value}: it cannot be")
                allowed = actor in EXPECTED[name][0] and current in EXPECTED[name][1]
                after = service.store.get(draft_id)
                assert moved == allowed, (name, current, actor)
                to = action.leads_to or current
                assert after.state == (to if moved else current)
                assert len(service.store.audit(draft_id)) == audit_before + (1 if moved else 0)
                if moved:
                    last = service.store.audit(draft_id)[-1]
                    assert (last.action, last.from_state, last.to_state) == (name, current.value, to.value)


def test_an_operator_approve_does_not_rearm_a_post_in_flight(service: Service, schedule: Path) -> None:
    """Regression (1): approve on a draft in posting was accepted through the dispatcher's retry right."""
    service.load(schedule)
    draft_id = by_slot(service)["hello"]
    service.approve(draft_id, "alice")
    service.clock.set(service.show(draft_id).at)  # type: ignore[attr-defined]
    posting_run(service).claim(draft_id)
    with pytest.raises(IllegalMove, match="is posting: it cannot be approved"):
        service.approve(draft_id, "bob")
    refused = [
        lambda: service.reject(draft_id, "bob"),
        lambda: service.post_now(draft_id, "bob"),
        lambda: service.standalone(draft_id, "bob"),
        lambda: service.edit(draft_id, "New words #GCM", "bob"),
        lambda: service.unapprove(draft_id, "bob"),
    ]
    for act in refused:
        with pytest.raises(DraftError):
            act()
    assert service.show(draft_id).state == S.POSTING


def test_a_claim_does_not_stop_a_second_claimant_no_more(service: Service, schedule: Path) -> None:
    """Regression (2): two claims of one draft both won; now the second is refused."""
    service.load(schedule)
    draft_id = by_slot(service)["hello"]
    service.approve(draft_id, "alice")
    service.clock.set(service.show(draft_id).at)  # type: ignore[attr-defined]
    run = posting_run(service)
    run.claim(draft_id)
    with pytest.raises(NotDue, match="is posting, not approved"):
        run.claim(draft_id)
    assert [e.action for e in service.history(draft_id)].count("claim") == 1


def test_the_audit_trail_of_approve_edit_approve_reject(service: Service, schedule: Path) -> None:
    service.load(schedule)
    draft_id = by_slot(service)["hello"]
    service.approve(draft_id, "alice")
    _, appended = service.edit(draft_id, "Welcome, everyone!", "bob")
    assert appended == ["#GCM"]
    service.approve(draft_id, "carol", revision=2)
    service.reject(draft_id, "dave", reason="the session was cancelled")
    trail = [(e.operator, e.action, e.from_state, e.to_state, e.revision, e.reason) for e in service.history(draft_id)]
    assert trail == [
        ("schedule", "create", None, "pending", 1, None),
        ("alice", "approve", "pending", "approved", 1, None),
        ("bob", "edit", "approved", "pending", 2, None),
        ("carol", "approve", "pending", "approved", 2, None),
        ("dave", "reject", "approved", "rejected", 2, "the session was cancelled"),
    ]
    assert [(r.revision, r.created_by, r.cause) for r in service.store.revisions(draft_id)] == [
        (1, "schedule", "load"),
        (2, "bob", "edit"),
    ]
    assert service.show(draft_id).text == "Welcome, everyone!\n\n#GCM"


def test_approving_a_stale_revision_is_refused(service: Service, schedule: Path) -> None:
    service.load(schedule)
    draft_id = by_slot(service)["hello"]
    service.edit(draft_id, "A new welcome #GCM", "bob")
    with pytest.raises(StaleRevision, match=f"draft {draft_id} is now at revision 2, not 1"):
        service.approve(draft_id, "alice", revision=1)
    assert service.show(draft_id).state == S.PENDING


def test_a_draft_approved_before_an_edit_cannot_be_claimed(service: Service, schedule: Path) -> None:
    service.load(schedule)
    draft_id = by_slot(service)["hello"]
    service.approve(draft_id, "alice")
    service.edit(draft_id, "Changed #GCM", "bob")
    service.clock.set(service.show(draft_id).at)  # type: ignore[attr-defined]
    with pytest.raises(NotDue, match="pending, not approved"):
        posting_run(service).claim(draft_id)


def test_acting_on_what_you_saw_after_someone_changed_it_is_refused(service: Service, schedule: Path) -> None:
    service.load(schedule)
    draft = service.show(by_slot(service)["hello"])
    service.edit(draft.id, "Bob's version #GCM", "bob")
    with pytest.raises(Conflict, match=r"changed since you looked at it .* by bob"):
        service.approve(draft.id, "alice", seen_version=draft.version)


def test_unknown_draft(service: Service) -> None:
    with pytest.raises(UnknownDraft, match="there is no draft 42"):
        service.approve(42, "alice")


@pytest.mark.parametrize(
    "text,message",
    [
        ("   ", "is empty"),
        ("x" * 281, "is 281/280 weighted characters, 1 too many"),
        ("y" * 276, "lacks #GCM"),
        ("Now: Question 1. #GCM #Pathways", "already has this text"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(service: Service, schedule: Path, text: str, message: str) -> None:
    service.load(schedule)
    draft = service.show(by_slot(service)["hello"])
    with pytest.raises(TextRefused, match=message):
        service.edit(draft.id, text, "bob")
    assert service.show(draft.id) == draft


def test_already_approved(service: Service, schedule: Path) -> None:
    service.load(schedule)
    draft_id = by_slot(service)["hello"]
    service.approve(draft_id, "alice")
    with pytest.raises(DraftError, match=r"already approved .* by alice"):
        service.approve(draft_id, "bob")


# --- databases that are not ours -------------------------------------------------


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping list")
    with pytest.raises(StoreError, match="is not a livetweet database"):
        Store(f"sqlite:///{path}")
    assert path.read_text() == "shopping list"


def test_a_database_of_another_application(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id INTEGER)"))
    engine.dispose()
    with pytest.raises(StoreError, match="holds other tables: customers"):
        Store(f"sqlite:///{path}")


def test_a_database_from_a_newer_livetweet(db_url: str) -> None:
    Store(db_url).close()
    engine = sa.create_engine(Store(db_url).engine.url)
    with engine.begin() as conn:
        conn.execute(meta_table.update().where(meta_table.c.key == "schema_version").values(value="99"))
    engine.dispose()
    with pytest.raises(StoreError, match=rf"newer livetweet \(schema 99; this one knows {SCHEMA_VERSION}\)"):
        Store(db_url)


SCHEMA_5_DUMP = Path(__file__).parent / "data" / "store-schema5.sql"


def _back_to_schema_5(conn: sa.Connection) -> None:
    """A store as schema 5 had it: drafts one per slot, without accounts or keys (SQLite cannot drop a
    column of a unique key: its tables come from a dump of a store livetweet 5 wrote)."""
    if conn.dialect.name == "sqlite":
        names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        for name in names:
            conn.exec_driver_sql(f"DROP TABLE {name}")
        lines = [line for line in SCHEMA_5_DUMP.read_text().splitlines() if not line.startswith("--")]
        script = "\n".join(lines).replace("BEGIN TRANSACTION;", "").replace("COMMIT;", "")
        for statement in script.split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        return
    conn.execute(sa.text("ALTER TABLE drafts DROP CONSTRAINT uq_drafts_event_slot_account"))
    conn.execute(sa.text("ALTER TABLE drafts DROP COLUMN account"))
    conn.execute(sa.text("ALTER TABLE drafts DROP COLUMN post_key"))
    conn.execute(sa.text("ALTER TABLE drafts ADD CONSTRAINT uq_drafts_event_slot UNIQUE (event_id, slot)"))
    conn.execute(sa.text("ALTER TABLE events DROP COLUMN accounts"))


def test_a_schema_2_store_gains_the_console_and_media_tables_and_the_budget(db_url: str) -> None:
    store = Store(db_url)
    url = store.engine.url
    store.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _back_to_schema_5(conn)
        conn.execute(sa.text("DROP TABLE console_sessions"))
        conn.execute(sa.text("DROP TABLE console_tokens"))
        conn.execute(sa.text("DROP TABLE media"))  # schema 4's media, as a schema 2 store has none
        conn.execute(sa.text("ALTER TABLE drafts DROP COLUMN media"))
        conn.execute(sa.text("ALTER TABLE inbox DROP COLUMN media"))
        conn.execute(sa.text("ALTER TABLE events DROP COLUMN x_usd_per_day"))  # schema 5's kept budget
        conn.execute(meta_table.update().where(meta_table.c.key == "schema_version").values(value="2"))
    engine.dispose()
    store = Store(db_url)
    try:
        now = datetime.now(UTC)
        store.add_console_token("h" * 64, now, now + timedelta(hours=1))
        assert store.use_console_token("h" * 64, now) and not store.use_console_token("h" * 64, now)
        sha = store.put_media(None, b"\x89PNG not really", "image/png", 1, 1)  # schema 4: images kept
        assert store.media_data(sha) == (b"\x89PNG not really", "image/png")
        assert store.put_media(None, b"\x89PNG not really", "image/png", 1, 1) == sha  # once
        with store.engine.connect() as conn:
            version = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).scalar()
        assert version == str(SCHEMA_VERSION)
        with store.engine.connect() as conn:
            budgets = {r[0] for r in conn.execute(sa.text("SELECT x_usd_per_day FROM events"))}
            assert budgets <= {None}  # the column is there (empty: no event kept one then)
    finally:
        store.close()


def test_a_schema_5_store_keeps_its_drafts_as_x_deliveries(tmp_path: Path) -> None:
    """A store livetweet wrote before deliveries (tests/data: its own dump) opens with every draft on
    the X account, its audit and revisions still joined to it, and a slot free to gain deliveries."""
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.executescript(SCHEMA_5_DUMP.read_text())
    raw.close()
    store = Store(f"sqlite:///{path}")
    try:
        drafts = store.drafts(event_id="demo")
        assert [(d.id, d.slot, d.account, d.state.value, d.tweet_id) for d in drafts] == [
            (1, "hello", "x", "posted", "1001"),
            (2, "thread", "x", "approved", None),
        ]
        assert store.draft_by_slot(None, "demo", "hello", "x") == drafts[0]
        assert [a.action for a in store.audit(2)] == ["create"]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            schemas = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
        assert "drafts_schema5" not in schemas
        assert all("drafts_schema5" not in sql for sql in schemas.values())  # the others still name drafts
        assert "uq_drafts_event_slot_account" in schemas["drafts"]
        with store.begin() as conn:
            now = datetime.now(UTC)
            new = NewDraft(
                slot="hello", segment="opening", source="schedule", template="hello", text="post 1 #demo",
                planned_text="post 1 #demo", weighted_length=12, hashtags=("#demo",), wanted_hashtags=("#demo",),
                planned_at=now, at=now, valid_until=now, reply_to=None, account="bsky",
            )  # fmt: skip
            (made,) = store.create_drafts(conn, "demo", [new], by="test", at=now, cause="load", action="create")
        assert (made.slot, made.account) == ("hello", "bsky")
        assert [d.account for d in store.deliveries_of(None, "demo", "hello")] == ["x", "bsky"]
        with pytest.raises(sa.exc.IntegrityError), store.begin() as conn:
            store.create_drafts(conn, "demo", [new], by="test", at=now, cause="load", action="create")
    finally:
        store.close()


def test_times_come_back_aware_and_in_utc(service: Service, schedule: Path) -> None:
    service.load(schedule)
    draft = service.queue()[0]
    assert draft.at.tzinfo is not None and draft.at.utcoffset() == timedelta(0)
