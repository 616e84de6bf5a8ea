"""People, API tokens, browser sessions and the server's audit log, in the project's database.

The tables live next to the run store (same database URL) but on their own SQLModel registry,
so the run store's migrations never see them and they never touch the run store's tables:

| table | holds |
|---|---|
| agentarts_users | name, role, scope (agents the role applies to, ``*`` = all), argon2 hash |
| agentarts_api_tokens | SHA-256 of each API token (the token itself is shown once) |
| agentarts_web_sessions | SHA-256 of each session cookie, its CSRF token, its expiry |
| agentarts_server_threads | who started each thread through the server (for the four-eyes rule) |
| agentarts_server_audit | every login, start, approval, rejection, resume and refusal, by whom |

Passwords are hashed with Argon2id at the OWASP Password Storage Cheat Sheet's baseline
(19 MiB of memory, 2 passes, 1 lane: about 0.1 s here, and at most two verifications run at
once, so a burst of sign-ins cannot take the machine's CPU from the agents).
Tokens and session ids carry 256 bits from ``secrets`` and are stored hashed, so a stolen
database does not hand out working credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from agentarts.errors import InvalidInputError, NotFoundError, UsageError
from agentarts.server._sqlite import _DUMMY_HASH, _VERIFYING, _immediate

__all__ = ["ROLES", "UserStore", "role_rank"]

#: Roles, weakest first; each role can do everything the ones before it can.
ROLES = ("viewer", "operator", "approver", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def role_rank(role: str) -> int:
    """Position of ``role`` in :data:`ROLES` (unknown roles rank below viewer)."""
    return ROLES.index(role) if role in ROLES else -1


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class _Base(SQLModel, registry=registry()):
    """Own registry: these tables are created by the server, not by the run store."""


class User(_Base, table=True):
    __tablename__ = "agentarts_users"
    name: str = Field(primary_key=True)
    role: str
    scope: str = "*"  # comma-separated agent names or refs the role applies to
    password_hash: str | None = None
    created_at: datetime


class ApiToken(_Base, table=True):
    __tablename__ = "agentarts_api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(index=True)
    token_hash: str = Field(unique=True)
    prefix: str  # first characters, to tell tokens apart in listings
    created_at: datetime


class WebSession(_Base, table=True):
    __tablename__ = "agentarts_web_sessions"
    id_hash: str = Field(primary_key=True)
    user: str = Field(index=True)
    csrf: str
    created_at: float
    last_seen_at: float
    expires_at: float  # absolute expiry


class ServerThread(_Base, table=True):
    __tablename__ = "agentarts_server_threads"
    thread_id: str = Field(primary_key=True)
    agent: str = ""
    started_by: str
    started_at: datetime


class AuditEntry(_Base, table=True):
    __tablename__ = "agentarts_server_audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    user: str
    role: str = ""
    action: str  # login | login_failed | logout | invoke | approve | reject | resume | denied
    thread_id: str | None = Field(default=None, index=True)
    outcome: str = ""  # the run's status after the action, or why it was refused
    detail: str = "null"  # JSON


class UserStore:
    """Users, tokens, sessions and the audit log at ``url`` (tables created on open)."""

    def __init__(self, url: str, clock: Any = time.time) -> None:
        from agentarts.store.db import make_engine, raw_sqlite, with_retry

        self.url = url
        self.engine = make_engine(url)
        self._writer = _immediate(self.engine)
        self.clock = clock
        self._retry = with_retry
        with_retry(lambda: _Base.metadata.create_all(self._writer))
        self._hasher: Any = None
        # the per-request reads and the audit insert go through one raw connection on SQLite
        # (~50 us a statement there, ~500 us through SQLAlchemy's layers)
        self._raw: Any = raw_sqlite(self.engine)
        self._raw_lock = threading.Lock()

    def _fast(self, sql: str, params: tuple[Any, ...], statement: Any) -> Any:
        """``sql`` on the raw SQLite connection (rows, or None for a write); without one,
        ``statement()`` (SQLAlchemy, built only then) on the engine: the first row of a read,
        or a write."""
        if self._raw is None:
            if sql.lstrip().upper().startswith("SELECT"):
                row = self._first(statement())
                return [] if row is None else [tuple(row)]
            self._execute(statement())
            return None

        def run() -> Any:
            with self._raw_lock:
                cursor = self._raw.execute(sql, params)
                return cursor.fetchall() if cursor.description else None

        return self._retry(run)

    # -- plumbing ----------------------------------------------------------------------------
    def _session(self, engine: Any = None) -> Any:
        from sqlmodel import Session

        return Session(engine or self.engine, expire_on_commit=False)

    def _write(self, fn: Any) -> Any:
        def run() -> Any:
            with self._session(self._writer) as db:
                out = fn(db)
                db.commit()
                return out

        return self._retry(run)

    @property
    def hasher(self) -> Any:
        if self._hasher is None:
            from argon2 import PasswordHasher

            self._hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
        return self._hasher

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        self.engine.dispose()
        if self._writer is not self.engine:
            self._writer.dispose()

    # -- users -------------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str | None = None, scope: str = "*") -> None:
        """Create a user; an existing name or an unknown role is a usage error."""
        if not _NAME.match(name):
            raise InvalidInputError(
                f"user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'"
            )
        if role not in ROLES:
            raise InvalidInputError(f"role {role!r}: choose one of {', '.join(ROLES)}")
        if password is not None and len(password) < 8:
            raise InvalidInputError("a password needs at least 8 characters")
        pw_hash = self.hasher.hash(password) if password else None

        def add(db: Any) -> None:
            if db.get(User, name) is not None:
                raise UsageError(f"user {name!r} already exists")
            db.add(
                User(
                    name=name,
                    role=role,
                    scope=scope or "*",
                    password_hash=pw_hash,
                    created_at=_utc(self.clock()),
                )
            )

        self._write(add)

    def get(self, name: str) -> dict[str, Any] | None:
        with self._session() as db:
            user = db.get(User, name)
            return None if user is None else self._public(user)

    @staticmethod
    def _public(user: Any) -> dict[str, Any]:
        """A user (ORM object or Core row) without its password hash."""
        created = user.created_at
        return {
            "name": user.name,
            "role": user.role,
            "scope": user.scope,
            "password": user.password_hash is not None,
            "created_at": created.isoformat() if hasattr(created, "isoformat") else str(created),
        }

    def _first(self, statement: Any) -> Any:
        """The first row of a read (Core: the request path avoids ORM sessions)."""
        with self.engine.connect() as conn:
            return conn.execute(statement).first()

    def _execute(self, statement: Any) -> None:
        """One write statement in its own write-locked transaction."""

        def run() -> None:
            with self._writer.begin() as conn:
                conn.execute(statement)

        self._retry(run)

    def list(self) -> list[dict[str, Any]]:
        from sqlmodel import func, select

        with self._session() as db:
            users = db.exec(select(User).order_by(User.name)).all()
            counts = dict(
                db.exec(select(ApiToken.user, func.count()).group_by(ApiToken.user)).all()
            )
        return [{**self._public(u), "tokens": counts.get(u.name, 0)} for u in users]

    def count(self) -> int:
        from sqlalchemy import func, select

        return int(self._first(select(func.count()).select_from(User.__table__))[0])

    def remove(self, name: str) -> None:
        """Delete a user with their tokens and sessions (they are signed out at once)."""
        from sqlmodel import delete

        def remove(db: Any) -> None:
            user = db.get(User, name)
            if user is None:
                raise NotFoundError(f"no user {name!r}")
            db.exec(delete(ApiToken).where(ApiToken.user == name))
            db.exec(delete(WebSession).where(WebSession.user == name))
            db.delete(user)

        self._write(remove)

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 8:
            raise InvalidInputError("a password needs at least 8 characters")
        pw_hash = self.hasher.hash(password)

        def update(db: Any) -> None:
            user = db.get(User, name)
            if user is None:
                raise NotFoundError(f"no user {name!r}")
            user.password_hash = pw_hash
            db.add(user)

        self._write(update)

    def check_password(self, name: str, password: str) -> dict[str, Any] | None:
        """The user if ``password`` is theirs, else None (same work for unknown names)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        with self._session() as db:
            user = db.get(User, name)
        stored = user.password_hash if user is not None else None
        try:
            # an unknown user still costs one verification, so timing does not tell names
            with _VERIFYING:
                self.hasher.verify(stored or _DUMMY_HASH.get(self.hasher), password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or stored is None:
            return None
        return self._public(user)

    # -- API tokens --------------------------------------------------------------------------
    def issue_token(self, name: str) -> str:
        """A new API token for ``name``; only its hash is stored."""
        token = "aat_" + secrets.token_urlsafe(32)

        def issue(db: Any) -> None:
            if db.get(User, name) is None:
                raise NotFoundError(f"no user {name!r}")
            db.add(
                ApiToken(
                    user=name,
                    token_hash=_hash(token),
                    prefix=token[:10],
                    created_at=_utc(self.clock()),
                )
            )

        self._write(issue)
        return token

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        from sqlalchemy import select

        users, tokens = User.__table__, ApiToken.__table__
        rows = self._fast(
            "SELECT u.name, u.role, u.scope, u.password_hash IS NOT NULL, u.created_at "
            "FROM agentarts_users u JOIN agentarts_api_tokens t ON t.user = u.name "
            "WHERE t.token_hash = ?",
            (_hash(token),),
            lambda: (
                select(
                    users.c.name,
                    users.c.role,
                    users.c.scope,
                    users.c.password_hash.is_not(None),
                    users.c.created_at,
                )
                .join(tokens, tokens.c.user == users.c.name)
                .where(tokens.c.token_hash == _hash(token))
            ),
        )
        if not rows:
            return None
        name, role, scope, has_password, created = rows[0]
        created = created.isoformat() if hasattr(created, "isoformat") else str(created)
        return {
            "name": name,
            "role": role,
            "scope": scope,
            "password": bool(has_password),
            "created_at": created,
        }

    # -- browser sessions --------------------------------------------------------------------
    def open_session(self, name: str, lifetime_s: float) -> tuple[str, str]:
        """(session id for the cookie, CSRF token) of a new session for ``name``."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        t = self.clock()

        def open_(db: Any) -> None:
            db.add(
                WebSession(
                    id_hash=_hash(sid),
                    user=name,
                    csrf=csrf,
                    created_at=t,
                    last_seen_at=t,
                    expires_at=t + lifetime_s,
                )
            )

        self._write(open_)
        return sid, csrf

    def session(self, sid: str, idle_s: float) -> tuple[dict[str, Any], str] | None:
        """(user, CSRF token) of a live session; an idle or expired one is deleted."""
        from sqlalchemy import select

        key, t = _hash(sid), self.clock()
        users, sessions = User.__table__, WebSession.__table__
        row = self._first(
            select(users, sessions.c.csrf, sessions.c.last_seen_at, sessions.c.expires_at)
            .join(sessions, sessions.c.user == users.c.name)
            .where(sessions.c.id_hash == key)
        )
        if row is None:
            return None
        if t > row.expires_at or t - row.last_seen_at > idle_s:
            self._execute(sessions.delete().where(sessions.c.id_hash == key))
            return None
        if t - row.last_seen_at > 5:  # write at most every few seconds per session
            self._execute(sessions.update().where(sessions.c.id_hash == key).values(last_seen_at=t))
        return self._public(row), row.csrf

    def close_session(self, sid: str) -> None:
        from sqlmodel import delete

        self._write(lambda db: db.exec(delete(WebSession).where(WebSession.id_hash == _hash(sid))))

    # -- who started a thread, and the audit log ---------------------------------------------
    def record_start(self, thread_id: str, agent: str, user: str) -> None:
        """Remember the first person who started ``thread_id`` through the server."""
        from sqlalchemy.exc import IntegrityError

        table = ServerThread.__table__
        if self._first(table.select().where(table.c.thread_id == thread_id)) is not None:
            return
        with contextlib.suppress(IntegrityError):  # someone else was first
            self._execute(
                table.insert().values(
                    thread_id=thread_id,
                    agent=agent,
                    started_by=user,
                    started_at=_utc(self.clock()),
                )
            )

    def started_by(self, thread_id: str) -> str | None:
        table = ServerThread.__table__
        rows = self._fast(
            "SELECT started_by FROM agentarts_server_threads WHERE thread_id = ?",
            (thread_id,),
            lambda: (
                table.select()
                .with_only_columns(table.c.started_by)
                .where(table.c.thread_id == thread_id)
            ),
        )
        return rows[0][0] if rows else None

    def audit(
        self,
        user: str,
        role: str,
        action: str,
        thread_id: str | None = None,
        outcome: str = "",
        detail: Any = None,
    ) -> None:
        from agentarts.store.store import dumps

        values = {
            "at": _utc(self.clock()),
            "user": user,
            "role": role,
            "action": action,
            "thread_id": thread_id,
            "outcome": outcome,
            "detail": dumps(detail),
        }
        raw = dict(values, at=values["at"].strftime("%Y-%m-%d %H:%M:%S.%f"))  # SQLAlchemy's form
        self._fast(
            'INSERT INTO agentarts_server_audit (at, "user", role, action, thread_id, outcome, '
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            tuple(raw.values()),
            lambda: AuditEntry.__table__.insert().values(**values),
        )

    def audit_log(self, thread_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Audit entries, newest first."""
        from sqlmodel import select

        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)  # type: ignore[union-attr]
        if thread_id is not None:
            query = query.where(AuditEntry.thread_id == thread_id)
        with self._session() as db:
            rows = db.exec(query).all()
        return [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "user": r.user,
                "role": r.role,
                "action": r.action,
                "thread_id": r.thread_id,
                "outcome": r.outcome,
                "detail": json.loads(r.detail),
            }
            for r in rows
        ]
