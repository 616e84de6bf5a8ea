"""Simulated Huawei Ascend NPUs: published profiles, HBM accounting and model placement.

Figures and where they come from (every one is a dataclass field, so a user profile file can
override it; see docs/sources.md, "Ascend devices"):

- Cube unit: 16x16x16 FP16 MACs per cycle per AI core (Ascend 910, Hot Chips 31, 2019).
- 910B2: 24 cube cores, 48 vector cores, cube clock 1.8 GHz (CANN's Ascend910B2.ini), so
  24 x 4096 x 2 x 1.8 GHz = 353.9 TFLOPS FP16; INT8 twice that; 64 GB HBM; L2 192 MiB.
  HBM bandwidth is not published by Huawei; third parties give 0.4-1.6 TB/s, 1.2 most often.
- 910B4: 20 cube / 40 vector cores, 32 GB HBM, L2 96 MiB; clock 1.5 GHz (unverified).
- 910C: two 910B-class dies, ~128 GB HBM, ~3.2 TB/s (analyst estimate): modelled as 48 cores
  at 1.8 GHz (~708 TFLOPS FP16, in the reported 750-800 band's lower part).
- 310P (Atlas 300I Duo, 2 chips per card): 280 TOPS INT8 and 408 GB/s LPDDR4X per card,
  96 GB; modelled as one device per card, 140 FP16 TFLOPS (INT8 / 2).

Assumptions (no public figure exists; configurable, state them when quoting a result):
- Vector unit: 2048-bit SIMD per vector core (Hot Chips 31 "Vector Unit 2048 bit"), so 128
  FP16 or 64 FP32 lanes per cycle, one op per lane per cycle.
- Per-operator launch overhead 5 us; sustained efficiency 0.9 (compute) and 0.8 (memory); an
  L2 roof of 4x HBM bandwidth when a node's working set fits in L2.
- FP32 matrix work runs on the cube at half the FP16 rate (HF32 on 910B; ATC's default
  precision mode casts FP32 cube work to FP16 anyway).
Results are roofline estimates, never measurements, until calibrated on real hardware.
"""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from agentarts.errors import ConfigError, DeviceOutOfMemoryError

__all__ = ["PROFILES", "DeviceCard", "DevicePool", "DeviceProfile", "parse_devices"]

GB = 1_000_000_000
MIB = 1024 * 1024


def human_bytes(n: float) -> str:
    """``1234567`` -> ``"1.23 MB"`` (decimal units, as HBM capacities are quoted)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"  # pragma: no cover


@dataclass(frozen=True)
class DeviceProfile:
    """Figures of one simulated NPU. Rates are per device."""

    name: str
    cube_cores: int
    vector_cores: int
    clock_ghz: float
    hbm_bytes: int
    hbm_bandwidth_tbs: float
    l2_bytes: int
    cube_macs_per_cycle: int = 16 * 16 * 16
    vector_bits: int = 2048
    launch_overhead_us: float = 5.0
    compute_efficiency: float = 0.9
    memory_efficiency: float = 0.8
    l2_bandwidth_factor: float = 4.0
    fp32_cube_ratio: float = 0.5
    int8_cube_ratio: float = 2.0
    source: str = ""

    def cube_flops(self, precision: str = "fp16") -> float:
        """Peak cube FLOP/s (a MAC is two FLOPs) for a precision."""
        base = self.cube_cores * self.cube_macs_per_cycle * 2 * self.clock_ghz * 1e9
        return (
            base
            * {
                "fp16": 1.0,
                "bf16": 1.0,
                "fp32": self.fp32_cube_ratio,
                "int8": self.int8_cube_ratio,
            }[precision]
        )

    def vector_flops(self, precision: str = "fp16") -> float:
        """Peak vector op/s: lanes per cycle x vector cores x clock."""
        bits = {"fp16": 16, "bf16": 16, "fp32": 32, "int8": 8}[precision]
        return self.vector_cores * (self.vector_bits // bits) * self.clock_ghz * 1e9

    @property
    def hbm_bandwidth(self) -> float:
        return self.hbm_bandwidth_tbs * 1e12

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "peak_fp16_tflops": round(self.cube_flops("fp16") / 1e12, 1),
            "peak_int8_tops": round(self.cube_flops("int8") / 1e12, 1),
        }


PROFILES: dict[str, DeviceProfile] = {
    "910B2": DeviceProfile(
        "910B2",
        cube_cores=24,
        vector_cores=48,
        clock_ghz=1.8,
        hbm_bytes=64 * GB,
        hbm_bandwidth_tbs=1.2,
        l2_bytes=192 * MIB,
        source="CANN Ascend910B2.ini (cores, clock, caches); HBM bandwidth: third-party 1.2 TB/s",
    ),
    "910B4": DeviceProfile(
        "910B4",
        cube_cores=20,
        vector_cores=40,
        clock_ghz=1.5,
        hbm_bytes=32 * GB,
        hbm_bandwidth_tbs=0.8,
        l2_bytes=96 * MIB,
        source="public 910B4 specs (20/40 cores, 32 GB); clock and bandwidth unverified",
    ),
    "910C": DeviceProfile(
        "910C",
        cube_cores=48,
        vector_cores=96,
        clock_ghz=1.8,
        hbm_bytes=128 * GB,
        hbm_bandwidth_tbs=3.2,
        l2_bytes=384 * MIB,
        source="two 910B-class dies; 128 GB and 3.2 TB/s are analyst estimates",
    ),
    "310P": DeviceProfile(
        "310P",
        cube_cores=10,
        vector_cores=10,
        clock_ghz=1.71,
        hbm_bytes=96 * GB,
        hbm_bandwidth_tbs=0.408,
        l2_bytes=16 * MIB,
        source="Atlas 300I Duo card: 280 TOPS INT8, 96 GB LPDDR4X at 408 GB/s, 150 W",
    ),
}


def load_profiles(path: Path) -> dict[str, DeviceProfile]:
    """User profiles from a TOML file: ``[profiles.NAME]`` tables, optionally ``base = "910B2"``."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"device profile file {path}: {exc}") from exc
    known = {f.name for f in fields(DeviceProfile)}
    out: dict[str, DeviceProfile] = {}
    for name, table in doc.get("profiles", {}).items():
        base_name = table.pop("base", None)
        unknown = set(table) - known
        if unknown:
            raise ConfigError(f"{path}: profile {name!r} has unknown fields {sorted(unknown)}")
        if base_name:
            if base_name not in PROFILES:
                raise ConfigError(f"{path}: profile {name!r} bases on unknown {base_name!r}")
            out[name] = replace(PROFILES[base_name], name=name, **table)
        else:
            try:
                out[name] = DeviceProfile(name=name, **table)
            except TypeError as exc:
                raise ConfigError(f"{path}: profile {name!r}: {exc}") from exc
    return out


