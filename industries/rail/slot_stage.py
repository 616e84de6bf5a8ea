"""Second training stage: the per-slot PCA normal model and the joined decision.

    python -m agentarts.industries.rail.train --stage slots [--cache DIR]   # this stage alone
    python -m agentarts.industries.rail.train                                # both stages

Fits ``rail_slot_normal`` (``slotnet.py``) on NORMAL crops only (frames drawn with fault rate 0
from seeds 150000+, inside the training range and apart from the classifier's 100000+), with its
own registration templates (``rail_slot_normal_template``). Then it scores the classifier's
validation frames (seeds 200000+, the same frames its thresholds were chosen on) with both
models, builds the normal-tail tables and one threshold per criticality class on the rank sum
with the classifier's policy (``decide.choose_joined``), and reports the joined decision on the
held-out test frames (seeds 300000+, all modes), beside the classifier alone on the same crops.

``fit_on_data`` does the same on a railway's own crops for ``agentarts train rail --data``
(``retrain.py``): the slot model on the normal crops of its training part, the joined decision
on its held-out part, both beside the retrained classifier.

Where the decision lives: in this model's card, ``[metrics] decision.joined`` (the two tail
tables, 2 x ~90 numbers, the three thresholds and the classifier thresholds they were fitted
with). The card is what the runtime already serves as model metadata (``model_metadata``), what
a person reads and edits, and what the classifier's own thresholds use; the ONNX file stays a
pure scorer that another decision can reuse.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.rail.cards import (
    slot_input_toml,
    toml_lines,
    toml_value,
    write_lookup_card,
)
from agentarts.industries.rail.catalogue import CRITICALITIES, MODES, load_catalogue
from agentarts.industries.rail.decide import Joined, Thresholds, choose_joined, decide
from agentarts.industries.rail.generator import MARK_SPREAD, SLOTS
from agentarts.industries.rail.train import (
    CLASSES,
    CLASSIFIER,
    COMPONENT_NAMES,
    CRITICAL_FA_CAP,
    FA_FLOOR,
    HELD_OUT,
    OTHER_RECALL,
    TEST_SEED,
    TRAIN_SEED,
    TRAINED_MODES,
    VALID_SEED,
    cached_frames,
    load_templates,
    run_models,
)

SLOT_MODEL, SLOT_TEMPLATE = "rail_slot_normal", "rail_slot_normal_template"
SLOT_SEED = TRAIN_SEED + 50_000
COMPONENTS = 16  # principal components per slot (8 until 2026-11-28: 10 MB; 16 measured better)
#: the lowest-scoring critical validation fault sits this far inside the line (decades of
#: normal-tail share: 0.2 = a normal crop is 1.6 times rarer than the line)
JOINED_CRITICAL_MARGIN = 0.2


def choose_joined_for_pack(
    probs: np.ndarray, s2: np.ndarray, valid: dict[str, np.ndarray], classifier: Thresholds
) -> Joined:
    """``decide.choose_joined`` on validation crops with the pack's class policy."""
    return choose_joined(
        probs,
        s2,
        [COMPONENT_NAMES[i] for i in valid["component"]],
        list(valid["fault"]),
        load_catalogue(),
        classifier,
        JOINED_CRITICAL_MARGIN,
        OTHER_RECALL,
        FA_FLOOR,
        CRITICAL_FA_CAP,
    )


def run_slot_model(folder: Path, x: np.ndarray, slot: np.ndarray, batch: int = 256) -> np.ndarray:
    """The exported slot model on aligned crops (uint8 N x 64 x 64), onnxruntime, one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(folder / SLOT_MODEL / "1" / "model.onnx"), opts)
    out = [
        session.run(
            None,
            {
                "image": x[i : i + batch].astype(np.float32) / 255.0,
                "slot": slot[i : i + batch].astype(np.int64),
            },
        )[0]
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def scores(out: Path, d: dict[str, np.ndarray], own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both models on a set of padded crops, each after its own registration."""
    from agentarts.industries.rail.refnet import align

    x_cls = align(d["xp"], d["slot"], d["frame"], load_templates(out))
    probs = run_models(out, x_cls, d["slot"])
    x_own = align(d["xp"], d["slot"], d["frame"], own)
    return probs, run_slot_model(out, x_own, d["slot"])


