"""`agentarts train steel [--data history.csv] [--out DIR] [--seed N] [--json]`.

With ``--data``: fit the thermal forecaster on a plant's historian export (one row per 10
minutes, tags named as in TAGS or mapped with ``[steel.tags]`` in agentarts.toml; the rules of
plant.load_history apply), holding out the last 20 % of the file (in time order); then score the
new model and the shipped one on that held-out part, at every new dip (a change of the HMT
tag), against the last-hour-mean persistence. The abnormal-state detector needs labelled events,
which a historian export does not have: the shipped one is copied beside the new forecaster.

Without ``--data``: reproduce the shipped models from simulated campaigns into ``--out``.

The models go to ``--out`` (default: ``models/steel-trained`` in the project, or in the current
folder outside a project), written to a temporary folder first and moved into place when
complete; the shipped models are never written over. Deterministic for a given seed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import UsageError

__all__ = ["default_out", "history_windows", "run_train_command"]

HELDOUT = 0.2
MIN_ROWS = 144  # 24 h: ~60 training windows and a held-out part with dips to score
MARKER = "steel-training.json"


def default_out() -> Path:
    from agentarts.config import find_project_root

    return (find_project_root() or Path.cwd()) / "models" / "steel-trained"


def _check_out(out: Path) -> Path:
    from agentarts.industries.steel.train import MODELS

    out = out.expanduser()
    resolved = out.resolve()
    if resolved == MODELS.resolve() or MODELS.resolve() in resolved.parents:
        raise UsageError(f"--out {out}: that is the shipped model folder; choose another")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UsageError(f"--out {out} is a folder that is not empty; give a new folder")
    parent = out.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out}: folder {parent} does not exist")
    return out


def history_windows(rows: np.ndarray) -> dict[str, np.ndarray]:
    """Windows and 2 h-ahead targets from history rows (the HMT tag holds the last dip).

    ``dip[i]`` is true where the window's target sample is a new dip (the tag changed)."""
    from agentarts.industries.steel.features import HORIZON, WINDOW, trend_class

    hmt, si = rows[:, 0], rows[:, 1]
    new_dip = np.r_[False, np.diff(hmt) != 0]
    xs, ys, trend, dip, level = [], [], [], [], []
    for t in range(WINDOW - 1, len(rows) - HORIZON):
        now = float(hmt[t - 5 : t + 1].mean())
        xs.append(rows[t - WINDOW + 1 : t + 1])
        ys.append([hmt[t + HORIZON], si[t + HORIZON]])
        trend.append(trend_class(hmt[t + HORIZON] - now))
        dip.append(new_dip[t + HORIZON])
        level.append(now)
    return {
        "x": np.array(xs, np.float32),
        "y": np.array(ys, np.float32),
        "trend": np.array(trend),
        "dip": np.array(dip, bool),
        "level": np.array(level),
    }


def _mae(forecaster: Any, data: dict[str, np.ndarray]) -> float | None:
    mask = data["dip"]
    if not mask.any():
        return None
    y, _ = forecaster(data["x"][mask])
    return round(float(np.abs(y[:, 0] - data["y"][mask, 0]).mean()), 3)


