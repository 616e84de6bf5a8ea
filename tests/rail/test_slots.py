"""The per-slot normal model: registration undoes a frame offset, faults score above normals."""

from __future__ import annotations

import numpy as np
import pytest

from agentarts.industries.rail.generator import LAYOUTS, Frame, render_frame
from agentarts.industries.rail.slots import PAD, SlotModel, padded_windows, register

VC, STATION = "C70", "left_side"
NAMES = LAYOUTS[VC][STATION][0]


def _frames(seed: int, count: int, fault: str | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ids = [], []
    for f in range(count):
        faults = [fault if k == 0 else None for k in range(len(NAMES))]
        image = render_frame(Frame(STATION, 1, list(NAMES), faults), VC, rng)
        xs.append(padded_windows(image, len(NAMES)))
        ids += [f] * len(NAMES)
    keys = np.array([f"{VC}/{c}" for c in NAMES] * count)
    return {"x": np.concatenate(xs), "key": keys, "frame": np.array(ids)}


@pytest.fixture(scope="module")
def model() -> SlotModel:
    data = _frames(1, 40)
    return SlotModel.fit(data["x"], data["key"], data["frame"], components=4)


def test_registration_undoes_a_frame_shift(model: SlotModel) -> None:
    rng = np.random.default_rng(5)
    image = render_frame(Frame(STATION, 1, list(NAMES), [None] * 6), VC, rng)
    shifted = np.roll(image, (2, -3), axis=(0, 1))
    keys = np.array([f"{VC}/{c}" for c in NAMES])
    ids = np.zeros(len(NAMES), int)
    a = register(padded_windows(image, 6), keys, model.templates, ids)
    b = register(padded_windows(shifted, 6), keys, model.templates, ids)
    assert np.abs(a - b)[:, 4:-4, 4:-4].max() < 1e-6  # the same pixels, wherever they were
    nominal = padded_windows(shifted, 6)[:, PAD:-PAD, PAD:-PAD] / 255.0
    assert np.abs(nominal - b).mean() > 0.01  # the nominal window was off


def test_missing_parts_score_above_normal_views(model: SlotModel) -> None:
    normal = _frames(2, 10)
    bad = _frames(3, 10, "missing")
    s_normal = model.score(normal["x"], normal["key"], normal["frame"])
    s_bad = model.score(bad["x"], bad["key"], bad["frame"])[:: len(NAMES)]  # window 0 only
    assert np.isfinite(s_normal).all()
    assert np.median(s_bad) > np.quantile(s_normal, 0.95)
    unknown = model.score(normal["x"][:2], np.array(["X70/nothing"] * 2), np.zeros(2))
    assert np.isnan(unknown).all()
