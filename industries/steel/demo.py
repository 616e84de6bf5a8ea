"""`agentarts demo steel`: the closed loop on the simulator, the agent against two baselines.

Three runs see the same furnace (same seed: same disturbances, faults and measurement errors):
the operator's rule, a tuned PI controller on the dips, and the agent (the LangGraph agent
with its approval gate, every 10 minutes after a 6 h warm-up). Scoring: scoring.py.

``--hours``: more than 8 (6 h of history + 2 h to score a forecast) and at most 720; default 72.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import UsageError

__all__ = ["HOURS_MAX", "HOURS_MIN", "run_demo", "simulate"]

HOURS_MIN, HOURS_MAX = 8.0, 720.0
HOURS_RULE = f"--hours must be more than {HOURS_MIN:g} and at most {HOURS_MAX:g}"
EQUAL_RISK = (
    "each run's q = mean - 1.96 x std of its dips (after the 6 h warm-up) put at 1,490 C, the "
    "difference counted as coal (1.53 C per kg/tHM); as-run savings are at no more risk when "
    "the agent's cold dips are no more than the baseline's"
)


def _decide(pending: dict[str, Any], auto: bool) -> tuple[bool, str, str]:
    if auto:
        return True, "auto-approve", ""
    import typer

    proposal = pending.get("proposal", {})
    moves = ", ".join(f"{k} -> {v}" for k, v in proposal.items() if k != "reason" and v is not None)
    typer.echo(f"\nApproval needed: {moves}\n  {pending.get('summary', '')}", err=True)
    ok = typer.confirm("Approve?", default=True, err=True)
    reason = "" if ok else typer.prompt("Reason", default="operator judgement", err=True)
    return ok, "operator", reason


def check_hours(hours: float) -> None:
    if not HOURS_MIN < hours <= HOURS_MAX or hours != hours:
        raise UsageError(HOURS_RULE)


def simulate(
    seed: int = 7,
    hours: float = 72.0,
    auto_approve: bool = True,
    progress: Callable[[int], None] | None = None,
    database_url: str | None = None,
    decide: Callable[[dict[str, Any]], tuple[bool, str, str]] | None = None,
) -> dict[str, Any]:
    """Run the three loops; returns the summary (and the traces under '_traces')."""
    from agentarts.industries.steel import agent as steel_agent
    from agentarts.industries.steel.control import BaselineRule, PIController
    from agentarts.industries.steel.loop import LoopResult, Thermal, changes, run_loop
    from agentarts.industries.steel.plant import plant
    from agentarts.industries.steel.scoring import (
        abnormal_scores,
        detector_flags,
        forecast_scores,
        summarise,
    )
    from agentarts.industries.steel.simulator import STATES, BlastFurnace

    check_hours(hours)
    decide = decide or (lambda pending: _decide(pending, auto_approve))
    started = time.perf_counter()
    rule = run_loop(seed, hours, lambda r, sp, w, c=BaselineRule(): c(r, sp))
    pi = run_loop(seed, hours, lambda r, sp, w, c=PIController(): c(r, sp))
    tmp = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="agentarts-steel-")
        database_url = f"sqlite:///{tmp.name}/demo.db"
    agent = steel_agent.Agent(steel_agent.builder, name="steel-demo", database_url=database_url)
    plant.connect_simulator(BlastFurnace(seed))
    run = LoopResult()
    device_us: list[float] = []
    thread = f"steel-{seed}"
    try:
        for step in range(int(hours * 6)):
            before = plant.setpoints
            run.readings.append(plant.advance())
            if len(plant.window) == plant.window.maxlen:
                result = agent.run({"source": "live"}, thread_id=thread)
                if result.status == "waiting_approval":
                    run.approvals += 1
                    ok, by, reason = decide(result.pending)
                    result = (
                        agent.approve(thread, by=by)
                        if ok
                        else agent.reject(thread, reason=reason, by=by)
                    )
                    run.rejections += not ok
                if result.status == "failed":
                    raise RuntimeError(f"agent run failed at step {step}: {result.error}")
                confirmed = result.output["diagnosis"]["confirmed"]
                run.diagnoses[step] = STATES.index(confirmed)
                last = steel_agent.predict_thermal.last_result
                if last is not None:
                    device_us.append(last.device_time_us)
            moved = changes(before, plant.setpoints)
            if moved:
                run.actions.append((run.readings[-1].time_h, moved))
            if progress is not None:
                progress(step)
    finally:
        agent.close()
        if tmp is not None:
            tmp.cleanup()
    thermal = Thermal(steel_agent.predict_thermal.runtime)
    forecast = forecast_scores([rule.readings, pi.readings, run.readings], thermal.forecast)
    threshold = steel_agent.detector_threshold()
    abnormal = [
        abnormal_scores(loop.readings, detector_flags(loop.readings, thermal.classify, threshold))
        for loop in (rule, pi)
    ]
    abnormal.append(abnormal_scores(run.readings, run.diagnoses))
    leads = [lead for a in abnormal for lead in a["leads_min"]]
    sides = {
        "agent": summarise(run.readings, len(run.actions), run.approvals),
        "rule": summarise(rule.readings, len(rule.actions)),
        "pi": summarise(pi.readings, len(pi.actions)),
    }
    summary: dict[str, Any] = {
        "seed": seed,
        "hours": hours,
        "agent": sides["agent"],
        "baselines": {"rule": sides["rule"], "pi": sides["pi"]},
        "savings_equal_risk": {
            f"vs_{name}": {
                "priced_kg_thm": _diff(
                    sides[name], sides["agent"], "fuel_priced_equal_risk_kg_thm"
                ),
                "fuel_kg_thm": _diff(sides[name], sides["agent"], "fuel_rate_equal_risk_kg_thm"),
                "cost_usd_thm": _diff(sides[name], sides["agent"], "fuel_cost_equal_risk_usd_thm"),
                "priced_trims_kg_thm": _diff(
                    sides[name], sides["agent"], "fuel_priced_trims_equal_risk_kg_thm"
                ),
            }
            for name in ("rule", "pi")
        },
        "savings_as_run": {
            f"vs_{name}": {
                "priced_kg_thm": _diff(sides[name], sides["agent"], "fuel_priced_kg_thm"),
                "priced_trims_kg_thm": _diff(
                    sides[name], sides["agent"], "fuel_priced_trims_kg_thm"
                ),
                "agent_cold_dips_no_more": _no_more(sides["agent"], sides[name]),
            }
            for name in ("rule", "pi")
        },
        "equal_risk_estimator": EQUAL_RISK,
        "forecast": forecast,
        "abnormal": {
            "events": sum(a["events"] for a in abnormal),
            "detected": sum(a["detected"] for a in abnormal),
            "censored": sum(a["censored"] for a in abnormal),
            "median_lead_min": round(float(np.median(leads)), 1) if leads else None,
            "false_alarms_per_day": round(
                float(np.mean([a["false_alarms_per_day"] for a in abnormal])), 2
            ),
            "runs": "rule, pi and agent runs pooled",
        },
        "approvals_requested": run.approvals,
        "rejections": run.rejections,
        "model_latency_910b2_us": round(float(np.median(device_us)), 2) if device_us else None,
        "runtime_s": round(time.perf_counter() - started, 2),
        "_traces": {"agent": run, "rule": rule, "pi": pi},
    }
    return summary


def _no_more(agent: dict[str, Any], base: dict[str, Any]) -> bool | None:
    """Whether the agent's share of cold dips is no larger than the baseline's."""
    if agent.get("cold_dips_pct") is None or base.get("cold_dips_pct") is None:
        return None
    return bool(agent["cold_dips_pct"] <= base["cold_dips_pct"])


def _diff(base: dict[str, Any], agent: dict[str, Any], key: str) -> float | None:
    if base.get(key) is None or agent.get(key) is None:
        return None
    return round(base[key] - agent[key], 2)


def run_demo(
    *,
    seed: int = 7,
    hours: float = 72.0,
    auto_approve: bool = False,
    as_json: bool = False,
    plot: Path | None = None,
) -> dict[str, Any]:
    """Entry point of `agentarts demo steel` (``hours``: more than 8, at most 720)."""
    check_hours(hours)
    if not auto_approve and not sys.stdin.isatty():
        raise UsageError("not a terminal: pass --auto-approve to approve every gate")
    if plot is not None and plot.suffix.lower() != ".png":
        raise UsageError("--plot must name a .png file")
    if plot is not None and not (plot.parent if str(plot.parent) else Path(".")).is_dir():
        raise UsageError(f"--plot {plot}: folder {plot.parent} does not exist")
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    err = Console(stderr=True)
    with Progress(
        TextColumn("[bold]steel demo[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} x 10 min"),
        TimeRemainingColumn(),
        console=err,
        disable=as_json,
        transient=True,
    ) as bar:
        task = bar.add_task(f"seed {seed}", total=int(hours * 6))

        def decide(pending: dict[str, Any]) -> tuple[bool, str, str]:
            if auto_approve:
                return True, "auto-approve", ""
            bar.stop()  # the prompt must not be drawn over by the bar
            try:
                return _decide(pending, False)
            finally:
                bar.start()

        summary = simulate(
            seed,
            hours,
            auto_approve,
            progress=lambda step: bar.update(task, completed=step + 1),
            decide=decide,
        )
    if plot is not None:
        from agentarts.industries.steel.report import plot_summary

        plot_summary(summary, plot)
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    if as_json:
        sys.stdout.write(json.dumps(public, indent=2) + "\n")
        return public
    from agentarts.industries.steel.report import print_summary

    print_summary(public, plot)
    return public
