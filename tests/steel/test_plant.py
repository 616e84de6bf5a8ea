"""History files: missing tags, wrong units, gaps and NaNs are named or filled by the rule."""

from __future__ import annotations

import csv

import pytest

from agentarts.errors import InvalidInputError
from agentarts.industries.steel.plant import MAX_GAP, load_history
from agentarts.industries.steel.simulator import TAGS
from tests.steel.conftest import write_history


def _edit(path, row: int, column: str, value: str) -> None:
    rows = list(csv.reader(path.open()))
    rows[row - 1][rows[0].index(column)] = value
    csv.writer(path.open("w", newline="")).writerows(rows)


def test_clean_history_loads(history):
    rows = load_history(history)
    assert len(rows) == 48 and len(rows[0]) == len(TAGS)


def test_tag_mapping(tmp_path):
    path = write_history(tmp_path / "h.csv", rename={"hmt_c": "BF2_HMT", "si_pct": "BF2_SI"})
    with pytest.raises(InvalidInputError, match=r"missing tags: hmt_c \(column 'hmt_c'\)"):
        load_history(path)
    assert len(load_history(path, {"hmt_c": "BF2_HMT", "si_pct": "BF2_SI"})) == 48


def test_wrong_unit_names_tag_and_row(history):
    _edit(history, 10, "hmt_c", "1773.15")  # kelvin
    with pytest.raises(InvalidInputError, match=r"tag hmt_c row 10: 1773.15 is outside"):
        load_history(history)


def test_not_a_number(history):
    _edit(history, 7, "si_pct", "n/a")
    with pytest.raises(InvalidInputError, match="tag si_pct row 7: 'n/a' is not a number"):
        load_history(history)


def test_short_gaps_are_interpolated(history):
    before = load_history(history)
    for row in (20, 21, 22):
        _edit(history, row, "eta_co", "NaN" if row != 21 else "")
    after = load_history(history)
    column = TAGS.index("eta_co")
    lo, hi = before[17][column], before[21][column]  # rows 19 and 23 (header is row 1)
    assert after[18][column] == pytest.approx(lo + (hi - lo) / 4)
    assert after[20][column] == pytest.approx(lo + 3 * (hi - lo) / 4)


def test_long_gap_is_an_error_naming_rows(history):
    for row in range(20, 20 + MAX_GAP + 1):
        _edit(history, row, "pressure_drop_kpa", "")
    with pytest.raises(InvalidInputError, match="tag pressure_drop_kpa rows 20-23: gap of 4"):
        load_history(history)


def test_gap_at_the_end_is_an_error(history):
    _edit(history, 49, "hmt_c", "")
    with pytest.raises(InvalidInputError, match="tag hmt_c row 49"):
        load_history(history)


def test_too_short_and_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="need 36"):
        load_history(write_history(tmp_path / "short.csv", rows=20))
    with pytest.raises(InvalidInputError):
        load_history(tmp_path / "nope.csv")


def test_not_a_csv_file_is_named(tmp_path):
    with pytest.raises(InvalidInputError, match="not a regular file"):
        load_history("/dev/zero")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        load_history(tmp_path)
    binary = tmp_path / "dump.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 100)
    with pytest.raises(InvalidInputError, match=r"dump.csv: not a readable CSV"):
        load_history(binary)


def test_no_plant_and_no_history_says_what_to_pass():
    """`agentarts run` with no input in a new project said "only 0 samples of the 36"."""
    from agentarts.industries.steel.plant import LivePlant

    with pytest.raises(InvalidInputError, match=r'no plant data: .* \{"source": '):
        LivePlant().snapshot()
