"""`agentarts demo steel`: the closed loop on the simulator, agent vs the baseline operator rule.

Both runs see the same furnace (same seed: same drifts, fault triggers and noise). The agent
runs every 10 minutes after a 6 h warm-up (the models read 6 h of history); so does the rule.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import UsageError

__all__ = ["run_demo", "simulate"]


def _decide(pending: dict[str, Any], auto: bool) -> tuple[bool, str, str]:
    if auto:
        return True, "auto-approve", ""
    import typer

    proposal = pending.get("proposal", {})
    typer.echo(
        f"\nApproval needed: set PCI to {proposal.get('pci_rate_kg_thm')} kg/tHM "
        f"({proposal.get('reason', '')})",
        err=True,
    )
    ok = typer.confirm("Approve?", default=True, err=True)
    reason = "" if ok else typer.prompt("Reason", default="operator judgement", err=True)
    return ok, "operator", reason


def simulate(
    seed: int = 7,
    hours: float = 72.0,
    auto_approve: bool = True,
    progress: Any = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Run both loops; returns the summary (and the traces under '_traces')."""
    from agentarts.industries.steel import agent as steel_agent
    from agentarts.industries.steel.control import BaselineRule
    from agentarts.industries.steel.features import HORIZON, WINDOW
    from agentarts.industries.steel.loop import run_loop, summarise
    from agentarts.industries.steel.plant import plant
    from agentarts.industries.steel.simulator import BlastFurnace

    steps = int(hours * 6)
    if steps <= WINDOW + HORIZON:
        raise UsageError(f"--hours must be more than {(WINDOW + HORIZON) / 6:g}")
    started = time.perf_counter()
    baseline = run_loop(seed, hours, lambda r, sp, w, rule=BaselineRule(): rule(r, sp))
    tmp = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="agentarts-steel-")
        database_url = f"sqlite:///{tmp.name}/demo.db"
    agent = steel_agent.Agent(steel_agent.builder, name="steel-demo", database_url=database_url)
    furnace = BlastFurnace(seed)
    plant.connect_simulator(furnace)
    plant.steps_since_move = 99
    readings, predictions, actions = [], {}, []
    approvals = rejections = 0
    device_us: list[float] = []
    thread = f"steel-{seed}"
    try:
        for step in range(steps):
            readings.append(plant.advance())
            if len(plant.window) == WINDOW:
                result = agent.run({"source": "live"}, thread_id=thread)
                if result.status == "waiting_approval":
                    approvals += 1
                    ok, by, reason = _decide(result.pending, auto_approve)
                    result = (
                        agent.approve(thread, by=by)
                        if ok
                        else agent.reject(thread, reason=reason, by=by)
                    )
                    rejections += not ok
                if result.status == "failed":
                    raise RuntimeError(f"agent run failed at step {step}: {result.error}")
                out = result.output
                predictions[step] = (
                    out["forecast"]["hmt_2h_c"],
                    out["forecast"]["si_2h_pct"],
                    out["forecast"]["trend"],
                )
                if out.get("applied"):
                    actions.append(
                        (
                            readings[-1].time_h,
                            out["applied"]["pci_rate_kg_thm"]
                            - out["applied"]["previous_pci_rate_kg_thm"],
                        )
                    )
                last = steel_agent.predict_thermal.last_result
                if last is not None:
                    device_us.append(last.device_time_us)
            if progress is not None:
                progress(step)
    finally:
        agent.close()
        if tmp is not None:
            tmp.cleanup()
    from agentarts.industries.steel.loop import LoopResult

    agent_loop = LoopResult(readings=readings, actions=actions)
    accuracy = _forecast_accuracy(readings, predictions, baseline.readings)
    summary = {
        "seed": seed,
        "hours": hours,
        **accuracy,
        "agent": summarise(agent_loop),
        "baseline": summarise(baseline),
        "approvals_requested": approvals,
        "rejections": rejections,
        "model_latency_910b2_us": round(float(np.median(device_us)), 2) if device_us else None,
        "runtime_s": round(time.perf_counter() - started, 2),
    }
    summary["fuel_saving_kg_thm"] = round(
        summary["baseline"]["fuel_rate_kg_thm"] - summary["agent"]["fuel_rate_kg_thm"], 2
    )
    summary["_traces"] = {"agent": agent_loop, "baseline": baseline}
    return summary


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _forecast_accuracy(
    agent_readings: list[Any], predictions: dict[int, Any], baseline_readings: list[Any]
) -> dict[str, Any]:
    """Forecast accuracy where the forecast's question applies: at samples after which the
    setpoints stayed as they were for the 2 h horizon (the forecaster predicts the furnace under
    the setpoints in force), pooled over both runs; the baseline run's forecasts are computed
    here in one batch. Persistence (HMT now = HMT in 2 h) is scored on the same samples."""
    from agentarts.industries.steel.features import HORIZON, TREND_CLASSES, WINDOW, trend_class
    from agentarts.industries.steel.loop import Thermal

    def held(readings: list[Any], t: int) -> bool:
        now = readings[t].tags()[8:]
        return all(readings[k].tags()[8:] == now for k in range(t + 1, t + HORIZON + 1))

    samples = [
        (agent_readings, t, hmt, si, trend)
        for t, (hmt, si, trend) in predictions.items()
        if t + HORIZON < len(agent_readings) and held(agent_readings, t)
    ]
    steps = [
        t for t in range(WINDOW - 1, len(baseline_readings) - HORIZON) if held(baseline_readings, t)
    ]
    if steps:
        thermal = Thermal()
        x = np.array(
            [[r.tags() for r in baseline_readings[t - WINDOW + 1 : t + 1]] for t in steps],
            np.float32,
        )
        for start in range(0, len(steps), 64):
            batch = ((x[start : start + 64] - thermal.mean) / thermal.std).astype(np.float32)
            out = thermal.runtime.infer("bf_thermal", {"x": batch})
            y = out["y"] * thermal.y_std + thermal.y_mean
            for i, t in enumerate(steps[start : start + 64]):
                samples.append(
                    (
                        baseline_readings,
                        t,
                        float(y[i, 0]),
                        float(y[i, 1]),
                        TREND_CLASSES[int(out["trend"][i].argmax())],
                    )
                )
    hits, err_h, err_s, err_p, err_ps = [], [], [], [], []
    for readings, t, hmt, si, trend in samples:
        later, now = readings[t + HORIZON], readings[t]
        hits.append(TREND_CLASSES.index(trend) == trend_class(later.true_hmt_c - now.true_hmt_c))
        err_h.append(abs(hmt - later.hmt_c))
        err_s.append(abs(si - later.si_pct))
        err_p.append(abs(now.hmt_c - later.hmt_c))
        err_ps.append(abs(now.si_pct - later.si_pct))

    def mean(values: list[float], digits: int) -> float | None:
        # a short run may have no 2 h stretch without a move: nothing to score, not NaN
        return round(float(np.mean(values)), digits) if values else None

    return {
        "trend_hit_rate": mean(hits, 4),
        "hmt_mae_c": mean(err_h, 3),
        "si_mae_pct": mean(err_s, 4),
        "persistence_hmt_mae_c": mean(err_p, 3),
        "persistence_si_mae_pct": mean(err_ps, 4),
        "forecast_samples": len(samples),
    }


