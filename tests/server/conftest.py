"""Fixtures for the server tests: the sample agent served by a fresh app with four users."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.agents.conftest import agent, env, sample_models  # noqa: F401 - fixtures

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "approver", "admin")


class Clock:
    """A clock the tests move by hand (session expiry, login rate limits)."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def tokens(env, db_url, clock) -> dict[str, str]:  # noqa: F811
    """One user per role (named after it) with an API token; only ``approver`` has a password
    (hashing is deliberately slow)."""
    from agentarts.server.users import UserStore

    store = UserStore(db_url, clock=clock)
    out = {}
    for role in ROLES:
        store.add(role, role, password=PASSWORD if role == "approver" else None)
        out[role] = store.issue_token(role)
    store.add("approver2", "approver")
    out["approver2"] = store.issue_token("approver2")
    store.close()
    return out


def make_client(agent: Any, db_url: str, clock: Clock, **config: Any) -> Any:  # noqa: F811
    from fastapi.testclient import TestClient

    from agentarts.server import ServerConfig, create_app

    app = create_app([agent], db_url, ServerConfig(clock=clock, **config))
    return TestClient(app, base_url="http://127.0.0.1:19400")


@pytest.fixture
def client(agent, db_url, tokens, clock):  # noqa: F811
    with make_client(agent, db_url, clock) as c:
        yield c


def free_port(first: int = 19200, last: int = 19399) -> int:
    """A free loopback port in this area's range."""
    import socket

    for port in range(first, last + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def fresh_plant():
    """The steel pack's process-wide plant, as a new process has it, restored afterwards
    (an approved move resets its move timer, which changes what the next run proposes)."""
    from agentarts.industries.steel.plant import LivePlant, plant

    saved = dict(vars(plant))
    vars(plant).update(vars(LivePlant()))
    yield plant
    vars(plant).clear()
    vars(plant).update(saved)
