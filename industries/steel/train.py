"""Train the steel pack's models: on simulated campaigns (the shipped models), or on a plant's
own historian export (``agentarts train steel --data history.csv``, see ``train_command``).

    pip install torch==2.13.0               # the CPU build (an unpinned torch pulls CUDA, GBs)
    python -m agentarts.industries.steel.train [--out DIR] [--campaigns 240]

Seeds: training campaigns 1000+ (open loop) and 3000+ (operated), validation 2000+ (detector
threshold), calibration 500+ (controller tuning and aims), held-out evaluation 9000+ (model
cards; never used for training or tuning). Deterministic: fixed seeds, torch.manual_seed, one
thread; the ONNX graphs are built node by node from the weights (onnx_export.py).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.steel.features import windows
from agentarts.industries.steel.simulator import STATES, TAGS, BlastFurnace, Setpoints

MODELS = Path(__file__).parent / "models"
TRAIN_SEEDS = range(1000, 1240)  # open-loop ('explore') campaigns
OPERATED_SEEDS = range(3000, 3240)  # closed-loop campaigns under drawn PI controllers
VALID_SEEDS = range(2000, 2030)
EVAL_SEEDS = range(9000, 9010)
HOURS = 72


def campaign(seed: int, policy: str, hours: float = HOURS) -> list[Any]:
    """Readings of one campaign under a policy: 'pi' (the tuned PI), 'explore' (open-loop
    setpoint walks on every lever, wider disturbances) or 'operated' (a PI with gains and aim
    drawn per campaign, so moves of every size are made where the furnace is run).

    The forecaster learns the furnace, not an operator: only windows whose setpoints stay
    unchanged after the window's last sample are used (features.windows), so a move in the data
    is one made at or before that sample, the question the controller asks ("if I moved now
    by d and then held")."""
    from agentarts.industries.steel.control import PIController

    rng = np.random.default_rng(seed + 77)
    scale = 1.0 if policy == "pi" else float(rng.uniform(0.7, 1.8))
    start = Setpoints()
    if policy == "explore":
        start = Setpoints(
            coke_rate_kg_thm=float(rng.uniform(305, 345)),
            pci_rate_kg_thm=float(rng.uniform(150, 205)),
            blast_temp_c=float(rng.uniform(1120, 1250)),
            oxygen_enrichment_pct=float(rng.uniform(2.5, 6)),
            blast_volume_nm3_min=float(rng.uniform(6300, 7600)),
            steam_g_nm3=float(rng.uniform(0, 8)),
        )
    furnace = BlastFurnace(seed, start=start, disturbance_scale=scale)
    controller = PIController()
    if policy == "operated":
        controller = PIController(
            aim_c=float(rng.uniform(1490, 1512)),
            kp=float(rng.uniform(0.0, 0.8)),
            ki=float(rng.uniform(0.1, 0.6)),
            alpha=float(rng.uniform(0.4, 1.0)),
        )
    sp = furnace.setpoints
    readings = []
    next_walk = int(rng.integers(6, 30))
    for step in range(int(hours * 6)):
        reading = furnace.step(sp)
        readings.append(reading)
        if policy in ("pi", "operated"):
            sp = controller(reading, sp)
            if policy == "operated" and rng.random() < 0.03:  # the operator's other levers
                sp = _walk(sp, rng, fast_only=True)
        elif step == next_walk:  # open loop: moves independent of the furnace's state
            sp = _walk(sp, rng)
            next_walk = step + int(rng.integers(6, 30))
    return readings


def _walk(sp: Setpoints, rng: np.random.Generator, fast_only: bool = False) -> Setpoints:
    nominal = Setpoints()
    sizes = {
        "coke_rate_kg_thm": 0.0 if fast_only else 6.0,
        "pci_rate_kg_thm": 0.0 if fast_only else 10.0,
        "blast_temp_c": 20.0,
        "oxygen_enrichment_pct": 0.0 if fast_only else 0.4,
        "blast_volume_nm3_min": 0.0 if fast_only else 200.0,
        "steam_g_nm3": 2.0,
    }
    values = {}
    for k, size in sizes.items():
        v = getattr(sp, k) + float(rng.normal(0, size)) if size else getattr(sp, k)
        # drift back towards the nominal point so campaigns stay in the operating region
        values[k] = round(0.85 * v + 0.15 * getattr(nominal, k), 2)
    return Setpoints(**values).clipped()


def dataset(seeds: range, policy: str, held_only: bool = False) -> dict[str, np.ndarray]:
    parts = [windows(campaign(s, policy), held_only) for s in seeds]
    parts = [p for p in parts if len(p["x"])] or parts[:1]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def fit(
    x: np.ndarray,
    targets: dict[str, np.ndarray],
    heads: dict[str, int],
    epochs: int,
    seed: int,
    class_weights: dict[str, np.ndarray] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Any:
    """A small MLP (window -> 96 -> 48 -> heads), Adam, decaying learning rate, one thread."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Flatten(),
                nn.Linear(x.shape[1] * x.shape[2], 96),
                nn.ReLU(),
                nn.Linear(96, 48),
                nn.ReLU(),
            )
            self.heads = nn.ModuleDict({k: nn.Linear(48, n) for k, n in heads.items()})

        def forward(self, inp: Any) -> dict[str, Any]:
            h = self.body(inp)
            return {k: head(h) for k, head in self.heads.items()}

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-5)
    xt = torch.from_numpy(x)
    tt = {k: torch.from_numpy(v) for k, v in targets.items()}
    weights = {k: torch.tensor(w, dtype=torch.float32) for k, w in (class_weights or {}).items()}
    n = len(x)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, 512):
            idx = order[i : i + 512]
            out = net(xt[idx])
            loss = 0.0
            for k, pred in out.items():
                if tt[k].dtype == torch.int64:
                    loss = loss + nn.functional.cross_entropy(
                        pred, tt[k][idx], weight=weights.get(k)
                    )
                else:
                    loss = loss + nn.functional.mse_loss(pred, tt[k][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        for group in opt.param_groups:
            group["lr"] *= 0.8
        if progress is not None:
            progress(epoch)
    return net


def fit_forecaster(
    data: dict[str, np.ndarray],
    out: Path,
    epochs: int,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Fit bf_thermal on windows (x, y, trend) and export it to ``out``; returns the
    normalisation and the output scaling."""
    from agentarts.industries.steel.onnx_export import check_export, export_onnx, level

    mean = data["x"].reshape(-1, len(TAGS)).mean(0)
    std = data["x"].reshape(-1, len(TAGS)).std(0) + 1e-6
    xn = ((data["x"] - mean) / std).astype(np.float32)
    y_mean, y_std = data["y"].mean(0), data["y"].std(0) + 1e-6
    change = data["y"] - level(data["x"])
    change_std = change.std(0) + 1e-6
    counts = np.bincount(data["trend"], minlength=3)
    net = fit(
        xn,
        {"y": (change / change_std).astype(np.float32), "trend": data["trend"].astype(np.int64)},
        {"y": 2, "trend": 3},
        epochs,
        seed=seed,
        class_weights={"trend": counts.sum() / (3 * np.maximum(counts, 1))},
        progress=progress,
    )
    residual = (change_std / y_std, std[:2] / y_std, (mean[:2] - y_mean) / y_std)
    path = out / "bf_thermal" / "1" / "model.onnx"
    export_onnx(net, path, {"trend"}, {"y": residual})
    check_export(net, path, xn[:256], residual)
    return {"features": list(TAGS), "mean": mean, "std": std}, y_mean, y_std


def train(
    out: Path = MODELS,
    campaigns: int = len(TRAIN_SEEDS),
    epochs: int = 15,
    operated: int = len(OPERATED_SEEDS),
) -> dict[str, Any]:
    """The shipped models, from simulated campaigns; model cards with held-out metrics."""
    from agentarts.industries.steel.onnx_export import export_onnx, write_cards
    from agentarts.industries.steel.scoring import model_card_metrics

    t0 = time.time()
    explore = range(TRAIN_SEEDS.start, TRAIN_SEEDS.start + campaigns)
    ops = range(OPERATED_SEEDS.start, OPERATED_SEEDS.start + operated)
    held = [dataset(explore, "explore", True), dataset(ops, "operated", True)]
    data = {k: np.concatenate([p[k] for p in held]) for k in held[0]}
    norm, y_mean, y_std = fit_forecaster(data, out, epochs)
    # the detector learns from every window (moves or not), precursors labelled abnormal
    every = [dataset(explore, "explore"), dataset(ops, "operated")]
    states = np.concatenate([p["state"] for p in every])
    xs = np.concatenate([p["x"] for p in every])
    xn = ((xs - norm["mean"]) / norm["std"]).astype(np.float32)
    state_counts = np.bincount(states, minlength=len(STATES))
    classifier = fit(
        xn,
        {"state": states.astype(np.int64)},
        {"state": len(STATES)},
        epochs,
        seed=2,
        class_weights={
            "state": np.sqrt(state_counts.sum() / (len(STATES) * np.maximum(state_counts, 1)))
        },
    )
    export_onnx(classifier, out / "bf_abnormal" / "1" / "model.onnx", {"state"})
    metrics = model_card_metrics(out, norm, y_mean, y_std, EVAL_SEEDS, VALID_SEEDS)
    metrics["bf_abnormal"]["training_state_counts"] = state_counts.tolist()
    provenance = {
        "script": "agentarts.industries.steel.train",
        "simulator": "agentarts.industries.steel.simulator (seeded lumped heat balance)",
        "train_seeds": f"{explore.start}-{explore.stop - 1} (open loop), "
        f"{ops.start}-{ops.stop - 1} (operated by drawn PI controllers)",
        "windows": len(data["x"]),
    }
    write_cards(out, norm, y_mean, y_std, metrics, provenance)
    return {**metrics, "train_windows": len(data["x"]), "seconds": round(time.time() - t0, 1)}


def train_command(
    data: Path | None = None,
    out: Path | None = None,
    seed: int | None = None,
    as_json: bool = False,
) -> dict[str, Any]:
    """`agentarts train steel`: see agentarts.industries.steel.userdata."""
    from agentarts.industries.steel.userdata import run_train_command

    return run_train_command(data=data, out=out, seed=seed, as_json=as_json)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m agentarts.industries.steel.train")
    parser.add_argument("--out", type=Path, default=MODELS, help="model repository to write")
    parser.add_argument(
        "--campaigns", type=int, default=len(TRAIN_SEEDS), help="open-loop campaigns (72 h)"
    )
    parser.add_argument(
        "--operated", type=int, default=len(OPERATED_SEEDS), help="PI-operated campaigns (72 h)"
    )
    parser.add_argument("--epochs", type=int, default=15, help="passes over the windows")
    args = parser.parse_args()
    print(json.dumps(train(args.out, args.campaigns, args.epochs, args.operated), indent=2))


if __name__ == "__main__":
    main()
