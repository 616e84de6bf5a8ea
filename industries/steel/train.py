"""Train the steel pack's models on simulated campaigns and export them to ONNX with cards.

    pip install torch==2.13.0               # the CPU build (an unpinned torch pulls CUDA, GBs)
    python -m agentarts.industries.steel.train [--out DIR] [--campaigns 480] [--calibrate]

Seeds: training campaigns 1000+ (open loop) and 3000+ (operated), validation 2000+,
calibration 500+ (controller aims), held-out evaluation 9000+ (never used for training or
tuning). The script is deterministic (fixed seeds,
torch.manual_seed) and writes model.onnx files built node by node from the trained weights
(Flatten/Gemm/Relu/Softmax), so they reproduce without depending on an exporter version.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.industries.steel.control import BaselineRule
from agentarts.industries.steel.features import HORIZON, TREND_CLASSES, WINDOW, windows
from agentarts.industries.steel.simulator import STATES, TAGS, BlastFurnace, Setpoints

MODELS = Path(__file__).parent / "models"
TRAIN_SEEDS = range(1000, 1480)  # open-loop ('explore') campaigns
OPERATED_SEEDS = range(3000, 3480)  # closed-loop campaigns under drawn operator rules
VALID_SEEDS = range(2000, 2020)
EVAL_SEEDS = range(9000, 9008)
HOURS = 72


def campaign(seed: int, policy: str, hours: float = HOURS) -> list[Any]:
    """Readings of one campaign under a policy: 'baseline' (the operator rule), 'explore'
    (open-loop setpoint walks, wider disturbances) or 'operated' (an operator rule with gains,
    waits and aim drawn per campaign, so the furnace is held near its band the way a controller
    holds it, with moves of every size made at every kind of moment).

    The forecaster learns the furnace, not an operator: only windows whose setpoints stay
    unchanged over the horizon are used (see features.windows), so a move in the data is always
    one made at or before the window's last sample, exactly the question the controller asks
    ("if PCI moved now by d and then held"). 'operated' campaigns put those questions in the
    region where the furnace is run, which open-loop walks visit rarely."""
    rng = np.random.default_rng(seed + 77)
    scale = 1.0 if policy == "baseline" else float(rng.uniform(0.7, 1.8))
    start = Setpoints()
    if policy == "explore":
        start = Setpoints(
            coke_rate_kg_thm=float(rng.uniform(300, 345)),
            pci_rate_kg_thm=float(rng.uniform(150, 205)),
            blast_temp_c=float(rng.uniform(1120, 1240)),
            oxygen_enrichment_pct=float(rng.uniform(2.5, 6)),
            blast_volume_nm3_min=float(rng.uniform(6500, 7700)),
        )
    furnace = BlastFurnace(seed, start=start, disturbance_scale=scale)
    rule = BaselineRule()
    if policy == "operated":
        rule = BaselineRule(
            aim_c=float(rng.uniform(1488, 1508)),
            k_hmt=float(rng.uniform(0.15, 0.6)),
            k_si=float(rng.uniform(0, 40)),
            deadband_c=float(rng.uniform(0.5, 4)),
            wait_steps=int(rng.integers(4, 25)),
        )
    sp = furnace.setpoints
    readings = []
    next_walk = int(rng.integers(6, 30))
    for step in range(int(hours * 6)):
        reading = furnace.step(sp)
        readings.append(reading)
        if policy in ("baseline", "operated"):
            sp = rule(reading, sp)
        elif step == next_walk:  # open loop: moves independent of the furnace's state
            sp = Setpoints(
                coke_rate_kg_thm=sp.coke_rate_kg_thm + float(rng.normal(0, 6)),
                pci_rate_kg_thm=sp.pci_rate_kg_thm + float(rng.normal(0, 10)),
                blast_temp_c=sp.blast_temp_c + float(rng.normal(0, 20)),
                oxygen_enrichment_pct=sp.oxygen_enrichment_pct + float(rng.normal(0, 0.4)),
                blast_volume_nm3_min=sp.blast_volume_nm3_min + float(rng.normal(0, 200)),
            ).clipped()
            # drift back towards the nominal point so campaigns stay in the operating region
            sp = Setpoints(
                **{
                    k: 0.85 * getattr(sp, k) + 0.15 * getattr(Setpoints(), k)
                    for k in Setpoints.LIMITS
                }
            )
            next_walk = step + int(rng.integers(6, 30))
    return readings


def dataset(seeds: range, policy: str, held_only: bool = False) -> dict[str, np.ndarray]:
    parts = [windows(campaign(s, policy), held_only) for s in seeds]
    parts = [p for p in parts if len(p["x"])] or parts[:1]  # a busy operator may hold nothing
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _fit(
    x: np.ndarray,
    targets: dict[str, np.ndarray],
    heads: dict[str, int],
    epochs: int,
    seed: int,
    class_weights: dict[str, np.ndarray] | None = None,
) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(2)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Flatten(),
                nn.Linear(WINDOW * len(TAGS), 96),
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
    for _epoch in range(epochs):
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
    return net


BASE_SAMPLES = 6  # the last hour of HMT and [Si]: the level the forecast is a change from


def _level(x: np.ndarray) -> np.ndarray:
    """HMT and [Si] averaged over the window's last hour (raw units), per window."""
    return x[:, -BASE_SAMPLES:, :2].mean(1)


