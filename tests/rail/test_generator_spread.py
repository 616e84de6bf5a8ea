"""The paint-mark spread knob: default frames unchanged, a wider spread only when asked for."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from agentarts.industries.rail.generator import MARK_SPREAD, Frame, _geometry, render_frame
from agentarts.industries.rail.train import cached_frames

COMP, VC = "side_frame_column_bolts", "C70"


def _group_direction() -> float:
    """The group's fixed mark direction, drawn as the generator draws it."""
    digest = hashlib.sha256(f"{COMP}/{VC}".encode()).digest()
    fixed = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    fixed.uniform(-0.6, 0.6), fixed.uniform(0.4, 0.52), fixed.integers(2, 5)
    return float(fixed.choice([-1, 1]) * math.pi / 2 + fixed.uniform(-0.5, 0.5))


def _original_marks(seed: int) -> list[float]:
    """The marks exactly as the generator drew them before the knob existed (0.15 rad)."""
    rng = np.random.default_rng(seed)
    rng.normal(0, 1.0), rng.normal(0, 1.0), rng.normal(0, 0.05), rng.normal(0, 0.02)
    return [float(m) for m in _group_direction() + rng.normal(0, 0.15, 4)]


def test_default_marks_are_the_original_draw():
    assert MARK_SPREAD == 0.15
    for seed in range(5):
        assert _geometry(COMP, VC, np.random.default_rng(seed))["marks"] == _original_marks(seed)


def test_default_frames_unchanged_by_the_knob():
    frame = Frame("left_side", 1, [COMP, "brake_shoe", "axle_end_cap_bolts"], [None, None, None])
    a = render_frame(frame, VC, np.random.default_rng(3))
    b = render_frame(frame, VC, np.random.default_rng(3), mark_spread=0.15)
    assert np.array_equal(a, b)
    c = render_frame(frame, VC, np.random.default_rng(3), mark_spread=0.4)
    assert not np.array_equal(a, c)  # the bolt groups' stripes turned ...
    assert np.array_equal(a[:, 88:136], c[:, 88:136])  # ... the brake shoe (window 2) is not


def test_the_knob_widens_only_the_marks():
    base = _group_direction()
    dev = {0.15: [], 0.4: []}
    for spread, out in dev.items():
        rng = np.random.default_rng(11)
        for _ in range(200):
            out += [m - base for m in _geometry(COMP, VC, rng, mark_spread=spread)["marks"]]
    for seed in range(5):  # everything else about the part is the same draw
        a = _geometry(COMP, VC, np.random.default_rng(seed))
        b = _geometry(COMP, VC, np.random.default_rng(seed), mark_spread=0.4)
        assert {k: v for k, v in a.items() if k != "marks"} == {
            k: v for k, v in b.items() if k != "marks"
        }
    d15, d40 = np.array(dev[0.15]), np.array(dev[0.4])
    assert np.allclose(d40, d15 * 0.4 / 0.15)  # the same standard draws, scaled
    assert 0.13 < d15.std() < 0.17 and 0.36 < d40.std() < 0.44


def test_cache_key_includes_a_non_default_spread(tmp_path):
    wide = cached_frames(tmp_path, "train", 5, 2, 0.5, None, mark_spread=0.4)
    default = cached_frames(tmp_path, "train", 5, 2, 0.5, None)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["padded-train-5-2-0.5-marks0.4.npz", "padded-train-5-2-0.5.npz"]
    assert np.array_equal(wide["slot"], default["slot"])  # same frames and windows ...
    assert not np.array_equal(wide["xp"], default["xp"])  # ... drawn with other marks
    again = cached_frames(tmp_path, "train", 5, 2, 0.5, None, mark_spread=0.4)
    assert np.array_equal(again["xp"], wide["xp"])


def test_slot_stage_takes_the_spread_only_when_asked(monkeypatch, tmp_path):
    import inspect
    import sys

    from agentarts.industries.rail import slot_stage, train

    assert inspect.signature(slot_stage.fit_stage).parameters["mark_spread"].default == 0.15
    seen = []
    monkeypatch.setattr(slot_stage, "fit_stage", lambda *a: seen.append(a) or {})
    for extra in ([], ["--train-mark-spread", "0.4"]):
        argv = ["train", "--stage", "slots", "--out", str(tmp_path), *extra]
        monkeypatch.setattr(sys, "argv", argv)
        train.main()
    assert [a[-1] for a in seen] == [MARK_SPREAD, 0.4]  # the normal frames' spread
    assert seen[0][:-1] == (tmp_path, 6000, slot_stage.COMPONENTS, 0, None, 8000)
