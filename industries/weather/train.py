"""Train the forecast emulator on the coarsened truth and export it to ONNX with its card.

    pip install torch==2.13.0               # the CPU build (an unpinned torch pulls CUDA, GBs)
    python -m agentarts.industries.weather.train [--out DIR] [--minutes 14] [--cache DIR]

Data: truth runs (128 x 128) from seeds 100-103, 120 days each after spin-up, coarsened to the
32 x 32 forecast grid every 6 h; validation seed 500 (40 days); the card's skill is measured on
seeds 9000-9004 (never used for training or tuning), 5 initial states each. The emulator (see
``net``) steps 24 h in eight 3 h substeps; the loss is the error of its own rollout at every
6 h frame, on 1-day windows (30 % of the time), 2-day (25 %), then 3-day windows, which keeps
5-day rollouts stable. Seeds are fixed (numpy, torch), but the training budget is wall time
(``--minutes``), so how many batches fit, and so the weights, depend on the machine's speed
and load; the card records the batches and the validation error of the kept state. The ONNX
graph is written node by node (see ``onnx_export``). One core: run it under the machine's
CPU-slot wrapper if you share the machine.

``agentarts train weather --data FILE.nc`` fits the same network on your own model's output
(see ``ncio.read_training_netcdf`` for the format) and writes into ``--out``, never over the
shipped model.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import UsageError

MODELS = Path(__file__).parent / "models"
MODEL_NAME = "qg_emulator"
TRAIN_SEEDS = range(100, 104)
VALID_SEEDS = range(500, 501)
EVAL_SEEDS = range(9000, 9005)
TRAIN_DAYS = 120
FRAMES_PER_DAY = 4  # data every 6 h
ROLLOUT = 3
#: shares of the training time on 1-day windows, then 2-day; the rest on ROLLOUT-day windows
ONE_STEP_SHARE, TWO_DAY_SHARE = 0.3, 0.25
LR, LR_SPECTRAL = 3e-4, 3e-5  # Adam: convolutions / per-mode corrections dE, dS
BATCH_ONE, BATCH_MULTI = 16, 8
VALID_EVERY_S = 45.0
WARMUP = 50  # batches of linearly rising learning rate
USER_MINUTES = 4.0  # training budget on a user's NetCDF


def generate(seeds: range, days: float, cache: Path | None = None) -> list[np.ndarray]:
    """Coarsened truth trajectories (frames every 6 h) of each seed; cached as .npy files."""
    from agentarts.industries.weather.data import Case, ModelPair

    pair, out = ModelPair(), []
    for seed in seeds:
        path = cache / f"truth_{seed}_{days:g}d.npy" if cache else None
        if path is not None and path.exists():
            out.append(np.load(path))
            continue
        frames = Case.generate(pair, seed, days, every_days=1 / FRAMES_PER_DAY).frames
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, frames)
        out.append(frames)
    return out


def _sequences(trajectories: list[np.ndarray], days: int, stride: int, gap: int) -> np.ndarray:
    """All windows of ``days`` days (every ``stride``-th frame of trajectories with ``gap``
    frames per day): (N, frames, 2, n, n)."""
    span = days * gap
    windows = []
    for frames in trajectories:
        for start in range(0, len(frames) - span):
            windows.append(frames[start : start + span + 1 : stride])
    if not windows:
        raise UsageError(f"the data hold no stretch of {days} days to learn from")
    return np.stack(windows).astype(np.float32)


def _supervision(gap: int) -> tuple[int, int]:
    """(frame stride, substeps per kept frame) for data with ``gap`` frames per day."""
    from agentarts.industries.weather.net import SUBSTEPS

    if gap <= SUBSTEPS and SUBSTEPS % gap == 0:
        return 1, SUBSTEPS // gap
    if gap % SUBSTEPS == 0:
        return gap // SUBSTEPS, 1
    raise UsageError(f"{gap} frames a day: use 1, 2, 4, 8 or a multiple of {SUBSTEPS}")


def fit(
    trajectories: list[np.ndarray],
    valid: list[np.ndarray],
    seed: int = 0,
    minutes: float = 8.0,
    log: Any = print,
    gap: int = FRAMES_PER_DAY,
) -> tuple[Any, dict[str, Any]]:
    """Train the network: ONE_STEP_SHARE of the time on 1-day windows, the rest on
    ROLLOUT-day rollouts; the loss is every supervised frame of the network's own rollout
    (Z500-like psi1 and T850-like psi1 - psi2, each divided by its spread)."""
    import torch

    from agentarts.industries.weather.net import build_net, field_scales

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    stride, per_frame = _supervision(gap)
    one = _sequences(trajectories, 1, stride, gap)
    two = _sequences(trajectories, 2, stride, gap)
    multi = _sequences(trajectories, ROLLOUT, stride, gap)
    vseq = _sequences(valid, ROLLOUT, stride, gap)
    vseq = torch.from_numpy(vseq[:: max(1, len(vseq) // 48)])
    net = build_net(d_scale=field_scales(np.concatenate(trajectories)))
    both = one[:, 0]
    spread = np.array([both[:, 0].std(), (both[:, 0] - both[:, 1]).std()], np.float32)
    weight = torch.from_numpy(1.0 / spread)
    spectral = [net.d_e, net.d_s]
    local = [p for name, p in net.named_parameters() if name not in ("d_e", "d_s")]
    opt = torch.optim.Adam([{"params": local, "lr": LR}, {"params": spectral, "lr": LR_SPECTRAL}])
    budget = minutes * 60
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    n = one.shape[-1]
    per_day = gap // stride

    def errors(states: list[Any], batch: Any) -> Any:
        """Squared normalised errors per supervised frame: (frames,)."""
        out = []
        for f in range(1, batch.shape[1]):
            d = states[f * per_frame - 1] - batch[:, f]
            z = d[:, 0] * weight[0]
            t = (d[:, 0] - d[:, 1]) * weight[1]
            out.append(0.5 * ((z**2).mean() + (t**2).mean()))
        return torch.stack(out)

    def validate() -> list[float]:
        with torch.no_grad():
            states = net.rollout(vseq[:, 0], (vseq.shape[1] - 1) * per_frame)
            err = errors(states, vseq).sqrt()
        return [round(float(err[d * per_day - 1]), 5) for d in range(1, ROLLOUT + 1)]

    history.append({"batches": 0, "rollout": 0, "valid_nrmse": validate()})
    log(f"untrained (a 3 h QG solver): valid normalised RMSE per day {history[0]['valid_nrmse']}")
    best = (sum(history[0]["valid_nrmse"]), 0, copy.deepcopy(net.state_dict()))
    kept = kept_init = history[0]["valid_nrmse"]
    batches = seen = skipped = 0
    last_check = started
    while (elapsed := time.perf_counter() - started) < budget:
        phase_multi = elapsed > ONE_STEP_SHARE * budget
        k = (
            1
            if not phase_multi
            else 2
            if elapsed < TWO_DAY_SHARE * budget + ONE_STEP_SHARE * budget
            else ROLLOUT
        )
        data = {1: one, 2: two}.get(k, multi)
        batch_size = min(BATCH_MULTI if phase_multi else BATCH_ONE, len(data))
        decay = 0.5 * (1 + np.cos(np.pi * min(1.0, elapsed / budget))) * 0.95 + 0.05
        decay *= min(1.0, (batches + 1) / WARMUP)
        for group, base in zip(opt.param_groups, (LR, LR_SPECTRAL), strict=True):
            group["lr"] = base * decay
        idx = rng.choice(len(data), batch_size, replace=False)
        shift = rng.integers(0, n, 2)  # translation symmetry of the periodic domain
        batch = torch.from_numpy(np.roll(data[idx], tuple(shift), axis=(-2, -1)))
        states = net.rollout(batch[:, 0], (batch.shape[1] - 1) * per_frame)
        loss = errors(states, batch).mean()
        opt.zero_grad()
        if not torch.isfinite(loss):  # a window blew up: skip it (its gradient is no guide)
            skipped += 1
            continue
        loss.backward()
        if not torch.isfinite(torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)):
            skipped += 1
            continue
        opt.step()
        batches += 1
        seen += batch_size
        if time.perf_counter() - last_check > VALID_EVERY_S or elapsed > budget - 1:
            last_check = time.perf_counter()
            errs = validate()
            history.append({"batches": batches, "rollout": k, "valid_nrmse": errs})
            if sum(errs) < best[0] and np.isfinite(sum(errs)):
                best = (sum(errs), batches, copy.deepcopy(net.state_dict()))
                kept = errs
            log(
                f"batch {batches} ({k}-day loss, {elapsed:.0f} s, {skipped} skipped): "
                f"valid nrmse per day {errs}"
            )
    net.load_state_dict(best[2])
    net.eval()
    log(f"kept batch {best[1]} (sum of valid normalised RMSE {best[0]:.4f})")
    epoch = round(seen / len(one), 2)
    info = {"epochs": epoch, "rounds": batches, "kept_round": best[1], "valid_nrmse": kept}
    info["skipped_batches"] = skipped
    return net, {**info, "history": history, "windows": len(one), "lim_nrmse": kept_init}


def evaluate(onnx_path: Path, seeds: range, inits: int = 5, spacing: int = 3) -> dict[str, Any]:
    """Skill of an exported emulator on fresh seeds (see ``verify``), onnxruntime direct."""
    from agentarts.industries.weather.data import Case, ModelPair
    from agentarts.industries.weather.emulator import OnnxStepper
    from agentarts.industries.weather.verify import LEADS, score_cases, summary

    pair = ModelPair()
    stepper = OnnxStepper(onnx_path)
    days = (inits - 1) * spacing + max(LEADS)
    cases = [Case.generate(pair, seed, days) for seed in seeds]
    return summary(score_cases(pair, cases, stepper.rollout, inits, spacing))


def _toml(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


def _graph_lines(path: Path) -> list[str]:
    """The card's lines on the exported graph (nodes, bytes, how to rebuild it)."""
    if not path.is_file():
        return []
    import onnx

    nodes = len(onnx.load(str(path)).graph.node)
    return [
        f"onnx_nodes = {nodes}",
        f"onnx_bytes = {path.stat().st_size}",
        'onnx_rebuild = "python -m agentarts.industries.weather.onnx_export --weights '
        '1/weights.npz --out 1/model.onnx"',
    ]


