"""Durable checkpointers: SQLite (default, WAL) or Postgres, from the database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentarts.errors import ConfigError, MissingDependencyError

__all__ = ["make_checkpointer"]


def make_checkpointer(url: str) -> tuple[Any, Any]:
    """(checkpointer, closeable connection) for ``url``.

    SQLite gets WAL and a 30 s busy timeout so several processes can share one file; every
    checkpoint is committed before the next step starts (``durability="sync"`` in Agent).
    """
    if url.startswith("sqlite"):
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        path = url.split("///", 1)[1] if "///" in url else ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        from agentarts.store.db import sqlite_pragmas

        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        sqlite_pragmas(conn)
        saver = SqliteSaver(conn)
        saver.setup()
        return saver, conn
    if url.startswith(("postgres://", "postgresql")):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg import Connection
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise MissingDependencyError(
                "Postgres checkpoints need extra packages", hint="pip install 'agentarts[postgres]'"
            ) from exc
        dsn = "postgresql://" + url.partition("://")[2]
        try:
            conn = Connection.connect(
                dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row
            )
        except Exception as exc:  # psycopg.OperationalError: refused, auth, no such db
            from agentarts.security import mask_url

            raise ConfigError(
                f"cannot connect to {mask_url(url)}: {mask_url(' '.join(str(exc).split()))}"
            ) from exc
        saver = PostgresSaver(conn)
        # With an autocommit connection in pipeline mode, put_writes() commits each of a task's
        # writes on its own: a process killed half-way leaves a node's state update saved
        # without its routing write, and the thread looks completed although the next node
        # (an approved actuation) never ran (found by the fault campaign). Without pipeline
        # mode the saver wraps each put and put_writes in one transaction.
        saver.supports_pipeline = False
        _locked_setup(conn, saver)
        return saver, conn
    from agentarts.security import mask_url

    raise ConfigError(f"unsupported database URL {mask_url(url)!r}")


#: the advisory-lock key AgentArts' checkpoint setup takes turns on (arbitrary, fixed)
_SETUP_LOCK = 72520142


def _locked_setup(conn: Any, saver: Any, timeout_s: float = 300.0) -> None:
    """Run LangGraph's ``setup()`` (unlocked migrations: several processes starting on a fresh
    database insert the same migration rows) one process at a time.

    The lock is *polled* with ``pg_try_advisory_lock``: a process blocked in
    ``pg_advisory_lock`` keeps a transaction open, and the holder's
    ``CREATE INDEX CONCURRENTLY`` waits for every open transaction, so blocking waiters and the
    holder would deadlock (seen with 8 processes on a fresh database).
    """
    import time

    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while not conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_SETUP_LOCK,)).fetchone()[
        "ok"
    ]:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"another process has held the checkpoint setup lock for {timeout_s:.0f} s"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    try:
        saver.setup()
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
