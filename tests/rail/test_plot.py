"""The shift plot: no empty band before the first train, a log axis without a '0' tick."""

from __future__ import annotations

import numpy as np


def _summary(trains: int = 2, cars: int = 4) -> dict:
    """A small shift: per train, one real fault flagged in car 1, and a few margins."""
    rng = np.random.default_rng(0)
    per_train, scores = [], []
    for t in range(trains):
        keys = [(c, "left_side", 1, k) for c in range(1, cars + 1) for k in range(3)]
        n = len(keys)
        is_fault = np.zeros(n, bool)
        is_fault[0] = True
        margin = rng.normal(-3, 1.5, n)
        margin[0] = 2.0
        flags = margin >= 0
        finding = {"car_index": 1, "station": "left_side", "frame": 1, "window": 0}
        per_train.append(
            {
                "triage": {"cars": cars, "train_id": f"T{t}"},
                "decisions": [{"finding": {**finding, "criticality": "critical"}}],
                "report": {"minutes_per_train": 2.0, "manual_minutes_per_train": 9.0},
            }
        )
        scores.append(
            {
                "keys": keys,
                "is_fault": is_fault,
                "flags": flags,
                "critical": is_fault.copy(),
                "margin": margin,
            }
        )
    return {
        "_trains": per_train,
        "_scores": scores,
        "seed": 1,
        "recall": 1.0,
        "critical_recall": 1.0,
        "false_alarms_per_train": 0.0,
        "minutes_per_train": 2.0,
        "manual_minutes_per_train": 9.0,
    }


def test_plot_axes(tmp_path):
    import matplotlib.pyplot as plt

    from agentarts.industries.rail.plot import FA_FLOOR, figure, plot_shift

    fig = figure(_summary())
    try:
        top, trade = fig.axes[0], fig.axes[1]
        left, right = top.get_xlim()
        assert -1 < left < -0.425  # the first car's bar (width 0.85 at x=0) at the left edge
        assert 2 * 4 + 2 - 1 < right < 2 * 4 + 2  # the last car (x=9) at the right edge
        assert trade.get_xscale() == "log" and trade.get_xlim()[0] == FA_FLOOR
        fig.canvas.draw()
        labels = [t.get_text() for t in trade.get_xticklabels()]
        shown = [t for t, v in zip(labels, trade.get_xticks(), strict=True) if v >= FA_FLOOR]
        assert shown[0] == "0.1" and "0" not in shown and "1" in shown
    finally:
        plt.close(fig)
    plot_shift(_summary(), tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000