def write_card(out: Path, info: dict[str, Any], metrics: dict[str, Any]) -> None:
    """The model card (model.toml) next to version 1."""
    lines = [
        'description = "Forecast emulator: the 32x32 two-layer QG state 24 h ahead '
        '(roll out for longer leads)"',
        'task = "forecast"',
        'precision = "fp16"',
        "",
        "[[inputs]]",
        'name = "x"',
        'description = "layer streamfunctions psi1 (500 hPa) and psi2 (850 hPa) on the 32x32 '
        'forecast grid (500 km), m2/s"',
        'unit = ["m2/s"]',
        "valid_range = [-4e8, 4e8]",
        "",
        "[[outputs]]",
        'name = "y"',
        'description = "the same state 24 h later"',
        'unit = ["m2/s"]',
        "",
        "[batching]",
        "max_batch_size = 16",
        "preferred_batch_sizes = [4, 8, 16]",
        "",
        "[provenance]",
        'script = "agentarts.industries.weather.train"',
        f'data = "{info["data"]}"',
        f"windows = {info['windows']}",
        f"epochs = {info['epochs']}",
        f"batches = {info.get('rounds', 0)}",
        f"kept_batch = {info.get('kept_round', 0)}",
        f"valid_nrmse_per_day = {_toml(info.get('valid_nrmse', []))}",
        f"valid_nrmse_per_day_untrained = {_toml(info.get('lim_nrmse', []))}",
        f"train_minutes = {info['minutes']}",
        f"parameters = {info['parameters']}",
        *_graph_lines(out / MODEL_NAME / "1" / "model.onnx"),
        "",
        "[metrics]",
        f'eval_seeds = "{metrics.get("eval_seeds", "")}"',
        f"cases = {metrics.get('cases', 0)}",
        f"leads_days = {_toml(metrics['leads_days'])}",
    ]
    for key, value in metrics.items():
        if key.startswith(("rmse_", "acc_")):
            lines.append(f"{key} = {_toml(value)}")
    if "speedup_vs_truth" in metrics:
        lines += [
            f"seconds_5day_emulator = {metrics['seconds_5day']['emulator']}",
            f"speedup_vs_truth = {metrics['speedup_vs_truth']}",
            'speed_note = "5-day forecast, onnxruntime on one thread, beside the truth model '
            'in the same run (machine-dependent)"',
        ]
    lines.append(
        'note = "Z500 (m2/s2) and T850 (K) stand-ins against the coarsened 128x128 truth; '
        "numerical = the same QG equations run at 32x32 from the coarsened analysis; "
        'climatology = zero anomaly"'
    )
    (out / MODEL_NAME).mkdir(parents=True, exist_ok=True)
    (out / MODEL_NAME / "model.toml").write_text("\n".join(lines) + "\n")


