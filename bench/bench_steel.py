"""Steel pack (issue 13): five 72 h closed loops on fresh seeds, the agent (MPC) against the
operator rule and a tuned PI, scored on what a plant measures (scoring.py, docs/steel.md).

Seeds are used by nothing else: not training (1000+, 3000+), validation (2000+), calibration
and tuning (500-547), model cards (9000-9009) nor tests (9300+). The detector is also scored on
20 held-out operated campaigns, where events are frequent enough to give a lead time. Fresh
sets: `python -c "import bench.bench_steel as b; b.SEEDS=(81, 82, 83, 84, 85);
b.DETECTOR_SEEDS=range(9500, 9520); b.run()"`.

Risk is counted on the dips: the PI's and the rule's aims put 2.5 % of their dips below
1,490 C on the calibration seeds; the agent's aim was chosen there for about a quarter of the
PI's cold dips. Where the agent's cold dips are no more than the PI's, its as-run saving is at
no more risk; every run is also corrected to equal risk (its dips' mean - 1.96 std put at
1,490 C, as coal). Targets: priced fuel (coke + coal, kg/tHM of coke-equivalent money) >= 1.5
kg/tHM below the tuned PI at equal risk, with cold dips and moves per day no worse; HMT MAE <=
0.8x last-hour persistence on dips; trend beats always-"stable" where HMT moves; median
detection lead >= 30 min before the fixed alarm limit with <= 1 false alarm per day; a 72 h
demo in under 60 s.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench._common import table

SEEDS = (41, 42, 43, 44, 45)
DETECTOR_SEEDS = range(9100, 9120)


def _detector() -> dict[str, Any]:
    from agentarts.industries.steel.loop import Thermal
    from agentarts.industries.steel.scoring import abnormal_scores, detector_flags
    from agentarts.industries.steel.tools import detector_threshold
    from agentarts.industries.steel.train import campaign

    classify = Thermal().classify
    threshold = detector_threshold()
    scores = []
    for seed in DETECTOR_SEEDS:
        readings = campaign(seed, "operated")
        scores.append(abnormal_scores(readings, detector_flags(readings, classify, threshold)))
    leads = [lead for s in scores for lead in s["leads_min"]]
    return {
        "events": sum(s["events"] for s in scores),
        "detected": sum(s["detected"] for s in scores),
        "censored": sum(s["censored"] for s in scores),
        "median_lead_min": float(np.median(leads)) if leads else None,
        "false_alarms_per_day": float(np.mean([s["false_alarms_per_day"] for s in scores])),
    }


def run(hours: float = 72.0) -> dict[str, Any]:
    from agentarts.industries.steel.control import HMT_BAND
    from agentarts.industries.steel.demo import simulate
    from agentarts.industries.steel.loop import Thermal
    from agentarts.industries.steel.scoring import WARMUP_H, forecast_scores

    rows, traces = [], []
    for seed in SEEDS:
        summary = simulate(seed, hours, auto_approve=True)
        traces.append(summary.pop("_traces"))
        rows.append(summary)
    thermal = Thermal()
    forecast = forecast_scores(
        [t[name].readings for t in traces for name in ("rule", "pi", "agent")], thermal.forecast
    )
    start = time.perf_counter()
    detector = _detector()
    detector_s = time.perf_counter() - start

    def side(name: str, key: str) -> float:
        values = [(r["agent"] if name == "agent" else r["baselines"][name])[key] for r in rows]
        return float(np.mean(values))

    keys = (
        "fuel_priced_kg_thm",
        "fuel_priced_equal_risk_kg_thm",
        "fuel_priced_trims_kg_thm",
        "fuel_priced_trims_equal_risk_kg_thm",
        "fuel_rate_kg_thm",
        "fuel_rate_equal_risk_kg_thm",
        "fuel_cost_equal_risk_usd_thm",
        "coke_rate_kg_thm",
        "pci_rate_kg_thm",
        "blast_temp_mean_c",
        "steam_mean_g_nm3",
        "dip_std_c",
        "cold_dips_pct",
        "moves_per_day",
    )
    out: dict[str, Any] = {
        name: {k: side(name, k) for k in keys} for name in ("agent", "pi", "rule")
    }
    out["forecast"] = forecast
    out["abnormal_demo_runs"] = {
        "events": sum(r["abnormal"]["events"] for r in rows),
        "detected": sum(r["abnormal"]["detected"] for r in rows),
        "censored": sum(r["abnormal"]["censored"] for r in rows),
    }
    out["abnormal_heldout"] = detector
    out["demo_s"] = float(np.mean([r["runtime_s"] for r in rows]))
    out["latency_us"] = float(np.mean([r["model_latency_910b2_us"] for r in rows]))
    a, pi, rule = out["agent"], out["pi"], out["rule"]
    per_seed = [
        r["baselines"]["pi"]["fuel_priced_kg_thm"] - r["agent"]["fuel_priced_kg_thm"] for r in rows
    ]
    saving = pi["fuel_priced_kg_thm"] - a["fuel_priced_kg_thm"]
    saving_rule = rule["fuel_priced_kg_thm"] - a["fuel_priced_kg_thm"]
    corrected = pi["fuel_priced_equal_risk_kg_thm"] - a["fuel_priced_equal_risk_kg_thm"]
    trims = pi["fuel_priced_trims_equal_risk_kg_thm"] - a["fuel_priced_trims_equal_risk_kg_thm"]
    trims_run = pi["fuel_priced_trims_kg_thm"] - a["fuel_priced_trims_kg_thm"]
    scored = {
        name: [r.hmt_c for t in traces for r in t[name].readings if r.dip and r.time_h > WARMUP_H]
        for name in ("agent", "pi", "rule")
    }
    cold_dips = {name: sum(d < HMT_BAND[0] for d in v) for name, v in scored.items()}
    dips = {name: len(v) for name, v in scored.items()}
    cold_pct = {name: 100 * cold_dips[name] / max(dips[name], 1) for name in dips}
    safer = cold_pct["agent"] <= cold_pct["pi"]
    mass = pi["fuel_rate_kg_thm"] - a["fuel_rate_kg_thm"]
    cost = pi["fuel_cost_equal_risk_usd_thm"] - a["fuel_cost_equal_risk_usd_thm"]
    out["saving_vs_pi_kg_thm"], out["saving_vs_rule_kg_thm"] = saving, saving_rule
    out["saving_vs_pi_equal_risk_kg_thm"] = corrected
    out["saving_vs_pi_trims_equal_risk_kg_thm"] = trims
    out["cold_dips"], out["dips"] = cold_dips, dips
    ratio = forecast["hmt_mae_c"] / forecast["persistence_hmt_mae_c"]
    lead = detector["median_lead_min"]

    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    table(
        f"Steel: {hours:g} h closed loops, mean of seeds {SEEDS[0]}-{SEEDS[-1]}",
        [
            ("fuel priced, rule (kg/tHM coke-eq.)", f"{rule['fuel_priced_kg_thm']:.2f}", ""),
            ("fuel priced, tuned PI", f"{pi['fuel_priced_kg_thm']:.2f}", ""),
            (
                "fuel priced, agent",
                f"{a['fuel_priced_kg_thm']:.2f}",
                f"{saving:+.2f} kg/tHM vs PI as run (per seed "
                f"{', '.join(f'{v:+.1f}' for v in per_seed)}), {saving_rule:+.2f} vs rule; "
                + (
                    f"fewer or as many cold dips as the PI: at no more risk; >= 1.5: "
                    f"{met(saving >= 1.5)}"
                    if safer
                    else "MORE cold dips than the PI: not at equal risk"
                ),
            ),
            (
                "  saved vs PI, corrected to equal risk",
                f"{corrected:+.2f} kg/tHM",
                "each run's q = mean - 1.96 std of its dips put at 1,490 C (coal sensitivity); "
                f"target >= 1.5: {met(corrected >= 1.5)}",
            ),
            (
                "  same, hot blast + steam counted as coal",
                f"{trims:+.2f} kg/tHM",
                f"as run {trims_run:+.2f}; the heat of each run's mean hot blast and steam "
                "away from 1,200 C / 3 g/Nm3, as coal (not a target; docs/steel.md)",
            ),
            ("  coke + coal by mass, saved vs PI", f"{mass:+.2f} kg/tHM", "not priced"),
            (
                "coke / coal, agent | PI",
                f"{a['coke_rate_kg_thm']:.1f} / {a['pci_rate_kg_thm']:.1f}",
                f"{pi['coke_rate_kg_thm']:.1f} / {pi['pci_rate_kg_thm']:.1f} kg/tHM",
            ),
            (
                "hot blast / steam, agent | PI",
                f"{a['blast_temp_mean_c']:.0f} C / {a['steam_mean_g_nm3']:.1f}",
                f"{pi['blast_temp_mean_c']:.0f} C / {pi['steam_mean_g_nm3']:.1f} g/Nm3 (not fuel; "
                "counted as coal in the row above)",
            ),
            ("fuel cost, agent vs PI", f"{cost:+.2f} USD/tHM", "saved, corrected to equal q"),
            (
                "dip std, agent / PI / rule",
                f"{a['dip_std_c']:.2f} / {pi['dip_std_c']:.2f} / {rule['dip_std_c']:.2f} C",
                "readings: 3 C thermocouple + 2.5 C cast-to-cast included",
            ),
            (
                "cold dips (< 1,490 C), agent / PI / rule",
                f"{cold_pct['agent']:.1f} / {cold_pct['pi']:.1f} / {cold_pct['rule']:.1f} %",
                f"{cold_dips['agent']} / {cold_dips['pi']} / {cold_dips['rule']} of "
                f"{dips['agent']} / {dips['pi']} / {dips['rule']} dips; no worse than PI: "
                f"{met(safer)}",
            ),
            (
                "moves per day, agent / PI / rule",
                f"{a['moves_per_day']:.1f} / {pi['moves_per_day']:.1f} / "
                f"{rule['moves_per_day']:.1f}",
                f"no worse than PI: {met(a['moves_per_day'] <= pi['moves_per_day'])}",
            ),
            (
                "HMT MAE 2 h ahead, on dips",
                f"{forecast['hmt_mae_c']:.2f} C",
                f"last-hour persistence {forecast['persistence_hmt_mae_c']:.2f} C "
                f"({ratio:.2f}x); target <= 0.8x: {met(ratio <= 0.8)} "
                f"({forecast['dips_scored']} dips, all runs)",
            ),
            (
                "trend where HMT moves > 5 C in 2 h",
                f"{forecast['trend_hit_rate_moving']:.3f}",
                f"always-stable {forecast['stable_hit_rate_moving']:.3f} "
                f"({forecast['moving_samples']} samples); beats it: "
                f"{met(forecast['trend_hit_rate_moving'] > forecast['stable_hit_rate_moving'])}",
            ),
            (
                "abnormal states, held-out campaigns",
                f"{detector['detected']}/{detector['events']} detected",
                f"median lead {lead if lead is None else f'{lead:.0f}'} min before the alarm "
                f"limit, {detector['false_alarms_per_day']:.2f} false alarms/day; target >= 30 "
                f"min and <= 1/day: "
                f"{met(lead is not None and lead >= 30 and detector['false_alarms_per_day'] <= 1)}"
                f" ({len(DETECTOR_SEEDS)} campaigns, {detector_s:.0f} s; "
                f"{detector['censored']} cut off by the campaign's end, not scored)",
            ),
            (
                "abnormal states in the demo runs",
                f"{out['abnormal_demo_runs']['detected']}/{out['abnormal_demo_runs']['events']}",
                "detected (events after the 6 h warm-up, all three runs; "
                f"{out['abnormal_demo_runs']['censored']} cut off by the run's end with neither "
                "flag nor alarm yet, not scored)",
            ),
            (
                f"{hours:g} h demo (three loops, agent with approvals)",
                f"{out['demo_s']:.1f} s",
                f"target < 60 s: {met(out['demo_s'] < 60)}",
            ),
            ("bf_thermal on a simulated 910B2", f"{out['latency_us']:.1f} us", "roofline"),
        ],
    )
    return out


if __name__ == "__main__":
    run()
