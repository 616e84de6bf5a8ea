"""``default_runtime()``: ``AGENTARTS_RUNTIME_URL`` with ``AGENTARTS_API_KEY`` as the bearer
token, so a ModelTool reaches a runtime served beyond loopback (which requires a key)."""

from __future__ import annotations

import pytest

from agentarts.tools import model_tool


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no agentarts.toml above
    monkeypatch.setattr(model_tool, "_DEFAULT", [])
    monkeypatch.setenv("AGENTARTS_RUNTIME_URL", "http://127.0.0.1:19349/")
    yield
    for runtime in model_tool._DEFAULT:
        runtime.close()


def test_the_api_key_is_sent_as_a_bearer_token(fresh, monkeypatch):
    monkeypatch.setenv("AGENTARTS_API_KEY", "a-long-runtime-key")
    runtime = model_tool.default_runtime()
    assert runtime.url == "http://127.0.0.1:19349"
    assert runtime._client.headers["Authorization"] == "Bearer a-long-runtime-key"
    assert model_tool.default_runtime() is runtime


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_key_sends_no_authorization_header(fresh, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("AGENTARTS_API_KEY", raising=False)
    else:
        monkeypatch.setenv("AGENTARTS_API_KEY", value)
    assert "Authorization" not in model_tool.default_runtime()._client.headers
