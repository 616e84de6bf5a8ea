"""Every error answer has the documented shape {"error", "type"} (serve.md), 422 included."""

from __future__ import annotations

from tests.server.conftest import bearer


def test_query_validation_error_names_the_field(client, tokens) -> None:
    r = client.get("/runs", params={"limit": "abc"}, headers=bearer(tokens["viewer"]))
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "InvalidInputError"
    assert body["error"].startswith("query.limit: ")
    assert body["detail"][0]["loc"] == ["query", "limit"]


def test_unknown_method_has_the_shape_too(client, tokens) -> None:
    r = client.delete("/ping", headers=bearer(tokens["viewer"]))
    assert 400 <= r.status_code < 500
    assert set(r.json()) == {"error", "type"}


def test_deeply_nested_json_is_a_400_not_a_500(client, tokens) -> None:
    """'[' * 100000 fits in the 1 MiB limit and made json.loads raise RecursionError."""
    deep = "[" * 100_000 + "]" * 100_000
    headers = {**bearer(tokens["operator"]), "content-type": "application/json"}
    for path in ("/invocations", "/auth/login"):
        r = client.post(path, content=deep, headers=headers)
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert r.json()["type"] == "InvalidInputError" and "nested too deeply" in r.json()["error"]


def test_deeply_nested_websocket_message_is_an_error_message(client, tokens) -> None:
    headers = {**bearer(tokens["operator"]), "x-hw-agentarts-session-id": "ws-deep"}
    with client.websocket_connect("/ws", headers=headers) as ws:
        assert ws.receive_json()["type"] == "session"
        ws.send_text("[" * 100_000 + "]" * 100_000)
        answer = ws.receive_json()
        assert answer == {
            "type": "error",
            "status": 400,
            "error": "the message's JSON is nested too deeply",
        }
