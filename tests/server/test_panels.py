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


def _png(src: str):
    """The pixels of a data URI PNG."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def _ctx(agent, tid):
    current = agent.status(tid)
    return PanelContext(tid, agent.name, current.status, current.output, current.pending)


@pytest.fixture
def rail_agent(tmp_path):
    from agentarts.graph import Agent
    from agentarts.industries.rail.agent import builder

    agent = Agent(builder, name="rail-inspection", database_url=f"sqlite:///{tmp_path}/r.db")
    agent.ref = "agentarts.industries.rail.agent:agent"
    yield agent
    agent.close()


RAIL_PASS = {"request": {"source": "generator", "seed": 3, "cars": 2, "fault_rate": 0.1}}


@pytest.mark.slow
def test_rail_panels_box_the_finding_in_its_frame(rail_agent, monkeypatch, tmp_path, tokens):
    import numpy as np

    from agentarts.industries.rail import tools
    from agentarts.industries.rail.generator import CROP, FRAME_H, FRAME_W, WINDOWS
    from agentarts.server.panels_packs import _generated, rail_panels

    monkeypatch.setattr(tools, "LABELS_OVERRIDE", [tmp_path / "labels"], raising=False)
    result = rail_agent.run(RAIL_PASS, thread_id="pass-1")
    assert result.status == "waiting_approval", result.error
    finding = result.output["queue"][0]
    panels = {p.name: p for p in rail_panels(_ctx(rail_agent, "pass-1"))}
    kv = dict(panels["rail_finding"].data["items"])
    assert (kv["station"], kv["window"]) == (finding["station"], finding["window"])
    assert kv["fault_score"] == finding["fault_score"]
    assert kv["score_over_threshold"] == finding["score_over_threshold"]  # how far past its line
    frame = panels["rail_frame"].data
    (box,) = frame["boxes"]
    x, y = WINDOWS[finding["window"]]
    assert (box["x"], box["y"], box["w"], box["h"]) == (x, y, CROP, CROP)
    assert box["label"] == finding["fault_type"]
    pixels = _png(frame["src"])
    assert pixels.shape == (FRAME_H, FRAME_W) == (frame["height"], frame["width"])
    crop = _png(panels["rail_crop"].data["src"])
    assert crop.shape == (3 * CROP, 3 * CROP)
    assert np.array_equal(crop[::3, ::3], pixels[y : y + CROP, x : x + CROP])  # that window
    rows = panels["rail_queue"].data["rows"]
    assert rows[0] == ["▶", finding["car_index"], finding["fault_type"], finding["criticality"]]
    assert len(rows) == len(result.output["queue"])
    # a server process that did not triage this train re-draws it from the seed: same frame
    monkeypatch.setattr(tools, "_LAST", {})
    _generated.cache_clear()
    again = {p.name: p for p in rail_panels(_ctx(rail_agent, "pass-1"))}
    assert np.array_equal(_png(again["rail_frame"].data["src"]), pixels)
    # a pass folder that is gone: the frame is explained, not an error page
    ctx = _ctx(rail_agent, "pass-1")
    moved = dict(ctx.state, request={"source": "folder", "folder": str(tmp_path / "gone")})
    queue = [dict(q, file="frame.png") for q in ctx.state["queue"]]
    moved["queue"] = queue
    gone = {
        p.name: p for p in rail_panels(PanelContext("pass-1", "r", ctx.status, moved, ctx.pending))
    }
    assert gone["rail_frame"].renderer == "text" and "not shown" in gone["rail_frame"].data["text"]


@pytest.mark.slow
def test_weather_panels_show_the_map_and_the_cap_drafts(tmp_path):
    from agentarts.graph import Agent
    from agentarts.industries.weather.agent import builder
    from agentarts.server.panels_packs import weather_panels

    touchy = [
        {
            "name": "Test line",
            "kind": "rail",
            "points": [{"lat": 38, "lon": 100}, {"lat": 39, "lon": 102}],
            "gust_restrict_ms": 0.1,
            "gust_stop_ms": 1000,
        },
        {
            "name": "Test farm",
            "kind": "wind_farm",
            "points": [{"lat": 42, "lon": 110}],
            "capacity_mw": 50,
        },
    ]
    state = {
        "initial": "seed:7",
        "days": 2,
        "sites": touchy,
        "out": str(tmp_path / "fc.nc"),
        "outbox": str(tmp_path / "outbox"),
    }
    with Agent(builder, name="weather-desk", database_url=f"sqlite:///{tmp_path}/w.db") as agent:
        result = agent.run(state, thread_id="desk")
        assert result.status == "waiting_approval", result.error
        panels = {p.name: p for p in weather_panels(_ctx(agent, "desk"))}
    alerts = result.pending["proposal"]["alerts"]
    found = panels["weather_findings"].data["rows"]
    assert {r[0] for r in found} >= {"Test line"} and found[0][2] == alerts[0]["code"]
    cap = panels["cap_0"]
    assert cap.renderer == "code" and cap.data["text"] == alerts[0]["xml"]
    assert "<status>Draft</status>" in cap.data["text"]
    world = panels["weather_map"].data
    pixels = _png(world["src"])
    assert pixels.shape == (world["height"], world["width"], 3) == (240, 320, 3)
    labels = [b["label"] for b in world["boxes"] if b["label"]]
    assert labels == ["Test line", "Test farm"]
    line = world["boxes"][0]  # 38 N 100 E is the plane's centre: the middle of the map
    assert abs(line["x"] + line["w"] / 2 - 160) < 1 and abs(line["y"] + line["h"] / 2 - 120) < 1
    assert pixels.std() > 0  # a field, not a flat picture


@pytest.mark.slow
def test_rail_panels_reach_the_console_through_the_pack(rail_agent, db_url, tokens, clock):
    """The rail pack's provider is found for its agent and served at /runs/{id}/panels."""
    from fastapi.testclient import TestClient

    from agentarts.server import ServerConfig, create_app
    from tests.server.conftest import bearer

    app = create_app([rail_agent], db_url, ServerConfig(clock=clock), industry="rail")
    with TestClient(app, base_url="http://127.0.0.1:19400") as client:
        started = client.post(
            "/runs",
            json={"input": RAIL_PASS, "thread_id": "pass-2"},
            headers=bearer(tokens["operator"]),
        )
        assert started.json()["status"] == "waiting_approval", started.text
        got = client.get("/runs/pass-2/panels", headers=bearer(tokens["viewer"])).json()
    names = [p["name"] for p in got["panels"]]
    assert names[:2] == ["proposal", "explanation"] and "rail_frame" in names, names
