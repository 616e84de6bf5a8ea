"""The demo's table and plot: every figure beside the baselines it must beat (scoring.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["fmt", "plot_summary", "print_summary"]


def fmt(value: Any, unit: str = "", why: str = "") -> str:
    """A figure, or "n/a" with the reason it is missing."""
    if value is None:
        return f"n/a ({why})" if why else "n/a"
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return f"{value}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "n/a"


def print_summary(s: dict[str, Any], plot: Path | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console()
    a, rule, pi = s["agent"], s["baselines"]["rule"], s["baselines"]["pi"]
    table = Table(title=f"Blast furnace closed loop: {s['hours']:g} h, seed {s['seed']}")
    for col in ("", "agent (MPC)", "tuned PI", "operator rule"):
        table.add_column(col)
    rows = (
        ("fuel priced as run (kg/tHM coke-eq.)", "fuel_priced_kg_thm"),
        ("fuel priced at equal risk on dips", "fuel_priced_equal_risk_kg_thm"),
        ("coke + coal by mass (kg/tHM)", "fuel_rate_kg_thm"),
        ("coke / coal (kg/tHM)", None),
        ("dips below 1,490 C (%)", "cold_dips_pct"),
        ("dips: mean / std (C)", "dip"),
        ("setpoint moves per day", "moves_per_day"),
        ("approvals per day", "approvals_per_day"),
    )
    for label, key in rows:
        if key is None:
            cells = [
                f"{fmt(x['coke_rate_kg_thm'])} / {fmt(x['pci_rate_kg_thm'])}" for x in (a, pi, rule)
            ]
        elif key == "dip":
            cells = [f"{fmt(x['dip_mean_c'])} / {fmt(x['dip_std_c'])}" for x in (a, pi, rule)]
        else:
            cells = [fmt(x.get(key)) for x in (a, pi, rule)]
        table.add_row(label, *cells)
    out.print(table)
    f, ab = s["forecast"], s["abnormal"]
    short = "no dip 2 h after a forecast in a run this short"
    out.print(
        f"2 h forecast on {f['dips_scored']} dips: HMT MAE {fmt(f['hmt_mae_c'], ' C', short)} "
        f"vs last-hour persistence {fmt(f['persistence_hmt_mae_c'], ' C', short)} "
        f"({_ratio(f['hmt_mae_c'], f['persistence_hmt_mae_c'])}); where HMT moved > 5 C in 2 h "
        f"({f['moving_samples']} samples): trend hit rate "
        f"{fmt(f['trend_hit_rate_moving'], '', 'no such sample')} vs always-stable "
        f"{fmt(f['stable_hit_rate_moving'], '', 'no such sample')}"
    )
    out.print(
        f"Abnormal states: {ab['events']} events, {ab['detected']} detected, median lead "
        f"{fmt(ab['median_lead_min'], ' min', 'no event reached its alarm limit')} before the "
        f"fixed alarm limit, {ab['false_alarms_per_day']} false alarms/day"
    )
    sv = s["savings_equal_risk"]
    out.print(
        f"Fuel (priced) saved at equal risk on dips: {fmt(sv['vs_pi']['priced_kg_thm'])} kg/tHM "
        f"vs the tuned PI, {fmt(sv['vs_rule']['priced_kg_thm'])} vs the rule "
        f"(coke-equivalent money; docs/steel.md); {s['approvals_requested']} "
        f"approvals requested, {s['rejections']} rejected; bf_thermal on a simulated 910B2: "
        f"{fmt(s['model_latency_910b2_us'], ' us')} (roofline estimate); {s['runtime_s']} s"
    )
    if plot is not None:
        out.print(f"plot: {plot}")


def plot_summary(summary: dict[str, Any], path: Path) -> None:
    """Dips and true HMT, [Si], fuel and moves of the three runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = summary["_traces"]
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    colours = {"rule": "tab:gray", "pi": "tab:orange", "agent": "tab:blue"}
    for name, colour in colours.items():
        rs = traces[name].readings
        t = [r.time_h for r in rs]
        dips = [(r.time_h, r.hmt_c) for r in rs if r.dip]
        axes[0].plot(t, [r.true_hmt_c for r in rs], color=colour, lw=0.6, alpha=0.5)
        axes[0].plot(*zip(*dips, strict=True), "o", ms=3, color=colour, label=f"{name} dips")
        axes[1].plot(t, [r.si_pct for r in rs], color=colour, lw=0.8)
        axes[2].plot(t, [r.coke_rate_kg_thm + r.pci_rate_kg_thm for r in rs], color=colour)
        for at, moved in traces[name].actions:
            axes[3].bar(at, moved.get("pci_rate_kg_thm", 0.0), width=0.15, color=colour)
    axes[0].axhspan(1490, 1510, color="tab:green", alpha=0.08, label="band")
    axes[0].set_ylabel("HMT (C): dips, true (line)")
    axes[1].set_ylabel("[Si] lab (wt%)")
    axes[2].set_ylabel("coke + coal (kg/tHM)")
    axes[3].set_ylabel("coal move (kg/tHM)")
    axes[3].set_xlabel("time (h)")
    axes[0].legend(loc="upper right", fontsize=8)
    a, pi = summary["agent"], summary["baselines"]["pi"]
    f = summary["forecast"]
    fig.suptitle(
        f"Blast furnace, seed {summary['seed']}: priced fuel at equal risk (dips) agent "
        f"{fmt(a['fuel_priced_equal_risk_kg_thm'])} vs tuned PI "
        f"{fmt(pi['fuel_priced_equal_risk_kg_thm'])} kg/tHM; cold dips {fmt(a['cold_dips_pct'])} "
        f"vs {fmt(pi['cold_dips_pct'])} %; HMT MAE {fmt(f['hmt_mae_c'])} vs persistence "
        f"{fmt(f['persistence_hmt_mae_c'])} C",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
