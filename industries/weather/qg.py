"""A two-layer quasi-geostrophic (QG) model on a doubly periodic beta-plane, in numpy.

Equations (pyqg's two-layer model: Flierl 1978; Vallis, *Atmospheric and Oceanic Fluid
Dynamics*, 2nd ed., sec. 5.6; pyqg.readthedocs.io "Layered quasigeostrophic model"). For the
upper (1) and lower (2) layer, with perturbation streamfunctions psi_i and potential vorticity
(PV) anomalies q_i::

    q1 = lap(psi1) + F1 (psi2 - psi1),     F1 = 1 / (rd^2 (1 + delta))
    q2 = lap(psi2) + F2 (psi1 - psi2),     F2 = delta F1,   delta = H1 / H2

    dq_i/dt + J(psi_i, q_i) + U_i dq_i/dx + Qy_i dpsi_i/dx = D_i + filter
    Qy1 = beta + F1 (U1 - U2),   Qy2 = beta - F2 (U1 - U2)
    D1 = 0,   D2 = -r_ek lap(psi2)          (linear bottom (Ekman) drag)

* Forcing: the imposed, uniform vertical shear U1 - U2 of the mean zonal wind (a fixed
  meridional temperature gradient by thermal wind); baroclinic instability draws energy from it.
  This is the model's only energy source.
* Dissipation: linear drag on the lower layer's relative vorticity (rate r_ek) and pyqg's
  exponential spectral filter applied to q after every step, exp(-23.6 (k* dx - 0.65 pi)^4) for
  k* dx > 0.65 pi (k* the non-dimensional total wavenumber), which removes enstrophy at the
  grid scale and handles aliasing (Arbic & Flierl 2004; pyqg's default).
* Numerics: pseudo-spectral (numpy real FFTs), nonlinear term in flux form
  J = d(uq)/dx + d(vq)/dy, third-order Adams-Bashforth stepping (Euler, AB2 to start), as pyqg.

Parameters (``QGParams``) are atmospheric: a 16,000 km square sector of the mid-latitudes at
45 N (f0 = 1e-4 s-1, beta = 1.6e-11 m-1 s-1), Rossby deformation radius 700 km, equal layers,
mean winds 15 m/s (upper) and 3 m/s (lower), Ekman spin-down time 5 days. So model time is
physical time: **one forecast day is one model day**. Limits: a doubly periodic beta-plane has
no poles, no land, no seasons and no moisture; the imposed gradient never weakens; the
physical stand-ins (see ``fields``) are diagnosed, not prognostic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft as sfft

__all__ = ["DAY", "QGModel", "QGParams", "coarsen", "interpolate"]

DAY = 86400.0


@dataclass(frozen=True)
class QGParams:
    """Physical and numerical parameters (SI units)."""

    n: int = 128  # grid points per side
    length_m: float = 16.0e6  # domain side
    rd_m: float = 500.0e3  # Rossby radius of deformation
    delta: float = 1.0  # H1 / H2
    beta: float = 1.6e-11  # df/dy at 45 N
    f0: float = 1.0e-4  # Coriolis parameter at 45 N
    u1: float = 13.0  # upper-layer mean zonal wind (m/s)
    u2: float = 3.0  # lower-layer mean zonal wind (m/s)
    rek: float = 1.0 / (3.0 * DAY)  # bottom drag rate
    h1_m: float = 5000.0  # upper-layer depth (for the vertical-velocity diagnostic)
    dt_s: float = 0.0  # 0: the resolution's default (see ``step_seconds``)

    @property
    def dx(self) -> float:
        return self.length_m / self.n

    def step_seconds(self) -> float:
        """The time step: 600 s at 128 points, scaled with the grid length (fixed CFL)."""
        if self.dt_s:
            return self.dt_s
        return 600.0 * 128 / self.n

    def at(self, n: int) -> QGParams:
        """The same model at another resolution."""
        return replace(self, n=n, dt_s=0.0)


class QGModel:
    """The two-layer QG model at one resolution; the state is the spectral PV ``qh``
    (shape ``(2, n, n // 2 + 1)``, complex)."""

    def __init__(self, params: QGParams | None = None) -> None:
        p = self.params = params or QGParams()
        n, dx = p.n, p.dx
        k = 2 * np.pi * np.fft.rfftfreq(n, d=dx)[np.newaxis, :]
        l_ = 2 * np.pi * np.fft.fftfreq(n, d=dx)[:, np.newaxis]
        self.ik = 1j * k
        self.il = 1j * l_
        self.wv2 = k**2 + l_**2
        f1 = 1.0 / (p.rd_m**2 * (1.0 + p.delta))
        f2 = p.delta * f1
        self.f1, self.f2 = f1, f2
        det = self.wv2 * (self.wv2 + f1 + f2)
        det[0, 0] = 1.0
        inv = np.array([[-(self.wv2 + f2), -f1 + 0 * det], [-f2 + 0 * det, -(self.wv2 + f1)]])
        inv /= det
        inv[:, :, 0, 0] = 0.0
        self.inv = inv  # psi_h = inv @ q_h per wavenumber
        shear = p.u1 - p.u2
        self.qy = np.array([p.beta + f1 * shear, p.beta - f2 * shear])[:, None, None]
        self.u = np.array([p.u1, p.u2])[:, None, None]
        wvx = np.sqrt((k * dx) ** 2 + (l_ * dx) ** 2)
        cutoff = 0.65 * np.pi
        self.filter = np.where(wvx <= cutoff, 1.0, np.exp(-23.6 * (wvx - cutoff) ** 4))
        self.dt = p.step_seconds()
        # single precision for the time stepping (the hot loop); float64 set-up above
        c = np.complex64
        self._a = [[inv[i, j].astype(np.float32) for j in range(2)] for i in range(2)]
        self._ik, self._il = self.ik.astype(c), self.il.astype(c)
        self._adv = (-self.ik * self.u).astype(c)  # -ik U
        self._beta = (-self.ik * self.qy).astype(c)  # -ik Qy
        self._drag = (p.rek * self.wv2).astype(np.float32)
        self._filter = self.filter.astype(np.float32)
        self._history: list[np.ndarray] = []

    # ---- conversions -------------------------------------------------------------------
    def invert(self, qh: np.ndarray) -> np.ndarray:
        """Spectral streamfunction from spectral PV."""
        return np.einsum("ijyx,jyx->iyx", self.inv, qh)

    def pv_from_psi(self, psih: np.ndarray) -> np.ndarray:
        """Spectral PV from spectral streamfunction."""
        q1 = -self.wv2 * psih[0] + self.f1 * (psih[1] - psih[0])
        q2 = -self.wv2 * psih[1] + self.f2 * (psih[0] - psih[1])
        return np.stack([q1, q2])

    def to_grid(self, h: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(h, s=(self.params.n, self.params.n), axes=(-2, -1))

    def to_spec(self, a: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(a, axes=(-2, -1))

    def state_from_psi(self, psi: np.ndarray) -> np.ndarray:
        """Spectral PV of a grid streamfunction ``psi`` (2, n, n) in m2/s."""
        return self.pv_from_psi(self.to_spec(np.asarray(psi, np.float64)))

    def psi(self, qh: np.ndarray) -> np.ndarray:
        """Grid streamfunction (2, n, n) of a state."""
        return self.to_grid(self.invert(qh))

    # ---- dynamics ----------------------------------------------------------------------
    def tendency(self, qh: np.ndarray) -> np.ndarray:
        """dq_h/dt of the unfiltered equations above (single precision)."""
        a = self._a
        p1 = a[0][0] * qh[0] + a[0][1] * qh[1]
        p2 = a[1][0] * qh[0] + a[1][1] * qh[1]
        ph = np.stack([p1, p2])
        spec = np.empty((3, 2, *qh.shape[1:]), np.complex64)
        spec[0] = qh
        np.multiply(-self._il, ph, out=spec[1])
        np.multiply(self._ik, ph, out=spec[2])
        n = self.params.n
        grids = sfft.irfft2(spec, s=(n, n), axes=(-2, -1))
        grids[1:] *= grids[0]
        fluxes = sfft.rfft2(grids[1:], axes=(-2, -1))
        dq = self._ik * fluxes[0]
        dq += self._il * fluxes[1]
        np.negative(dq, out=dq)
        dq += self._adv * qh
        dq += self._beta * ph
        dq[1] += self._drag * p2
        return dq

    def reset(self) -> None:
        """Forget the Adams-Bashforth history (call before stepping a new state)."""
        self._history = []

    def step(self, qh: np.ndarray) -> np.ndarray:
        """One AB3 step (Euler and AB2 while the history fills), then the filter."""
        dt = self.dt
        self._history.insert(0, self.tendency(qh))
        del self._history[3:]
        h = self._history
        if len(h) == 1:
            inc = h[0]
        elif len(h) == 2:
            inc = 1.5 * h[0] - 0.5 * h[1]
        else:
            inc = (23.0 * h[0] - 16.0 * h[1] + 5.0 * h[2]) / 12.0
        out = qh + np.complex64(dt) * inc
        out *= self._filter
        return out

    def run(self, qh: np.ndarray, days: float, fresh: bool = True) -> np.ndarray:
        """Integrate ``days`` model days from ``qh``; raises if the state blows up."""
        if fresh:
            self.reset()
        qh = np.asarray(qh, np.complex64)
        steps = round(days * DAY / self.dt)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(steps):
                qh = self.step(qh)
        if not np.isfinite(qh).all():
            raise FloatingPointError("QG model blew up (non-finite PV); reduce the time step")
        return qh

    def trajectory(self, qh: np.ndarray, days: int, every_days: float = 1.0) -> np.ndarray:
        """Grid streamfunctions every ``every_days`` for ``days`` days, the start included:
        shape (frames, 2, n, n)."""
        frames = [self.psi(qh)]
        self.reset()
        for _ in range(round(days / every_days)):
            qh = self.run(qh, every_days, fresh=False)
            frames.append(self.psi(qh))
        return np.stack(frames)

    def random_state(self, seed: int, amplitude: float = 1.0e5) -> np.ndarray:
        """A small random large-scale perturbation (psi in m2/s) to start a spin-up."""
        rng = np.random.default_rng(seed)
        n = self.params.n
        psih = self.to_spec(rng.standard_normal((2, n, n)))
        kd = math.sqrt(self.wv2.max()) / 8
        psih *= np.exp(-self.wv2 / kd**2)
        psi = self.to_grid(psih)
        psi *= amplitude / psi.std()
        return self.state_from_psi(psi)


def coarsen(psi: np.ndarray, factor: int) -> np.ndarray:
    """Block means over ``factor`` x ``factor`` cells (conservative regridding), last 2 axes."""
    if factor == 1:
        return psi.copy()
    *lead, ny, nx = psi.shape
    if ny % factor or nx % factor:
        raise ValueError(f"grid {ny}x{nx} is not divisible by {factor}")
    blocks = psi.reshape(*lead, ny // factor, factor, nx // factor, factor)
    return blocks.mean(axis=(-3, -1))


def interpolate(psi: np.ndarray, n: int) -> np.ndarray:
    """Spectral (zero-padding) interpolation of periodic fields onto an n x n grid."""
    m = psi.shape[-1]
    if n == m:
        return psi.copy()
    spec = np.fft.fft2(psi, axes=(-2, -1))
    out = np.zeros((*psi.shape[:-2], n, n), complex)
    h = min(m, n) // 2
    for ys in (slice(0, h), slice(-h, None)):
        for xs in (slice(0, h), slice(-h, None)):
            out[..., ys, xs] = spec[..., ys, xs]
    return np.real(np.fft.ifft2(out, axes=(-2, -1))) * (n / m) ** 2
