"""The procedural generator: deterministic, faults drawn where the truth says, layouts."""

from __future__ import annotations

import numpy as np

from agentarts.industries.rail.generator import (
    FRAME_H,
    FRAME_W,
    STATIONS,
    Frame,
    make_train,
    render_frame,
)


def test_deterministic_by_seed_and_truth_without_pixels():
    a = make_train(5, cars=2, fault_rate=0.1)
    b = make_train(5, cars=2, fault_rate=0.1)
    c = make_train(5, cars=2, fault_rate=0.1, render=False)
    assert a.train_id == "T00005"
    for (_, fa), (_, fb), (_, fc) in zip(a.frames(), b.frames(), c.frames(), strict=True):
        assert np.array_equal(fa.image, fb.image)
        assert fa.faults == fc.faults and fc.image is None
    other = make_train(6, cars=2, fault_rate=0.1)
    assert not np.array_equal(next(other.frames())[1].image, next(a.frames())[1].image)


def test_a_car_has_two_frames_per_station():
    train = make_train(3, cars=3, kind="emu")
    assert [c.vehicle_class for c in train.cars] == ["CRH_M", "CRH_T", "CRH_M"]
    for car in train.cars:
        assert [f.station for f in car.frames] == [s for s in STATIONS for _ in (1, 2)]
        for f in car.frames:
            assert f.image.shape == (FRAME_H, FRAME_W) and f.image.dtype == np.uint8


def test_fault_rate_and_modes():
    train = make_train(8, cars=20, fault_rate=0.05, kind="freight", render=False)
    faults = [f for _, fr in train.frames() for f in fr.faults]
    rate = sum(f is not None for f in faults) / len(faults)
    assert 0.03 < rate < 0.07
    only = make_train(8, cars=5, fault_rate=0.3, modes=("loose",), render=False)
    assert {f for _, fr in only.frames() for f in fr.faults} == {None, "loose"}


def _draw(fault):
    from agentarts.industries.rail.generator import _geometry
    from agentarts.industries.rail.render import draw_component

    img = np.full((64, 64), 0.3, np.float32)
    geometry = _geometry("side_frame_column_bolts", "C70", np.random.default_rng(1))
    draw_component(img, "bolt_group", geometry, fault, np.random.default_rng(2))
    return img


def test_a_loose_nut_changes_the_part_and_nothing_else():
    normal = _draw(None)
    assert np.array_equal(normal, _draw(None))
    for fault in ("loose", "missing", "broken"):
        diff = np.abs(normal - _draw(fault))
        assert diff.max() > 0.25, fault  # the paint mark turned / the nut is gone
        assert diff[:4].max() < 0.01 and diff[-4:].max() < 0.01  # outside the plate: same


def test_render_frame_is_a_valid_image():
    frame = Frame("left_side", 1, ["side_frame_column_bolts", "brake_shoe"], [None, "worn"])
    image = render_frame(frame, "C70", np.random.default_rng(4))
    assert image.shape == (FRAME_H, FRAME_W)
    assert 30 < image.mean() < 200


def test_a_broken_knuckle_breaks_its_lit_outline() -> None:
    """The gap runs through the lit edge too (it used to be painted over the break)."""
    from agentarts.industries.rail.render import draw_component

    geometry = {"cx": 32.0, "cy": 32.0, "angle": 0.0, "tone": 0.45, "count": 3, "marks": [0.0] * 4}
    angles = np.linspace(-1.5, 1.5, 200)  # the right half of the ring, where breaks are drawn
    xs = np.round(40 + 19 * np.cos(angles)).astype(int)
    ys = np.round(32 + 19 * np.sin(angles)).astype(int)
    outline = {}
    for mode in (None, "broken"):
        lowest = []
        for seed in range(8):
            img = np.full((64, 64), 0.3, np.float32)
            draw_component(img, "coupler", geometry, mode, np.random.default_rng(seed))
            lowest.append(img[ys, xs].min())
        outline[mode] = np.array(lowest)
    assert (outline[None] > 0.6).all()
    assert (outline["broken"] < 0.45).mean() >= 0.75, outline["broken"]
