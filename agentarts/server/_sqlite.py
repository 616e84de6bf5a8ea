"""SQLite helpers of the user store: a write-locking engine, the dummy hash for unknown names,
and the bound on concurrent password checks."""

from __future__ import annotations

import secrets
import threading
from typing import Any

__all__ = ["_DUMMY_HASH", "_VERIFYING", "_immediate"]


def _immediate(engine: Any) -> Any:
    """An engine whose transactions take SQLite's write lock when they begin.

    A read-then-write transaction on a WAL database that another connection wrote to in
    between fails at once with "database is locked" (SQLite cannot upgrade a stale read
    snapshot, so its busy timeout does not apply); ``BEGIN IMMEDIATE`` queues instead.
    """
    from sqlalchemy import create_engine, event

    from agentarts.store.db import sqlite_pragmas

    if engine.dialect.name != "sqlite":
        return engine
    writer = create_engine(engine.url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(writer, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None
        sqlite_pragmas(dbapi_conn, record)

    @event.listens_for(writer, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return writer


class _Dummy:
    """A hash of a random password, made once, verified against for unknown user names."""

    value: str | None = None

    def get(self, hasher: Any) -> str:
        if self.value is None:
            self.value = hasher.hash(secrets.token_urlsafe(16))
        return self.value


_DUMMY_HASH = _Dummy()
_VERIFYING = threading.BoundedSemaphore(2)
