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
        k = np.arange(n)
        fwd = np.exp(-2j * np.pi * np.outer(k, k) / n)
        inv = np.exp(2j * np.pi * np.outer(k, k) / n) / n
        ext = np.exp(2j * np.pi * np.outer(k, np.arange(-HALO, n + HALO)) / n) / n
        self.fwd = self.complex_matrix(fwd)
        self.inv = self.complex_matrix(inv)
        self.ext = self.complex_matrix(ext)
        self.axis1 = self.const(np.array([1], np.int64))
        self.axis2 = self.const(np.array([2], np.int64))
        self.mix: dict[Any, str] = {}  # (layout, real only) -> weights

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, value: np.ndarray, prefix: str = "c") -> str:
        name = self.name(prefix)
        self.inits.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def complex_matrix(self, m: np.ndarray) -> tuple[str, str]:
        return self.const(m.real.astype(np.float32)), self.const(m.imag.astype(np.float32))

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
        self, x: str, m: tuple[str, str], layout: tuple[tuple[int, int], ...], real: bool = False
    ) -> str:
        """x @ M along the last axis (x: complex fields in ``layout``), as [re, im] channels."""
        parts = [self.op("MatMul", [x, m[0]]), self.op("MatMul", [x, m[1]])]
        both = self.op("Concat", parts, axis=1)
        key = (layout, real)
        if key not in self.mix:
            self.mix[key] = self.const(_complex_mix(layout, real), "mix")
        return self.op("Conv", [both, self.mix[key]])

    def dft(self, r: str) -> str:
        """The transposed spectrum of a real grid tensor (2 fields -> 4 channels)."""
        first = self.op("Concat", [self.op("MatMul", [r, m]) for m in self.fwd], axis=1)
        return self.right(self.t(first), self.fwd, _standard(2))

    def grid(self, spec: str, layout: tuple[tuple[int, int], ...], matrix: tuple[str, str]) -> str:
        """The real grid of transposed spectra (inverse DFT onto ``matrix``'s points)."""
        half = self.t(self.right(spec, matrix, layout))
        return self.right(half, matrix, _standard(len(layout)), real=True)

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


def export_onnx(net: Any, path: Path, n: int = 32) -> None:
    """Write ``net`` (a trained ``net.build_net`` module) as ONNX."""
    import torch
    from onnx import TensorProto, helper

    from agentarts.industries.weather.net import SUBSTEPS

    g = _Graph(n)
    with torch.no_grad():
        e, s = (t.numpy() for t in net.operators())
        in_scale = net.in_scale.numpy().reshape(1, 4, 1, 1)
        conv_w = (net.conv.weight.numpy() / in_scale).astype(np.float32)
        conv_b = net.conv.bias.numpy().astype(np.float32)
        out_w = (net.out.weight.numpy() * net.r_scale.numpy().reshape(2, 1, 1, 1)).astype(
            np.float32
        )
        lq = net.psi_q.numpy()[2:]
    pairs = net.pairs
    cw, cb, ow = g.const(conv_w, "conv_w"), g.const(conv_b, "conv_b"), g.const(out_w, "out_w")
    lq_c = g.const(_modes_real(lq), "pv")
    psi_q_layout = ((0, 2), (1, 3), (4, 6), (5, 7))  # [psi spectrum, q spectrum]
    e_c, s_c = g.const(_modes_real(e), "lin_e"), g.const(_modes_real(s), "lin_s")

    def nonlinear(spec: str) -> str:
        both = g.op("Concat", [spec, g.modes(lq_c, spec)], axis=1)
        fields = g.grid(both, psi_q_layout, g.ext)  # psi1, psi2, q1, q2 with the halo
        feats = g.op("Conv", [fields, cw, cb])
        prod = g.op("Mul", [g.slice(feats, 0, pairs, 1), g.slice(feats, pairs, 2 * pairs, 1)])
        return g.modes(s_c, g.dft(g.op("Conv", [prod, ow])))

    def propagate(*specs: str) -> list[str]:
        if len(specs) == 1:
            return [g.modes(e_c, specs[0])]
        out = g.modes(e_c, g.op("Concat", list(specs), axis=0))
        names = [g.name("split") for _ in specs]
        g.nodes.append(helper.make_node("Split", [out], names, axis=0))
        return names

    x = g.dft("x")
    h1 = h2 = None
    for step in range(SUBSTEPS):
        nl = nonlinear(x)
        if h1 is None:
            y = g.combo([(1.0, x), (1.0, nl)])
        elif h2 is None:
            y = g.combo([(1.0, x), (1.5, nl), (-0.5, h1)])
        else:
            y = g.combo([(1.0, x), (23.0 / 12, nl), (-16.0 / 12, h1), (5.0 / 12, h2)])
        if step == SUBSTEPS - 1:
            (x,) = propagate(y)
        elif h1 is None:
            x, h1 = propagate(y, nl)
        else:
            x, h1, h2 = propagate(y, nl, h1)
    g.nodes.append(helper.make_node("Identity", [g.grid(x, _standard(2), g.inv)], ["y"]))
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
