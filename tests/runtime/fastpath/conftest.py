"""Fixtures of the fast path's adversarial and shutdown tests: their own ports, both HTTP
paths, a model whose runs block until released, a served runtime."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from agentarts.runtime import testing
from agentarts.runtime.batching.admission import Admission
from agentarts.runtime.local import LocalRuntime
from agentarts.runtime.testing import held_runtime, serve_in_thread

from .clients import _body

PORTS = range(18800, 18850)  # this module's servers listen only on these loopback ports


@pytest.fixture(autouse=True)
def _runtime_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides the conftest's: this module's servers take ports from ``PORTS``."""
    monkeypatch.setattr(testing.free_port, "__defaults__", (PORTS, ()))
    kwdefaults = {**(testing.serve_in_thread.__wrapped__.__kwdefaults__ or {}), "ports": PORTS}
    monkeypatch.setattr(testing.serve_in_thread.__wrapped__, "__kwdefaults__", kwdefaults)


@pytest.fixture(params=["fast path", "asgi"])
def front(request, monkeypatch) -> str:
    monkeypatch.setenv("AGENTARTS_RUNTIME_FASTPATH", "1" if request.param == "fast path" else "0")
    return request.param


@pytest.fixture
def held(repo) -> Iterator[tuple[LocalRuntime, threading.Event]]:
    """A model whose runs block until released: 2 slots (1 running + 1 queued)."""
    with held_runtime(repo, "qa_held") as pair:
        yield pair


@pytest.fixture
def served(runtime) -> Iterator[tuple[str, Admission]]:
    """The test runtime served with its own admission, both mlp versions loaded."""
    admission = Admission()
    with serve_in_thread(runtime, admission=admission) as (url, _):
        for path in ("/v2/models/mlp/infer", "/v2/models/mlp/versions/2/infer"):
            assert httpx.post(f"http://{url}{path}", content=_body()).status_code == 200
        yield url, admission
