"""The per-slot PCA normal model as a served ONNX model (``rail_slot_normal``).

``slots.py`` describes the detector: features ``log(x + 0.08)`` minus their 15 x 15 local mean,
per slot the mean and the first ``K`` principal components of normal crops, the residual pooled
over 3 x 3 and 7 x 7 and divided by its per-pixel spread, the score the log of the largest pooled
value, standardised per slot. This module fits it on normal crops only and exports it:

* inputs ``image`` (N x 64 x 64, pixels / 255, aligned to the slot by ``refnet.align`` with this
  model's own template table) and ``slot`` (int64 index of ``generator.SLOTS``); output
  ``score`` (N): the standardised residual score. The card declares the slot range, so the
  runtime refuses a bad index by name; onnxruntime alone refuses an out-of-range ``Gather``.
* tables inside the graph, chosen by ``Gather(slot)``: the mean feature image and the basis as
  int8 with a float scale per slot and component (a basis vector is unit-norm, its largest entry
  maps to 127: a rounding error < 0.4 % of that entry), the inverse residual spreads as float16,
  the per-slot centre and scale as float32. :func:`score_numpy` is the exact numpy mirror the
  tests compare the graph with (the standardisation is fitted on the quantised tables).
* registration: the model's own templates (``refnet.fit_templates`` on its normal crops), served
  by the lookup model ``rail_slot_normal_template`` of the same form as ``rail_slot_reference``.
  Measured before shipping: aligning with the classifier's templates instead and refitting
  kept only about half of the joined decision's gain (docs/rail.md), so triage registers twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.rail.slots import box, slot_features

__all__ = [
    "MIN_CROPS",
    "SlotTables",
    "export_slot_normal",
    "fit_slot_normal",
    "load_tables",
    "score_numpy",
]

PIX = 64 * 64
MIN_CROPS = 40  # a slot with fewer normal crops is not modelled (its score is -1e4: never rare)
FAR = 1e4  # centre of an unmodelled slot


class SlotTables:
    """The quantised per-slot tables of the graph (S slots, K components)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean_q = arrays["mean_q"]  # S x 4096 int8
        self.mean_s = arrays["mean_s"]  # S float32
        self.basis_q = arrays["basis_q"]  # S x K x 4096 int8
        self.basis_s = arrays["basis_s"]  # S x K float32
        self.inv3 = arrays["inv3"]  # S x 64 x 64 float16: 1 / residual spread after 3 x 3 box
        self.inv7 = arrays["inv7"]  # S x 64 x 64 float16 (7 x 7)
        self.centre = arrays["centre"]  # S float32
        self.scale = arrays["scale"]  # S float32

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(vars(self))

    @property
    def components(self) -> int:
        return int(self.basis_q.shape[1])

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays().values())


