"""The rail fault catalogue: component kinds x fault modes, each with a criticality.

A *fault type* is one component kind at one location (``brake_shoe_key_cotter``,
``yaw_damper``...) with one fault mode (``missing``, ``loose``, ``crack``...). Real trackside
catalogues are written the same way (TFDS/TEDS fault lists name the part and what is wrong with
it); the Pangu railway model covers 430+ such types, high-speed inspection robots 350.

Criticality follows the recall-first rule of trackside inspection:

* **critical**: the car must not run on (set it out of the train): a missing, broken or cracked
  part of the running gear, the coupling or a brake part that can fall on the track;
* **major**: repair on site before departure or at the next depot (loose, displaced, leaking,
  deformed parts, worn brake shoes, foreign objects in the running gear);
* **minor**: record and re-check at the next scheduled inspection.

These rules are an assumption of this pack, written out so a railway can replace them: the
shipped ``catalogue.toml`` lists every fault type with its criticality, and a project's own copy
(``agentarts.toml`` ``[rail] catalogue = "catalogue.toml"``) may change any criticality or
remove the types it does not inspect.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentarts.errors import ConfigError

__all__ = [
    "COMPONENTS",
    "CRITICALITIES",
    "FAMILY_MODES",
    "MODES",
    "Catalogue",
    "Component",
    "FaultType",
    "build_catalogue",
    "load_catalogue",
    "project_catalogue",
]

CATALOGUE_VERSION = "1.0.0"
CATALOGUE_FILE = Path(__file__).parent / "catalogue.toml"

MODES = (
    "missing",
    "loose",
    "broken",
    "crack",
    "foreign_object",
    "leaking",
    "deformed",
    "worn",
    "displaced",
)
CRITICALITIES = ("critical", "major", "minor")

#: Fault modes each drawing family can show (what can physically go wrong with it).
FAMILY_MODES: dict[str, tuple[str, ...]] = {
    "bolt_group": ("missing", "loose", "broken", "crack", "foreign_object", "deformed"),
    "cotter_pin": ("missing", "broken", "loose", "deformed", "foreign_object"),
    "brake_shoe": ("missing", "worn", "crack", "broken", "displaced", "foreign_object"),
    "spring": ("missing", "broken", "crack", "displaced", "deformed", "foreign_object"),
    "axle_box": ("leaking", "crack", "loose", "missing", "deformed", "foreign_object", "broken"),
    "coupler": ("crack", "broken", "missing", "deformed", "worn", "foreign_object", "displaced"),
    "cable": ("broken", "loose", "worn", "missing", "foreign_object", "displaced"),
    "cover": ("missing", "deformed", "crack", "loose", "foreign_object", "leaking", "broken"),
    "rod": ("broken", "deformed", "crack", "missing", "worn", "foreign_object", "displaced"),
    "hose": ("leaking", "broken", "missing", "worn", "loose", "foreign_object", "deformed"),
    "damper": ("leaking", "broken", "missing", "loose", "crack", "deformed", "foreign_object"),
}

#: Safety role -> mode -> criticality (the default rules, see the module docstring).
ROLE_RULES: dict[str, dict[str, str]] = {
    "running_gear": {
        "missing": "critical",
        "broken": "critical",
        "crack": "critical",
        "loose": "major",
        "displaced": "major",
        "deformed": "major",
        "leaking": "major",
        "foreign_object": "major",
        "worn": "minor",
    },
    "coupling": {
        "missing": "critical",
        "broken": "critical",
        "crack": "critical",
        "displaced": "critical",
        "loose": "major",
        "deformed": "major",
        "worn": "major",
        "leaking": "major",
        "foreign_object": "major",
    },
    "brake": {
        "missing": "critical",
        "broken": "critical",
        "crack": "major",
        "worn": "major",
        "loose": "major",
        "displaced": "major",
        "deformed": "major",
        "leaking": "major",
        "foreign_object": "minor",
    },
    "electrical": {
        "missing": "major",
        "broken": "major",
        "loose": "minor",
        "worn": "minor",
        "displaced": "minor",
        "crack": "minor",
        "deformed": "minor",
        "leaking": "minor",
        "foreign_object": "minor",
    },
    "body": {
        "missing": "major",
        "broken": "major",
        "loose": "minor",
        "crack": "minor",
        "deformed": "minor",
        "leaking": "minor",
        "foreign_object": "minor",
        "worn": "minor",
        "displaced": "minor",
    },
}

# name, family, role: the component kinds of the five vehicle classes' layouts (generator.py).
_COMPONENTS: tuple[tuple[str, str, str], ...] = (
    # freight three-piece bogie (K6/K2-type) and wagon underframe
    ("axle_box_adapter", "axle_box", "running_gear"),
    ("axle_end_cap_bolts", "bolt_group", "running_gear"),
    ("side_frame_column_bolts", "bolt_group", "running_gear"),
    ("bolster_spring_outer", "spring", "running_gear"),
    ("bolster_spring_inner", "spring", "running_gear"),
    ("wedge_spring", "spring", "running_gear"),
    ("side_bearer_bolts", "bolt_group", "running_gear"),
    ("center_plate_bolts", "bolt_group", "running_gear"),
    ("center_pin_cotter", "cotter_pin", "running_gear"),
    ("cross_bar", "rod", "running_gear"),
    ("cross_bar_end_bolts", "bolt_group", "running_gear"),
    ("brake_shoe", "brake_shoe", "brake"),
    ("brake_shoe_key_cotter", "cotter_pin", "brake"),
    ("brake_beam", "rod", "brake"),
    ("brake_beam_strut_cotter", "cotter_pin", "brake"),
    ("brake_lever_pin_cotter", "cotter_pin", "brake"),
    ("brake_rod", "rod", "brake"),
    ("brake_cylinder", "damper", "brake"),
    ("brake_cylinder_bolts", "bolt_group", "brake"),
    ("slack_adjuster", "damper", "brake"),
    ("hand_brake_chain", "cable", "brake"),
    ("brake_pipe_hose", "hose", "brake"),
    ("angle_cock_handle", "rod", "brake"),
    ("dust_collector_cover", "cover", "brake"),
    ("coupler_knuckle", "coupler", "coupling"),
    ("coupler_yoke", "coupler", "coupling"),
    ("coupler_yoke_key_bolts", "bolt_group", "coupling"),
    ("knuckle_pin_cotter", "cotter_pin", "coupling"),
    ("uncoupling_lever_chain", "cable", "coupling"),
    ("draft_gear_cover", "cover", "coupling"),
    ("coupler_carrier_bolts", "bolt_group", "coupling"),
    ("bottom_door_lock_bolts", "bolt_group", "body"),
    ("door_hinge_bolts", "bolt_group", "body"),
    ("tank_discharge_valve_cover", "cover", "body"),
    ("tank_band_bolts", "bolt_group", "body"),
    ("container_twist_lock", "cotter_pin", "body"),
    ("body_bolster_bolts", "bolt_group", "running_gear"),
    ("end_beam_step_bolts", "bolt_group", "body"),
    # EMU (CRH-type) bogie and underbody
    ("emu_axle_box", "axle_box", "running_gear"),
    ("emu_axle_box_cover_bolts", "bolt_group", "running_gear"),
    ("primary_spring", "spring", "running_gear"),
    ("air_spring_seat_bolts", "bolt_group", "running_gear"),
    ("yaw_damper", "damper", "running_gear"),
    ("yaw_damper_seat_bolts", "bolt_group", "running_gear"),
    ("lateral_damper", "damper", "running_gear"),
    ("vertical_damper", "damper", "running_gear"),
    ("traction_rod", "rod", "running_gear"),
    ("anti_roll_bar", "rod", "running_gear"),
    ("traction_motor_housing", "axle_box", "running_gear"),
    ("traction_motor_mount_bolts", "bolt_group", "running_gear"),
    ("gearbox_housing", "axle_box", "running_gear"),
    ("gearbox_hanger_bolts", "bolt_group", "running_gear"),
    ("brake_caliper_pad", "brake_shoe", "brake"),
    ("brake_disc_bolts", "bolt_group", "brake"),
    ("brake_caliper_pin_cotter", "cotter_pin", "brake"),
    ("emu_brake_hose", "hose", "brake"),
    ("grounding_cable", "cable", "electrical"),
    ("speed_sensor_cable", "cable", "electrical"),
    ("motor_power_cable", "cable", "electrical"),
    ("equipment_box_cover", "cover", "body"),
    ("battery_box_cover", "cover", "body"),
    ("skirt_panel", "cover", "body"),
    ("balise_antenna_bolts", "bolt_group", "electrical"),
    ("emu_coupler_head", "coupler", "coupling"),
    ("emu_coupler_bolts", "bolt_group", "coupling"),
    ("main_air_pipe_hose", "hose", "brake"),
    ("sand_pipe_hose", "hose", "body"),
)


@dataclass(frozen=True)
class Component:
    """A component kind at a location, drawn by ``family``, with a safety ``role``."""

    index: int
    name: str
    family: str
    role: str


@dataclass(frozen=True)
class FaultType:
    code: str  # "<component>.<mode>"
    component: str
    mode: str
    criticality: str
    action: str  # "remove_car" | "repair_on_site" | "recheck"


COMPONENTS: tuple[Component, ...] = tuple(
    Component(i, name, family, role) for i, (name, family, role) in enumerate(_COMPONENTS)
)

ACTIONS = {"critical": "remove_car", "major": "repair_on_site", "minor": "recheck"}


@dataclass(frozen=True)
class Catalogue:
    """Fault types by code, and lookups the triage needs."""

    version: str
    types: dict[str, FaultType]

    def get(self, component: str, mode: str) -> FaultType | None:
        return self.types.get(f"{component}.{mode}")

    def modes_of(self, component: str) -> list[str]:
        return [t.mode for t in self.types.values() if t.component == component]

    def worst(self, component: str) -> str:
        """The most severe criticality any fault of ``component`` has (its threshold class)."""
        found = {t.criticality for t in self.types.values() if t.component == component}
        return next((c for c in CRITICALITIES if c in found), "minor")

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(CRITICALITIES, 0)
        for t in self.types.values():
            out[t.criticality] += 1
        return out

    def digest(self) -> str:
        text = json.dumps({k: v.criticality for k, v in sorted(self.types.items())})
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_catalogue() -> Catalogue:
    """The default catalogue from the component table and the role rules."""
    types = {}
    for comp in COMPONENTS:
        for mode in FAMILY_MODES[comp.family]:
            crit = ROLE_RULES[comp.role][mode]
            code = f"{comp.name}.{mode}"
            types[code] = FaultType(code, comp.name, mode, crit, ACTIONS[crit])
    return Catalogue(CATALOGUE_VERSION, types)


def to_toml(catalogue: Catalogue) -> str:
    """The catalogue as the editable TOML file (one table per component)."""
    lines = [
        "# AgentArts rail fault catalogue. Edit criticalities or remove the fault types you do",
        "# not inspect. criticality: critical (set the car out), major (repair on site before",
        "# departure), minor (re-check at the next inspection). Bump version when you edit.",
        f'version = "{catalogue.version}"',
        "",
    ]
    by_comp: dict[str, list[FaultType]] = {}
    for t in catalogue.types.values():
        by_comp.setdefault(t.component, []).append(t)
    family = {c.name: (c.family, c.role) for c in COMPONENTS}
    for name, types in by_comp.items():
        fam, role = family.get(name, ("", ""))
        lines.append(f"[components.{name}]")
        lines.append(f'family = "{fam}"')
        lines.append(f'role = "{role}"')
        lines.append("[components." + name + ".faults]")
        lines += [f'{t.mode} = "{t.criticality}"' for t in types]
        lines.append("")
    return "\n".join(lines)


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Read a catalogue TOML file (default: the shipped one); errors name the file."""
    path = Path(path) if path is not None else CATALOGUE_FILE
    if path == CATALOGUE_FILE and not path.is_file():
        return build_catalogue()
    return _load(str(path))


