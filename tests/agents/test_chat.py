"""The optional chat-model node: a scripted double, and the offline switch."""

from __future__ import annotations

import pytest
from langgraph.graph import END, START, StateGraph

from agentarts.config import load_settings
from agentarts.errors import ConfigError
from agentarts.graph import AgentState, OpenAICompatibleChat, ScriptedChat, chat_node


class S(AgentState, total=False):
    question: str
    answer: str


def test_chat_node_with_a_scripted_model():
    chat = ScriptedChat(["raise blast temperature by 10 C"])
    builder = StateGraph(S)
    builder.add_node("ask", chat_node(lambda s: s["question"], "answer", model=chat))
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    out = builder.compile().invoke({"question": "what now?"})
    assert out["answer"] == "raise blast temperature by 10 C"
    assert chat.calls == [[{"role": "user", "content": "what now?"}]]


def test_offline_switch_forbids_real_calls(monkeypatch):
    monkeypatch.setenv("AGENTARTS_CHAT_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("AGENTARTS_CHAT_MODEL", "qwen")
    chat = OpenAICompatibleChat.from_settings(load_settings())
    with pytest.raises(ConfigError, match="AGENTARTS_OFFLINE=1 forbids"):
        chat.complete([{"role": "user", "content": "hi"}])


def test_unconfigured_chat_model_says_how_to_configure(monkeypatch):
    monkeypatch.delenv("AGENTARTS_CHAT_BASE_URL", raising=False)
    monkeypatch.delenv("AGENTARTS_CHAT_MODEL", raising=False)
    with pytest.raises(ConfigError, match=r"\[chat\] base_url"):
        OpenAICompatibleChat.from_settings(load_settings())
