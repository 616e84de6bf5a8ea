"""Procedural trackside images of passing trains: vehicle classes, stations, frames, faults.

A trackside inspection site (TFDS for freight, TEDS for EMUs) has fixed camera stations; each
photographs every passing car. This generator follows that set-up:

* six stations: ``left_side``, ``right_side`` (side views of bogies and axle boxes),
  ``underbody`` (brake gear, covers, pipes between the bogies), ``front_bogie``,
  ``rear_bogie`` (bogies seen from below) and ``couplers`` (car ends);
* two frames per car per station, each a 224 x 152 grey-scale image holding up to six
  component windows of 64 x 64 on a 3 x 2 grid; the vehicle class's layout says which component
  each window shows, the way a real system crops by the station's known layout;
* vehicle classes: C70 open wagon, P70 box wagon, X70 flat (container) wagon, G70 tank wagon
  (freight, three-piece K6-type bogies) and CRH motor and trailer cars (EMU);
* nuisances: grime (low-frequency darkening), oil smears, lighting gradients and vignetting,
  residual motion blur along the direction of travel (1-3 px: trackside line-scan cameras
  are clocked by the train's speed), sensor noise, and a
  registration offset of up to 4 px per frame (the train is not exactly where the trigger says);
* faults are injected per component window with a given rate and a mode drawn from the
  catalogue's modes of that component.

Everything is deterministic by seed. Nothing here claims photographic realism: it is a test bed
with the structure of the real task (fixed layouts, small local faults, nuisances larger than
some faults), documented so results are read with that in mind.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.rail.catalogue import COMPONENTS, Catalogue, load_catalogue
from agentarts.industries.rail.render import CROP, draw_component

__all__ = [
    "FRAME_H",
    "FRAME_W",
    "LAYOUTS",
    "MARK_SPREAD",
    "SLOTS",
    "STATIONS",
    "VEHICLE_CLASSES",
    "Car",
    "Frame",
    "Train",
    "crop_windows",
    "make_train",
    "render_frame",
    "save_train",
    "slot_key",
]

STATIONS = ("left_side", "right_side", "underbody", "front_bogie", "rear_bogie", "couplers")
COLS, ROWS, PITCH, MARGIN = 3, 2, 72, 8
FRAME_W, FRAME_H = MARGIN + COLS * PITCH, MARGIN + ROWS * PITCH
WINDOWS = [(MARGIN + (i % COLS) * PITCH, MARGIN + (i // COLS) * PITCH) for i in range(6)]
BY_NAME = {c.name: c for c in COMPONENTS}

_F_SIDE = [
    [
        "axle_box_adapter",
        "axle_end_cap_bolts",
        "side_frame_column_bolts",
        "bolster_spring_outer",
        "wedge_spring",
        "brake_shoe",
    ],
    [
        "axle_box_adapter",
        "axle_end_cap_bolts",
        "bolster_spring_inner",
        "side_bearer_bolts",
        "brake_shoe_key_cotter",
        "brake_shoe",
    ],
]
_F_BOGIE = [
    [
        "cross_bar",
        "cross_bar_end_bolts",
        "brake_beam",
        "brake_beam_strut_cotter",
        "brake_shoe",
        "bolster_spring_outer",
    ],
    [
        "brake_lever_pin_cotter",
        "brake_rod",
        "center_plate_bolts",
        "center_pin_cotter",
        "hand_brake_chain",
        "side_bearer_bolts",
    ],
]
_F_COUPLERS = [
    [
        "coupler_knuckle",
        "knuckle_pin_cotter",
        "coupler_yoke",
        "coupler_yoke_key_bolts",
        "uncoupling_lever_chain",
        "angle_cock_handle",
    ],
    [
        "draft_gear_cover",
        "coupler_carrier_bolts",
        "brake_pipe_hose",
        "end_beam_step_bolts",
        "coupler_knuckle",
        "knuckle_pin_cotter",
    ],
]
_F_UNDER = [
    "brake_cylinder",
    "brake_cylinder_bolts",
    "slack_adjuster",
    "dust_collector_cover",
    "brake_pipe_hose",
    "body_bolster_bolts",
]
_E_SIDE = [
    [
        "emu_axle_box",
        "emu_axle_box_cover_bolts",
        "primary_spring",
        "yaw_damper",
        "yaw_damper_seat_bolts",
        "skirt_panel",
    ],
    [
        "emu_axle_box",
        "primary_spring",
        "vertical_damper",
        "air_spring_seat_bolts",
        "grounding_cable",
        "speed_sensor_cable",
    ],
]
_E_UNDER = [
    [
        "equipment_box_cover",
        "battery_box_cover",
        "motor_power_cable",
        "main_air_pipe_hose",
        "sand_pipe_hose",
        "balise_antenna_bolts",
    ],
    [
        "equipment_box_cover",
        "skirt_panel",
        "grounding_cable",
        "main_air_pipe_hose",
        "emu_brake_hose",
        "speed_sensor_cable",
    ],
]
_E_MOTOR = [
    [
        "traction_motor_housing",
        "traction_motor_mount_bolts",
        "gearbox_housing",
        "gearbox_hanger_bolts",
        "traction_rod",
        "anti_roll_bar",
    ],
    [
        "brake_caliper_pad",
        "brake_disc_bolts",
        "brake_caliper_pin_cotter",
        "emu_brake_hose",
        "lateral_damper",
        "motor_power_cable",
    ],
]
_E_TRAILER = [
    [
        "brake_caliper_pad",
        "brake_disc_bolts",
        "brake_caliper_pin_cotter",
        "traction_rod",
        "anti_roll_bar",
        "lateral_damper",
    ],
    [
        "brake_caliper_pad",
        "brake_disc_bolts",
        "emu_brake_hose",
        "grounding_cable",
        "speed_sensor_cable",
        "yaw_damper_seat_bolts",
    ],
]
_E_COUPLERS = [
    ["emu_coupler_head", "emu_coupler_bolts", "main_air_pipe_hose", "motor_power_cable"],
    ["emu_coupler_head", "emu_coupler_bolts", "skirt_panel", "grounding_cable"],
]


def _freight(body: list[str]) -> dict[str, list[list[str]]]:
    return {
        "left_side": _F_SIDE,
        "right_side": _F_SIDE,
        "underbody": [_F_UNDER, ["brake_rod", "brake_lever_pin_cotter", *body]],
        "front_bogie": _F_BOGIE,
        "rear_bogie": _F_BOGIE,
        "couplers": _F_COUPLERS,
    }


def _emu(bogie: list[list[str]]) -> dict[str, list[list[str]]]:
    return {
        "left_side": _E_SIDE,
        "right_side": _E_SIDE,
        "underbody": _E_UNDER,
        "front_bogie": bogie,
        "rear_bogie": _E_TRAILER,
        "couplers": _E_COUPLERS,
    }


#: vehicle class -> station -> frames -> component in each window (the station layout).
LAYOUTS: dict[str, dict[str, list[list[str]]]] = {
    "C70": _freight(["bottom_door_lock_bolts", "door_hinge_bolts", "body_bolster_bolts"]),
    "P70": _freight(["door_hinge_bolts", "end_beam_step_bolts", "dust_collector_cover"]),
    "X70": _freight(["container_twist_lock", "end_beam_step_bolts", "body_bolster_bolts"]),
    "G70": _freight(["tank_discharge_valve_cover", "tank_band_bolts", "brake_pipe_hose"]),
    "CRH_M": _emu(_E_MOTOR),
    "CRH_T": _emu(_E_TRAILER),
}
VEHICLE_CLASSES = tuple(LAYOUTS)
FREIGHT = ("C70", "P70", "X70", "G70")
#: A *slot*: the same component of the same vehicle class, seen in the same window by a fixed
#: station on every car ("vehicle_class/component", 192 of them). The models compare a crop with
#: its slot's normal look (a reference table inside the ONNX graph, selected by slot index).
SLOTS: tuple[str, ...] = tuple(
    sorted(
        {
            f"{vc}/{comp}"
            for vc, stations in LAYOUTS.items()
            for frames in stations.values()
            for comps in frames
            for comp in comps
        }
    )
)


def slot_key(vehicle_class: str, component: str) -> str:
    """The slot of a component window of a car of ``vehicle_class``."""
    return f"{vehicle_class}/{component}"


@dataclass
class Frame:
    """One station image of one car, with the truth of each window (None: intact)."""

    station: str
    number: int
    components: list[str]
    faults: list[str | None]
    image: np.ndarray | None = None  # uint8 FRAME_H x FRAME_W
    file: str | None = None


@dataclass
class Car:
    index: int
    vehicle_class: str
    number: str
    frames: list[Frame] = field(default_factory=list)


@dataclass
class Train:
    train_id: str
    cars: list[Car]
    errors: list[dict[str, str]] = field(default_factory=list)

    def frames(self) -> Iterable[tuple[Car, Frame]]:
        for car in self.cars:
            for frame in car.frames:
                yield car, frame


#: Standard deviation (rad) of each nut's anti-loosening mark around its group's direction. A
#: normal nut's stripe is continuous across nut and seat whatever this draw; a loose nut's is
#: turned 0.8-1.6 rad against its seat (render._bolt). Every frame uses this spread; only the
#: classifier's training frames may ask for a wider one (``train --train-mark-spread``).
MARK_SPREAD = 0.15


def _geometry(
    component: str,
    vehicle_class: str,
    rng: np.random.Generator,
    mark_spread: float = MARK_SPREAD,
) -> dict[str, Any]:
    """The component's look in this vehicle class (fixed) plus this instance's jitter
    (``mark_spread``: the paint marks' spread, rad; see MARK_SPREAD)."""
    digest = hashlib.sha256(f"{component}/{vehicle_class}".encode()).digest()
    fixed = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return {
        "cx": 32 + float(rng.normal(0, 1.0)),
        "cy": 32 + float(rng.normal(0, 1.0)),
        "angle": float(fixed.uniform(-0.6, 0.6) + rng.normal(0, 0.05)),
        "tone": float(fixed.uniform(0.4, 0.52) + rng.normal(0, 0.02)),
        "count": int(fixed.integers(2, 5)),
        # anti-loosening marks are painted the same way across a group (here: roughly
        # perpendicular to the row of nuts, never across a neighbour), each nut within ~10 deg
        "marks": [
            float(m)
            for m in fixed.choice([-1, 1]) * math.pi / 2
            + fixed.uniform(-0.5, 0.5)
            + rng.normal(0, mark_spread, 4)
        ],
    }


@lru_cache(maxsize=32)
def _interp_matrix(n: int, cells: int) -> np.ndarray:
    """Rows of bilinear weights taking ``cells`` grid values to ``n`` samples."""
    pos = np.linspace(0, cells - 1, n)
    lo = np.minimum(pos.astype(int), cells - 2)
    frac = pos - lo
    m = np.zeros((n, cells), np.float32)
    m[np.arange(n), lo] = 1 - frac
    m[np.arange(n), lo + 1] = frac
    return m


def smooth_noise(h: int, w: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Bilinearly upsampled Gaussian grid: low-frequency texture in [-1, 1]-ish."""
    gh, gw = cells + 1, max(2, int(cells * w / h) + 1)
    grid = rng.normal(0, 1, (gh, gw)).astype(np.float32)
    return _interp_matrix(h, gh) @ grid @ _interp_matrix(w, gw).T


def render_frame(
    frame: Frame,
    vehicle_class: str,
    rng: np.random.Generator,
    mark_spread: float = MARK_SPREAD,
) -> np.ndarray:
    """Draw a station frame: background, components (with their faults), then nuisances
    (``mark_spread``: the paint marks' spread, rad; only training frames change it)."""
    h, w = FRAME_H, FRAME_W
    img = 0.3 + float(rng.uniform(-0.05, 0.05)) + 0.05 * smooth_noise(h, w, 4, rng)
    for _ in range(int(rng.integers(1, 4))):  # beams and frame members behind the parts
        y = int(rng.integers(0, h - 12))
        img[y : y + int(rng.integers(4, 12))] += float(rng.uniform(-0.08, 0.1))
    dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
    for (x0, y0), comp, fault in zip(WINDOWS, frame.components, frame.faults, strict=False):
        spec = BY_NAME[comp]
        view = img[y0 + dy : y0 + dy + CROP, x0 + dx : x0 + dx + CROP]
        geometry = _geometry(comp, vehicle_class, rng, mark_spread)
        draw_component(view, spec.family, geometry, fault, rng)
    grime = float(rng.uniform(0.0, 0.35))
    img *= 1 - grime * np.clip(smooth_noise(h, w, 6, rng), 0, None) / 2
    if rng.random() < 0.3:  # diffuse oil smears on the underframe (not a leak at a seal)
        smear = np.clip(smooth_noise(h, w, 8, rng) - 1.0, 0, None)
        img *= 1 - float(rng.uniform(0.15, 0.35)) * np.clip(smear, 0, 1)
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    light = 1 + float(rng.uniform(-0.25, 0.25)) * gx + float(rng.uniform(-0.2, 0.2)) * gy
    img *= light * (1 - float(rng.uniform(0, 0.2)) * (gx**2 + gy**2) / 2)
    k = int(rng.integers(1, 4))  # residual motion blur along travel (line scan), k px
    if k > 1:
        padded = np.pad(img, ((0, 0), (k, 0)), mode="edge")
        c = np.cumsum(padded, axis=1)
        img = (c[:, k:] - c[:, :-k]) / k
    img = img + rng.normal(0, float(rng.uniform(0.008, 0.03)), img.shape)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def crop_windows(image: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` 64 x 64 component windows of a station frame (nominal positions)."""
    return np.stack([image[y : y + CROP, x : x + CROP] for x, y in WINDOWS[:count]])


def make_train(
    seed: int,
    cars: int | None = None,
    fault_rate: float = 0.004,
    kind: str | None = None,
    catalogue: Catalogue | None = None,
    modes: tuple[str, ...] | None = None,
    render: bool = True,
) -> Train:
    """A train pass: a sequence of cars, each with 12 station frames and their truth.

    Args:
        seed: everything (classes, faults, nuisances) follows from it.
        cars: number of cars (default: 20-40 freight cars or an 8-car EMU).
        fault_rate: probability that a component window shows a fault.
        kind: "freight" or "emu" (default: drawn, 3 freight trains to 1 EMU).
        catalogue: fault types that may be injected (default: the shipped catalogue).
        modes: restrict injected faults to these modes.
        render: False skips drawing (truth only).
    """
    rng = np.random.default_rng([seed, 1])  # composition and faults
    draw = np.random.default_rng([seed, 2])  # pixels: render=False gives the same truth
    cat = catalogue or load_catalogue()
    kind = kind or ("emu" if rng.random() < 0.25 else "freight")
    n = cars or (8 if kind == "emu" else int(rng.integers(20, 41)))
    if kind == "emu":
        classes = ["CRH_M" if i % 2 == 0 else "CRH_T" for i in range(n)]
    else:
        main = str(rng.choice(FREIGHT))
        classes = [main if rng.random() < 0.8 else str(rng.choice(FREIGHT)) for _ in range(n)]
    train = Train(f"T{seed:05d}", [])
    for i, vc in enumerate(classes, start=1):
        car = Car(i, vc, f"{vc}-{int(rng.integers(1_000_000, 9_999_999))}")
        for station in STATIONS:
            for number, comps in enumerate(LAYOUTS[vc][station], start=1):
                faults: list[str | None] = []
                for comp in comps:
                    options = [m for m in cat.modes_of(comp) if modes is None or m in modes]
                    hit = options and rng.random() < fault_rate
                    faults.append(str(rng.choice(options)) if hit else None)
                frame = Frame(station, number, list(comps), faults)
                if render:
                    frame.image = render_frame(frame, vc, draw)
                car.frames.append(frame)
        train.cars.append(car)
    return train


MANIFEST = "manifest.json"
LABELS = "labels.json"


def save_train(train: Train, folder: Path, labels: bool = True) -> Path:
    """Write a pass the way a trackside site delivers one: PNG frames and a manifest
    (and, for training, ``labels.json`` with the faults each window shows)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    cars, truth = [], []
    for car in train.cars:
        frames = []
        for frame in car.frames:
            name = f"car{car.index:02d}_{frame.station}_{frame.number}.png"
            assert frame.image is not None
            Image.fromarray(frame.image, mode="L").save(folder / name)
            frames.append({"file": name, "station": frame.station, "frame": frame.number})
            truth += [
                {"file": name, "window": k, "component": c, "fault": f}
                for k, (c, f) in enumerate(zip(frame.components, frame.faults, strict=True))
                if f is not None
            ]
        cars.append(
            {
                "index": car.index,
                "vehicle_class": car.vehicle_class,
                "number": car.number,
                "frames": frames,
            }
        )
    doc = {"format": "agentarts-rail-pass/1", "train_id": train.train_id, "cars": cars}
    (folder / MANIFEST).write_text(json.dumps(doc, indent=1))
    if labels:
        (folder / LABELS).write_text(json.dumps({"faults": truth}, indent=1))
    return folder / MANIFEST