def project_catalogue() -> Catalogue:
    """The catalogue a project names (``[rail] catalogue`` in agentarts.toml), else the shipped."""
    from agentarts.config import load_settings

    settings = load_settings()
    name = (settings.doc.get("rail") or {}).get("catalogue")
    if not name:
        return load_catalogue()
    path = Path(name)
    if not path.is_absolute() and settings.project_root is not None:
        path = settings.project_root / path
    if not path.is_file():
        raise ConfigError(f"[rail] catalogue: {path} does not exist")
    return load_catalogue(path)


@lru_cache(maxsize=8)
def _load(path_text: str) -> Catalogue:
    path = Path(path_text)
    try:
        doc: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the fault catalogue: {exc}") from exc
    types = {}
    for name, table in (doc.get("components") or {}).items():
        fam = table.get("family")
        if fam not in FAMILY_MODES:
            raise ConfigError(f"{path}: component {name!r} has unknown family {fam!r}")
        for mode, crit in (table.get("faults") or {}).items():
            if mode not in FAMILY_MODES[fam]:
                raise ConfigError(f"{path}: {name}.{mode}: family {fam} cannot show {mode!r}")
            if crit not in CRITICALITIES:
                raise ConfigError(
                    f"{path}: {name}.{mode}: criticality must be one of "
                    f"{list(CRITICALITIES)}, got {crit!r}"
                )
            types[f"{name}.{mode}"] = FaultType(f"{name}.{mode}", name, mode, crit, ACTIONS[crit])
    if not types:
        raise ConfigError(f"{path}: the catalogue lists no fault types")
    return Catalogue(str(doc.get("version", "unversioned")), types)


if (
    __name__ == "__main__"
):  # regenerate the shipped file: python -m agentarts.industries.rail.catalogue
    CATALOGUE_FILE.write_text(to_toml(build_catalogue()))
    print(CATALOGUE_FILE, len(build_catalogue().types), build_catalogue().counts())
