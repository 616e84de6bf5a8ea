"""The shift plot a depot manager reads: findings per car, the recall / false-alarm trade-off,
and inspection time per train against reviewing every image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FA_FLOOR", "figure", "plot_shift", "tradeoff"]

COLOURS = {"critical": "#c0392b", "major": "#e67e22", "minor": "#f1c40f"}


def tradeoff(scores: list[dict[str, Any]], offsets: np.ndarray) -> dict[str, np.ndarray]:
    """Recall, critical recall and false alarms per train if every threshold moved by an
    offset (decades: of normal-tail share for the joined decision, of odds for the classifier
    alone; 0 = the thresholds in use)."""
    margin = np.concatenate([s["margin"] for s in scores])
    fault = np.concatenate([s["is_fault"] for s in scores])
    crit = np.concatenate([s["critical"] for s in scores])
    out: dict[str, list[float]] = {"recall": [], "critical": [], "fa": []}
    for off in offsets:
        flag = margin >= off
        out["recall"].append(float(flag[fault].mean()) if fault.any() else np.nan)
        out["critical"].append(float(flag[crit].mean()) if crit.any() else np.nan)
        out["fa"].append(float((flag & ~fault).sum()) / len(scores))
    return {k: np.array(v) for k, v in out.items()}


#: the log-scaled trade-off axis starts here; a threshold with no false alarm at all is drawn
#: at this floor (said on the axis label), since a log axis has no 0
FA_FLOOR = 0.1


def plot_shift(summary: dict[str, Any], path: Path) -> None:
    """Write the shift plot to ``path`` (PNG)."""
    from agentarts._plotting import save

    save(figure(summary), path, dpi=100)


def figure(summary: dict[str, Any]) -> Any:
    """The shift plot as a matplotlib figure (closed by the caller)."""
    from agentarts._plotting import pyplot

    plt = pyplot()
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    trains, scores = summary["_trains"], summary["_scores"]
    fig = plt.figure(figsize=(13, 9))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1])
    ax = fig.add_subplot(grid[0, :])
    x0 = 0
    for t, p in enumerate(trains):
        cars = p["triage"]["cars"]
        counts = {c: np.zeros(cars) for c in (*COLOURS, "false alarm", "missed")}
        truth = _truth_by_car(scores[t], p)
        for d in p["decisions"]:
            f = d["finding"]
            real = truth.get((f["car_index"], f["station"], f["frame"], f["window"]))
            key = (f["criticality"] or "major") if real else "false alarm"
            counts[key][f["car_index"] - 1] += 1
        for car, n in truth.get("missed", {}).items():
            counts["missed"][car - 1] += n
        xs = np.arange(cars) + x0
        bottom = np.zeros(cars)
        for key, colour in (*COLOURS.items(), ("false alarm", "#95a5a6")):
            ax.bar(
                xs,
                counts[key],
                bottom=bottom,
                color=colour,
                width=0.85,
                label=key if t == 0 else None,
            )
            bottom += counts[key]
        miss = counts["missed"] > 0
        ax.scatter(
            xs[miss],
            bottom[miss] + 0.3,
            marker="x",
            color="black",
            s=50,
            label="missed fault" if t == 0 else None,
        )
        if t:  # a line between trains, in the middle of the 2-car gap
            ax.axvline(x0 - 1.5, color="#555", lw=0.6)
        ax.text(
            x0 + cars / 2, -0.7, f"{p['triage']['train_id']} ({cars} cars)", ha="center", fontsize=8
        )
        x0 += cars + 2
    ax.set_xlim(-0.7, x0 - 2 - 0.3)  # the first car at the left edge, the last at the right
    top = max(1.0, ax.get_ylim()[1])
    ax.set_ylim(-1.0, top + 1.2)  # headroom for the legend
    ax.set_yticks(range(int(top) + 1))
    ax.set_xticks([])
    ax.set_ylabel("suspected faults per car")
    ax.set_title("Findings per car (coloured by criticality; grey: false alarm a person rejects)")
    ax.legend(loc="upper right", ncol=6, fontsize=8)

    ax2 = fig.add_subplot(grid[1, 0])
    offsets = np.linspace(-4, 6, 41)
    curve = tradeoff(scores, offsets)
    fa = np.maximum(curve["fa"], FA_FLOOR)
    ax2.plot(fa, curve["recall"], color="tab:blue", label="all faults")
    ax2.plot(fa, curve["critical"], color=COLOURS["critical"], label="critical faults")
    lower = float(summary.get("sensitivity") or 0.0)
    at = int(np.argmin(np.abs(offsets)))
    ax2.scatter(
        [fa[at]],
        [curve["recall"][at]],
        color="black",
        zorder=3,
        label=f"thresholds {lower:g} decades lower" if lower else "validated thresholds",
    )
    if lower:  # the validated line sits `lower` decades above the line in use
        line = tradeoff(scores, np.array([lower]))
        ax2.scatter(
            [max(float(line["fa"][0]), FA_FLOOR)],
            [line["recall"][0]],
            facecolors="none",
            edgecolors="black",
            zorder=3,
            label="validated thresholds",
        )
    ax2.axvline(5, color="#999", ls="--", lw=0.8)
    ax2.text(5.3, 1.0, "5 per train", fontsize=8, color="#666", va="top")
    ax2.set_xscale("log")
    right = max(10.0, float(fa.max()) * 1.2)
    ax2.set_xlim(FA_FLOOR, right)
    decades = [10.0**k for k in range(-1, int(np.log10(right)) + 1)]
    ax2.xaxis.set_major_locator(FixedLocator(decades))
    ax2.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.xaxis.set_minor_locator(NullLocator())
    ax2.set_ylim(0.5, 1.01)
    ax2.set_xlabel(f"false alarms per train (log scale; none at all drawn at {FA_FLOOR:g})")
    ax2.set_ylabel("recall")
    ax2.set_title("Recall vs false alarms (moving every threshold)")
    ax2.legend(loc="lower right", fontsize=8)

    ax3 = fig.add_subplot(grid[1, 1])
    names = [p["triage"]["train_id"] for p in trains]
    agent = [p["report"]["minutes_per_train"] for p in trains]
    manual = [p["report"]["manual_minutes_per_train"] for p in trains]
    xs = np.arange(len(trains))
    ax3.bar(xs - 0.2, manual, width=0.4, color="#bdc3c7", label="person reviews every image")
    ax3.bar(xs + 0.2, agent, width=0.4, color="tab:green", label="triage + person confirms")
    ax3.set_xticks(xs, names, fontsize=8)
    ax3.set_ylabel("minutes per train")
    ax3.set_title("Inspection time per train")
    ax3.legend(fontsize=8)
    fig.suptitle(
        f"Rail inspection shift, seed {summary['seed']}"
        + (f" (thresholds {lower:g} decades lower)" if lower else "")
        + f": recall {summary['recall']}, critical "
        f"{summary['critical_recall']}, {summary['false_alarms_per_train']} false alarms/train, "
        f"{summary['minutes_per_train']} vs {summary['manual_minutes_per_train']} min per train"
    )
    fig.tight_layout()
    return fig


def _truth_by_car(score: dict[str, Any], p: dict[str, Any]) -> dict[Any, Any]:
    """Which flagged keys are real faults, and missed faults per car."""
    keys = score["keys"]
    out: dict[Any, Any] = {}
    missed: dict[int, int] = {}
    for key, fault, flag in zip(keys, score["is_fault"], score["flags"], strict=True):
        if fault and flag:
            out[key] = True
        elif fault:
            missed[key[0]] = missed.get(key[0], 0) + 1
    out["missed"] = missed
    return out
