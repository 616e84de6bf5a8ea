"""Per-slot PCA normal models of component crops (the detector behind ``rail_slot_normal``).

A fixed camera station shows the same component of the same vehicle class in the same window of
every car: a *slot* (vehicle class, component). Normal crops of one slot differ only by
nuisances: grime, oil, lighting gradients, blur, noise, the frame's registration offset and a
little per-part jitter. This module builds the classical detector for such structured parts:

1. **registration**: each window is cut with a 6 px margin (``padded_windows``) and aligned to
   its slot's reference view by normalised cross-correlation of high-passed images (computed with
   FFTs); the windows of one frame share the frame's offset, so the frame's summed correlation
   picks the offset and each window refines it by up to 2 px (part jitter);
2. **lighting**: features are ``log(x + 0.08)`` minus its 15 x 15 local mean, which removes
   multiplicative lighting gradients, vignetting and most grime;
3. **normal model per slot**: the mean feature image and the first ``K`` principal components
   of normal crops (what jitter and nuisances move), the per-pixel variance of what is left,
   and that residual pooled over 3 x 3 and 7 x 7 (a fault is a coherent local change, sensor
   noise is not); the score is the log of the largest pooled, variance-normalised residual,
   standardised per slot on held-back normal crops.

It needs no fault labels, so a fault mode nobody labelled still scores high. Alone it is weaker
than the crop classifier (``python -m agentarts.industries.rail.slots`` measures it); joined with
it (the sum of the two scores' normal-tail ranks, ``decide.py``) it is part of the shipped
decision: ``slotnet.py`` exports it as the ONNX model ``rail_slot_normal`` (int8 tables, 8
components). See docs/rail.md ("Per-slot PCA normal model") for the figures and what limits it
(background members at random heights, smooth bends over flat regions).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentarts.industries.rail.catalogue import load_catalogue
from agentarts.industries.rail.generator import LAYOUTS, STATIONS, WINDOWS, Frame, render_frame
from agentarts.industries.rail.render import CROP

__all__ = [
    "PAD",
    "SlotModel",
    "padded_windows",
    "register",
    "register_many",
    "sample_slots",
    "slot_features",
]

PAD = 6  # registration search margin: the frame offset (<= 4 px) plus part jitter
SPAN = 2 * PAD + 1
# Per-window refinement around the frame's shared offset. Each part jitters N(0, 1) px on its
# own and the slots' templates are centred up to ~3 px apart, so 19.5 % of normal windows need
# more than 2.5 px: at 2 px those were misregistered and held about half the joined decision's
# false alarms on validation frames (a person sees the part's outline doubled in the
# difference, nothing wrong with the part). 4 px, measured with the same models on validation
# halves: +0.006 recall and +0.028 unseen-mode recall at 0.5 % false alarms; 6 px (each window
# on its own) was a little worse.
REFINE = 4


def padded_windows(image: np.ndarray, count: int, pad: int = PAD) -> np.ndarray:
    """The first ``count`` component windows of a frame with ``pad`` pixels around each."""
    return np.stack(
        [image[y - pad : y + CROP + pad, x - pad : x + CROP + pad] for x, y in WINDOWS[:count]]
    )


def box(x: np.ndarray, k: int) -> np.ndarray:
    """k x k mean filter over the last two axes (reflected edges, same size)."""
    p = k // 2
    lead = [(0, 0)] * (x.ndim - 2)
    c = np.pad(x, [*lead, (p, p), (p, p)], mode="reflect").cumsum(-1).cumsum(-2)
    c = np.pad(c, [*lead, (1, 0), (1, 0)])
    h, w = x.shape[-2:]
    return (c[..., k : k + h, k : k + w] - c[..., :h, k : k + w] - c[..., k : k + h, :w]
            + c[..., :h, :w]) / (k * k)  # fmt: skip


def highpass(x: np.ndarray, k: int = 9) -> np.ndarray:
    return x - box(x, k)


def slot_features(x: np.ndarray) -> np.ndarray:
    """Lighting-normalised features of aligned crops (N x 64 x 64, values in [0, 1])."""
    log = np.log(x.astype(np.float32) + 0.08)
    return (log - box(log, 15)).astype(np.float32)


def _energy(xh: np.ndarray) -> np.ndarray:
    """Energy of every 64 x 64 window of padded high-passed crops: N x SPAN x SPAN."""
    c = np.pad((xh * xh).cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    return c[:, CROP:, CROP:] - c[:, :SPAN, CROP:] - c[:, CROP:, :SPAN] + c[:, :SPAN, :SPAN]


def _ncc(xh: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of padded high-passed crops with their templates' spectra
    (conjugated FFTs of unit-norm templates zero-padded to the crop size): N x SPAN x SPAN."""
    size = xh.shape[-1]
    corr = np.fft.irfft2(np.fft.rfft2(xh) * spectra, s=(size, size))[:, :SPAN, :SPAN]
    return corr / np.sqrt(np.maximum(_energy(xh), 1e-6))


