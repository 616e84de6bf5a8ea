"""`agentarts train rail`: fit the crop model on a railway's own labelled images.

``--data DIR`` holds any mix of:

* pass folders (``manifest.json`` naming the frames, as ``agentarts demo``/the generator write
  them, plus ``labels.json``: ``{"faults": [{"file", "window", "component", "fault"}]}``; every
  window not listed there is taken as normal);
* label folders written by the agent from people's decisions (``labels.jsonl`` lines with
  ``crop`` (a 76 x 76 PNG: the window and its 6 px registration margin; 64 x 64 is
  accepted), ``vehicle_class``, ``component`` and ``fault``: a mode, or
  ``normal`` for a rejected false alarm).

Every crop belongs to a slot (vehicle class / component, ``generator.SLOTS``); the model's
reference table (each slot's normal look) is rebuilt from the normal crops of this data, a slot
without enough of them borrows the same component's other slots.

Both models of the joined decision are fitted (``slot_stage.fit_on_data``): the classifier on
the 80 % part of a stable split by crop content (its thresholds on the 20 % held-out part), the
per-slot normal model ``rail_slot_normal`` on the NORMAL crops of the 80 % part, and the joined
tail tables and thresholds on the same held-out part. Unlike the classifier's reference table,
a slot with fewer than 40 normal crops borrows nothing: it is not modelled and the classifier's
rank alone decides its crops. With too little data for the joined thresholds (no modelled slot,
or under 200 held-out normal crops or 20 faults) the slot model is not written and the result
says ``joined_decision: false`` with the reason: the classifier then decides alone.

The models go to ``--out`` (default: the project's ``.agentarts/models``, else ``./models``),
never over the shipped ones; a project's runtime serves them in place of the shipped models
when ``[runtime] model_repositories`` lists that folder (first repository wins).
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import UsageError

__all__ = ["collect", "run"]


def _torch_or_hint() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError(
            "training needs torch: pip install 'agentarts[train]' "
            "(CPU build: pip install torch==2.13.0)"
        ) from None


def collect(data: Path) -> dict[str, np.ndarray]:
    """Crops, component indices and labels from every pass or label folder under ``data``."""
    from PIL import Image

    from agentarts.industries.rail.generator import LABELS, MANIFEST, SLOTS
    from agentarts.industries.rail.slots import PAD, padded_windows
    from agentarts.industries.rail.train import MODES
    from agentarts.industries.rail.triage import load_pass

    slot_of = {k: i for i, k in enumerate(SLOTS)}
    xs, slots, faults, problems, frame_ids = [], [], [], [], []
    for manifest in sorted(data.rglob(MANIFEST)):
        folder = manifest.parent
        train = load_pass(folder)
        problems += [f"{folder / e['file']}: {e['error']}" for e in train.errors]
        labels: dict[tuple[str, int], str] = {}
        if (folder / LABELS).is_file():
            try:
                doc = json.loads((folder / LABELS).read_text())
                labels = {
                    (str(f["file"]), int(f["window"])): str(f["fault"]) for f in doc["faults"]
                }
            except (ValueError, KeyError, TypeError) as exc:
                raise UsageError(f"{folder / LABELS}: not a valid labels file: {exc}") from exc
        for car, frame in train.frames():
            if frame.image is None:
                continue
            windows = padded_windows(frame.image, len(frame.components))
            frame_id = len(frame_ids) and frame_ids[-1] + 1
            for k, comp in enumerate(frame.components):
                key = f"{car.vehicle_class}/{comp}"
                if key not in slot_of:
                    continue
                xs.append(windows[k])
                slots.append(slot_of[key])
                frame_ids.append(frame_id)
                faults.append(labels.get((frame.file or "", k), "normal"))
    for jsonl in sorted(data.rglob("labels.jsonl")):
        for n, line in enumerate(jsonl.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                path = jsonl.parent / entry["crop"]
                key = f"{entry['vehicle_class']}/{entry['component']}"
                fault = str(entry["fault"])
                with Image.open(path) as im:
                    crop = np.asarray(im.convert("L"))
            except (ValueError, KeyError, TypeError, OSError) as exc:
                problems.append(f"{jsonl}:{n}: skipped: {exc}")
                continue
            size = 64 + 2 * PAD
            if (
                crop.shape not in ((64, 64), (size, size))
                or key not in slot_of
                or fault not in ("normal", *MODES)
            ):
                problems.append(
                    f"{jsonl}:{n}: skipped: needs a {size}x{size} (or 64x64) crop, a known "
                    "vehicle class and component, and a known fault mode"
                )
                continue
            if crop.shape == (64, 64):  # a crop without its registration margin
                crop = np.pad(crop, PAD, mode="reflect")
            xs.append(crop)
            slots.append(slot_of[key])
            frame_ids.append(len(frame_ids) and frame_ids[-1] + 1)
            faults.append(fault)
    if not xs:
        raise UsageError(f"{data}: no pass folders (manifest.json) or labels.jsonl found")
    from agentarts.industries.rail.train import SLOT_COMPONENT

    slot = np.array(slots, np.int64)
    return {
        "xp": np.stack(xs),
        "frame": np.array(frame_ids, np.int64),
        "slot": slot,
        "component": SLOT_COMPONENT[slot],
        "fault": np.array(faults),
        "problems": np.array(problems, dtype=object),
    }


def default_out() -> Path:
    from agentarts.config import load_settings

    root = load_settings().project_root
    return root / ".agentarts" / "models" if root else Path("models")


def run(
    data: Path | None = None,
    out: Path | None = None,
    seed: int = 0,
    as_json: bool = False,
    epochs: int = 8,
) -> dict[str, Any]:
    from agentarts.industries.rail.slot_stage import fit_on_data
    from agentarts.industries.rail.train import HELD_OUT, MODELS, fit_and_export, train

    _torch_or_hint()
    out = Path(out) if out is not None else default_out()
    if out.resolve() == MODELS.resolve() or MODELS.resolve() in out.resolve().parents:
        raise UsageError(f"--out {out} is the pack's shipped model folder; choose another")
    if data is None:
        result = train(out, seed=seed)
    else:
        found = collect(Path(data))
        problems = list(found.pop("problems"))
        labels = found["fault"]
        if (labels == "normal").sum() < 50 or (labels != "normal").sum() < 10:
            raise UsageError(
                f"{data}: {int((labels != 'normal').sum())} fault and "
                f"{int((labels == 'normal').sum())} normal crops; training needs at least 10 "
                "faults and 50 normal crops"
            )
        unknown = sorted(set(labels[np.isin(labels, HELD_OUT)]))
        if unknown:
            # the shipped model's classes exclude these modes: such crops are left out
            keep = ~np.isin(labels, HELD_OUT)
            found = {k: v[keep] for k, v in found.items()}
        # a stable 80/20 split by crop content
        key = np.array([zlib.crc32(x.tobytes()) % 5 for x in found["xp"]])
        tr = {k: v[key != 0] for k, v in found.items()}
        va = {k: v[key == 0] for k, v in found.items()}
        provenance = {
            "script": "agentarts train rail --data",
            "data": str(Path(data).resolve()),
            "crops": len(labels),
            "epochs": epochs,
            "note": "thresholds and metrics from a 20% split of the same data",
        }
        out.mkdir(parents=True, exist_ok=True)
        result = fit_and_export(tr, va, None, out, epochs, seed, provenance)
        slot_prov = {**provenance, "script": "agentarts train rail --data (slot_stage.fit_on_data)"}
        slot_prov["note"] = "fitted on the normal crops of the 80% part; tail tables, thresholds "
        slot_prov["note"] += "and metrics from the 20% split the classifier's thresholds use"
        result["slot_model"] = fit_on_data(out, tr, va, slot_prov)
        result["joined_decision"] = result["slot_model"]["joined_decision"]
        result["problems"] = problems
        result["held_out_labels_not_trained"] = unknown
    result["out"] = str(out)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print(
            f"models written to {out}: recall {result['recall']}, false alarm rate "
            f"{result['false_alarm_rate']} (on {result['crops']} validation crops)"
        )
        slot = result.get("slot_model")
        if slot is not None and slot["joined_decision"]:
            print(
                f"joined decision (classifier + per-slot normal model, {slot['slots_modelled']} "
                f"slots modelled): recall {slot['recall']}, false alarm rate "
                f"{slot['false_alarm_rate']} (classifier alone: "
                f"{slot['classifier_alone']['recall']}, "
                f"{slot['classifier_alone']['false_alarm_rate']})"
            )
        elif slot is not None:
            print(f"joined decision not fitted: {slot['reason']}")
        for p in result.get("problems", []):
            print(f"skipped: {p}", file=sys.stderr)
    return result
