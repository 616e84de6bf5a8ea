"""The emulator network (torch, for training): a learned 3-hour stepper with the structure of
the QG equations, chained 8 times per 24 h forecast step.

QG dynamics are the advection of potential vorticity (PV) by the flow it induces, a quadratic
nonlinearity, plus linear terms (mean-flow advection, Rossby waves, drag). The network keeps
that structure and learns its coefficients from the coarsened truth:

* state: the spectrum X of the two layer streamfunctions (batch, 2, 32, 32) on the doubly
  periodic grid (every operation is translation-equivariant; convolutions pad circularly);
* linear part: a 2 x 2 complex matrix per Fourier mode, E(k, l), propagating X over the step
  (an integrating factor: the fast linear waves are exact for any step length);
* nonlinear part N(X): psi and PV q of both layers on the grid (q from the spectrum), a 5 x 5
  circular convolution to 2m features, the products of m pairs of them (multiplicative
  interactions: ``u dq/dx + v dq/dy`` is four of them), a 1 x 1 convolution to 2
  PV-tendency channels, then a per-mode 2 x 2 complex matrix S(k, l) that maps the PV
  tendency to a streamfunction increment (the PV inversion, learned);
* time stepping: third-order Adams-Bashforth in the integrating-factor (Lawson) form,
  started with Euler and AB2 like the numerical model (each 24 h call starts afresh)::

      X' = E (X + (23 N(X) - 16 E N(X-1) + 5 E^2 N(X-2)) / 12)

Initialisation: E = exp(L dt) of the QG linear operator times pyqg's filter over the step and
a grid-scale hyperviscosity (``HYPER_HOURS``; 4 h and 6 h steps were unstable even so), S =
the QG PV inversion times the step, the first four pairs = the Jacobian with fourth-order
centred differences (u = -dpsi/dy, v = dpsi/dx, dq/dx, dq/dy), the other pairs' outputs zero.
So before training the network is a coarse QG solver without any closure (a little worse
than the spectral numerical model); training on the coarsened 128 x 128 truth fits every
part: the stencils, the products, and E and S mode by mode (``d_e``, ``d_s`` start at zero),
so it learns what the 32 x 32 grid cannot resolve and the 3 h step's truncation error. This
is the "learned discretisation" idea (Bar-Sinai et al. 2019, PNAS 116; Kochkov et al. 2021,
PNAS 118) with a spectral layer as in Fourier neural operators (Li et al. 2021, ICLR).

E and S are made Hermitian-symmetric (E(-k) = conj E(k)) so a real state stays real. The ONNX
graph (``onnx_export``) writes the DFTs as MatMuls with the DFT matrices (no FFT operator).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agentarts.industries.weather.qg import QGParams

__all__ = ["CHANNELS", "STEP_HOURS", "SUBSTEPS", "build_net", "physics_operators"]

#: substeps per 24 h forecast step (3 h: 4 h and 6 h steps are unstable before training)
SUBSTEPS = 8
STEP_HOURS = 24 / SUBSTEPS
HYPER_HOURS = 1.5
#: the spectral fields the nonlinear part sees (per layer)
CHANNELS = ("psi1", "psi2", "u1", "v1", "u2", "v2", "q1", "q2", "q1x", "q1y", "q2x", "q2y")
#: the fields the convolution reads (indices into CHANNELS): psi1, psi2, q1, q2
INPUTS = (0, 1, 6, 7)


def physics_operators(n: int = 32, params: QGParams | None = None) -> dict[str, np.ndarray]:
    """The QG operators on the n x n grid (full 2-D spectrum, numpy's fft2 ordering).

    Returns ``deriv`` (12, 2, n, n) complex (channel c of ``CHANNELS`` = sum_j deriv[c, j]
    X_j), ``psi_q`` (4, 2, n, n) (psi1, psi2, q1, q2 from psi), ``e0`` and
    ``s0`` (2, 2, n, n) complex (the linear propagator over one substep with the filter, and
    the PV inversion times the substep), and ``filter`` (n, n)."""
    from scipy.linalg import expm

    p = (params or QGParams()).at(n)
    dx = p.dx
    k = 2 * np.pi * np.fft.fftfreq(n, d=dx)[np.newaxis, :] * np.ones((n, 1))
    l_ = 2 * np.pi * np.fft.fftfreq(n, d=dx)[:, np.newaxis] * np.ones((1, n))
    nyq = np.abs(np.fft.fftfreq(n)) == 0.5
    ik = np.where(nyq[np.newaxis, :], 0, 1j * k)  # odd derivatives drop the Nyquist wave
    il = np.where(nyq[:, np.newaxis], 0, 1j * l_)
    k2 = k**2 + l_**2
    f1 = 1.0 / (p.rd_m**2 * (1.0 + p.delta))
    f2 = p.delta * f1
    one = np.ones((n, n))
    lq = np.array([[-k2 - f1, f1 * one], [f2 * one, -k2 - f2]])  # q = lq psi
    deriv = np.zeros((12, 2, n, n), complex)
    for j in range(2):
        deriv[j, j] = 1.0
        deriv[2 + 2 * j, j] = -il  # u = -dpsi/dy
        deriv[3 + 2 * j, j] = ik  # v = dpsi/dx
    deriv[6:8] = lq
    deriv[8] = ik * lq[0]
    deriv[9] = il * lq[0]
    deriv[10] = ik * lq[1]
    deriv[11] = il * lq[1]
    shear = p.u1 - p.u2
    qy = (p.beta + f1 * shear, p.beta - f2 * shear)
    dt = STEP_HOURS * 3600.0
    wvx = np.sqrt(k2) * dx
    cut = 0.65 * np.pi
    filt = np.where(wvx <= cut, 1.0, np.exp(-23.6 * (wvx - cut) ** 4))
    per_step = filt ** (dt / p.step_seconds())  # the numerical model's filter over the substep
    # scale-selective hyperviscosity, e-folding time HYPER_HOURS at the grid scale: keeps the
    # explicit 3 h step stable in strong jets (the learned dE may relax it)
    per_step = per_step * np.exp(-(dt / (HYPER_HOURS * 3600.0)) * (np.sqrt(k2) * dx / np.pi) ** 8)
    e0 = np.zeros((2, 2, n, n), complex)
    s0 = np.zeros((2, 2, n, n), complex)
    for a in range(n):
        for b in range(n):
            if k2[a, b] == 0:
                continue
            lqm = lq[:, :, a, b]
            inv = np.linalg.inv(lqm)
            mq = -1j * k[a, b] * np.diag([p.u1, p.u2]) @ lqm - 1j * k[a, b] * np.diag(qy)
            mq[1, 1] += p.rek * k2[a, b]
            e0[:, :, a, b] = expm(inv @ mq * dt) * per_step[a, b]
            s0[:, :, a, b] = inv * dt * np.sqrt(per_step[a, b])
    psi_q = np.zeros((4, 2, n, n), complex)  # (psi1, psi2, q1, q2) from psi
    psi_q[0, 0] = psi_q[1, 1] = 1.0
    psi_q[2:] = lq
    return {"deriv": deriv, "psi_q": psi_q, "e0": e0, "s0": s0, "filter": filt}


def hermitian(a: Any) -> Any:
    """(a(k) + conj a(-k)) / 2 over the last two axes (torch complex tensor)."""
    import torch

    flipped = torch.roll(torch.flip(a, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))
    return 0.5 * (a + flipped.conj())


def fd_kernels(dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Fourth-order centred first-derivative stencils d/dy, d/dx (5 x 5, cross-correlation
    orientation: rows are y)."""
    c = np.array([1.0, -8.0, 0.0, 8.0, -1.0]) / (12.0 * dx)
    ky, kx = np.zeros((5, 5)), np.zeros((5, 5))
    ky[:, 2] = c
    kx[2, :] = c
    return ky, kx


def build_net(n: int = 32, pairs: int = 8, d_scale: np.ndarray | None = None) -> Any:
    """The torch module (imports torch). ``d_scale`` (12,): the spread of each field of
    ``CHANNELS`` on the training data (the network works with the fields divided by it)."""
    import torch
    from torch import nn

    ops = physics_operators(n)
    scale = np.ones(12) if d_scale is None else np.asarray(d_scale, float)
    dy_k, dx_k = fd_kernels(QGParams().at(n).dx)

    def mode_mul(m: Any, x: Any) -> Any:
        return torch.einsum("ijkl,bjkl->bikl", m, x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pairs = pairs
            self.register_buffer("psi_q", torch.from_numpy(ops["psi_q"].astype(np.complex64)))
            self.register_buffer("e0", torch.from_numpy(ops["e0"].astype(np.complex64)))
            self.register_buffer("s0", torch.from_numpy(ops["s0"].astype(np.complex64)))
            in_scale = scale[list(INPUTS)].astype(np.float32)
            self.register_buffer("in_scale", torch.from_numpy(in_scale))
            self.d_e = nn.Parameter(torch.zeros(2, 2, 2, n, n))  # re/im corrections of E
            self.d_s = nn.Parameter(torch.zeros(2, 2, 2, n, n))  # S = s0 (I + dS)
            self.conv = nn.Conv2d(4, 2 * pairs, 5)
            self.out = nn.Conv2d(pairs, 2, 1, bias=False)
            # r_scale: PV-tendency units of the output channels (u1 q1x, u2 q2x)
            r_scale = np.array([scale[2] * scale[8], scale[4] * scale[10]], np.float32)
            self.register_buffer("r_scale", torch.from_numpy(r_scale).reshape(1, 2, 1, 1))
            with torch.no_grad():
                w = self.conv.weight
                for idx in (*range(4), *range(pairs, pairs + 4)):
                    w[idx].zero_()
                    self.conv.bias[idx].zero_()
                # pairs 0-3: (u1, q1x), (v1, q1y), (u2, q2x), (v2, q2y); u = -dpsi/dy
                for i, (src_a, kern_a, sign, a, src_b, kern_b, b) in enumerate(
                    (
                        (0, dy_k, -1.0, 2, 2, dx_k, 8),
                        (0, dx_k, 1.0, 3, 2, dy_k, 9),
                        (1, dy_k, -1.0, 4, 3, dx_k, 10),
                        (1, dx_k, 1.0, 5, 3, dy_k, 11),
                    )
                ):
                    wa = sign * kern_a * in_scale[src_a] / scale[a]
                    w[i, src_a] = torch.from_numpy(wa.astype(np.float32))
                    wb = kern_b * in_scale[src_b] / scale[b]
                    w[pairs + i, src_b] = torch.from_numpy(wb.astype(np.float32))
                o = self.out.weight
                o.zero_()
                o[0, 0, 0, 0] = -1.0
                o[0, 1, 0, 0] = -scale[3] * scale[9] / r_scale[0]
                o[1, 2, 0, 0] = -1.0
                o[1, 3, 0, 0] = -scale[5] * scale[11] / r_scale[1]

        def operators(self) -> tuple[Any, Any]:
            """E and S (2, 2, n, n) complex, Hermitian-symmetric."""
            e = self.e0 + torch.complex(self.d_e[0], self.d_e[1])
            eye = torch.eye(2, dtype=torch.complex64).reshape(2, 2, 1, 1)
            ds = eye + torch.complex(self.d_s[0], self.d_s[1])
            s = torch.einsum("ijkl,jmkl->imkl", self.s0, ds)
            return hermitian(e), hermitian(s)

        def nonlinear(self, x_hat: Any, s: Any) -> Any:
            grid = torch.fft.ifft2(mode_mul(self.psi_q, x_hat)).real
            grid = grid / self.in_scale.reshape(1, 4, 1, 1)
            grid = torch.cat([grid[..., -2:, :], grid, grid[..., :2, :]], dim=-2)
            grid = torch.cat([grid[..., -2:], grid, grid[..., :2]], dim=-1)
            feats = self.conv(grid)
            prod = feats[:, : self.pairs] * feats[:, self.pairs :]
            return mode_mul(s, torch.fft.fft2(self.out(prod) * self.r_scale))

        def rollout(self, x: Any, substeps: int) -> list[Any]:
            """Grid states after each of ``substeps`` substeps (Lawson-AB3, from rest)."""
            e, s = self.operators()
            x_hat = torch.fft.fft2(x.to(torch.complex64))
            h1 = h2 = None  # E N(n-1), E^2 N(n-2): the propagated tendency history
            out = []
            for _ in range(substeps):
                nl = self.nonlinear(x_hat, s)
                if h1 is None:
                    y = x_hat + nl
                elif h2 is None:
                    y = x_hat + 1.5 * nl - 0.5 * h1
                else:
                    y = x_hat + (23.0 * nl - 16.0 * h1 + 5.0 * h2) / 12.0
                h2 = None if h1 is None else mode_mul(e, h1)
                h1 = mode_mul(e, nl)
                x_hat = mode_mul(e, y)
                out.append(torch.fft.ifft2(x_hat).real)
            return out

        def forward(self, x: Any) -> Any:
            """The state 24 h (``SUBSTEPS`` substeps) after ``x``."""
            return self.rollout(x, SUBSTEPS)[-1]

    return Net()


def field_scales(frames: np.ndarray) -> np.ndarray:
    """The spread (rms) of each of the 12 spectral fields over ``frames`` (T, 2, n, n)."""
    n = frames.shape[-1]
    deriv = physics_operators(n)["deriv"]
    sample = frames[:: max(1, len(frames) // 64)].astype(np.float64)
    spec = np.fft.fft2(sample)
    fields = np.fft.ifft2(np.einsum("cjkl,bjkl->bckl", deriv, spec)).real
    return np.sqrt((fields**2).mean(axis=(0, 2, 3)))
