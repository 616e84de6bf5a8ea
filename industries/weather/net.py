"""The emulator network (torch, for training) and its node-by-node ONNX export.

One step maps the forecast-grid state psi (batch, 2, 32, 32) in m2/s to the state 24 h later,
as a linear part plus a learned nonlinear correction:

* the linear part is a linear inverse model (LIM; Penland & Sardeshmukh 1995, J. Climate 8):
  per Fourier mode, the 2x2 complex matrix G(k, l) = C(1 day) C(0)^-1 fitted in closed form on
  the training data; it carries mean-flow advection, Rossby waves and linear growth and decay.
  In ONNX it is a 2-D DFT written as MatMuls with the DFT matrices (no FFT operator needed);
* the correction is a small U-Net on the periodic grid (every convolution pads circularly),
  reading the state and its LIM forecast, with its last layer started at zero, so training
  starts from the LIM's skill and only has to learn the nonlinear rest::

    [x, lim(x)] / scale -> SpaceToDepth(2) -> 16x16x16 -> conv(c) -> conv(c)  --- skip --+
              -> conv stride 2 -> 8x8x2c -> conv(2c) x depth8                           |
              -> conv(4c) -> DepthToSpace(2) -> 16x16xc -> concat(skip) -> conv(c) <----+
              -> conv1x1(8) -> DepthToSpace(2) -> 32x32x2 = increment
    out = lim(x) + increment * step_scale

Activations are SiLU (x * sigmoid(x)). The ONNX graph uses only MatMul, Unsqueeze, ReduceSum,
Slice, Concat, Conv, Sigmoid, Mul, Add, Sub, SpaceToDepth and DepthToSpace (opset 17), so it
runs on onnxruntime and converts for Ascend (ATC) without custom operators; it is written
from the trained weights directly, so it does not depend on an exporter version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build_net", "export_onnx"]


def build_net(channels: int = 24, depth8: int = 3) -> Any:
    """The torch module (imports torch)."""
    import torch
    from torch import nn

    def circular(x: Any, pad: int) -> Any:
        if pad == 0:
            return x
        x = torch.cat([x[..., -pad:, :], x, x[..., :pad, :]], dim=-2)
        return torch.cat([x[..., -pad:], x, x[..., :pad]], dim=-1)

    def s2d(x: Any) -> Any:  # ONNX SpaceToDepth channel order: (bh * 2 + bw) * C + c
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
        return x.reshape(n, c * 4, h // 2, w // 2)

    def d2s(x: Any) -> Any:  # ONNX DepthToSpace, mode DCR
        n, c, h, w = x.shape
        x = x.reshape(n, 2, 2, c // 4, h, w).permute(0, 3, 4, 1, 5, 2)
        return x.reshape(n, c // 4, h * 2, w * 2)

    class Conv(nn.Module):
        def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, stride=stride)
            self.pad = k // 2 if stride == 1 else 0  # k=2, stride 2: no overlap, no pad
            self.stride = stride
            self.act = act

        def forward(self, x: Any) -> Any:
            x = circular(x, self.pad)
            y = self.conv(x)
            return y * torch.sigmoid(y) if self.act else y

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = channels
            self.register_buffer("scale", torch.ones(1, 2, 1, 1))
            self.register_buffer("step_scale", torch.ones(1, 2, 1, 1))
            self.register_buffer("g_re", torch.zeros(2, 2, 32, 32))
            self.register_buffer("g_im", torch.zeros(2, 2, 32, 32))
            with torch.no_grad():  # identity until fitted
                self.g_re[0, 0] = 1.0
                self.g_re[1, 1] = 1.0
            self.enc = nn.ModuleList([Conv(16, c), Conv(c, c)])
            self.down = Conv(c, 2 * c, k=2, stride=2)
            self.mid = nn.ModuleList([Conv(2 * c, 2 * c) for _ in range(depth8)])
            self.up = Conv(2 * c, 4 * c)
            self.dec = Conv(2 * c, c)
            self.head = Conv(c, 8, k=1, act=False)
            nn.init.zeros_(self.head.conv.weight)
            nn.init.zeros_(self.head.conv.bias)

        def lim(self, x: Any) -> Any:
            spec = torch.fft.fft2(x)
            g = torch.complex(self.g_re, self.g_im)
            return torch.fft.ifft2((g * spec.unsqueeze(1)).sum(2)).real

        def forward(self, x: Any) -> Any:
            linear = self.lim(x)
            h = s2d(torch.cat([x, linear], dim=1) / self.scale.repeat(1, 2, 1, 1))
            for layer in self.enc:
                h = layer(h)
            skip = h
            h = self.down(h)
            for layer in self.mid:
                h = layer(h)
            h = d2s(self.up(h))
            h = self.dec(torch.cat([h, skip], dim=1))
            return linear + d2s(self.head(h)) * self.step_scale

    return Net()


class _Graph:
    """Accumulates ONNX nodes and initializers."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, value: np.ndarray, prefix: str = "c") -> str:
        name = self.name(prefix)
        self.inits.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(kind.lower())
        self.nodes.append(self.helper.make_node(kind, inputs, [out], **attrs))
        return out

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        i64 = np.int64
        return self.op(
            "Slice",
            [
                x,
                self.const(np.array([start], i64)),
                self.const(np.array([end], i64)),
                self.const(np.array([axis], i64)),
            ],
        )

    def circular(self, x: str, pad: int, size: int) -> str:
        for axis in (2, 3):
            x = self.op(
                "Concat",
                [self.slice(x, size - pad, size, axis), x, self.slice(x, 0, pad, axis)],
                axis=axis,
            )
        return x

    def conv(self, x: str, layer: Any, size: int) -> str:
        w = layer.conv.weight.detach().numpy().astype(np.float32)
        b = layer.conv.bias.detach().numpy().astype(np.float32)
        if layer.pad:
            x = self.circular(x, layer.pad, size)
        y = self.op("Conv", [x, self.const(w, "w"), self.const(b, "b")], strides=[layer.stride] * 2)
        if layer.act:
            y = self.op("Mul", [y, self.op("Sigmoid", [y])])
        return y


