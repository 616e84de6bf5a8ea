"""Train the rail pack's two crop models and export them to ONNX with cards.

    pip install torch==2.13.0        # the CPU build
    python -m agentarts.industries.rail.train [--out DIR] [--frames 4000] [--epochs 18]

* ``rail_fault_classifier``: a small CNN (four 3x3 conv layers with BatchNorm folded into the
  exported weights, per-image normalisation inside the graph, the component's one-hot joined
  before the head) classifying a 64 x 64 crop into ``normal`` or one of the trained fault modes.
  The modes ``deformed`` and ``leaking`` are held out of its training on purpose, so the card's
  ``unseen`` figures measure what happens to a fault type nobody labelled.
* ``rail_anomaly_scorer``: the same network shape trained on normal crops only, against
  synthetic corruptions of them (CutPaste patches and scars, DRAEM-style blended blobs, erased
  patches; none of them is a catalogue fault mode): its score flags what does not look like the
  component's normal appearance.

Decision thresholds, per component criticality class (the worst criticality of the
component's fault types), are chosen on validation frames: the classifier threshold so that
every critical validation fault is flagged (with a safety margin), the anomaly threshold at the
0.1 % false-alarm quantile of normal validation crops. They are written to the classifier's card
under ``[decision]``.

Seeds: training frames 100000+, validation 200000+, held-out test 300000+ (metrics in the
cards). The demo and the benchmark use train seeds below 100000, never any of these.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.rail.augment import corrupt
from agentarts.industries.rail.catalogue import COMPONENTS, CRITICALITIES, MODES, load_catalogue
from agentarts.industries.rail.generator import LAYOUTS, STATIONS, Frame, crop_windows
from agentarts.industries.rail.generator import render_frame as _render

MODELS = Path(__file__).parent / "models"
HELD_OUT = ("deformed", "leaking")
TRAINED_MODES = tuple(m for m in MODES if m not in HELD_OUT)
CLASSES = ("normal", *TRAINED_MODES)
COMPONENT_NAMES = tuple(c.name for c in COMPONENTS)
TRAIN_SEED, VALID_SEED, TEST_SEED = 100_000, 200_000, 300_000
CLASSIFIER, SCORER = "rail_fault_classifier", "rail_anomaly_scorer"
CRITICAL_MARGIN = 0.5  # nats of logit below the lowest-scoring critical validation fault
OTHER_RECALL = 0.995  # validation recall the major/minor classifier thresholds keep
ANOMALY_FA = 0.001  # false-alarm rate of the anomaly path on normal validation crops
#: With the shipped models, flagging every critical validation fault would flag ~60 % of the
#: normal crops of critical components (a few critical faults score as normal); the classifier
#: threshold of that class is therefore never set below this false-alarm rate (~1 % of crops,
#: ~24 per 40-car train). Recall first, but a queue a person can work through.
CRITICAL_FA_CAP = 0.01


def _sample_chunk(args: tuple[int, int, float, tuple[str, ...] | None]) -> dict[str, np.ndarray]:
    seed, frames, fault_rate, modes = args
    rng = np.random.default_rng(seed)
    cat = load_catalogue()
    crops, comps, faults = [], [], []
    classes = list(LAYOUTS)
    for _ in range(frames):
        vc = classes[int(rng.integers(len(classes)))]
        station = STATIONS[int(rng.integers(len(STATIONS)))]
        layout = LAYOUTS[vc][station]
        names = layout[int(rng.integers(len(layout)))]
        chosen: list[str | None] = []
        for comp in names:
            options = [m for m in cat.modes_of(comp) if modes is None or m in modes]
            hit = options and rng.random() < fault_rate
            chosen.append(str(rng.choice(options)) if hit else None)
        frame = Frame(station, 1, list(names), chosen)
        image = _render(frame, vc, rng)
        crops.append(crop_windows(image, len(names)))
        comps += [COMPONENT_NAMES.index(c) for c in names]
        faults += [f or "normal" for f in chosen]
    return {
        "x": np.concatenate(crops),
        "component": np.array(comps, np.int64),
        "fault": np.array(faults),
    }


CHUNK = 250  # frames per generation task (two worker processes share the chunks)


def sample_frames(
    seed: int,
    frames: int,
    fault_rate: float,
    modes: tuple[str, ...] | None = None,
    workers: int = 2,
) -> dict[str, np.ndarray]:
    """Random station frames of random vehicle classes; every window becomes a crop.
    Deterministic: chunk ``j`` of ``CHUNK`` frames is drawn from seed ``seed + j``."""
    tasks = [
        (seed + j, min(CHUNK, frames - j * CHUNK), fault_rate, modes)
        for j in range((frames + CHUNK - 1) // CHUNK)
    ]
    if workers > 1 and len(tasks) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_sample_chunk, tasks)
    else:
        parts = [_sample_chunk(t) for t in tasks]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def one_hot(index: np.ndarray) -> np.ndarray:
    out = np.zeros((len(index), len(COMPONENT_NAMES)), np.float32)
    out[np.arange(len(index)), index] = 1.0
    return out


def _net(n_out: int) -> Any:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            spec = [(1, 12, 2), (12, 24, 2), (24, 32, 2), (32, 48, 1)]
            self.convs = nn.ModuleList(
                nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False) for i, o, s in spec
            )
            self.bns = nn.ModuleList(nn.BatchNorm2d(o) for _, o, _ in spec)
            self.fc1 = nn.Linear(48 + len(COMPONENT_NAMES), 96)
            self.fc2 = nn.Linear(96, n_out)

        def forward(self, x: Any, comp: Any) -> Any:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            xc = x - mean
            x = xc / (xc.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + 0.02)
            for conv, bn in zip(self.convs, self.bns, strict=True):
                x = torch.relu(bn(conv(x)))
            h = torch.cat([x.mean(dim=(2, 3)), comp], dim=1)
            return self.fc2(torch.relu(self.fc1(h)))

    return Net()


def _fit(net: Any, batches: Any, epochs: int, steps: int, lr: float = 3e-3) -> None:
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps)
    net.train()
    for epoch in range(epochs):
        total, count, t0 = 0.0, 0, time.time()
        for x, comp, y, loss_fn in batches(epoch):
            loss = loss_fn(net(x, comp), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + loss.item(), count + 1
        print(
            f"epoch {epoch + 1}/{epochs}: loss {total / max(count, 1):.4f} "
            f"({time.time() - t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    net.eval()


def train_models(
    data: dict[str, np.ndarray], valid: dict[str, np.ndarray], epochs: int, seed: int
) -> tuple[Any, Any]:
    """Fit the classifier (all labels) and the scorer (normal crops only)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # the machine is shared: one core
    x = torch.from_numpy(data["x"].astype(np.float32)[:, None] / 255.0)
    comp = torch.from_numpy(one_hot(data["component"]))
    y = torch.from_numpy(np.array([CLASSES.index(f) for f in data["fault"]], np.int64))
    n, bs = len(x), 128
    gen = torch.Generator().manual_seed(seed)
    ce = nn.CrossEntropyLoss()

    def cls_batches(_epoch: int) -> Any:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n - bs + 1, bs):
            idx = order[i : i + bs]
            yield x[idx], comp[idx], y[idx], ce

    classifier = _net(len(CLASSES))
    _fit(classifier, cls_batches, epochs, n // bs)

    normal = data["fault"] == "normal"
    xn = data["x"][normal].astype(np.float32) / 255.0
    cn = one_hot(data["component"][normal])
    rng = np.random.default_rng(seed)
    bce = nn.BCEWithLogitsLoss()
    m = len(xn)

    def anomaly_batches(_epoch: int) -> Any:
        order = rng.permutation(m)
        half = bs // 2
        for i in range(0, m - half + 1, half):
            idx = order[i : i + half]
            bad = corrupt(xn[idx], rng)
            xb = torch.from_numpy(np.concatenate([xn[idx], bad])[:, None])
            cb = torch.from_numpy(np.concatenate([cn[idx], cn[idx]]))
            yb = torch.cat([torch.zeros(half, 1), torch.ones(half, 1)])
            yield xb, cb, yb, bce

    scorer = _net(1)
    scorer_epochs = max(1, epochs // 2)  # a binary task on half the data: converges sooner
    _fit(scorer, anomaly_batches, scorer_epochs, m // (bs // 2))
    return classifier, scorer


def run_models(
    folder: Path, x: np.ndarray, comp: np.ndarray, batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Both exported models on crops (uint8 N x 64 x 64) with onnxruntime directly."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    cls = ort.InferenceSession(str(folder / CLASSIFIER / "1" / "model.onnx"), opts)
    an = ort.InferenceSession(str(folder / SCORER / "1" / "model.onnx"), opts)
    probs, scores = [], []
    for i in range(0, len(x), batch):
        feed = {
            "image": x[i : i + batch, None].astype(np.float32) / 255.0,
            "component": one_hot(comp[i : i + batch]),
        }
        probs.append(cls.run(None, feed)[0])
        scores.append(an.run(None, feed)[0])
    return np.concatenate(probs), np.concatenate(scores)


def evaluate(folder: Path, test: dict[str, np.ndarray], thresholds: Any) -> dict[str, Any]:
    """Held-out metrics: recall per fault mode and criticality, false alarms per crop."""
    from agentarts.industries.rail.decide import decide

    cat = load_catalogue()
    probs, scores = run_models(folder, test["x"], test["component"])
    comps = [COMPONENT_NAMES[i] for i in test["component"]]
    d = decide(probs, scores, comps, CLASSES, thresholds, cat)
    fault = test["fault"] != "normal"
    crit = np.array(
        [
            cat.get(c, f).criticality if f != "normal" else ""
            for c, f in zip(comps, test["fault"], strict=True)
        ]
    )

    def recall(mask: np.ndarray) -> float | None:
        return round(float(d.flagged[mask].mean()), 4) if mask.any() else None

    by_mode = {m: recall(test["fault"] == m) for m in MODES}
    by_crit = {c: recall(crit == c) for c in CRITICALITIES}
    unseen = np.isin(test["fault"], HELD_OUT)
    named = np.array(d.mode) == test["fault"]
    seen_flagged = fault & ~unseen & d.flagged
    return {
        "crops": len(fault),
        "faults": int(fault.sum()),
        "recall": recall(fault),
        "recall_seen_modes": recall(fault & ~unseen),
        "unseen_mode_recall": recall(unseen),
        "false_alarm_rate": round(float(d.flagged[~fault].mean()), 5),
        "mode_accuracy_of_flagged_seen": round(float(named[seen_flagged].mean()), 4)
        if seen_flagged.any()
        else None,
        "recall_by_mode": {k: v for k, v in by_mode.items() if v is not None},
        "recall_by_criticality": {k: v for k, v in by_crit.items() if v is not None},
        "classifier_only_recall": round(
            float(
                (d.fault_score >= np.array([thresholds.classifier[cat.worst(c)] for c in comps]))[
                    fault
                ].mean()
            ),
            4,
        ),
    }


def _present(v: Any) -> bool:
    """TOML has no null or NaN: such entries are left out of the card."""
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _toml_value(v: Any) -> str:
    if isinstance(v, dict):
        items = [(k, x) for k, x in v.items() if _present(x)]
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in items) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def write_cards(folder: Path, metrics: dict[str, Any], thresholds: Any, provenance: dict) -> None:
    comps = _toml_value(list(COMPONENT_NAMES))
    common = f"""[[inputs]]
name = "image"
description = "64 x 64 grey component crop at the station layout's window, pixels / 255"
valid_range = [0.0, 1.0]

[[inputs]]
name = "component"
description = "one-hot of the component kind the window shows (station layout)"
features = {comps}

[batching]
max_batch_size = 256
preferred_batch_sizes = [64, 128, 256]

[provenance]
{chr(10).join(f"{k} = {_toml_value(v)}" for k, v in provenance.items())}
"""
    decision = {"classifier": thresholds.classifier, "anomaly": thresholds.anomaly}
    evaluation = dict(metrics)
    (folder / CLASSIFIER / "model.toml").write_text(
        f"""description = "Rail: fault mode of a component crop (normal or {len(TRAINED_MODES)} \
modes)"
task = "classification"
precision = "fp16"
{common}
[[outputs]]
name = "probs"
description = "probabilities of {list(CLASSES)}; held out of training: {list(HELD_OUT)}"
features = {_toml_value(list(CLASSES))}

[metrics]
{chr(10).join(f"{k} = {_toml_value(v)}" for k, v in evaluation.items() if _present(v))}
decision = {_toml_value(decision)}
"""
    )
    (folder / SCORER / "model.toml").write_text(
        f"""description = "Rail: anomaly score of a component crop, trained on normal crops only"
task = "anomaly_detection"
precision = "fp16"
{common}
[[outputs]]
name = "score"
description = "probability that the crop is not a normal view of its component"

[metrics]
unseen_mode_recall = {_toml_value(metrics["unseen_mode_recall"] or 0.0)}
false_alarm_rate = {_toml_value(metrics["false_alarm_rate"])}
anomaly_thresholds = {_toml_value(thresholds.anomaly)}
note = "metrics of the combined decision (classifier or scorer) on the held-out test frames"
"""
    )


def fit_and_export(
    train: dict[str, np.ndarray],
    valid: dict[str, np.ndarray],
    test: dict[str, np.ndarray] | None,
    out: Path,
    epochs: int,
    seed: int,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    from agentarts.industries.rail.decide import choose_thresholds
    from agentarts.industries.rail.export import check_export, export_crop_net

    t0 = time.time()
    classifier, scorer = train_models(train, valid, epochs, seed)
    fit_s = time.time() - t0
    export_crop_net(
        classifier, out / CLASSIFIER / "1" / "model.onnx", len(COMPONENT_NAMES), "softmax", "probs"
    )
    export_crop_net(
        scorer, out / SCORER / "1" / "model.onnx", len(COMPONENT_NAMES), "sigmoid", "score"
    )
    probe = valid["x"][:64, None].astype(np.float32) / 255.0
    probe_c = one_hot(valid["component"][:64])
    for net, name, head in ((classifier, CLASSIFIER, "softmax"), (scorer, SCORER, "sigmoid")):
        err = check_export(net, out / name / "1" / "model.onnx", probe, probe_c, head)
        if err > 1e-4:
            raise RuntimeError(f"exported {name} differs from the trained network by {err:.2g}")
    cat = load_catalogue()
    probs, scores = run_models(out, valid["x"], valid["component"])
    comps = [COMPONENT_NAMES[i] for i in valid["component"]]
    thresholds = choose_thresholds(
        probs,
        scores,
        comps,
        list(valid["fault"]),
        cat,
        CRITICAL_MARGIN,
        OTHER_RECALL,
        ANOMALY_FA,
        CRITICAL_FA_CAP,
    )
    metrics = evaluate(out, test if test is not None else valid, thresholds)
    metrics["train_crops"] = len(train["x"])
    metrics["fit_seconds"] = round(fit_s, 1)
    write_cards(out, metrics, thresholds, provenance)
    return metrics


def train(
    out: Path = MODELS,
    frames: int = 4000,
    epochs: int = 18,
    seed: int = 0,
    cache: Path | None = None,
) -> dict:
    """The shipped models, from the generator (deterministic); ``cache`` keeps the generated
    crops between runs."""
    t0 = time.time()

    def cached(name: str, *args: Any) -> dict[str, np.ndarray]:
        path = cache / f"{name}-{'-'.join(map(str, args[:3]))}.npz" if cache else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        found = sample_frames(*args)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **found)
        return found

    data = cached("train", TRAIN_SEED + seed, frames, 0.5, TRAINED_MODES)
    valid = cached("valid", VALID_SEED + seed, frames // 2, 0.15, TRAINED_MODES)
    test = cached("test", TEST_SEED + seed, frames // 2, 0.15)
    gen_s = time.time() - t0
    provenance = {
        "script": "agentarts.industries.rail.train",
        "generator": "agentarts.industries.rail.generator (procedural, seeded)",
        "train_frames": f"{frames} frames from seed {TRAIN_SEED + seed}, fault rate 0.5",
        "valid_frames": f"{frames // 2} frames from seed {VALID_SEED + seed} (thresholds)",
        "test_frames": f"{frames // 2} frames from seed {TEST_SEED + seed}, all modes",
        "held_out_modes": list(HELD_OUT),
        "epochs": epochs,
    }
    metrics = fit_and_export(data, valid, test, out, epochs, seed, provenance)
    metrics["generate_seconds"] = round(gen_s, 1)
    metrics["seconds"] = round(time.time() - t0, 1)
    return metrics


def recalibrate(out: Path, valid: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> dict:
    """Choose thresholds again for exported models and rewrite their cards (no training)."""
    import tomllib

    from agentarts.industries.rail.decide import choose_thresholds

    card = tomllib.loads((out / CLASSIFIER / "model.toml").read_text())
    probs, scores = run_models(out, valid["x"], valid["component"])
    comps = [COMPONENT_NAMES[i] for i in valid["component"]]
    thresholds = choose_thresholds(
        probs,
        scores,
        comps,
        list(valid["fault"]),
        load_catalogue(),
        CRITICAL_MARGIN,
        OTHER_RECALL,
        ANOMALY_FA,
        CRITICAL_FA_CAP,
    )
    metrics = evaluate(out, test, thresholds)
    for key in ("train_crops", "fit_seconds"):
        metrics[key] = card["metrics"].get(key)
    write_cards(out, metrics, thresholds, card["provenance"])
    return metrics


def train_command(
    *, data: Path | None = None, out: Path | None = None, seed: int = 0, as_json: bool = False
) -> dict[str, Any]:
    """`agentarts train rail`: fit on the user's images (``data``) or on the generator, writing
    only under ``out`` (default: the project's .agentarts/models); see retrain.py."""
    from agentarts.industries.rail.retrain import run

    return run(data, out, seed, as_json)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m agentarts.industries.rail.train")
    parser.add_argument("--out", type=Path, default=MODELS)
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=18)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="keep generated crops here")
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="only choose thresholds again for the models in --out",
    )
    args = parser.parse_args()
    if args.recalibrate:
        if args.cache is None:
            parser.error("--recalibrate needs --cache (the generated validation and test crops)")
        tag = lambda name, base, n, rate: np.load(  # noqa: E731
            args.cache / f"{name}-{base + args.seed}-{n}-{rate}.npz"
        )
        valid = dict(tag("valid", VALID_SEED, args.frames // 2, 0.15))
        test = dict(tag("test", TEST_SEED, args.frames // 2, 0.15))
        print(json.dumps(recalibrate(args.out, valid, test), indent=2))
        return
    metrics = train(args.out, args.frames, args.epochs, args.seed, args.cache)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
