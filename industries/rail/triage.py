"""Triage a train pass: load frames (folder + manifest, or the generator), cut the layout's
crop windows (with a 6 px margin), align each to its slot's template (the vehicle class and
component, as the station always sees it; templates from the lookup model), run the crop model
and the per-slot normal model (``rail_slot_normal``, aligned with its own templates) through
the runtime in batches, decide per crop on the joined score (``decide.py``). Without a slot
model that matches the classifier (a project that retrained only the classifier) the
classifier decides alone, as before.

Bad input never stops a pass: a missing, corrupt, truncated or wrongly sized image, or a car of
an unknown vehicle class, becomes an error entry naming the file (or car) and the rest of the
train is triaged and reported. A frame the manifest names outside the pass folder (an absolute
path, ``..``, or a symlink leading out) is refused the same way, before anything is opened, with
one message whatever is there: a manifest cannot make the pack read, or probe for, other files.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import UsageError
from agentarts.industries.rail.catalogue import Catalogue, project_catalogue
from agentarts.industries.rail.decide import Joined, Thresholds, check_sensitivity, decide
from agentarts.industries.rail.generator import (
    FRAME_H,
    FRAME_W,
    LAYOUTS,
    MANIFEST,
    Car,
    Frame,
    Train,
    slot_key,
)
from agentarts.industries.rail.slots import padded_windows

__all__ = ["TriageResult", "load_pass", "project_sensitivity", "runtime_for", "triage"]

CLASSIFIER, REFERENCE = "rail_fault_classifier", "rail_slot_reference"
SLOT_MODEL, SLOT_TEMPLATE = "rail_slot_normal", "rail_slot_normal_template"
MODELS = (CLASSIFIER, REFERENCE, SLOT_MODEL, SLOT_TEMPLATE)
BATCH = 256
#: the one answer for a frame outside the pass folder (the same whether anything is there)
OUTSIDE = "not inside the pass folder; not read"


def load_pass(folder: Path | str) -> Train:
    """Read ``manifest.json`` and its frames; problems become ``train.errors`` entries."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    path = folder / MANIFEST
    base = Path(os.path.realpath(folder))
    if not Path(os.path.realpath(path)).is_relative_to(base):
        raise UsageError(f"{path}: the manifest leads outside the pass folder; not read")
    try:
        doc = json.loads(path.read_text())
        cars_doc = doc["cars"]
        if not isinstance(cars_doc, list):
            raise TypeError("'cars' must be a list")
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no manifest (a pass folder holds manifest.json)") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a valid pass manifest: {exc}") from exc
    train = Train(str(doc.get("train_id", folder.name)), [])
    for n, entry in enumerate(cars_doc, start=1):
        vc = str(entry.get("vehicle_class", ""))
        index = int(entry.get("index", n))
        car = Car(index, vc, str(entry.get("number", f"car-{index}")))
        if vc not in LAYOUTS:
            train.errors.append(
                {
                    "file": f"{path.name} car {index}",
                    "error": f"unknown vehicle class {vc!r} "
                    f"(known: {', '.join(LAYOUTS)}); car not inspected",
                }
            )
            continue
        for item in entry.get("frames", []):
            name, station = str(item.get("file", "")), str(item.get("station", ""))
            number = int(item.get("frame", 1))
            layout = LAYOUTS[vc].get(station)
            if layout is None or not 1 <= number <= len(layout):
                train.errors.append(
                    {"file": name, "error": f"{vc} has no station {station!r} frame {number}"}
                )
                continue
            target = Path(os.path.realpath(base / name))  # symlinks followed, '..' applied
            if not target.is_relative_to(base):
                train.errors.append({"file": name, "error": OUTSIDE})
                continue
            try:
                with Image.open(target) as im:
                    im.load()
                    image = np.asarray(im.convert("L"))
            except FileNotFoundError:
                train.errors.append({"file": name, "error": "named in the manifest, not found"})
                continue
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
                why = " ".join(str(exc).split()) or type(exc).__name__
                train.errors.append({"file": name, "error": f"unreadable image: {why}"})
                continue
            if image.shape != (FRAME_H, FRAME_W):
                train.errors.append(
                    {
                        "file": name,
                        "error": f"image is {image.shape[1]}x{image.shape[0]}, the "
                        f"station frame is {FRAME_W}x{FRAME_H}",
                    }
                )
                continue
            comps = layout[number - 1]
            car.frames.append(Frame(station, number, list(comps), [None] * len(comps), image, name))
        train.cars.append(car)
    return train


