"""The per-slot PCA normal model as a served ONNX model (``rail_slot_normal``).

``slots.py`` describes the detector: features ``log(x + 0.08)`` minus their 15 x 15 local mean,
per slot the mean and the first ``K`` principal components of normal crops, the residual pooled
over 3 x 3 and 7 x 7 and divided by its per-pixel spread, the score the log of the largest pooled
value, standardised per slot. This module fits it on normal crops only and exports it:

* shift tolerance (since 2026-11-28): the score is the lowest over 17 small shifts of the
  registered crop (every shift of up to 1 px, and of 2 px along the axes and diagonals; edges
  replicated): a crop is as normal as its best registration. Registration by cross-correlation
  of the whole window leaves normal parts 1-3 px off (a part jitters on its own); at a shift that
  lines the part up their residual vanishes, while a fault's residual stays at every shift.
  The features are computed once on the crop padded by 2 px and the shifts are views of them,
  so the 17 candidates cost 17 projections, not 17 feature maps.

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
    "GATE",
    "MIN_CROPS",
    "PAD",
    "SHIFTS",
    "SlotTables",
    "export_slot_normal",
    "fit_slot_normal",
    "load_tables",
    "score_numpy",
    "shifted_features",
]

PIX = 64 * 64
PAD = 2
#: the shifts are searched only for crops whose unshifted score is above this (in the slot's
#: normal spreads above its median): the minimum can only lower a score, and only the upper
#: tail takes part in a decision, so the other crops (about 85 % of normal ones) skip it
GATE = 1.0
#: the shifts (dy, dx) the score takes its minimum over: all of up to 1 px, 2 px along the
#: axes and diagonals (the unshifted crop first: the tables are fitted on it)
SHIFTS: tuple[tuple[int, int], ...] = tuple(
    dict.fromkeys(
        [(0, 0)]
        + [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        + [(dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)]
    )
)
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


def _padded_features(x: np.ndarray) -> np.ndarray:
    """Features of aligned crops (N x 64 x 64 in [0, 1]) padded by ``PAD`` px (edges
    replicated): N x 68 x 68, the one map every shifted view is cut from."""
    return slot_features(np.pad(x.astype(np.float32), ((0, 0), (PAD, PAD), (PAD, PAD)), "edge"))


def _views(f: np.ndarray, shifts: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Views of padded feature maps (N x 68 x 68) at ``shifts``: N x len(shifts) x 4096."""
    views = [f[:, PAD + dy : PAD + dy + 64, PAD + dx : PAD + dx + 64] for dy, dx in shifts]
    return np.stack(views, 1).reshape(len(f), len(shifts), PIX)


def shifted_features(x: np.ndarray, shifts: tuple[tuple[int, int], ...] = SHIFTS) -> np.ndarray:
    """Features of aligned crops (N x 64 x 64 in [0, 1]) at each of ``shifts``:
    N x len(shifts) x 4096 (computed once on the crop padded by ``PAD`` px, edges replicated)."""
    return _views(_padded_features(x), shifts)


def _raw(f: np.ndarray, mean: np.ndarray, basis: np.ndarray, inv3: Any, inv7: Any) -> np.ndarray:
    """Log of the largest pooled, spread-normalised PCA residual of features ``f`` (N x 4096,
    or N x shifts x 4096: then one per shift)."""
    z = f - mean
    r = (z - (z @ basis.T) @ basis).reshape(*f.shape[:-1], 64, 64)
    p3 = ((box(r, 3) * inv3) ** 2).max((-2, -1))
    p7 = ((box(r, 7) * inv7) ** 2).max((-2, -1))
    return np.log(np.maximum(p3, p7) + 1e-9)


