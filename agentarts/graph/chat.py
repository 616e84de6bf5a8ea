"""An optional chat-model node for any OpenAI-compatible endpoint (never needed by demos).

Configure ``[chat] base_url`` and ``model`` in agentarts.toml (or AGENTARTS_CHAT_*). With
``AGENTARTS_OFFLINE=1`` a real call raises instead of touching the network (tests set it).
``ScriptedChat`` is the test double.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from agentarts.errors import ConfigError, ModelError

__all__ = ["ChatModel", "OpenAICompatibleChat", "ScriptedChat", "chat_node"]

Messages = Sequence[Mapping[str, str]]


class ChatModel(Protocol):
    def complete(self, messages: Messages) -> str: ...


class OpenAICompatibleChat:
    """``POST {base_url}/chat/completions`` with httpx."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        offline: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.offline = offline

    @classmethod
    def from_settings(cls, settings: Any = None) -> OpenAICompatibleChat:
        from agentarts.config import load_settings

        settings = settings or load_settings()
        chat = settings.chat
        if not chat.configured:
            raise ConfigError(
                "no chat model configured: set [chat] base_url and model in "
                "agentarts.toml, or AGENTARTS_CHAT_BASE_URL and _MODEL"
            )
        return cls(chat.base_url, chat.model, chat.api_key, offline=settings.offline)

    def complete(self, messages: Messages) -> str:
        if self.offline:
            raise ConfigError("AGENTARTS_OFFLINE=1 forbids real chat-model calls")
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            reply = httpx.post(
                f"{self.base_url}/chat/completions",
                headers=headers,
                timeout=self.timeout_s,
                json={"model": self.model, "messages": list(messages)},
            )
            reply.raise_for_status()
            return str(reply.json()["choices"][0]["message"]["content"])
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise ModelError(f"chat model {self.model} at {self.base_url}: {exc}") from exc


class ScriptedChat:
    """Replies from a list (or a function of the messages); records what it was asked."""

    def __init__(self, replies: Sequence[str] | Callable[[Messages], str]) -> None:
        self._replies = replies
        self.calls: list[list[dict[str, str]]] = []

    def complete(self, messages: Messages) -> str:
        self.calls.append([dict(m) for m in messages])
        if callable(self._replies):
            return self._replies(messages)
        return self._replies[min(len(self.calls), len(self._replies)) - 1]


def chat_node(
    prompt: Callable[[Mapping[str, Any]], Messages | str],
    output_key: str,
    model: ChatModel | None = None,
) -> Callable[..., Any]:
    """A node asking a chat model; ``prompt`` builds messages (or one user message) from state."""

    def node(state: Mapping[str, Any]) -> dict[str, Any]:
        chat = model or OpenAICompatibleChat.from_settings()
        messages = prompt(state)
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return {output_key: chat.complete(messages)}

    node.__name__ = f"chat_{output_key}"
    return node
