"""Weather pack (issue 12): emulator skill and speed on fresh seeds, and the demo's wall time.

Seeds are drawn at run time from 20000+ (training used 100-103, validation 500, the card
9000-9004), or start at ``$BENCH_WEATHER_SEED`` when it is set (to rerun on seeds named in
advance; pick ones no earlier run used): 5 seeds x 5 initial states 3 days apart, each
forecast scored against the coarsened truth at 1, 2, 3 and 5 days (WeatherBench-style RMSE
and ACC of the Z500 and T850 stand-ins) beside persistence, climatology and the numerical
model at operational resolution (32 x 32), all in this run. Speed: wall time of the same
5-day forecast by the emulator through the AgentArts runtime, the numerical model and the
truth model (128 x 128), measured side by side. Targets: emulator RMSE below persistence and
climatology at every lead, ACC >= 0.6 at 3 days, RMSE below the numerical model at 1 and 3
days; >= 100x faster than the truth and faster than the numerical model; a 5-day demo under
60 s.
"""

from __future__ import annotations

import os
import time

from bench._common import table

SEEDS = 5
INITS, SPACING = 5, 3


def _fresh_seeds() -> list[int]:
    given = os.environ.get("BENCH_WEATHER_SEED", "").strip()
    if given:
        if not given.isdigit():
            raise SystemExit(f"BENCH_WEATHER_SEED must be a non-negative integer, got {given!r}")
        return [int(given) + i for i in range(SEEDS)]
    base = 20000 + int.from_bytes(os.urandom(2), "big") * 10
    return [base + i for i in range(SEEDS)]


def run() -> dict[str, object]:
    from agentarts.industries.weather.data import Case, ModelPair
    from agentarts.industries.weather.demo import simulate
    from agentarts.industries.weather.emulator import RuntimeStepper
    from agentarts.industries.weather.verify import LEADS, score_cases, summary
    from agentarts.runtime.local import LocalRuntime

    seeds = _fresh_seeds()
    pair = ModelPair()
    days = (INITS - 1) * SPACING + max(LEADS)
    cases = [Case.generate(pair, seed, days) for seed in seeds]
    with LocalRuntime(include_packs=True) as runtime:
        stepper = RuntimeStepper(runtime)
        stepper.rollout(cases[0].frames[0], 1)  # load before timing
        out = summary(score_cases(pair, cases, stepper.rollout, INITS, SPACING))
    start = time.perf_counter()
    demo = simulate(seeds[0] + 7, 5, auto_approve=True)
    demo["_tmp"].cleanup()
    out["demo_s"] = round(time.perf_counter() - start, 1)
    out["seeds"] = seeds
    e, p, c, n = (out[f"rmse_{m}"] for m in ("emulator", "persistence", "climatology", "numerical"))
    acc = out["acc_emulator"]
    leads = out["leads_days"]
    rows = []
    for i, lead in enumerate(leads):
        rows.append(
            (
                f"Z500 RMSE day {lead} (m2/s2)",
                f"{e[i]:.0f}",
                f"persistence {p[i]:.0f}, climatology {c[i]:.0f}, numerical {n[i]:.0f}; "
                f"ACC {acc[i]:.2f} (numerical {out['acc_numerical'][i]:.2f})",
            )
        )
    for i, lead in enumerate(leads):
        rows.append(
            (
                f"T850 RMSE day {lead} (K)",
                f"{out['rmse_t850_emulator'][i]:.2f}",
                f"persistence {out['rmse_t850_persistence'][i]:.2f}, numerical "
                f"{out['rmse_t850_numerical'][i]:.2f}",
            )
        )
    sec = out["seconds_5day"]
    three = leads.index(3)
    rows += [
        (
            "5-day forecast, emulator",
            f"{sec['emulator'] * 1e3:.1f} ms",
            f"truth {sec['truth']:.2f} s ({out['speedup_vs_truth']:g}x, target >= 100x); "
            f"numerical {sec['numerical'] * 1e3:.1f} ms ({out['speedup_vs_numerical']:g}x)",
        ),
        ("5-day demo", f"{out['demo_s']:.1f} s", "target < 60 s"),
        (
            "targets",
            "",
            f"below persistence+climatology at all leads: "
            f"{all(a < min(b, d) for a, b, d in zip(e, p, c, strict=True))}; ACC(3 d) >= 0.6: "
            f"{acc[three] >= 0.6}; below numerical at 1 and 3 d: "
            f"{e[0] < n[0] and e[three] < n[three]}",
        ),
    ]
    table(
        f"Weather: {out['cases']} forecasts from fresh seeds {seeds[0]}-{seeds[-1]} "
        f"({INITS} starts each) vs the coarsened 128x128 truth",
        rows,
    )
    return out
