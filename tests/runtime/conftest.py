"""Fixtures: a model repository built in code (no files shipped for tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentarts.runtime import testing
from agentarts.runtime.testing import make_matmul, make_mlp, write_model

PORTS = range(18700, 18750)  # the runtime's tests listen only on these loopback ports

CARD = """
description = "test MLP"
task = "regression"
[[inputs]]
name = "x"
valid_range = [-100.0, 100.0]
on_invalid = "reject"
[batching]
max_batch_size = 64
preferred_batch_sizes = [16, 32, 64]
max_queue_size = 256
"""


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_model(root, "mlp", make_mlp(), card=CARD)
    write_model(root, "mlp", make_mlp(seed=1), version="2", card=CARD)
    write_model(root, "matmul", make_matmul(256, 512))
    write_model(root, "fixed", make_mlp((4, 8, 2), batch_dim=3))
    broken = root / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.onnx").write_bytes(b"this is not an onnx file")
    return root


@pytest.fixture
def runtime(repo: Path):
    from agentarts.runtime.local import LocalRuntime

    rt = LocalRuntime([repo], "910B2x2")
    yield rt
    rt.close(drain=False)


@pytest.fixture(autouse=True)
def _runtime_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers started by these tests (serve_in_thread, free_port) take ports from PORTS, so
    they never race other areas' tests for a port."""
    monkeypatch.setattr(testing.free_port, "__defaults__", (PORTS, ()))
    kwdefaults = {**(testing.serve_in_thread.__wrapped__.__kwdefaults__ or {}), "ports": PORTS}
    monkeypatch.setattr(testing.serve_in_thread.__wrapped__, "__kwdefaults__", kwdefaults)
