"""The demo's figure: analysis, emulator forecast and truth maps with sites and alerts, and the
skill per lead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_demo"]

_COLOURS = {"stop": "red", "restrict": "orange", "advisory": "gold"}


def plot_demo(summary: dict[str, Any], path: Path) -> None:
    from agentarts._plotting import pyplot, save

    plt = pyplot()

    from agentarts.industries.weather.fields import z500_anomaly
    from agentarts.industries.weather.ncio import _open
    from agentarts.industries.weather.sites import (
        CENTRE_KM,
        CENTRE_LATLON,
        DOMAIN_KM,
        HALF_WIDTH_KM,
        to_latlon,
    )

    p = summary["_plot"]
    ds = _open(Path(p["forecast"]))
    days = summary["days"]
    n = p["analysis"].shape[-1]
    centres = (np.arange(n) + 0.5) * DOMAIN_KM / n
    lat, lon = to_latlon(centres, centres)  # the tangent plane is linear in x and y
    south, west = to_latlon(CENTRE_KM[0] - HALF_WIDTH_KM[0], CENTRE_KM[1] - HALF_WIDTH_KM[1])
    north, east = to_latlon(CENTRE_KM[0] + HALF_WIDTH_KM[0], CENTRE_KM[1] + HALF_WIDTH_KM[1])
    fig, axes = plt.subplots(2, 2, figsize=(12, 10.5))
    panels = [
        (axes[0, 0], z500_anomaly(p["analysis"]), None, "Analysis (day 0): Z500 anomaly"),
        (
            axes[0, 1],
            np.asarray(ds["z500"].values[days]),
            np.asarray(ds["gust"].values[days]),
            f"Emulator day {days}: Z500 (contours), gust (shading)",
        ),
        (axes[1, 0], z500_anomaly(p["truth"]), None, f"Truth day {days}: Z500 anomaly"),
    ]
    levels = np.arange(-4000, 4001, 500)
    for ax, z, gust, title in panels:
        if gust is None:
            shade = ax.contourf(lon, lat, z, levels=levels, cmap="RdBu_r", extend="both")
            fig.colorbar(shade, ax=ax, shrink=0.8, label="Z500 anomaly (m2/s2)")
        else:
            shade = ax.pcolormesh(lon, lat, gust, cmap="YlOrRd", vmin=0, vmax=35, shading="auto")
            _gust_bar(fig.colorbar(shade, ax=ax, shrink=0.8, extend="max"))
        ax.contour(lon, lat, z, levels=levels, colors="k", linewidths=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(float(west), float(east))
        ax.set_ylim(float(south), float(north))
        ax.set_aspect(1 / np.cos(np.radians(CENTRE_LATLON[0])))
        ax.set_xlabel("longitude (E, tangent plane)")
        ax.set_ylabel("latitude (N)")
        _sites(ax, p)
    handles = _legend_handles()
    key = "\n".join(f"{i} {e['site']['name']}" for i, e in enumerate(p["extracted"]["sites"], 1))
    axes[1, 0].text(
        0.02,
        0.02,
        key,
        transform=axes[1, 0].transAxes,
        fontsize=7,
        va="bottom",
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "grey"},
    )
    axes[0, 1].legend(
        handles=handles, loc="lower left", fontsize=7, title="sites", title_fontsize=7
    )
    ax = axes[1, 1]
    leads = summary["leads_days"]
    for key, label, style in (
        ("rmse_emulator", "emulator (ONNX)", "o-"),
        ("rmse_numerical", "numerical 32x32", "s-"),
        ("rmse_persistence", "persistence", "^--"),
        ("rmse_climatology", "climatology", "k:"),
    ):
        ax.plot(leads, summary[key], style, label=label)
    ax.set_xlabel("lead (days)")
    ax.set_ylabel("Z500 RMSE (m2/s2)")
    ax.set_title(
        f"Z500 skill, {summary['cases']} forecasts; emulator {summary['speedup_vs_truth']:g}x "
        "faster than the truth",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend()
    a = summary["alerts"]
    fig.suptitle(
        f"Weather pack demo, seed {summary['seed']}: {a['drafted']} "
        f"alert{'' if a['drafted'] == 1 else 's'} drafted, "
        f"{a['issued']} issued after approval",
        fontsize=12,
    )
    fig.tight_layout()
    save(fig, path, dpi=100)


#: The rail rules' gust thresholds (m/s), marked on the gust colour bar.
_GUST_MARKS = ((15.0, "restrict"), (30.0, "stop"))


def _gust_bar(bar: Any) -> None:
    """The gust colour bar up to 35 m/s, with the rail rules' thresholds drawn across it (the
    bar stopped at 25 m/s, so a gust at the 30 m/s stop looked like one at 25)."""
    bar.set_label("10 m gust (m/s); rail: restrict > 15, stop > 30")
    for value, level in _GUST_MARKS:
        bar.ax.axhline(value, color="k", lw=1.5, ls="--" if level == "restrict" else "-")


def _legend_handles() -> list[Any]:
    """What the site marks mean: colour is the worst alert, shape the kind of site."""
    from matplotlib.lines import Line2D

    colours = [
        Line2D([], [], color=c, marker="s", ls="", mec="k", label=label)
        for label, c in (
            ("no alert", "limegreen"),
            ("advisory", _COLOURS["advisory"]),
            ("restrict", _COLOURS["restrict"]),
            ("stop", _COLOURS["stop"]),
        )
    ]
    shapes = [
        Line2D([], [], color="grey", lw=3, label="rail line"),
        Line2D([], [], color="grey", marker="^", ls="", mec="k", label="wind farm"),
        Line2D([], [], color="grey", marker="s", ls="", mec="k", label="city grid"),
    ]
    return colours + shapes


def _sites(ax: Any, p: dict[str, Any]) -> None:
    worst: dict[str, str] = {}
    order = ["advisory", "restrict", "stop"]
    for f in p["findings"]:
        level = worst.get(f["site"], "advisory")
        worst[f["site"]] = max(level, f["level"], key=order.index)
    for number, entry in enumerate(p["extracted"]["sites"], 1):
        site = entry["site"]
        xy = np.array([(q["lon"], q["lat"]) for q in site["points"]])
        colour = _COLOURS.get(worst.get(site["name"], ""), "limegreen")
        if site["kind"] == "rail":
            ax.plot(xy[:, 0], xy[:, 1], "-", color=colour, lw=3)
            ax.plot(xy[:, 0], xy[:, 1], "-", color="k", lw=0.8)
        else:
            marker = "^" if site["kind"] == "wind_farm" else "s"
            ax.plot(xy[:, 0], xy[:, 1], marker, color=colour, mec="k", ms=9)
        mid = xy[len(xy) // 2]
        ax.annotate(
            str(number),
            mid,
            fontsize=8,
            fontweight="bold",
            xytext=(5, 3),
            textcoords="offset points",
        )