def _score(x: np.ndarray, t: SlotTables, s: int) -> np.ndarray:
    """The standardised score of crops of slot ``s`` (N x 64 x 64 in [0, 1]), as the graph
    computes it: the unshifted score, and for the crops above ``GATE`` the lowest over all
    ``SHIFTS`` (the shifted views computed for those crops only)."""
    tables = _dequant(t, s)
    f = _padded_features(x)
    raw = _raw(_views(f, SHIFTS[:1])[:, 0], *tables)
    above = (raw - t.centre[s]) / t.scale[s] > GATE
    if above.any():
        raw[above] = np.minimum(raw[above], _raw(_views(f[above], SHIFTS[1:]), *tables).min(1))
    return (raw - t.centre[s]) / t.scale[s]


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
    thirds of its crops fit the mean, basis and residual spreads (unshifted), the rest the
    standardisation of the shift-tolerant score."""
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
        here = slot == s
        if here.sum() < max(min_crops, 2 * k + 8):
            continue  # too few views to model this slot: never flags
        a = shifted_features(x[here].astype(np.float32) / 255.0, SHIFTS[:1])[:, 0]
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
    out = np.empty(len(x), np.float64)
    for s in np.unique(slot):
        idx = np.flatnonzero(slot == s)
        for i in range(0, len(idx), 256):  # 17 shifted views of 256 crops: ~70 MB
            part = idx[i : i + 256]
            out[part] = _score(x[part].astype(np.float32) / np.float32(scale), t, int(s))
    return out


def _box_nodes(n: Any, src: str, k: int, out: str) -> list[Any]:
    """k x k mean with reflected edges (as ``slots.box``): Pad(reflect) + AveragePool."""
    return [
        n("Pad", [src, f"pads{k}"], [f"{out}_pad"], mode="reflect"),
        n("AveragePool", [f"{out}_pad"], [out], kernel_shape=[k, k]),
    ]


def _raw_nodes(n: Any, tag: str, rows: str, slot: str, shifts: int, f32: int) -> list[Any]:
    """Nodes from feature rows (N x shifts x 4096) of crops of ``slot`` to ``{tag}raw``
    (N x shifts): the log of the largest pooled, spread-normalised PCA residual."""
    t = tag
    nodes = [
        n("Gather", ["mean_q", slot], [f"{t}mean_g"], axis=0),
        n("Cast", [f"{t}mean_g"], [f"{t}mean_f"], to=f32),
        n("Gather", ["mean_s", slot], [f"{t}mean_sg"], axis=0),
        n("Mul", [f"{t}mean_f", f"{t}mean_sg"], [f"{t}mean"]),
        n("Sub", [rows, f"{t}mean"], [f"{t}z"]),
        # basis = diag(s) q (int8 q, a scale per component): the projection z q' diag(s^2) q
        # scales the N x shifts x K coefficients, not the N x K x 4096 basis
        n("Gather", ["basis_q", slot], [f"{t}basis_g"], axis=0),
        n("Cast", [f"{t}basis_g"], [f"{t}basis_f"], to=f32),
        n("Transpose", [f"{t}basis_f"], [f"{t}basis_t"], perm=[0, 2, 1]),
        n("MatMul", [f"{t}z", f"{t}basis_t"], [f"{t}coef_q"]),
        n("Gather", ["basis_s", slot], [f"{t}basis_sg"], axis=0),
        n("Mul", [f"{t}basis_sg", f"{t}basis_sg"], [f"{t}basis_s2"]),
        n("Mul", [f"{t}coef_q", f"{t}basis_s2"], [f"{t}coef"]),
        n("MatMul", [f"{t}coef", f"{t}basis_f"], [f"{t}recon"]),
        n("Sub", [f"{t}z", f"{t}recon"], [f"{t}res_rows"]),
        n("Reshape", [f"{t}res_rows", "shape_1"], [f"{t}res"]),  # N * shifts x 1 x 64 x 64
    ]
    for k in (3, 7):
        nodes += [
            *_box_nodes(n, f"{t}res", k, f"{t}box{k}"),
            n("Reshape", [f"{t}box{k}", f"shape_{shifts}"], [f"{t}box{k}_s"]),
            n("Gather", [f"inv{k}", slot], [f"{t}inv{k}_g"], axis=0),
            n("Cast", [f"{t}inv{k}_g"], [f"{t}inv{k}_f"], to=f32),
            n("Mul", [f"{t}box{k}_s", f"{t}inv{k}_f"], [f"{t}norm{k}"]),
            n("Mul", [f"{t}norm{k}", f"{t}norm{k}"], [f"{t}sq{k}"]),
            n("ReduceMax", [f"{t}sq{k}"], [f"{t}peak{k}"], axes=[2, 3], keepdims=0),
        ]
    nodes += [
        n("Max", [f"{t}peak3", f"{t}peak7"], [f"{t}peak"]),
        n("Add", [f"{t}peak", "tiny"], [f"{t}peak_eps"]),
        n("Log", [f"{t}peak_eps"], [f"{t}raw"]),
    ]
    return nodes


def export_slot_normal(tables: SlotTables, path: Path) -> None:
    """Write the scorer as an ONNX graph (tables gathered by ``slot``): the unshifted score of
    every crop, then, for the crops above ``GATE``, the lowest over all ``SHIFTS``."""
    from onnx import TensorProto, helper, numpy_helper

    from agentarts.runtime.onnx_build import save_model

    t = tables
    f32 = TensorProto.FLOAT
    more = len(SHIFTS) - 1
    inits = [
        numpy_helper.from_array(np.array(0.08, np.float32), "offset"),
        numpy_helper.from_array(np.array(1e-9, np.float32), "tiny"),
        numpy_helper.from_array(np.array(GATE, np.float32), "gate"),
        numpy_helper.from_array(np.array([-1, 1, 64, 64], np.int64), "shape_1"),
        numpy_helper.from_array(np.array([-1, more, 64, 64], np.int64), f"shape_{more}"),
        numpy_helper.from_array(np.array([-1, 1, PIX], np.int64), "shape_row"),
        numpy_helper.from_array(np.array([-1], np.int64), "flat"),
        numpy_helper.from_array(np.array([0, 0, PAD, PAD, 0, 0, PAD, PAD], np.int64), "pads_in"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "hw_axes"),
        numpy_helper.from_array(t.mean_q.reshape(-1, 1, PIX), "mean_q"),
        numpy_helper.from_array(t.mean_s.reshape(-1, 1, 1), "mean_s"),
        numpy_helper.from_array(t.basis_q, "basis_q"),
        numpy_helper.from_array(t.basis_s[:, None, :], "basis_s"),
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
        n("Reshape", ["image", "shape_1"], ["x4"]),
        n("Pad", ["x4", "pads_in"], ["x_pad"], mode="edge"),
        n("Add", ["x_pad", "offset"], ["x_off"]),
        n("Log", ["x_off"], ["logx"]),
        *_box_nodes(n, "logx", 15, "local"),
        n("Sub", ["logx", "local"], ["feat"]),  # N x 1 x 68 x 68
    ]
    for i, (dy, dx) in enumerate(SHIFTS):  # the shifted crops are views of one feature map
        lo = np.array([PAD + dy, PAD + dx], np.int64)
        inits += [
            numpy_helper.from_array(lo, f"lo{i}"),
            numpy_helper.from_array(lo + 64, f"hi{i}"),
        ]
    nodes += [
        n("Slice", ["feat", "lo0", "hi0", "hw_axes"], ["view0"]),
        n("Reshape", ["view0", "shape_row"], ["rows0"]),
        *_raw_nodes(n, "u_", "rows0", "slot", 1, f32),
        n("Reshape", ["u_raw", "flat"], ["raw0"]),
        n("Gather", ["centre", "slot"], ["centre_g"], axis=0),
        n("Gather", ["scale", "slot"], ["scale_g"], axis=0),
        n("Sub", ["raw0", "centre_g"], ["raw0_c"]),
        n("Div", ["raw0_c", "scale_g"], ["score0"]),
        # the crops above the gate: their other shifts, computed on that subset only
        n("Greater", ["score0", "gate"], ["above"]),
        n("NonZero", ["above"], ["above_idx"]),
        n("Transpose", ["above_idx"], ["idx"], perm=[1, 0]),  # M x 1
        n("Reshape", ["idx", "flat"], ["idx_flat"]),
        n("Gather", ["feat", "idx_flat"], ["feat_sub"], axis=0),
        n("Gather", ["slot", "idx_flat"], ["slot_sub"], axis=0),
    ]
    views = []
    for i in range(1, len(SHIFTS)):
        nodes += [
            n("Slice", ["feat_sub", f"lo{i}", f"hi{i}", "hw_axes"], [f"view{i}"]),
            n("Reshape", [f"view{i}", "shape_row"], [f"row{i}"]),
        ]
        views.append(f"row{i}")
    nodes += [
        n("Concat", views, ["rows_sub"], axis=1),  # M x (shifts - 1) x 4096
        *_raw_nodes(n, "s_", "rows_sub", "slot_sub", more, f32),
        n("ReduceMin", ["s_raw"], ["raw_sub_min"], axes=[1], keepdims=0),
        n("Gather", ["raw0", "idx_flat"], ["raw0_sub"], axis=0),
        n("Min", ["raw_sub_min", "raw0_sub"], ["raw_sub"]),
        n("Gather", ["centre_g", "idx_flat"], ["centre_sub"], axis=0),
        n("Gather", ["scale_g", "idx_flat"], ["scale_sub"], axis=0),
        n("Sub", ["raw_sub", "centre_sub"], ["raw_sub_c"]),
        n("Div", ["raw_sub_c", "scale_sub"], ["score_sub"]),
        n("ScatterND", ["score0", "idx", "score_sub"], ["score"]),
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
            "basis_s": inits["basis_s"].reshape(s, -1),
            "inv3": inits["inv3"][:, 0],
            "inv7": inits["inv7"][:, 0],
            "centre": inits["centre"],
            "scale": inits["scale"],
        }
    )
