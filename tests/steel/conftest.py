"""Steel-pack fixtures: a history CSV written from the simulator."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agentarts.industries.steel.simulator import TAGS, BlastFurnace


def write_history(
    path: Path, rows: int = 48, seed: int = 11, rename: dict[str, str] | None = None
) -> Path:
    furnace = BlastFurnace(seed)
    rename = rename or {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", *[rename.get(t, t) for t in TAGS]])
        for i in range(rows):
            r = furnace.step()
            writer.writerow([f"2026-11-27T{i // 6:02d}:{(i % 6) * 10:02d}", *r.tags()])
    return path


@pytest.fixture
def history(tmp_path) -> Path:
    return write_history(tmp_path / "history.csv")
