"""Console charts: y ticks at round values (min/mid/max gave 1488.1 / 1501.9 / 1515.7)."""

from __future__ import annotations

import itertools
import math

import pytest

from tests.server._appjs import NODE, call_app_js


def _ticks(lo: float, hi: float) -> dict:
    return call_app_js(
        "niceTicks",
        f"((t) => ({{...t, labels: t.ticks.map((x) => x.toFixed(t.decimals))}}))"
        f"(niceTicks({lo}, {hi}))",
    )


def round_step(labels: list[str]) -> float:
    """The common step of tick labels, checked to be 1, 2 or 5 x 10^k."""
    values = [float(v) for v in labels]
    steps = {round(b - a, 9) for a, b in itertools.pairwise(values)}
    assert len(steps) == 1, labels
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5), labels
    return step


@pytest.mark.skipif(NODE is None, reason="needs node")
@pytest.mark.parametrize(
    ("lo", "hi", "labels"),
    [
        (1488.1, 1515.7, ["1480", "1490", "1500", "1510", "1520"]),  # the HMT chart
        (0.31, 0.58, ["0.3", "0.4", "0.5", "0.6"]),  # [Si] wt%
        (0.412, 0.415, ["0.412", "0.413", "0.414", "0.415"]),
        (-3.2, 7.9, ["-5", "0", "5", "10"]),
        (5, 5, ["4.95", "5.00", "5.05"]),  # flat data still gets an axis
    ],
)
def test_ticks_are_round_and_cover_the_data(lo, hi, labels):
    got = _ticks(lo, hi)
    assert got["labels"] == labels
    assert got["lo"] <= lo and got["hi"] >= hi
    round_step(got["labels"])
