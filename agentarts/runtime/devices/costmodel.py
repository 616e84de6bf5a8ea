"""Per-operator roofline cost model of an ONNX graph on a simulated Ascend device.

For each node at a given batch size::

    t = max(compute, memory) + launch_overhead
    compute (cube: MatMul, Gemm, Conv) = ceil(tiles / cube_cores) * ceil(K / 16) cycles / clock
        where tiles = ceil(M / 16) * ceil(N / 16) output fractals (M, N, K padded to 16), at
        the precision's rate, divided by the sustained compute efficiency
    compute (vector: everything else) = element ops / (vector lanes x vector cores x clock x eff)
    memory = (bytes read + bytes written) / (bandwidth x eff), with an L2 roof (bandwidth x
        l2_bandwidth_factor) when the node's working set fits in L2

Nodes run one after another (no overlap between operators), as a single-stream offline model
executes. Shapes come from ONNX shape inference with the batch dimension fixed. Limits: no
operator fusion (ATC fuses e.g. MatMul+Add+Relu, so real times are lower for small ops), no
data-layout transposes (NC1HWC0), no overlap of compute and memory inside a node beyond max().
Accuracy claims need calibration on real hardware (docs/sources.md): this is a roofline estimate.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentarts.runtime.devices.profiles import DeviceProfile

if TYPE_CHECKING:
    import onnx

__all__ = ["BatchCost", "CostModel", "NodeCost"]

CUBE_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "MatMulInteger", "QLinearMatMul"}
# Metadata-only operators: no data moves on the device.
FREE_OPS = {
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Shape",
    "Constant",
    "Identity",
    "Dropout",
    "Size",
    "ConstantOfShape",
}
# Transcendental element ops cost several vector instructions per element (assumption: 4).
HEAVY_ELEMENTWISE = {
    "Exp",
    "Log",
    "Tanh",
    "Sigmoid",
    "Erf",
    "Softmax",
    "LogSoftmax",
    "Gelu",
    "Sqrt",
    "Pow",
    "Div",
    "Reciprocal",
    "HardSigmoid",
    "Softplus",
    "Mish",
}
REDUCING = {
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "ArgMax",
    "ArgMin",
    "LayerNormalization",
    "BatchNormalization",
    "InstanceNormalization",
    "AveragePool",
    "MaxPool",
}

# ONNX TensorProto element types -> (bytes, is_float)
_ELEM = {
    1: (4, True),
    10: (2, True),
    16: (2, True),
    11: (8, True),
    2: (1, False),
    3: (1, False),
    4: (2, False),
    5: (2, False),
    6: (4, False),
    7: (8, False),
    9: (1, False),
    12: (4, False),
    13: (8, False),
}
_PRECISION_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}


@dataclass(frozen=True)
class NodeCost:
    name: str
    op: str
    unit: str  # "cube", "vector" or "none"
    flops: float
    bytes: float
    compute_s: float
    memory_s: float
    time_s: float


@dataclass(frozen=True)
class BatchCost:
    batch: int
    nodes: tuple[NodeCost, ...] = field(repr=False)
    time_s: float
    flops: float
    bytes: float

    @property
    def time_us(self) -> float:
        return self.time_s * 1e6


def _tensor_info(model: onnx.ModelProto) -> dict[str, tuple[list[int | None], int]]:
    """name -> (shape with None for unknown dims, element type) for every typed tensor."""
    out: dict[str, tuple[list[int | None], int]] = {}
    graph = model.graph
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            out.setdefault(vi.name, ([], tt.elem_type))
            continue
        dims = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in tt.shape.dim
        ]
        out[vi.name] = (dims, tt.elem_type)
    for init in graph.initializer:
        out[init.name] = (list(init.dims), init.data_type)
    return out


#: initializers above this size reach shape inference as typed inputs, not as data
_SKELETON_BYTES = 4096


def _without_large_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with each large initializer replaced by a graph input of the same type and
    shape. Shapes do not depend on weight values, only on small constants (Reshape targets,
    axes), which stay; shape inference then copies and walks kilobytes instead of the weights,
    once per batch size (a 10 MB model took 15 s to load for 256 batch sizes)."""
    import onnx

    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(model)
    graph = skeleton.graph
    declared = {vi.name for vi in graph.input}
    kept = []
    for init in graph.initializer:
        size = len(init.raw_data) or init.ByteSize()
        if size <= _SKELETON_BYTES:
            kept.append(init)
            continue
        if init.name not in declared:
            graph.input.append(
                onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims))
            )
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return skeleton


