"""The steel demo's plot: every lever the agent moves has its panel, labelled plainly."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_plot_shows_both_trims_with_their_usual_values(tmp_path):
    import matplotlib.pyplot as plt

    from agentarts.industries.steel.demo import simulate
    from agentarts.industries.steel.report import plot_summary, summary_figure

    summary = simulate(3, 9.0, database_url=f"sqlite:///{tmp_path / 'runs.db'}")
    fig = summary_figure(summary)
    try:
        labels = [ax.get_ylabel() for ax in fig.axes]
        assert not any("need not bring" in label for label in labels)
        (blast,) = [ax for ax in fig.axes if ax.get_ylabel().startswith("hot blast")]
        (steam,) = [ax for ax in fig.axes if ax.get_ylabel().startswith("steam")]
        readings = summary["_traces"]["agent"].readings
        drawn = [list(line.get_ydata()) for line in steam.get_lines()]
        assert [r.steam_g_nm3 for r in readings] in drawn  # the agent's steam, as run
        for ax, usual in ((blast, 1200.0), (steam, 3.0)):  # the value the trims return to
            assert any(list(line.get_ydata()) == [usual, usual] for line in ax.get_lines())
            low, high = ax.get_ylim()
            assert low < usual < high
    finally:
        plt.close(fig)
    plot_summary(summary, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
