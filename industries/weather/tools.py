"""The weather pack's tools: forecast, site extraction, site rules, CAP drafts, issuing.

Forecast fields travel as NetCDF files (CF conventions), not through the graph state; the
tools pass their paths. Every path a tool is given goes through ``data_path``: served over
HTTP, it must lie in the project folder, the data dir or a configured root.
``issue_alerts`` is the one actuating tool: it runs only after an approval gate in the same
run approved exactly the alerts it is given.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from agentarts.errors import InvalidInputError
from agentarts.industries.weather.sites import DEFAULT_SITES, Site
from agentarts.tools import current_run, tool
from agentarts.tools.paths import data_path

__all__ = [
    "TOOLS",
    "apply_site_rules",
    "draft_alerts",
    "extract_sites",
    "forecast",
    "issue_alerts",
]

_ANALYSES: dict[int, np.ndarray] = {}


def _data_dir() -> Path:
    from agentarts.config import load_settings

    return Path(load_settings().data_dir) / "weather"


def analysis_for(initial: str) -> tuple[np.ndarray, datetime]:
    """The initial state: ``seed:N`` (a fresh truth state, coarsened) or a NetCDF path."""
    if initial.startswith("seed:"):
        try:
            seed = int(initial[5:])
        except ValueError as exc:
            raise InvalidInputError(f"initial {initial!r}: seed must be an integer") from exc
        if seed not in _ANALYSES:
            from agentarts.industries.weather.data import ModelPair, spin_up

            pair = ModelPair()
            _ANALYSES[seed] = pair.analysis(spin_up(pair, seed))
        return _ANALYSES[seed], datetime(2026, 1, 1, tzinfo=UTC)
    from agentarts.industries.weather.ncio import read_state

    state, when = read_state(data_path(initial, "initial"))
    return state, (when or datetime(2026, 1, 1)).replace(tzinfo=UTC)


class ForecastRequest(BaseModel):
    initial: str = Field("seed:7", description="'seed:N' (simulated analysis) or a NetCDF path")
    days: int = Field(5, ge=1, le=10, description="forecast length in days")
    model: Literal["emulator", "numerical"] = "emulator"
    out: str = Field("", description="NetCDF file to write (default: the data dir)")


class ForecastResult(BaseModel):
    path: str
    model: str
    days: int
    init_time: str
    wall_seconds: float
    max_gust_ms: float
    max_rain_mm_h: float


@tool(safety="read_only")
def forecast(request: ForecastRequest) -> ForecastResult:
    """Forecast from an analysis with the ONNX emulator (through the runtime) or, on request,
    the numerical model at operational resolution; writes the fields as CF NetCDF."""
    from agentarts.industries.weather.fields import diagnose
    from agentarts.industries.weather.ncio import write_forecast

    out = data_path(request.out, "out") if request.out else None  # refused before the work
    psi0, init = analysis_for(request.initial)
    started = time.perf_counter()
    if request.model == "emulator":
        from agentarts.industries.weather.emulator import RuntimeStepper

        run = current_run()
        frames = RuntimeStepper(run.runtime if run else None).rollout(psi0, request.days)
    else:
        from agentarts.industries.weather.data import ModelPair

        frames = ModelPair().numerical_forecast(psi0.astype(np.float64), request.days)
    wall = time.perf_counter() - started
    fields = [diagnose(f.astype(np.float64)) for f in frames]
    stamp = init.strftime("%Y%m%dT%H")
    path = out or _data_dir() / f"forecast_{request.model}_{stamp}.nc"
    write_forecast(path, np.asarray(frames), fields, init, request.model)
    return ForecastResult(
        path=str(path),
        model=request.model,
        days=request.days,
        init_time=init.isoformat(),
        wall_seconds=round(wall, 4),
        max_gust_ms=round(float(max(f["gust"].max() for f in fields[1:])), 1),
        max_rain_mm_h=round(float(max(f["rain"].max() for f in fields[1:])), 2),
    )


class SitesRequest(BaseModel):
    path: str = Field(description="forecast NetCDF from the forecast tool")
    sites: list[Site] = Field(default_factory=lambda: list(DEFAULT_SITES))


class SiteSeries(BaseModel):
    site: Site
    series: dict[str, list[float]] = Field(description="per day 0..N")


class SitesResult(BaseModel):
    init_time: str
    sites: list[SiteSeries]


@tool(safety="read_only")
def extract_sites(request: SitesRequest) -> SitesResult:
    """Values at named sites and along rail segments, per forecast day (bilinear)."""
    from agentarts.industries.weather.ncio import _open
    from agentarts.industries.weather.sites import check_sites, site_series

    check_sites(request.sites)
    ds = _open(data_path(request.path, "path"))
    missing = [v for v in ("gust", "rain", "hub_wind", "t850") if v not in ds]
    if missing:
        raise InvalidInputError(f"{request.path}: missing variables {', '.join(missing)}")
    fields = {k: np.asarray(ds[k].values, np.float64) for k in ("gust", "rain", "hub_wind", "t850")}
    init = str(np.datetime_as_string(ds["time"].values[0], "s")) + "+00:00"
    return SitesResult(
        init_time=init,
        sites=[SiteSeries(site=s, series=site_series(s, fields)) for s in request.sites],
    )


class Finding(BaseModel):
    site: str
    kind: str
    code: str
    level: str
    days: list[int]
    worst: float
    unit: str
    text: str


class Findings(BaseModel):
    init_time: str
    findings: list[Finding]


@tool(safety="read_only")
def apply_site_rules(extracted: SitesResult) -> Findings:
    """Rail (wind and rain speed restrictions, stops), wind farm (power curve), grid
    (degree-days) rules per site; see ``sites`` for the thresholds."""
    from agentarts.industries.weather.sites import evaluate_rules

    found = [Finding(**f) for s in extracted.sites for f in evaluate_rules(s.site, s.series)]  # type: ignore[arg-type]
    return Findings(init_time=extracted.init_time, findings=found)


class DraftRequest(BaseModel):
    findings: list[Finding]
    init_time: str
    sites: list[Site] = Field(default_factory=lambda: list(DEFAULT_SITES))


class Alert(BaseModel):
    site: str
    code: str
    level: str
    xml: str = Field(description="CAP 1.2 XML, status Draft")


class AlertBatch(BaseModel):
    alerts: list[Alert]
    status: Literal["Exercise", "Actual"] = "Exercise"
    outbox: str = ""


@tool(safety="advisory")
def draft_alerts(request: DraftRequest) -> AlertBatch:
    """One CAP 1.2 alert (status Draft) per finding, for a duty forecaster to approve."""
    from agentarts.industries.weather.cap import draft_alert
    from agentarts.industries.weather.sites import _along, _check_on_grid, to_latlon

    by_name = {s.name: s for s in request.sites}
    issued = datetime.fromisoformat(request.init_time)
    alerts = []
    for f in request.findings:
        site = by_name.get(f.site)
        if site is None:
            raise InvalidInputError(f"finding for unknown site {f.site!r}")
        xy = _check_on_grid(site)
        pts = _along(xy, 200.0) if site.kind == "rail" else xy
        latlon = [tuple(float(v) for v in to_latlon(x, y)) for x, y in pts]
        xml = draft_alert(f.model_dump(), latlon, issued)  # type: ignore[arg-type]
        alerts.append(Alert(site=f.site, code=f.code, level=f.level, xml=xml))
    return AlertBatch(alerts=alerts)


class Issued(BaseModel):
    issued: int
    files: list[str]
    status: str


@tool(safety="actuating")
def issue_alerts(batch: AlertBatch) -> Issued:
    """Issue the approved CAP alerts: write each to the outbox (atomically) with the status
    ``Exercise`` or ``Actual``, and record it in the run store (actuating)."""
    from agentarts.industries.weather.cap import CAP_NS, with_status

    outbox = data_path(batch.outbox, "outbox") if batch.outbox else _data_dir() / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    files = []
    run = current_run()
    for alert in batch.alerts:
        xml = with_status(alert.xml, batch.status, now)
        ident = xml.split("<identifier>", 1)[-1].split("</identifier>", 1)[0]
        if not ident or "<" in ident or CAP_NS in ident:
            raise InvalidInputError(f"alert for {alert.site!r} has no CAP identifier")
        path = outbox / f"{ident}.xml"
        fd, tmp = tempfile.mkstemp(dir=outbox, suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(xml)
        os.replace(tmp, path)
        files.append(str(path))
        if run is not None and run.store is not None:
            severity = "critical" if alert.level == "stop" else "warning"
            run.store.add_alert(
                run.thread_id,
                run.run_id,
                severity,
                alert.code,
                f"{alert.site}: {alert.code} ({batch.status})",
                {"file": str(path), "cap": xml},
            )
    return Issued(issued=len(files), files=files, status=batch.status)


TOOLS = [forecast, extract_sites, apply_site_rules, draft_alerts, issue_alerts]