def evaluate_joined(
    probs: np.ndarray, s2: np.ndarray, d: dict[str, np.ndarray], cls: Thresholds, joined: Joined
) -> dict[str, Any]:
    """Recall per mode and criticality and false alarms of the joined decision, and of the
    classifier alone on the same crops."""
    cat = load_catalogue()
    comps = [COMPONENT_NAMES[i] for i in d["component"]]
    dec = decide(probs, comps, CLASSES, cls, cat, s2, joined)
    fault = d["fault"] != "normal"
    crit = np.array(
        [
            cat.get(c, f).criticality if f != "normal" else ""
            for c, f in zip(comps, d["fault"], strict=True)
        ]
    )
    worst = np.array([cat.worst(c) for c in comps])
    unseen = np.isin(d["fault"], HELD_OUT)

    def rate(flags: np.ndarray, mask: np.ndarray) -> float | None:
        return round(float(flags[mask].mean()), 4) if mask.any() else None

    def block(flags: np.ndarray) -> dict[str, Any]:
        return {
            "recall": rate(flags, fault),
            "recall_seen_modes": rate(flags, fault & ~unseen),
            "unseen_mode_recall": rate(flags, unseen),
            "false_alarm_rate": rate(flags, ~fault),
            "recall_by_mode": {m: rate(flags, d["fault"] == m) for m in MODES},
            "recall_by_criticality": {c: rate(flags, crit == c) for c in CRITICALITIES},
            "false_alarm_rate_by_class": {
                c: rate(flags, ~fault & (worst == c)) for c in CRITICALITIES
            },
        }

    flagged = dec.flagged
    only_slot = flagged & (np.array(dec.mode) == "unknown_anomaly")
    return {
        "crops": len(fault),
        "faults": int(fault.sum()),
        **block(flagged),
        "flagged_as_unknown_anomaly": int(only_slot.sum()),
        "classifier_alone": block(dec.classifier_only),
    }


def write_cards(out: Path, metrics: dict[str, Any], provenance: dict[str, Any]) -> None:
    size = (out / SLOT_MODEL / "1" / "model.onnx").stat().st_size
    metric_lines = "\n".join(f"{k} = {toml_value(v)}" for k, v in metrics.items() if v is not None)
    (out / SLOT_MODEL / "model.toml").write_text(
        f"""description = "Rail: per-slot PCA normal model of a component crop (no fault labels): \
standardised residual score at the best of 17 small shifts of the crop, joined with the \
classifier in the decision ({size / 1e6:.1f} MB: int8 mean and basis tables, fp16 spreads)"
task = "anomaly_score"
precision = "fp16"

[[inputs]]
name = "image"
description = "64 x 64 grey crop aligned to the slot's template from {SLOT_TEMPLATE}, pixels / 255"
valid_range = [0.0, 1.0]

{slot_input_toml("index of the crop's slot (vehicle class / component)")}
[[outputs]]
name = "score"
description = "standardised PCA residual score, the lowest over 17 shifts of up to 2 px (higher = \
further from the slot's normal look)"

[batching]
max_batch_size = 256
preferred_batch_sizes = [64, 128, 256]

[provenance]
{toml_lines(provenance)}

[metrics]
{metric_lines}
"""
    )
    write_lookup_card(
        out / SLOT_TEMPLATE, f"Rail: registration template of a slot for {SLOT_MODEL}", provenance
    )


