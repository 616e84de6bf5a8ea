"""Security of the server: every route needs credentials, CSRF, roles, four-eyes, expiry."""

from __future__ import annotations

import re

import pytest

from tests.agents.sample_agent import READING
from tests.server.conftest import PASSWORD, bearer, make_client

OPEN = {
    ("GET", "/ping"),
    ("GET", "/"),
    ("GET", "/favicon.ico"),
    ("GET", "/static/{name}"),
    ("POST", "/auth/login"),
}


def _start(client, token: str) -> str:
    r = client.post("/invocations", json={"reading": READING}, headers=bearer(token))
    assert r.json()["status"] == "waiting_approval", r.text
    return r.json()["thread_id"]


def _login(client, name: str = "approver", password: str = PASSWORD):
    return client.post("/auth/login", json={"username": name, "password": password})


def test_no_route_answers_without_a_session_or_token(client, tokens):
    from starlette.routing import Route
    from starlette.websockets import WebSocketDisconnect

    checked = 0
    for route in client.app.routes:
        if not isinstance(route, Route):
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in route.methods or ():
            if method == "HEAD" or (method, route.path) in OPEN:
                continue
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic a"}):
                r = client.request(method, path, headers=headers, json={"reason": "x"})
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.json()["error"]
            checked += 1
    assert checked >= 15
    # unknown paths answer 401 too, not 404: nothing is learnt without credentials
    assert client.get("/nothing/here").status_code == 401
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_json()
    for path in ("/ping", "/", "/static/app.js"):
        assert client.get(path).status_code == 200


