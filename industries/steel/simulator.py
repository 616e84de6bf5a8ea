"""A lumped blast-furnace process simulator: heat balance with the real lags, drifts, faults.

Sample period 10 minutes; deterministic by seed; driven by setpoints. What it models, and from
where (see also DESIGN.md 6):

- **Thermal state.** The hearth thermal state theta (deg C of hot-metal temperature, HMT, above
  1,500 C) follows a first-order lag (time constant 2 h) of the heat balance
  S = K_fuel * (effective fuel - heat demand) + blast-temperature, moisture, oxygen and
  productivity terms. Coke is charged at the top and reaches the tuyere zone only after the
  burden descent time (6 h, within the 6-8 h usually quoted, Geerdes et al., *Modern Blast
  Furnace Ironmaking*, 3rd ed., 2015); coal injection (PCI), blast temperature, oxygen and
  moisture act at the tuyeres (30 min delay). PCI replaces coke at 0.85 kg/kg (replacement
  ratios 0.8-0.9 are typical, ibid.).
- **Sensitivities** (assumptions in the range of operators' rules of thumb; configurable in
  ``Physics``): 1.8 C HMT per kg/tHM of coke-equivalent fuel; +100 C blast temperature worth
  12 kg/tHM of fuel; blast moisture costs 0.6 kg/tHM per g/Nm3 (water dissociation is
  endothermic); [Si] rises 0.01 wt% per C of HMT with a 1 h lag (the [Si]-HMT coupling
  through silica reduction in the hearth).
- **Gas side.** Pressure drop grows with gas flow as (blast volume)^1.8 (Ergun's equation in
  its turbulent range) and with poorer coke (CSR); top-gas CO utilisation eta_CO falls with
  poorer ore reducibility and in channelling; top-gas temperature rises with channelling.
- **Slow disturbances.** Ore heat demand, coke quality (CSR) and blast moisture drift as
  Ornstein-Uhlenbeck processes (correlation times 12 h, 24 h, 8 h).
- **Abnormal states** with their signatures: chilled hearth (theta below -40 C: extra heat
  loss until theta recovers above -20 C; HMT and [Si] fall, lower staves cool, pressure drop
  rises); hanging then slip (hazard grows with pressure drop; hanging ramps the pressure drop,
  the slip drops it, spikes top-gas temperature and later cools the hearth as cold burden
  arrives); channelling (hazard grows with blast volume and poor coke: eta_CO falls, top-gas
  and upper-stave temperatures rise, pressure drop falls, heat is wasted).
- **Measurements** carry noise (HMT 3 C, [Si] 0.02 wt%, pressure drop 1.5 kPa, ...).

Exogenous randomness (drifts, fault triggers, measurement noise) is drawn in a fixed order per
step from the seed, so two runs with the same seed see the same disturbances whatever their
setpoints. Limits: one thermal state for the whole hearth (no radial or circumferential
distribution), no burden-distribution or cohesive-zone model, no slag chemistry beyond the
[Si]-HMT coupling, coefficients chosen to be plausible rather than fitted to one furnace. It is a
test bed for control and prediction, not a furnace design tool.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field, fields

import numpy as np

__all__ = ["STATES", "TAGS", "BlastFurnace", "Physics", "Reading", "Setpoints"]

DT_H = 10 / 60  # 10-minute sample period
STATES = ("normal", "chilled_hearth", "hanging_slip", "channelling")


@dataclass(frozen=True)
class Setpoints:
    """What the operator (or the agent) sets."""

    coke_rate_kg_thm: float = 320.0
    pci_rate_kg_thm: float = 180.0
    blast_temp_c: float = 1200.0
    oxygen_enrichment_pct: float = 4.0
    blast_volume_nm3_min: float = 7000.0

    LIMITS = {
        "coke_rate_kg_thm": (280.0, 380.0),
        "pci_rate_kg_thm": (100.0, 230.0),
        "blast_temp_c": (1000.0, 1250.0),
        "oxygen_enrichment_pct": (0.0, 8.0),
        "blast_volume_nm3_min": (5500.0, 7800.0),
    }

    def clipped(self) -> Setpoints:
        values = {k: min(max(getattr(self, k), lo), hi) for k, (lo, hi) in self.LIMITS.items()}
        return Setpoints(**values)

    @property
    def fuel_rate_kg_thm(self) -> float:
        return self.coke_rate_kg_thm + self.pci_rate_kg_thm


@dataclass(frozen=True)
class Physics:
    """Coefficients of the model (see the module docstring for where they come from)."""

    k_fuel_c_per_kg: float = 1.8
    pci_replacement: float = 0.85
    coke_delay_h: float = 6.0
    tuyere_delay_h: float = 0.5
    hearth_tau_h: float = 2.0
    si_tau_h: float = 1.0
    si_per_c: float = 0.01
    bt_kg_per_100c: float = 12.0
    moisture_kg_per_g: float = 0.6
    o2_c_per_pct: float = 2.0
    productivity_c: float = 30.0  # C per unit relative production change (fixed losses)
    ore_sigma_kg: float = 4.0
    ore_tau_h: float = 12.0
    coke_sigma_csr: float = 2.0
    coke_tau_h: float = 24.0
    moisture_mean: float = 15.0
    moisture_sigma: float = 3.0
    moisture_tau_h: float = 8.0


#: Measured tags, in the order models see them (units in the names).
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
)


@dataclass(frozen=True)
class Reading:
    """One 10-minute sample: what the plant historian would record (plus hidden truth)."""

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
    production_thm_day: float
    state: str = "normal"  # ground truth, not measured: for training and scoring only
    true_hmt_c: float = field(default=0.0, repr=False)
    true_si_pct: float = field(default=0.0, repr=False)

    def tags(self) -> list[float]:
        return [getattr(self, t) for t in TAGS]

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


def _ou(x: float, mean: float, sigma: float, tau_h: float, z: float) -> float:
    """One exact Ornstein-Uhlenbeck step of length DT_H."""
    a = math.exp(-DT_H / tau_h)
    return mean + (x - mean) * a + sigma * math.sqrt(1 - a * a) * z


class BlastFurnace:
    """Step the furnace 10 minutes at a time: ``reading = furnace.step(setpoints)``."""

    def __init__(
        self,
        seed: int,
        physics: Physics | None = None,
        start: Setpoints | None = None,
        disturbance_scale: float = 1.0,
    ) -> None:
        self.p = physics or Physics()
        self.rng = np.random.default_rng(seed)
        self.scale = disturbance_scale
        self.setpoints = (start or Setpoints()).clipped()
        self.t = 0
        nominal = self.setpoints
        self.nominal = nominal
        coke_steps = round(self.p.coke_delay_h / DT_H)
        tuyere_steps = max(1, round(self.p.tuyere_delay_h / DT_H))
        self._coke_pipe: deque[float] = deque([nominal.coke_rate_kg_thm] * coke_steps)
        self._tuyere_pipe: deque[Setpoints] = deque([nominal] * tuyere_steps)
        p = self.p
        # start near steady state, with the drifts drawn from their stationary distributions
        self.ore = p.ore_sigma_kg * self.rng.standard_normal() * self.scale
        self.csr = p.coke_sigma_csr * self.rng.standard_normal() * self.scale
        self.moisture = p.moisture_mean + p.moisture_sigma * self.rng.standard_normal() * self.scale
        self.theta = 0.0
        self.si = 0.45
        self.state = "normal"
        self._left = 0  # steps left in the current hanging/channelling episode
        self._slip_cooling = 0.0
        self._dp_extra = 0.0
        self._spike = 0.0

    # -- the heat balance ---------------------------------------------------------------------
    def _heat_balance(self, coke_at_tuyeres: float, s: Setpoints) -> float:
        p, n = self.p, self.nominal
        fuel = coke_at_tuyeres + p.pci_replacement * s.pci_rate_kg_thm
        fuel_nominal = n.coke_rate_kg_thm + p.pci_replacement * n.pci_rate_kg_thm
        kg = fuel - fuel_nominal - self.ore
        kg += p.bt_kg_per_100c * (s.blast_temp_c - n.blast_temp_c) / 100
        kg -= p.moisture_kg_per_g * (self.moisture - p.moisture_mean)
        balance = p.k_fuel_c_per_kg * kg + p.o2_c_per_pct * (
            s.oxygen_enrichment_pct - n.oxygen_enrichment_pct
        )
        balance += p.productivity_c * (self._production(s) / self._production(n) - 1)
        if self.state == "chilled_hearth":
            balance -= 25.0
        if self.state == "channelling":
            balance -= p.k_fuel_c_per_kg * 6.0
        return balance - self._slip_cooling

    @staticmethod
    def _production(s: Setpoints) -> float:
        """tHM/day: oxygen blown per minute over the oxygen a tonne of iron needs."""
        oxygen_nm3_min = s.blast_volume_nm3_min * (0.21 + s.oxygen_enrichment_pct / 100)
        return oxygen_nm3_min * 1440 / (310 + 0.6 * (s.fuel_rate_kg_thm - 500))

    # -- one step -----------------------------------------------------------------------------
    def step(self, setpoints: Setpoints | None = None) -> Reading:
        p = self.p
        rng = self.rng
        # exogenous draws, always the same number in the same order
        z_ore, z_csr, z_moist, u_hang, u_chan, u_len = (
            rng.standard_normal(3).tolist() + rng.random(3).tolist()
        )
        noise = rng.standard_normal(8)
        if setpoints is not None:
            self.setpoints = setpoints.clipped()
        s_now = self.setpoints
        self._coke_pipe.append(s_now.coke_rate_kg_thm)
        coke_at_tuyeres = self._coke_pipe.popleft()
        self._tuyere_pipe.append(s_now)
        s = self._tuyere_pipe.popleft()

        self.ore = _ou(self.ore, 0.0, p.ore_sigma_kg * self.scale, p.ore_tau_h, z_ore)
        self.csr = _ou(self.csr, 0.0, p.coke_sigma_csr * self.scale, p.coke_tau_h, z_csr)
        self.moisture = _ou(
            self.moisture, p.moisture_mean, p.moisture_sigma * self.scale, p.moisture_tau_h, z_moist
        )
        dp_base = 160.0 * (s.blast_volume_nm3_min / 7000) ** 1.8 * (1 - 0.01 * self.csr)
        self._update_state(dp_base, s, u_hang, u_chan, u_len)

        target = self._heat_balance(coke_at_tuyeres, s)
        self.theta += (target - self.theta) * (1 - math.exp(-DT_H / p.hearth_tau_h))
        si_target = max(0.05, 0.45 + p.si_per_c * self.theta)
        self.si += (si_target - self.si) * (1 - math.exp(-DT_H / p.si_tau_h))
        self._slip_cooling *= math.exp(-DT_H / 3.0)
        self.t += 1
        return self._measure(s, dp_base, noise)

    def _update_state(
        self, dp_base: float, s: Setpoints, u_hang: float, u_chan: float, u_len: float
    ) -> None:
        if self.state == "chilled_hearth":
            if self.theta > -20:
                self.state = "normal"
            return
        if self.theta < -40:
            self.state, self._left, self._dp_extra = "chilled_hearth", 0, 0.0
            return
        if self.state in ("hanging_slip", "channelling"):
            self._left -= 1
            if self.state == "hanging_slip":
                if self._left > 2:
                    self._dp_extra += 4.0  # hanging: burden stops, pressure builds
                elif self._left == 2:  # the slip
                    self._dp_extra, self._spike, self._slip_cooling = -12.0, 90.0, 12.0
            if self._left <= 0:
                self.state, self._dp_extra = "normal", 0.0
            return
        hang_hazard = 0.0015 * math.exp((dp_base + self._dp_extra - 170.0) / 6.0)
        chan_hazard = 0.0012 * math.exp(-self.csr / 2.0) * (s.blast_volume_nm3_min / 7000) ** 6
        if u_hang < hang_hazard:
            self.state, self._left = "hanging_slip", 5 + int(u_len * 6)
        elif u_chan < chan_hazard:
            self.state, self._left = "channelling", 6 + int(u_len * 18)

    def _measure(self, s: Setpoints, dp_base: float, n: np.ndarray) -> Reading:
        chan = self.state == "channelling"
        chilled = self.state == "chilled_hearth"
        hmt = 1500.0 + self.theta
        eta = 0.48 - 0.002 * self.ore - (0.04 if chan else 0.0)
        tgt = 130.0 + 40 * (s.blast_volume_nm3_min / 7000 - 1) + (55.0 if chan else 0.0)
        tgt += self._spike - (25.0 if self.state == "hanging_slip" and self._left > 2 else 0.0)
        self._spike *= 0.3
        dp = dp_base + self._dp_extra + (10.0 if chilled else 0.0) - (8.0 if chan else 0.0)
        stave_lower = 58.0 + 0.35 * self.theta - (15.0 if chilled else 0.0)
        stave_upper = 75.0 + (18.0 if chan else 0.0) + 0.3 * (tgt - 130.0)
        return Reading(
            time_h=self.t * DT_H,
            hmt_c=round(float(hmt + 3.0 * n[0]), 2),
            si_pct=round(float(max(0.02, self.si + 0.02 * n[1])), 4),
            eta_co=round(float(eta + 0.003 * n[2]), 4),
            top_gas_temp_c=round(float(tgt + 3.0 * n[3]), 2),
            pressure_drop_kpa=round(float(dp + 1.5 * n[4]), 2),
            stave_lower_c=round(float(stave_lower + 1.0 * n[5]), 2),
            stave_upper_c=round(float(stave_upper + 1.5 * n[6]), 2),
            blast_moisture_g_nm3=round(float(self.moisture + 0.3 * n[7]), 2),
            coke_rate_kg_thm=s.coke_rate_kg_thm,
            pci_rate_kg_thm=s.pci_rate_kg_thm,
            blast_temp_c=s.blast_temp_c,
            oxygen_enrichment_pct=s.oxygen_enrichment_pct,
            blast_volume_nm3_min=s.blast_volume_nm3_min,
            production_thm_day=round(self._production(s), 1),
            state=self.state,
            true_hmt_c=float(hmt),
            true_si_pct=float(self.si),
        )


def reading_fields() -> list[str]:
    return [f.name for f in fields(Reading)]
