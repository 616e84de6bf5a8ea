"""Huawei's `agentarts invoke --mode local` decides success by its own code path (copied in
tests/test_examples.py): `agentarts serve` must satisfy it, through a gate and an approval."""

from __future__ import annotations

import json

from tests.server.conftest import make_client
from tests.test_examples import huawei_invoke_local


def test_huawei_local_invoke_against_the_agent_server(agent, db_url, clock):
    from tests.agents.sample_agent import READING

    # as `agentarts serve` starts on loopback with no users: this machine acts as admin
    with make_client(agent, db_url, clock, open_local=True) as client:
        payload = json.dumps({"reading": READING})
        assert huawei_invoke_local(client, payload, "hw-1")
        shown = client.get("/runs/hw-1").json()
        assert shown["status"] == "waiting_approval"
        decision = json.dumps({"decision": {"approved": True, "reason": "trend checked"}})
        assert huawei_invoke_local(client, decision, "hw-1")
        assert client.get("/runs/hw-1").json()["status"] == "completed"
        # nothing is pending any more: a second decision is a failure, as Huawei's client sees it
        assert not huawei_invoke_local(client, decision, "hw-1")
