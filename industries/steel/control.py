"""Who moves the fuel: the operator's rule, a tuned PI controller, and the agent's MPC.

All three see only what a plant sees: the HMT tag holds the last cast's dip (one every 90-120
min), [Si] is the lab's, 20-30 min late. Their aims put each controller at the same risk,
counted on the readings (see ``AIMS``). Tuning records are in docs/steel.md; reproduce with
``python -m agentarts.industries.steel.calibration tune`` (PI gains) and ``calibrate`` (aims).

- ``BaselineRule``: the previous baseline: one raw dip, a 2 h wait, a 3 C dead band,
  -0.35 kg/tHM of coal per C and -20 kg/tHM per wt% of [Si], at most 10 kg/tHM a move.
- ``PIController``: a velocity-form PI on filtered dips (exponential filter over casts), acting
  when a new dip arrives (so its wait is the cast cycle, never shorter than the agent's 30
  min), moves limited to the agent's 10 kg/tHM, coal kept inside the flame-temperature limit.
  Gains tuned on the calibration seeds (``PI_TUNED``).
- The agent's MPC lives in ``mpc.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agentarts.industries.steel.simulator import RAFT_MIN_C, Reading, Setpoints, raft_c

__all__ = [
    "AIMS",
    "HMT_BAND",
    "PI_TUNED",
    "PRICES",
    "BaselineRule",
    "PIController",
    "fuel_cost",
    "fuel_priced",
    "pci_ceiling",
]

HMT_BAND = (1490.0, 1510.0)
SI_AIM = 0.45
#: USD per kg; coke costs about twice what injection coal does (docs/steel.md).
PRICES = {"coke_rate_kg_thm": 0.30, "pci_rate_kg_thm": 0.16}
#: Aims from calibration. Rule and PI (`calibration calibrate`, seeds 500-511, 72 h each, two
#: rounds): each aim puts the 2.5th percentile of the pooled dips (451) at 1,490 C (dip spread:
#: rule 11.31 C, PI 8.59 C). The agent's aim is chosen for *fewer* cold dips than the PI's, not
#: as many (`calibration agent`, seeds 500-547): at 1,505 C its dips are below 1,490 C 1.0 % of
#: the time against the PI's 3.8 % on those seeds, so a saving measured as run is at no more
#: risk than the PI's (docs/steel.md, "Equal risk").
AIMS = {"rule": 1516.7, "pi": 1510.6, "agent": 1505.0}
#: PI gains tuned on the calibration seeds (`--tune`): kp kg/tHM per C, ki kg/tHM per C per
#: cast, alpha the filter weight of a new dip.
PI_TUNED = {"kp": 0.4, "ki": 0.3, "alpha": 1.0}
RAFT_MARGIN_C = 10.0  # stay this far above the flame-temperature limit


def fuel_cost(coke: float, pci: float) -> float:
    """USD per tonne of hot metal."""
    return coke * PRICES["coke_rate_kg_thm"] + pci * PRICES["pci_rate_kg_thm"]


def fuel_priced(coke: float, pci: float) -> float:
    """Coke and coal priced, in kg/tHM of coke-equivalent money (cost / coke price)."""
    return fuel_cost(coke, pci) / PRICES["coke_rate_kg_thm"]


def pci_ceiling(s: Setpoints, moisture_g_nm3: float) -> float:
    """The most coal the flame temperature allows (RAFT >= limit + margin)."""
    room = raft_c(s, moisture_g_nm3) - (RAFT_MIN_C + RAFT_MARGIN_C)
    return s.pci_rate_kg_thm + room / 2.8


@dataclass
class BaselineRule:
    """The operator's rule: react to the latest dip and lab [Si], then wait for effect."""

    aim_c: float = AIMS["rule"]
    k_hmt: float = 0.35
    k_si: float = 20.0
    max_step: float = 10.0
    deadband_c: float = 3.0
    wait_steps: int = 12
    _since: int = 99

    def __call__(self, reading: Reading, setpoints: Setpoints) -> Setpoints:
        self._since += 1
        error = reading.hmt_c - self.aim_c
        if abs(error) < self.deadband_c or self._since < self.wait_steps:
            return setpoints
        si_aim = SI_AIM + 0.01 * (self.aim_c - 1500.0)
        move = -self.k_hmt * error - self.k_si * (reading.si_pct - si_aim)
        move = max(-self.max_step, min(self.max_step, move))
        self._since = 0
        return _move_pci(setpoints, move, reading)


@dataclass
class PIController:
    """Velocity-form PI on exponentially filtered dips; acts once per new dip."""

    aim_c: float = AIMS["pi"]
    kp: float = PI_TUNED["kp"]
    ki: float = PI_TUNED["ki"]
    alpha: float = PI_TUNED["alpha"]
    max_step: float = 10.0
    min_wait_steps: int = 3  # the agent's 30 min
    _filtered: float | None = None
    _last_error: float | None = None
    _since: int = 99

    def __call__(self, reading: Reading, setpoints: Setpoints) -> Setpoints:
        self._since += 1
        if not reading.dip:
            return setpoints
        f = self._filtered
        self._filtered = reading.hmt_c if f is None else f + self.alpha * (reading.hmt_c - f)
        error = self._filtered - self.aim_c
        last, self._last_error = self._last_error, error
        if last is None or self._since < self.min_wait_steps:
            return setpoints
        move = -self.kp * (error - last) - self.ki * error
        move = max(-self.max_step, min(self.max_step, move))
        if abs(move) < 0.5:
            return setpoints
        self._since = 0
        return _move_pci(setpoints, move, reading)


def _move_pci(setpoints: Setpoints, move: float, reading: Reading) -> Setpoints:
    """Move coal by ``move``, never above the flame-temperature ceiling."""
    moisture = reading.blast_moisture_g_nm3 - setpoints.steam_g_nm3
    target = setpoints.pci_rate_kg_thm + move
    if move > 0:
        target = min(target, max(setpoints.pci_rate_kg_thm, pci_ceiling(setpoints, moisture)))
    return replace(setpoints, pci_rate_kg_thm=round(target, 1)).clipped()
