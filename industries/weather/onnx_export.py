"""The emulator's ONNX graph, written node by node from the trained weights (see ``net``).

Input ``x`` and output ``y`` are (batch, 2, 32, 32) float32 streamfunctions in m2/s; ``y`` is
``x`` 24 h later (``net.SUBSTEPS`` substeps unrolled). A complex spectrum of C fields is a
real tensor of 2C channels (real parts, then imaginary parts), stored transposed (rows are
the x wavenumber), so every 2-D DFT is two GEMMs with a constant right factor and one
Transpose: X^T = (x F)^T F for the symmetric DFT matrix F. Complex products are pairs of
MatMuls whose real and imaginary parts a fixed 1 x 1 convolution recombines. The inverse DFT
of the nonlinear part writes directly onto the grid extended by two rows and columns on each
side (the periodic halo the 5 x 5 convolution needs). The graph uses only MatMul, Mul, Add,
Sub, ReduceSum, Unsqueeze, Slice, Concat, Split, Transpose and Conv (opset 17): it runs on
onnxruntime and converts for Ascend (ATC) without custom operators, and it does not depend on
an exporter version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["export_onnx"]

HALO = 2  # the 5 x 5 convolution's reach


def _complex_mix(layout: tuple[tuple[int, int], ...], real_only: bool = False) -> np.ndarray:
    """1 x 1 convolution weights turning [P, Q] = [x Mr, x Mi] into x M as [real parts,
    imaginary parts] (or the real parts only); ``layout`` gives each complex field's (real,
    imaginary) channel in x."""
    c = len(layout)
    w = np.zeros((c if real_only else 2 * c, 4 * c, 1, 1), np.float32)
    for i, (re, im) in enumerate(layout):
        w[i, re] = 1.0  # Re: P_re - Q_im
        w[i, 2 * c + im] = -1.0
        if not real_only:
            w[c + i, 2 * c + re] = 1.0  # Im: Q_re + P_im
            w[c + i, im] = 1.0
    return w


def _standard(c: int) -> tuple[tuple[int, int], ...]:
    return tuple((i, c + i) for i in range(c))


def _modes_real(m: np.ndarray) -> np.ndarray:
    """A complex per-mode matrix (I, J, n, n) as the real (2I, 2J, n, n) block matrix acting
    on [re, im] channels, transposed over the last two axes like the stored spectra."""
    mr, mi = m.real, m.imag
    top = np.concatenate([mr, -mi], axis=1)
    bottom = np.concatenate([mi, mr], axis=1)
    return np.swapaxes(np.concatenate([top, bottom], axis=0), -1, -2).astype(np.float32)


class _Graph:
    """Accumulates ONNX nodes and initializers."""

    def __init__(self, n: int) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0
        self.n = n
        k = np.arange(n)
        self.h = h = n // 2 + 1  # x wavenumbers kept: a real field's spectrum is Hermitian
        fwd = np.exp(-2j * np.pi * np.outer(k, k) / n)
        self.fwd = self.complex_matrix(fwd)  # over y, all wavenumbers
        self.fwd_x = self.complex_matrix(fwd[:, :h])  # over x, the kept half
        # inverse: over y all wavenumbers; over x the kept half, counted twice except the
        # mean and Nyquist columns (the real part of the full sum)
        weight = np.full(h, 2.0)
        weight[0] = weight[-1] = 1.0
        self.inv, self.inv_x, self.ext, self.ext_x = (
            self.complex_matrix(m)
            for points in (np.arange(n), np.arange(-HALO, n + HALO))
            for m in (
                np.exp(2j * np.pi * np.outer(k, points) / n) / n,
                weight[:, None] * np.exp(2j * np.pi * np.outer(k[:h], points) / n) / n,
            )
        )
        self.axis1 = self.const(np.array([1], np.int64))
        self.axis2 = self.const(np.array([2], np.int64))
        self.mix: dict[Any, tuple[str, str]] = {}  # (layout, real only) -> weights

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, value: np.ndarray, prefix: str = "c") -> str:
        name = self.name(prefix)
        self.inits.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def complex_matrix(self, m: np.ndarray) -> tuple[str, str, int]:
        re, im = m.real.astype(np.float32), m.imag.astype(np.float32)
        return self.const(re), self.const(im), m.shape[1]

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(kind.lower())
        self.nodes.append(self.helper.make_node(kind, inputs, [out], **attrs))
        return out

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        bounds = [np.array([v], np.int64) for v in (start, end, axis)]
        return self.op("Slice", [x, *(self.const(b) for b in bounds)])

    def t(self, x: str) -> str:
        return self.op("Transpose", [x], perm=[0, 1, 3, 2])

    def right(
        self,
        x: str,
        m: tuple[str, str, int],
        layout: tuple[tuple[int, int], ...],
        rows: int,
        real: bool = False,
    ) -> str:
        """x @ M along the last axis (x: complex fields in ``layout``, ``rows`` rows), as [re,
        im] channels; the real/imaginary recombination is one GEMM over (channels, points)."""
        key = (layout, real)
        if key not in self.mix:
            w = _complex_mix(layout, real)[:, :, 0, 0]
            half = w.shape[1] // 2
            self.mix[key] = (self.const(w[:, :half], "mix"), self.const(w[:, half:], "mix"))
        c_in, c_out = 2 * len(layout), len(layout) * (1 if real else 2)
        flat_shape = self.const(np.array([0, c_in, -1], np.int64))
        terms = [
            self.op("MatMul", [mix, self.op("Reshape", [self.op("MatMul", [x, mat]), flat_shape])])
            for mix, mat in zip(self.mix[key], m[:2], strict=True)
        ]
        shape = self.const(np.array([0, c_out, rows, m[2]], np.int64))
        return self.op("Reshape", [self.op("Add", terms), shape])

    def dft(self, r: str) -> str:
        """The transposed spectrum of a real grid tensor (2 fields -> 4 channels)."""
        first = self.op("Concat", [self.op("MatMul", [r, m]) for m in self.fwd_x[:2]], axis=1)
        return self.right(self.t(first), self.fwd, _standard(2), self.h)

    def grid(
        self,
        spec: str,
        layout: tuple[tuple[int, int], ...],
        over_y: tuple[str, str, int],
        over_x: tuple[str, str, int],
    ) -> str:
        """The real grid of transposed half spectra (inverse DFT onto the matrices' points)."""
        half = self.t(self.right(spec, over_y, layout, self.h))
        return self.right(half, over_x, _standard(len(layout)), over_y[2], real=True)

    def modes(self, m: str, x: str) -> str:
        """Per Fourier mode, y_i = sum_j m[i, j] x_j (m: a ``_modes_real`` constant)."""
        prod = self.op("Mul", [self.op("Unsqueeze", [x, self.axis1]), m])
        return self.op("ReduceSum", [prod, self.axis2], keepdims=0)

    def combo(self, terms: list[tuple[float, str]]) -> str:
        """sum of coefficient * tensor."""
        out = None
        for coef, name in terms:
            term = name if coef == 1.0 else self.op("Mul", [name, self.const(np.float32(coef))])
            out = term if out is None else self.op("Add", [out, term])
        assert out is not None
        return out


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


def weights_from_onnx(path: Path) -> dict[str, Any]:
    """The same arrays read back from a graph this module wrote (to rewrite it)."""
    import onnx
    from onnx import numpy_helper

    found: dict[str, Any] = {}
    for init in onnx.load(str(path)).graph.initializer:
        prefix = init.name.rsplit("_", 1)[0]
        if prefix == "conv_fold":
            raise ValueError(f"{path}: a graph with the PV folded in; export from the network")
        if prefix in ("conv_w", "conv_b", "out_w"):
            found[prefix] = numpy_helper.to_array(init)
        elif prefix in ("lin_e", "lin_s"):
            m = np.swapaxes(numpy_helper.to_array(init), -1, -2)
            half = m.shape[0] // 2
            found[prefix[-1]] = m[:half, :half] + 1j * m[half:, :half]
    return found


def export_onnx(net: Any, path: Path, n: int = 32) -> None:
    """Write ``net`` (a trained ``net.build_net`` module) as ONNX."""
    export_weights(weights(net), path, n)


def export_weights(w: dict[str, Any], path: Path, n: int = 32) -> None:
    """Write the graph from ``weights`` arrays. The convolution reads psi and lap(psi) (q =
    lap(psi) + F (psi_other - psi) is folded into its weights, so PV costs one Mul)."""
    from onnx import TensorProto, helper

    from agentarts.industries.weather.net import SUBSTEPS, physics_operators

    g = _Graph(n)
    lq = physics_operators(n)["psi_q"][2:].real  # (2, 2, n, n): -K^2 I + F terms
    k2 = -lq[0, 0] - lq[0, 1]  # K^2 (lq[0, 0] = -K^2 - F1, lq[0, 1] = F1)
    f = lq[:, :, 0, 0] + k2[0, 0] * np.eye(2)  # the F matrix of q = lap(psi) + F psi
    cw = np.asarray(w["conv_w"], np.float64)
    folded = np.concatenate([cw[:, :2] + np.einsum("oiyx,ij->ojyx", cw[:, 2:], f), cw[:, 2:]], 1)
    pairs = folded.shape[0] // 2
    cw_c = g.const(folded.astype(np.float32), "conv_fold")
    cb_c = g.const(np.asarray(w["conv_b"], np.float32), "conv_b")
    ow_c = g.const(np.asarray(w["out_w"], np.float32), "out_w")
    neg_k2 = g.const((-np.swapaxes(k2, 0, 1)[: g.h]).astype(np.float32), "neg_k2")
    psi_lap_layout = ((0, 2), (1, 3), (4, 6), (5, 7))  # [psi spectrum, lap(psi) spectrum]

    def tendency(spec: str) -> str:
        """R = DFT of the nonlinear part's PV-tendency channels (S is applied below)."""
        both = g.op("Concat", [spec, g.op("Mul", [spec, neg_k2])], axis=1)
        fields = g.grid(
            both, psi_lap_layout, g.ext, g.ext_x
        )  # psi1, psi2, lap1, lap2 with the halo
        feats = g.op("Conv", [fields, cw_c, cb_c])
        prod = g.op("Mul", [g.slice(feats, 0, pairs, 1), g.slice(feats, pairs, 2 * pairs, 1)])
        return g.dft(g.op("Conv", [prod, ow_c]))

    # Lawson-AB3 as one per-mode matrix per substep: X' = E X + sum_k c_k E^(k+1) S R_(n-k)
    e, s_op = np.asarray(w["e"]), np.asarray(w["s"])

    def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("ijkl,jmkl->imkl", a, b)

    es = mm(e, s_op)
    e2s, e3s = mm(e, es), mm(e, mm(e, es))
    coefs = ([(1.0, es)], [(1.5, es), (-0.5, e2s)])
    ab3 = [(23.0 / 12, es), (-16.0 / 12, e2s), (5.0 / 12, e3s)]
    steppers = {}
    for k in range(3):
        blocks = [e] + [c * m for c, m in (coefs[k] if k < 2 else ab3)]
        stepper = np.concatenate([_modes_real(b) for b in blocks], axis=1)[..., : g.h, :]
        steppers[k] = g.const(np.ascontiguousarray(stepper), "step")

    x = g.dft("x")
    history: list[str] = []
    for step in range(SUBSTEPS):
        history.insert(0, tendency(x))
        del history[3:]
        stack = g.op("Concat", [x, *history], axis=1)
        x = g.modes(steppers[min(step, 2)], stack)
    g.nodes.append(helper.make_node("Identity", [g.grid(x, _standard(2), g.inv, g.inv_x)], ["y"]))
    shape = ["batch", 2, n, n]
    graph = helper.make_graph(
        g.nodes,
        "qg_emulator",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        g.inits,
    )
    from agentarts.runtime.onnx_build import save_model

    save_model(graph, path, "agentarts.industries.weather.train")