_SPEC = re.compile(r"^\s*([A-Za-z0-9_.-]+?)(?:\s*[xX*]\s*(\d+))?\s*$")


def parse_devices(
    spec: str, profiles: dict[str, DeviceProfile] | None = None
) -> list[DeviceProfile]:
    """``"910B2x8"`` or ``"910B2x4,310Px2"`` -> a list of profiles, one per card."""
    table = {**PROFILES, **(profiles or {})}
    cards: list[DeviceProfile] = []
    for part in spec.split(","):
        match = _SPEC.match(part)
        if not match or match.group(1) not in table:
            raise ConfigError(
                f"device spec {part.strip()!r} is not NAME or NAMExCOUNT with NAME in "
                f"{sorted(table)}"
            )
        count = int(match.group(2) or 1)
        if not 1 <= count <= 4096:
            raise ConfigError(f"device count in {part.strip()!r} must be 1..4096")
        cards += [table[match.group(1)]] * count
    return cards


@dataclass
class DeviceCard:
    """One simulated card: its profile, what is loaded, and its simulated busy time."""

    index: int
    profile: DeviceProfile
    reservations: dict[str, int] = field(default_factory=dict)

    @property
    def used_bytes(self) -> int:
        return sum(self.reservations.values())

    @property
    def free_bytes(self) -> int:
        return self.profile.hbm_bytes - self.used_bytes


class DevicePool:
    """Cards of a server; places models on the card with the most free HBM (spreading them)."""

    def __init__(self, profiles: list[DeviceProfile]) -> None:
        if not profiles:
            raise ConfigError("a device pool needs at least one card")
        self.cards = [DeviceCard(i, p) for i, p in enumerate(profiles)]
        self._lock = threading.Lock()

    def reserve(self, key: str, nbytes: int) -> DeviceCard:
        """Reserve ``nbytes`` for ``key`` on the card with the most free memory."""
        with self._lock:
            card = max(self.cards, key=lambda c: (c.free_bytes, -c.index))
            if nbytes > card.free_bytes:
                raise DeviceOutOfMemoryError(
                    f"cannot load {key}: needs {human_bytes(nbytes)} of device memory (weights "
                    f"and activations at max batch); the freest card (#{card.index}, "
                    f"{card.profile.name}) has {human_bytes(card.free_bytes)} free of "
                    f"{human_bytes(card.profile.hbm_bytes)}"
                )
            card.reservations[key] = nbytes
            return card

    def release(self, key: str) -> None:
        with self._lock:
            for card in self.cards:
                card.reservations.pop(key, None)

    def describe(self, busy_us: dict[int, float] | None = None) -> list[dict[str, Any]]:
        """One row per card; ``busy_us`` maps card index to simulated busy time."""
        busy_us = busy_us or {}
        with self._lock:
            return [
                {
                    "index": c.index,
                    "profile": c.profile.name,
                    "hbm_total_bytes": c.profile.hbm_bytes,
                    "hbm_used_bytes": c.used_bytes,
                    "busy_us": round(busy_us.get(c.index, 0.0), 1),
                    "models": sorted(c.reservations),
                    "peak_fp16_tflops": round(c.profile.cube_flops() / 1e12, 1),
                    "hbm_bandwidth_tbs": c.profile.hbm_bandwidth_tbs,
                }
                for c in self.cards
            ]
