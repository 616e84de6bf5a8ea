"""Honest scoring of the steel pack, on what a plant measures (docs/steel.md, "Scoring").

- **Fuel at equal risk, on readings.** Every controller's aim is calibrated so that 2.5 % of
  its dips are cold (< 1,490 C) on the calibration seeds (calibration.py); fuel is compared as
  run, and the cold dips on the evaluation seeds show whether the risk stayed equal. Fuel is
  also shown corrected per run to put ``q = mean - 1.96 x std`` of the run's dips at 1,490 C at
  the coal sensitivity (1.53 C of HMT per kg/tHM of coal), the correction priced as coal.
  "Priced" fuel is the coke and coal bill in kg/tHM of coke that would cost the same
  (``control.PRICES``). Hot blast and steam are not fuel, but heat from them is heat coal need
  not bring: ``*_trims_*`` figures add the steady-state heat of the run's mean hot blast and
  steam away from their usual values (1,200 C, 3 g/Nm3) as the coal that would bring it
  (priced as coal), so a controller that trades coal for hot blast gains nothing there. Cold
  dips, moves and approvals per day are shown beside it.
- **Forecast.** For every dip, the forecast made 2 h before it (with the move decided then) is
  scored against the dip; persistence is the mean of the HMT tag over the hour before the
  forecast. The trend is scored where HMT really moved by more than 5 C in those 2 h, against
  the class the plant's readings show (dip minus the persistence level): the forecaster's
  class and always-"stable" are scored on the same samples.
- **Abnormal states.** An event is a run of non-normal ground-truth state (precursor included).
  Its alarm time is when its tag signature crosses a fixed alarm limit (``ALARM_LIMITS``); the
  detector's lead is the alarm time minus the first time the detector flagged that state (two
  consecutive samples above its threshold). A detector flag that overlaps no event (1 h slack)
  is a false alarm. An event still running when the run ends, with neither a flag of its state
  nor its alarm yet, is censored: its outcome is not known, so it is counted apart
  (``censored``), not as a miss (as events that begin before the detector can run are not
  scored at all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.steel.control import HMT_BAND, PRICES, fuel_cost, fuel_priced
from agentarts.industries.steel.features import HORIZON, TREND_CLASSES, WINDOW, trend_class
from agentarts.industries.steel.simulator import STATES, TAGS, Physics, Reading, Setpoints

__all__ = [
    "ALARM_LIMITS",
    "abnormal_scores",
    "flags",
    "forecast_scores",
    "model_card_metrics",
    "summarise",
]

WARMUP_H = 6.0
Z_RISK = 1.96
_P = Physics()
COAL_C_PER_KG = _P.k_fuel_c_per_kg * _P.pci_replacement  # 1.53 C per kg/tHM
BLAST_C_PER_C = _P.bt_kg_per_100c / 100 * _P.k_fuel_c_per_kg  # 0.216 C of HMT per C of blast
STEAM_C_PER_G = _P.moisture_kg_per_g * _P.k_fuel_c_per_kg  # 1.08 C of HMT per g/Nm3 less
COAL_AS_COKE = PRICES["pci_rate_kg_thm"] / PRICES["coke_rate_kg_thm"]  # priced kg per kg coal
#: Fixed alarm limits on the tag signature of each state (what a plant's DCS alarm would use).
ALARM_LIMITS: dict[str, tuple[str, str, float]] = {
    "chilled_hearth": ("hmt_c", "<", 1460.0),
    "hanging_slip": ("pressure_drop_kpa", ">", 185.0),
    "channelling": ("top_gas_temp_c", ">", 180.0),
}


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def summarise(readings: Sequence[Reading], moves: int, approvals: int = 0) -> dict[str, Any]:
    """Fuel, cost, risk on readings, moves per day for one run (after the 6 h warm-up)."""
    rs = [r for r in readings if r.time_h > WARMUP_H]
    days = max(len(rs) / 144, 1e-9)
    dips = np.array([r.hmt_c for r in rs if r.dip])
    coke = float(np.mean([r.coke_rate_kg_thm for r in rs]))
    pci = float(np.mean([r.pci_rate_kg_thm for r in rs]))
    q = float(dips.mean() - Z_RISK * dips.std()) if len(dips) > 2 else float("nan")
    excess_kg = (q - HMT_BAND[0]) / COAL_C_PER_KG  # coal burnt above the equal-risk margin
    true_hmt = np.array([r.true_hmt_c for r in rs])
    usual = Setpoints()
    blast = float(np.mean([r.blast_temp_c for r in rs]))
    steam = float(np.mean([r.steam_g_nm3 for r in rs]))
    trim_heat = BLAST_C_PER_C * (blast - usual.blast_temp_c) + STEAM_C_PER_G * (
        usual.steam_g_nm3 - steam
    )
    trims_kg = trim_heat / COAL_C_PER_KG * COAL_AS_COKE  # priced kg/tHM coke-eq.
    priced_eq = fuel_priced(coke, pci) - excess_kg * COAL_AS_COKE
    return {
        "fuel_rate_kg_thm": _r(coke + pci, 2),
        "coke_rate_kg_thm": _r(coke, 2),
        "pci_rate_kg_thm": _r(pci, 2),
        "fuel_cost_usd_thm": _r(fuel_cost(coke, pci), 2),
        # coke and coal priced: kg/tHM of coke that would cost the same
        "fuel_priced_kg_thm": _r(fuel_priced(coke, pci), 2),
        "fuel_priced_equal_risk_kg_thm": _r(priced_eq, 2),
        # hot blast and steam away from their usual values counted as the coal they replace
        "trim_heat_c": _r(trim_heat, 2),
        "fuel_priced_trims_kg_thm": _r(fuel_priced(coke, pci) + trims_kg, 2),
        "fuel_priced_trims_equal_risk_kg_thm": _r(priced_eq + trims_kg, 2),
        "fuel_rate_equal_risk_kg_thm": _r(coke + pci - excess_kg, 2),
        "fuel_cost_equal_risk_usd_thm": _r(
            fuel_cost(coke, pci) - excess_kg * PRICES["pci_rate_kg_thm"], 2
        ),
        "blast_temp_mean_c": _r(blast, 1),
        "steam_mean_g_nm3": _r(steam, 2),
        "dips": len(dips),
        "dip_mean_c": _r(dips.mean() if len(dips) else float("nan"), 2),
        "dip_std_c": _r(dips.std() if len(dips) else float("nan"), 2),
        "dip_p2_5_c": _r(q, 2),
        "cold_dips_pct": _r(100 * float((dips < HMT_BAND[0]).mean()) if len(dips) else None, 2),
        "moves_per_day": _r(moves / days, 2),
        "approvals_per_day": _r(approvals / days, 2),
        "metal_below_band_pct": _r(100 * float((true_hmt < HMT_BAND[0]).mean()), 2),
        "abnormal_samples": sum(r.state != "normal" for r in rs),
    }


Forecaster = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _window_with_move(readings: Sequence[Reading], t: int) -> np.ndarray:
    """The window ending at step t, with the move decided at t (seen at t+1) applied."""
    x = np.array([r.tags() for r in readings[t - WINDOW + 1 : t + 1]], np.float32)
    if t + 1 < len(readings):
        x[-1, 8:] = readings[t + 1].tags()[8:]
    return x


def forecast_scores(runs: Sequence[Sequence[Reading]], forecaster: Forecaster) -> dict[str, Any]:
    """HMT MAE vs persistence on dips, and trend vs always-"stable" where HMT moves."""
    xs, samples = [], []
    for readings in runs:
        for tau, r in enumerate(readings):
            t = tau - HORIZON
            if not r.dip or t < WINDOW - 1 or r.time_h <= WARMUP_H:
                continue
            xs.append(_window_with_move(readings, t))
            level = float(np.mean([q.hmt_c for q in readings[t - 5 : t + 1]]))
            moved = abs(r.true_hmt_c - readings[t].true_hmt_c) > 5.0
            samples.append((r.hmt_c, level, moved))
    if not samples:
        return {
            "hmt_mae_c": None,
            "persistence_hmt_mae_c": None,
            "trend_hit_rate_moving": None,
            "stable_hit_rate_moving": None,
            "dips_scored": 0,
            "moving_samples": 0,
        }
    y, trend = forecaster(np.array(xs))
    dip, level, moved = (np.array(v) for v in zip(*samples, strict=True))
    measured = np.array([trend_class(d) for d in dip - level])
    predicted = trend.argmax(1)
    stable = TREND_CLASSES.index("stable")
    m = moved.astype(bool)
    return {
        "hmt_mae_c": _r(np.abs(y[:, 0] - dip).mean(), 3),
        "persistence_hmt_mae_c": _r(np.abs(level - dip).mean(), 3),
        "trend_hit_rate_moving": _r((predicted[m] == measured[m]).mean() if m.any() else None, 4),
        "stable_hit_rate_moving": _r((measured[m] == stable).mean() if m.any() else None, 4),
        "dips_scored": len(dip),
        "moving_samples": int(m.sum()),
    }


def flags(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Per sample: the flagged state index (0 = normal) after two consecutive samples of the
    same abnormal state above ``threshold``."""
    best = probs[:, 1:].argmax(1) + 1
    above = probs[np.arange(len(probs)), best] > threshold
    out = np.zeros(len(probs), int)
    for i in range(1, len(probs)):
        if above[i] and above[i - 1] and best[i] == best[i - 1]:
            out[i] = best[i]
    return out


