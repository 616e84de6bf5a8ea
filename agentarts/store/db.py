"""Database engine and schema migrations for the run store.

SQLite is the default (WAL journal, ``synchronous=NORMAL``, a 30 s busy timeout), so several
processes can run agents on one file: readers never block writers, writers queue instead of
failing, and a killed process loses no committed row. Postgres works through its URL.

The schema is versioned in ``agentarts_schema_version``. A fresh database gets the latest
schema; an older one is migrated step by step; a newer one (written by a newer SDK) is refused
with a clear error instead of being damaged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentarts.errors import ConfigError, MissingDependencyError

__all__ = ["LATEST_VERSION", "make_engine", "migrate", "sqlite_pragmas", "with_retry"]

LATEST_VERSION = 3


def sqlite_pragmas(dbapi_conn: Any, _record: Any = None) -> None:
    """WAL, synchronous=NORMAL and a 30 s busy timeout: what every AgentArts SQLite connection
    uses so that several processes can share one file."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def raw_sqlite(engine: Any) -> Any:
    """A plain ``sqlite3`` connection (autocommit, the pragmas above) to ``engine``'s SQLite
    file, or None for other databases and in-memory SQLite. Hot per-request statements go
    through it: ~30-50 us there against ~300-500 us through SQLAlchemy's layers."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return None
    import sqlite3

    conn = sqlite3.connect(database, timeout=30, check_same_thread=False, isolation_level=None)
    sqlite_pragmas(conn)
    return conn


def make_engine(url: str) -> Any:
    """An SQLAlchemy engine for ``url``; creates the SQLite file's folder if needed."""
    from sqlalchemy import create_engine, event

    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", sqlite_pragmas)
        return engine
    if url.startswith(("postgres://", "postgresql")):
        try:
            import psycopg  # noqa: F401 - SQLAlchemy's psycopg 3 dialect needs it
        except ImportError as exc:
            raise MissingDependencyError(
                "the Postgres driver is not installed", hint="pip install 'agentarts[postgres]'"
            ) from exc
        rest = url.partition("://")[2]
        return create_engine(f"postgresql+psycopg://{rest}", pool_pre_ping=True)
    from agentarts.security import mask_url

    raise ConfigError(
        f"unsupported database URL {mask_url(url)!r}: use sqlite:///PATH or postgresql://..."
    )


def with_retry(fn: Callable[[], Any], attempts: int = 8) -> Any:
    """Run a write, retrying briefly when SQLite reports the database locked or busy."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn()
        except (OperationalError, sqlite3.OperationalError) as exc:
            text = str(exc).lower()
            if attempt == attempts - 1 or ("locked" not in text and "busy" not in text):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    return None  # pragma: no cover


def _v2_work_order_priority(conn: Any) -> None:
    from sqlalchemy import inspect, text

    columns = {c["name"] for c in inspect(conn).get_columns("agentarts_work_orders")}
    if "priority" not in columns:
        conn.execute(
            text(
                "ALTER TABLE agentarts_work_orders "
                "ADD COLUMN priority VARCHAR NOT NULL DEFAULT 'normal'"
            )
        )


def _v3_signed_approvals(conn: Any) -> None:
    from sqlalchemy import inspect, text

    columns = {c["name"] for c in inspect(conn).get_columns("agentarts_approvals")}
    for name, default in (("digest", "''"), ("source", "'sdk'"), ("sig", "''")):
        if name not in columns:
            conn.execute(
                text(
                    f"ALTER TABLE agentarts_approvals ADD COLUMN {name} VARCHAR NOT NULL "
                    f"DEFAULT {default}"
                )
            )


#: version -> step that brings a database from version-1 to version
MIGRATIONS: dict[int, Callable[[Any], None]] = {
    2: _v2_work_order_priority,
    3: _v3_signed_approvals,
}


def _locked_engine(engine: Any) -> Any:
    """An engine whose transactions take the database's write lock when they begin, so two
    processes opening a new database never both create its tables (SQLite's default deferred
    transactions would let them race)."""
    from sqlalchemy import create_engine, event

    if engine.dialect.name != "sqlite":
        return engine
    locked = create_engine(engine.url, connect_args={"timeout": 30})

    @event.listens_for(locked, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the BEGIN below be the only one
        sqlite_pragmas(dbapi_conn, _record)

    @event.listens_for(locked, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return locked


def migrate(engine: Any) -> int:
    """Bring the database to LATEST_VERSION; returns the version it had before (0 if new).

    Safe when several processes open the same database at once: the check and the schema
    changes run in one transaction holding the write lock (SQLite: BEGIN IMMEDIATE; Postgres:
    a transaction-scoped advisory lock).
    """
    from sqlalchemy import inspect, text
    from sqlmodel import SQLModel

    from agentarts.store import models  # noqa: F401 - registers the tables

    locked = _locked_engine(engine)

    def run() -> int:
        with locked.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(72520141)"))
            tables = set(inspect(conn).get_table_names())
            if "agentarts_schema_version" not in tables:
                SQLModel.metadata.create_all(conn)
                conn.execute(
                    text("INSERT INTO agentarts_schema_version (id, version) VALUES (1, :v)"),
                    {"v": LATEST_VERSION},
                )
                return 0
            row = conn.execute(text("SELECT version FROM agentarts_schema_version")).first()
            if row is None:  # an emptied version table: the tables tell which version it is
                conn.execute(
                    text("INSERT INTO agentarts_schema_version (id, version) VALUES (1, 1)")
                )
            found = int(row[0]) if row is not None and row[0] is not None else 1
            if found > LATEST_VERSION:
                raise ConfigError(
                    f"the database schema is version {found}, newer than this SDK supports "
                    f"({LATEST_VERSION}): upgrade agentarts"
                )
            for version in range(found + 1, LATEST_VERSION + 1):
                MIGRATIONS[version](conn)
            if found < LATEST_VERSION:
                SQLModel.metadata.create_all(conn)  # tables added by later versions
                conn.execute(
                    text("UPDATE agentarts_schema_version SET version = :v"), {"v": LATEST_VERSION}
                )
            return found

    from sqlalchemy.exc import DatabaseError

    try:
        return with_retry(run)
    except DatabaseError as exc:
        from agentarts.security import mask_url

        reason = " ".join(str(getattr(exc, "orig", exc) or exc).split())
        raise ConfigError(
            f"cannot open the run store at {mask_url(str(engine.url))}: {reason} "
            "(is it an AgentArts database? move it aside or set AGENTARTS_DATABASE_URL)"
        ) from exc
    finally:
        if locked is not engine:
            locked.dispose()
