"""The weather map says what its marks mean (shapes of sites, the rules' gusts on the bar)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")


def test_legend_names_colours_and_site_shapes() -> None:
    from agentarts.industries.weather.plot import _legend_handles

    labels = [h.get_label() for h in _legend_handles()]
    assert labels[:4] == ["no alert", "advisory", "restrict", "stop"]
    assert {"rail line", "wind farm", "city grid"} <= set(labels)


def test_gust_bar_marks_the_rail_thresholds() -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    from agentarts.industries.weather.plot import _gust_bar

    fig, ax = plt.subplots()
    shade = ax.pcolormesh(np.zeros((2, 2)), cmap="YlOrRd", vmin=0, vmax=35)
    bar = fig.colorbar(shade, ax=ax)
    _gust_bar(bar)
    lines = [line.get_ydata()[0] for line in bar.ax.get_lines()]
    assert lines == [15.0, 30.0]
    assert "stop > 30" in bar.ax.get_ylabel()
    plt.close(fig)
