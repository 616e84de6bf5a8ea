"""``agentarts runtime``: serve, models, devices, plan."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import typer

from agentarts.cli._base import console, print_json

runtime_app = typer.Typer(
    help="The local inference runtime (simulated Ascend NPUs).", no_args_is_help=True
)

_REPO_HELP = "Extra model repository (repeatable); installed packs' models are always served."


def _check_repos(repos: list[Path] | None) -> list[Path]:
    """Each ``--model-repository`` is an existing folder (a typo was silently ignored)."""
    from agentarts.errors import UsageError

    for repo in repos or []:
        if not repo.is_dir():
            why = "does not exist" if not repo.exists() else "is not a folder"
            raise UsageError(f"--model-repository {repo} {why}")
    return list(repos or [])


def _runtime(repos: list[Path] | None, devices: str | None, batching: bool = True) -> Any:
    from agentarts.config import load_settings
    from agentarts.runtime.local import LocalRuntime, default_repositories

    settings = load_settings()
    return LocalRuntime(
        default_repositories(_check_repos(repos)), devices or settings.devices, batching=batching
    )


@runtime_app.command(short_help="Serve the models over KServe v2 HTTP (and gRPC).")
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="HOST", help="Bind address (loopback by default)."
    ),
    port: int = typer.Option(
        8000, "--port", metavar="PORT", min=1, max=65535, help="HTTP port to listen on."
    ),
    model_repository: list[Path] | None = typer.Option(
        None, "--model-repository", metavar="DIR", help=_REPO_HELP
    ),
    devices: str | None = typer.Option(
        None,
        "--devices",
        metavar="SPEC",
        help="Simulated cards, e.g. 910B2x8 (default: [runtime] devices, 910B2x1).",
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", metavar="KEY", help="Required beyond loopback (or AGENTARTS_API_KEY)."
    ),
    no_batching: bool = typer.Option(False, "--no-batching", help="Turn dynamic batching off."),
    workers: int = typer.Option(
        1,
        "--workers",
        metavar="N",
        min=1,
        max=64,
        help="Server processes sharing the port (SO_REUSEPORT), each with its own models.",
    ),
    grpc_port: int | None = typer.Option(
        None,
        "--grpc-port",
        metavar="PORT",
        min=1,
        max=65535,
        help="Also serve KServe v2 gRPC on this port (Triton's flag; needs agentarts[grpc]).",
    ),
    backlog: int | None = typer.Option(
        None,
        "--backlog",
        metavar="N",
        min=1,
        help="Listen backlog (default: the kernel's net.core.somaxconn, or "
        "AGENTARTS_RUNTIME_BACKLOG).",
    ),
) -> None:
    """Serve the models over KServe v2 HTTP, and gRPC with --grpc-port (Triton/KServe/MindIE
    clients work)."""
    from agentarts.errors import UsageError
    from agentarts.runtime.http.server import is_loopback
    from agentarts.runtime.http.server import serve as run_server

    if api_key is not None and not api_key.strip():
        raise UsageError("--api-key is empty: give a non-empty key, or leave the option out")
    key = api_key or os.environ.get("AGENTARTS_API_KEY") or None
    if grpc_port is not None:
        if grpc_port == port:
            raise UsageError(f"--grpc-port {grpc_port} is the HTTP --port: pick another")
        from agentarts.runtime.grpc.server import grpc_modules

        grpc_modules()  # a missing extra is reported before any model loads
    if not is_loopback(host) and not key:
        raise UsageError(
            f"--host {host} is not loopback: an API key is required (--api-key or "
            "AGENTARTS_API_KEY)"
        )
    if workers > 1:
        import functools

        from agentarts.config import load_settings
        from agentarts.runtime.http.workers import serve_workers
        from agentarts.runtime.local import LocalRuntime, default_repositories

        factory = functools.partial(
            LocalRuntime,
            default_repositories(_check_repos(model_repository)),
            devices or load_settings().devices,
            batching=not no_batching,
        )
        console(stderr=True).print(
            f"AgentArts runtime on http://{host}:{port}"
            + (f", gRPC on {host}:{grpc_port}" if grpc_port is not None else "")
            + f" - {workers} worker processes"
        )
        serve_workers(
            factory, workers, host, port, api_key=key, grpc_port=grpc_port, backlog=backlog
        )
        return
    rt = _runtime(model_repository, devices, batching=not no_batching)
    failed = rt.load_all()
    out = console(stderr=True)
    for name, why in failed.items():
        out.print(f"[red]not serving[/] {name}: {why}")
    ready = [m for m in rt.list_models() if m["state"] == "READY"]
    grpc_note = f", gRPC on {host}:{grpc_port}" if grpc_port is not None else ""
    out.print(
        f"AgentArts runtime on http://{host}:{port}{grpc_note} - {len(ready)} model version(s) "
        f"ready on {len(rt.devices.cards)} simulated card(s)"
    )
    run_server(rt, host, port, api_key=key, grpc_port=grpc_port, backlog=backlog)


@runtime_app.command(short_help="List the models the runtime would serve, checking each.")
def models(
    model_repository: list[Path] | None = typer.Option(
        None, "--model-repository", metavar="DIR", help=_REPO_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """List the models the runtime would serve, loading each to check it."""
    rt = _runtime(model_repository, None)
    rt.load_all()
    rows = []
    for row in rt.list_models():
        if row["state"] == "READY":
            meta = rt.model_metadata(row["name"], row["version"])
            params = meta["parameters"]
            row.update(
                task=params["task"],
                max_batch_size=params["max_batch_size"],
                inputs=[f"{t['name']}{t['shape']}" for t in meta["inputs"]],
                outputs=[f"{t['name']}{t['shape']}" for t in meta["outputs"]],
                hbm_reserved_bytes=params["hbm_reserved_bytes"],
                device_time_us_batch1=round(rt.load(row["name"], row["version"]).device_us[1], 2),
            )
        rows.append(row)
    profile = rt.devices.cards[0].profile.name
    rt.close()
    if as_json:
        print_json({"models": rows, "repositories": [str(r) for r in rt.repository.roots]})
        return
    from rich.table import Table

    out = console()
    # tensor shapes need room: below 120 columns they give way (--json has them) rather than
    # fold every row over five lines
    wide = out.width >= 120
    # the card the runtime simulates (settings or AGENTARTS_DEVICES), not always a 910B2
    caption = f"us@1: simulated {profile} time of one row"
    if not wide:
        caption += "; inputs and outputs: --json or a wider terminal"
    table = Table(title="Models", caption=caption)
    columns = ["name", "v", "state", "task"] + (["inputs", "outputs"] if wide else [])
    for col in [*columns, "max batch", "us@1"]:
        # the name is what a user types next: never cut it
        table.add_column(col, no_wrap=col not in ("inputs", "outputs", "state"), overflow="fold")
    for r in rows:
        state = r["state"] if r["state"] == "READY" else f"{r['state']}: {r.get('reason', '')}"
        shapes = [_tensors(r.get("inputs", [])), _tensors(r.get("outputs", []))] if wide else []
        table.add_row(
            r["name"],
            r["version"],
            state[:200],
            r.get("task", "").replace("_", " "),
            *shapes,
            str(r.get("max_batch_size", "")),
            str(r.get("device_time_us_batch1", "")),
        )
    out.print(table if rows else "No models found. Add --model-repository DIR.")


def _tensors(names: list[str]) -> str:
    """``x[N,36,14]``, one a line: tensors as the table shows them (N: any batch size)."""
    return "\n".join(
        n.replace(" ", "").replace("[-1,", "[N,").replace("[-1]", "[N]") for n in names
    )


@runtime_app.command()
def devices(
    devices_spec: str | None = typer.Option(
        None,
        "--devices",
        metavar="SPEC",
        help="Simulated cards, e.g. 910B2x8,310P (default: [runtime] devices, 910B2x1).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Show the simulated Ascend cards and their published figures."""
    from agentarts.config import load_settings
    from agentarts.runtime.devices.profiles import PROFILES, parse_devices

    spec = devices_spec or load_settings().devices
    cards = parse_devices(spec)
    if as_json:
        print_json(
            {
                "spec": spec,
                "cards": [{"index": i, **p.summary()} for i, p in enumerate(cards)],
                "profiles": {n: p.summary() for n, p in PROFILES.items()},
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"Simulated devices ({spec})")
    for col in ("#", "profile", "FP16 TFLOPS", "INT8 TOPS", "HBM GB", "TB/s", "cube/vector"):
        table.add_column(col)
    for i, p in enumerate(cards):
        s = p.summary()
        table.add_row(
            str(i),
            p.name,
            str(s["peak_fp16_tflops"]),
            str(s["peak_int8_tops"]),
            f"{p.hbm_bytes / 1e9:.0f}",
            str(p.hbm_bandwidth_tbs),
            f"{p.cube_cores}/{p.vector_cores}",
        )
    out = console()
    out.print(table)
    out.print(
        "[dim]Figures: docs/sources.md and agentarts.runtime.devices; bandwidths and launch "
        "overheads are assumptions where Huawei publishes none.[/]"
    )


@runtime_app.command(short_help="Cards and batch settings that meet a QPS and p99 target.")
def plan(
    model: str = typer.Argument(..., metavar="MODEL", help="Model name in the repository."),
    qps: float = typer.Option(
        ..., "--qps", metavar="N", help="Requests (rows) per second to serve."
    ),
    p99_ms: float = typer.Option(
        ..., "--p99-ms", metavar="MS", help="p99 latency target in milliseconds."
    ),
    device: str = typer.Option(
        "910B2", "--device", metavar="NAME", help="Card profile: 910B2, 910B4, 910C or 310P."
    ),
    model_repository: list[Path] | None = typer.Option(
        None, "--model-repository", metavar="DIR", help=_REPO_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """How many cards and which batch settings meet a QPS and p99 target."""
    import onnx

    from agentarts.errors import UsageError
    from agentarts.runtime.devices.costmodel import CostModel
    from agentarts.runtime.devices.planner import plan_capacity
    from agentarts.runtime.devices.profiles import parse_devices
    from agentarts.runtime.engine.repository import ModelRepository, load_card
    from agentarts.runtime.local import default_repositories

    if not (0 < qps < math.inf and 0 < p99_ms < math.inf):  # NaN fails too
        raise UsageError("--qps and --p99-ms must be positive finite numbers")
    profile = parse_devices(device)[0]
    repo = ModelRepository(default_repositories(_check_repos(model_repository)))
    entry, _version, path = repo.resolve(model)
    proto = onnx.load(str(path))
    card = load_card(model, proto, entry.card_path)
    cost = CostModel(proto, profile, card.precision)
    sizes = [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256) if b <= card.batching.max_batch_size]
    result = plan_capacity(
        model, profile.name, lambda b: cost.batch_cost(b).time_s, qps, p99_ms, batch_sizes=sizes
    )
    if as_json:
        print_json(result.as_dict())
    else:
        _print_plan(result)
    if result.recommended is None:
        raise typer.Exit(1)


def _print_plan(result: Any) -> None:
    from rich.table import Table

    out = console()
    best = result.recommended
    if best is None:
        out.print(
            f"[red]No configuration meets p99 <= {result.p99_target_ms} ms at "
            f"{result.qps:g} QPS on {result.device}.[/]"
        )
    else:
        out.print(
            f"[green]{best.cards} x {result.device}[/] with max_batch_size="
            f"{best.max_batch_size}, max_queue_delay_us={best.max_queue_delay_us}: p99 "
            f"{best.p99_ms} ms (target {result.p99_target_ms}), utilisation "
            f"{best.utilization:.0%}"
        )
    table = Table(title=f"{result.model}: {result.qps:g} QPS, p99 <= {result.p99_target_ms} ms")
    for col in ("cards", "max batch", "delay us", "mean batch", "util", "p50 ms", "p99 ms", "ok"):
        table.add_column(col)
    for o in result.options[:12]:
        table.add_row(
            str(o.cards),
            str(o.max_batch_size),
            str(o.max_queue_delay_us),
            str(o.mean_batch),
            f"{o.utilization:.0%}",
            str(o.p50_ms),
            str(o.p99_ms),
            "yes" if o.meets_target else "no",
        )
    out.print(table)
    for note in result.notes:
        out.print(f"[dim]- {note}[/]")


def register(app: typer.Typer) -> None:
    app.add_typer(runtime_app, name="runtime")
