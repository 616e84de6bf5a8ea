"""The playbook's way back: hot blast and steam return to usual after an abnormal state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agentarts.industries.steel.loop import Thermal
from agentarts.industries.steel.mpc import GAINS, MPC, RESTORE_AFTER_STEPS, restoring_step
from agentarts.industries.steel.simulator import TAGS, BlastFurnace, Setpoints

BT, STEAM = TAGS.index("blast_temp_c"), TAGS.index("steam_g_nm3")


@pytest.fixture(scope="module")
def after_chill():
    """A window from a furnace run at the playbook's raised hot blast and no steam."""
    raised = replace(Setpoints(), blast_temp_c=1250.0, steam_g_nm3=0.0)
    furnace = BlastFurnace(5)
    tags = np.array([furnace.step(raised).tags() for _ in range(8 * 6)][-36:], np.float32)
    return tags, raised, Thermal()


def test_restoring_step_is_bounded_and_ends_at_usual():
    assert restoring_step(Setpoints()) == {}
    sp = replace(Setpoints(), blast_temp_c=1250.0, steam_g_nm3=0.0)
    assert restoring_step(sp) == {"blast_temp_c": -20.0, "steam_g_nm3": 2.0}
    assert restoring_step(replace(sp, blast_temp_c=1207.5, steam_g_nm3=2.5)) == {
        "blast_temp_c": -7.5,
        "steam_g_nm3": 0.5,
    }
    assert restoring_step(replace(sp, blast_temp_c=1180.0, steam_g_nm3=6.0)) == {
        "blast_temp_c": 20.0,
        "steam_g_nm3": -2.0,
    }


def test_hot_blast_returns_after_the_state_without_the_margin(after_chill):
    tags, raised, thermal = after_chill
    mpc = MPC(min_gain=1e9)  # no ordinary move could beat holding by this
    plan = mpc.plan(tags, raised, thermal.what_if, mpc.wait_steps, "normal", RESTORE_AFTER_STEPS)
    assert plan is not None and plan.playbook == "recover" and not plan.escalate
    assert plan.deltas["blast_temp_c"] == -20.0 and plan.deltas["steam_g_nm3"] == 2.0
    assert "back towards the usual hot blast" in plan.reason and "(playbook)" in plan.reason
    assert plan.levers["blast_temp_c"] == 1230.0 and plan.levers["steam_g_nm3"] == 2.0


def test_no_return_while_the_state_is_recent_or_the_move_wait_runs(after_chill):
    tags, raised, thermal = after_chill
    mpc = MPC(min_gain=1e9)
    recent = mpc.plan(tags, raised, thermal.what_if, 99, "normal", RESTORE_AFTER_STEPS - 1)
    assert recent is None
    waiting = mpc.plan(tags, raised, thermal.what_if, mpc.wait_steps - 1, "normal", 99)
    assert waiting is None
    chilled = mpc.plan(tags, raised, thermal.what_if, 99, "chilled_hearth", 0)
    assert chilled.deltas.get("blast_temp_c", 0.0) >= 0  # kept while the state lasts


@pytest.mark.parametrize("seed", [5, 12])
def test_the_return_brings_the_coal_it_needs(after_chill, seed):
    """Hot blast down and steam up cool the hearth by about 6.5 C: on a hearth near or below
    the aim the restoring proposal adds the fuel that keeps the 2 h forecast near it (seed 12),
    on a hot one it takes no fuel on (seed 5)."""
    _, raised, thermal = after_chill
    furnace = BlastFurnace(seed)
    tags = np.array([furnace.step(raised).tags() for _ in range(8 * 6)][-36:], np.float32)
    mpc = MPC()
    plan = mpc.plan(tags, raised, thermal.what_if, 99, "normal", 99)
    alone = float(thermal.what_if(tags, [restoring_step(raised)])[0])
    fuel = sum(GAINS[k] * plan.deltas.get(k, 0.0) for k in ("pci_rate_kg_thm", "coke_rate_kg_thm"))
    assert plan.playbook == "recover"
    assert seed != 12 or alone < mpc.aim_c - 2  # the premise: a step alone leaves it cold
    if alone < mpc.aim_c - 2:
        assert fuel > 0 and plan.forecast_after_c > alone
        assert abs(plan.forecast_after_c - mpc.aim_c) < abs(alone - mpc.aim_c)
    elif alone > mpc.aim_c + 2:
        assert fuel <= 0


def test_no_return_into_a_cold_hearth(after_chill):
    """A hearth starved of fuel: even with the most coal a move may bring, a step back would
    leave the 2 h forecast well below the aim, so the hot blast stays up for now."""
    _, _, thermal = after_chill
    furnace = BlastFurnace(1)
    starved = Setpoints(coke_rate_kg_thm=300.0, pci_rate_kg_thm=120.0)
    raised = replace(starved, blast_temp_c=1250.0, steam_g_nm3=0.0)
    tags = np.array([furnace.step(raised).tags() for _ in range(10 * 6)][-36:], np.float32)
    mpc = MPC()
    alone = float(thermal.what_if(tags, [{"pci_rate_kg_thm": 10.0, **restoring_step(raised)}])[0])
    assert alone < mpc.aim_c - 5  # the premise: cold even with +10 kg/tHM of coal
    plan = mpc.plan(tags, raised, thermal.what_if, 99, "normal", 99)
    assert plan is None or plan.playbook != "recover"
    assert plan is None or plan.deltas.get("blast_temp_c", 0.0) >= 0


def test_stepwise_return_reaches_usual_and_stops(after_chill):
    tags, sp, thermal = after_chill
    tags, mpc, steps = tags.copy(), MPC(), []
    for _ in range(6):
        plan = mpc.plan(tags, sp, thermal.what_if, 99, "normal", 99)
        if plan is None or plan.playbook != "recover":
            break
        steps.append(plan.deltas.get("blast_temp_c", 0.0))
        sp = replace(sp, **plan.levers)
        tags[-1, BT], tags[-1, STEAM] = sp.blast_temp_c, sp.steam_g_nm3
    assert steps == [-20.0, -20.0, -10.0]
    assert (sp.blast_temp_c, sp.steam_g_nm3) == (1200.0, 3.0)
    assert restoring_step(sp) == {}