def _lim(g: _Graph, net: Any, n: int) -> str:
    """The LIM step as MatMuls: X = F x F (F the symmetric DFT matrix), Y_c = sum_j G_cj X_j,
    y = Re(conj(F) Y conj(F)) / n^2."""
    k = np.arange(n)
    angle = -2 * np.pi * np.outer(k, k) / n
    fr, fi = (
        g.const(np.cos(angle).astype(np.float32), "dft_re"),
        g.const(np.sin(angle).astype(np.float32), "dft_im"),
    )
    gr = net.g_re.detach().numpy().astype(np.float32) / n**2
    gi = net.g_im.detach().numpy().astype(np.float32) / n**2

    def mm(a: str, b: str) -> str:
        return g.op("MatMul", [a, b])

    a_re, a_im = mm(fr, "x"), mm(fi, "x")  # F x = (Fr + i Fi) x
    x_re = g.op("Sub", [mm(a_re, fr), mm(a_im, fi)])
    x_im = g.op("Add", [mm(a_re, fi), mm(a_im, fr)])
    axes1, axes2 = g.const(np.array([1], np.int64)), g.const(np.array([2], np.int64))
    xr, xi = g.op("Unsqueeze", [x_re, axes1]), g.op("Unsqueeze", [x_im, axes1])  # B,1,2,n,n
    cgr, cgi = g.const(gr, "lim_re"), g.const(gi, "lim_im")
    y_re = g.op(
        "ReduceSum",
        [g.op("Sub", [g.op("Mul", [xr, cgr]), g.op("Mul", [xi, cgi])]), axes2],
        keepdims=0,
    )
    y_im = g.op(
        "ReduceSum",
        [g.op("Add", [g.op("Mul", [xi, cgr]), g.op("Mul", [xr, cgi])]), axes2],
        keepdims=0,
    )
    # Re((Fr - i Fi)(Yr + i Yi)(Fr - i Fi)) = (Fr Yr + Fi Yi) Fr + (Fr Yi - Fi Yr) Fi
    b_re = g.op("Add", [mm(fr, y_re), mm(fi, y_im)])
    b_im = g.op("Sub", [mm(fr, y_im), mm(fi, y_re)])
    return g.op("Add", [mm(b_re, fr), mm(b_im, fi)])


def fit_lim(trajectories: list[np.ndarray], gap: int, ridge: float = 1e-4) -> np.ndarray:
    """G (2, 2, n, n) complex with x(t + 1 day)^ = G x(t)^ per Fourier mode, least squares."""
    cxy = cxx = 0
    for frames in trajectories:
        a = np.fft.fft2(frames[:-gap].astype(np.float64))
        b = np.fft.fft2(frames[gap:].astype(np.float64))
        cxy = cxy + np.einsum("nikl,njkl->klij", b, a.conj())
        cxx = cxx + np.einsum("nikl,njkl->klij", a, a.conj())
    lam = ridge * np.trace(cxx, axis1=2, axis2=3).mean()  # type: ignore[union-attr]
    g = cxy @ np.linalg.inv(cxx + lam * np.eye(2))  # type: ignore[operator]
    return np.transpose(g, (2, 3, 0, 1))


def export_onnx(net: Any, path: Path, n: int = 32) -> None:
    """Write ``net`` (a trained ``build_net`` module) as ONNX: input ``x``, output ``y``,
    both (batch, 2, n, n) float32 streamfunctions in m2/s."""
    from onnx import TensorProto, helper

    g = _Graph()
    scale = net.scale.detach().numpy().astype(np.float32)
    step = net.step_scale.detach().numpy().astype(np.float32)
    linear = _lim(g, net, n)
    both = g.op("Concat", ["x", linear], axis=1)
    inv = g.const(1.0 / np.concatenate([scale, scale], axis=1), "inv_scale")
    h = g.op("SpaceToDepth", [g.op("Mul", [both, inv])], blocksize=2)
    half = n // 2
    for layer in net.enc:
        h = g.conv(h, layer, half)
    skip = h
    h = g.conv(h, net.down, half)
    for layer in net.mid:
        h = g.conv(h, layer, half // 2)
    h = g.op("DepthToSpace", [g.conv(h, net.up, half // 2)], blocksize=2, mode="DCR")
    h = g.conv(g.op("Concat", [h, skip], axis=1), net.dec, half)
    inc = g.op("DepthToSpace", [g.conv(h, net.head, half)], blocksize=2, mode="DCR")
    g.nodes.append(
        helper.make_node("Add", [linear, g.op("Mul", [inc, g.const(step, "step_scale")])], ["y"])
    )
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
