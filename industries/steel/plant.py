"""Where plant data comes from: the live simulator, or a historian export (CSV).

History files: one row per 10-minute sample, a time column, and one column per tag, named as in
``TAGS`` or mapped with ``[steel.tags]`` in agentarts.toml (``hmt_c = "BF2_HMT"``). Rules:
- a missing tag, a non-numeric cell or a value outside the tag's physical range is an error
  naming the tag and the row (a temperature in kelvin is caught this way);
- gaps (empty cells / NaN) of up to 3 consecutive samples (30 min) are filled by linear
  interpolation between the neighbours; a longer gap, or one at the end of the file, is an
  error naming the tag and the rows: the agent never predicts from invented data.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentarts.errors import InvalidInputError
from agentarts.industries.steel.features import WINDOW
from agentarts.industries.steel.simulator import TAGS, BlastFurnace, Reading, Setpoints

__all__ = ["MAX_GAP", "RANGES", "LivePlant", "load_history", "plant"]

MAX_GAP = 3
#: Physically possible values per tag (outside: wrong unit or a broken sensor).
RANGES: dict[str, tuple[float, float]] = {
    "hmt_c": (1300, 1650),
    "si_pct": (0.0, 2.5),
    "eta_co": (0.3, 0.6),
    "top_gas_temp_c": (20, 450),
    "pressure_drop_kpa": (50, 300),
    "stave_lower_c": (10, 200),
    "stave_upper_c": (10, 300),
    "blast_moisture_g_nm3": (0, 60),
    "coke_rate_kg_thm": (200, 500),
    "pci_rate_kg_thm": (0, 300),
    "blast_temp_c": (800, 1350),
    "oxygen_enrichment_pct": (0, 15),
    "blast_volume_nm3_min": (2000, 12000),
    "steam_g_nm3": (0, 60),
}


def load_history(path: Path | str, tag_map: Mapping[str, str] | None = None) -> list[list[float]]:
    """Rows of TAGS values from a CSV export, validated and gap-filled (see module doc)."""
    path = Path(path)
    mapping = {tag: (tag_map or {}).get(tag, tag) for tag in TAGS}
    if path.exists() and not path.is_file():
        raise InvalidInputError(f"{path}: not a regular file (a CSV export is needed)")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [f"{t} (column {c!r})" for t, c in mapping.items() if c not in header]
            if missing:
                raise InvalidInputError(f"{path.name}: missing tags: {', '.join(missing)}")
            raw = list(reader)
    except OSError as exc:
        raise InvalidInputError(f"{path}: {exc.strerror}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path.name}: not a readable CSV file ({exc})") from exc
    if len(raw) < WINDOW:
        raise InvalidInputError(
            f"{path.name}: {len(raw)} rows; the models need {WINDOW} (6 h at 10 min)"
        )
    columns: dict[str, list[float | None]] = {}
    for tag, column in mapping.items():
        lo, hi = RANGES[tag]
        values: list[float | None] = []
        for i, row in enumerate(raw, start=2):  # row 1 is the header
            cell = (row.get(column) or "").strip()
            if cell == "" or cell.lower() == "nan":
                values.append(None)
                continue
            try:
                value = float(cell)
            except ValueError:
                raise InvalidInputError(
                    f"{path.name}: tag {tag} row {i}: {cell!r} is not a number"
                ) from None
            if not lo <= value <= hi:
                raise InvalidInputError(
                    f"{path.name}: tag {tag} row {i}: {value:g} is outside "
                    f"[{lo:g}, {hi:g}] (wrong unit?)"
                )
            values.append(value)
        columns[tag] = _fill_gaps(values, tag, path.name)
    return [[columns[t][i] for t in TAGS] for i in range(len(raw))]  # type: ignore[misc]


def _fill_gaps(values: list[float | None], tag: str, name: str) -> list[float]:
    out = list(values)
    i = 0
    while i < len(out):
        if out[i] is not None:
            i += 1
            continue
        j = i
        while j < len(out) and out[j] is None:
            j += 1
        rows = f"rows {i + 2}-{j + 1}" if j - i > 1 else f"row {i + 2}"
        if i == 0 or j == len(out) or j - i > MAX_GAP:
            raise InvalidInputError(
                f"{name}: tag {tag} {rows}: gap of {j - i} samples cannot "
                f"be filled (at most {MAX_GAP} between two values)"
            )
        a, b = out[i - 1], out[j]
        for k in range(i, j):
            out[k] = a + (b - a) * (k - i + 1) / (j - i + 1)  # type: ignore[operator]
        i = j
    return out  # type: ignore[return-value]


class LivePlant:
    """The plant the tools talk to: the simulator (demo) or replayed history rows."""

    def __init__(self) -> None:
        self.furnace: BlastFurnace | None = None
        self.window: deque[list[float]] = deque(maxlen=WINDOW)
        self.last: Reading | None = None
        self.setpoints = Setpoints()
        self.steps_since_move = 99
        self.normal_steps = 99  # samples since the detector last confirmed an abnormal state
        self.candidate = "normal"  # the detector's unconfirmed state of the previous sample
        self.forecast_outside = False  # the forecast-out-of-band alert is raised on entry
        self.escalated = False

    def confirm(self, state: str) -> str:
        """The detector's state, confirmed by two consecutive samples (else "normal")."""
        confirmed = state if state != "normal" and state == self.candidate else "normal"
        self.candidate = state
        self.normal_steps = 0 if confirmed != "normal" else self.normal_steps + 1
        return confirmed

    def connect_simulator(self, furnace: BlastFurnace) -> None:
        self.furnace = furnace
        self.setpoints = furnace.setpoints
        self.window.clear()
        self.steps_since_move = self.normal_steps = 99
        self.candidate = "normal"
        self.forecast_outside = self.escalated = False

    def load_rows(self, rows: list[list[float]]) -> None:
        self.furnace = None
        self.window.clear()
        self.window.extend(rows[-WINDOW:])
        last = rows[-1]
        self.setpoints = Setpoints(*last[8:])

    def advance(self) -> Reading:
        """One 10-minute step of the connected simulator."""
        if self.furnace is None:
            raise InvalidInputError("no simulator connected")
        self.last = self.furnace.step(self.setpoints)
        self.window.append(self.last.tags())
        self.steps_since_move += 1
        return self.last

    def snapshot(self) -> dict[str, Any]:
        if not self.window and self.furnace is None:
            raise InvalidInputError(
                "no plant data: no live plant is connected and no history was given; pass "
                'the input {"source": "<historian CSV export>"} (see data/sample_history.csv)'
            )
        if len(self.window) < WINDOW:
            raise InvalidInputError(
                f"only {len(self.window)} samples of the {WINDOW} the models need"
            )
        rows = list(self.window)
        return {tag: [row[i] for row in rows] for i, tag in enumerate(TAGS)}

    def apply(self, setpoints: Setpoints) -> Setpoints:
        self.setpoints = setpoints.clipped()
        if self.furnace is not None:
            self.furnace.setpoints = self.setpoints
        self.steps_since_move = 0
        return self.setpoints


#: The plant of this process (the demo connects the simulator; a deployment its historian).
plant = LivePlant()