def runtime_for() -> Any:
    """The runtime of the current run, else the process-wide one (as model tools do)."""
    from agentarts.tools import current_run
    from agentarts.tools.model_tool import default_runtime

    run = current_run()
    if run is not None and run.runtime is not None:
        return run.runtime
    return default_runtime()


@dataclass
class TriageResult:
    train_id: str
    cars: int
    frames: int
    crops: int
    findings: list[dict[str, Any]]
    errors: list[dict[str, str]]
    seconds: float
    batches: int
    device_us: list[float] = field(default_factory=list)  # simulated Ascend time per batch
    host_us: list[float] = field(default_factory=list)
    flags: np.ndarray | None = None  # per crop, in order (for evaluation)
    #: per crop: distance past the threshold in use, in decades (joined: rank sum minus
    #: threshold, decades of normal-tail share; classifier alone: decades of odds)
    margin: np.ndarray | None = None
    cls_flags: np.ndarray | None = None  # what the trained-mode classes alone would flag
    classifier_flags: np.ndarray | None = None  # what the classifier alone flags (its card)
    joined: bool = False  # the decision joined both models
    keys: list[tuple[int, str, int, int]] = field(default_factory=list)  # car, station, frame, k
    sensitivity: float = 0.0  # decades the validated thresholds were lowered by (decide.py)

    def summary(self) -> dict[str, Any]:
        return {
            "train_id": self.train_id,
            "cars": self.cars,
            "frames": self.frames,
            "crops": self.crops,
            "findings": self.findings,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.frames / max(self.seconds, 1e-9), 1),
            "crops_per_s": round(self.crops / max(self.seconds, 1e-9), 1),
            "batches": self.batches,
            "device_ms_per_batch": round(float(np.mean(self.device_us)) / 1e3, 3)
            if self.device_us
            else None,
            "sensitivity": self.sensitivity,
        }


def _card(runtime: Any) -> tuple[tuple[str, ...], tuple[str, ...], Thresholds]:
    meta = runtime.model_metadata(CLASSIFIER)
    params = meta["parameters"]
    classes = next(o for o in meta["outputs"] if o["name"] == "probs")["parameters"]["features"]
    slots = next(i for i in meta["inputs"] if i["name"] == "slot")["parameters"]["features"]
    return tuple(classes), tuple(slots), Thresholds.from_metrics(params.get("metrics") or {})


def _joined(runtime: Any, slots: tuple[str, ...], thresholds: Thresholds) -> Joined | None:
    """The joined decision of the slot model's card, if that model is served, knows the same
    slots and was fitted with this classifier's thresholds; else None (classifier alone)."""
    from agentarts.errors import NotFoundError

    try:
        meta = runtime.model_metadata(SLOT_MODEL)
        runtime.model_metadata(SLOT_TEMPLATE)
    except (NotFoundError, KeyError):
        return None
    own = next(i for i in meta["inputs"] if i["name"] == "slot")["parameters"]["features"]
    joined = Joined.from_metrics(meta["parameters"].get("metrics") or {})
    return joined if tuple(own) == slots and joined.matches(thresholds) else None


def _register(
    runtime: Any,
    crops: list[np.ndarray],
    slots: np.ndarray,
    frames: np.ndarray,
    batch: int,
    models: tuple[str, ...] = (REFERENCE,),
) -> list[np.ndarray]:
    """Align the padded windows to their slots' templates, once per lookup model in
    ``models`` (the crops' FFTs shared: ``refnet.align_many``)."""
    from agentarts.industries.rail.refnet import align_many

    if not crops:
        return [np.zeros((0, 64, 64), np.uint8) for _ in models]
    used = np.unique(slots)
    tables = []
    for model in models:
        table = np.zeros((int(used.max()) + 1, 64, 64), np.float32)
        for i in range(0, len(used), batch):
            part = used[i : i + batch]
            table[part] = runtime.infer(model, {"slot": part}).outputs["reference"]
        tables.append(table)
    return align_many(np.concatenate(crops), slots, frames, tables)


