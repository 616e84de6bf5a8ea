"""The sign-in rate limit, kept in the project's database so that every worker process of
``agentarts serve --workers N`` (and every server on the same database) counts the same
failures.

At most ``max_failures`` failed sign-ins per user name, and four times that per client
address, within ``window_s``; further attempts are refused (``429`` with ``Retry-After``)
without checking the password. A successful sign-in clears the name's failures. Rows older
than the window are deleted as new failures are written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Field

from agentarts.server.users import UserStore, _Base

__all__ = ["DbLoginLimiter", "LoginFailure"]


class LoginFailure(_Base, table=True):
    __tablename__ = "agentarts_login_failures"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True)  # "u:<lower-case name>" or "c:<client address>"
    at: float = Field(index=True)  # seconds since the epoch (the server's clock)


class DbLoginLimiter:
    """Failed sign-ins counted in ``agentarts_login_failures``: ``check`` before a password
    is verified, ``failed`` after a wrong one, ``succeeded`` after a right one."""

    def __init__(
        self, users: UserStore, max_failures: int, window_s: float, clock: Callable[[], float]
    ) -> None:
        self.users = users
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.table = LoginFailure.__table__
        users._retry(lambda: self.table.create(users._writer, checkfirst=True))

    def _keys(self, user: str, client: str) -> list[tuple[str, int]]:
        return [(f"u:{user.lower()}", self.max_failures), (f"c:{client}", 4 * self.max_failures)]

    def check(self, user: str, client: str) -> None:
        """Raise ``TooManyRequests`` when the name or the address is over its limit."""
        from sqlalchemy import func, select

        from agentarts.server.auth import TooManyRequests

        t = self.clock()
        for key, limit in self._keys(user, client):
            query = select(func.count(), func.min(self.table.c.at)).where(
                self.table.c.key == key, self.table.c.at > t - self.window_s
            )
            with self.users.engine.connect() as conn:
                count, oldest = conn.execute(query).one()
            if count >= limit:
                wait = self.window_s - (t - float(oldest))
                raise TooManyRequests(f"too many failed sign-ins; try again in {wait:.0f} s", wait)

    def failed(self, user: str, client: str) -> None:
        t = self.clock()
        rows: list[dict[str, Any]] = [{"key": k, "at": t} for k, _ in self._keys(user, client)]

        def write(db: Any) -> None:
            db.execute(self.table.delete().where(self.table.c.at <= t - self.window_s))
            db.execute(self.table.insert(), rows)

        self.users._write(write)

    def succeeded(self, user: str) -> None:
        self.users._write(
            lambda db: db.execute(
                self.table.delete().where(self.table.c.key == f"u:{user.lower()}")
            )
        )
