"""Inference runtime benchmarks. Every figure has a same-run baseline.

1. In-process overhead on a 64->256->256->8 MLP: LocalRuntime.infer vs onnxruntime
   session.run (same options: one intra-op thread). Targets <= 1.5x at batch 1, <= 1.1x at 64.
2. Dynamic batching: 64 threads sending batch-1 requests, batching on vs off (target >= 3x), and
   vs raw onnxruntime rows/s at batch 64 (target >= 0.6x).
3. Serving (issue 14), wrk, 64 keep-alive connections, batch-1 requests, on the MLP and on a CNN
   of a crop classifier's size: `agentarts runtime serve` (JSON and binary tensors, a separate
   process) vs a bare FastAPI+onnxruntime server measured in the same run (its handler inline
   and in the thread pool; the better one is the baseline). Targets: MLP >= 1.0x, CNN >= 3x.
   LitServe (when installed) on the MLP with the same JSON body, batch 1 and its dynamic
   batching (target: ours >= 3x the better); gRPC requests/s with a Python client.
4. Overload: 2,560 connections (40x) for 15 s: goodput vs the sustainable rate (target >=
   0.8x), and a probe's latency per status (target: every refusal a 429 in under 5 ms). The
   probe is a second wrk whose LuaJIT script times each answer, connected before the storm and
   run at a higher CPU priority, so it measures the server rather than its own starvation.
   ``cnn_500ms`` (the CNN with a 500 ms timeout) is where the storm must be partly refused:
   there wrk's closed-loop clients (a refused client resends at once) and clients honouring
   the 429's ``Retry-After`` (seconds) or ``retry-after-ms``; the server's own time per 429
   comes from its /metrics histogram. Every storm and serving row says where the CPU went
   (the server's us per answer, other processes, steal), since ratios move between runs.
5. Cost model: a MatMul's simulated time against the roofline arithmetic done by hand.

The sustainable rate of each storm is measured twice: in the serving table (minutes earlier,
as before) and interleaved, the same server at 64 connections for 5 s just before and just
after its storm; the target's ratio is against the mean of those two (machine drift between
the serving table and a storm moved the old ratio by +-25 %), and both ratios are printed.

``AGENTARTS_BENCH_RUNTIME`` runs a subset (comma-separated): overhead, batching, serving,
grpc, mlp, cnn, cnn_500ms (the last three: the storms), cost; unset: everything.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.runtime.testing import free_port
from bench._common import (
    grpc_infer_rps,
    kserve_bodies,
    table,
    wrk,
    wrk_available,
)
from bench._runtime_peers import (
    PORTS,
    CpuMeter,
    asyncio_floor,
    bare_server,
    histogram_quantile_ms,
    litserve_rates,
    ort_session,
    ours_server,
    probe_stats,
    quietest_wrk,
    refusal_histogram,
    sample,
    storm,
    tree_rss_mb,
)


def _per_call_us(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def overhead(repo: Path, rounds: int = 25) -> dict[str, float]:
    from agentarts.runtime.local import LocalRuntime

    rt = LocalRuntime([repo], include_packs=False)
    session = ort_session(repo / "mlp" / "1" / "model.onnx")
    out = {}
    for batch, calls in ((1, 4000), (64, 600)):
        feeds = {"x": np.random.default_rng(0).standard_normal((batch, 64)).astype(np.float32)}
        raw = lambda feeds=feeds: session.run(None, feeds)  # noqa: E731
        ours = lambda feeds=feeds: rt.infer("mlp", feeds)  # noqa: E731
        for fn in (raw, ours):
            _per_call_us(fn, calls // 4)  # warm up
        raw_t, our_t = [], []
        for _ in range(rounds):  # interleaved rounds: machine noise hits both alike
            raw_t.append(_per_call_us(raw, calls))
            our_t.append(_per_call_us(ours, calls))
        # The minimum over rounds is the intrinsic cost: machine noise only ever adds time.
        out[f"raw_b{batch}_us"] = min(raw_t)
        out[f"local_b{batch}_us"] = min(our_t)
        out[f"median_ratio_b{batch}"] = statistics.median(our_t) / statistics.median(raw_t)
        out[f"ratio_b{batch}"] = out[f"local_b{batch}_us"] / out[f"raw_b{batch}_us"]
    rt.close()
    return out


def _threads_throughput(rt, callers: int, per_caller: int) -> float:
    x = {"x": np.ones((1, 64), np.float32)}
    barrier = threading.Barrier(callers + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(per_caller):
            rt.infer("mlp", x)

    threads = [threading.Thread(target=work) for _ in range(callers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return callers * per_caller / (time.perf_counter() - start)


def _async_throughput(rt, callers: int, per_caller: int) -> float:
    x = {"x": np.ones((1, 64), np.float32)}

    async def load() -> float:
        async def one() -> None:
            for _ in range(per_caller):
                await rt.ainfer("mlp", x)

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(callers)))
        return callers * per_caller / (time.perf_counter() - start)

    return asyncio.run(load())


def batching(repo: Path, callers: int = 64, per_caller: int = 400) -> dict[str, float]:
    from agentarts.runtime.local import LocalRuntime

    on = LocalRuntime([repo], include_packs=False)
    off = LocalRuntime([repo], include_packs=False, batching=False)
    session = ort_session(repo / "mlp" / "1" / "model.onnx")
    x64 = {"x": np.ones((64, 64), np.float32)}
    out: dict[str, float] = {}
    for kind, measure in (("async", _async_throughput), ("threads", _threads_throughput)):
        measure(on, callers, 20)
        measure(off, callers, 20)
        before = (
            on.load("mlp").batcher.stats.exec_count,
            on.load("mlp").batcher.stats.inference_count,
        )
        # best of 5 rounds: on a shared VM noise only ever lowers throughput
        out[f"{kind}_on_rps"] = max(measure(on, callers, per_caller) for _ in range(5))
        stats = on.load("mlp").batcher.stats
        out[f"{kind}_mean_batch"] = (stats.inference_count - before[1]) / max(
            1, stats.exec_count - before[0]
        )
        out[f"{kind}_off_rps"] = max(measure(off, callers, per_caller) for _ in range(5))
        out[f"{kind}_on_vs_off"] = out[f"{kind}_on_rps"] / out[f"{kind}_off_rps"]
    out["raw_b64_rows_s"] = max(
        64e6 / _per_call_us(lambda: session.run(None, x64), 500) for _ in range(5)
    )
    out["async_on_vs_raw_b64"] = out["async_on_rps"] / out["raw_b64_rows_s"]
    out["floor_rps"] = max(asyncio_floor(session, callers, per_caller) for _ in range(5))
    out["floor_vs_raw_b64"] = out["floor_rps"] / out["raw_b64_rows_s"]
    lm = on.load("mlp")
    out["device_rows_per_s_b1"] = 1e6 / lm.device_us[1]
    out["device_rows_per_s_b64"] = 64e6 / lm.device_us[64]
    on.close()
    off.close()
    return out


def serving(repo: Path, seconds: float = 8.0, clients: int = 64) -> dict[str, float]:
    """Ours vs a bare FastAPI+onnxruntime server (both uvloop+httptools), same run, wrk."""
    out: dict[str, float] = {}
    for model, shape in (("mlp", (1, 64)), ("cnn", (1, 1, 64, 64))):
        bodies = kserve_bodies(sample(shape))
        url = f"/v2/models/{model}/infer"
        for mode in ("inline", "threads"):
            with bare_server(repo, model, mode) as srv:
                wrk(srv.url + url, *bodies["json"], clients, 2, workdir=repo)  # warm up
                r = quietest_wrk(srv, url, bodies["json"], clients, seconds, repo)
                r["rss_mb"] = tree_rss_mb(srv.proc.pid)
            out.update({f"{model}_bare_{mode}_{k}": v for k, v in r.items()})
        bare = max(out[f"{model}_bare_inline_rps"], out[f"{model}_bare_threads_rps"])
        out[f"{model}_bare_best_rps"] = bare
        with ours_server(repo) as srv:
            for kind in ("json", "binary"):
                wrk(srv.url + url, *bodies[kind], clients, 2, workdir=repo)
                r = quietest_wrk(srv, url, bodies[kind], clients, seconds, repo)
                r["rss_mb"] = tree_rss_mb(srv.proc.pid)
                out.update({f"{model}_ours_{kind}_{k}": v for k, v in r.items()})
                out[f"{model}_ours_{kind}_vs_bare"] = r["rps"] / bare
    out.update(litserve_rates(repo, seconds, clients))
    return out


def grpc_throughput(repo: Path, seconds: float = 8.0, clients: int = 64) -> dict[str, float]:
    grpc_port = free_port(PORTS)
    with ours_server(repo, grpc_port=grpc_port):
        address = f"127.0.0.1:{grpc_port}"
        rps = asyncio.run(grpc_infer_rps(address, "mlp", sample((1, 64)), clients, seconds))
    return {"mlp_grpc_rps": rps}


# Storms on ``cnn_500ms``, where the line must be partly refused: the clients of wrk's default
# (closed loop: a refused client resends at once) and clients that honour a 429's wait.
HONOURING = (("honour_s", "retry-after"), ("honour_ms", "retry-after-ms"))


def overload(
    repo: Path,
    sustainable_rps: float,
    model: str = "mlp",
    kind: str = "json",
    bare: bool = True,
    honouring: bool = False,
) -> dict[str, float]:
    """2,560 connections, 40x the 64 of the sustainable run, for 15 s (ours, the bare server
    when ``bare``, and ours under clients honouring Retry-After or retry-after-ms when
    ``honouring``), with the probe's latency per status, the server's own refusal times (its
    /metrics histogram) and where the CPU went."""
    out: dict[str, float] = {}
    shape = (1, 64) if model == "mlp" else (1, 1, 64, 64)
    body, headers = kserve_bodies(sample(shape))[kind]
    storms: list[tuple[str, Any, str | None]] = [("ours", lambda: ours_server(repo), None)]
    if bare:
        storms.append(("bare", lambda: bare_server(repo, model, "inline"), None))
    if honouring:
        storms += [(label, lambda: ours_server(repo), header) for label, header in HONOURING]
    for label, server, honour in storms:
        with server() as srv:
            url = f"{srv.url}/v2/models/{model}/infer"
            paired = after = float("nan")
            if label != "bare":  # this server's own 64-connection rate, just before its storm
                wrk(url, body, headers, 64, 1, workdir=repo)
                meter = CpuMeter(srv.proc.pid)
                paired = wrk(url, body, headers, 64, 5, workdir=repo)["goodput_rps"]
                calm_us = meter.stop(paired * 5.0)["server_us_per_answer"]
            meter = CpuMeter(srv.proc.pid)
            r, latencies = storm(url, body, headers, 2560, 15.0, repo, honour)
            r.update(meter.stop(r["rps"] * 15.0))
            if label != "bare":  # ... and just after it (the line drained first)
                time.sleep(1.0)
                after = wrk(url, body, headers, 64, 5, workdir=repo)["goodput_rps"]
            r["paired_rps"], r["after_rps"] = paired, after
            r["interleaved_rps"] = (paired + after) / 2
            if label != "bare":  # server CPU per 200 at 64 connections, and what a 429 cost
                r["calm_us_per_answer"] = calm_us
                r["us_per_refusal"] = float("nan")
                if r["non2xx"]:
                    storm_cpu_us = r["server_us_per_answer"] * r["rps"] * 15.0
                    served_us = calm_us * r["goodput_rps"] * 15.0
                    r["us_per_refusal"] = (storm_cpu_us - served_us) / r["non2xx"]
            if label != "bare":
                buckets = refusal_histogram(srv.url)
                r["server_429"] = float(buckets[-1][1] if buckets else 0)
                r["server_429_p50_ms"] = histogram_quantile_ms(buckets, 0.50)
                r["server_429_p99_ms"] = histogram_quantile_ms(buckets, 0.99)
        out.update({f"{label}_{k}": v for k, v in r.items()})
        out[f"{label}_goodput_vs_sustainable"] = r["goodput_rps"] / sustainable_rps
        out[f"{label}_goodput_vs_interleaved"] = r["goodput_rps"] / r["interleaved_rps"]
        out.update({f"{label}_{k}": v for k, v in probe_stats(latencies).items()})
    return out


def cost_model() -> dict[str, float]:
    from agentarts.runtime.devices.costmodel import CostModel
    from agentarts.runtime.devices.profiles import PROFILES
    from agentarts.runtime.testing import make_matmul

    p = PROFILES["910B2"]
    b, k, n = 4096, 1024, 1024
    simulated = CostModel(make_matmul(k, n), p).batch_cost(b).time_s
    cycles = math.ceil(math.ceil(b / 16) * math.ceil(n / 16) / p.cube_cores) * math.ceil(k / 16)
    compute = cycles / (p.clock_ghz * 1e9) / p.compute_efficiency
    moved = (b * k + k * n + b * n) * 2
    memory = moved / (p.hbm_bandwidth * p.l2_bandwidth_factor * p.memory_efficiency)
    by_hand = max(compute, memory) + p.launch_overhead_us * 1e-6
    return {
        "simulated_us": simulated * 1e6,
        "by_hand_us": by_hand * 1e6,
        "tflops_achieved": 2 * b * k * n / simulated / 1e12,
    }


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _serving_rows(sv: dict[str, float]) -> list[tuple[str, str, str]]:
    rows = []
    for model, name in (("mlp", "MLP 64-256-256-8"), ("cnn", "CNN 64x64x1, 60k params")):
        target = 1.0 if model == "mlp" else 3.0
        for who, kind in (
            ("bare", "inline"),
            ("bare", "threads"),
            ("ours", "json"),
            ("ours", "binary"),
        ):
            key = f"{model}_{who}_{kind}"
            note = f"p50 {sv[key + '_p50_ms']:.1f} ms, p99 {sv[key + '_p99_ms']:.1f} ms"
            note += f", {sv[key + '_rss_mb']:.0f} MB; {_cpu_note(sv, key)}"
            if sv[key + "_attempts"] > 1:
                note += f" (quietest of {sv[key + '_attempts']:.0f} tries)"
            if who == "ours":
                ratio = sv[f"{key}_vs_bare"]
                met = _met(ratio >= target)
                note = f"{ratio:.2f}x best bare; {note}; target >= {target:g}x: {met}"
            label = "bare FastAPI+ORT" if who == "bare" else "agentarts serve"
            rows.append(
                (f"{name}: {label} ({kind})", f"{sv[key + '_goodput_rps']:,.0f} req/s", note)
            )
    if "mlp_litserve_b1_rps" in sv:
        best = max(sv["mlp_litserve_b1_goodput_rps"], sv["mlp_litserve_b64_goodput_rps"])
        for batch in (1, 64):
            key = f"mlp_litserve_b{batch}"
            rows.append(
                (
                    f"MLP: LitServe {'batch 1' if batch == 1 else 'batching 64, 2 ms'} (json)",
                    f"{sv[key + '_goodput_rps']:,.0f} req/s",
                    f"p50 {sv[key + '_p50_ms']:.1f} ms, p99 {sv[key + '_p99_ms']:.1f} ms, "
                    f"{sv[key + '_rss_mb']:.0f} MB in {sv[key + '_processes']:.0f} processes",
                )
            )
        ratio = sv["mlp_ours_json_goodput_rps"] / best
        sv["mlp_ours_json_vs_litserve"] = ratio
        rows.append(
            (
                "MLP: agentarts serve (json) vs best LitServe",
                f"{ratio:.2f}x",
                f"target >= 3x: {_met(ratio >= 3)}",
            )
        )
    else:
        rows.append(("MLP: litserve", "not installed", "pip install 'agentarts[bench]'"))
    return rows


_STORM_NAMES = {
    "ours": "ours",
    "bare": "bare",
    "honour_s": "ours, clients honour Retry-After",
    "honour_ms": "ours, clients honour retry-after-ms",
}


def _cpu_note(r: dict[str, float], key: str) -> str:
    return (
        f"server CPU {r[key + '_server_us_per_answer']:.0f} us/answer, "
        f"other processes {r[key + '_other_cores']:.2f} cores, steal {r[key + '_steal_cores']:.2f}"
    )


def _calm_note(ov: dict[str, float], label: str) -> str:
    """The same server's CPU per answer at 64 connections just before the storm, and what
    each 429 cost (the storm's CPU less its 200s at that rate, over the 429s)."""
    if label == "bare":
        return ""
    note = f"; at 64 connections just before: {ov[label + '_calm_us_per_answer']:.0f} us/answer"
    if ov[label + "_non2xx"]:
        note += f"; ~{ov[label + '_us_per_refusal']:.0f} us per 429 (the rest of the storm's CPU)"
    return note


def _overload_rows(ov: dict[str, float], labels: list[str]) -> list[tuple[str, str, str]]:
    rows = []
    for label in labels:
        name = _STORM_NAMES[label]
        good = ov[f"{label}_goodput_vs_sustainable"]
        target = label != "bare"
        table_note = f"{good:.2f}x the serving table's rate" if good == good else "no serving table"
        if target and good == good:
            table_note += f" (target >= 0.8x: {_met(good >= 0.8)})"
        elif not target:
            table_note = f"{good:.2f}x ours' serving-table rate" if good == good else "-"
        refused = ov[f"{label}_probe_429"]
        p99 = ov[f"{label}_probe_429_p99_ms"]
        verdict = ""
        if target:
            verdict = f" (target < 5 ms: {_met(p99 < 5)})" if refused else " (no refusal to time)"
        rows += [
            (
                f"{name}: goodput at 2,560 connections",
                f"{ov[label + '_goodput_rps']:,.0f} req/s",
                table_note
                + f"; {ov[label + '_non2xx']:,.0f} non-2xx, {ov[label + '_socket_errors']:,.0f}"
                + f" socket errors; p50 {ov[label + '_p50_ms']:.0f} ms, p99 "
                + f"{ov[label + '_p99_ms']:.0f} ms",
            ),
            (
                f"{name}: CPU during the storm",
                "",
                f"{_cpu_note(ov, label)}; {ov[label + '_listen_overflows']:,.0f} listen overflows"
                + _calm_note(ov, label),
            ),
            (
                f"{name}: probe, 429 answers",
                f"{refused:,.0f} x 429",
                f"p50 {ov[label + '_probe_429_p50_ms']:.1f} ms, p99 {p99:.1f} ms, "
                f"max {ov[label + '_probe_429_max_ms']:.1f} ms{verdict}",
            ),
            (
                f"{name}: probe, 200 answers",
                f"{ov[label + '_probe_200']:,.0f} x 200",
                f"p50 {ov[label + '_probe_ok_p50_ms']:.1f} ms, "
                f"p99 {ov[label + '_probe_ok_p99_ms']:.1f} ms; "
                f"{ov[label + '_probe_other']:,.0f} other answers or socket errors",
            ),
        ]
        paired = ov[f"{label}_paired_rps"]
        if paired == paired:  # measured (not nan)
            ratio = ov[f"{label}_goodput_vs_interleaved"]
            rows.append(
                (
                    f"{name}: same server, 64 conns, before/after",
                    f"{paired:,.0f} / {ov[label + '_after_rps']:,.0f} req/s",
                    f"storm goodput = {ratio:.2f}x their mean (sustainable rate measured "
                    f"interleaved); target >= 0.8x: {_met(ratio >= 0.8)}",
                )
            )
        if target and ov[f"{label}_server_429"]:
            p99 = ov[f"{label}_server_429_p99_ms"]
            rows.append(
                (
                    f"{name}: 429s timed in the server",
                    f"{ov[label + '_server_429']:,.0f} x 429",
                    f"p50 <= {ov[label + '_server_429_p50_ms']:g} ms, p99 <= {p99:g} ms "
                    f"(ASGI call to answer written; /metrics buckets); target < 5 ms: "
                    f"{_met(p99 <= 5)}",
                )
            )
        if label in ("ours", "bare"):  # closed loop: every connection always waits for one
            rows.append(
                (
                    f"{name}: Little's law, closed loop",
                    f"{2560 / ov[label + '_rps'] * 1e3:,.0f} ms",
                    f"mean time per answer = 2,560 connections / {ov[label + '_rps']:,.0f} "
                    "answers/s, whatever the server does: every answer under 5 ms would take "
                    "512,000 answers/s",
                )
            )
    return rows


def _parts() -> set[str]:
    """The parts ``AGENTARTS_BENCH_RUNTIME`` asks for (see the module docstring)."""
    every = {"overhead", "batching", "serving", "grpc", "mlp", "cnn", "cnn_500ms", "cost"}
    given = {p.strip() for p in os.environ.get("AGENTARTS_BENCH_RUNTIME", "").split(",")}
    given.discard("")
    if given - every:
        raise SystemExit(f"AGENTARTS_BENCH_RUNTIME: unknown {sorted(given - every)}; {every}")
    return given or every


def _serving_tables(repo: Path, parts: set[str]) -> dict[str, float]:
    """Sections 3-5: HTTP/gRPC serving against the bare server and LitServe, and overload."""
    if not wrk_available():
        print("\n## Runtime: serving\n\nskipped: wrk is not installed (apt-get install wrk)")
        return {}
    sv: dict[str, float] = {}
    if "serving" in parts:
        sv = serving(repo)
        _grpc_and_print(repo, sv, parts)
    elif "grpc" in parts:
        _grpc_and_print(repo, sv, parts)
    _storms(repo, sv, parts)
    return sv


def _grpc_and_print(repo: Path, sv: dict[str, float], parts: set[str]) -> None:
    rows = _serving_rows(sv) if "serving" in parts else []
    try:
        sv.update(grpc_throughput(repo))
        rows.append(
            (
                "MLP: agentarts gRPC (Python grpc.aio client)",
                f"{sv['mlp_grpc_rps']:,.0f} req/s",
                "64 concurrent calls; the client's own CPU is included",
            )
        )
    except ImportError as exc:
        rows.append(("MLP: agentarts gRPC", "skipped", f"{exc}"))
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        rows.append(
            (
                "MLP: Ray Serve",
                "not installed",
                "ray[serve] 2.60 would upgrade protobuf to 7.x, which tritonclient refuses",
            )
        )
    table("Runtime: serving, wrk, 64 connections, batch-1 requests, same run", rows)


def _storms(repo: Path, sv: dict[str, float], parts: set[str]) -> None:
    # cnn_500ms: the same CNN with a 500 ms timeout in its card, so that 2,560 connections
    # (~1.2 s of work in line) must be partly refused: the refusal latency is measured there.
    # It also runs storms of clients that honour the 429's wait (HONOURING).
    for model, kind, bare in (
        ("mlp", "json", True),
        ("cnn", "binary", False),
        ("cnn_500ms", "binary", False),
    ):
        if model not in parts:
            continue
        sustainable = sv.get(f"{model[:3]}_ours_{kind}_goodput_rps", float("nan"))
        honouring = model == "cnn_500ms"
        ov = overload(repo, sustainable, model, kind, bare, honouring)
        sv.update({f"overload_{model}_{k}": v for k, v in ov.items()})
        labels = ["ours", *(["bare"] if bare else []), *(["honour_s", "honour_ms"] * honouring)]
        title = f"Runtime: overload, {model} ({kind}), 2,560 connections"
        table(f"{title} (serving table: {sustainable:,.0f} req/s)", _overload_rows(ov, labels))


def run() -> dict[str, dict[str, float]]:
    from agentarts.runtime.testing import make_cnn, make_mlp, write_model

    parts = _parts()
    o: dict[str, float] = {}
    bt: dict[str, float] = {}
    c: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        write_model(repo, "mlp", make_mlp())
        if "overhead" in parts:
            o = overhead(repo)
            _overhead_table(o)
        if "batching" in parts:
            bt = batching(repo)
            _batching_table(bt)
        write_model(repo, "cnn", make_cnn())
        write_model(repo, "cnn_500ms", make_cnn(), card="[batching]\ntimeout_ms = 500\n")
        sv = _serving_tables(repo, parts)
    if "cost" in parts:
        c = cost_model()
        _cost_table(c)
    return {"overhead": o, "batching": bt, "serving": sv, "cost_model": c}


def _overhead_table(o: dict[str, float]) -> None:
    table(
        "Runtime: in-process overhead (64->256->256->8 MLP, best of 25 interleaved rounds)",
        [
            ("session.run batch 1", f"{o['raw_b1_us']:.1f} us", "baseline"),
            (
                "LocalRuntime.infer batch 1",
                f"{o['local_b1_us']:.1f} us",
                f"{o['ratio_b1']:.2f}x (median {o['median_ratio_b1']:.2f}x); target <= 1.5x: "
                f"{'met' if o['ratio_b1'] <= 1.5 else 'MISSED'}",
            ),
            ("session.run batch 64", f"{o['raw_b64_us']:.1f} us", "baseline"),
            (
                "LocalRuntime.infer batch 64",
                f"{o['local_b64_us']:.1f} us",
                f"{o['ratio_b64']:.2f}x (median {o['median_ratio_b64']:.2f}x); target <= 1.1x: "
                f"{'met' if o['ratio_b64'] <= 1.1 else 'MISSED'}",
            ),
        ],
    )


def _batching_table(bt: dict[str, float]) -> None:
    table(
        "Runtime: dynamic batching, 64 in-process callers, batch-1 requests",
        [
            ("asyncio callers, batching off", f"{bt['async_off_rps']:,.0f} req/s", "baseline"),
            (
                "asyncio callers, batching on",
                f"{bt['async_on_rps']:,.0f} req/s",
                f"{bt['async_on_vs_off']:.1f}x off; target >= 3x: "
                f"{'met' if bt['async_on_vs_off'] >= 3 else 'MISSED'}; mean batch "
                f"{bt['async_mean_batch']:.1f}",
            ),
            (
                "raw onnxruntime batch 64",
                f"{bt['raw_b64_rows_s']:,.0f} rows/s",
                f"asyncio batching on = {bt['async_on_vs_raw_b64']:.2f}x; target >= 0.6x: "
                f"{'met' if bt['async_on_vs_raw_b64'] >= 0.6 else 'MISSED'}",
            ),
            (
                "asyncio floor, no runtime code",
                f"{bt['floor_rps']:,.0f} req/s",
                f"{bt['floor_vs_raw_b64']:.2f}x raw: a future per request + one session.run "
                "per batch, the most any asyncio batcher gets here",
            ),
            ("thread callers, batching off", f"{bt['threads_off_rps']:,.0f} req/s", "baseline"),
            (
                "thread callers, batching on",
                f"{bt['threads_on_rps']:,.0f} req/s",
                f"{bt['threads_on_vs_off']:.2f}x off; mean batch {bt['threads_mean_batch']:.1f}",
            ),
            (
                "simulated 910B2, batch 1",
                f"{bt['device_rows_per_s_b1']:,.0f} rows/s",
                "device-side baseline (roofline)",
            ),
            (
                "simulated 910B2, batch 64",
                f"{bt['device_rows_per_s_b64']:,.0f} rows/s",
                f"{bt['device_rows_per_s_b64'] / bt['device_rows_per_s_b1']:.0f}x batch 1",
            ),
        ],
    )


def _cost_table(c: dict[str, float]) -> None:
    table(
        "Cost model: MatMul 4096x1024 @ 1024x1024 on 910B2 (fp16)",
        [
            ("roofline by hand", f"{c['by_hand_us']:.3f} us", "baseline"),
            (
                "CostModel",
                f"{c['simulated_us']:.3f} us",
                f"{c['simulated_us'] / c['by_hand_us']:.6f}x; {c['tflops_achieved']:.0f} TFLOPS",
            ),
        ],
    )


if __name__ == "__main__":
    run()
