"""The blast-furnace simulator follows its physics: lags, signs, determinism, fault signatures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agentarts.industries.steel.simulator import BlastFurnace, Physics, Setpoints


def _response(
    change: dict[str, float], hours: float = 12, seed: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """True HMT and [Si] difference caused by a setpoint step at t=0 (same disturbances)."""
    a, b = BlastFurnace(seed), BlastFurnace(seed)
    stepped = replace(Setpoints(), **change)
    ra = [a.step() for _ in range(int(hours * 6))]
    rb = [b.step(stepped) for _ in range(int(hours * 6))]
    hmt = np.array([y.true_hmt_c - x.true_hmt_c for x, y in zip(ra, rb, strict=True)])
    si = np.array([y.true_si_pct - x.true_si_pct for x, y in zip(ra, rb, strict=True)])
    return hmt, si


def test_same_seed_same_furnace():
    a = [BlastFurnace(3).step() for _ in range(50)]
    b = [BlastFurnace(3).step() for _ in range(50)]
    assert a == b
    assert a != [BlastFurnace(4).step() for _ in range(50)]


def test_coke_reaches_the_hearth_after_the_burden_descent_time():
    hmt, si = _response({"coke_rate_kg_thm": 330.0})  # +10 kg/tHM at the top
    p = Physics()
    assert abs(hmt[: int(5.5 * 6)]).max() < 1.0  # nothing before ~6 h
    expected = 10 * p.k_fuel_c_per_kg
    assert hmt[-1] == pytest.approx(expected, rel=0.15)  # full effect after 6 h + lag
    assert si[-1] == pytest.approx(expected * p.si_per_c, rel=0.25)


def test_coal_injection_acts_within_hours():
    hmt, si = _response({"pci_rate_kg_thm": 190.0})
    p = Physics()
    steady = 10 * p.pci_replacement * p.k_fuel_c_per_kg
    assert hmt[2] < 0.5  # 30 min tuyere delay
    assert hmt[3 * 6] > 0.6 * steady  # most of it within 3 h
    assert hmt[-1] == pytest.approx(steady, rel=0.1)
    assert si[-1] > 0.1


def test_less_coal_and_colder_blast_cool_the_hearth():
    assert _response({"pci_rate_kg_thm": 160.0})[0][-1] < -20
    assert _response({"blast_temp_c": 1100.0})[0][-1] < -15


def test_starving_the_furnace_chills_the_hearth_with_its_signature():
    furnace = BlastFurnace(1)
    cold = Setpoints(coke_rate_kg_thm=300.0, pci_rate_kg_thm=120.0)
    readings = [furnace.step(cold) for _ in range(18 * 6)]
    chilled = [r for r in readings if r.state == "chilled_hearth"]
    assert chilled, "a 70 kg/tHM fuel cut must chill the hearth"
    first = readings.index(chilled[0])
    before = readings[first - 6]
    assert chilled[-1].hmt_c < 1470 and chilled[-1].si_pct < 0.25
    assert chilled[-1].stave_lower_c < before.stave_lower_c - 10


def test_high_blast_volume_brings_hanging_and_slips():
    events = []
    for seed in range(6):
        furnace = BlastFurnace(seed)
        readings = [furnace.step(Setpoints(blast_volume_nm3_min=7700.0)) for _ in range(72 * 6)]
        events += [r for r in readings if r.state == "hanging_slip"]
    assert events
    pressure = [r.pressure_drop_kpa for r in events]
    assert max(pressure) > 190  # hanging: the pressure drop builds up


def test_setpoints_are_clipped_to_the_furnace_limits():
    assert Setpoints(pci_rate_kg_thm=999).clipped().pci_rate_kg_thm == 230.0