def _q8(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 over the last axis: (int8 values, float32 scale per row)."""
    s = np.maximum(np.abs(a).max(-1), 1e-12) / 127.0
    return np.clip(np.rint(a / s[..., None]), -127, 127).astype(np.int8), s.astype(np.float32)


def _raw(f: np.ndarray, mean: np.ndarray, basis: np.ndarray, inv3: Any, inv7: Any) -> np.ndarray:
    """Log of the largest pooled, spread-normalised PCA residual of features ``f`` (N x 4096)."""
    z = f - mean
    r = (z - (z @ basis.T) @ basis).reshape(-1, 64, 64)
    p3 = ((box(r, 3) * inv3) ** 2).max((1, 2))
    p7 = ((box(r, 7) * inv7) ** 2).max((1, 2))
    return np.log(np.maximum(p3, p7) + 1e-9)


def _dequant(t: SlotTables, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mean = t.mean_q[s].astype(np.float32) * t.mean_s[s]
    basis = t.basis_q[s].astype(np.float32) * t.basis_s[s][:, None]
    return mean, basis, t.inv3[s].astype(np.float32), t.inv7[s].astype(np.float32)


def fit_slot_normal(
    x: np.ndarray,
    slot: np.ndarray,
    n_slots: int,
    components: int = 16,
    min_crops: int = MIN_CROPS,
) -> SlotTables:
    """Fit on aligned NORMAL crops (N x 64 x 64 uint8) and their slot indices: per slot two
    thirds of its crops fit the mean, basis and residual spreads, the rest the standardisation."""
    feats = slot_features(x.astype(np.float32) / 255.0).reshape(len(x), PIX)
    k = components
    out = {
        "mean_q": np.zeros((n_slots, PIX), np.int8),
        "mean_s": np.ones(n_slots, np.float32),
        "basis_q": np.zeros((n_slots, k, PIX), np.int8),
        "basis_s": np.ones((n_slots, k), np.float32),
        "inv3": np.ones((n_slots, 64, 64), np.float16),
        "inv7": np.ones((n_slots, 64, 64), np.float16),
        "centre": np.full(n_slots, FAR, np.float32),
        "scale": np.ones(n_slots, np.float32),
    }
    tables = SlotTables(out)
    for s in range(n_slots):
        a = feats[slot == s]
        if len(a) < max(min_crops, 2 * k + 8):
            continue  # too few views to model this slot: never flags
        n_fit = len(a) * 2 // 3
        fit, held = a[:n_fit], a[n_fit:]
        mean = fit.mean(0)
        basis = np.linalg.svd(fit - mean, full_matrices=False)[2][:k]
        mq, ms = _q8(mean[None])
        out["mean_q"][s], out["mean_s"][s] = mq[0], ms[0]
        out["basis_q"][s], out["basis_s"][s] = _q8(basis)
        mean_d, basis_d, _, _ = _dequant(tables, s)
        z = fit - mean_d
        res = (z - (z @ basis_d.T) @ basis_d).reshape(-1, 64, 64)
        dof = max(n_fit - k - 1, 1)
        for p in (3, 7):
            var = (box(res, p) ** 2).sum(0) / dof
            var = np.maximum(var, max(float(np.percentile(var, 20)), 1e-6))
            out[f"inv{p}"][s] = (1.0 / np.sqrt(var)).astype(np.float16)
        raw = _raw(held, mean_d, basis_d, *_dequant(tables, s)[2:])
        out["centre"][s], out["scale"][s] = np.median(raw), raw.std() + 1e-6
    return tables


def score_numpy(t: SlotTables, x: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """The graph's output computed in numpy: aligned crops (uint8 or floats in [0, 1])."""
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    feats = slot_features(x.astype(np.float32) / np.float32(scale)).reshape(len(x), PIX)
    out = np.empty(len(x), np.float64)
    for s in np.unique(slot):
        here = slot == s
        raw = _raw(feats[here], *_dequant(t, int(s)))
        out[here] = (raw - t.centre[s]) / t.scale[s]
    return out


def _box_nodes(helper: Any, src: str, k: int, out: str) -> list[Any]:
    """k x k mean with reflected edges (as ``slots.box``): Pad(reflect) + AveragePool."""
    return [
        helper.make_node("Pad", [src, f"pads{k}"], [f"{out}_pad"], mode="reflect"),
        helper.make_node("AveragePool", [f"{out}_pad"], [out], kernel_shape=[k, k]),
    ]


def export_slot_normal(tables: SlotTables, path: Path) -> None:
    """Write the scorer as an ONNX graph (tables gathered by ``slot``)."""
    from onnx import TensorProto, helper, numpy_helper

    from agentarts.runtime.onnx_build import save_model

    t = tables
    f32 = TensorProto.FLOAT
    inits = [
        numpy_helper.from_array(np.array(0.08, np.float32), "offset"),
        numpy_helper.from_array(np.array(1e-9, np.float32), "tiny"),
        numpy_helper.from_array(np.array([-1, 1, 64, 64], np.int64), "shape4"),
        numpy_helper.from_array(np.array([-1, PIX, 1], np.int64), "shape_col"),
        numpy_helper.from_array(t.mean_q.reshape(-1, PIX, 1), "mean_q"),
        numpy_helper.from_array(t.mean_s.reshape(-1, 1, 1), "mean_s"),
        numpy_helper.from_array(t.basis_q, "basis_q"),
        numpy_helper.from_array(t.basis_s[..., None], "basis_s"),
        numpy_helper.from_array(t.inv3[:, None], "inv3"),
        numpy_helper.from_array(t.inv7[:, None], "inv7"),
        numpy_helper.from_array(t.centre, "centre"),
        numpy_helper.from_array(t.scale, "scale"),
    ]
    for k in (15, 3, 7):
        p = k // 2
        pads = np.array([0, 0, p, p, 0, 0, p, p], np.int64)
        inits.append(numpy_helper.from_array(pads, f"pads{k}"))
    n = helper.make_node
    nodes = [
        n("Reshape", ["image", "shape4"], ["x4"]),
        n("Add", ["x4", "offset"], ["x_off"]),
        n("Log", ["x_off"], ["logx"]),
        *_box_nodes(helper, "logx", 15, "local"),
        n("Sub", ["logx", "local"], ["feat"]),
        n("Reshape", ["feat", "shape_col"], ["feat_col"]),
        n("Gather", ["mean_q", "slot"], ["mean_g"], axis=0),
        n("Cast", ["mean_g"], ["mean_f"], to=f32),
        n("Gather", ["mean_s", "slot"], ["mean_sg"], axis=0),
        n("Mul", ["mean_f", "mean_sg"], ["mean"]),
        n("Sub", ["feat_col", "mean"], ["z"]),
        n("Gather", ["basis_q", "slot"], ["basis_g"], axis=0),
        n("Cast", ["basis_g"], ["basis_f"], to=f32),
        n("Gather", ["basis_s", "slot"], ["basis_sg"], axis=0),
        n("Mul", ["basis_f", "basis_sg"], ["basis"]),
        n("MatMul", ["basis", "z"], ["coef"]),
        n("Transpose", ["basis"], ["basis_t"], perm=[0, 2, 1]),
        n("MatMul", ["basis_t", "coef"], ["recon"]),
        n("Sub", ["z", "recon"], ["res_col"]),
        n("Reshape", ["res_col", "shape4"], ["res"]),
    ]
    pooled = []
    for k in (3, 7):
        nodes += [
            *_box_nodes(helper, "res", k, f"box{k}"),
            n("Gather", [f"inv{k}", "slot"], [f"inv{k}_g"], axis=0),
            n("Cast", [f"inv{k}_g"], [f"inv{k}_f"], to=f32),
            n("Mul", [f"box{k}", f"inv{k}_f"], [f"norm{k}"]),
            n("Mul", [f"norm{k}", f"norm{k}"], [f"sq{k}"]),
            n("ReduceMax", [f"sq{k}"], [f"peak{k}"], axes=[1, 2, 3], keepdims=0),
        ]
        pooled.append(f"peak{k}")
    nodes += [
        n("Max", pooled, ["peak"]),
        n("Add", ["peak", "tiny"], ["peak_eps"]),
        n("Log", ["peak_eps"], ["raw"]),
        n("Gather", ["centre", "slot"], ["centre_g"], axis=0),
        n("Gather", ["scale", "slot"], ["scale_g"], axis=0),
        n("Sub", ["raw", "centre_g"], ["raw_c"]),
        n("Div", ["raw_c", "scale_g"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        path.parent.parent.name,
        [
            helper.make_tensor_value_info("image", f32, ["batch", 64, 64]),
            helper.make_tensor_value_info("slot", TensorProto.INT64, ["batch"]),
        ],
        [helper.make_tensor_value_info("score", f32, ["batch"])],
        inits,
    )
    save_model(graph, path, "agentarts.industries.rail.slot_stage")


def load_tables(path: Path) -> SlotTables:
    """The tables of an exported ``rail_slot_normal`` graph (for checks and the tests)."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    s = len(inits["centre"])
    return SlotTables(
        {
            "mean_q": inits["mean_q"].reshape(s, PIX),
            "mean_s": inits["mean_s"].reshape(s),
            "basis_q": inits["basis_q"],
            "basis_s": inits["basis_s"][..., 0],
            "inv3": inits["inv3"][:, 0],
            "inv7": inits["inv7"][:, 0],
            "centre": inits["centre"],
            "scale": inits["scale"],
        }
    )
