"""The demo's table and plot: every figure beside the baselines it must beat (scoring.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["fmt", "plot_summary", "print_summary", "summary_figure"]


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
        ("  corrected to equal risk on the dips (*)", "fuel_priced_equal_risk_kg_thm"),
        ("  same, hot blast + steam counted as coal", "fuel_priced_trims_equal_risk_kg_thm"),
        ("coke + coal by mass (kg/tHM)", "fuel_rate_kg_thm"),
        ("coke / coal (kg/tHM)", ("coke_rate_kg_thm", "pci_rate_kg_thm")),
        ("hot blast (C) / steam (g/Nm3), mean", ("blast_temp_mean_c", "steam_mean_g_nm3")),
        ("dips below 1,490 C (%)", "cold_dips_pct"),
        ("dips: mean / std (C)", ("dip_mean_c", "dip_std_c")),
        ("setpoint moves per day", "moves_per_day"),
        ("approvals per day", "approvals_per_day"),
    )
    for label, key in rows:
        if isinstance(key, tuple):
            cells = [f"{fmt(x[key[0]])} / {fmt(x[key[1]])}" for x in (a, pi, rule)]
        elif key == "approvals_per_day":  # the baselines act without an approval gate
            cells = [fmt(a.get(key)), "- (no gate)", "- (no gate)"]
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
    cut = ab.get("censored") or 0
    censored = f" (+{cut} cut off by the end of the run, not scored)" if cut else ""
    out.print(
        f"Abnormal states: {ab['events']} events{censored}, {ab['detected']} detected, median lead "
        f"{fmt(ab['median_lead_min'], ' min', 'no event reached its alarm limit')} before the "
        f"fixed alarm limit, {ab['false_alarms_per_day']} false alarms/day"
    )
    sv, run = s["savings_equal_risk"]["vs_pi"], s["savings_as_run"]["vs_pi"]
    risk = {
        True: "no more cold dips than the PI: the as-run saving is at no more risk",
        False: "MORE cold dips than the PI: only the corrected figures are at equal risk",
        None: "no dips to compare the risk on",
    }[run["agent_cold_dips_no_more"]]
    out.print(
        f"Priced fuel (coke + coal, kg/tHM coke-eq.) saved vs the tuned PI: "
        f"{fmt(run['priced_kg_thm'])} as run ({risk}); {fmt(sv['priced_kg_thm'])} at equal "
        f"risk (*), {fmt(sv['priced_trims_kg_thm'])} with hot blast and steam counted as "
        f"coal; vs the rule {fmt(s['savings_equal_risk']['vs_rule']['priced_kg_thm'])} at "
        "equal risk."
    )
    out.print(f"(*) {s['equal_risk_estimator']}.")
    out.print(
        f"One {s['hours']:g} h campaign (seed {s['seed']}): one draw of the furnace's "
        "disturbances; quote the five-seed means of `python -m bench steel`. "
        f"{s['approvals_requested']} approvals requested, {s['rejections']} rejected; "
        f"bf_thermal on a simulated 910B2: {fmt(s['model_latency_910b2_us'], ' us')} "
        f"(roofline estimate); {s['runtime_s']} s"
    )
    if plot is not None:
        out.print(f"plot: {plot}")


def plot_summary(summary: dict[str, Any], path: Path) -> None:
    """Dips and true HMT beside each controller's aim, [Si], priced fuel, the two trims (hot
    blast and steam) and every setpoint move of the three runs; the warm-up (not scored)
    shaded."""
    from agentarts._plotting import save

    save(summary_figure(summary), path, dpi=110)


def summary_figure(summary: dict[str, Any]) -> Any:
    """The figure ``plot_summary`` saves (a matplotlib Figure; the caller closes it)."""
    from agentarts._plotting import pyplot

    plt = pyplot()

    from agentarts.industries.steel.control import AIMS, HMT_BAND, fuel_priced
    from agentarts.industries.steel.scoring import WARMUP_H
    from agentarts.industries.steel.simulator import Setpoints

    traces = summary["_traces"]
    sides = {"agent": summary["agent"], **summary["baselines"]}
    fig, axes = plt.subplots(6, 1, figsize=(11, 14.5), sharex=True)
    colours = {"rule": "tab:gray", "pi": "tab:orange", "agent": "tab:blue"}
    names = {"rule": "operator rule", "pi": "tuned PI", "agent": "agent (MPC)"}
    for row, (name, colour) in enumerate(colours.items()):
        rs = traces[name].readings
        t = [r.time_h for r in rs]
        dips = [(r.time_h, r.hmt_c) for r in rs if r.dip]
        label = f"{names[name]}: dips (aim {AIMS[name]:,.0f} C)"
        axes[0].plot(t, [r.true_hmt_c for r in rs], color=colour, lw=0.6, alpha=0.5)
        axes[0].plot(*zip(*dips, strict=True), "o", ms=3, color=colour, label=label)
        axes[0].axhline(AIMS[name], color=colour, lw=0.8, ls="--")
        axes[1].plot(t, [r.si_pct for r in rs], color=colour, lw=0.8)
        axes[2].plot(
            t, [fuel_priced(r.coke_rate_kg_thm, r.pci_rate_kg_thm) for r in rs], color=colour
        )
        axes[3].plot(t, [r.blast_temp_c for r in rs], color=colour, lw=1.0)
        axes[4].plot(t, [r.steam_g_nm3 for r in rs], color=colour, lw=1.0)
        moves = [at for at, _ in traces[name].actions]
        axes[5].plot(moves, [row] * len(moves), "|", ms=12, mew=1.5, color=colour)
    axes[0].axhspan(*HMT_BAND, color="tab:green", alpha=0.08, label="HMT band 1,490-1,510 C")
    axes[0].axhline(HMT_BAND[0], color="tab:red", lw=0.8, label="cold limit 1,490 C")
    for ax in axes:
        ax.axvspan(0, WARMUP_H, color="0.85", alpha=0.5, lw=0)
    axes[0].text(0.2, 0.03, "warm-up, not scored", transform=axes[0].get_xaxis_transform())
    axes[0].plot([], [], color="0.4", lw=0.6, label="lines: true HMT (not measured)")
    axes[0].set_ylabel("HMT (C)")
    axes[1].set_ylabel("[Si] lab (wt%)")
    axes[2].set_ylabel("fuel priced\n(kg/tHM coke-eq.)")
    # the trims: hotter blast brings heat (so less coal), steam takes heat (flame temperature)
    usual = Setpoints()
    for ax, value, unit, text in (
        (axes[3], usual.blast_temp_c, 10.0, f"usual {usual.blast_temp_c:,.0f} C"),
        (axes[4], usual.steam_g_nm3, 0.5, f"usual {usual.steam_g_nm3:g} g/Nm3"),
    ):
        ax.axhline(value, color="0.3", lw=0.8, ls=":", zorder=0)
        ax.text(0.2, value, text, fontsize=7, color="0.3", va="bottom")
        low, high = ax.get_ylim()
        pad = max(0.08 * (high - low), unit)
        ax.set_ylim(min(low, value - pad), max(high, value + pad))
    axes[3].set_ylabel("hot blast temp.\n(C; brings heat)")
    axes[4].set_ylabel("steam in blast\n(g/Nm3; takes heat)")
    axes[5].set_yticks(
        range(3),
        [f"{names[n]}\n{sides[n]['moves_per_day']:.1f} moves/day" for n in colours],
        fontsize=8,
    )
    axes[5].set_ylim(-0.6, 2.6)
    axes[5].set_ylabel("setpoint moves\n(any lever)")
    axes[5].set_xlabel("time (h)")
    low, high = axes[0].get_ylim()
    axes[0].set_ylim(low, high + 0.35 * (high - low))  # room for the legend above the data
    axes[0].legend(loc="upper right", fontsize=7, ncol=2)
    fig.suptitle(_plot_title(summary), fontsize=9)
    fig.tight_layout()
    return fig


def _plot_title(summary: dict[str, Any]) -> str:
    a, pi, rule = summary["agent"], summary["baselines"]["pi"], summary["baselines"]["rule"]
    f = summary["forecast"]
    saved = summary["savings_equal_risk"]["vs_pi"]
    as_run = _diff(pi, a, "fuel_priced_kg_thm")
    return (
        f"Blast furnace, seed {summary['seed']}, {summary['hours']:g} h: one campaign; quote "
        "the benchmark's five-seed means\n"
        f"priced fuel as run (kg/tHM coke-eq.): agent {fmt(a['fuel_priced_kg_thm'])}, tuned PI "
        f"{fmt(pi['fuel_priced_kg_thm'])}, rule {fmt(rule['fuel_priced_kg_thm'])}; dips below "
        f"1,490 C: agent {fmt(a['cold_dips_pct'])}, PI {fmt(pi['cold_dips_pct'])}, rule "
        f"{fmt(rule['cold_dips_pct'])} %\n"
        f"saved vs PI: {fmt(as_run)} as run, {fmt(saved['priced_kg_thm'])} at equal risk on the "
        f"dips (mean - 1.96 sd put at 1,490 C), {fmt(saved['priced_trims_kg_thm'])} with hot "
        "blast and steam counted as coal\n"
        f"HMT 2 h ahead: MAE {fmt(f['hmt_mae_c'])} C vs last-hour persistence "
        f"{fmt(f['persistence_hmt_mae_c'])} C on {f['dips_scored']} dips"
    )


def _diff(base: dict[str, Any], agent: dict[str, Any], key: str) -> float | None:
    if base.get(key) is None or agent.get(key) is None:
        return None
    return round(base[key] - agent[key], 2)
