"""The steel panels name their units: the chart axes carry numbers only."""

from __future__ import annotations

from agentarts.server.panels import PanelContext, steel_panels


def test_steel_panels_state_their_units() -> None:
    state = {
        "window": {"hmt_c": [1500.0, 1498.0, 1495.0], "si_pct": [0.45, 0.44, 0.42]},
        "forecast": {"hmt_2h_c": 1490.0, "si_2h_pct": 0.40},
    }
    panels = {p.name: p for p in steel_panels(PanelContext("t", "steel", "waiting", state, None))}
    assert panels["hmt_c"].title == "Hot-metal temperature (°C)"
    assert panels["si_pct"].title == "Hot-metal silicon [Si] (wt%)"
    assert panels["si_pct"].data["unit"] == "wt%"
    assert panels["si_pct"].data["series"][1]["points"][-1] == [2.0, 0.40]
    # the time axis starts at "-0.3 h", not a bare "-0.3"
    assert panels["hmt_c"].data["x_unit"] == "h"
