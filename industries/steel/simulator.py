"""A lumped blast-furnace process simulator: heat balance, lags, disturbances, faults, and the
measurement timing of a real plant. Sources, sizes and limits: docs/steel.md.

Sample period 10 minutes; deterministic by seed; driven by setpoints.

- **Thermal state.** The hearth thermal state theta (C of hot-metal temperature, HMT, above
  1,500 C) follows a first-order lag (2 h) of the heat balance. Coke, ore and their errors are
  charged at the top and reach the tuyere zone after the burden descent time (6 h); coal (PCI),
  blast temperature, oxygen and moisture act at the tuyeres (30 min). PCI replaces coke at 0.85
  kg/kg while the raceway flame temperature (RAFT) stays above its lower limit; below it coal
  burns incompletely (replacement falls, unburnt char raises the pressure drop).
- **RAFT** from blast temperature, oxygen, moisture and coal rate (rules of thumb, docs/steel.md).
- **[Si]** follows HMT (0.01 wt% per C, 1 h lag), falls with slag basicity, and has its own
  slow variation, so the two indicators agree only partly, as in plants.
- **Disturbances:** ore heat demand drifts (Ornstein-Uhlenbeck) and steps (burden and ore-mix
  changes); coke moisture and weighing errors (steps lasting hours); ambient blast moisture
  drifts; stove changeovers dip the hot blast hourly; campaigns start off-aim.
- **Abnormal states develop over time with precursors:** hanging (pressure drop creeps up for
  1-2 h, then builds fast until the slip), channelling (gas utilisation sags and top gas warms
  for 1-2 h first), chilled hearth (a cooling-water leak or a deep cold spell: heat loss grows
  over hours; lower staves cool and pressure drop rises before the dips show it). The label
  ``state`` covers the whole event, precursor included.
- **Measurements as a historian records them:** HMT is dipped once per cast (cast every 90-120
  min) and the tag holds the last dip; [Si] is sampled at the cast and reported by the lab
  20-30 min later; other tags every 10 min with coloured (AR(1)) noise and sensor faults
  (stuck, drifting, dropped-out: the historian repeats the last good value).

Exogenous randomness is drawn in a fixed amount per step from the seed, so two runs with the
same seed see the same disturbances and measurement errors whatever their setpoints.
Limits: one thermal state for the whole hearth, no burden-distribution or cohesive-zone model,
coefficients plausible rather than fitted to one furnace: a test bed for control and
prediction, not a furnace design tool.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field, fields

import numpy as np

__all__ = ["STATES", "TAGS", "BlastFurnace", "Physics", "Reading", "Setpoints", "raft_c"]

DT_H = 10 / 60  # 10-minute sample period
STATES = ("normal", "chilled_hearth", "hanging_slip", "channelling")
RAFT_MIN_C = 2050.0  # the operators' lower limit of the raceway flame temperature


@dataclass(frozen=True)
class Setpoints:
    """What the operator (or the agent) sets."""

    coke_rate_kg_thm: float = 325.0
    pci_rate_kg_thm: float = 180.0
    blast_temp_c: float = 1200.0
    oxygen_enrichment_pct: float = 4.0
    blast_volume_nm3_min: float = 7000.0
    steam_g_nm3: float = 3.0  # steam added to the blast (moisture control)

    LIMITS = {
        "coke_rate_kg_thm": (280.0, 420.0),
        "pci_rate_kg_thm": (100.0, 230.0),
        "blast_temp_c": (1000.0, 1250.0),
        "oxygen_enrichment_pct": (0.0, 8.0),
        "blast_volume_nm3_min": (5000.0, 7800.0),
        "steam_g_nm3": (0.0, 20.0),
    }

    def clipped(self) -> Setpoints:
        values = {k: min(max(getattr(self, k), lo), hi) for k, (lo, hi) in self.LIMITS.items()}
        return Setpoints(**values)

    @property
    def fuel_rate_kg_thm(self) -> float:
        return self.coke_rate_kg_thm + self.pci_rate_kg_thm


def raft_c(s: Setpoints, moisture_g_nm3: float) -> float:
    """Raceway adiabatic flame temperature (C): +0.7 C per C of blast, +45 C per % oxygen,
    -4.5 C per g/Nm3 of moisture, -2.8 C per kg/tHM of coal (docs/steel.md)."""
    return (
        2150.0
        + 0.7 * (s.blast_temp_c - 1200.0)
        + 45.0 * (s.oxygen_enrichment_pct - 4.0)
        - 4.5 * (moisture_g_nm3 - 15.0)
        - 2.8 * (s.pci_rate_kg_thm - 170.0)
    )


@dataclass(frozen=True)
class Physics:
    """Coefficients of the model (docs/steel.md says where they come from)."""

    k_fuel_c_per_kg: float = 1.8
    pci_replacement: float = 0.85
    coke_delay_h: float = 6.0
    tuyere_delay_h: float = 0.5
    hearth_tau_h: float = 2.0
    si_tau_h: float = 1.0
    si_per_c: float = 0.01
    si_per_basicity: float = 0.8
    bt_kg_per_100c: float = 12.0
    moisture_kg_per_g: float = 0.6
    o2_c_per_pct: float = 2.0
    productivity_c: float = 30.0
    ore_sigma_kg: float = 4.0
    ore_tau_h: float = 12.0
    burden_step_per_h: float = 1 / 18  # burden / ore-mix changes
    burden_step_kg: float = 7.0
    coke_error_per_h: float = 1 / 10  # coke moisture and weighing errors
    coke_error_kg: float = 4.0
    coke_sigma_csr: float = 2.0
    coke_tau_h: float = 24.0
    moisture_mean: float = 12.0
    moisture_sigma: float = 2.5
    moisture_tau_h: float = 8.0
    stove_dip_c: float = 20.0  # hot-blast dip at each hourly stove changeover
    leak_per_h: float = 1 / 120  # cooling-water leaks into the hearth
    start_sigma_c: float = 10.0  # campaigns start off-aim
    dip_sigma_c: float = 3.0  # thermocouple (white)
    dip_cast_sigma_c: float = 2.5  # cast-to-cast variation of the dipped metal (coloured)
    lab_sigma_si: float = 0.02
    sensor_fault_per_day: float = 0.2  # per continuous tag


#: Measured tags, in the order models see them (units in the names); tags[8:] are setpoints.
TAGS = (
    "hmt_c",
    "si_pct",
    "eta_co",
    "top_gas_temp_c",
    "pressure_drop_kpa",
    "stave_lower_c",
    "stave_upper_c",
    "blast_moisture_g_nm3",
    "coke_rate_kg_thm",
    "pci_rate_kg_thm",
    "blast_temp_c",
    "oxygen_enrichment_pct",
    "blast_volume_nm3_min",
    "steam_g_nm3",
)
_CONTINUOUS = ("eta_co", "top_gas_temp_c", "pressure_drop_kpa", "stave_lower_c", "stave_upper_c")
_NOISE = {
    "eta_co": 0.003,
    "top_gas_temp_c": 3.0,
    "pressure_drop_kpa": 1.5,
    "stave_lower_c": 1.0,
    "stave_upper_c": 1.5,
}


@dataclass(frozen=True)
class Reading:
    """One 10-minute sample as the plant historian records it (plus hidden truth)."""

    time_h: float
    hmt_c: float
    si_pct: float
    eta_co: float
    top_gas_temp_c: float
    pressure_drop_kpa: float
    stave_lower_c: float
    stave_upper_c: float
    blast_moisture_g_nm3: float
    coke_rate_kg_thm: float
    pci_rate_kg_thm: float
    blast_temp_c: float
    oxygen_enrichment_pct: float
    blast_volume_nm3_min: float
    steam_g_nm3: float
    production_thm_day: float
    raft_c: float = 2150.0
    dip: bool = False  # a new HMT dip in this sample
    lab: bool = False  # a new lab [Si] result in this sample
    state: str = "normal"  # ground truth, not measured: for training and scoring only
    true_hmt_c: float = field(default=0.0, repr=False)
    true_si_pct: float = field(default=0.0, repr=False)

    def tags(self) -> list[float]:
        return [getattr(self, t) for t in TAGS]

    def as_dict(self) -> dict[str, float | str | bool]:
        return asdict(self)


def _ou(x: float, mean: float, sigma: float, tau_h: float, z: float) -> float:
    """One exact Ornstein-Uhlenbeck step of length DT_H."""
    a = math.exp(-DT_H / tau_h)
    return mean + (x - mean) * a + sigma * math.sqrt(1 - a * a) * z


_N_NORMAL, _N_UNIFORM = 20, 16


class BlastFurnace:
    """Step the furnace 10 minutes at a time: ``reading = furnace.step(setpoints)``."""

    def __init__(
        self,
        seed: int,
        physics: Physics | None = None,
        start: Setpoints | None = None,
        disturbance_scale: float = 1.0,
    ) -> None:
        self.p = p = physics or Physics()
        self.rng = np.random.default_rng(seed)
        self.scale = disturbance_scale
        self.setpoints = (start or Setpoints()).clipped()
        self.nominal = Setpoints()
        self.t = 0
        coke_steps = round(p.coke_delay_h / DT_H)
        tuyere_steps = max(1, round(p.tuyere_delay_h / DT_H))
        z = self.rng.standard_normal(8)
        self.ore = p.ore_sigma_kg * z[0] * self.scale
        self.csr = p.coke_sigma_csr * z[1] * self.scale
        self.moisture = p.moisture_mean + p.moisture_sigma * z[2] * self.scale
        self.basicity = 1.15 + 0.03 * z[3]
        self.si_dev = 0.04 * z[4]
        self.burden = 0.0  # step changes charged at the top (kg/tHM of heat demand)
        self.coke_error, self._coke_error_left = 0.0, 0
        self._coke_pipe: deque[float] = deque([self.setpoints.coke_rate_kg_thm] * coke_steps)
        self._top_pipe: deque[float] = deque([self.ore] * coke_steps)
        self._tuyere_pipe: deque[Setpoints] = deque([self.setpoints] * tuyere_steps)
        self.theta = float(np.clip(p.start_sigma_c * z[5], -20, 20))
        self.si = 0.45 + p.si_per_c * self.theta
        self.stave = 0.35 * self.theta
        self.state, self._phase, self._left = "normal", "", 0
        self._slip_cooling = self._dp_extra = self._spike = self._chan = 0.0
        self._leak, self._leak_left = 0.0, 0
        self._colour = dict.fromkeys(_CONTINUOUS, 0.0)
        self._faults: dict[str, list[float]] = {}  # tag -> [kind, steps left, value/bias, rate]
        self._last: dict[str, float] = {}
        self._next_cast = int(self.rng.integers(1, 12))
        self._cast_err = 0.0
        self._dip_value = 1500.0 + self.theta
        self._si_value = self.si
        self._lab_queue: list[tuple[int, float]] = []

    # -- the heat balance ---------------------------------------------------------------------
    def _raft(self, s: Setpoints) -> float:
        return raft_c(s, self.moisture + s.steam_g_nm3)

    def _heat_balance(self, coke_at_tuyeres: float, top: float, s: Setpoints) -> float:
        p, n = self.p, self.nominal
        raft = self._raft(s)
        # coal beyond what the flame temperature can burn replaces little coke (unburnt char)
        burnable = s.pci_rate_kg_thm + min(0.0, raft - RAFT_MIN_C) / 2.8
        excess = s.pci_rate_kg_thm - burnable
        fuel = coke_at_tuyeres + p.pci_replacement * burnable + 0.3 * excess
        fuel_nominal = n.coke_rate_kg_thm + p.pci_replacement * n.pci_rate_kg_thm
        stove = p.stove_dip_c * (1.0 if self.t % 6 == 0 else 0.4 if self.t % 6 == 1 else 0.0)
        kg = fuel - fuel_nominal - top
        kg += p.bt_kg_per_100c * (s.blast_temp_c - stove - n.blast_temp_c) / 100
        kg -= p.moisture_kg_per_g * (self.moisture + s.steam_g_nm3 - p.moisture_mean - 3.0)
        balance = p.k_fuel_c_per_kg * kg + p.o2_c_per_pct * (
            s.oxygen_enrichment_pct - n.oxygen_enrichment_pct
        )
        balance += p.productivity_c * (self._production(s) / self._production(n) - 1)
        balance -= self._leak
        if self.state == "chilled_hearth" and self._phase == "cold":
            balance -= 20.0
        balance -= p.k_fuel_c_per_kg * 6.0 * self._chan
        return balance - self._slip_cooling

    @staticmethod
    def _production(s: Setpoints) -> float:
        """tHM/day: oxygen blown per minute over the oxygen a tonne of iron needs."""
        oxygen_nm3_min = s.blast_volume_nm3_min * (0.21 + s.oxygen_enrichment_pct / 100)
        return oxygen_nm3_min * 1440 / (310 + 0.6 * (s.fuel_rate_kg_thm - 500))

    # -- one step -----------------------------------------------------------------------------
    def step(self, setpoints: Setpoints | None = None) -> Reading:
        p, rng = self.p, self.rng
        z = rng.standard_normal(_N_NORMAL)
        u = rng.random(_N_UNIFORM)
        if setpoints is not None:
            self.setpoints = setpoints.clipped()
        s_now = self.setpoints
        sc = self.scale
        # disturbances (exogenous: same for any setpoints)
        self.ore = _ou(self.ore, 0.0, p.ore_sigma_kg * sc, p.ore_tau_h, z[0])
        self.csr = _ou(self.csr, 0.0, p.coke_sigma_csr * sc, p.coke_tau_h, z[1])
        self.moisture = _ou(
            self.moisture, p.moisture_mean, p.moisture_sigma * sc, p.moisture_tau_h, z[2]
        )
        self.basicity = _ou(self.basicity, 1.15, 0.03 * sc, 12.0, z[3])
        self.si_dev = _ou(self.si_dev, 0.0, 0.04 * sc, 3.0, z[4])
        if u[0] < p.burden_step_per_h * DT_H:
            self.burden += p.burden_step_kg * sc * z[5] - 0.3 * self.burden
        if self._coke_error_left > 0:
            self._coke_error_left -= 1
            if self._coke_error_left == 0:
                self.coke_error = 0.0
        elif u[1] < p.coke_error_per_h * DT_H:
            self.coke_error = p.coke_error_kg * sc * z[6]
            self._coke_error_left = 12 + int(u[2] * 24)
        self._top_pipe.append(self.ore + self.burden - self.coke_error)
        top = self._top_pipe.popleft()
        self._coke_pipe.append(s_now.coke_rate_kg_thm)
        coke_at_tuyeres = self._coke_pipe.popleft()
        self._tuyere_pipe.append(s_now)
        s = self._tuyere_pipe.popleft()

        raft = self._raft(s)
        dp_base = 160.0 * (s.blast_volume_nm3_min / 7000) ** 1.8 * (1 - 0.01 * self.csr)
        dp_base += 0.3 * max(0.0, RAFT_MIN_C - raft)  # unburnt char
        self._update_state(dp_base, s, u)
        target = self._heat_balance(coke_at_tuyeres, top, s)
        self.theta += (target - self.theta) * (1 - math.exp(-DT_H / p.hearth_tau_h))
        si_target = 0.45 + p.si_per_c * self.theta - p.si_per_basicity * (self.basicity - 1.15)
        si_target = max(0.05, si_target + self.si_dev)
        self.si += (si_target - self.si) * (1 - math.exp(-DT_H / p.si_tau_h))
        self.stave += (0.35 * self.theta - 0.4 * self._leak - self.stave) * (
            1 - math.exp(-DT_H / 1.0)
        )
        self._slip_cooling *= math.exp(-DT_H / 3.0)
        self.t += 1
        return self._measure(s, s_now, dp_base, raft, z, u)

    def _update_state(self, dp_base: float, s: Setpoints, u: np.ndarray) -> None:
        p = self.p
        # a cooling-water leak: exogenous, grows over 3 h, lasts 6-12 h
        if self._leak_left > 0:
            self._leak_left -= 1
            self._leak = min(30.0, self._leak + 30.0 / 18) if self._leak_left > 0 else 0.0
        elif u[3] < p.leak_per_h * DT_H * self.scale:
            self._leak_left = 36 + int(u[4] * 36)
        if self.state == "chilled_hearth":
            if self._phase == "developing" and self.theta < -30:
                self._phase = "cold"
            if self._leak_left == 0 and self.theta > -15:
                self.state, self._phase = "normal", ""
            return
        if self._leak_left > 0 or self.theta < -35:
            self.state, self._left, self._dp_extra, self._chan = "chilled_hearth", 0, 0.0, 0.0
            self._phase = "cold" if self.theta < -35 else "developing"
            return
        if self.state in ("hanging_slip", "channelling"):
            self._left -= 1
            if self.state == "hanging_slip":
                if self._phase == "developing":
                    self._dp_extra += 1.0  # burden descent slows, pressure creeps up
                    if self._left <= 0:
                        self._phase, self._left = "hanging", 3 + int(u[5] * 3)
                elif self._phase == "hanging":
                    self._dp_extra += 4.0  # hanging: burden stops, pressure builds
                    if self._left <= 0:  # the slip
                        self._dp_extra, self._spike, self._slip_cooling = -12.0, 90.0, 12.0
                        self._phase, self._left = "slip", 2
                elif self._left <= 0:
                    self.state, self._phase = "normal", ""
            else:
                if self._phase == "developing":
                    self._chan = min(1.0, self._chan + 0.08)
                    if self._left <= 0:
                        self._phase, self._left, self._chan = "full", 6 + int(u[5] * 18), 1.0
                elif self._left <= 0:
                    self.state, self._phase, self._chan = "normal", "", 0.0
            return
        self._dp_extra *= 0.7
        hang_hazard = 0.0015 * math.exp((dp_base + self._dp_extra - 170.0) / 6.0)
        chan_hazard = 0.0012 * math.exp(-self.csr / 2.0) * (s.blast_volume_nm3_min / 7000) ** 6
        if u[6] < hang_hazard * self.scale:
            self.state, self._phase, self._left = "hanging_slip", "developing", 6 + int(u[7] * 7)
        elif u[8] < chan_hazard * self.scale:
            self.state, self._phase, self._left = "channelling", "developing", 6 + int(u[7] * 7)

    def _measure(
        self,
        s: Setpoints,
        s_now: Setpoints,
        dp_base: float,
        raft: float,
        z: np.ndarray,
        u: np.ndarray,
    ) -> Reading:
        """Tags as the historian records them: setpoints as set (``s_now``), the process as
        it responds to the setpoints at the tuyeres (``s``)."""
        p = self.p
        chilled = self.state == "chilled_hearth"
        hmt = 1500.0 + self.theta
        hanging = self.state == "hanging_slip" and self._phase == "hanging"
        true = {
            "eta_co": 0.48 - 0.002 * (self.ore + self.burden) - 0.04 * self._chan,
            "top_gas_temp_c": 130.0
            + 40 * (s.blast_volume_nm3_min / 7000 - 1)
            + 65.0 * self._chan
            + self._spike
            - (25.0 if hanging else 0.0),
            "pressure_drop_kpa": dp_base
            + self._dp_extra
            + 0.4 * self._leak
            + (8.0 if chilled and self._phase == "cold" else 0.0)
            - 8.0 * self._chan,
            "stave_lower_c": 58.0 + self.stave,
            "stave_upper_c": 75.0 + 18.0 * self._chan,
        }
        true["stave_upper_c"] += 0.3 * (true["top_gas_temp_c"] - 130.0)
        self._spike *= 0.3
        measured = {}
        for i, tag in enumerate(_CONTINUOUS):
            sigma = _NOISE[tag]
            self._colour[tag] = 0.7 * self._colour[tag] + 0.714 * sigma * z[7 + i]
            value = true[tag] + self._colour[tag]
            measured[tag] = self._sensor(tag, value, u[9 + i], u[14], z[12 + i])
        # casts: one HMT dip per cast; lab [Si] reported 20-30 min after the cast's sample
        dip = lab = False
        self._next_cast -= 1
        if self._next_cast <= 0:
            self._next_cast = 9 + int(u[15] * 4)  # 90-120 min cast cycle
            self._cast_err = 0.6 * self._cast_err + 0.8 * p.dip_cast_sigma_c * z[17]
            self._dip_value = hmt + self._cast_err + p.dip_sigma_c * z[18]
            self._lab_queue.append(
                (self.t + 2 + int(u[15] * 2), max(0.02, self.si + p.lab_sigma_si * z[19]))
            )
            dip = True
        if self._lab_queue and self._lab_queue[0][0] <= self.t:
            self._si_value = self._lab_queue.pop(0)[1]
            lab = True
        return Reading(
            time_h=self.t * DT_H,
            hmt_c=round(float(self._dip_value), 2),
            si_pct=round(float(self._si_value), 4),
            eta_co=round(measured["eta_co"], 4),
            top_gas_temp_c=round(measured["top_gas_temp_c"], 2),
            pressure_drop_kpa=round(measured["pressure_drop_kpa"], 2),
            stave_lower_c=round(measured["stave_lower_c"], 2),
            stave_upper_c=round(measured["stave_upper_c"], 2),
            blast_moisture_g_nm3=round(float(self.moisture + s.steam_g_nm3 + 0.3 * z[16]), 2),
            coke_rate_kg_thm=s_now.coke_rate_kg_thm,
            pci_rate_kg_thm=s_now.pci_rate_kg_thm,
            blast_temp_c=s_now.blast_temp_c,
            oxygen_enrichment_pct=s_now.oxygen_enrichment_pct,
            blast_volume_nm3_min=s_now.blast_volume_nm3_min,
            steam_g_nm3=s_now.steam_g_nm3,
            production_thm_day=round(self._production(s), 1),
            raft_c=round(raft, 1),
            dip=dip,
            lab=lab,
            state=self.state,
            true_hmt_c=float(hmt),
            true_si_pct=float(self.si),
        )

    def _sensor(self, tag: str, value: float, u_start: float, u_kind: float, z: float) -> float:
        """Sensor faults: stuck (1-6 h), drifting (2-8 h), dropped out (historian repeats the
        last good value, 10-30 min)."""
        fault = self._faults.get(tag)
        if fault is None and u_start < self.p.sensor_fault_per_day * DT_H / 24 * self.scale:
            if u_kind < 0.4:
                fault = [0.0, 6 + int(36 * abs(z) % 30), self._last.get(tag, value), 0.0]
            elif u_kind < 0.8:
                fault = [1.0, 12 + int(36 * abs(z) % 36), 0.0, 0.3 * _NOISE[tag] * np.sign(z)]
            else:
                fault = [0.0, 1 + int(3 * abs(z)) % 3, self._last.get(tag, value), 0.0]
            self._faults[tag] = fault
        if fault is not None:
            fault[1] -= 1
            if fault[1] <= 0:
                del self._faults[tag]
            if fault[0] == 0.0:
                value = fault[2]
            else:
                fault[2] += fault[3]
                value += fault[2]
        self._last[tag] = float(value)
        return float(value)

    @property
    def raft(self) -> float:
        return self._raft(self.setpoints)


def reading_fields() -> list[str]:
    return [f.name for f in fields(Reading)]