def train(
    out: Path = MODELS,
    minutes: float = 14.0,
    seed: int = 0,
    cache: Path | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Generate data, fit, export, score on the evaluation seeds, write the card."""
    from agentarts.industries.weather.onnx_export import export_onnx

    started = time.perf_counter()
    log("generating truth runs ...")
    trajectories = generate(TRAIN_SEEDS, TRAIN_DAYS, cache)
    valid = generate(VALID_SEEDS, 40, cache)
    log(f"data ready in {time.perf_counter() - started:.0f} s")
    net, info = fit(trajectories, valid, seed=seed, minutes=minutes, log=log)
    path = out / MODEL_NAME / "1" / "model.onnx"
    export_onnx(net, path)
    _check_export(net, path, trajectories[0][:8])
    metrics = evaluate(path, EVAL_SEEDS)
    metrics["eval_seeds"] = f"{EVAL_SEEDS.start}-{EVAL_SEEDS.stop - 1}"
    info.update(
        data=f"truth seeds {TRAIN_SEEDS.start}-{TRAIN_SEEDS.stop - 1}, {TRAIN_DAYS} days each, "
        "6-hourly",
        minutes=round((time.perf_counter() - started) / 60, 1),
        parameters=sum(p.numel() for p in net.parameters()),
    )
    write_card(out, info, metrics)
    return {**metrics, "epochs": info["epochs"], "minutes": info["minutes"]}


def _check_export(net: Any, path: Path, frames: np.ndarray) -> None:
    import torch

    from agentarts.industries.weather.emulator import OnnxStepper

    with torch.no_grad():
        expected = net(torch.from_numpy(frames.astype(np.float32))).numpy()
    got = OnnxStepper(path).step(frames.astype(np.float32))
    err = float(np.abs(got - expected).max() / np.abs(expected).max())
    if err > 1e-4:
        raise RuntimeError(f"ONNX export differs from the trained network (rel. error {err:.2e})")


def train_command(
    data: Path | None = None,
    out: Path | None = None,
    seed: int | None = None,
    as_json: bool = False,
) -> dict[str, Any]:
    """``agentarts train weather``: fit the emulator on your NetCDF (``--data``) or on the
    pack's own truth runs, into ``--out`` (default ``./models``), never over the shipped model."""
    target = (out or Path("models")).resolve()
    if target == MODELS.resolve() or MODELS.resolve() in target.parents:
        raise UsageError(f"--out {target} is the shipped model folder; choose another")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "training needs torch: pip install 'agentarts[train]' (CPU: torch==2.13.0)"
        ) from exc
    if data is None:
        result = train(target, seed=seed or 0, log=_quiet(as_json))
    else:
        from agentarts.industries.weather.ncio import read_training_netcdf

        trajectories, every = read_training_netcdf(data)
        result = train_on(trajectories, every, target, seed or 0, _quiet(as_json))
    result["out"] = str(target / MODEL_NAME)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(f"wrote {result['out']} (point [runtime] model_repositories at {target})")
    return result


