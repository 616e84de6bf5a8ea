"""The reference-conditioned crop network: a crop judged against its slot's normal look.

A fixed camera station shows the same component of the same vehicle class in the same window of
every car (a *slot*, ``generator.SLOTS``). Trackside systems compare each image with the slot's
normal appearance; this network does the same: its input is the crop plus the slot's reference
(the mean and the per-pixel standard deviation of normal crops of that slot, after the same
per-image normalisation the crop gets), and the difference of crop and mean, so it learns "what
differs from this part's usual look" rather than every part's appearance from scratch.

The reference table lives INSIDE the ONNX graph (float16 initializers of 192 x 64 x 64, chosen
by a ``slot`` index input through ``Gather``), so the runtime still serves one ONNX file and the
same bundle runs unchanged on another device. The card declares the slot input's valid range,
so the runtime refuses an unknown slot index with a message naming the input; onnxruntime itself
also refuses an out-of-range ``Gather`` index (an error, never a silent read).

Registration: each window is cut with a 6 px margin and aligned to its slot's template (the
high-passed mean view of normal crops) by normalised cross-correlation, the windows of a frame
sharing the frame's offset (``slots.register``); the references are means of aligned crops, so
they are sharp. Measured against leaving the offset to the network (nominal windows, references
blurred by the offset): see docs/rail.md. The templates are served by a second, lookup-only ONNX
model (``rail_slot_reference``: slot -> template), so triage needs nothing but the runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "EPS",
    "align",
    "align_many",
    "check_export",
    "export_reference_model",
    "export_refnet",
    "fit_templates",
    "make_net",
    "normalise",
    "reference_tables",
]

EPS = 0.02  # added to each crop's RMS contrast before dividing (flat crops stay finite)
SPEC = [(4, 16, 2), (16, 24, 2), (24, 32, 2), (32, 48, 1)]  # in, out, stride (3x3 convs)


def normalise(x: np.ndarray) -> np.ndarray:
    """Per-crop normalisation (N x 64 x 64 in [0, 1]) exactly as the graph does it."""
    x = x.astype(np.float32)
    c = x - x.mean(axis=(1, 2), keepdims=True)
    return c / (np.sqrt((c * c).mean(axis=(1, 2), keepdims=True)) + EPS)


def reference_tables(
    x: np.ndarray, slot: np.ndarray, normal: np.ndarray, n_slots: int, component_of: np.ndarray
) -> np.ndarray:
    """Per slot: mean and standard deviation of the normalised normal crops (S x 2 x 64 x 64,
    float16-rounded). A slot with fewer than 8 normal crops borrows the crops of the same
    component in other vehicle classes, else all normal crops.

    Args:
        x: crops, N x 64 x 64 uint8 (or floats in [0, 1]).
        slot: slot index per crop.
        normal: True for crops known to be intact.
        n_slots: size of the table.
        component_of: component index of each slot (S,).
    """
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    out = np.zeros((n_slots, 2, 64, 64), np.float32)
    sums = np.zeros((n_slots, 64, 64), np.float64)
    squares = np.zeros((n_slots, 64, 64), np.float64)
    counts = np.zeros(n_slots, np.int64)
    idx = np.flatnonzero(normal)
    for i in range(0, len(idx), 2048):
        part = idx[i : i + 2048]
        z = normalise(x[part] / np.float32(scale)).astype(np.float64)
        np.add.at(sums, slot[part], z)
        np.add.at(squares, slot[part], z * z)
        np.add.at(counts, slot[part], 1)
    for s in range(n_slots):
        pool = [s]
        if counts[s] < 8:
            pool = [t for t in range(n_slots) if component_of[t] == component_of[s]]
            if counts[pool].sum() < 8:
                pool = list(range(n_slots))
        n = max(int(counts[pool].sum()), 1)
        mean = sums[pool].sum(0) / n
        var = np.maximum(squares[pool].sum(0) / n - mean * mean, 0.0)
        out[s, 0], out[s, 1] = mean, np.sqrt(var)
    return out.astype(np.float16).astype(np.float32)


def fit_templates(
    xp: np.ndarray, slot: np.ndarray, normal: np.ndarray, frames: np.ndarray, n_slots: int
) -> np.ndarray:
    """Registration templates per slot (S x 64 x 64): the high-passed mean of the slot's
    normal crops, sharpened twice by aligning the crops to it (``slots.register``). ``xp``:
    padded windows (N x 76 x 76 uint8). A slot without normal crops gets the mean template of
    all slots (registration then relies on the frame's other windows)."""
    from agentarts.industries.rail.slots import PAD, highpass, register

    keys = slot[normal]
    nominal = xp[normal][:, PAD:-PAD, PAD:-PAD].astype(np.float32) / 255.0
    seen = np.unique(keys)
    templates = {k: highpass(nominal[keys == k].mean(0)) for k in seen}
    for _ in range(2):  # the mean view sharpens as the crops are aligned to it
        aligned = register(xp[normal], keys, templates, frames[normal])
        templates = {k: highpass(aligned[keys == k].mean(0)) for k in seen}
    table = np.zeros((n_slots, 64, 64), np.float32)
    fallback = np.mean([templates[k] for k in seen], axis=0) if len(seen) else table[0]
    for s in range(n_slots):
        table[s] = templates.get(s, fallback)
    return table.astype(np.float16).astype(np.float32)


def align(xp: np.ndarray, slot: np.ndarray, frames: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Padded windows (N x 76 x 76 uint8) registered to their slots' templates, returned as
    uint8 N x 64 x 64 (the windows of one frame share its offset; each refines by up to
    ``slots.REFINE`` px)."""
    return align_many(xp, slot, frames, [table])[0]


def align_many(
    xp: np.ndarray, slot: np.ndarray, frames: np.ndarray, tables: list[np.ndarray]
) -> list[np.ndarray]:
    """``align`` against several template tables (one per model), the crops' FFTs shared."""
    from agentarts.industries.rail.slots import register_many

    if not len(xp):
        return [np.zeros((0, 64, 64), np.uint8) for _ in tables]
    used = np.unique(slot)
    sets = [{int(s): table[s] for s in used} for table in tables]
    outs = register_many(xp, slot, sets, frames)
    return [np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8) for out in outs]


def make_net(n_out: int, refs: np.ndarray, slot_components: np.ndarray) -> Any:
    """The torch network; ``refs``: S x 2 x 64 x 64, ``slot_components``: S x C one-hot."""
    import torch
    from torch import nn

    class RefNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("refs", torch.from_numpy(refs.astype(np.float32)))
            self.register_buffer("comps", torch.from_numpy(slot_components.astype(np.float32)))
            self.convs = nn.ModuleList(
                nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False) for i, o, s in SPEC
            )
            self.bns = nn.ModuleList(nn.BatchNorm2d(o) for _, o, _ in SPEC)
            width = SPEC[-1][1]
            self.fc1 = nn.Linear(2 * width + slot_components.shape[1], 96)
            self.fc2 = nn.Linear(96, n_out)

        def forward(self, x: Any, slot: Any) -> Any:
            xc = x - x.mean(dim=(1, 2, 3), keepdim=True)
            xn = xc / (xc.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + EPS)
            ref = self.refs[slot]
            mean, sd = ref[:, 0:1], ref[:, 1:2]
            h = torch.cat([xn, mean, sd, xn - mean], dim=1)
            for conv, bn in zip(self.convs, self.bns, strict=True):
                h = torch.relu(bn(conv(h)))
            pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3)), self.comps[slot]], 1)
            return self.fc2(torch.relu(self.fc1(pooled)))

    return RefNet()


