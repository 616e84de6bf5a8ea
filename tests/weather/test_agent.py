"""The weather-desk agent: nothing is issued without the forecaster's approval."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from agentarts.graph import Agent
from agentarts.industries.weather.agent import builder
from agentarts.industries.weather.cap import CAP_NS

TOUCHY = [  # thresholds so low that every forecast triggers them
    {
        "name": "Test line",
        "kind": "rail",
        "points": [{"lat": 38, "lon": 100}, {"lat": 39, "lon": 102}],
        "gust_restrict_ms": 0.1,
        "gust_stop_ms": 1000,
    },
    {
        "name": "Second line",
        "kind": "rail",
        "points": [{"lat": 42, "lon": 110}, {"lat": 40, "lon": 115}],
        "gust_restrict_ms": 0.1,
        "gust_stop_ms": 1000,
    },
]


@pytest.fixture
def agent(tmp_path):
    with Agent(builder, name="test", database_url=f"sqlite:///{tmp_path}/runs.db") as a:
        yield a


def _state(analysis_nc: Path, tmp_path: Path, sites=TOUCHY) -> dict:
    return {
        "initial": str(analysis_nc),
        "days": 3,
        "sites": sites,
        "out": str(tmp_path / "fc.nc"),
        "outbox": str(tmp_path / "outbox"),
    }


def test_alerts_wait_for_approval_then_issue(agent, analysis_nc, tmp_path):
    result = agent.run(_state(analysis_nc, tmp_path), thread_id="desk")
    assert result.status == "waiting_approval"
    assert result.pending["action"] == "issue_alerts"
    assert not (tmp_path / "outbox").exists()  # nothing sent before the decision
    codes = {a["code"] for a in result.pending["proposal"]["alerts"]}
    assert codes == {"RAIL_WIND_RESTRICT"}
    done = agent.approve("desk", by="duty forecaster")
    assert done.status == "completed"
    files = sorted((tmp_path / "outbox").glob("*.xml"))
    assert len(files) == 2 == done.output["issued"]["issued"]
    root = ET.fromstring(files[0].read_text().split("\n", 1)[1])
    assert root.findtext(f"{{{CAP_NS}}}status") == "Exercise"
    thread = agent.store.thread("desk")
    assert len(thread["alerts"]) == 2
    assert (tmp_path / "fc.nc").exists()


def test_a_rejection_issues_nothing(agent, analysis_nc, tmp_path):
    assert agent.run(_state(analysis_nc, tmp_path), thread_id="d2").status == "waiting_approval"
    done = agent.reject("d2", reason="the model overdoes the wind", by="duty forecaster")
    assert done.status == "completed" and not done.output.get("issued")
    assert not (tmp_path / "outbox").exists()


def test_calm_forecast_completes_without_alerts(agent, analysis_nc, tmp_path):
    calm = [{**TOUCHY[0], "gust_restrict_ms": 900, "gust_stop_ms": 1000}]
    result = agent.run(_state(analysis_nc, tmp_path, calm), thread_id="d3")
    assert result.status == "completed" and result.output["findings"]["findings"] == []


def test_site_off_the_grid_fails_with_its_name(agent, analysis_nc, tmp_path):
    off = [
        {
            "name": "Antarctic line",
            "kind": "rail",
            "points": [{"lat": -70, "lon": 0}, {"lat": -71, "lon": 1}],
        }
    ]
    result = agent.run(_state(analysis_nc, tmp_path, off), thread_id="d4")
    assert result.status == "failed" and "Antarctic line" in result.error
    assert "off the grid" in result.error