def _plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = summary["_traces"]
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    for name, colour in (("baseline", "tab:gray"), ("agent", "tab:blue")):
        rs = traces[name].readings
        t = [r.time_h for r in rs]
        axes[0].plot(t, [r.hmt_c for r in rs], color=colour, lw=0.8, label=name)
        axes[1].plot(t, [r.si_pct for r in rs], color=colour, lw=0.8)
        axes[2].plot(t, [r.coke_rate_kg_thm + r.pci_rate_kg_thm for r in rs], color=colour, lw=1)
        for at, delta in traces[name].actions:
            axes[3].bar(at, delta, width=0.15, color=colour, alpha=0.8)
    axes[0].axhspan(1490, 1510, color="tab:green", alpha=0.08, label="target band")
    axes[0].set_ylabel("HMT (C)")
    axes[1].set_ylabel("[Si] (wt%)")
    axes[2].set_ylabel("fuel rate (kg/tHM)")
    axes[3].set_ylabel("PCI move (kg/tHM)")
    axes[3].set_xlabel("time (h)")
    axes[0].legend(loc="upper right")
    a, b = summary["agent"], summary["baseline"]
    fig.suptitle(
        f"Blast furnace, seed {summary['seed']}: agent {a['fuel_rate_kg_thm']} vs "
        f"baseline {b['fuel_rate_kg_thm']} kg/tHM fuel; HMT std {a['hmt_std_c']} vs "
        f"{b['hmt_std_c']} C"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(
    *,
    seed: int = 7,
    hours: float = 72.0,
    auto_approve: bool = False,
    as_json: bool = False,
    plot: Path | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Entry point of `agentarts demo steel`."""
    if not auto_approve and not sys.stdin.isatty():
        raise UsageError("not a terminal: pass --auto-approve to approve every gate")
    if hours <= 0 or hours > 24 * 30:
        raise UsageError("--hours must be between 0 and 720")
    if plot is not None and plot.suffix.lower() != ".png":
        raise UsageError("--plot must name a .png file")
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
        summary = simulate(
            seed, hours, auto_approve, progress=lambda step: bar.update(task, completed=step + 1)
        )
    if plot is not None:
        _plot(summary, plot)
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    if as_json:
        sys.stdout.write(json.dumps(public, indent=2) + "\n")
        return public
    _print(public, plot, err)
    return public


def _print(s: dict[str, Any], plot: Path | None, err: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console()
    table = Table(title=f"Blast furnace closed loop: {s['hours']:g} h, seed {s['seed']}")
    for col in ("", "agent", "baseline rule"):
        table.add_column(col)
    a, b = s["agent"], s["baseline"]
    table.add_row("fuel rate (kg/tHM)", str(a["fuel_rate_kg_thm"]), str(b["fuel_rate_kg_thm"]))
    table.add_row("HMT std (C)", str(a["hmt_std_c"]), str(b["hmt_std_c"]))
    table.add_row("HMT mean (C)", str(a["hmt_mean_c"]), str(b["hmt_mean_c"]))
    table.add_row(
        "metal < 1490 C (% of samples)",
        str(a["true_hmt_below_band_pct"]),
        str(b["true_hmt_below_band_pct"]),
    )
    table.add_row(
        "HMT reading < 1490 C (%)", str(a["hmt_below_band_pct"]), str(b["hmt_below_band_pct"])
    )
    table.add_row("setpoint moves", str(a["actions"]), str(b["actions"]))
    out.print(table)
    out.print(
        f"2 h forecast: trend hit rate {_pct(s['trend_hit_rate'])}, HMT MAE "
        f"{s['hmt_mae_c']} C (persistence {s['persistence_hmt_mae_c']} C), [Si] MAE "
        f"{s['si_mae_pct']} wt%; {s['approvals_requested']} approvals requested; model on "
        f"a simulated 910B2: {s['model_latency_910b2_us']} us (roofline estimate); "
        f"{s['runtime_s']} s"
    )
    if plot is not None:
        out.print(f"plot: {plot}")