def _fold(conv: Any, bn: Any) -> tuple[np.ndarray, np.ndarray]:
    w = conv.weight.detach().numpy()
    scale = bn.weight.detach().numpy() / np.sqrt(bn.running_var.detach().numpy() + bn.eps)
    bias = bn.bias.detach().numpy() - bn.running_mean.detach().numpy() * scale
    return (w * scale[:, None, None, None]).astype(np.float32), bias.astype(np.float32)


def export_refnet(net: Any, path: Path, output: str = "probs") -> None:
    """Write the trained network as an ONNX graph, node by node (BatchNorm folded, the
    reference tables as float16 initializers gathered by the ``slot`` input)."""
    from onnx import TensorProto, helper, numpy_helper

    refs = net.refs.detach().numpy()
    comps = net.comps.detach().numpy()
    inits = [
        numpy_helper.from_array(np.array(EPS, np.float32), "eps"),
        numpy_helper.from_array(refs[:, 0:1].astype(np.float16), "ref_mean_table"),
        numpy_helper.from_array(refs[:, 1:2].astype(np.float16), "ref_sd_table"),
        numpy_helper.from_array(comps.astype(np.float32), "slot_component_table"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Sub", ["image", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "centred"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["var"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Sqrt", ["var"], ["sd"]),
        helper.make_node("Add", ["sd", "eps"], ["sd_eps"]),
        helper.make_node("Div", ["centred", "sd_eps"], ["xn"]),
        helper.make_node("Gather", ["ref_mean_table", "slot"], ["ref_mean16"], axis=0),
        helper.make_node("Gather", ["ref_sd_table", "slot"], ["ref_sd16"], axis=0),
        helper.make_node("Cast", ["ref_mean16"], ["ref_mean"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["ref_sd16"], ["ref_sd"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["xn", "ref_mean"], ["diff"]),
        helper.make_node("Concat", ["xn", "ref_mean", "ref_sd", "diff"], ["h0"], axis=1),
        helper.make_node("Gather", ["slot_component_table", "slot"], ["component"], axis=0),
    ]
    prev = "h0"
    for i, (conv, bn) in enumerate(zip(net.convs, net.bns, strict=True)):
        w, b = _fold(conv, bn)
        inits += [
            numpy_helper.from_array(w, f"conv{i}_w"),
            numpy_helper.from_array(b, f"conv{i}_b"),
        ]
        stride = conv.stride[0]
        nodes += [
            helper.make_node(
                "Conv",
                [prev, f"conv{i}_w", f"conv{i}_b"],
                [f"c{i}"],
                kernel_shape=[3, 3],
                strides=[stride, stride],
                pads=[1, 1, 1, 1],
            ),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
        ]
        prev = f"r{i}"
    for name, layer in (("fc1", net.fc1), ("fc2", net.fc2)):
        inits += [
            numpy_helper.from_array(layer.weight.detach().numpy().T.copy(), f"{name}_w"),
            numpy_helper.from_array(layer.bias.detach().numpy().copy(), f"{name}_b"),
        ]
    nodes += [
        helper.make_node("GlobalAveragePool", [prev], ["gap"]),
        helper.make_node("GlobalMaxPool", [prev], ["gmp"]),
        helper.make_node("Flatten", ["gap"], ["f_avg"], axis=1),
        helper.make_node("Flatten", ["gmp"], ["f_max"], axis=1),
        helper.make_node("Concat", ["f_avg", "f_max", "component"], ["joined"], axis=1),
        helper.make_node("Gemm", ["joined", "fc1_w", "fc1_b"], ["g1"]),
        helper.make_node("Relu", ["g1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "fc2_w", "fc2_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [output], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        path.parent.parent.name,
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 64, 64]),
            helper.make_tensor_value_info("slot", TensorProto.INT64, ["batch"]),
        ],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", net.fc2.out_features])],
        inits,
    )
    from agentarts.runtime.onnx_build import save_model

    save_model(graph, path, "agentarts.industries.rail.train")


def check_export(net: Any, path: Path, x: np.ndarray, slot: np.ndarray) -> float:
    """Largest difference of class probabilities between the network and its ONNX graph."""
    import onnxruntime as ort
    import torch

    with torch.no_grad():
        want = torch.softmax(net(torch.from_numpy(x), torch.from_numpy(slot)), 1).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x, "slot": slot})[0]
    return float(np.abs(got - want).max())


def export_reference_model(templates: np.ndarray, path: Path) -> None:
    """The slots' registration templates (S x 64 x 64, high-passed mean views of normal crops)
    as a lookup model: ``slot`` (int64, N) -> ``reference`` (N x 64 x 64), float16 inside."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["template_table", "slot"], ["t16"], axis=0),
            helper.make_node("Cast", ["t16"], ["reference"], to=TensorProto.FLOAT),
        ],
        path.parent.parent.name,
        [helper.make_tensor_value_info("slot", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("reference", TensorProto.FLOAT, ["batch", 64, 64])],
        [numpy_helper.from_array(templates.astype(np.float16), "template_table")],
    )
    from agentarts.runtime.onnx_build import save_model

    save_model(graph, path, "agentarts.industries.rail.train")
