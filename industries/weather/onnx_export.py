"""The emulator's ONNX graph, written node by node from the trained weights (see ``net``).

Input ``x`` and output ``y`` are (batch, 2, 32, 32) float32 streamfunctions in m2/s; ``y`` is
``x`` 24 h later (``net.SUBSTEPS`` substeps unrolled). A spectrum keeps the x wavenumbers
k = 0..16 of all 32 y wavenumbers l (a real field's spectrum is Hermitian) and is stored as
(batch, fields, 64, 17): rows are (real/imaginary part, l), columns k. Every 2-D DFT is two
GEMMs with a Reshape between them that moves the real/imaginary axis from the columns of the
first product into the rows of the second (or back), so complex arithmetic needs no
recombination nodes and no Transpose:

* forward (grid -> spectrum): ``g @ [cos | -sin]`` over x, Reshape, then one real (64 x 64)
  left factor that is the complex DFT over y;
* inverse (spectrum -> grid): one real left factor (the complex inverse DFT over l, written
  onto the points the next step needs), Reshape, then a right factor over k that keeps the
  real part (and applies the Hermitian weights 1, 2, ..., 2, 1). Before the convolution the
  inverse writes psi and lap(psi) of both layers onto the grid extended by two rows and
  columns on each side (the periodic halo the 5 x 5 convolution needs); -K^2 = -kx^2 - ky^2
  splits into a factor of each stage.

Per Fourier mode, a Lawson-AB3 substep is one 4 x 4j real matrix (j = 2, 3 or 4 complex
inputs: the state and the tendency history) applied as Mul + ReduceSum. The PV inversion S,
the propagator E and the AB3 coefficients are folded into it at export time; the 1 x 1 output
weights are one MatMul over the channels; the PV (q = lap(psi) + F psi) is folded into the
5 x 5 convolution. Operator entries below 1e-10 of their block's largest are set to zero: the
filter and the hyperviscosity damp the smallest scales by up to exp(-780) per substep, which
as float32 is a denormal number, and denormal arithmetic is some 100 times slower on x86 CPUs
(it made the previous graph about 1.5 times slower); the change in the output is below 1e-9
of its magnitude. The graph uses only MatMul, Mul, ReduceSum, Reshape, Concat, Split and Conv
(opset 17): it runs on onnxruntime and converts for Ascend (ATC) without custom operators, and
it does not depend on an exporter version.

The trained arrays are kept beside the graph (``models/qg_emulator/1/weights.npz``, see
``save_weights``), so the shipped graph is rebuilt from them, without torch, with::

    python -m agentarts.industries.weather.onnx_export [--weights NPZ] [--out ONNX]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["export_onnx", "export_weights", "load_weights", "save_weights"]

HALO = 2  # the 5 x 5 convolution's reach
FLUSH = 1e-10  # operator entries below this fraction of their block's largest become zero
WEIGHTS_FILE = "weights.npz"
SHIPPED = Path(__file__).parent / "models" / "qg_emulator" / "1"
_KEYS = ("e", "s", "conv_w", "conv_b", "out_w")


class _Graph:
    """Accumulates ONNX nodes and initializers."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0
        self.shapes: dict[tuple[int, ...], str] = {}

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, value: np.ndarray, prefix: str = "c") -> str:
        name = self.name(prefix)
        value = np.asarray(value)
        if value.dtype == np.float64:
            value = value.astype(np.float32)
        self.inits.append(self.numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        names = [self.name(kind.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(kind, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    def reshape(self, x: str, shape: list[int]) -> str:
        key = tuple(shape)
        if key not in self.shapes:
            self.shapes[key] = self.const(np.array(shape, np.int64), "shape")
        return self.op("Reshape", [x, self.shapes[key]])


def _clean(m: np.ndarray) -> np.ndarray:
    """A DFT matrix with its rounding residues (cos(pi/2) = 6e-17, ...) set to zero."""
    return np.where(np.abs(m) < 1e-12 * np.abs(m).max(), 0.0, m)


def _dft_factors(n: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward DFT factors: right (x, (ri, k)) = [cos | -sin] and left ((ri, l), (y, ri))."""
    idx = np.arange(n)
    ang = 2 * np.pi * np.outer(idx, idx) / n
    c, s = np.cos(ang), np.sin(ang)
    right = np.concatenate([c[:, :h], -s[:, :h]], axis=1)
    left = np.zeros((2, n, n, 2))  # Z = sum_y (c - i s) A:  Zr = c Ar + s Ai,  Zi = c Ai - s Ar
    left[0, :, :, 0], left[0, :, :, 1] = c, s
    left[1, :, :, 0], left[1, :, :, 1] = -s, c
    return _clean(right), _clean(left.reshape(2 * n, 2 * n))


def _inverse_factors(
    n: int, h: int, points: np.ndarray, lap: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse DFT onto ``points`` (both axes). Left: rows (y, kind, ri), columns (ri, l),
    the complex sum over l (kinds: V, and with ``lap`` = (kx^2, ky^2) also Q with -ky^2).
    Right: (out kind, (kind, ri, k), x), the real part of the sum over k (out kinds: psi,
    and lap(psi) = Re(-kx^2 V + Q))."""
    idx = np.arange(n)
    a = 2 * np.pi * np.outer(points, idx) / n
    cy, sy = _clean(np.cos(a)), _clean(np.sin(a))
    factors = [np.ones(n)] if lap is None else [np.ones(n), -lap[1]]
    left = np.zeros((len(points), len(factors), 2, 2, n))
    for q, f in enumerate(factors):  # V = sum_l (c + i s) Z
        left[:, q, 0, 0], left[:, q, 0, 1] = cy * f, -sy * f
        left[:, q, 1, 0], left[:, q, 1, 1] = sy * f, cy * f
    weight = np.full(h, 2.0)
    weight[0] = weight[-1] = 1.0  # the mean and Nyquist columns count once
    ax = 2 * np.pi * np.outer(idx[:h], points) / n
    cx = weight[:, None] * _clean(np.cos(ax)) / n**2
    sx = weight[:, None] * _clean(np.sin(ax)) / n**2
    kinds = len(factors)
    right = np.zeros((kinds, kinds, 2, h, len(points)))
    right[0, 0, 0], right[0, 0, 1] = cx, -sx
    if lap is not None:
        kx2 = lap[0][:, None]
        right[1, 0, 0], right[1, 0, 1] = -kx2 * cx, kx2 * sx
        right[1, 1, 0], right[1, 1, 1] = cx, -sx
    return left.reshape(-1, 2 * n), right.reshape(kinds, kinds * 2 * h, len(points))


def _stepper(blocks: list[np.ndarray], h: int) -> np.ndarray:
    """Complex per-mode matrices (O, C_b, n, n) side by side as the real (2 O, 2 C, n, h)
    operator on [(field, ri)] channels; each block's entries below ``FLUSH`` of its largest
    are set to zero."""
    parts = []
    for block in blocks:
        m = block[..., :h]
        o, c = m.shape[:2]
        real = np.zeros((o, 2, c, 2, *m.shape[2:]))
        real[:, 0, :, 0], real[:, 0, :, 1] = m.real, -m.imag
        real[:, 1, :, 0], real[:, 1, :, 1] = m.imag, m.real
        real = np.where(np.abs(real) < FLUSH * np.abs(real).max(), 0.0, real)
        parts.append(real.reshape(2 * o, 2 * c, *m.shape[2:]))
    return np.concatenate(parts, axis=1)


def weights(net: Any) -> dict[str, Any]:
    """The arrays the graph needs, from a trained ``net.build_net`` module: E and S
    (complex (2, 2, n, n)), the 5 x 5 convolution acting on the raw fields (psi1, psi2, q1,
    q2) in SI units, its bias, and the 1 x 1 output weights in PV-tendency units."""
    import torch

    with torch.no_grad():
        e, s = (t.numpy() for t in net.operators())
        in_scale = net.in_scale.numpy().reshape(1, 4, 1, 1)
        return {
            "e": e,
            "s": s,
            "conv_w": net.conv.weight.numpy() / in_scale,
            "conv_b": net.conv.bias.numpy(),
            "out_w": net.out.weight.numpy() * net.r_scale.numpy().reshape(2, 1, 1, 1),
        }


def save_weights(w: dict[str, Any], path: Path) -> None:
    """Keep the trained arrays (about 70 kB) so the graph can be rewritten without torch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # a file object: numpy would append .npz to the name
        np.savez_compressed(handle, **{k: np.asarray(w[k]) for k in _KEYS})


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """The arrays ``save_weights`` wrote."""
    with np.load(path) as data:
        missing = [k for k in _KEYS if k not in data.files]
        if missing:
            raise ValueError(f"{path}: not emulator weights (missing {missing})")
        return {k: data[k] for k in _KEYS}


def export_onnx(net: Any, path: Path, n: int = 32) -> None:
    """Write ``net`` (a trained ``net.build_net`` module) as ONNX, and its weights beside it
    (``weights.npz`` in the same folder)."""
    w = weights(net)
    save_weights(w, Path(path).with_name(WEIGHTS_FILE))
    export_weights(w, path, n)


def export_weights(w: dict[str, Any], path: Path, n: int = 32) -> Any:
    """Write the graph from ``weights`` arrays; returns the ONNX model."""
    from onnx import TensorProto, helper

    from agentarts.industries.weather.net import SUBSTEPS, physics_operators
    from agentarts.runtime.onnx_build import save_model

    g = _Graph()
    h, ext = n // 2 + 1, n + 2 * HALO
    lq = physics_operators(n)["psi_q"][2:].real  # (2, 2, n, n): -K^2 I + F terms
    k2 = -lq[0, 0] - lq[0, 1]  # K^2 (lq[0, 0] = -K^2 - F1, lq[0, 1] = F1)
    f = lq[:, :, 0, 0] + k2[0, 0] * np.eye(2)  # the F matrix of q = lap(psi) + F psi
    kx2, ky2 = k2[0, :h], k2[:, 0]
    if not np.allclose(k2[:, :h], ky2[:, None] + kx2[None, :], rtol=1e-12):
        raise AssertionError("K^2 is not kx^2 + ky^2")

    fwd_r, fwd_l = (g.const(m, "dft") for m in _dft_factors(n, h))
    ext_l, ext_r = (
        g.const(m, "idft") for m in _inverse_factors(n, h, np.arange(-HALO, n + HALO), (kx2, ky2))
    )
    out_l, out_r = _inverse_factors(n, h, np.arange(n), None)
    out_l, out_r = g.const(out_l, "idft"), g.const(out_r[0], "idft")

    def forward(grid: str) -> str:
        half = g.reshape(g.op("MatMul", [grid, fwd_r]), [0, 2, 2 * n, h])
        return g.op("MatMul", [fwd_l, half])

    cw = np.asarray(w["conv_w"], np.float64)  # reads (psi1, psi2, q1, q2)
    folded = np.concatenate([cw[:, :2] + np.einsum("oiyx,ij->ojyx", cw[:, 2:], f), cw[:, 2:]], 1)
    pairs = folded.shape[0] // 2
    conv_w = g.const(folded[:, [0, 2, 1, 3]], "conv_fold")  # reads (psi1, lap1, psi2, lap2)
    conv_b = g.const(np.asarray(w["conv_b"], np.float32), "conv_b")
    out_w = g.const(np.asarray(w["out_w"], np.float64)[:, :, 0, 0], "out_w")
    halves = g.const(np.array([pairs, pairs], np.int64), "split")

    def tendency(spec: str) -> str:
        """R = DFT of the nonlinear part's PV-tendency channels (S is applied below)."""
        v = g.reshape(g.op("MatMul", [ext_l, spec]), [-1, 1, ext, 4 * h])  # (batch x field)
        fields = g.reshape(g.op("MatMul", [v, ext_r]), [-1, 4, ext, ext])
        a, b = g.op("Split", [g.op("Conv", [fields, conv_w, conv_b]), halves], 2, axis=1)
        prod = g.reshape(g.op("Mul", [a, b]), [0, pairs, n * n])
        return forward(g.reshape(g.op("MatMul", [out_w, prod]), [0, 2, n, n]))

    # Lawson-AB3 as one per-mode matrix per substep: X' = E X + sum_k c_k E^(k+1) S R_(n-k)
    e, s_op = (np.asarray(w[k], np.complex128) for k in ("e", "s"))

    def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("ijkl,jmkl->imkl", a, b)

    es = mm(e, s_op)
    e2s, e3s = mm(e, es), mm(e, mm(e, es))
    coefs = ([(1.0, es)], [(1.5, es), (-0.5, e2s)])
    ab3 = [(23.0 / 12, es), (-16.0 / 12, e2s), (5.0 / 12, e3s)]
    steppers = [
        g.const(_stepper([e] + [c * m for c, m in (coefs[k] if k < 2 else ab3)], h), "step")
        for k in range(3)
    ]
    axis = g.const(np.array([2], np.int64), "axes")

    x = forward("x")
    history: list[str] = []
    for step in range(SUBSTEPS):
        history.insert(0, tendency(x))
        del history[3:]
        stack = g.reshape(g.op("Concat", [x, *history], axis=1), [0, 1, 4 * len(history) + 4, n, h])
        prod = g.op("Mul", [stack, steppers[min(step, 2)]])
        x = g.reshape(g.op("ReduceSum", [prod, axis], keepdims=0), [0, 2, 2 * n, h])
    half = g.reshape(g.op("MatMul", [out_l, x]), [0, 2, n, 2 * h])
    g.nodes.append(helper.make_node("MatMul", [half, out_r], ["y"]))
    shape = ["batch", 2, n, n]
    graph = helper.make_graph(
        g.nodes,
        "qg_emulator",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        g.inits,
    )
    return save_model(graph, path, "agentarts.industries.weather.train")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m agentarts.industries.weather.onnx_export",
        description="Rewrite the emulator's ONNX graph from its kept weights (no torch).",
    )
    parser.add_argument("--weights", type=Path, default=SHIPPED / WEIGHTS_FILE)
    parser.add_argument("--out", type=Path, default=SHIPPED / "model.onnx")
    args = parser.parse_args()
    model = export_weights(load_weights(args.weights), args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {len(model.graph.node)} nodes, {size:,} bytes")


if __name__ == "__main__":
    main()
