"""The agent's controller: a small model-predictive controller over several levers.

Every 10 minutes (at most one move per 30 min) it scores candidate moves of coal (PCI), blast
temperature and steam, plus coke for the slow horizon, on two horizons:

- **2 h**: the forecaster (bf_thermal) answers "what if" for each candidate (the move applied
  to the window's last sample; one batch);
- **6-8 h**: the level the hearth settles at: the 2 h forecast plus what is still to come
  from moves already made (``pending_effect``) and from the candidate, each lever at its
  steady-state effect (``GAINS``: step-test sensitivities, docs/steel.md) along the hearth's
  lag (2 h, 30 min dead time). Coke acts only here: it reaches the tuyeres after the 6 h
  burden descent. Disturbances are assumed to stay as they are (the usual MPC assumption).

Cost: squared distance from the aim on both horizons, the price of the fuel moved, a charge per
lever moved, and a pull of blast temperature and steam back to their usual values (they are
fast trims, coal and coke carry the heat in the long run). Coal stays under the flame-
temperature ceiling. No proposal unless the best move beats holding by a margin.

Abnormal-state playbooks (from the detector's confirmed diagnosis), always escalated to the
shift manager: *hanging/slip*: a blast cut (5 %, at most two), and no fuel or hot blast added
while it lasts; *channelling*: a blast cut, coal at most +5 kg/tHM a move; *chilled hearth*: hot
blast up (at most +50 C) and steam off, a coke blank (+20 kg/tHM) once the 2 h forecast is
below 1,480 C, coal at most +5 kg/tHM a move (a cold raceway burns coal poorly: never pushed
to the guard); the raised hot blast is kept while the state lasts. The playbook's first move
is due at once (30 min after the last move), a second blast cut after 90 min. Between playbook
moves the thermal control goes on within those limits, at most every 30 min, aiming
``abnormal_aim_offset_c`` hotter; 2 h after the last abnormal sample the blast is restored in
steps, then hot blast and steam go back to their usual values (at most 20 C and 2 g/Nm3 a
move, with the coal or coke the MPC then needs): a playbook move, proposed without the margin
rule (a 20 C step back alone is worth less than the margin, so without it the raised hot blast
stayed up for many hours). Aim, margin and offset: ``calibration.tune_agent`` (docs/steel.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agentarts.industries.steel.control import AIMS, PRICES, pci_ceiling
from agentarts.industries.steel.simulator import TAGS, Reading, Setpoints

__all__ = ["GAINS", "MPC", "Plan", "mpc_controller"]

#: Steady-state HMT response (C per unit of each lever), from step tests.
GAINS = {
    "pci_rate_kg_thm": 1.53,
    "coke_rate_kg_thm": 1.8,
    "blast_temp_c": 0.216,
    "steam_g_nm3": -1.08,
}
COKE_BY_8H = 0.63  # share of a coke move's effect in the hearth 8 h later (6 h + 2 h lag)
ABNORMAL_WHAT = {
    "hanging_slip": "hanging: burden not descending, pressure drop building",
    "channelling": "channelling: gas short-circuiting the burden",
    "chilled_hearth": "chilled hearth: the hearth is losing heat",
}
#: Largest increase per lever and move while a state lasts: no fuel or hot blast into hanging,
#: coal at most +5 kg/tHM a move in a chilled hearth or channelling (never to the guard).
ABNORMAL_UP = {
    "hanging_slip": {"pci_rate_kg_thm": 0.0, "coke_rate_kg_thm": 0.0, "blast_temp_c": 0.0},
    "channelling": {"pci_rate_kg_thm": 5.0},
    "chilled_hearth": {"pci_rate_kg_thm": 5.0, "steam_g_nm3": 0.0},
}
#: Largest decrease per lever and move while a state lasts: in a chilled hearth the hot blast
#: the playbook raised is not taken back until the state has passed (nor steam put back: above).
ABNORMAL_DOWN = {"chilled_hearth": {"blast_temp_c": 0.0}}
BLANK_BELOW_C = 1480.0  # a coke blank when the 2 h forecast is this cold in a chilled hearth
RESTORE_AFTER_STEPS = 12  # hot blast and steam go back to usual 2 h after an abnormal state
RESTORE_BT_C, RESTORE_STEAM = 20.0, 2.0  # a restoring step at most
RESTORE_COLD_C = 5.0  # no restoring step that leaves the 2 h forecast colder than aim - this
PCI_FLOOR = 120.0  # the envelope's lowest coal rate
COKE_ROOM = 10.0  # kg/tHM of coal room below which coke takes over
LEVER_NAMES = {
    "pci_rate_kg_thm": ("coal injection", "kg/tHM"),
    "coke_rate_kg_thm": ("coke rate", "kg/tHM"),
    "blast_temp_c": ("hot blast", "C"),
    "steam_g_nm3": ("blast steam", "g/Nm3"),
    "blast_volume_nm3_min": ("blast volume", "Nm3/min"),
}


@dataclass
class Plan:
    """A proposal: new setpoints for one or more levers, approved together (or none)."""

    levers: dict[str, float]
    deltas: dict[str, float]
    forecast_now_c: float
    forecast_after_c: float
    band_c: float
    settle_now_c: float
    settle_after_c: float
    reason: str
    playbook: str = "normal"
    escalate: bool = False
    drivers: list[str] = field(default_factory=list)


@dataclass
class MPC:
    aim_c: float = AIMS["agent"]
    wait_steps: int = 9
    abnormal_wait_steps: int = 3  # thermal moves while an abnormal state lasts
    w_settle: float = 0.25
    move_charge: float = 4.0  # C^2 per lever moved
    price_weight: float = 3.0  # C^2 per USD/tHM
    trim_weight: float = 1.0  # C^2 per (10 C of hot blast)^2 or (g/Nm3 of steam)^2 off usual
    min_gain: float = 20.0  # C^2 the best move must beat holding by
    abnormal_aim_offset_c: float = 5.0  # aim this much hotter while an abnormal state lasts
    restore_bt_c: float = RESTORE_BT_C  # a restoring step of hot blast at most (C)
    restore_steam: float = RESTORE_STEAM  # and of steam (g/Nm3)
    band_c: float = 10.7  # 95 % band of a dip 2 h ahead (tools.forecast_band_c, from the card)
    pci_moves: tuple[float, ...] = (-10, -7.5, -5, -2.5, 0, 2.5, 5, 7.5, 10)
    bt_moves: tuple[float, ...] = (-20, 0, 20)
    steam_moves: tuple[float, ...] = (-2, 0, 2)
    coke_moves: tuple[float, ...] = (-5, 0, 5)

    def plan(
        self,
        tags: np.ndarray,
        setpoints: Setpoints,
        what_if: Callable[[np.ndarray, list[dict[str, float]]], np.ndarray],
        steps_since_move: int,
        state: str = "normal",
        normal_steps: int = 99,
    ) -> Plan | None:
        """The move to propose now, or None (hold). ``normal_steps``: samples since the
        detector last saw an abnormal state (blast volume is restored after 2 h of normal)."""
        if state != "normal":
            return self._abnormal(tags, setpoints, what_if, state, steps_since_move)
        if steps_since_move < self.wait_steps:
            return None
        nominal = Setpoints()
        if normal_steps >= 12 and setpoints.blast_volume_nm3_min < nominal.blast_volume_nm3_min:
            restore = min(350.0, nominal.blast_volume_nm3_min - setpoints.blast_volume_nm3_min)
            new = _apply(setpoints, {"blast_volume_nm3_min": restore})
            f_now = float(what_if(tags, [{}])[0])
            return Plan(
                levers={"blast_volume_nm3_min": new.blast_volume_nm3_min},
                deltas={"blast_volume_nm3_min": restore},
                forecast_now_c=round(f_now, 2),
                forecast_after_c=round(f_now, 2),
                band_c=self.band_c,
                settle_now_c=round(f_now, 2),
                settle_after_c=round(f_now, 2),
                reason="2 h without an abnormal state: "
                f"{_describe('blast_volume_nm3_min', restore)} back towards the usual blast",
                playbook="recover",
            )
        if normal_steps >= RESTORE_AFTER_STEPS:
            restore = restoring_step(setpoints, self.restore_bt_c, self.restore_steam)
            plan = self._restore(tags, setpoints, what_if, restore) if restore else None
            if plan is not None:
                return plan
        return self._thermal(tags, setpoints, what_if)

    def _restore(
        self,
        tags: np.ndarray,
        setpoints: Setpoints,
        what_if: Callable[[np.ndarray, list[dict[str, float]]], np.ndarray],
        restore: dict[str, float],
    ) -> Plan | None:
        """The playbook's way back: one step of hot blast and steam towards their usual
        values, with the coal (or coke) the MPC then needs; proposed without the margin rule (a
        step back alone is worth less than the margin, and the raised hot blast would stay).
        Not while the hearth is cold: a step that would leave the 2 h forecast more than
        ``RESTORE_COLD_C`` below the aim even with its coal waits (None)."""
        plan = self._thermal(tags, setpoints, what_if, fixed=restore)
        if plan is None or plan.forecast_after_c < self.aim_c - RESTORE_COLD_C:
            return None
        steps = ", ".join(_describe(k, v) for k, v in restore.items())
        fuel = {k: v for k, v in plan.deltas.items() if k not in restore}
        heat = (
            "; with it " + ", ".join(_describe(k, v) for k, v in fuel.items()) + " for the aim"
            if fuel
            else ""
        )
        plan.reason = (
            f"abnormal state over for {RESTORE_AFTER_STEPS // 6} h or more: {steps} back towards "
            f"the usual hot blast {Setpoints().blast_temp_c:.0f} C and steam "
            f"{Setpoints().steam_g_nm3:g} g/Nm3 (playbook){heat}; HMT in 2 h "
            f"{plan.forecast_now_c:.0f} -> {plan.forecast_after_c:.0f} C "
            f"(+-{self.band_c:.0f} C, 95 %)"
        )
        plan.playbook = "recover"
        return plan

    def _thermal(
        self,
        tags: np.ndarray,
        setpoints: Setpoints,
        what_if: Callable[[np.ndarray, list[dict[str, float]]], np.ndarray],
        up: dict[str, float] | None = None,
        down: dict[str, float] | None = None,
        fixed: dict[str, float] | None = None,
    ) -> Plan | None:
        """The best move on both horizons (``up`` / ``down``: the largest increase / decrease
        allowed per lever). ``fixed``: a restoring step of hot blast and steam every candidate
        makes (only coal and coke are chosen), proposed whatever holding would cost."""
        up, down = up or {}, down or {}
        nominal = Setpoints()
        moisture = float(tags[-1, TAGS.index("blast_moisture_g_nm3")]) - setpoints.steam_g_nm3
        fast = []
        for dp, dbt, dst in itertools.product(self.pci_moves, self.bt_moves, self.steam_moves):
            move = {"pci_rate_kg_thm": dp, "blast_temp_c": dbt, "steam_g_nm3": dst}
            if any(v > up.get(k, np.inf) or -v > down.get(k, np.inf) for k, v in move.items()):
                continue
            new = _apply(setpoints, move)
            if _changes(setpoints, new) != {k: v for k, v in move.items() if v}:
                continue  # a lever at its limit: the clipped move is another candidate
            if dp > 0 and new.pci_rate_kg_thm > pci_ceiling(new, moisture) + 1e-6:
                continue
            fast.append(move)
        if fixed is not None:  # hold stays in the batch: the reference of the forecast
            fast = [{"pci_rate_kg_thm": 0, "blast_temp_c": 0, "steam_g_nm3": 0}] + [
                {"blast_temp_c": 0, "steam_g_nm3": 0, **fixed, "pci_rate_kg_thm": dp}
                for dp in self.pci_moves
                if dp <= 0
                or _apply(setpoints, {**fixed, "pci_rate_kg_thm": dp}).pci_rate_kg_thm
                <= pci_ceiling(_apply(setpoints, fixed), moisture) + 1e-6
            ]
        f2 = what_if(tags, fast)
        zero = fast.index({"pci_rate_kg_thm": 0, "blast_temp_c": 0, "steam_g_nm3": 0})
        settle0 = float(f2[zero]) + pending_effect(tags)
        # coke is the base load: moved only to give coal room when it nears a limit, or back
        # down to its usual rate after a blank
        room_up = pci_ceiling(setpoints, moisture) - setpoints.pci_rate_kg_thm
        room_down = setpoints.pci_rate_kg_thm - PCI_FLOOR
        coke_moves = [
            dc
            for dc in self.coke_moves
            if dc == 0
            or (0 < dc <= up.get("coke_rate_kg_thm", np.inf) and room_up < COKE_ROOM)
            or (dc < 0 and (room_down < COKE_ROOM or new_coke_above(setpoints)))
        ]
        best, best_cost, hold_cost = None, np.inf, np.inf
        for i, move in enumerate(fast):
            if fixed is not None and not any(move.values()):
                continue
            for dc in coke_moves:
                full = {**move, "coke_rate_kg_thm": dc}
                new = _apply(setpoints, full)
                if dc and new.coke_rate_kg_thm == setpoints.coke_rate_kg_thm:
                    continue
                settle = settle0 + sum(
                    GAINS[k] * v * (COKE_BY_8H if k == "coke_rate_kg_thm" else 1.0)
                    for k, v in full.items()
                )
                price = (
                    dc * PRICES["coke_rate_kg_thm"]
                    + move["pci_rate_kg_thm"] * PRICES["pci_rate_kg_thm"]
                )
                trim = ((new.blast_temp_c - nominal.blast_temp_c) / 10) ** 2 + (
                    new.steam_g_nm3 - nominal.steam_g_nm3
                ) ** 2
                cost = (
                    (f2[i] - self.aim_c) ** 2
                    + self.w_settle * (settle - self.aim_c) ** 2
                    + self.price_weight * price
                    + self.trim_weight * trim
                    + self.move_charge * sum(1 for v in full.values() if v)
                )
                if not any(full.values()):
                    hold_cost = cost
                if cost < best_cost:
                    best, best_cost, best_f2, best_settle = full, cost, f2[i], settle
        margin = 0.0 if fixed is not None else self.min_gain
        if best is None or not any(best.values()) or hold_cost - best_cost < margin:
            return None
        new = _apply(setpoints, best)
        deltas = _changes(setpoints, new)
        return Plan(
            levers={k: getattr(new, k) for k in deltas},
            deltas=deltas,
            forecast_now_c=round(float(f2[zero]), 2),
            forecast_after_c=round(float(best_f2), 2),
            band_c=self.band_c,
            settle_now_c=round(float(settle0), 2),
            settle_after_c=round(float(best_settle), 2),
            reason=_reason(deltas, float(f2[zero]), float(best_f2), self.aim_c, self.band_c),
        )

    def _abnormal(
        self,
        tags: np.ndarray,
        setpoints: Setpoints,
        what_if: Callable[[np.ndarray, list[dict[str, float]]], np.ndarray],
        state: str,
        steps_since_move: int,
    ) -> Plan:
        """The playbook's move when one is due; otherwise thermal control within the state's
        limits (``ABNORMAL_UP``, ``ABNORMAL_DOWN``); always escalated. Never fuel into hanging.

        The playbook's first move (a chilled hearth's hot blast, steam and blank; the first
        blast cut) is due as soon as thermal moves may be made (``abnormal_wait_steps``): the
        thermal moves made every 30 min must not hold it back; a second blast cut waits
        ``wait_steps`` after the last move."""
        what = ABNORMAL_WHAT[state]
        f_now = float(what_if(tags, [{}])[0])
        move = {}
        first = state == "chilled_hearth" or (
            setpoints.blast_volume_nm3_min >= Setpoints().blast_volume_nm3_min
        )
        wait = self.abnormal_wait_steps if first else self.wait_steps
        if steps_since_move >= wait:
            move = self._playbook(setpoints, state, f_now)
        new = _apply(setpoints, move)
        deltas = _changes(setpoints, new)
        if deltas:
            f_after = float(what_if(tags, [deltas])[0])
            moves = ", ".join(_describe(k, v) for k, v in deltas.items())
            return Plan(
                levers={k: getattr(new, k) for k in deltas},
                deltas=deltas,
                forecast_now_c=round(f_now, 2),
                forecast_after_c=round(f_after, 2),
                band_c=self.band_c,
                settle_now_c=round(f_now, 2),
                settle_after_c=round(f_after, 2),
                reason=f"{what}: {moves}; escalate to the shift manager",
                playbook=state,
                escalate=True,
            )
        plan = None
        if steps_since_move >= self.abnormal_wait_steps:
            hotter = replace(self, aim_c=self.aim_c + self.abnormal_aim_offset_c)
            plan = hotter._thermal(
                tags, setpoints, what_if, ABNORMAL_UP[state], ABNORMAL_DOWN.get(state)
            )
        if plan is None:
            return Plan(
                {}, {}, f_now, f_now, self.band_c, f_now, f_now,
                f"{what}; holding, escalate to the shift manager",
                playbook=state, escalate=True,
            )  # fmt: skip
        plan.reason = f"{what}: {plan.reason}; escalate to the shift manager"
        plan.playbook, plan.escalate = state, True
        return plan

    @staticmethod
    def _playbook(setpoints: Setpoints, state: str, forecast_c: float) -> dict[str, float]:
        """Blast cuts in hanging and channelling; in a chilled hearth hot blast up and steam
        off at once, and a coke blank once the 2 h forecast falls below ``BLANK_BELOW_C`` (the
        blank reaches the hearth 6 h later: not for a leak the fast levers already cover)."""
        nominal = Setpoints()
        move: dict[str, float] = {}
        if state in ("hanging_slip", "channelling") and (
            setpoints.blast_volume_nm3_min > 0.9 * nominal.blast_volume_nm3_min
        ):
            move["blast_volume_nm3_min"] = -0.05 * nominal.blast_volume_nm3_min
        elif state == "chilled_hearth":
            blank = setpoints.coke_rate_kg_thm < nominal.coke_rate_kg_thm + 20
            if blank and forecast_c < BLANK_BELOW_C:
                move["coke_rate_kg_thm"] = 20.0  # a coke blank
            top = Setpoints.LIMITS["blast_temp_c"][1]
            move["blast_temp_c"] = min(50.0, top - setpoints.blast_temp_c)
            move["steam_g_nm3"] = -setpoints.steam_g_nm3
        return move


def restoring_step(
    setpoints: Setpoints, bt_step: float = RESTORE_BT_C, steam_step: float = RESTORE_STEAM
) -> dict[str, float]:
    """One step of hot blast (at most ``bt_step`` C) and steam (at most ``steam_step`` g/Nm3)
    back towards their usual values ({} when both are there)."""
    nominal = Setpoints()
    bt = float(np.clip(nominal.blast_temp_c - setpoints.blast_temp_c, -bt_step, bt_step))
    st = float(np.clip(nominal.steam_g_nm3 - setpoints.steam_g_nm3, -steam_step, steam_step))
    return {k: round(v, 2) for k, v in (("blast_temp_c", bt), ("steam_g_nm3", st)) if round(v, 2)}


def new_coke_above(setpoints: Setpoints) -> bool:
    """Coke above its usual rate (after a blank): it goes back down, coal is cheaper heat."""
    return setpoints.coke_rate_kg_thm > Setpoints().coke_rate_kg_thm


def pending_effect(tags: np.ndarray) -> float:
    """HMT still to come (C) after the 2 h horizon from moves already made in the window: a
    fast lever's move made ``age`` h ago has shown exp(-(age + 1.5) / 2) of its effect less
    than in full by then (30 min dead time, 2 h lag); coke moves reach the hearth 6 h after
    charging, so at 8 h a move ``age`` h old has shown 1 - exp(-(age + 2) / 2)."""
    total = 0.0
    n = len(tags)
    for lever, gain in GAINS.items():
        column = tags[:, TAGS.index(lever)]
        for j in np.flatnonzero(np.diff(column)):
            age_h = (n - 2 - j) / 6
            delta = float(column[j + 1] - column[j])
            if lever == "coke_rate_kg_thm":
                total += gain * delta * (1 - np.exp(-(age_h + 2) / 2))
            else:
                total += gain * delta * np.exp(-(age_h + 1.5) / 2)
    return total


def _apply(setpoints: Setpoints, move: dict[str, float]) -> Setpoints:
    values = {k: round(getattr(setpoints, k) + move.get(k, 0.0), 2) for k in Setpoints.LIMITS}
    return Setpoints(**values).clipped()


def _changes(old: Setpoints, new: Setpoints) -> dict[str, float]:
    return {
        k: round(getattr(new, k) - getattr(old, k), 2)
        for k in Setpoints.LIMITS
        if round(getattr(new, k) - getattr(old, k), 2) != 0
    }


def _describe(lever: str, delta: float) -> str:
    name, unit = LEVER_NAMES.get(lever, (lever, ""))
    return f"{name} {delta:+g} {unit}"


def _reason(deltas: dict[str, float], now: float, after: float, aim: float, band: float) -> str:
    moves = ", ".join(_describe(k, v) for k, v in deltas.items())
    return (
        f"HMT in 2 h {now:.0f} C vs aim {aim:.0f} C; {moves} -> {after:.0f} C "
        f"(+-{band:.0f} C, 95 %)"
    )


def mpc_controller(
    aim_c: float = AIMS["agent"], thermal: Any = None, detect: bool = True, **kwargs: Any
) -> Callable[[Reading, Setpoints, list[Reading]], Setpoints]:
    """The agent's decisions as a plain loop controller (approvals taken as given): the
    detector confirmed over two samples, the playbooks and the MPC, exactly as the agent's
    graph runs them; for tuning, calibration and the benchmark's agent-free checks."""
    from agentarts.industries.steel.plant import LivePlant
    from agentarts.industries.steel.simulator import STATES
    from agentarts.industries.steel.tools import detector_threshold

    thermal = thermal or _shared_thermal()
    mpc = MPC(aim_c=aim_c, **kwargs)
    memory = LivePlant()  # its confirm() keeps the detector's two-sample rule
    threshold = detector_threshold()
    since = [99]

    def control(reading: Reading, sp: Setpoints, window: list[Reading]) -> Setpoints:
        since[0] += 1
        tags = np.array([r.tags() for r in window], np.float32)
        state = "normal"
        if detect:
            probs = thermal.classify(tags[np.newaxis])[0]
            worst = int(np.argmax(probs[1:])) + 1
            state = memory.confirm(STATES[worst] if probs[worst] > threshold else "normal")
        plan = mpc.plan(tags, sp, thermal.what_if, since[0], state, memory.normal_steps)
        if plan is None or not plan.deltas:
            return sp
        since[0] = 0
        return replace(sp, **plan.levers)

    return control


_THERMAL: list[Any] = []


def _shared_thermal() -> Any:
    from agentarts.industries.steel.loop import Thermal

    if not _THERMAL:
        _THERMAL.append(Thermal())
    return _THERMAL[0]
