"""Procedural drawing of undercarriage components and their faults (numpy only).

Every component is drawn from signed-distance primitives (discs, rotated boxes, regular
polygons, capsules), anti-aliased by coverage, in grey levels a trackside line-scan camera
gives (0 black .. 1 white). Each drawing family (bolt group, cotter pin, brake shoe, spring,
axle box, coupler, cable, cover, rod, hose, damper) shows its own fault modes the way they look
in inspection images:

* a loose nut is a rotated anti-loosening paint mark: the stripe on the nut no longer lines up
  with the stripe on the plate (the mark railways paint across nut and seat);
* missing parts leave their seats (bare bolt holes, empty clevis holes, bare spring seats);
* broken parts show a gap and a bright fracture surface; cracks are thin dark jagged lines;
* leaks are dark glossy oil trails running from a seal; deformation is a smooth local bend;
* foreign objects are bags, wires or stones lying on the part.

Assumptions (stated so they can be checked against real images): grey-scale 8-bit frames, a
component fills most of its 64 x 64 crop window, the camera is fixed so the crop window is known
from the station layout up to a registration offset of a few pixels.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

__all__ = ["CROP", "draw_component"]

CROP = 64
_YY, _XX = np.mgrid[0:CROP, 0:CROP].astype(np.float32)


class Patch:
    """A 64 x 64 float view of a frame that shapes are painted onto."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img

    def paint(self, sd: np.ndarray, value: Any, alpha: float = 1.0) -> None:
        cover = np.clip(0.5 - sd, 0.0, 1.0) * alpha
        self.img += cover * (value - self.img)


def circle(cx: float, cy: float, r: float) -> np.ndarray:
    return np.hypot(_XX - cx, _YY - cy) - r


def box(cx: float, cy: float, hw: float, hh: float, angle: float = 0.0) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    x, y = _XX - cx, _YY - cy
    u, v = np.abs(c * x + s * y) - hw, np.abs(-s * x + c * y) - hh
    outside = np.hypot(np.maximum(u, 0), np.maximum(v, 0))
    return outside + np.minimum(np.maximum(u, v), 0)


def ngon(cx: float, cy: float, apothem: float, n: int, angle: float) -> np.ndarray:
    x, y = _XX - cx, _YY - cy
    d = None
    for k in range(n):
        a = angle + 2 * math.pi * k / n
        p = x * math.cos(a) + y * math.sin(a)
        d = p if d is None else np.maximum(d, p)
    return d - apothem  # type: ignore[operator]