def run_train_command(
    data: Path | None = None,
    out: Path | None = None,
    seed: int | None = None,
    as_json: bool = False,
) -> dict[str, Any]:
    """The `agentarts train steel` command (see the module docstring)."""
    if importlib.util.find_spec("torch") is None:
        raise UsageError(
            "training needs torch, which is not installed: pip install 'agentarts[train]' "
            "(CPU build: pip install torch==2.13.0)"
        )
    if out is None:  # the default (models/steel-trained) is ours to create; a given --out is not
        default = default_out()
        default.parent.mkdir(parents=True, exist_ok=True)
        out = default
    out = _check_out(Path(out))
    seed = 1 if seed is None else int(seed)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix=".steel-train-", dir=out.parent))
    try:
        with Progress(
            TextColumn("[bold]train steel[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            disable=as_json,
            transient=True,
        ) as bar:
            if data is None:
                summary = _simulated(work, bar)
            else:
                summary = _from_history(Path(data), work, seed, bar)
        summary["out"] = str(out)
        (work / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        _print(summary)
    return summary


def _simulated(work: Path, bar: Any) -> dict[str, Any]:
    from agentarts.industries.steel.train import train

    task = bar.add_task("simulated campaigns (about 3 min)", total=1)
    metrics = train(work)
    bar.update(task, completed=1)
    return {"data": "simulated campaigns", **metrics}


def _from_history(data: Path, work: Path, seed: int, bar: Any) -> dict[str, Any]:
    from agentarts.config import load_settings
    from agentarts.industries.steel.features import WINDOW
    from agentarts.industries.steel.plant import load_history
    from agentarts.industries.steel.scoring import _sessions
    from agentarts.industries.steel.train import MODELS, fit_forecaster

    epochs = 15
    task = bar.add_task(f"reading {data.name}", total=epochs + 2)
    tag_map = load_settings().doc.get("steel", {}).get("tags", {})
    rows = np.asarray(load_history(data, tag_map), np.float32)
    if len(rows) < MIN_ROWS:
        raise UsageError(
            f"{data.name}: {len(rows)} rows; training needs at least {MIN_ROWS} "
            "(24 h at 10 min) so that the last 20 % can be held out"
        )
    split = int(len(rows) * (1 - HELDOUT))
    train_part = history_windows(rows[:split])
    heldout = history_windows(rows[split - WINDOW + 1 :])
    bar.update(task, advance=1, description="fitting the forecaster")
    norm, y_mean, y_std = fit_forecaster(
        train_part, work, epochs, seed=seed, progress=lambda epoch: bar.update(task, advance=1)
    )
    shutil.copytree(MODELS / "bf_abnormal", work / "bf_abnormal")
    _write_card(work, norm, y_mean, y_std, data, len(train_part["x"]))
    bar.update(task, description="scoring on the held-out 20 %")
    new, _ = _sessions(work, norm, y_mean, y_std)
    shipped = _shipped_forecaster()
    mask = heldout["dip"]
    persistence = (
        round(float(np.abs(heldout["level"][mask] - heldout["y"][mask, 0]).mean()), 3)
        if mask.any()
        else None
    )
    new_mae, shipped_mae = _mae(new, heldout), _mae(shipped, heldout)
    bar.update(task, advance=1)
    better = None if new_mae is None or shipped_mae is None else new_mae < shipped_mae
    return {
        "data": str(data),
        "rows": len(rows),
        "train_windows": len(train_part["x"]),
        "heldout_dips": int(mask.sum()),
        "seed": seed,
        "new": {"hmt_mae_c": new_mae},
        "shipped": {"hmt_mae_c": shipped_mae},
        "persistence_hmt_mae_c": persistence,
        "new_is_better": better,
    }


def _shipped_forecaster() -> Any:
    import tomllib

    from agentarts.industries.steel.scoring import _sessions
    from agentarts.industries.steel.train import MODELS

    card = tomllib.loads((MODELS / "bf_thermal" / "model.toml").read_text())
    inp = card["inputs"][0]
    y = next(o for o in card["outputs"] if o["name"] == "y")
    norm = {"mean": np.asarray(inp["mean"], np.float32), "std": np.asarray(inp["std"], np.float32)}
    return _sessions(MODELS, norm, np.asarray(y["mean"]), np.asarray(y["std"]))[0]


def _write_card(
    work: Path, norm: dict[str, Any], y_mean: Any, y_std: Any, data: Path, windows: int
) -> None:
    from agentarts.industries.steel.onnx_export import write_cards

    provenance = {"script": "agentarts train steel --data", "data": str(data), "windows": windows}
    metrics = {"bf_thermal": {"heldout": "last 20 % of the file, see steel-training.json"}}
    write_cards(work, norm, y_mean, y_std, metrics, provenance, models=("bf_thermal",))


def _print(summary: dict[str, Any]) -> None:
    from rich.console import Console

    from agentarts.industries.steel.report import fmt

    out = Console()
    if "new" in summary:
        out.print(
            f"Fitted on {summary['train_windows']} windows of {summary['data']}; on the held-out "
            f"20 % ({summary['heldout_dips']} dips) HMT MAE 2 h ahead: new "
            f"{fmt(summary['new']['hmt_mae_c'], ' C', 'no dip')}, shipped "
            f"{fmt(summary['shipped']['hmt_mae_c'], ' C', 'no dip')}, last-hour persistence "
            f"{fmt(summary['persistence_hmt_mae_c'], ' C', 'no dip')}"
        )
        verdict = {True: "the new model is better here", False: "keep the shipped model"}
        out.print(verdict.get(summary["new_is_better"], "not enough held-out dips to compare"))
    else:
        out.print(f"Reproduced the shipped models from {summary['data']}")
    out.print(f"Models written to {summary['out']} (a model repository: bf_thermal, bf_abnormal)")
