"""Export the steel models to ONNX, node by node, and write their model cards.

The graphs are built from the trained weights (Flatten/Gemm/Relu/Softmax, plus the residual
head's Slice/ReduceMean/Mul/Add), so they reproduce without depending on an exporter version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.steel.features import HORIZON, TREND_CLASSES, WINDOW
from agentarts.industries.steel.simulator import STATES, TAGS

BASE_SAMPLES = 6  # the last hour of HMT and [Si]: the level the forecast is a change from


def level(x: np.ndarray) -> np.ndarray:
    """HMT and [Si] averaged over the window's last hour (raw units), per window."""
    return x[:, -BASE_SAMPLES:, :2].mean(1)


def export_onnx(
    net: Any,
    path: Path,
    softmax_heads: set[str],
    residual: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> None:
    """Write the trained MLP as an ONNX graph, node by node.

    ``residual[name] = (a, b, c)`` makes head ``name`` a change from the current level:
    ``out = a * head(h) + b * mean(x[:, -BASE_SAMPLES:, :2], axis=1) + c`` (a, b, c fold the
    input and output normalisations), so the network only has to learn the 2 h change, a
    number ~10x smaller than the level, and its errors shrink with it."""
    from onnx import TensorProto, helper, numpy_helper

    layers = [m for m in net.body if hasattr(m, "weight")]
    inits, nodes = [], [helper.make_node("Flatten", ["x"], ["flat"], axis=1)]
    prev = "flat"
    for i, layer in enumerate(layers):
        inits += [
            numpy_helper.from_array(layer.weight.detach().numpy().T.copy(), f"w{i}"),
            numpy_helper.from_array(layer.bias.detach().numpy(), f"b{i}"),
        ]
        nodes += [
            helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"]),
            helper.make_node("Relu", [f"g{i}"], [f"h{i}"]),
        ]
        prev = f"h{i}"
    outputs = []
    for name, head in net.heads.items():
        inits += [
            numpy_helper.from_array(head.weight.detach().numpy().T.copy(), f"w_{name}"),
            numpy_helper.from_array(head.bias.detach().numpy(), f"b_{name}"),
        ]
        raw = f"{name}_logits" if name in softmax_heads else name
        if residual and name in residual:
            a, b, c = (np.asarray(v, np.float32) for v in residual[name])
            inits[-2] = numpy_helper.from_array(
                (head.weight.detach().numpy().T * a).astype(np.float32), f"w_{name}"
            )
            inits[-1] = numpy_helper.from_array(
                (head.bias.detach().numpy() * a).astype(np.float32), f"b_{name}"
            )
            inits += [
                numpy_helper.from_array(np.array([-BASE_SAMPLES, 0], np.int64), "level_starts"),
                numpy_helper.from_array(np.array([WINDOW, 2], np.int64), "level_ends"),
                numpy_helper.from_array(np.array([1, 2], np.int64), "level_axes"),
                numpy_helper.from_array(b, f"scale_{name}"),
                numpy_helper.from_array(c, f"offset_{name}"),
            ]
            nodes += [
                helper.make_node(
                    "Slice", ["x", "level_starts", "level_ends", "level_axes"], ["last_hour"]
                ),
                helper.make_node("ReduceMean", ["last_hour"], ["level"], axes=[1], keepdims=0),
                helper.make_node("Mul", ["level", f"scale_{name}"], [f"{name}_scaled"]),
                helper.make_node("Add", [f"{name}_scaled", f"offset_{name}"], [f"{name}_level"]),
                helper.make_node("Gemm", [prev, f"w_{name}", f"b_{name}"], [f"{name}_change"]),
                helper.make_node("Add", [f"{name}_change", f"{name}_level"], [raw]),
            ]
        else:
            nodes.append(helper.make_node("Gemm", [prev, f"w_{name}", f"b_{name}"], [raw]))
        if name in softmax_heads:
            nodes.append(helper.make_node("Softmax", [raw], [name], axis=1))
        outputs.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", head.out_features])
        )
    graph = helper.make_graph(
        nodes,
        path.parent.parent.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WINDOW, len(TAGS)])],
        outputs,
        inits,
    )
    from agentarts.runtime.onnx_build import save_model

    save_model(graph, path, "agentarts.industries.steel.train")