def abnormal_scores(
    readings: Sequence[Reading], flagged: dict[int, int], hours: float | None = None
) -> dict[str, Any]:
    """Events, detected, lead before the fixed alarm limit, false alarms per day.

    ``flagged[step]`` is the detector's state index at that step (0 normal)."""
    truth = [STATES.index(r.state) for r in readings]
    events, start = [], None
    for i, s in enumerate([*truth, 0]):
        if start is not None and (s != truth[start]):
            events.append((start, i - 1, truth[start]))
            start = None
        if s and start is None:
            start = i
    # the detector reads 6 h of history: events that begin before it can run are not scored
    events = [e for e in events if e[0] >= WINDOW - 1]
    leads, detected, censored = [], 0, 0
    for a, b, s in events:
        tag, op, limit = ALARM_LIMITS[STATES[s]]
        column = TAGS.index(tag)
        alarm = next(
            (
                i
                for i in range(a, min(b + 7, len(readings)))
                if (
                    readings[i].tags()[column] < limit
                    if op == "<"
                    else readings[i].tags()[column] > limit
                )
            ),
            None,
        )
        hit = next((i for i in range(a, b + 1) if flagged.get(i) == s), None)
        if hit is None and alarm is None and b == len(readings) - 1:
            censored += 1  # cut off by the end of the run: neither flagged nor alarmed yet
            continue
        detected += hit is not None
        if hit is not None and alarm is not None:
            leads.append((alarm - hit) * 10.0)
    covered = set()
    for a, b, _ in events:
        covered.update(range(a, b + 7))
    false, previous = 0, False
    for i in sorted(flagged):
        on = bool(flagged[i]) and i not in covered
        false += on and not previous
        previous = on
    span_h = hours if hours is not None else len(flagged) / 6
    return {
        "events": len(events) - censored,
        "detected": detected,
        "censored": censored,
        "median_lead_min": _r(float(np.median(leads)) if leads else None, 1),
        "leads_min": leads,
        "false_alarms_per_day": _r(false / max(span_h / 24, 1e-9), 2),
    }


