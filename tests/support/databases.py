"""PostgreSQL for the store tests: one schema per test process, dropped when the process ends.

Two runs of the suite on one machine, or two xdist workers, never drop each other's tables.
"""

from __future__ import annotations

import atexit
import os

POSTGRES_URL = os.environ.get("LIVETWEET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_SCHEMA = f"livetweet_test_{os.getpid()}"
PG_HOWTO = (
    "PostgreSQL is not reachable at {url} ({error}). To run these tests start it "
    "(on Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
    "or point LIVETWEET_TEST_POSTGRES_URL at a database you may write to."
)


def pg_admin_url() -> str:
    return POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)


def postgres_unreachable() -> str | None:
    """None when PostgreSQL answers; else why not, and how to start it."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(pg_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: skip, saying how to enable
        return PG_HOWTO.format(url=POSTGRES_URL, error=str(exc).splitlines()[0])
    return None


def reset_postgres_schema() -> str:
    """Empty our own schema in the test database; return a URL that uses it."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_admin_url())
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    if not _schema_cleanup:
        _schema_cleanup.append(atexit.register(_drop_schema))
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}"


_schema_cleanup: list[object] = []


def _drop_schema() -> None:
    """At exit, this process's schema goes (best effort: a killed run leaves one behind)."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(pg_admin_url(), connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        engine.dispose()
    except Exception:  # the server may be gone already: nothing to clean then
        pass
