"""`agentarts demo weather`: forecasts from fresh initial states, a skill table, site alerts.

1. A fresh truth run for the seed (128 x 128 QG model, spun up from the seed's random state);
   three initial states two days apart, coarsened to the 32 x 32 forecast grid.
2. From each: the ONNX emulator through the runtime, the numerical model at operational
   resolution, persistence and climatology, all scored against the coarsened truth
   (RMSE and ACC of Z500, T850) per lead; wall times of the same forecast side by side.
3. The weather-desk agent on the first initial state: forecast, site rules, CAP drafts, the
   duty forecaster's approval (or --auto-approve), issue; the forecast is written as NetCDF.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agentarts.errors import UsageError

__all__ = ["run_demo", "simulate"]

INITS, SPACING = 3, 2


def _decide(pending: dict[str, Any], auto: bool) -> tuple[bool, str, str]:
    if auto:
        return True, "auto-approve", ""
    import typer

    alerts = pending.get("proposal", {}).get("alerts", [])
    typer.echo(f"\nApproval needed: {pending.get('summary', '')}", err=True)
    for a in alerts:
        headline = a["xml"].split("<headline>", 1)[-1].split("</headline>", 1)[0]
        typer.echo(f"  - [{a['level']}] {headline}", err=True)
    ok = typer.confirm("Issue these alerts?", default=True, err=True)
    reason = "" if ok else typer.prompt("Reason", default="forecaster judgement", err=True)
    return ok, "duty forecaster", reason


def simulate(
    seed: int = 7,
    days: int = 5,
    auto_approve: bool = True,
    workdir: Path | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Run the demo; returns the summary (arrays for the plot under '_plot')."""
    from datetime import UTC, datetime

    from agentarts.industries.weather import agent as weather_agent
    from agentarts.industries.weather.data import Case, ModelPair
    from agentarts.industries.weather.emulator import RuntimeStepper
    from agentarts.industries.weather.fields import diagnose
    from agentarts.industries.weather.ncio import write_forecast
    from agentarts.industries.weather.verify import LEADS, score_cases, summary
    from agentarts.runtime.local import LocalRuntime

    started = time.perf_counter()
    pair = ModelPair()
    case = Case.generate(pair, seed, (INITS - 1) * SPACING + days)
    leads = [lead for lead in LEADS if lead <= days] or [days]
    if days not in leads and days > max(leads):
        leads.append(days)
    tmp = tempfile.TemporaryDirectory(prefix="agentarts-weather-")
    work = Path(workdir) if workdir else Path(tmp.name)
    runtime = LocalRuntime(include_packs=True)
    try:
        stepper = RuntimeStepper(runtime)
        stepper.rollout(case.frames[0], 1)  # load the model before timing
        scores = score_cases(pair, [case], stepper.rollout, INITS, SPACING, leads)
        skill = summary(scores)
        # the analysis is today's 00 UTC, so the alerts' onset follows the time they are sent
        init = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        analysis = work / "analysis.nc"
        write_forecast(analysis, case.frames[:1], [diagnose(case.frames[0])], init, "truth")
        agent = weather_agent.Agent(
            weather_agent.builder,
            name="weather-demo",
            database_url=database_url or f"sqlite:///{work}/runs.db",
            runtime=runtime,
        )
        thread = f"weather-{seed}"
        state = {
            "initial": str(analysis),
            "days": days,
            "out": str(work / "forecast.nc"),
            "outbox": str(work / "outbox"),
        }
        try:
            result = agent.run(state, thread_id=thread)
            approved = None
            if result.status == "waiting_approval":
                ok, by, reason = _decide(result.pending, auto_approve)
                approved = ok
                result = agent.approve(thread, by=by) if ok else agent.reject(thread, reason, by=by)
            if result.status != "completed":
                raise RuntimeError(f"weather agent run {result.status}: {result.error}")
            out = result.output
        finally:
            agent.close()
    finally:
        runtime.close()
    drafts = (out.get("drafts") or {}).get("alerts", [])
    issued = out.get("issued") or {}
    skill.update(
        seed=seed,
        days=days,
        alerts={
            "drafted": len(drafts),
            "approved": len(drafts) if approved else 0,
            "issued": int(issued.get("issued", 0)),
            "list": [
                {
                    "site": a["site"],
                    "code": a["code"],
                    "level": a["level"],
                    "headline": _tag(a["xml"], "headline"),
                    "description": _tag(a["xml"], "description"),
                }
                for a in drafts
            ],
            "files": issued.get("files", []),
        },
        sites=_site_summary(out["extracted"]["sites"]),
        forecast_file=out["forecast"]["path"],
        runtime_s=round(time.perf_counter() - started, 1),
    )
    truth_end = case.frames[days]
    skill["_plot"] = {
        "analysis": case.frames[0],
        "truth": truth_end,
        "forecast": out["forecast"]["path"],
        "extracted": out["extracted"],
        "findings": out["findings"]["findings"],
    }
    skill["_tmp"] = tmp
    return skill


