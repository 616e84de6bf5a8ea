"""Console panels: the defaults, the steel pack's trend, and a third-party pack's provider."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agentarts.server.panels import Panel, PanelContext, default_panels, steel_panels
from tests.conftest import REPO

SAMPLE = REPO / "templates" / "steel" / "template" / "data" / "sample_history.csv"


def cooling_history(folder: Path) -> Path:
    """The steel template's sample history with HMT and [Si] drifting down (a chilling
    furnace), so the steel agent proposes more coal."""
    from dataclasses import asdict

    from agentarts.industries.steel.simulator import Setpoints

    with SAMPLE.open() as handle:
        rows = list(csv.DictReader(handle))
    defaults = asdict(Setpoints())  # a setpoint the sample predates: the pack's own default
    for i, row in enumerate(rows):
        row["hmt_c"] = f"{float(row['hmt_c']) - 0.8 * i:.2f}"
        row["si_pct"] = f"{float(row['si_pct']) - 0.004 * i:.3f}"
        for name, value in defaults.items():
            row.setdefault(name, str(value))
    out = folder / "cooling_history.csv"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def my_panels(ctx: PanelContext) -> list:
    return [
        Panel("kiln", "Kiln", "kv", {"items": [["thread", ctx.thread_id]]}),
        {"name": "raw", "title": "Raw dict", "renderer": "json", "data": {"ok": True}},
    ]


def broken_panels(ctx: PanelContext) -> list:
    raise RuntimeError("historian offline")


def test_default_panels_show_proposal_explanation_and_guard():
    ctx = PanelContext(
        "t1",
        "a",
        "waiting_approval",
        {"guard": {"ok": False, "violations": ["x=9 is above the maximum 5"]}},
        {"action": "set_x", "safety": "actuating", "proposal": {"x": 9}, "summary": "because"},
    )
    panels = {p.name: p for p in default_panels(ctx)}
    assert panels["proposal"].data == {"items": [["x", 9]]}
    assert panels["explanation"].data == {"text": "because"}
    assert panels["guard"].data == {"text": "x=9 is above the maximum 5"}
    with pytest.raises(ValueError):
        Panel("p", "P", "hologram", {}).as_dict()


@pytest.mark.slow
def test_steel_panel_draws_the_trend_forecast_and_band(tmp_path, monkeypatch, fresh_plant):
    from agentarts.graph import Agent
    from agentarts.industries.steel.agent import builder
    from agentarts.industries.steel.control import HMT_BAND

    monkeypatch.chdir(tmp_path)
    agent = Agent(builder, name="steel", database_url=f"sqlite:///{tmp_path / 'runs.db'}")
    result = agent.run({"source": str(cooling_history(tmp_path))})
    assert result.status == "waiting_approval", result.error
    ctx = PanelContext(result.thread_id, "steel", result.status, result.output, result.pending)
    panels = {p.name: p for p in steel_panels(ctx)}
    hmt = panels["hmt_c"].data
    measured, forecast = hmt["series"]
    assert len(measured["points"]) == len(result.output["window"]["hmt_c"])
    assert measured["points"][-1] == [0.0, result.output["window"]["hmt_c"][-1]]
    assert forecast["points"][-1] == [2.0, result.output["forecast"]["hmt_2h_c"]]
    assert hmt["band"] == [float(HMT_BAND[0]), float(HMT_BAND[1])]
    assert panels["si_pct"].renderer == "series" and "band" not in panels["si_pct"].data
    assert panels["diagnosis"].renderer == "table"
    agent.close()


def test_a_pack_contributes_panels_and_a_broken_one_does_not_break_the_run_view(
    client, tokens, monkeypatch
):
    from agentarts.plugins import Discovery, IndustryPack
    from agentarts.server import service
    from tests.agents.sample_agent import READING
    from tests.server.conftest import bearer

    r = client.post("/invocations", json={"reading": READING}, headers=bearer(tokens["operator"]))
    tid = r.json()["thread_id"]
    for provider, expected in (("my_panels", ["kiln", "raw"]), ("broken_panels", ["panel_error"])):
        pack = IndustryPack(
            name="valves",
            title="Valves",
            description="test pack",
            agent="tests.agents.sample_agent:agent",
        )
        object.__setattr__(pack, "panels", f"tests.server.test_panels:{provider}")
        monkeypatch.setattr(
            "agentarts.plugins.discover_packs", lambda p=pack: Discovery({"valves": p}, {})
        )
        service._pack_provider.cache_clear()
        got = client.get(f"/runs/{tid}/panels", headers=bearer(tokens["viewer"]))
        assert got.status_code == 200
        names = [p["name"] for p in got.json()["panels"]]
        assert names[-len(expected) :] == expected, names
    service._pack_provider.cache_clear()