def register(
    x: np.ndarray, keys: np.ndarray, templates: dict[Any, np.ndarray], frames: np.ndarray
) -> np.ndarray:
    """Align padded crops (N x 76 x 76 uint8) to their slots' templates; returns N x 64 x 64
    floats in [0, 1]. Crops of the same ``frames`` id share the frame's offset."""
    return register_many(x, keys, [templates], frames)[0]


def register_many(
    x: np.ndarray,
    keys: np.ndarray,
    template_sets: list[dict[Any, np.ndarray]],
    frames: np.ndarray,
) -> list[np.ndarray]:
    """``register`` against several template sets at once (one per model): the crops'
    high-pass, FFT and window energies are computed once; each set gives exactly what
    ``register`` alone gives."""
    xf = x.astype(np.float32) / 255.0
    size = xf.shape[-1]
    spectra_sets = []
    for templates in template_sets:
        spectra = {}
        for k, t in templates.items():
            t = t / (np.linalg.norm(t) + 1e-9)
            spectra[k] = np.conj(np.fft.rfft2(np.pad(t, ((0, size - CROP), (0, size - CROP)))))
        spectra_sets.append(spectra)
    surfaces = [np.empty((len(x), SPAN, SPAN), np.float32) for _ in template_sets]
    for i in range(0, len(x), 512):
        part = slice(i, i + 512)
        xh = highpass(xf[part])
        fx = np.fft.rfft2(xh)
        norm = np.sqrt(np.maximum(_energy(xh), 1e-6))
        for spectra, surface in zip(spectra_sets, surfaces, strict=True):
            spec = np.stack([spectra[k] for k in keys[part]])
            corr = np.fft.irfft2(fx * spec, s=(size, size))[:, :SPAN, :SPAN]
            surface[part] = corr / norm
    _, inverse = np.unique(frames, return_inverse=True)
    outs = []
    for surface in surfaces:
        out = np.empty((len(x), CROP, CROP), np.float32)
        total = np.zeros((inverse.max() + 1, SPAN, SPAN), np.float32)
        np.add.at(total, inverse, surface)
        for i in range(len(x)):
            a0, b0 = np.unravel_index(np.argmax(total[inverse[i]]), (SPAN, SPAN))
            lo_a, lo_b = max(a0 - REFINE, 0), max(b0 - REFINE, 0)
            near = surface[i, lo_a : a0 + REFINE + 1, lo_b : b0 + REFINE + 1]
            da, db = np.unravel_index(np.argmax(near), near.shape)
            a, b = lo_a + da, lo_b + db
            out[i] = xf[i, a : a + CROP, b : b + CROP]
        outs.append(out)
    return outs


