"""The weather demo says why it drafted no alert (seed 7 drafts none: a quiet week)."""

from __future__ import annotations

from agentarts.industries.weather.demo import _alert_lines


def test_no_alert_is_explained() -> None:
    lines = _alert_lines({"drafted": 0, "approved": 0, "issued": 0, "list": []})
    assert lines[0] == "Alerts: 0 drafted, 0 approved, 0 issued (CAP 1.2)"
    assert "no site crossed a rule" in lines[1] and "--seed" in lines[1]


def test_alerts_are_listed_without_the_explanation() -> None:
    item = {"level": "advisory", "headline": "Cold load", "description": "HDD 45 on day 2."}
    lines = _alert_lines({"drafted": 1, "approved": 1, "issued": 1, "list": [item]})
    assert lines == [
        "Alerts: 1 drafted, 1 approved, 1 issued (CAP 1.2)",
        "  - [advisory] Cold load: HDD 45 on day 2.",
    ]
