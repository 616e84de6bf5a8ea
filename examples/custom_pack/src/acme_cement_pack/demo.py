"""`agentarts demo cement`: specific heat consumption of a kiln from a day of readings.

Specific heat consumption q = fuel mass flow x net calorific value / clinker output. Modern
dry-process kilns with a preheater and precalciner run at about 2.9-3.3 GJ/t clinker (IEA/WBCSD
Cement Technology Roadmap 2018, GNR database); above ~3.6 GJ/t points at a heat-loss problem.
"""

from __future__ import annotations

import json
from typing import Any

BEST_PRACTICE_GJ_T = (2.9, 3.3)
ALERT_GJ_T = 3.6


def specific_heat_gj_per_t(coal_t_h: float, ncv_mj_kg: float, clinker_t_h: float) -> float:
    """GJ per tonne of clinker for a coal flow (t/h) of calorific value ncv (MJ/kg)."""
    if clinker_t_h <= 0:
        raise ValueError("clinker output must be positive")
    return coal_t_h * ncv_mj_kg / clinker_t_h  # t/h * MJ/kg = GJ/h


TOOLS = [specific_heat_gj_per_t]


def run(*, seed: int = 7, hours: float = 24.0, as_json: bool = False, **_: Any) -> dict[str, Any]:
    """Evaluate a deterministic day of hourly readings (coal flow drifts up with seed)."""
    rows = []
    for hour in range(int(hours)):
        coal = 16.0 + 0.02 * hour * (1 + seed % 3)  # fouled burner: coal creeps up
        rows.append(specific_heat_gj_per_t(coal, 26.0, 130.0))
    summary = {
        "hours": len(rows),
        "mean_gj_per_t": round(sum(rows) / len(rows), 3),
        "max_gj_per_t": round(max(rows), 3),
        "hours_above_alert": sum(q > ALERT_GJ_T for q in rows),
        "best_practice_gj_per_t": BEST_PRACTICE_GJ_T,
    }
    print(json.dumps(summary) if as_json else f"cement kiln: {summary}")
    return summary