def test_login_sets_a_strict_httponly_cookie_and_csrf_is_enforced(client, tokens):
    bad = _login(client, password="wrong password")
    assert bad.status_code == 401
    r = _login(client)
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csrf = r.json()["csrf"]
    me = client.get("/auth/me").json()
    assert (me["user"], me["role"], me["csrf"]) == ("approver", "approver", csrf)
    tid = _start(client, tokens["operator"])
    no_token = client.post(f"/runs/{tid}/approve", json={"reason": "x"})
    wrong = client.post(
        f"/runs/{tid}/approve", json={"reason": "x"}, headers={"X-CSRF-Token": "no"}
    )
    assert no_token.status_code == wrong.status_code == 403
    assert "CSRF" in no_token.json()["error"]
    assert client.get(f"/runs/{tid}").json()["status"] == "waiting_approval"  # untouched
    ok = client.post(f"/runs/{tid}/approve", json={"reason": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 202 and ok.json()["decision"]["by"] == "approver"
    out = client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200
    assert client.get("/auth/me").status_code == 401


def test_cross_origin_state_changes_are_refused_even_with_a_token(client, tokens):
    tid = _start(client, tokens["operator"])
    r = client.post(
        f"/runs/{tid}/approve",
        json={"reason": "x"},
        headers={**bearer(tokens["approver"]), "Origin": "http://evil.example"},
    )
    assert r.status_code == 403
    login = client.post(
        "/auth/login",
        json={"username": "approver", "password": PASSWORD},
        headers={"Origin": "http://evil.example"},
    )
    assert login.status_code == 403
    same = client.post(
        f"/runs/{tid}/approve",
        json={"reason": "x"},
        headers={**bearer(tokens["approver"]), "Origin": "http://127.0.0.1:19400"},
    )
    assert same.status_code == 202


def test_roles_viewer_and_operator_cannot_approve_and_refusals_are_audited(client, tokens):
    tid = _start(client, tokens["operator"])
    for role in ("viewer", "operator"):
        r = client.post(f"/runs/{tid}/approve", json={"reason": "x"}, headers=bearer(tokens[role]))
        assert r.status_code == 403, role
        assert "approver role" in r.json()["error"]
    viewer_start = client.post("/invocations", json={}, headers=bearer(tokens["viewer"]))
    assert viewer_start.status_code == 403
    assert client.get("/users", headers=bearer(tokens["approver"])).status_code == 403
    assert [
        u["name"] for u in client.get("/users", headers=bearer(tokens["admin"])).json()["users"]
    ]
    assert client.get(f"/runs/{tid}").status_code == 401
    assert client.get(f"/runs/{tid}", headers=bearer(tokens["viewer"])).json()["status"] == (
        "waiting_approval"
    )
    audit = client.get("/audit", headers=bearer(tokens["admin"])).json()["audit"]
    denied = [(e["user"], e["action"]) for e in audit if e["action"] == "denied"]
    assert denied == [("viewer", "denied"), ("operator", "denied"), ("viewer", "denied")]


def test_four_eyes_an_approver_cannot_approve_a_run_they_started(agent, db_url, tokens, clock):
    with make_client(agent, db_url, clock, four_eyes=True) as client:
        tid = _start(client, tokens["approver"])
        own = client.post(f"/runs/{tid}/approve", json={}, headers=bearer(tokens["approver"]))
        assert own.status_code == 403 and "four-eyes" in own.json()["error"]
        # rejecting one's own proposal is allowed: it changes nothing on the plant
        other = client.post(
            f"/runs/{tid}/approve?wait=true", json={}, headers=bearer(tokens["approver2"])
        )
        assert other.status_code == 200
        assert other.json()["approvals"][0]["by"] == "approver2"


def test_four_eyes_from_the_agents_own_policy(agent, db_url, tokens, clock, monkeypatch):
    monkeypatch.setattr(agent, "four_eyes", True, raising=False)
    with make_client(agent, db_url, clock) as client:
        tid = _start(client, tokens["approver"])
        own = client.post(f"/runs/{tid}/approve", json={}, headers=bearer(tokens["approver"]))
        assert own.status_code == 403 and "four-eyes" in own.json()["error"]


def test_sessions_expire_when_idle_and_after_their_lifetime(agent, db_url, tokens, clock):
    with make_client(agent, db_url, clock, session_idle_s=600, session_lifetime_s=3600) as c:
        assert _login(c).status_code == 200
        clock.t += 599
        assert c.get("/auth/me").status_code == 200
        clock.t += 601  # idle longer than 10 minutes
        assert c.get("/auth/me").status_code == 401
        assert _login(c).status_code == 200
        for _ in range(6):  # active every 9.5 minutes: still ends at the absolute lifetime
            clock.t += 570
            ok = c.get("/auth/me").status_code
        assert ok == 200
        clock.t += 570
        assert c.get("/auth/me").status_code == 401


def test_login_is_rate_limited(agent, db_url, tokens, clock):
    with make_client(agent, db_url, clock, login_max_failures=3, login_window_s=60) as c:
        for _ in range(3):
            assert _login(c, password="guess guess").status_code == 401
        blocked = _login(c)  # even the right password is not checked now
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        clock.t += 61
        assert _login(c).status_code == 200


def test_the_sign_in_limit_is_shared_by_worker_processes(agent, db_url, tokens, clock):
    """Failures counted by one worker (app) refuse the next attempt at another: the count
    lives in the database, not in a process."""
    with make_client(agent, db_url, clock, login_max_failures=2, login_window_s=60) as one:
        for _ in range(2):
            assert _login(one, password="guess guess").status_code == 401
    with make_client(agent, db_url, clock, login_max_failures=2, login_window_s=60) as two:
        assert _login(two).status_code == 429
        clock.t += 61
        assert _login(two).status_code == 200
        assert _login(two, password="guess guess").status_code == 401
        assert _login(two).status_code == 200  # a success clears the name's failures


def test_removed_users_lose_access_at_once(client, tokens, db_url):
    from agentarts.server.users import UserStore

    assert client.get("/runs", headers=bearer(tokens["operator"])).status_code == 200
    store = UserStore(db_url)
    store.remove("operator")
    store.close()
    assert client.get("/runs", headers=bearer(tokens["operator"])).status_code == 401


def test_scope_limits_a_role_to_named_agents(client, tokens, db_url):
    from agentarts.server.users import UserStore

    store = UserStore(db_url)
    store.add("kiln-op", "operator", scope="kiln-agent")
    token = store.issue_token("kiln-op")
    store.close()
    r = client.post("/invocations", json={"reading": READING}, headers=bearer(token))
    assert r.status_code == 403 and "may not act on agent" in r.json()["error"]


def test_open_local_mode_only_for_loopback_host_names(agent, db_url, clock):
    with make_client(agent, db_url, clock, open_local=True) as c:
        assert c.get("/auth/me").json()["user"] == "local"
        r = c.get("/auth/me", headers={"Host": "evil.example"})  # DNS rebinding
        assert r.status_code == 401


def test_user_store_validates_names_roles_and_passwords(db_url):
    from agentarts.errors import InvalidInputError, NotFoundError, UsageError
    from agentarts.server.users import UserStore

    store = UserStore(db_url)
    with pytest.raises(InvalidInputError):
        store.add("bad name", "viewer")
    with pytest.raises(InvalidInputError):
        store.add("ann", "superuser")
    with pytest.raises(InvalidInputError):
        store.add("ann", "viewer", password="short")
    store.add("ann", "viewer", password="long enough pw")
    with pytest.raises(UsageError):
        store.add("ann", "admin")
    with pytest.raises(NotFoundError):
        store.issue_token("bob")
    assert store.check_password("ann", "long enough pw")["role"] == "viewer"
    assert store.check_password("ann", "wrong password") is None
    assert store.check_password("bob", "long enough pw") is None
    token = store.issue_token("ann")
    with open(db_url.split("///")[1], "rb") as handle:
        assert token not in handle.read().decode("latin-1")
    store.close()
