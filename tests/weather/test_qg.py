"""The QG model's physics: inversion, Rossby waves, instability, resolution transfers."""

from __future__ import annotations

import numpy as np
import pytest

from agentarts.industries.weather.qg import DAY, QGModel, QGParams, coarsen, interpolate


def test_pv_inversion_round_trips():
    m = QGModel(QGParams().at(32))
    psi = m.psi(m.random_state(1))
    back = m.psi(m.state_from_psi(psi))
    assert np.abs(back - psi).max() < 1e-6 * np.abs(psi).max()


def test_barotropic_rossby_wave_moves_at_the_dispersion_relation():
    """No shear, no drag: a barotropic mode is an exact solution with frequency
    omega = U k - beta k / (k^2 + l^2) (Vallis 2017, eq. 6.x); the model must move it there."""
    p = QGParams(n=32, u1=5.0, u2=5.0, rek=0.0)
    m = QGModel(p)
    x = (np.arange(32) + 0.0) * p.dx
    k, l_ = 2 * np.pi * 2 / p.length_m, 2 * np.pi * 1 / p.length_m
    xx, yy = np.meshgrid(x, x)
    psi = 1e6 * np.cos(k * xx + l_ * yy)
    days = 4.0
    out = m.psi(m.run(m.state_from_psi(np.stack([psi, psi])), days))
    omega = 5.0 * k - p.beta * k / (k**2 + l_**2)
    expected = 1e6 * np.cos(k * xx + l_ * yy - omega * days * DAY)
    assert np.abs(out[0] - expected).max() < 0.02e6
    assert np.abs(out[0] - out[1]).max() < 1e-3 * 1e6  # stays barotropic


def test_imposed_shear_drives_baroclinic_instability_and_drag_bounds_it(equilibrated):
    """A small perturbation grows by orders of magnitude, then the flow equilibrates with
    eddy winds of the atmosphere's size (upper-layer rms 5-25 m/s) and a finite state."""
    assert np.isfinite(equilibrated).all()
    m = QGModel(QGParams().at(32))
    u1 = -np.gradient(equilibrated[0], m.params.dx, axis=0)
    assert 5 < u1.std() < 25
    assert equilibrated[0].std() > 50 * 1e5  # grew from 1e5 m2/s


def test_subcritical_shear_stays_quiet():
    """Below the Phillips critical shear (beta / F1 = 2 beta rd^2 = 8 m/s) the flow is stable."""
    m = QGModel(QGParams(n=32, u1=8.0, u2=3.0))
    qh = m.run(m.random_state(2), 60)
    assert m.psi(qh).std() < 2e5


def test_coarsen_and_interpolate():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 8, 8))
    assert coarsen(a, 4).shape == (2, 2, 2)
    assert np.isclose(coarsen(a, 4)[0, 0, 0], a[0, :4, :4].mean())
    x = np.arange(8) * 2 * np.pi / 8
    wave = np.sin(x)[None, :] * np.cos(2 * x)[:, None]
    fine = interpolate(wave[None], 16)[0]
    x16 = np.arange(16) * 2 * np.pi / 16
    assert np.allclose(fine, np.sin(x16)[None, :] * np.cos(2 * x16)[:, None], atol=1e-12)
    with pytest.raises(ValueError):
        coarsen(a, 3)


def test_blow_up_is_reported_not_returned():
    m = QGModel(QGParams(n=32, dt_s=40000.0))
    with pytest.raises(FloatingPointError, match="blew up"):
        m.run(m.random_state(1, amplitude=5e7), 20)