def triage(
    train: Train,
    runtime: Any = None,
    catalogue: Catalogue | None = None,
    batch: int = BATCH,
    sensitivity: float | None = None,
) -> TriageResult:
    """Every crop of every frame through the crop model, ``batch`` crops per request;
    ``sensitivity`` lowers the thresholds (decide.decide; None: the project's
    ``[rail] sensitivity``)."""
    runtime = runtime or runtime_for()
    cat = catalogue or project_catalogue()
    s = project_sensitivity() if sensitivity is None else check_sensitivity(sensitivity)
    start = time.perf_counter()
    classes, slot_names, thresholds = _card(runtime)
    joined = _joined(runtime, slot_names, thresholds)
    index = {c: i for i, c in enumerate(slot_names)}
    where, crops, comps, slots, frame_ids = [], [], [], [], []
    frames = 0
    errors = list(train.errors)
    for car in train.cars:
        for frame in car.frames:
            if frame.image is None:
                continue
            frames += 1
            keys = [slot_key(car.vehicle_class, c) for c in frame.components]
            known = [k for k, key in enumerate(keys) if key in index]
            for c, key in zip(frame.components, keys, strict=True):
                if key not in index:
                    errors.append(
                        {
                            "file": frame.file or f"car {car.index} {frame.station}",
                            "error": f"the model knows no normal look of component {c!r} on "
                            f"a {car.vehicle_class} car (slot {key!r})",
                        }
                    )
            if not known:
                continue
            windows = padded_windows(frame.image, len(frame.components))
            crops.append(windows[known])
            frame_ids += [frames] * len(known)
            comps += [frame.components[k] for k in known]
            slots += [index[keys[k]] for k in known]
            where += [(car, frame, k) for k in known]
    n = len(comps)
    probs = np.zeros((n, len(classes)), np.float32)
    device_us, host_us = [], []
    slot_all = np.array(slots, np.int64)
    models = (REFERENCE, SLOT_TEMPLATE) if joined is not None else (REFERENCE,)
    aligned = _register(runtime, crops, slot_all, np.array(frame_ids), batch, models)
    x_all, x_own = aligned[0], aligned[1] if joined is not None else None
    slot_score = np.zeros(n, np.float32) if joined is not None else None
    for i in range(0, n, batch):
        image = (x_all[i : i + batch, None] / np.float32(255.0)).astype(np.float32)
        a = runtime.infer(CLASSIFIER, {"image": image, "slot": slot_all[i : i + batch]})
        probs[i : i + batch] = a.outputs["probs"]
        device, host = a.device_time_us, a.host_time_us
        if x_own is not None and slot_score is not None:
            own = (x_own[i : i + batch] / np.float32(255.0)).astype(np.float32)
            b = runtime.infer(SLOT_MODEL, {"image": own, "slot": slot_all[i : i + batch]})
            slot_score[i : i + batch] = b.outputs["score"]
            device, host = device + b.device_time_us, host + b.host_time_us
        device_us.append(device)  # both models of the batch
        host_us.append(host)
    d = decide(probs, comps, classes, thresholds, cat, slot_score, joined, s)
    findings = []
    for i in np.flatnonzero(d.flagged):
        car, frame, k = where[i]
        ft = cat.get(comps[i], d.mode[i])
        findings.append(
            {
                "train_id": train.train_id,
                "car_index": car.index,
                "car_number": car.number,
                "vehicle_class": car.vehicle_class,
                "station": frame.station,
                "frame": frame.number,
                "window": k,
                "file": frame.file,
                "component": comps[i],
                "mode": d.mode[i],
                "fault_type": ft.code if ft else f"{comps[i]}.{d.mode[i]}",
                "criticality": d.criticality[i],
                "fault_score": round(float(d.fault_score[i]), 4),
                "anomaly_score": round(float(d.anomaly[i]), 4),
                "slot_score": None if slot_score is None else round(float(slot_score[i]), 3),
                # decision score / its threshold (>= 1: flagged; joined: rank sum over the
                # class threshold); not a probability
                "score_over_threshold": round(float(d.score_over_threshold[i]), 3),
            }
        )
    return TriageResult(
        train.train_id,
        len(train.cars),
        frames,
        n,
        findings,
        errors,
        time.perf_counter() - start,
        len(device_us),
        device_us,
        host_us,
        d.flagged,
        d.margin,
        d.seen_only,
        d.classifier_only,
        joined is not None,
        [(car.index, frame.station, frame.number, k) for car, frame, k in where],
        s,
    )


def project_sensitivity() -> float:
    """``[rail] sensitivity`` of the project's agentarts.toml (decades; 0 when unset)."""
    from agentarts.config import load_settings
    from agentarts.errors import ConfigError

    value = (load_settings().doc.get("rail") or {}).get("sensitivity", 0.0)
    try:
        return check_sensitivity(value, "[rail] sensitivity")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
