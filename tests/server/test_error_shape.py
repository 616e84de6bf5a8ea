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