def capsule(x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy or 1e-6
    t = np.clip(((_XX - x0) * dx + (_YY - y0) * dy) / length2, 0, 1)
    return np.hypot(_XX - (x0 + t * dx), _YY - (y0 + t * dy)) - r


def polyline(points: list[tuple[float, float]], r: float) -> np.ndarray:
    d = capsule(*points[0], *points[1], r)
    for a, b in itertools.pairwise(points):
        d = np.minimum(d, capsule(*a, *b, r))
    return d


def curve(x0: float, y0: float, x1: float, y1: float, sag: float, n: int = 8) -> list[Any]:
    """Points of a quadratic curve between two ends, bowed by ``sag`` pixels."""
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    nx, ny = -(y1 - y0), x1 - x0
    norm = math.hypot(nx, ny) or 1.0
    cx, cy = mx + 2 * sag * nx / norm, my + 2 * sag * ny / norm
    ts = np.linspace(0, 1, n)
    return [
        (
            (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x1,
            (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y1,
        )
        for t in ts
    ]


# --------------------------------------------------------------------------------------------
# families: each draws the part in a normal or faulty state and returns its body box
# (cx, cy, half-width, half-height) for the generic faults drawn afterwards.


def _bolt(p: Patch, x: float, y: float, r: float, mark: float, state: str, rng: Any) -> None:
    """Washer, hex nut, bolt end and the anti-loosening paint mark across nut and seat."""
    stripe = max(1.6, r * 0.26)
    seat = (x + math.cos(mark) * r * 1.1, y + math.sin(mark) * r * 1.1)
    tip = (x + math.cos(mark) * r * 2.1, y + math.sin(mark) * r * 2.1)
    p.paint(capsule(*seat, *tip, stripe), 0.95)  # paint on the seat stays put
    if state == "missing":
        p.paint(circle(x, y, r * 0.55), 0.1)
        p.paint(circle(x, y, r * 0.3), 0.3)
        return
    turn = 0.0
    if state == "loose":
        turn = float(rng.choice([-1, 1]) * rng.uniform(0.8, 1.6))  # 45-90 degrees backed off
        p.paint(circle(x + 2.0, y + 2.0, r * 1.15), 0.08, 0.8)  # it stands proud: a shadow
    p.paint(circle(x, y, r * 1.1), 0.66)
    p.paint(ngon(x, y, r * 0.8, 6, mark + turn + 0.3), 0.36)
    p.paint(circle(x, y, r * 0.38), 0.42)
    a = mark + turn
    p.paint(capsule(x, y, x + math.cos(a) * r * 1.05, y + math.sin(a) * r * 1.05, stripe), 0.95)
    if state == "broken":
        cut = float(rng.uniform(0, 2 * math.pi))
        half = np.maximum(
            circle(x, y, r * 1.15), -((_XX - x) * math.cos(cut) + (_YY - y) * math.sin(cut))
        )
        p.paint(half, 0.2)
        p.paint(circle(x, y, r * 0.4), 0.85)  # bright fracture of the shank


def bolt_group(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy = g["cx"], g["cy"]
    p.paint(box(cx, cy, 28, 20, g["angle"] * 0.2), g["tone"])
    p.paint(box(cx, cy, 28, 20, g["angle"] * 0.2) + 1.5, g["tone"] + 0.06)
    n = g["count"]
    spots = {
        2: [(-13, 0), (13, 0)],
        3: [(-17, 0), (0, 0), (17, 0)],
        4: [(-12, -10), (12, -10), (-12, 10), (12, 10)],
    }[n]
    r = {2: 7.5, 3: 6.5, 4: 6.0}[n]
    bad = int(rng.integers(n)) if mode in ("missing", "loose", "broken") else -1
    for i, (dx, dy) in enumerate(spots):
        mark = g["marks"][i]
        _bolt(p, cx + dx, cy + dy, r, mark, mode if i == bad else "ok", rng)
    return cx, cy, 26, 18


def cotter_pin(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy, a = g["cx"], g["cy"], g["angle"]
    p.paint(box(cx, cy, 26, 10, a), g["tone"])  # clevis / bracket
    p.paint(circle(cx, cy, 11), 0.56)  # pin head end
    p.paint(circle(cx, cy, 4.5), 0.12)  # the cross hole
    if mode == "missing":
        return cx, cy, 20, 12
    ux, uy = math.cos(a + math.pi / 2), math.sin(a + math.pi / 2)
    eye = (cx - ux * 9, cy - uy * 9)
    p.paint(circle(*eye, 4.0), 0.85)
    p.paint(circle(*eye, 1.8), 0.3)
    p.paint(capsule(*eye, cx + ux * 6, cy + uy * 6, 2.2), 0.85)
    spread = 0.08 if mode == "loose" else 0.65
    for k, side in enumerate((-1, 1)):
        b = a + math.pi / 2 + side * spread
        length = 5.0 if (mode == "broken" and k == 0) else 16.0
        end = (cx + ux * 6 + math.cos(b) * length, cy + uy * 6 + math.sin(b) * length)
        p.paint(capsule(cx + ux * 6, cy + uy * 6, *end, 2.0), 0.85)
        if mode == "broken" and k == 0:
            p.paint(circle(*end, 2.4), 0.98)
    return cx, cy, 18, 14


def brake_shoe(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy = g["cx"], g["cy"]
    edge = cx + 12  # the wheel tread, seen edge-on as an arc
    wheel = circle(edge + 40, cy, 40)
    p.paint(wheel, 0.62)
    p.paint(np.abs(wheel + 3) - 1.2, 0.78)  # tread highlight
    thick = 5.0 if mode == "worn" else 15.0  # the lining wears down; the head follows it
    head = edge - thick - 6
    if mode == "missing":
        p.paint(box(edge - 27, cy, 5, 20), g["tone"])  # head retracted, no shoe
        return cx - 8, cy, 14, 20
    p.paint(box(head, cy, 5, 20), g["tone"])
    shift = float(rng.choice([-1, 1]) * rng.uniform(11, 15)) if mode == "displaced" else 0.0
    tilt = 0.25 * (1 if shift > 0 else -1) if mode == "displaced" else 0.0
    shoe = box(edge - thick / 2 - 0.5, cy + shift, thick / 2 + 0.5, 17, tilt)
    shoe = np.maximum(shoe, -circle(edge + 40, cy, 41))
    p.paint(shoe, 0.56)
    p.paint(capsule(head + 5, cy - 17 + shift, head + 5, cy + 17 + shift, 0.6), 0.3)
    if mode == "broken":
        p.paint(np.maximum(box(edge - 8, cy + 10, 10, 7), circle(edge + 40, cy, 41)), 0.1)
        p.paint(capsule(edge - 16, cy + 3, edge - 2, cy + 4, 1.0), 0.9)
    return edge - thick / 2, cy, thick / 2 + 3, 17


def spring(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy = g["cx"], g["cy"]
    p.paint(box(cx, cy - 24, 18, 4), g["tone"])
    p.paint(box(cx, cy + 24, 18, 4), g["tone"])
    if mode == "missing":
        return cx, cy, 16, 20
    dx = float(rng.choice([-1, 1]) * rng.uniform(9, 13)) if mode == "displaced" else 0.0
    coils = g["count"] + 3
    pitch = 40.0 / coils
    gap = int(rng.integers(1, coils - 1)) if mode == "broken" else -1
    for k in range(coils):
        y0 = cy - 20 + k * pitch
        shift = 0.0 if k < gap or gap < 0 else 4.0
        left, right = cx - 13 + dx * (k + 1) / coils, cx + 13 + dx * (k + 1) / coils
        if k == gap:
            p.paint(capsule(left, y0 + shift, left + 8, y0 + pitch * 0.3, 2.6), 0.64)
            p.paint(
                capsule(right - 8, y0 + pitch * 0.7 + shift, right, y0 + pitch + shift, 2.6), 0.64
            )
            p.paint(circle(left + 8, y0 + pitch * 0.3, 2.4), 0.95)
            continue
        p.paint(capsule(left, y0 + shift, right, y0 + pitch + shift, 2.6), 0.64)
        p.paint(capsule(left, y0 + shift - 1, right, y0 + pitch + shift - 1, 0.8), 0.82)
    return cx + dx / 2, cy, 14, 20


def axle_box(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy = g["cx"], g["cy"]
    p.paint(box(cx, cy, 27, 22, 0), g["tone"] - 0.06)
    p.paint(circle(cx, cy, 21), g["tone"])
    if mode == "missing":  # end cover gone: the bore and bearing show
        p.paint(circle(cx, cy, 15), 0.1)
        p.paint(np.abs(circle(cx, cy, 10)) - 1.5, 0.45)
        return cx, cy, 20, 20
    p.paint(circle(cx, cy, 15), 0.6)
    p.paint(np.abs(circle(cx, cy, 15)) - 0.8, 0.35)
    bad = int(rng.integers(g["count"] + 1)) if mode == "loose" else -1
    for k in range(g["count"] + 1):
        a = g["angle"] + 2 * math.pi * k / (g["count"] + 1)
        bx, by = cx + math.cos(a) * 9.5, cy + math.sin(a) * 9.5
        _bolt(p, bx, by, 4.4, a + 1.2, "loose" if k == bad else "ok", rng)
    if mode == "broken":
        a = float(rng.uniform(0, 2 * math.pi))
        wedge = np.maximum(circle(cx, cy, 24), -circle(cx, cy, 16))
        wedge = np.maximum(wedge, box(cx + math.cos(a) * 20, cy + math.sin(a) * 20, 8, 8, a))
        p.paint(wedge, 0.1)
    return cx, cy, 20, 20


def coupler(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy = g["cx"], g["cy"]
    p.paint(box(cx - 14, cy, 16, 10), g["tone"])  # coupler body / yoke
    width = 4.0 if mode == "worn" else 8.0
    turn = 0.8 if mode == "displaced" else 0.0
    ring = np.abs(circle(cx + 8, cy, 15)) - width / 2
    opening = box(cx + 22, cy + 6, 10, 7, turn)
    knuckle = np.maximum(ring, -opening)
    rim = np.abs(circle(cx + 8, cy, 15 + width / 2)) - 0.8  # the lit outer edge
    if mode == "broken":
        a = float(rng.uniform(-1.6, 1.6))
        gap = box(cx + 8 + math.cos(a) * 15, cy + math.sin(a) * 15, 4.5, 8, a)
        knuckle = np.maximum(knuckle, -gap)
        # a break runs through the whole section, lit edge included (drawing the edge over the
        # gap, as the first version did, hid the break behind an unbroken bright outline)
        rim = np.maximum(rim, -gap)
    p.paint(knuckle, 0.6)
    p.paint(rim, 0.78)
    if mode == "missing":  # knuckle pin gone
        p.paint(circle(cx + 8, cy - 15, 3.5), 0.08)
    else:
        p.paint(circle(cx + 8, cy - 15, 3.5), 0.82)
    return cx, cy, 22, 16


def cable(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy, a = g["cx"], g["cy"], g["angle"] * 0.5
    dx, dy = math.cos(a) * 30, math.sin(a) * 30
    sag = 8.0 if mode in ("loose", "missing") else 1.5
    offset = 10.0 if mode == "displaced" else 0.0
    pts = curve(cx - dx, cy - dy + offset, cx + dx, cy + dy + offset, sag)
    clamps = [pts[2], pts[5]]
    if mode == "broken":
        p.paint(polyline(pts[:4], 3.0), 0.18)
        p.paint(polyline(pts[5:], 3.0), 0.18)
        for end in (pts[3], pts[5]):
            p.paint(circle(*end, 2.6), 0.9)  # frayed copper
    else:
        p.paint(polyline(pts, 3.0), 0.18)
        p.paint(polyline([(x, y - 1.5) for x, y in pts], 0.7), 0.4)
    if mode == "worn":
        p.paint(polyline(pts[3:5], 2.2), 0.88)
    for k, (x, y) in enumerate(clamps):
        if mode == "missing" and k == 1:
            continue
        p.paint(box(x, y - offset, 3.5, 6.0, a), 0.7)
    return cx, cy + offset, 26, 10


def cover(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy = g["cx"], g["cy"]
    p.paint(box(cx, cy, 26, 21), g["tone"] - 0.1)
    if mode == "missing":  # the opening and what is behind it
        p.paint(box(cx, cy, 20, 15), 0.08)
        p.paint(capsule(cx - 14, cy - 5, cx + 14, cy + 3, 1.6), 0.35)
        return cx, cy, 22, 17
    lift = mode == "loose"
    p.paint(box(cx + (1.5 if lift else 0), cy + (1.5 if lift else 0), 22, 17), 0.12, 0.5)
    p.paint(box(cx, cy, 22, 17), g["tone"] + 0.1)
    p.paint(np.abs(box(cx, cy, 22, 17)) - 0.7, 0.8)
    bad = int(rng.integers(4)) if lift else -1
    for k, (sx, sy) in enumerate(((-1, -1), (1, -1), (-1, 1), (1, 1))):
        _bolt(
            p, cx + sx * 17, cy + sy * 12, 3.2, g["marks"][k], "missing" if k == bad else "ok", rng
        )
    if mode == "broken":
        sx, sy = rng.choice([-1, 1]), rng.choice([-1, 1])
        p.paint(ngon(cx + sx * 22, cy + sy * 17, 8, 3, float(rng.uniform(0, 6))), 0.08)
    return cx, cy, 20, 15


def rod(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy, a = g["cx"], g["cy"], g["angle"]
    ux, uy = math.cos(a), math.sin(a)
    p.paint(box(cx - ux * 22, cy - uy * 22, 6, 9, a), g["tone"])  # brackets
    p.paint(box(cx + ux * 22, cy + uy * 22, 6, 9, a), g["tone"])
    if mode == "missing":
        p.paint(circle(cx - ux * 22, cy - uy * 22, 3), 0.1)
        p.paint(circle(cx + ux * 22, cy + uy * 22, 3), 0.1)
        return cx, cy, 24, 8
    off = 10.0 if mode == "displaced" else 0.0
    ox, oy = -uy * off, ux * off
    r = 2.2 if mode == "worn" else 4.5
    ends = [(cx - ux * 30 + ox, cy - uy * 30 + oy), (cx + ux * 30 + ox, cy + uy * 30 + oy)]
    if mode == "broken":
        p.paint(capsule(*ends[0], cx - ux * 4 + ox, cy - uy * 4 + oy, r), 0.58)
        p.paint(
            capsule(
                cx + ux * 4 + ox - uy * 3,
                cy + uy * 4 + oy + ux * 3,
                ends[1][0] - uy * 3,
                ends[1][1] + ux * 3,
                r,
            ),
            0.58,
        )
        p.paint(circle(cx - ux * 4 + ox, cy - uy * 4 + oy, r), 0.92)
    else:
        p.paint(capsule(*ends[0], *ends[1], r), 0.58)
        p.paint(capsule(ends[0][0], ends[0][1] - 2, ends[1][0], ends[1][1] - 2, 1.0), 0.75)
    if mode == "worn":
        for _ in range(4):
            t = float(rng.uniform(-20, 20))
            p.paint(circle(cx + ux * t + ox, cy + uy * t + oy, 1.5), 0.2)
    for e in ends:
        p.paint(circle(*e, 4.0), 0.7)
    return cx + ox, cy + oy, 26, 6


def hose(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy, a = g["cx"], g["cy"], g["angle"] * 0.5
    dx, dy = math.cos(a) * 22, math.sin(a) * 22
    f0, f1 = (cx - dx, cy - dy), (cx + dx, cy + dy)
    p.paint(box(*f0, 5, 7, a), 0.72)
    p.paint(box(*f1, 5, 7, a), 0.72)
    if mode == "missing":
        return cx, cy, 22, 8
    gap = 5.0 if mode == "loose" else 0.0
    pts = curve(
        f0[0] + math.cos(a) * (5 + gap),
        f0[1] + math.sin(a) * (5 + gap),
        f1[0] - math.cos(a) * 5,
        f1[1] - math.sin(a) * 5,
        6.0,
    )
    if mode == "broken":
        p.paint(polyline(pts[:3], 5.0), 0.24)
        p.paint(polyline(pts[5:], 5.0), 0.24)
        p.paint(circle(*pts[3], 3.0), 0.5, 0.7)
    else:
        p.paint(polyline(pts, 5.0), 0.24)
        for x, y in pts[1:-1]:
            p.paint(circle(x, y - 2, 1.4), 0.4)  # ribs catching the light
    if mode == "worn":
        for x, y in pts[2:6]:
            p.paint(capsule(x - 2, y - 3, x + 2, y + 3, 0.7), 0.75)
    return cx, cy, 22, 10


def damper(p: Patch, g: dict[str, Any], mode: str, rng: Any) -> tuple:
    cx, cy, a = g["cx"], g["cy"], g["angle"] * 0.4
    ux, uy = math.cos(a), math.sin(a)
    eyes = [(cx - ux * 25, cy - uy * 25), (cx + ux * 25, cy + uy * 25)]
    bad = int(rng.integers(2)) if mode == "loose" else -1
    for k, e in enumerate(eyes):
        p.paint(box(*e, 6, 8, a), g["tone"])
        _bolt(p, e[0], e[1], 4.2, g["marks"][k], "loose" if k == bad else "ok", rng)
    if mode == "missing":
        return cx, cy, 20, 8
    body_end = (cx + ux * 4, cy + uy * 4)
    p.paint(capsule(eyes[0][0] + ux * 6, eyes[0][1] + uy * 6, *body_end, 6.5), 0.5)
    p.paint(capsule(eyes[0][0] + ux * 6, eyes[0][1] + uy * 6 - 3, *body_end, 1.2), 0.68)
    if mode == "broken":
        p.paint(capsule(*body_end, cx + ux * 10 + uy * 3, cy + uy * 10 - ux * 3, 2.0), 0.88)
        p.paint(
            capsule(
                eyes[1][0] - ux * 6,
                eyes[1][1] - uy * 6,
                cx + ux * 15 - uy * 3,
                cy + uy * 15 + ux * 3,
                2.0,
            ),
            0.88,
        )
    else:
        p.paint(capsule(*body_end, eyes[1][0] - ux * 6, eyes[1][1] - uy * 6, 2.0), 0.88)
    return cx - ux * 8, cy - uy * 8, 16, 8


FAMILIES = {
    "bolt_group": bolt_group,
    "cotter_pin": cotter_pin,
    "brake_shoe": brake_shoe,
    "spring": spring,
    "axle_box": axle_box,
    "coupler": coupler,
    "cable": cable,
    "cover": cover,
    "rod": rod,
    "hose": hose,
    "damper": damper,
}

# --------------------------------------------------------------------------------------------
# generic faults, drawn over the part's body box


def _crack(p: Patch, body: tuple, rng: Any) -> None:
    cx, cy, hw, hh = body
    x, y = cx + rng.uniform(-hw, hw) * 0.6, cy + rng.uniform(-hh, hh) * 0.6
    a = float(rng.uniform(0, 2 * math.pi))
    pts = [(x, y)]
    for _ in range(6):
        a += float(rng.normal(0, 0.5))
        x, y = x + math.cos(a) * 5.0, y + math.sin(a) * 5.0
        pts.append((x, y))
    p.paint(polyline([(px + 1.2, py + 1.2) for px, py in pts], 0.7), 0.9, 0.7)
    p.paint(polyline(pts, 1.3), 0.02)


def _foreign(p: Patch, body: tuple, rng: Any) -> None:
    cx, cy, hw, hh = body
    x, y = cx + rng.uniform(-hw, hw) * 0.5, cy + rng.uniform(-hh, hh) * 0.5
    kind = int(rng.integers(3))
    tone = float(rng.choice([rng.uniform(0.8, 0.98), rng.uniform(0.02, 0.15)]))
    if kind == 0:  # a bag or rag: an irregular blob
        d = ngon(x, y, float(rng.uniform(7, 11)), int(rng.integers(5, 8)), float(rng.uniform(0, 6)))
        d = d + 2.0 * np.sin((_XX - x) * 0.5) * np.cos((_YY - y) * 0.4)
        p.paint(d, tone, 0.95)
    elif kind == 1:  # a wire
        a = float(rng.uniform(0, math.pi))
        pts = curve(
            x - math.cos(a) * 20,
            y - math.sin(a) * 20,
            x + math.cos(a) * 20,
            y + math.sin(a) * 20,
            float(rng.uniform(-8, 8)),
        )
        p.paint(polyline(pts, 1.6), tone)
    else:  # a stone or ballast lump
        p.paint(ngon(x, y, float(rng.uniform(5, 8)), 5, float(rng.uniform(0, 6))), tone)


def _leak(p: Patch, body: tuple, rng: Any) -> None:
    cx, cy, hw, hh = body
    x = cx + rng.uniform(-hw, hw) * 0.5
    y = cy + rng.uniform(-hh, hh) * 0.3
    length, width = float(rng.uniform(18, 30)), float(rng.uniform(3, 5.5))
    trail = np.maximum(capsule(x, y, x + rng.uniform(-3, 3), y + length, width), -(_YY - y + 2))
    p.paint(trail + 0.6 * np.sin(_XX * 0.9), 0.06, 0.85)
    p.paint(capsule(x - width * 0.4, y + 3, x - width * 0.4, y + length * 0.7, 0.6), 0.8, 0.6)
    p.paint(circle(x, y + length, width * 1.2), 0.05, 0.8)


def _deform(img: np.ndarray, body: tuple, rng: Any) -> None:
    cx, cy, hw, hh = body
    x, y = cx + rng.uniform(-hw, hw) * 0.4, cy + rng.uniform(-hh, hh) * 0.4
    a, amp = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(4, 7))
    radius = float(rng.uniform(11, 17))
    w = np.exp(-((_XX - x) ** 2 + (_YY - y) ** 2) / (2 * radius**2))
    sx = np.clip(_XX - amp * math.cos(a) * w, 0, CROP - 1)
    sy = np.clip(_YY - amp * math.sin(a) * w, 0, CROP - 1)
    x0, y0 = sx.astype(np.int32), sy.astype(np.int32)
    x1, y1 = np.minimum(x0 + 1, CROP - 1), np.minimum(y0 + 1, CROP - 1)
    fx, fy = sx - x0, sy - y0
    src = img.copy()
    img[:] = (
        src[y0, x0] * (1 - fx) * (1 - fy)
        + src[y0, x1] * fx * (1 - fy)
        + src[y1, x0] * (1 - fx) * fy
        + src[y1, x1] * fx * fy
    )


def draw_component(
    img: np.ndarray,
    family: str,
    geometry: dict[str, Any],
    mode: str | None,
    rng: np.random.Generator,
) -> None:
    """Draw one component (``mode`` None: intact) onto a 64 x 64 float view of a frame."""
    p = Patch(img)
    family_mode = mode if mode in ("missing", "loose", "broken", "worn", "displaced") else "ok"
    body = FAMILIES[family](p, geometry, family_mode, rng)
    if mode == "crack":
        _crack(p, body, rng)
    elif mode == "foreign_object":
        _foreign(p, body, rng)
    elif mode == "leaking":
        _leak(p, body, rng)
    elif mode == "deformed":
        _deform(img, body, rng)
