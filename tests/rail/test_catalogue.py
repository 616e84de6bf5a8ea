"""The fault catalogue: size, criticalities, the editable file."""

from __future__ import annotations

import pytest

from agentarts.errors import ConfigError
from agentarts.industries.rail.catalogue import (
    CATALOGUE_FILE,
    COMPONENTS,
    FAMILY_MODES,
    build_catalogue,
    load_catalogue,
)
from agentarts.industries.rail.generator import LAYOUTS


def test_shipped_file_is_the_catalogue_and_big_enough():
    shipped = load_catalogue(CATALOGUE_FILE)
    assert shipped.types == build_catalogue().types
    assert len(shipped.types) >= 350
    counts = shipped.counts()
    assert min(counts.values()) > 40, counts
    assert shipped.version == "1.0.0"


def test_safety_rules():
    cat = build_catalogue()
    assert cat.get("brake_shoe_key_cotter", "missing").criticality == "critical"
    assert cat.get("coupler_knuckle", "crack").criticality == "critical"
    assert cat.get("side_frame_column_bolts", "loose").criticality == "major"
    assert cat.get("battery_box_cover", "foreign_object").criticality == "minor"
    assert cat.get("brake_shoe", "worn").action == "repair_on_site"
    assert cat.get("spring_that_does_not_exist", "missing") is None


def test_every_component_is_seen_by_some_station():
    placed = {c for layout in LAYOUTS.values() for fr in layout.values() for f in fr for c in f}
    assert placed == {c.name for c in COMPONENTS}
    for comp in COMPONENTS:
        assert set(build_catalogue().modes_of(comp.name)) == set(FAMILY_MODES[comp.family])


def test_a_railway_edits_its_copy(tmp_path):
    text = CATALOGUE_FILE.read_text()
    text = text.replace('version = "1.0.0"', 'version = "1.0.0-depot7"')
    own = tmp_path / "catalogue.toml"
    head, sep, tail = text.partition("[components.brake_shoe.faults]\n")
    own.write_text(head + sep + tail.replace('worn = "major"', 'worn = "critical"', 1))
    cat = load_catalogue(own)
    assert cat.version == "1.0.0-depot7"
    assert cat.get("brake_shoe", "worn").criticality == "critical"
    assert cat.get("brake_shoe", "worn").action == "remove_car"
    assert cat.worst("brake_shoe") == "critical"


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (('leaking = "major"', 'leaking = "urgent"'), "criticality must be one of"),
        (('family = "axle_box"', 'family = "teapot"'), "unknown family"),
        (
            (
                "[components.axle_box_adapter.faults]\n",
                '[components.axle_box_adapter.faults]\nworn = "minor"\n',
            ),
            "cannot show 'worn'",
        ),
    ],
)
def test_bad_catalogue_names_the_file(tmp_path, replace, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(CATALOGUE_FILE.read_text().replace(*replace, 1))
    with pytest.raises(ConfigError, match=message) as err:
        load_catalogue(bad)
    assert str(bad) in str(err.value)