def fit_stage(
    out: Path,
    frames: int = 6000,
    components: int = COMPONENTS,
    seed: int = 0,
    cache: Path | None = None,
    classifier_frames: int = 8000,
    mark_spread: float = MARK_SPREAD,
) -> dict[str, Any]:
    """Fit and export the slot model, choose the joined decision, write the cards. The
    classifier in ``out`` is kept as it is (its validation/test frames: ``classifier_frames``
    // 2 each, the same draw as its training run, so a ``cache`` of that run is reused).
    ``mark_spread``: the paint marks' spread of the NORMAL frames the slot model is fitted on
    (``--train-mark-spread``; validation and test frames keep the generator's)."""
    from agentarts.industries.rail.refnet import align, export_reference_model, fit_templates
    from agentarts.industries.rail.slotnet import export_slot_normal, fit_slot_normal

    t0 = time.time()
    normals = cached_frames(cache, "normal", SLOT_SEED + seed, frames, 0.0, mark_spread=mark_spread)
    n = len(normals["slot"])
    gen_s = time.time() - t0
    own = fit_templates(
        normals["xp"], normals["slot"], np.ones(n, bool), normals["frame"], len(SLOTS)
    )
    x = align(normals["xp"], normals["slot"], normals["frame"], own)
    reg_s = time.time() - t0 - gen_s
    tables = fit_slot_normal(x, normals["slot"], len(SLOTS), components)
    export_slot_normal(tables, out / SLOT_MODEL / "1" / "model.onnx")
    export_reference_model(own, out / SLOT_TEMPLATE / "1" / "model.onnx")
    fit_s = time.time() - t0 - gen_s - reg_s
    half = classifier_frames // 2
    valid = cached_frames(cache, "valid", VALID_SEED + seed, half, 0.15, TRAINED_MODES)
    test = cached_frames(cache, "test", TEST_SEED + seed, half, 0.15)
    card = tomllib.loads((out / CLASSIFIER / "model.toml").read_text())
    cls = Thresholds.from_metrics(card["metrics"])
    probs, s2 = scores(out, valid, own)
    joined = choose_joined_for_pack(probs, s2, valid, cls)
    on_valid = evaluate_joined(probs, s2, valid, cls, joined)
    t_probs, t_s2 = scores(out, test, own)
    metrics = evaluate_joined(t_probs, t_s2, test, cls, joined)
    metrics["validation"] = {
        k: on_valid[k]
        for k in (
            "recall",
            "false_alarm_rate",
            "false_alarm_rate_by_class",
            "recall_by_criticality",
        )
    }
    metrics["normal_crops"] = n
    metrics["components"] = components
    metrics["onnx_bytes"] = (out / SLOT_MODEL / "1" / "model.onnx").stat().st_size
    metrics["generate_seconds"] = round(gen_s, 1)
    metrics["register_seconds"] = round(reg_s, 1)
    metrics["fit_seconds"] = round(fit_s, 1)
    metrics["seconds"] = round(time.time() - t0, 1)
    metrics["decision"] = joined.card_table()
    provenance = {
        "script": "agentarts.industries.rail.train --stage slots (slot_stage.py)",
        "generator": "agentarts.industries.rail.generator (procedural, seeded)",
        "normal_frames": f"{frames} frames from seed {SLOT_SEED + seed}, fault rate 0 (no labels)",
        "valid_frames": f"{half} frames from seed {VALID_SEED + seed} (tail tables, thresholds)",
        "test_frames": f"{half} frames from seed {TEST_SEED + seed}, all modes",
        "normal_mark_spread": f"{mark_spread} rad (paint-mark spread of the normal frames)",
        "components": components,
        "decision": "sum of normal-tail ranks of the classifier's logit(1 - P(normal)) and of "
        "this score; one threshold per criticality class, the classifier's policy",
    }
    write_cards(out, metrics, provenance)
    return metrics


#: the held-out part must hold this many normal crops and faults to calibrate the joined
#: decision on a railway's own data (tail tables of over two decades, limits per class that
#: are not one crop's score); below that the classifier decides alone
MIN_JOINED_NORMALS, MIN_JOINED_FAULTS = 200, 20


