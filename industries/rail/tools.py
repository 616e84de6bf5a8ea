"""The rail pack's tools: inspect a train pass, raise a work order, label a decision, report."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentarts.industries.rail.decide import MAX_SENSITIVITY
from agentarts.tools import current_run, tool
from agentarts.tools.paths import data_path

__all__ = [
    "TOOLS",
    "InspectRequest",
    "TrainTriage",
    "WorkOrderRequest",
    "inspect_train",
    "raise_work_order",
    "record_decision",
    "threshold_ratio",
    "write_train_report",
]

#: manual review: one inspector reviews ~15,000 images in an 8 h shift (public TFDS figure)
MANUAL_S_PER_IMAGE = 8 * 3600 / 15_000
#: a person confirming one suspected fault from its crop and frame ("a few seconds per image")
CONFIRM_S_PER_FINDING = 6.0


class InspectRequest(BaseModel):
    source: Literal["generator", "folder"] = "generator"
    folder: str | None = Field(None, description="pass folder with manifest.json (source=folder)")
    seed: int = Field(7, description="generator seed (source=generator)")
    cars: int | None = Field(None, ge=1, le=80, description="cars (generator; default drawn)")
    fault_rate: float = Field(0.004, ge=0, le=0.5, description="generator fault rate per window")
    sensitivity: float | None = Field(
        None,
        ge=0,
        le=MAX_SENSITIVITY,
        description="decades to lower the validated thresholds by (more findings for a person, "
        "never fewer); default: the project's [rail] sensitivity, else 0",
    )


class TrainTriage(BaseModel):
    train_id: str
    cars: int
    frames: int
    crops: int
    findings: list[dict[str, Any]]
    errors: list[dict[str, str]]
    seconds: float
    images_per_s: float
    crops_per_s: float
    batches: int
    device_ms_per_batch: float | None
    sensitivity: float = 0.0


_LAST: dict[str, Any] = {}  # the last triage's per-crop flags, for evaluation (demo/bench)


@tool(safety="read_only")
def inspect_train(request: InspectRequest) -> TrainTriage:
    """Ingest a train pass (folder of PNG/JPEG frames with a manifest, or the generator) and
    triage every component crop through the runtime; returns the suspected faults."""
    from agentarts.industries.rail.generator import make_train
    from agentarts.industries.rail.triage import load_pass, triage

    if request.source == "folder":
        if not request.folder:
            from agentarts.errors import InvalidInputError

            raise InvalidInputError("source 'folder' needs a folder")
        # served, the folder must lie in the project's folders (agentarts.tools.paths)
        train = load_pass(data_path(request.folder, "folder"))
    else:
        train = make_train(request.seed, request.cars, request.fault_rate)
    result = triage(train, sensitivity=request.sensitivity)
    _LAST["train"], _LAST["result"] = train, result
    return TrainTriage(**result.summary())


class WorkOrderRequest(BaseModel):
    train_id: str
    car_index: int
    car_number: str
    vehicle_class: str
    component: str
    fault_type: str
    mode: str
    criticality: Literal["critical", "major", "minor"]
    action: Literal["remove_car", "repair_on_site", "recheck"]
    evidence: str = Field("", description="station, frame and window the person looked at")


class WorkOrder(BaseModel):
    asset: str
    title: str
    priority: str
    action: str


ACTION_TEXT = {
    "remove_car": "set the car out of the train",
    "repair_on_site": "repair on site before departure",
    "recheck": "re-check at the next inspection",
}


@tool(safety="actuating")
def raise_work_order(order: WorkOrderRequest) -> WorkOrder:
    """Raise a work order for a confirmed fault in the run store (actuating: after approval)."""
    title = f"{order.fault_type} on car {order.car_index} ({order.car_number})"
    description = (
        f"{ACTION_TEXT[order.action]}; train {order.train_id}; {order.criticality}; "
        f"seen at {order.evidence}"
    )
    run = current_run()
    if run is not None and run.store is not None:
        run.store.add_work_order(
            run.thread_id, run.run_id, order.car_number, title, description, order.criticality
        )
    return WorkOrder(
        asset=order.car_number, title=title, priority=order.criticality, action=order.action
    )


class DecisionRecord(BaseModel):
    finding: dict[str, Any]
    decision: Literal["confirm", "reject", "re-inspect"]
    by: str = ""
    reason: str = ""


class LabelWritten(BaseModel):
    path: str | None
    label: str


#: a folder replacing the data dir's labels folder (the demo keeps its labels in a temp dir)
LABELS_OVERRIDE: list[Path] = []


def labels_dir() -> Path:
    from agentarts.config import load_settings

    if LABELS_OVERRIDE:
        return LABELS_OVERRIDE[0]
    return Path(load_settings().data_dir) / "rail" / "labels"


@tool(safety="advisory")
def record_decision(record: DecisionRecord) -> LabelWritten:
    """Keep a person's decision as labelled data for retraining (`agentarts train rail --data`):
    a confirmation labels the crop with its fault mode, a rejection labels it normal; a
    re-inspection request is kept unlabelled until someone has looked on site."""
    f = record.finding
    label = {"confirm": f.get("mode", ""), "reject": "normal", "re-inspect": ""}[record.decision]
    if label == "unknown_anomaly":
        label = ""  # confirmed, but the mode is for the person to name: kept unlabelled
    if record.by == "auto-confirm" or not label:
        return LabelWritten(path=None, label=label)  # no person looked: not a label
    last = _LAST
    folder = labels_dir()
    entry = {
        **{
            k: f.get(k)
            for k in ("vehicle_class", "component", "file", "station", "frame", "window")
        },
        "train_id": f.get("train_id"),
        "fault": label,
        "decision": record.decision,
        "by": record.by,
        "reason": record.reason,
    }
    crop = _crop_of(last.get("train"), f)
    if crop is None:
        return LabelWritten(path=None, label=label)
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    name = (
        f"{f.get('train_id')}_c{f.get('car_index')}_{f.get('station')}_{f.get('frame')}_"
        f"{f.get('window')}.png"
    )
    Image.fromarray(crop, mode="L").save(folder / name)
    entry["crop"] = name
    with (folder / "labels.jsonl").open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
    return LabelWritten(path=str(folder / name), label=label)


def _crop_of(train: Any, f: dict[str, Any]) -> Any:
    from agentarts.industries.rail.slots import padded_windows

    if train is None or train.train_id != f.get("train_id"):
        return None
    for car in train.cars:
        if car.index != f.get("car_index"):
            continue
        for frame in car.frames:
            if frame.station == f.get("station") and frame.number == f.get("frame"):
                if frame.image is None:
                    return None
                # the window with its 6 px registration margin (76 x 76)
                return padded_windows(frame.image, len(frame.components))[int(f["window"])]
    return None


class ReportRequest(BaseModel):
    triage: dict[str, Any]
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    work_orders: list[dict[str, Any]] = Field(default_factory=list)


class TrainReport(BaseModel):
    text: str
    minutes_per_train: float
    manual_minutes_per_train: float


def inspection_minutes(frames: int, findings: int, triage_s: float) -> tuple[float, float]:
    """(with the agent, manual): the person reviews only the flagged crops."""
    return (
        (triage_s + findings * CONFIRM_S_PER_FINDING) / 60,
        frames * MANUAL_S_PER_IMAGE / 60,
    )


@tool(safety="advisory")
def write_train_report(request: ReportRequest) -> TrainReport:
    """The per-train report: findings per car, what the person decided, work orders, speed."""
    t = request.triage
    agent_min, manual_min = inspection_minutes(t["frames"], len(t["findings"]), t["seconds"])
    lines = [
        f"Train {t['train_id']}: {t['cars']} cars, {t['frames']} frames, {t['crops']} crops "
        f"triaged in {t['seconds']:.1f} s ({t['images_per_s']:.0f} images/s, "
        f"{t['crops_per_s']:.0f} crops/s)",
        f"Suspected faults: {len(t['findings'])}; inspection {agent_min:.1f} min with triage vs "
        f"{manual_min:.1f} min reviewing every image",
    ]
    for car, items in _per_car(request.decisions):
        lines.append(f"  car {car}:")
        for d in items:
            f = d["finding"]
            lines.append(
                f"    {d['decision']:<10} {f['fault_type']} ({f['criticality'] or 'n/a'}) at "
                f"{f['station']} frame {f['frame']} window {f['window']}: evidence "
                f"{threshold_ratio(f):.2f} x its threshold (fault score {f['fault_score']:.2f})"
                + (f" by {d['by']}" if d.get("by") else "")
                + (f": {d['reason']}" if d.get("reason") else "")
            )
    lines.append(f"Work orders raised: {len(request.work_orders)}")
    lines += [f"  - [{w['priority']}] {w['title']}: {w['action']}" for w in request.work_orders]
    if t["errors"]:
        lines.append(f"Input problems ({len(t['errors'])}; the rest of the train was inspected):")
        lines += [f"  - {e['file']}: {e['error']}" for e in t["errors"]]
    return TrainReport(
        text="\n".join(lines),
        minutes_per_train=round(agent_min, 2),
        manual_minutes_per_train=round(manual_min, 2),
    )


def threshold_ratio(f: dict[str, Any]) -> float:
    """Fault score / threshold (>= 1 flagged; stored runs before 2026-11-27: ``confidence``)."""
    return float(f.get("score_over_threshold", f.get("confidence", 0.0)))


def _per_car(decisions: Iterable[dict[str, Any]]) -> list[tuple[int, list[dict[str, Any]]]]:
    cars: dict[int, list[dict[str, Any]]] = {}
    for d in decisions:
        cars.setdefault(int(d["finding"]["car_index"]), []).append(d)
    return sorted(cars.items())


TOOLS = [inspect_train, raise_work_order, record_decision, write_train_report]