class CostModel:
    """Cost of running one ONNX model on one device profile, per batch size (cached)."""

    def __init__(
        self, model: onnx.ModelProto, profile: DeviceProfile, precision: str = "fp16"
    ) -> None:
        if precision not in _PRECISION_BYTES:
            raise ValueError(f"precision must be one of {sorted(_PRECISION_BYTES)}")
        self.model = model
        self.profile = profile
        self.precision = precision
        self._cache: dict[int, tuple[BatchCost, int]] = {}
        self._lock = threading.Lock()
        self._initializers = {i.name for i in model.graph.initializer}
        self._skeleton = _without_large_weights(model)

    # -- sizes -------------------------------------------------------------------------------
    def _elem_bytes(self, elem_type: int) -> int:
        size, is_float = _ELEM.get(elem_type, (4, True))
        return _PRECISION_BYTES[self.precision] if is_float else size

    def _nbytes(self, info: tuple[list[int | None], int] | None) -> float:
        if info is None or any(d is None for d in info[0]):
            return 0.0
        return float(math.prod(info[0])) * self._elem_bytes(info[1])  # type: ignore[arg-type]

    def weights_bytes(self) -> int:
        """Bytes of all initializers at the model's precision."""
        return int(
            sum(
                math.prod(i.dims) * self._elem_bytes(i.data_type)
                for i in self.model.graph.initializer
            )
        )

    # -- shapes ------------------------------------------------------------------------------
    def _shapes_at(self, batch: int) -> dict[str, tuple[list[int | None], int]]:
        import onnx

        model = onnx.ModelProto()
        model.CopyFrom(self._skeleton)
        for vi in model.graph.input:
            if vi.name in self._initializers:
                continue
            dims = vi.type.tensor_type.shape.dim
            if dims and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
                dims[0].Clear()
                dims[0].dim_value = batch
        del model.graph.value_info[:]
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        return _tensor_info(inferred)

    # -- per node ----------------------------------------------------------------------------
    def _cube_time(self, groups: int, m: int, n: int, k: int) -> float:
        p = self.profile
        tiles = math.ceil(m / 16) * math.ceil(n / 16) * groups
        waves = math.ceil(tiles / p.cube_cores)
        cycles = waves * math.ceil(k / 16)
        rate = p.cube_flops(self.precision) / p.cube_flops("fp16")
        return cycles / (p.clock_ghz * 1e9) / rate / p.compute_efficiency

    def _node(self, node: Any, shapes: dict[str, tuple[list[int | None], int]]) -> NodeCost:
        p = self.profile
        ins = [shapes.get(n) for n in node.input if n]
        outs = [shapes.get(n) for n in node.output if n]
        op = node.op_type
        if op in FREE_OPS:
            return NodeCost(node.name or op, op, "none", 0.0, 0.0, 0.0, 0.0, 0.0)
        moved = sum(self._nbytes(t) for t in ins) + sum(self._nbytes(t) for t in outs)
        flops, compute = 0.0, 0.0
        unit = "vector"
        gmnk = self._matmul_dims(node, ins, outs) if op in CUBE_OPS else None
        if gmnk is not None:
            groups, m, n, k = gmnk
            unit = "cube"
            flops = 2.0 * groups * m * n * k
            compute = self._cube_time(groups, m, n, k)
        else:
            out_elems = sum(math.prod(t[0]) for t in outs if t and None not in t[0])
            in_elems = sum(math.prod(t[0]) for t in ins if t and None not in t[0])
            per = 4.0 if op in HEAVY_ELEMENTWISE else 1.0
            flops = float(in_elems if op in REDUCING else out_elems) * per
            compute = flops / p.vector_flops(self.precision) / p.compute_efficiency
        bandwidth = p.hbm_bandwidth
        if 0 < moved <= p.l2_bytes:
            bandwidth *= p.l2_bandwidth_factor
        memory = moved / (bandwidth * p.memory_efficiency)
        total = max(compute, memory) + p.launch_overhead_us * 1e-6
        return NodeCost(node.name or op, op, unit, flops, moved, compute, memory, total)

    @staticmethod
    def _matmul_dims(
        node: Any, ins: list[Any], outs: list[Any]
    ) -> tuple[int, int, int, int] | None:
        """(groups, M, N, K) of the matrix product a cube operator performs, if shapes known."""
        if not ins or not outs or any(t is None or None in t[0] for t in ins[:2] + outs[:1]):
            return None
        a, b, y = ins[0][0], ins[1][0], outs[0][0]
        op = node.op_type
        if op in {"MatMul", "MatMulInteger", "QLinearMatMul"}:
            if op == "QLinearMatMul":
                a, b = ins[0][0], ins[3][0]
            k = a[-1]
            m = a[-2] if len(a) >= 2 else 1
            n = b[-1] if len(b) >= 2 else 1
            groups = math.prod(y[:-2]) if len(y) > 2 else 1
            return groups, m, n, k
        if op == "Gemm":
            attrs = {at.name: at.i for at in node.attribute}
            m, k = (a[1], a[0]) if attrs.get("transA") else (a[0], a[1])
            n = b[0] if attrs.get("transB") else b[1]
            return 1, m, n, k
        # Conv / ConvTranspose as img2col: M = batch x output pixels, N = Cout, K = Cin/g x kernel
        group = next((at.i for at in node.attribute if at.name == "group"), 1) or 1
        w = b
        kernel = math.prod(w[2:])
        if op == "Conv":
            m = y[0] * math.prod(y[2:])
            return group, m, w[0] // group, w[1] * kernel
        m = a[0] * math.prod(a[2:])
        return group, m, w[1], (w[0] // group) * kernel

    # -- public ------------------------------------------------------------------------------
    def _compute(self, batch: int) -> tuple[BatchCost, int]:
        shapes = self._shapes_at(batch)
        nodes = tuple(self._node(n, shapes) for n in self.model.graph.node)
        cost = BatchCost(
            batch=batch,
            nodes=nodes,
            time_s=sum(n.time_s for n in nodes),
            flops=sum(n.flops for n in nodes),
            bytes=sum(n.bytes for n in nodes),
        )
        return cost, self._peak_activation(shapes)

    def _get(self, batch: int) -> tuple[BatchCost, int]:
        if batch < 1:
            raise ValueError("batch must be >= 1")
        with self._lock:
            hit = self._cache.get(batch)
        if hit is None:
            hit = self._compute(batch)
            with self._lock:
                self._cache[batch] = hit
        return hit

    def batch_cost(self, batch: int) -> BatchCost:
        """Simulated device cost of one execution at ``batch`` rows."""
        return self._get(batch)[0]

    def peak_activation_bytes(self, batch: int) -> int:
        """Largest sum of live intermediate tensors while running at ``batch`` rows."""
        return self._get(batch)[1]

    def _peak_activation(self, shapes: dict[str, tuple[list[int | None], int]]) -> int:
        graph = self.model.graph
        last_use: dict[str, int] = {}
        for i, node in enumerate(graph.node):
            for name in node.input:
                last_use[name] = i
        end = len(graph.node)
        for out in graph.output:
            last_use[out.name] = end
        live: dict[str, float] = {
            vi.name: self._nbytes(shapes.get(vi.name))
            for vi in graph.input
            if vi.name not in self._initializers
        }
        peak = sum(live.values())
        for i, node in enumerate(graph.node):
            for name in node.output:
                if name:
                    live[name] = self._nbytes(shapes.get(name))
            peak = max(peak, sum(live.values()))
            for name in [n for n in live if last_use.get(n, -1) <= i]:
                del live[name]
        return int(peak)
