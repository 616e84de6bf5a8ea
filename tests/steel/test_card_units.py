"""The steel models' cards state each input tag's unit (they held name fragments: "thm", "min")."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agentarts.industries.steel.onnx_export import TAG_UNITS
from agentarts.industries.steel.simulator import TAGS

MODELS = Path(__file__).resolve().parents[2] / "industries" / "steel" / "models"


@pytest.mark.parametrize("model", ["bf_thermal", "bf_abnormal"])
def test_shipped_card_units(model: str) -> None:
    card = tomllib.loads((MODELS / model / "model.toml").read_text())
    (x,) = card["inputs"]
    assert x["features"] == list(TAGS)
    assert x["unit"] == [TAG_UNITS[t] for t in TAGS]
    by_tag = dict(zip(x["features"], x["unit"], strict=True))
    assert by_tag["coke_rate_kg_thm"] == "kg/tHM"
    assert by_tag["blast_volume_nm3_min"] == "Nm3/min"
    assert by_tag["hmt_c"] == "degC"


def test_write_cards_writes_the_units(tmp_path: Path) -> None:
    from agentarts.industries.steel.onnx_export import write_cards

    norm = {"mean": [0.0] * len(TAGS), "std": [1.0] * len(TAGS)}
    write_cards(tmp_path, norm, [0.0, 0.0], [1.0, 1.0], {"bf_thermal": {}}, {}, ("bf_thermal",))
    card = tomllib.loads((tmp_path / "bf_thermal" / "model.toml").read_text())
    assert card["inputs"][0]["unit"] == [TAG_UNITS[t] for t in TAGS]