def _export(
    net: Any,
    path: Path,
    softmax_heads: set[str],
    residual: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> None:
    """Write the trained MLP as an ONNX graph, node by node.

    ``residual[name] = (a, b, c)`` makes head ``name`` a change from the current level:
    ``out = a * head(h) + b * mean(x[:, -BASE_SAMPLES:, :2], axis=1) + c`` (a, b, c fold the
    input and output normalisations), so the network only has to learn the 2 h change, a
    number ~10x smaller than the level, and its errors shrink with it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layers = [m for m in net.body if hasattr(m, "weight")]
    inits, nodes = [], [helper.make_node("Flatten", ["x"], ["flat"], axis=1)]
    prev = "flat"
    for i, layer in enumerate(layers):
        inits += [
            numpy_helper.from_array(layer.weight.detach().numpy().T.copy(), f"w{i}"),
            numpy_helper.from_array(layer.bias.detach().numpy(), f"b{i}"),
        ]
        nodes += [
            helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"]),
            helper.make_node("Relu", [f"g{i}"], [f"h{i}"]),
        ]
        prev = f"h{i}"
    outputs = []
    for name, head in net.heads.items():
        inits += [
            numpy_helper.from_array(head.weight.detach().numpy().T.copy(), f"w_{name}"),
            numpy_helper.from_array(head.bias.detach().numpy(), f"b_{name}"),
        ]
        raw = f"{name}_logits" if name in softmax_heads else name
        if residual and name in residual:
            a, b, c = (np.asarray(v, np.float32) for v in residual[name])
            inits[-2] = numpy_helper.from_array(
                (head.weight.detach().numpy().T * a).astype(np.float32), f"w_{name}"
            )
            inits[-1] = numpy_helper.from_array(
                (head.bias.detach().numpy() * a).astype(np.float32), f"b_{name}"
            )
            inits += [
                numpy_helper.from_array(np.array([-BASE_SAMPLES, 0], np.int64), "level_starts"),
                numpy_helper.from_array(np.array([WINDOW, 2], np.int64), "level_ends"),
                numpy_helper.from_array(np.array([1, 2], np.int64), "level_axes"),
                numpy_helper.from_array(b, f"scale_{name}"),
                numpy_helper.from_array(c, f"offset_{name}"),
            ]
            nodes += [
                helper.make_node(
                    "Slice", ["x", "level_starts", "level_ends", "level_axes"], ["last_hour"]
                ),
                helper.make_node("ReduceMean", ["last_hour"], ["level"], axes=[1], keepdims=0),
                helper.make_node("Mul", ["level", f"scale_{name}"], [f"{name}_scaled"]),
                helper.make_node("Add", [f"{name}_scaled", f"offset_{name}"], [f"{name}_level"]),
                helper.make_node("Gemm", [prev, f"w_{name}", f"b_{name}"], [f"{name}_change"]),
                helper.make_node("Add", [f"{name}_change", f"{name}_level"], [raw]),
            ]
        else:
            nodes.append(helper.make_node("Gemm", [prev, f"w_{name}", f"b_{name}"], [raw]))
        if name in softmax_heads:
            nodes.append(helper.make_node("Softmax", [raw], [name], axis=1))
        outputs.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", head.out_features])
        )
    graph = helper.make_graph(
        nodes,
        path.parent.parent.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WINDOW, len(TAGS)])],
        outputs,
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="agentarts.industries.steel.train",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _toml_list(values: Any) -> str:
    return (
        "["
        + ", ".join(f"{float(v):.6g}" if not isinstance(v, str) else json.dumps(v) for v in values)
        + "]"
    )


def train(
    out: Path = MODELS,
    campaigns: int = len(TRAIN_SEEDS),
    epochs: int = 20,
    operated: int = len(OPERATED_SEEDS),
) -> dict[str, Any]:
    t0 = time.time()
    parts = [dataset(range(TRAIN_SEEDS.start, TRAIN_SEEDS.start + campaigns), "explore", True)]
    if operated:
        seeds = range(OPERATED_SEEDS.start, OPERATED_SEEDS.start + operated)
        parts.append(dataset(seeds, "operated", held_only=True))
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    mean = data["x"].reshape(-1, len(TAGS)).mean(0)
    std = data["x"].reshape(-1, len(TAGS)).std(0) + 1e-6
    xn = ((data["x"] - mean) / std).astype(np.float32)
    y_mean, y_std = data["y"].mean(0), data["y"].std(0)
    change = data["y"] - _level(data["x"])
    change_std = change.std(0)
    counts = np.bincount(data["trend"], minlength=3)
    forecaster = _fit(
        xn,
        {"y": (change / change_std).astype(np.float32), "trend": data["trend"].astype(np.int64)},
        {"y": 2, "trend": 3},
        epochs,
        seed=1,
        class_weights={"trend": (counts.sum() / (3 * np.maximum(counts, 1)))},
    )
    state_counts = np.bincount(data["state"], minlength=len(STATES))
    classifier = _fit(
        xn,
        {"state": data["state"].astype(np.int64)},
        {"state": len(STATES)},
        epochs,
        seed=2,
        class_weights={
            "state": np.sqrt(state_counts.sum() / (len(STATES) * np.maximum(state_counts, 1)))
        },
    )
    residual = (change_std / y_std, std[:2] / y_std, (mean[:2] - y_mean) / y_std)
    _export(forecaster, out / "bf_thermal" / "1" / "model.onnx", {"trend"}, {"y": residual})
    _export(classifier, out / "bf_abnormal" / "1" / "model.onnx", {"state"})
    _check_export(forecaster, out / "bf_thermal" / "1" / "model.onnx", xn[:256], residual)
    norm = {"features": list(TAGS), "mean": mean, "std": std}
    metrics = evaluate(out, norm, y_mean, y_std)
    _write_cards(out, norm, y_mean, y_std, metrics, len(data["x"]), state_counts)
    metrics["train_windows"] = len(data["x"])
    metrics["seconds"] = round(time.time() - t0, 1)
    return metrics


def _check_export(net: Any, path: Path, xn: np.ndarray, residual: Any) -> None:
    """The exported graph must compute what the trained network computes."""
    import onnxruntime as ort
    import torch

    with torch.no_grad():
        change = net(torch.from_numpy(xn))["y"].numpy()
    a, b, c = residual
    expected = a * change + b * xn[:, -BASE_SAMPLES:, :2].mean(1) + c
    got = ort.InferenceSession(str(path)).run(["y"], {"x": xn})[0]
    error = float(np.abs(got - expected).max())
    if error > 1e-4:
        raise RuntimeError(f"exported forecaster differs from the trained one by {error:.2g}")


def evaluate(
    out: Path, norm: dict[str, Any], y_mean: np.ndarray, y_std: np.ndarray
) -> dict[str, Any]:
    """Held-out seeds (9000+) under the baseline operator rule: what a plant would see."""
    import onnxruntime as ort

    thermal = ort.InferenceSession(str(out / "bf_thermal" / "1" / "model.onnx"))
    abnormal = ort.InferenceSession(str(out / "bf_abnormal" / "1" / "model.onnx"))
    explore = dataset(EVAL_SEEDS, "explore", held_only=True)  # drifting furnace, faults
    closed = dataset(EVAL_SEEDS, "baseline")  # held steady by the operator rule
    xe = ((explore["x"] - norm["mean"]) / norm["std"]).astype(np.float32)
    xc = ((closed["x"] - norm["mean"]) / norm["std"]).astype(np.float32)
    y, trend = thermal.run(None, {"x": xe})
    yc, trend_c = thermal.run(None, {"x": xc})
    data, pred = explore, y * y_std + y_mean
    pred_c = yc * y_std + y_mean
    hit = float((trend.argmax(1) == data["trend"]).mean())
    states = abnormal.run(None, {"x": xe})[0].argmax(1)
    recall = {
        STATES[c]: round(float((states[explore["state"] == c] == c).mean()), 3)
        for c in range(len(STATES))
        if (explore["state"] == c).any()
    }
    return {
        "eval_seeds": f"{EVAL_SEEDS.start}-{EVAL_SEEDS.stop - 1}",
        "trend_hit_rate": round(hit, 4),
        "hmt_mae_c": round(float(np.abs(pred[:, 0] - data["measured"][:, 0]).mean()), 3),
        "si_mae_pct": round(float(np.abs(pred[:, 1] - data["measured"][:, 1]).mean()), 4),
        "persistence_hmt_mae_c": round(
            float(np.abs(data["persistence"][:, 0] - data["measured"][:, 0]).mean()), 3
        ),
        "persistence_si_mae_pct": round(
            float(np.abs(data["persistence"][:, 1] - data["measured"][:, 1]).mean()), 4
        ),
        "abnormal_accuracy": round(float((states == explore["state"]).mean()), 4),
        "closed_loop_trend_hit_rate": round(
            float((trend_c.argmax(1) == closed["trend"]).mean()), 4
        ),
        "closed_loop_hmt_mae_c": round(
            float(np.abs(pred_c[:, 0] - closed["measured"][:, 0]).mean()), 3
        ),
        "closed_loop_persistence_hmt_mae_c": round(
            float(np.abs(closed["persistence"][:, 0] - closed["measured"][:, 0]).mean()), 3
        ),
        "closed_loop_si_mae_pct": round(
            float(np.abs(pred_c[:, 1] - closed["measured"][:, 1]).mean()), 4
        ),
        "closed_loop_persistence_si_mae_pct": round(
            float(np.abs(closed["persistence"][:, 1] - closed["measured"][:, 1]).mean()), 4
        ),
        "abnormal_recall": recall,
    }


def _write_cards(
    out: Path,
    norm: dict[str, Any],
    y_mean: np.ndarray,
    y_std: np.ndarray,
    metrics: dict[str, Any],
    windows_n: int,
    state_counts: np.ndarray,
) -> None:
    common = f"""[[inputs]]
name = "x"
description = "last {WINDOW} samples (6 h at 10 min) of {len(TAGS)} plant tags, oldest first"
features = {_toml_list(TAGS)}
unit = {_toml_list([t.rsplit("_", 1)[-1] for t in TAGS])}
mean = {_toml_list(norm["mean"])}
std = {_toml_list(norm["std"])}

[batching]
max_batch_size = 64
preferred_batch_sizes = [16, 32, 64]

[provenance]
script = "agentarts.industries.steel.train"
simulator = "agentarts.industries.steel.simulator (seeded lumped heat balance)"
train_seeds = "{TRAIN_SEEDS.start}-{TRAIN_SEEDS.stop - 1} (open-loop campaigns), {OPERATED_SEEDS.start}-{OPERATED_SEEDS.stop - 1} (operated by drawn operator rules)"
windows = {windows_n}
"""
    (
        out / "bf_thermal" / "model.toml"
    ).write_text(f'''description = "Blast furnace: HMT and [Si] {HORIZON // 6} h ahead and the thermal trend"
task = "forecast"
precision = "fp16"
{common}
[[outputs]]
name = "y"
features = ["hmt_2h_c", "si_2h_pct"]
unit = ["degC", "wt%"]
mean = {_toml_list(y_mean)}
std = {_toml_list(y_std)}

[[outputs]]
name = "trend"
description = "probabilities of {list(TREND_CLASSES)} (2 h change beyond +-5 C)"

[metrics]
eval_seeds = "{metrics["eval_seeds"]}"
trend_hit_rate = {metrics["trend_hit_rate"]}
hmt_mae_c = {metrics["hmt_mae_c"]}
si_mae_pct = {metrics["si_mae_pct"]}
persistence_hmt_mae_c = {metrics["persistence_hmt_mae_c"]}
persistence_si_mae_pct = {metrics["persistence_si_mae_pct"]}
closed_loop_trend_hit_rate = {metrics["closed_loop_trend_hit_rate"]}
closed_loop_hmt_mae_c = {metrics["closed_loop_hmt_mae_c"]}
closed_loop_persistence_hmt_mae_c = {metrics["closed_loop_persistence_hmt_mae_c"]}
closed_loop_si_mae_pct = {metrics["closed_loop_si_mae_pct"]}
closed_loop_persistence_si_mae_pct = {metrics["closed_loop_persistence_si_mae_pct"]}
note = "open-loop campaigns (setpoint steps, faults) unless closed_loop_ (baseline operator holding HMT); MAE against the measured value 2 h later, measurement noise (3 C, 0.02 wt%) included"
''')
    (
        out / "bf_abnormal" / "model.toml"
    ).write_text(f'''description = "Blast furnace: abnormal state classifier"
task = "classification"
precision = "fp16"
{common}
[[outputs]]
name = "state"
description = "probabilities of {list(STATES)}"

[metrics]
eval_seeds = "{metrics["eval_seeds"]}"
accuracy = {metrics["abnormal_accuracy"]}
recall = {json.dumps(metrics["abnormal_recall"]).replace(":", " =").replace('"', "")}
training_state_counts = {_toml_list(state_counts)}
''')


CALIBRATION_SEEDS = range(500, 512)


def calibrate(hours: float = 72.0) -> dict[str, float]:
    """Aims for both controllers at the same risk, P(hot metal < 1,490 C) <= 2.5 %: each
    controller runs the calibration seeds aiming at 1,500 C; its aim becomes the one that puts
    its mean HMT at 1,490 C + 1.96 x the HMT spread it produced. The risk is the metal's: true
    HMT, not the dip measurement, whose 3 C noise says nothing about the metal and would charge
    the steadier controller for the thermocouple. Prints; paste into control.AIMS."""
    from dataclasses import replace

    from agentarts.industries.steel.control import BaselineRule, ForecastRule
    from agentarts.industries.steel.loop import Thermal, run_loop, summarise

    thermal = Thermal()

    def forecast_controller() -> Any:
        rule, since = ForecastRule(aim_c=1500.0), [99]

        def control(reading: Any, sp: Setpoints, window: list[Any]) -> Setpoints:
            since[0] += 1
            tags = np.array([r.tags() for r in window], np.float32)
            move = rule.move(thermal.candidates(tags, rule.candidates), since[0])
            if not move:
                return sp
            since[0] = 0
            return replace(sp, pci_rate_kg_thm=sp.pci_rate_kg_thm + move).clipped()

        return control

    out: dict[str, float] = {}
    controllers = {
        "baseline": lambda: lambda r, sp, w, rule=BaselineRule(aim_c=1500.0): rule(r, sp),
        "agent": forecast_controller,
    }
    for name, make in controllers.items():
        runs = [summarise(run_loop(seed, hours, make())) for seed in CALIBRATION_SEEDS]
        spread = float(np.sqrt(np.mean(np.square([r["true_hmt_std_c"] for r in runs]))))
        mean = float(np.mean([r["true_hmt_mean_c"] for r in runs]))
        measured = float(np.sqrt(np.mean(np.square([r["hmt_std_c"] for r in runs]))))
        # where a controller really holds HMT differs a little from its aim (a forecaster's
        # bias, the rule's [Si] term): correct for that, then add the risk margin
        out[name] = round(1500.0 + (1490.0 + 1.96 * spread - mean), 1)
        out[f"{name}_true_hmt_std_c"] = round(spread, 2)
        out[f"{name}_measured_hmt_std_c"] = round(measured, 2)
        out[f"{name}_offset_c"] = round(mean - 1500.0, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m agentarts.industries.steel.train")
    parser.add_argument("--out", type=Path, default=MODELS)
    parser.add_argument("--campaigns", type=int, default=len(TRAIN_SEEDS))
    parser.add_argument("--operated", type=int, default=len(OPERATED_SEEDS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="print controller aims from the calibration seeds and exit",
    )
    args = parser.parse_args()
    if args.calibrate:
        print(json.dumps(calibrate(), indent=2))
        return
    print(json.dumps(train(args.out, args.campaigns, args.epochs, args.operated), indent=2))


if __name__ == "__main__":
    main()