def _toml_list(values: Any) -> str:
    return (
        "["
        + ", ".join(f"{float(v):.6g}" if not isinstance(v, str) else json.dumps(v) for v in values)
        + "]"
    )


def check_export(net: Any, path: Path, xn: np.ndarray, residual: Any) -> None:
    """The exported graph must compute what the trained network computes."""
    import onnxruntime as ort
    import torch

    with torch.no_grad():
        change = net(torch.from_numpy(xn))["y"].numpy()
    a, b, c = residual
    expected = a * change + b * xn[:, -BASE_SAMPLES:, :2].mean(1) + c
    got = ort.InferenceSession(str(path)).run(["y"], {"x": xn})[0]
    error = float(np.abs(got - expected).max())
    if error > 1e-4:
        raise RuntimeError(f"exported forecaster differs from the trained one by {error:.2g}")


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return _toml_list(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{float(value):.6g}" if isinstance(value, float) else str(value)


#: The unit of each tag as the card states it (the tag names carry them in short form).
TAG_UNITS = {
    "hmt_c": "degC",
    "si_pct": "wt%",
    "eta_co": "1",  # CO utilisation CO2 / (CO + CO2), a fraction
    "top_gas_temp_c": "degC",
    "pressure_drop_kpa": "kPa",
    "stave_lower_c": "degC",
    "stave_upper_c": "degC",
    "blast_moisture_g_nm3": "g/Nm3",
    "coke_rate_kg_thm": "kg/tHM",
    "pci_rate_kg_thm": "kg/tHM",
    "blast_temp_c": "degC",
    "oxygen_enrichment_pct": "%",
    "blast_volume_nm3_min": "Nm3/min",
    "steam_g_nm3": "g/Nm3",
}


def write_cards(
    out: Path,
    norm: dict[str, Any],
    y_mean: np.ndarray,
    y_std: np.ndarray,
    metrics: dict[str, dict[str, Any]],
    provenance: dict[str, Any],
    models: tuple[str, ...] = ("bf_thermal", "bf_abnormal"),
) -> None:
    """model.toml for ``models`` (metrics: {"bf_thermal": {...}, ...})."""
    prov = "\n".join(f"{k} = {_toml_value(v)}" for k, v in provenance.items())
    common = f"""[[inputs]]
name = "x"
description = "last {WINDOW} samples (6 h at 10 min) of {len(TAGS)} plant tags, oldest first"
features = {_toml_list(TAGS)}
unit = {_toml_list([TAG_UNITS[t] for t in TAGS])}
mean = {_toml_list(norm["mean"])}
std = {_toml_list(norm["std"])}

[batching]
max_batch_size = 64
preferred_batch_sizes = [16, 32, 64]

[provenance]
{prov}
"""

    def metric_lines(name: str) -> str:
        return "\n".join(f"{k} = {_toml_value(v)}" for k, v in metrics[name].items())

    for name in models:
        (out / name).mkdir(parents=True, exist_ok=True)
    title = f"Blast furnace: HMT and [Si] {HORIZON // 6} h ahead and the thermal trend"
    if "bf_thermal" in models:
        (out / "bf_thermal" / "model.toml").write_text(
            f"""description = "{title}"
task = "forecast"
precision = "fp16"
{common}
[[outputs]]
name = "y"
features = ["hmt_2h_c", "si_2h_pct"]
unit = ["degC", "wt%"]
mean = {_toml_list(y_mean)}
std = {_toml_list(y_std)}

[[outputs]]
name = "trend"
description = "probabilities of {list(TREND_CLASSES)} (2 h change beyond +-5 C)"

[metrics]
{metric_lines("bf_thermal")}
"""
        )
    if "bf_abnormal" in models:
        (out / "bf_abnormal" / "model.toml").write_text(
            f"""description = "Blast furnace: abnormal state classifier (precursors included)"
task = "classification"
precision = "fp16"
{common}
[[outputs]]
name = "state"
description = "probabilities of {list(STATES)}"

[metrics]
{metric_lines("bf_abnormal")}
"""
        )