def _sessions(out: Path, norm: dict[str, Any], y_mean: np.ndarray, y_std: np.ndarray) -> Any:
    import onnxruntime as ort

    thermal = ort.InferenceSession(str(out / "bf_thermal" / "1" / "model.onnx"))
    abnormal = ort.InferenceSession(str(out / "bf_abnormal" / "1" / "model.onnx"))

    def norm_x(x: np.ndarray) -> np.ndarray:
        return ((x - norm["mean"]) / norm["std"]).astype(np.float32)

    def forecaster(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, trend = thermal.run(None, {"x": norm_x(x)})
        return y * y_std + y_mean, trend

    def classifier(x: np.ndarray) -> np.ndarray:
        return abnormal.run(None, {"x": norm_x(x)})[0]

    return forecaster, classifier


def detector_flags(readings: Sequence[Reading], classifier: Any, threshold: float) -> dict:
    tags = np.array([r.tags() for r in readings], np.float32)
    x = np.stack([tags[t - WINDOW + 1 : t + 1] for t in range(WINDOW - 1, len(readings))])
    f = flags(classifier(x), threshold)
    return {t: int(f[i]) for i, t in enumerate(range(WINDOW - 1, len(readings)))}


def model_card_metrics(
    out: Path,
    norm: dict[str, Any],
    y_mean: np.ndarray,
    y_std: np.ndarray,
    eval_seeds: range,
    valid_seeds: range,
) -> dict[str, dict[str, Any]]:
    """Forecast and detector metrics on held-out campaigns run by the tuned PI; the detector
    threshold is chosen on the validation seeds (the lowest with <= 0.5 false alarms/day)."""
    from agentarts.industries.steel.train import campaign

    forecaster, classifier = _sessions(out, norm, y_mean, y_std)
    valid = [campaign(s, "operated") for s in valid_seeds]
    threshold = 0.95
    for candidate in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        fa = [
            abnormal_scores(r, detector_flags(r, classifier, candidate))["false_alarms_per_day"]
            for r in valid
        ]
        if np.mean(fa) <= 0.5:
            threshold = candidate
            break
    runs = [campaign(s, "pi") for s in eval_seeds]
    operated = [campaign(s, "operated") for s in eval_seeds]
    scores = forecast_scores(runs, forecaster)
    per_run = [abnormal_scores(r, detector_flags(r, classifier, threshold)) for r in operated]
    leads = [lead for s in per_run for lead in s["leads_min"]]
    seeds = f"{eval_seeds.start}-{eval_seeds.stop - 1}"
    return {
        "bf_thermal": {"eval_seeds": seeds, "policy": "tuned PI", **scores},
        "bf_abnormal": {
            "eval_seeds": seeds,
            "policy": "operated (drawn PI, disturbances x0.7-1.8)",
            "threshold": threshold,
            "threshold_seeds": f"{valid_seeds.start}-{valid_seeds.stop - 1}",
            "events": sum(s["events"] for s in per_run),
            "detected": sum(s["detected"] for s in per_run),
            "median_lead_min": _r(float(np.median(leads)) if leads else None, 1),
            "false_alarms_per_day": _r(
                float(np.mean([s["false_alarms_per_day"] for s in per_run])), 2
            ),
        },
    }
