"""Physical stand-ins diagnosed from the QG state (psi1, psi2 in m2/s), with stated scales.

The upper layer plays 500 hPa and the lower layer 850 hPa (f0 = 1e-4 s-1, 45 N):

* Z500 geopotential anomaly (m2/s2) = f0 psi1 (geostrophic balance). The imposed mean wind
  U1 adds a background gradient -f0 U1 y that verification leaves out (it is never in error).
* T850 temperature anomaly (K) = f0 (psi1 - psi2) / (R ln(850/500)), R = 287 J/kg/K
  (hydrostatic thickness of the 850-500 hPa layer; its layer-mean temperature stands for T850).
  The mean shear of 10 m/s implies a background gradient of 6.6 K per 1,000 km.
* Winds: u = U - dpsi/dy, v = dpsi/dx per layer (geostrophic). Near-surface wind: the 850 hPa
  wind x 0.6 (a typical 10 m / 850 hPa speed ratio over land); gust = 1.5 x that (WMO gust
  factor over open terrain); hub height (100 m) from 10 m by the 1/7 power law (x 1.39).
* Vertical velocity at the layer interface (m/s), from the upper layer's vorticity budget and
  mass continuity (w = 0 at the lid): w = -(H1 / f0) (D zeta1/Dt + beta v1), with the tendency
  from the model's own equations on the grid the state lives on.
* Rain (mm/h) = 3600 rho q_v max(w, 0): the moisture lifted through the interface condenses and
  falls (large-scale condensation; rho = 1.0 kg/m3, q_v at 80 % relative humidity of saturation
  at 850 hPa and 275 K + T850 anomaly, Bolton 1980). It is a grid-box (500 km) mean: rates of
  tens of mm/h happen at points inside convection this grid cannot resolve, so the 45 mm/h rail
  rule almost never fires on it; the 24 h total is the more useful rain figure here.
"""

from __future__ import annotations

import math

import numpy as np

from agentarts.industries.weather.qg import QGModel, QGParams

__all__ = [
    "GUST_FACTOR",
    "HUB_FACTOR",
    "SURFACE_FACTOR",
    "diagnose",
    "t850_anomaly",
    "z500_anomaly",
]

F0 = QGParams().f0
R_DRY = 287.0
THICKNESS = R_DRY * math.log(850.0 / 500.0)  # J/kg/K x ln(p ratio)
SURFACE_FACTOR = 0.6
GUST_FACTOR = 1.5
HUB_FACTOR = (100.0 / 10.0) ** (1.0 / 7.0)
T850_REFERENCE_K = 275.0
RH = 0.8
RHO_AIR = 1.0

_MODELS: dict[int, QGModel] = {}


def z500_anomaly(psi: np.ndarray) -> np.ndarray:
    """Z500 anomaly (m2/s2) of states ``(..., 2, n, n)``."""
    return F0 * psi[..., 0, :, :]


def t850_anomaly(psi: np.ndarray) -> np.ndarray:
    """T850 anomaly (K) of states ``(..., 2, n, n)``."""
    return F0 * (psi[..., 0, :, :] - psi[..., 1, :, :]) / THICKNESS


def psi_from_anomalies(z500: np.ndarray, t850: np.ndarray) -> np.ndarray:
    """The inverse map: states ``(..., 2, n, n)`` from Z500 (m2/s2) and T850 (K) anomalies."""
    psi1 = np.asarray(z500, np.float64) / F0
    psi2 = psi1 - np.asarray(t850, np.float64) * THICKNESS / F0
    return np.stack([psi1, psi2], axis=-3)


def _model(n: int) -> QGModel:
    if n not in _MODELS:
        _MODELS[n] = QGModel(QGParams().at(n))
    return _MODELS[n]


def saturation_q(t_k: np.ndarray, p_hpa: float = 850.0) -> np.ndarray:
    """Saturation specific humidity (kg/kg), Bolton (1980) vapour pressure."""
    tc = t_k - 273.15
    es = 6.112 * np.exp(17.67 * tc / (tc + 243.5))
    return 0.622 * es / (p_hpa - 0.378 * es)


def diagnose(psi: np.ndarray) -> dict[str, np.ndarray]:
    """Physical fields of one state ``(2, n, n)``: z500 and t850 anomalies, winds at both
    levels, near-surface wind and gust, hub-height wind, interface w and rain."""
    n = psi.shape[-1]
    m = _model(n)
    p = m.params
    psih = m.to_spec(np.asarray(psi, np.float64))
    qh = m.pv_from_psi(psih)
    u = p.u1, p.u2
    grids = m.to_grid(np.stack([-m.il * psih, m.ik * psih]))
    u1, u2 = grids[0, 0] + u[0], grids[0, 1] + u[1]
    v1, v2 = grids[1, 0], grids[1, 1]
    dq = m.tendency(qh.astype(np.complex64)).astype(np.complex128)
    dzeta1 = -m.wv2 * m.invert(dq)[0]
    zeta1 = -m.wv2 * psih[0]
    dzx, dzy = m.to_grid(np.stack([m.ik * zeta1, m.il * zeta1]))
    dzdt = m.to_grid(dzeta1)
    w = -(p.h1_m / p.f0) * (dzdt + u1 * dzx + v1 * dzy + p.beta * v1)
    t850 = t850_anomaly(psi)
    qv = RH * saturation_q(T850_REFERENCE_K + t850)
    rain = 3600.0 * RHO_AIR * qv * np.maximum(w, 0.0)
    speed850 = np.hypot(u2, v2)
    surface = SURFACE_FACTOR * speed850
    return {
        "z500": z500_anomaly(psi),
        "t850": t850,
        "u500": u1,
        "v500": v1,
        "u850": u2,
        "v850": v2,
        "wind10": surface,
        "gust": GUST_FACTOR * surface,
        "hub_wind": HUB_FACTOR * surface,
        "w": w,
        "rain": rain,
    }
