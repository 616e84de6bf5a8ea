"""The roofline cost model equals the closed-form arithmetic for known graphs."""

from __future__ import annotations

import math

import pytest

from agentarts.runtime.devices.costmodel import CostModel
from agentarts.runtime.devices.profiles import PROFILES
from agentarts.runtime.testing import make_matmul, make_mlp

P = PROFILES["910B2"]


def expected_matmul_time(b: int, k: int, n: int, precision_bytes: int = 2) -> float:
    tiles = math.ceil(b / 16) * math.ceil(n / 16)
    cycles = math.ceil(tiles / P.cube_cores) * math.ceil(k / 16)
    compute = cycles / (P.clock_ghz * 1e9) / P.compute_efficiency
    moved = (b * k + k * n + b * n) * precision_bytes
    bandwidth = P.hbm_bandwidth * (P.l2_bandwidth_factor if moved <= P.l2_bytes else 1)
    memory = moved / (bandwidth * P.memory_efficiency)
    return max(compute, memory) + P.launch_overhead_us * 1e-6


@pytest.mark.parametrize(
    ("b", "k", "n"), [(1, 256, 512), (16, 256, 512), (100, 1000, 3000), (4096, 1024, 1024)]
)
def test_single_matmul_matches_closed_form(b, k, n):
    cost = CostModel(make_matmul(k, n), P).batch_cost(b)
    (node,) = cost.nodes
    assert node.unit == "cube"
    assert node.flops == 2 * b * k * n
    assert node.bytes == (b * k + k * n + b * n) * 2
    assert cost.time_s == pytest.approx(expected_matmul_time(b, k, n), rel=1e-12)


def test_big_matmul_is_compute_bound_and_near_peak():
    cost = CostModel(make_matmul(2048, 2048), P).batch_cost(16384)
    node = cost.nodes[0]
    assert node.compute_s > node.memory_s
    achieved = node.flops / (node.time_s - P.launch_overhead_us * 1e-6)
    assert achieved == pytest.approx(P.cube_flops() * P.compute_efficiency, rel=0.01)


def test_padding_to_16_makes_batch_1_cost_as_much_as_16():
    model = CostModel(make_matmul(256, 512), P)
    assert model.batch_cost(1).nodes[0].compute_s == model.batch_cost(16).nodes[0].compute_s
    assert model.batch_cost(17).nodes[0].compute_s > model.batch_cost(16).nodes[0].compute_s


def test_precision_changes_bytes_and_rate():
    fp16 = CostModel(make_matmul(1024, 1024), P, "fp16").batch_cost(4096).nodes[0]
    fp32 = CostModel(make_matmul(1024, 1024), P, "fp32").batch_cost(4096).nodes[0]
    int8 = CostModel(make_matmul(1024, 1024), P, "int8").batch_cost(4096).nodes[0]
    assert fp32.bytes == 2 * fp16.bytes == 4 * int8.bytes
    assert fp32.compute_s == pytest.approx(2 * fp16.compute_s)
    assert int8.compute_s == pytest.approx(fp16.compute_s / 2)


def test_mlp_node_units_and_weights():
    model = CostModel(make_mlp(), P)
    cost = model.batch_cost(64)
    assert [n.unit for n in cost.nodes] == ["cube", "vector", "cube", "vector", "cube"]
    weights = (64 * 256 + 256 + 256 * 256 + 256 + 256 * 8 + 8) * 2
    assert model.weights_bytes() == weights
    # peak live activations at batch 64: Gemm output + Relu output of a 256-wide layer
    assert model.peak_activation_bytes(64) == 2 * 64 * 256 * 2


def test_vector_op_uses_vector_rate():
    cost = CostModel(make_mlp(), P).batch_cost(4096)
    relu = cost.nodes[1]
    assert relu.flops == 4096 * 256
    assert relu.compute_s == pytest.approx(relu.flops / P.vector_flops() / P.compute_efficiency)


def test_bad_precision_and_batch():
    with pytest.raises(ValueError):
        CostModel(make_mlp(), P, "fp64")
    with pytest.raises(ValueError):
        CostModel(make_mlp(), P).batch_cost(0)


def test_shapes_come_from_a_skeleton_without_the_weights(monkeypatch):
    """Large initializers reach shape inference as typed inputs (a 10 MB model took 15 s to
    load); small constants such as a Reshape target stay, and every cost is unchanged."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import agentarts.runtime.devices.costmodel as costmodel

    table = numpy_helper.from_array(np.ones((192, 64, 64), np.float32), "table")
    target = numpy_helper.from_array(np.array([-1, 4096], np.int64), "target")
    nodes = [
        helper.make_node("Gather", ["table", "slot"], ["rows"]),
        helper.make_node("Reshape", ["rows", "target"], ["flat"]),
        helper.make_node("Sub", ["image", "flat"], ["diff"]),
        helper.make_node("ReduceSumSquare", ["diff"], ["score"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "skeleton",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 4096]),
            helper.make_tensor_value_info("slot", TensorProto.INT64, ["n"]),
        ],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"])],
        [table, target],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    skeleton = costmodel._without_large_weights(model)
    assert [i.name for i in skeleton.graph.initializer] == ["target"]
    assert skeleton.ByteSize() < 4096 < model.ByteSize()
    fast = CostModel(model, P)
    monkeypatch.setattr(costmodel, "_SKELETON_BYTES", 1 << 62)
    full = CostModel(model, P)
    onnx.checker.check_model(model)
    for batch in (1, 33, 256):
        assert fast.batch_cost(batch) == full.batch_cost(batch)
        assert fast.peak_activation_bytes(batch) == full.peak_activation_bytes(batch)
    assert fast.batch_cost(33).bytes > 33 * 4096 * 2 * 3  # shapes were known: bytes counted