def fit_on_data(
    out: Path,
    train: dict[str, np.ndarray],
    valid: dict[str, np.ndarray],
    provenance: dict[str, Any],
    components: int = COMPONENTS,
) -> dict[str, Any]:
    """``agentarts train rail --data``: fit the slot model on the NORMAL crops of the training
    part (``train``: padded crops ``xp``, ``slot``, ``frame``, ``fault``), with its own
    templates, and choose the joined decision on the held-out part (``valid``, the split the
    classifier's thresholds were chosen on) with the pack's policy (``decide.choose_joined``,
    ``decide.class_limits``), against the retrained classifier already in ``out``.

    A slot with fewer than ``slotnet.MIN_CROPS`` normal training crops is not modelled (no
    borrowing: another slot's PCA basis describes another look): its score is far below any
    normal, its rank 0, so its crops are flagged by the classifier's rank alone against the
    joined threshold; the tail tables and thresholds are chosen on all held-out crops, those
    slots included. Nothing is written unless a slot is modelled and the held-out part holds
    ``MIN_JOINED_NORMALS`` normal crops and ``MIN_JOINED_FAULTS`` faults: then the result says
    ``joined_decision: false`` and why, and the project's classifier decides alone (a slot
    model left in ``out`` by an earlier run records other classifier thresholds and is not
    used). The two models are staged beside ``out`` and moved in at the end."""
    import shutil
    import tempfile

    from agentarts.industries.rail.refnet import align, export_reference_model, fit_templates
    from agentarts.industries.rail.slotnet import MIN_CROPS, export_slot_normal, fit_slot_normal

    normal = train["fault"] == "normal"
    need = max(MIN_CROPS, 2 * components + 8)
    counts = np.bincount(train["slot"][normal], minlength=len(SLOTS))
    modelled = int((counts >= need).sum())
    v_normal = int((valid["fault"] == "normal").sum())
    v_fault = len(valid["fault"]) - v_normal
    info: dict[str, Any] = {"joined_decision": False, "slots_modelled": modelled}
    if not modelled:
        info["reason"] = (
            f"no slot has {need} normal training crops (most: {int(counts.max())}); "
            "the classifier decides alone"
        )
        return info
    if v_normal < MIN_JOINED_NORMALS or v_fault < MIN_JOINED_FAULTS:
        info["reason"] = (
            f"the held-out part has {v_normal} normal crops and {v_fault} faults; the joined "
            f"decision needs {MIN_JOINED_NORMALS} and {MIN_JOINED_FAULTS}: the classifier "
            "decides alone"
        )
        return info
    t0 = time.time()
    own = fit_templates(train["xp"], train["slot"], normal, train["frame"], len(SLOTS))
    x = align(train["xp"][normal], train["slot"][normal], train["frame"][normal], own)
    tables = fit_slot_normal(x, train["slot"][normal], len(SLOTS), components)
    stage = Path(tempfile.mkdtemp(prefix=".slot-stage-", dir=out))
    try:
        export_slot_normal(tables, stage / SLOT_MODEL / "1" / "model.onnx")
        export_reference_model(own, stage / SLOT_TEMPLATE / "1" / "model.onnx")
        card = tomllib.loads((out / CLASSIFIER / "model.toml").read_text())
        cls = Thresholds.from_metrics(card["metrics"])
        x_cls = valid.get("x")
        if x_cls is None:
            x_cls = align(valid["xp"], valid["slot"], valid["frame"], load_templates(out))
        probs = run_models(out, x_cls, valid["slot"])
        x_own = align(valid["xp"], valid["slot"], valid["frame"], own)
        s2 = run_slot_model(stage, x_own, valid["slot"])
        joined = choose_joined_for_pack(probs, s2, valid, cls)
        metrics = evaluate_joined(probs, s2, valid, cls, joined)
        metrics["normal_crops"] = int(normal.sum())
        metrics["slots_modelled"] = modelled
        metrics["components"] = components
        metrics["onnx_bytes"] = (stage / SLOT_MODEL / "1" / "model.onnx").stat().st_size
        metrics["seconds"] = round(time.time() - t0, 1)
        metrics["decision"] = joined.card_table()
        write_cards(stage, metrics, {**provenance, "components": components})
        for name in (SLOT_MODEL, SLOT_TEMPLATE):
            shutil.rmtree(out / name, ignore_errors=True)
            (stage / name).rename(out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    alone = metrics["classifier_alone"]
    return {
        **info,
        "joined_decision": True,
        "threshold": joined.threshold,
        "normal_crops": int(normal.sum()),
        "recall": metrics["recall"],
        "false_alarm_rate": metrics["false_alarm_rate"],
        "classifier_alone": {k: alone[k] for k in ("recall", "false_alarm_rate")},
    }


def recalibrate(out: Path, valid: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> dict:
    """Choose the classifier's thresholds again for an exported model and rewrite its card (no
    training). The joined decision then no longer matches them (the classifier decides alone)
    until ``--stage slots`` is run again."""
    import tomllib

    from agentarts.industries.rail.refnet import align
    from agentarts.industries.rail.train import _thresholds, evaluate, write_card

    card = tomllib.loads((out / CLASSIFIER / "model.toml").read_text())
    table = load_templates(out)
    for d in (valid, test):
        d["x"] = align(d["xp"], d["slot"], d["frame"], table)
    thresholds = _thresholds(run_models(out, valid["x"], valid["slot"]), valid)
    metrics = evaluate(run_models(out, test["x"], test["slot"]), test, thresholds)
    for key in ("train_crops", "fit_seconds", "generate_seconds", "seconds"):
        if key in card["metrics"]:
            metrics[key] = card["metrics"][key]
    write_card(out, metrics, thresholds, card["provenance"])
    return metrics