def run_demo(
    *,
    seed: int = 7,
    days: float = 5,
    auto_approve: bool = False,
    as_json: bool = False,
    plot: Path | None = None,
) -> dict[str, Any]:
    """Entry point of `agentarts demo weather`."""
    if not auto_approve and not sys.stdin.isatty():
        raise UsageError("not a terminal: pass --auto-approve to approve the alerts")
    if not 1 <= days <= 10 or days != int(days):  # NaN fails the range test first
        raise UsageError("--days must be a whole number of days from 1 to 10")
    if plot is not None and plot.suffix.lower() != ".png":
        raise UsageError("--plot must name a .png file")
    from rich.console import Console

    err = Console(stderr=True)
    with (
        err.status(f"weather demo: seed {seed}, {int(days)} days", spinner="dots")
        if not (as_json)
        else _Null()
    ):
        summary = simulate(seed, int(days), auto_approve)
    tmp = summary.pop("_tmp")
    try:
        if plot is not None:
            from agentarts.industries.weather.plot import plot_demo

            plot_demo(summary, plot)
    finally:
        tmp.cleanup()
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    public["forecast_file"] = None  # it lived in a temporary folder
    public["alerts"]["files"] = len(public["alerts"]["files"])
    if as_json:
        sys.stdout.write(json.dumps(public, indent=2) + "\n")
        return public
    _print(public, plot)
    return public


def _tag(xml: str, tag: str) -> str:
    return xml.split(f"<{tag}>", 1)[-1].split(f"</{tag}>", 1)[0]


def _site_summary(sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What each site's rules read, in a line: the extreme over forecast days 1..N."""
    rows = []
    for entry in sites:
        site, series = entry["site"], entry["series"]
        if site["kind"] == "rail":
            text = (
                f"max gust {max(series['gust_ms'][1:]):.1f} m/s, max rain "
                f"{max(series['rain_mm_h'][1:]):.2f} mm/h"
            )
        elif site["kind"] == "wind_farm":
            power = series["power_mw"]
            text = (
                f"hub wind {min(series['hub_wind_ms'][1:]):.1f}-"
                f"{max(series['hub_wind_ms'][1:]):.1f} m/s, output now {power[0]:.0f} MW, "
                f"{min(power[1:]):.0f}-{max(power[1:]):.0f} MW ahead"
            )
        else:
            text = (
                f"daily mean {min(series['temp_c'][1:]):.1f} to {max(series['temp_c'][1:]):.1f} C"
                f" (normal {site['climate_mean_c']:g} C), HDD up to {max(series['hdd'][1:]):.1f}"
            )
        rows.append({"site": site["name"], "kind": site["kind"], "forecast": text})
    return rows


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _alert_lines(a: dict[str, Any]) -> list[str]:
    """The alerts as the demo prints them; with none, why (so a quiet run reads as one)."""
    lines = [
        f"Alerts: {a['drafted']} drafted, {a['approved']} approved, {a['issued']} issued (CAP 1.2)"
    ]
    lines += [f"  - [{i['level']}] {i['headline']}: {i['description']}" for i in a["list"]]
    if not a["drafted"]:
        lines.append(
            "  no site crossed a rule in these days (rail: gust over 15 m/s or rain 45 mm/h; "
            "wind farm: output down 40 % of capacity or cut-out; grid: degree-days over "
            "normal + 6): nothing to approve; other --seed values draw other weather"
        )
    return lines


def _print(s: dict[str, Any], plot: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console()
    table = Table(
        title=f"Z500 skill, seed {s['seed']}: {s['cases']} forecasts vs the coarsened truth "
        "(RMSE m2/s2 | ACC)"
    )
    table.add_column("lead (days)")
    for name in ("emulator", "numerical 32x32", "persistence", "climatology"):
        table.add_column(name)
    for i, lead in enumerate(s["leads_days"]):
        table.add_row(
            str(lead),
            f"{s['rmse_emulator'][i]:.0f} | {s['acc_emulator'][i]:.2f}",
            f"{s['rmse_numerical'][i]:.0f} | {s['acc_numerical'][i]:.2f}",
            f"{s['rmse_persistence'][i]:.0f} | {s['acc_persistence'][i]:.2f}",
            f"{s['rmse_climatology'][i]:.0f}",
        )
    out.print(table)
    t850 = ", ".join(
        f"{lead} d {e:.2f} K (num {n:.2f}, pers {p:.2f})"
        for lead, e, n, p in zip(
            s["leads_days"],
            s["rmse_t850_emulator"],
            s["rmse_t850_numerical"],
            s["rmse_t850_persistence"],
            strict=True,
        )
    )
    out.print(f"T850 RMSE, emulator: {t850}")
    sec = s["seconds_5day"]
    out.print(
        f"{s['days']}-day forecast wall time: emulator {sec['emulator'] * 1e3:.1f} ms, "
        f"numerical 32x32 {sec['numerical'] * 1e3:.1f} ms, truth 128x128 {sec['truth']:.2f} s "
        f"-> {s['speedup_vs_truth']:g}x faster than the truth, {s['speedup_vs_numerical']:g}x "
        "than the numerical model"
    )
    sites = Table(title=f"Sites: what the rules read over days 1-{s['days']} (emulator)")
    for column in ("site", "kind", "forecast"):
        sites.add_column(column)
    for row in s["sites"]:
        sites.add_row(row["site"], row["kind"], row["forecast"])
    out.print(sites)
    for line in _alert_lines(s["alerts"]):
        out.print(escape(line))
    out.print(f"{s['runtime_s']} s" + (f"; map: {plot}" if plot else ""))
