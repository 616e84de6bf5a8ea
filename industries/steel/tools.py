"""The steel pack's tools: read plant data, predict, diagnose, recommend, apply, report."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field, create_model

from agentarts.industries.steel.control import ForecastRule
from agentarts.industries.steel.features import TREND_CLASSES
from agentarts.industries.steel.plant import load_history, plant
from agentarts.industries.steel.simulator import STATES, TAGS, Setpoints
from agentarts.tools import ModelTool, tool

__all__ = [
    "TOOLS",
    "PlantWindow",
    "apply_setpoint",
    "detect_abnormal",
    "predict_thermal",
    "read_plant_data",
    "recommend_move",
    "write_shift_report",
]

#: Six hours of every tag, oldest first (what the models read).
PlantWindow = create_model(  # type: ignore[call-overload]
    "PlantWindow", **{tag: (list[float], Field(min_length=36, max_length=36)) for tag in TAGS}
)


class ReadRequest(BaseModel):
    source: str = Field("live", description="'live' (connected plant) or a CSV history path")
    tag_map: dict[str, str] = Field(default_factory=dict, description="our tag -> CSV column")


@tool(safety="read_only")
def read_plant_data(request: ReadRequest) -> PlantWindow:  # type: ignore[valid-type]
    """The last 6 h of plant tags, from the live plant or a historian CSV export."""
    if request.source != "live":
        plant.load_rows(load_history(request.source, request.tag_map))
    return PlantWindow(**plant.snapshot())


class ThermalForecast(BaseModel):
    hmt_2h_c: float = Field(description="hot-metal temperature 2 h ahead")
    si_2h_pct: float = Field(description="hot-metal silicon 2 h ahead")
    trend: str = Field(description="cooling, stable or heating over the next 2 h")
    trend_probabilities: list[float]


def _thermal_out(outputs: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    result = ModelTool._default_from_tensors(predict_thermal, outputs, meta)
    probs = outputs["trend"][0]
    result["trend"] = TREND_CLASSES[int(np.argmax(probs))]
    result["trend_probabilities"] = [round(float(p), 4) for p in probs]
    return result


predict_thermal = ModelTool(
    "predict_thermal",
    "bf_thermal",
    PlantWindow,
    ThermalForecast,
    description="Forecast HMT and [Si] 2 h ahead and the thermal trend (ONNX model bf_thermal).",
    from_tensors=_thermal_out,
)


class Diagnosis(BaseModel):
    state: str
    probabilities: dict[str, float]


def _abnormal_out(outputs: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    probs = outputs["state"][0]
    return {
        "state": STATES[int(np.argmax(probs))],
        "probabilities": {s: round(float(p), 4) for s, p in zip(STATES, probs, strict=True)},
    }


detect_abnormal = ModelTool(
    "detect_abnormal",
    "bf_abnormal",
    PlantWindow,
    Diagnosis,
    description="Classify the furnace state: normal, chilled hearth, hanging/slip, channelling.",
    from_tensors=_abnormal_out,
)


class RecommendRequest(BaseModel):
    window: dict[str, list[float]] = Field(description="the last 6 h of tags (PlantWindow)")
    rejected_directions: list[int] = Field(
        default_factory=list, description="+1/-1 moves rejected this shift"
    )


class Recommendation(BaseModel):
    move: bool
    pci_rate_kg_thm: float
    delta_kg_thm: float
    forecast_now_c: float
    forecast_after_c: float
    reason: str


@tool(safety="advisory")
def recommend_move(request: RecommendRequest) -> Recommendation:
    """The PCI move that brings the 2 h HMT forecast to the aim, sized by the model (or none)."""
    from agentarts.industries.steel.loop import Thermal

    rule = ForecastRule()
    thermal = Thermal(predict_thermal.runtime)
    tags = np.array([request.window[t] for t in TAGS], np.float32).T
    forecasts = thermal.candidates(tags, rule.candidates)
    delta = rule.move(forecasts, plant.steps_since_move)
    direction = 1 if delta > 0 else -1
    if delta and direction in request.rejected_directions:
        delta = delta / 2  # an operator said no to this direction this shift: go gentler
    current = request.window["pci_rate_kg_thm"][-1]
    new = Setpoints(pci_rate_kg_thm=current + delta).clipped().pci_rate_kg_thm
    now = forecasts[rule.candidates.index(0.0)]
    after = float(np.interp(new - current, rule.candidates, forecasts))
    reason = (
        f"HMT forecast {now:.1f} C in 2 h vs aim {rule.aim_c:.1f} C; with this move {after:.1f} C"
        if delta
        else "forecast close to the aim; no move"
    )
    return Recommendation(
        move=bool(round(new - current, 2)),
        pci_rate_kg_thm=round(new, 2),
        delta_kg_thm=round(new - current, 2),
        forecast_now_c=round(now, 2),
        forecast_after_c=round(after, 2),
        reason=reason,
    )


class SetpointChange(BaseModel):
    pci_rate_kg_thm: float = Field(ge=100, le=230)
    delta_kg_thm: float = 0.0
    reason: str = ""


class Applied(BaseModel):
    pci_rate_kg_thm: float
    previous_pci_rate_kg_thm: float


@tool(safety="actuating")
def apply_setpoint(change: SetpointChange) -> Applied:
    """Write the coal-injection setpoint to the furnace (actuating)."""
    previous = plant.setpoints.pci_rate_kg_thm
    applied = plant.apply(
        Setpoints(**{**plant.setpoints.__dict__, "pci_rate_kg_thm": change.pci_rate_kg_thm})
    )
    return Applied(pci_rate_kg_thm=applied.pci_rate_kg_thm, previous_pci_rate_kg_thm=previous)


class ShiftLog(BaseModel):
    cycles: int
    moves: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


class ShiftReport(BaseModel):
    text: str


@tool(safety="advisory")
def write_shift_report(log: ShiftLog) -> ShiftReport:
    """A plain-text shift report: moves made, moves rejected and why, alerts."""
    lines = [f"Shift report: {log.cycles} cycles of 10 min", f"Moves applied: {len(log.moves)}"]
    lines += [
        f"  - PCI -> {m.get('pci_rate_kg_thm')} kg/tHM ({m.get('reason', '')})"
        for m in log.moves[-10:]
    ]
    lines.append(f"Moves rejected: {len(log.rejections)}")
    lines += [f"  - by {r.get('by')}: {r.get('reason')}" for r in log.rejections[-10:]]
    lines.append(f"Alerts: {len(log.alerts)}")
    lines += [f"  - {a.get('code')}: {a.get('message')}" for a in log.alerts[-10:]]
    return ShiftReport(text="\n".join(lines))


TOOLS = [
    read_plant_data,
    predict_thermal,
    detect_abnormal,
    recommend_move,
    apply_setpoint,
    write_shift_report,
]
