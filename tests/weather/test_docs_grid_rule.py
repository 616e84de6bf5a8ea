"""docs/weather.md's grid rule is the code's: degree-days above the climatological day's."""

from __future__ import annotations

from agentarts.industries.weather.sites import DEFAULT_SITES, evaluate_rules


def _codes(site, hdd: float, cdd: float = 0.0) -> list[str]:
    series = {"cdd": [0.0, cdd, cdd], "hdd": [0.0, hdd, hdd]}
    return [f["code"] for f in evaluate_rules(site, series)]


def test_grid_alerts_on_degree_days_over_normal_not_on_a_fixed_level() -> None:
    northern = next(s for s in DEFAULT_SITES if s.name == "Northern city grid")
    normal = 18.0 - northern.climate_mean_c  # 36 HDD on a normal day
    assert _codes(northern, 34.7) == []  # the docs said "HDD >= 25" alerts: it does not
    assert _codes(northern, normal + 5.9) == []
    assert _codes(northern, normal + 6.1) != []
