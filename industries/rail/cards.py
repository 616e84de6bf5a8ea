"""Model cards of the rail pack's ONNX models, written as TOML by hand (the standard library
reads TOML but does not write it): values, tables and the ``slot`` input every rail model
declares."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from agentarts.industries.rail.generator import SLOTS

__all__ = ["slot_input_toml", "toml_lines", "toml_value", "write_lookup_card"]


def _present(v: Any) -> bool:
    """TOML has no null or NaN: such entries are left out of the card."""
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def toml_value(v: Any) -> str:
    if isinstance(v, dict):
        items = [(k, x) for k, x in v.items() if _present(x)]
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in items) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def toml_lines(values: dict[str, Any]) -> str:
    """``key = value`` lines of a card table (values that are absent or NaN left out)."""
    return "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items() if _present(v))


def slot_input_toml(description: str = "slot index (vehicle class / component)") -> str:
    """The ``slot`` input every rail model card declares (features: the slot names)."""
    return f"""[[inputs]]
name = "slot"
description = "{description}"
features = {toml_value(list(SLOTS))}
valid_range = [0, {len(SLOTS) - 1}]
"""


def write_lookup_card(folder: Path, description: str, provenance: dict) -> None:
    """The card of a slot -> 64 x 64 registration template lookup model."""
    (folder / "model.toml").write_text(
        f"""description = "{description}"
task = "lookup"
precision = "fp16"

{slot_input_toml()}
[[outputs]]
name = "reference"
description = "64 x 64 template the padded window is aligned to (slots.register)"

[batching]
max_batch_size = 256

[provenance]
{toml_lines(provenance)}
"""
    )
