"""Write a trained crop network as an ONNX graph, node by node.

Building the graph from the weights (instead of tracing with an exporter) keeps the files
reproducible across torch versions. BatchNorm is folded into the convolutions; the per-image
normalisation runs inside the graph, so callers send raw pixels scaled to [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["export_crop_net"]


def _fold(conv: Any, bn: Any) -> tuple[np.ndarray, np.ndarray]:
    w = conv.weight.detach().numpy()
    scale = bn.weight.detach().numpy() / np.sqrt(bn.running_var.detach().numpy() + bn.eps)
    bias = bn.bias.detach().numpy() - bn.running_mean.detach().numpy() * scale
    return (w * scale[:, None, None, None]).astype(np.float32), bias.astype(np.float32)


def export_crop_net(net: Any, path: Path, n_components: int, head: str, output: str) -> None:
    """``head``: "softmax" (class probabilities) or "sigmoid" (one score)."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "eps"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Sub", ["image", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "centred"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["var"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Sqrt", ["var"], ["sd"]),
        helper.make_node("Add", ["sd", "eps"], ["sd_eps"]),
        helper.make_node("Div", ["centred", "sd_eps"], ["h0"]),
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
        helper.make_node("Flatten", ["gap"], ["features"], axis=1),
        helper.make_node("Concat", ["features", "component"], ["joined"], axis=1),
        helper.make_node("Gemm", ["joined", "fc1_w", "fc1_b"], ["g1"]),
        helper.make_node("Relu", ["g1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "fc2_w", "fc2_b"], ["logits"]),
        helper.make_node(
            "Softmax" if head == "softmax" else "Sigmoid",
            ["logits"],
            [output],
            **({"axis": 1} if head == "softmax" else {}),
        ),
    ]
    n_out = net.fc2.out_features
    graph = helper.make_graph(
        nodes,
        path.parent.parent.name,
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 64, 64]),
            helper.make_tensor_value_info("component", TensorProto.FLOAT, ["batch", n_components]),
        ],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    from agentarts.runtime.onnx_build import save_model

    save_model(graph, path, "agentarts.industries.rail.train")


def check_export(net: Any, path: Path, x: np.ndarray, comp: np.ndarray, head: str) -> float:
    """Largest difference between the trained network and the exported graph."""
    import onnxruntime as ort
    import torch

    with torch.no_grad():
        logits = net(torch.from_numpy(x), torch.from_numpy(comp))
        want = (torch.softmax(logits, 1) if head == "softmax" else torch.sigmoid(logits)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x, "component": comp})[0]
    return float(np.abs(got - want).max())