def _quiet(as_json: bool) -> Any:
    import sys

    return (lambda *_: None) if as_json else (lambda msg: print(msg, file=sys.stderr))


def train_on(
    trajectories: list[np.ndarray], every_days: float, out: Path, seed: int, log: Any
) -> dict[str, Any]:
    """Fit on a user's trajectories (frames every ``every_days``); the last 20 % (at least
    ROLLOUT days) are held out for validation."""
    from agentarts.industries.weather.onnx_export import export_onnx

    frames = np.concatenate(trajectories)
    gap = round(1 / every_days)
    cut = min(int(len(frames) * 0.8), len(frames) - ROLLOUT * gap - 1)
    net, info = fit(
        [frames[:cut]], [frames[cut:]], seed=seed, minutes=USER_MINUTES, log=log, gap=gap
    )
    path = out / MODEL_NAME / "1" / "model.onnx"
    export_onnx(net, path)
    last = [round(float(v), 4) for v in info["valid_nrmse"]]
    metrics = {"leads_days": list(range(1, len(last) + 1)), "rmse_valid_normalised": last}
    info.update(
        data="user NetCDF (last 20 % held out)",
        minutes=USER_MINUTES,
        parameters=sum(p.numel() for p in net.parameters()),
    )
    write_card(out, info, metrics)
    return {"epochs": info["epochs"], "valid_normalised_rmse_per_day": last}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m agentarts.industries.weather.train")
    parser.add_argument("--out", type=Path, default=MODELS)
    parser.add_argument("--minutes", type=float, default=14.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="keep truth runs here")
    parser.add_argument("--evaluate", action="store_true", help="score the model in --out")
    args = parser.parse_args()
    if args.evaluate:
        path = args.out / MODEL_NAME / "1" / "model.onnx"
        print(json.dumps(evaluate(path, EVAL_SEEDS), indent=2))
        return
    print(json.dumps(train(args.out, args.minutes, args.seed, args.cache), indent=2))


if __name__ == "__main__":
    main()
