"""Scoring on what a plant measures, and the baselines' rules."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agentarts.industries.steel.control import PIController, pci_ceiling
from agentarts.industries.steel.scoring import abnormal_scores, flags, summarise
from agentarts.industries.steel.simulator import BlastFurnace, Reading


def _reading(step: int, **kw) -> Reading:
    base = dict.fromkeys(
        ("hmt_c", "si_pct", "eta_co", "top_gas_temp_c", "pressure_drop_kpa", "stave_lower_c"),
        0.0,
    )
    base.update(hmt_c=1500.0, pressure_drop_kpa=160.0, top_gas_temp_c=130.0)
    base.update(kw)
    return Reading(
        time_h=step / 6,
        stave_upper_c=75.0,
        blast_moisture_g_nm3=15.0,
        coke_rate_kg_thm=325.0,
        pci_rate_kg_thm=180.0,
        blast_temp_c=1200.0,
        oxygen_enrichment_pct=4.0,
        blast_volume_nm3_min=7000.0,
        steam_g_nm3=3.0,
        production_thm_day=9000.0,
        **base,
    )


def test_lead_is_counted_to_the_fixed_alarm_limit():
    readings = [_reading(i) for i in range(100)]
    for i in range(50, 70):  # a hanging from step 50; the pressure crosses 185 kPa at step 60
        readings[i] = _reading(i, pressure_drop_kpa=170.0 + 1.6 * (i - 50), state="hanging_slip")
    flagged = {i: 0 for i in range(35, 100)}
    flagged.update({i: 2 for i in range(54, 66)})  # the detector from step 54
    flagged.update({80: 1, 81: 1})  # and once with nothing there
    scores = abnormal_scores(readings, flagged)
    assert scores["events"] == 1 and scores["detected"] == 1
    assert scores["median_lead_min"] == 60.0  # (60 - 54) x 10 min
    assert scores["false_alarms_per_day"] == round(1 / (65 / 6 / 24), 2)


def test_events_cut_off_by_the_end_of_the_run_are_censored_not_missed():
    """A leak that begins 1 h before the run ends has shown neither flag nor alarm: its
    outcome is unknown (censored). One that crossed its alarm unflagged is a miss."""
    readings = [_reading(i) for i in range(100)]
    for i in range(94, 100):
        readings[i] = _reading(i, state="chilled_hearth")
    flagged = dict.fromkeys(range(35, 100), 0)
    scores = abnormal_scores(readings, flagged)
    assert (scores["events"], scores["detected"], scores["censored"]) == (0, 0, 1)
    readings[98] = _reading(98, hmt_c=1450.0, state="chilled_hearth")  # the alarm, unflagged
    scores = abnormal_scores(readings, flagged)
    assert (scores["events"], scores["detected"], scores["censored"]) == (1, 0, 0)
    flagged.update({96: 1, 97: 1})  # flagged before the end: detected
    readings[98] = _reading(98, state="chilled_hearth")
    scores = abnormal_scores(readings, flagged)
    assert (scores["events"], scores["detected"], scores["censored"]) == (1, 1, 0)
    assert scores["false_alarms_per_day"] == 0.0


def test_flags_need_two_samples_of_the_same_state():
    probs = np.array([[0.2, 0.8, 0, 0], [0.2, 0, 0.8, 0], [0.2, 0, 0.8, 0], [0.9, 0.1, 0, 0]])
    assert flags(probs, 0.5).tolist() == [0, 0, 2, 0]


def test_cold_dips_and_moves_are_counted_on_readings():
    readings = [_reading(i, dip=i % 12 == 0, hmt_c=1485.0 if i % 24 == 0 else 1500.0) for i in
                range(37, 37 + 144)]  # fmt: skip
    s = summarise(readings, moves=12)
    assert s["dips"] == 12 and s["cold_dips_pct"] == 50.0
    assert s["moves_per_day"] == 12.0
    assert s["fuel_priced_kg_thm"] < s["fuel_rate_kg_thm"]  # coal is cheaper than coke


def test_pi_acts_on_new_dips_within_the_move_limit_and_the_flame_limit():
    furnace = BlastFurnace(4)
    pi = PIController(aim_c=1600.0)  # far too cold: it wants all the coal it can get
    sp = furnace.setpoints
    moves = []
    for _ in range(24 * 6):
        r = furnace.step(sp)
        new = pi(r, sp)
        if new != sp:
            assert r.dip
            moves.append(new.pci_rate_kg_thm - sp.pci_rate_kg_thm)
            moisture = r.blast_moisture_g_nm3 - sp.steam_g_nm3
            assert new.pci_rate_kg_thm <= max(sp.pci_rate_kg_thm, pci_ceiling(sp, moisture)) + 0.1
        sp = new
    assert moves and max(moves) <= 10.0
    assert sp.pci_rate_kg_thm < 230.0  # held under the ceiling, not at the clip


def test_hot_blast_and_steam_are_counted_as_the_coal_they_replace():
    usual = summarise([_reading(i) for i in range(100)], 0)
    assert usual["trim_heat_c"] == 0.0
    assert usual["fuel_priced_trims_kg_thm"] == usual["fuel_priced_kg_thm"]
    trimmed = [  # +10.8 C and +3.24 C of heat; a dip every 2 h
        replace(
            _reading(i, hmt_c=1500.0 + i % 7, dip=i % 12 == 0), blast_temp_c=1250.0, steam_g_nm3=0.0
        )
        for i in range(100)
    ]
    s = summarise(trimmed, 0)
    assert s["trim_heat_c"] == pytest.approx(0.216 * 50 + 1.08 * 3, abs=0.01)
    coal = s["trim_heat_c"] / 1.53  # kg/tHM of coal that brings the same heat
    extra = s["fuel_priced_trims_kg_thm"] - s["fuel_priced_kg_thm"]
    assert extra == pytest.approx(coal * 0.16 / 0.30, abs=0.02)
    assert s["fuel_priced_trims_equal_risk_kg_thm"] - s[
        "fuel_priced_equal_risk_kg_thm"
    ] == pytest.approx(extra, abs=0.02)
