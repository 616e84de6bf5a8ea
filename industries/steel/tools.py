"""The steel pack's tools: read plant data, predict, diagnose, recommend, apply, report."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field, create_model

from agentarts.industries.steel.features import TREND_CLASSES, WINDOW
from agentarts.industries.steel.mpc import GAINS, MPC
from agentarts.industries.steel.plant import load_history, plant
from agentarts.industries.steel.simulator import STATES, TAGS, Setpoints
from agentarts.tools import ModelTool, tool
from agentarts.tools.paths import data_path

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
    "PlantWindow",
    **{tag: (list[float], Field(min_length=WINDOW, max_length=WINDOW)) for tag in TAGS},
)


class ReadRequest(BaseModel):
    source: str = Field("live", description="'live' (connected plant) or a CSV history path")
    tag_map: dict[str, str] = Field(default_factory=dict, description="our tag -> CSV column")


@tool(safety="read_only")
def read_plant_data(request: ReadRequest) -> PlantWindow:  # type: ignore[valid-type]
    """The last 6 h of plant tags, from the live plant or a historian CSV export."""
    if request.source != "live":
        # served, the path must lie in the project's folders (agentarts.tools.paths)
        path = data_path(request.source, "source")
        plant.load_rows(load_history(path, request.tag_map))
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
    state: str = Field(description="most likely state this sample")
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
    description="Classify the furnace state: normal, chilled hearth, hanging/slip, channelling "
    "(precursors included).",
    from_tensors=_abnormal_out,
)


class RecommendRequest(BaseModel):
    window: dict[str, list[float]] = Field(description="the last 6 h of tags (PlantWindow)")
    state: str = Field("normal", description="the detector's confirmed state")
    rejected_directions: list[int] = Field(
        default_factory=list, description="+1 (more heat) / -1 (less) rejected this shift"
    )


class Recommendation(BaseModel):
    move: bool = Field(description="a proposal that changes at least one setpoint")
    levers: dict[str, float] = Field(description="new setpoints, approved together")
    deltas: dict[str, float]
    forecast_now_c: float
    forecast_after_c: float
    band_c: float = Field(description="95 % band of the 2 h forecast")
    settle_now_c: float = Field(description="where HMT settles (6-8 h) without the move")
    settle_after_c: float
    drivers: list[str] = Field(description="tags that moved the forecast most")
    playbook: str
    escalate: bool
    reason: str


def _aim() -> float:
    from agentarts.industries.steel.control import AIMS

    return AIMS["agent"]


def detector_threshold() -> float:
    """The detector's probability threshold, chosen on validation seeds (bf_abnormal card)."""
    import tomllib
    from importlib import resources

    card = resources.files("agentarts.industries.steel") / "models/bf_abnormal/model.toml"
    return float(tomllib.loads(card.read_text())["metrics"].get("threshold", 0.5))


def forecast_band_c() -> float:
    """95 % band of a dip 2 h ahead around the forecast: 1.96 x the error's standard deviation,
    taken as sqrt(pi/2) x the held-out MAE on dips in the bf_thermal card (normal errors)."""
    import tomllib
    from importlib import resources

    card = resources.files("agentarts.industries.steel") / "models/bf_thermal/model.toml"
    mae = float(tomllib.loads(card.read_text())["metrics"]["hmt_mae_c"])
    return round(1.96 * 1.2533 * mae, 1)


def drivers(tags: np.ndarray, forecast: Any, top: int = 3) -> list[str]:
    """Which measured tags moved the 2 h forecast most: each tag in turn is held at its value
    6 h ago (as if it had not changed) and the forecast's change is measured (one batch)."""
    measured = [i for i, t in enumerate(TAGS[:8])]
    batch = np.repeat(tags[np.newaxis], len(measured) + 1, axis=0)
    for row, i in enumerate(measured, start=1):
        batch[row, :, i] = tags[0, i]
    hmt = forecast(batch)[0][:, 0]
    effects = sorted(
        ((float(hmt[0] - hmt[row]), TAGS[i]) for row, i in enumerate(measured, start=1)),
        key=lambda e: -abs(e[0]),
    )
    return [f"{name} ({effect:+.1f} C)" for effect, name in effects[:top] if abs(effect) >= 0.5]


@tool(safety="advisory")
def recommend_move(request: RecommendRequest) -> Recommendation:
    """The setpoint moves (one or several levers) that bring HMT to the aim on the 2 h and
    6-8 h horizons, or a playbook move in an abnormal state; ``move`` false means hold."""
    from agentarts.industries.steel.loop import Thermal

    thermal = Thermal(predict_thermal.runtime)
    tags = np.array([request.window[t] for t in TAGS], np.float32).T
    current = Setpoints(*[float(v) for v in tags[-1, 8:]])
    plan = MPC(aim_c=_aim(), band_c=forecast_band_c()).plan(
        tags,
        current,
        thermal.what_if,
        plant.steps_since_move,
        request.state,
        plant.normal_steps,
    )
    if plan is None:
        return Recommendation(
            move=False, levers={}, deltas={}, forecast_now_c=0.0, forecast_after_c=0.0,
            band_c=0.0, settle_now_c=0.0, settle_after_c=0.0, drivers=[], playbook="normal",
            escalate=False, reason="forecast close to the aim; no move",
        )  # fmt: skip
    heat = sum(GAINS.get(k, 0.0) * v for k, v in plan.deltas.items())
    if (
        plan.deltas
        and plan.playbook == "normal"
        and (1 if heat > 0 else -1) in (request.rejected_directions)
    ):
        # an operator said no to this direction this shift: go gentler
        plan.deltas = {k: round(v / 2, 2) for k, v in plan.deltas.items()}
        plan.deltas = {k: v for k, v in plan.deltas.items() if v}
        plan.levers = {k: round(getattr(current, k) + v, 2) for k, v in plan.deltas.items()}
    return Recommendation(
        move=bool(plan.deltas),
        levers=plan.levers,
        deltas=plan.deltas,
        forecast_now_c=plan.forecast_now_c,
        forecast_after_c=plan.forecast_after_c,
        band_c=plan.band_c,
        settle_now_c=plan.settle_now_c,
        settle_after_c=plan.settle_after_c,
        drivers=drivers(tags, thermal.forecast) if plan.deltas else [],
        playbook=plan.playbook,
        escalate=plan.escalate,
        reason=plan.reason,
    )


class SetpointChange(BaseModel):
    """New setpoints for the levers that move (the others stay); approved as one."""

    coke_rate_kg_thm: float | None = Field(None, ge=280, le=420)
    pci_rate_kg_thm: float | None = Field(None, ge=100, le=230)
    blast_temp_c: float | None = Field(None, ge=1000, le=1250)
    steam_g_nm3: float | None = Field(None, ge=0, le=20)
    blast_volume_nm3_min: float | None = Field(None, ge=5000, le=7800)
    reason: str = ""


class Applied(BaseModel):
    setpoints: dict[str, float]
    previous: dict[str, float]


@tool(safety="actuating")
def apply_setpoint(change: SetpointChange) -> Applied:
    """Write the approved setpoints to the furnace, all together (actuating)."""
    new = {k: v for k, v in change.model_dump().items() if k != "reason" and v is not None}
    previous = {k: getattr(plant.setpoints, k) for k in new}
    applied = plant.apply(Setpoints(**{**plant.setpoints.__dict__, **new}))
    return Applied(setpoints={k: getattr(applied, k) for k in new}, previous=previous)


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
    lines += [f"  - {m.get('reason', m)}" for m in log.moves[-10:]]
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
