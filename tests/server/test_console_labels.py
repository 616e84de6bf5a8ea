"""A boxed finding's label stays inside the station frame (it ran off the right edge)."""

from __future__ import annotations

import json

import pytest

from tests.server._appjs import NODE, call_app_js


def _place(box: dict, width: int) -> dict:
    return call_app_js("labelPlace", f"labelPlace({json.dumps(box)}, {width})")


def _span(place: dict, label: str) -> tuple[float, float]:
    wide = len(label) * 7.5
    x = place["x"]
    return (x - wide, x) if place["text-anchor"] == "end" else (x, x + wide)


@pytest.mark.skipif(NODE is None, reason="needs node")
@pytest.mark.parametrize("x", [8, 80, 152])  # the rail frame's three window columns
@pytest.mark.parametrize("label", ["brake_shoe.worn", "axle_end_cap_bolts.crack"])
def test_label_stays_in_the_frame(x: int, label: str) -> None:
    box = {"x": x, "y": 8, "w": 64, "h": 64, "label": label}
    left, right = _span(_place(box, 224), label)  # a 224-unit frame, as the rail pack draws
    assert left >= 0 and right <= 224, (left, right)


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_a_short_label_keeps_to_its_box() -> None:
    place = _place({"x": 152, "y": 8, "w": 64, "h": 64, "label": "bolt.loose"}, 224)
    assert place == {"x": 216, "text-anchor": "end"}  # ends at the box's right edge
    place = _place({"x": 8, "y": 8, "w": 64, "h": 64, "label": "bolt.loose"}, 224)
    assert place == {"x": 8, "text-anchor": "start"}