@dataclass
class SlotModel:
    """Per-slot reference views and normal residual statistics (see the module docstring)."""

    templates: dict[str, np.ndarray]  # high-passed mean view per slot (registration)
    stats: dict[str, dict[str, np.ndarray]]  # per slot: mean, basis, var3, var7, centre, scale
    components: int = 16

    @classmethod
    def fit(
        cls, x: np.ndarray, keys: np.ndarray, frames: np.ndarray, components: int = 16
    ) -> SlotModel:
        """``x``: padded normal crops; ``keys``: "vehicle_class/component" per crop."""
        nominal = x[:, PAD : PAD + CROP, PAD : PAD + CROP].astype(np.float32) / 255.0
        slots = sorted(set(keys))
        templates = {k: highpass(nominal[keys == k].mean(0)) for k in slots}
        for _ in range(2):  # the mean view sharpens as the crops are aligned to it
            aligned = register(x, keys, templates, frames)
            templates = {k: highpass(aligned[keys == k].mean(0)) for k in slots}
        feats = slot_features(register(x, keys, templates, frames))
        stats = {}
        for k in slots:
            if (keys == k).sum() < 2 * components + 8:  # too few views to model this slot
                continue
            a = feats[keys == k].reshape(int((keys == k).sum()), -1)
            n_fit = len(a) * 2 // 3  # the rest calibrates the score's scale
            fit, held = a[:n_fit], a[n_fit:]
            mean = fit.mean(0)
            basis = np.linalg.svd(fit - mean, full_matrices=False)[2][:components]
            s = {"mean": mean, "basis": basis}
            dof = max(n_fit - components - 1, 1)
            res = _residual(fit, s)
            for p in (3, 7):
                var = (box(res, p) ** 2).sum(0) / dof
                s[f"var{p}"] = np.maximum(var, max(float(np.percentile(var, 20)), 1e-6))
            raw = _raw_score(held, s)
            s["centre"], s["scale"] = np.median(raw), raw.std() + 1e-6
            stats[k] = s
        return cls(templates, stats, components)

    def score(self, x: np.ndarray, keys: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Standardised anomaly score per padded crop (NaN for a slot the model has not seen)."""
        known = np.isin(keys, list(self.stats))
        out = np.full(len(x), np.nan)
        if not known.any():
            return out
        feats = slot_features(register(x[known], keys[known], self.templates, frames[known]))
        idx = np.flatnonzero(known)
        for k in set(keys[known]):
            here = keys[known] == k
            s = self.stats[k]
            raw = _raw_score(feats[here].reshape(int(here.sum()), -1), s)
            out[idx[here]] = (raw - s["centre"]) / s["scale"]
        return out


def _residual(a: np.ndarray, s: dict[str, np.ndarray]) -> np.ndarray:
    z = a - s["mean"]
    z = z - (z @ s["basis"].T) @ s["basis"]
    return z.reshape(-1, CROP, CROP)


def _raw_score(a: np.ndarray, s: dict[str, np.ndarray]) -> np.ndarray:
    r = _residual(a, s)
    pooled = [(box(r, p) ** 2 / s[f"var{p}"]).max((1, 2)) for p in (3, 7)]
    return np.log(np.maximum(*pooled) + 1e-9)


def sample_slots(seed: int, frames: int, fault_rate: float) -> dict[str, np.ndarray]:
    """Random station frames (all vehicle classes and modes) cut into padded windows, with
    each window's slot key, fault (``normal`` if intact) and frame id. Deterministic."""
    rng = np.random.default_rng(seed)
    cat = load_catalogue()
    classes = list(LAYOUTS)
    xs, keys, faults, ids = [], [], [], []
    for f in range(frames):
        vc = classes[int(rng.integers(len(classes)))]
        station = STATIONS[int(rng.integers(len(STATIONS)))]
        layout = LAYOUTS[vc][station]
        names = layout[int(rng.integers(len(layout)))]
        chosen = []
        for comp in names:
            options = cat.modes_of(comp)
            hit = options and rng.random() < fault_rate
            chosen.append(str(rng.choice(options)) if hit else None)
        image = render_frame(Frame(station, 1, list(names), chosen), vc, rng)
        xs.append(padded_windows(image, len(names)))
        keys += [f"{vc}/{c}" for c in names]
        faults += [m or "normal" for m in chosen]
        ids += [f] * len(names)
    return {
        "x": np.concatenate(xs),
        "key": np.array(keys),
        "fault": np.array(faults),
        "frame": np.array(ids),
    }


def evaluate(train_frames: int, valid_frames: int, components: int) -> dict[str, Any]:
    """Fit on normal frames (seeds 100000+), score validation frames (200000+): recall per
    mode at 0.2 % and 1 % false alarms, alone and joined with the shipped classifier path."""
    t0 = time.time()
    train = sample_slots(100_000, train_frames, 0.0)
    valid = sample_slots(200_000, valid_frames, 0.3)
    model = SlotModel.fit(train["x"], train["key"], train["frame"], components)
    fit_s = time.time() - t0
    t1 = time.time()
    score = model.score(valid["x"], valid["key"], valid["frame"])
    score_s = time.time() - t1
    report: dict[str, Any] = {
        "train_crops": len(train["x"]),
        "valid_crops": len(valid["x"]),
        "slots": len(model.stats),
        "fit_seconds": round(fit_s, 1),
        "score_crops_per_s": round(len(score) / score_s, 1),
    }
    report.update(evaluate_union(valid, score))
    return report


def evaluate_union(valid: dict[str, np.ndarray], score: np.ndarray) -> dict[str, Any]:
    """Recall per mode of the slot score alone and joined (or) with the shipped models'
    decision, at the slot thresholds giving 0.2 % and 1 % false alarms on these crops."""
    import tomllib

    from agentarts.industries.rail.decide import Thresholds, decide
    from agentarts.industries.rail.generator import SLOTS
    from agentarts.industries.rail.train import CLASSES, MODELS, run_models

    comps = [k.split("/", 1)[1] for k in valid["key"]]
    centre = valid["x"][:, PAD : PAD + CROP, PAD : PAD + CROP]
    probs = run_models(MODELS, centre, np.array([SLOTS.index(k) for k in valid["key"]]))
    card = tomllib.loads((MODELS / "rail_fault_classifier" / "model.toml").read_text())
    shipped = decide(
        probs, comps, CLASSES, Thresholds.from_metrics(card["metrics"]), load_catalogue()
    ).flagged
    fault = valid["fault"]
    normal = fault == "normal"

    def recall(flags: np.ndarray) -> dict[str, float]:
        out = {"all": round(float(flags[~normal].mean()), 3)}
        out.update(
            {m: round(float(flags[fault == m].mean()), 3) for m in sorted(set(fault[~normal]))}
        )
        return out

    report: dict[str, Any] = {
        "shipped": {"false_alarms": round(float(shipped[normal].mean()), 4), **recall(shipped)}
    }
    for fa in (0.002, 0.01):
        flags = score >= np.nanquantile(score[normal], 1 - fa)
        union = flags | shipped
        report[f"slot_at_{fa}"] = recall(flags)
        report[f"union_at_{fa}"] = {
            "false_alarms": round(float(union[normal].mean()), 4),
            **recall(union),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m agentarts.industries.rail.slots")
    parser.add_argument("--train-frames", type=int, default=6000)
    parser.add_argument("--valid-frames", type=int, default=3000)
    parser.add_argument("--components", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(evaluate(args.train_frames, args.valid_frames, args.components), indent=1))


if __name__ == "__main__":
    main()
