"""`livetweet copy-store`: an event's SQLite store moved to PostgreSQL before the event, whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from livetweet.store import Store

from .support.cli import cli
from .support.databases import reset_postgres_schema
from .support.events import X_ONLY_SCHEDULE

pytestmark = pytest.mark.usefixtures("postgres_available")


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    """The shipped roundtable loaded into SQLite, with an approval, a rejection and an edit."""
    assert cli("load", str(X_ONLY_SCHEDULE), cwd=tmp_path).returncode == 0
    assert cli("approve", "1", "2", "--as", "Amina", cwd=tmp_path).returncode == 0
    assert cli("reject", "3", "--as", "Amina", cwd=tmp_path).returncode == 0
    assert cli("edit", "4", "--text", "Edited before the event #GCM", "--as", "Amina", cwd=tmp_path).returncode == 0
    return tmp_path


def queue(cwd: Path, *db: str) -> list[dict[str, object]]:
    result = cli(*db, "queue", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_the_copy_holds_everything_and_postgresql_carries_on_after_it(loaded: Path) -> None:
    target = reset_postgres_schema()
    result = cli("copy-store", target, cwd=loaded)
    assert result.returncode == 0, result.stderr
    assert "Copied sqlite:///livetweet.db into postgresql+psycopg://postgres@127.0.0.1:5432/test" in result.stdout
    assert "10 drafts" in result.stdout
    assert queue(loaded, "--db", target) == queue(loaded)
    for draft in ("1", "4"):
        assert (
            cli("--db", target, "history", draft, cwd=loaded).stdout.splitlines()[1:]
            == cli("history", draft, cwd=loaded).stdout.splitlines()[1:]
        )
    # New rows on PostgreSQL get ids after the copied ones (its sequences were moved on).
    assert cli("--db", target, "compose", "A line from the floor #GCM", "--pending", cwd=loaded).returncode == 0
    ids = [d["id"] for d in queue(loaded, "--db", target)]
    assert max(ids) == 11 and len(ids) == len(set(ids)) == 11  # type: ignore[type-var]


def test_a_copy_into_a_store_with_data_changes_nothing(loaded: Path) -> None:
    target = reset_postgres_schema()
    assert cli("copy-store", target, cwd=loaded).returncode == 0
    before = queue(loaded, "--db", target)
    again = cli("copy-store", target, cwd=loaded)
    assert again.returncode == 1
    assert again.stderr.strip().startswith(
        "error: postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D"
    )
    full = "already holds a livetweet store with data (events, segments, drafts, revisions, audit, media)"
    assert f"{full}: copy into an empty database (or schema), so that nothing there is overwritten" in again.stderr
    assert queue(loaded, "--db", target) == before


def test_a_store_a_run_posts_from_is_not_copied(loaded: Path) -> None:
    store = Store(f"sqlite:///{loaded / 'livetweet.db'}")
    try:
        store.take_lease("a-running-run", kind="live")
        target = reset_postgres_schema()
        result = cli("copy-store", target, cwd=loaded)
    finally:
        store.close()
    assert result.returncode == 1
    assert "error: a run is posting from sqlite:///" in result.stderr
    assert "stop it before copying the store, or the copy would miss what it posts next" in result.stderr
    copy = Store(target, create=False)
    try:
        with copy.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM drafts")).scalar() == 0
    finally:
        copy.close()


def test_a_store_is_not_copied_onto_itself(loaded: Path) -> None:
    result = cli("copy-store", f"sqlite:///{loaded / 'livetweet.db'}", cwd=loaded)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "error: the target is this same store: name another database",
    )
