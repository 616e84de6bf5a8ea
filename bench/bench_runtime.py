"""Inference runtime benchmarks (issue: bundled runtime). Every figure has a same-run baseline.

1. In-process overhead on a 64->256->256->8 MLP: LocalRuntime.infer vs onnxruntime
   session.run (same options: one intra-op thread). Targets <= 1.5x at batch 1, <= 1.1x at 64.
2. Dynamic batching: 64 threads sending batch-1 requests, batching on vs off (target >= 3x), and
   vs raw onnxruntime rows/s at batch 64 (target >= 0.6x).
3. HTTP: 32 concurrent clients sending batch-1 requests to `agentarts runtime serve` (a separate
   process), batching on vs off: requests/s, p50 and p99.
4. Cost model: a MatMul's simulated time against the roofline arithmetic done by hand.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench._common import console_script, table


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _per_call_us(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def overhead(repo: Path, rounds: int = 25) -> dict[str, float]:
    from agentarts.runtime.local import LocalRuntime

    rt = LocalRuntime([repo], include_packs=False)
    session = _session(repo / "mlp" / "1" / "model.onnx")
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


def _asyncio_floor(session, callers: int, per_caller: int) -> float:
    """The ceiling of any asyncio batcher in this interpreter: no runtime code at all, only a
    future per request and one session.run per batch of everything queued (inline, as the
    runtime runs short batches). What the event loop itself costs per request."""
    run = session.run

    async def load() -> float:
        loop = asyncio.get_running_loop()
        queue: list = []
        scheduled = [False]

        def dispatch() -> None:
            scheduled[0] = False
            batch = queue[:]
            queue.clear()
            out = run(None, {"x": np.concatenate([x for x, _ in batch])})[0]
            for i, (_, future) in enumerate(batch):
                future.set_result(out[i : i + 1])

        async def one() -> None:
            x = np.ones((1, 64), np.float32)
            for _ in range(per_caller):
                future = loop.create_future()
                queue.append((x, future))
                if not scheduled[0]:
                    scheduled[0] = True
                    loop.call_soon(dispatch)
                await future

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(callers)))
        return callers * per_caller / (time.perf_counter() - start)

    return asyncio.run(load())


def batching(repo: Path, callers: int = 64, per_caller: int = 400) -> dict[str, float]:
    from agentarts.runtime.local import LocalRuntime

    on = LocalRuntime([repo], include_packs=False)
    off = LocalRuntime([repo], include_packs=False, batching=False)
    session = _session(repo / "mlp" / "1" / "model.onnx")
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
    out["floor_rps"] = max(_asyncio_floor(session, callers, per_caller) for _ in range(5))
    out["floor_vs_raw_b64"] = out["floor_rps"] / out["raw_b64_rows_s"]
    lm = on.load("mlp")
    out["device_rows_per_s_b1"] = 1e6 / lm.device_us[1]
    out["device_rows_per_s_b64"] = 64e6 / lm.device_us[64]
    on.close()
    off.close()
    return out


async def _http_client(
    host: str, port: int, body: bytes, stop: float, latencies: list[float]
) -> None:
    """One keep-alive HTTP/1.1 connection sending requests back to back (minimal client cost)."""
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        b"POST /v2/models/mlp/infer HTTP/1.1\r\nhost: bench\r\n"
        b"content-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    try:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            if status != b"200":
                raise RuntimeError(f"server answered {status!r}")
            latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _http_load(url: str, clients: int, seconds: float) -> dict[str, float]:
    import json

    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}]}
    ).encode()
    latencies: list[float] = []
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(
        *(_http_client(host, int(port), body, stop, latencies) for _ in range(clients))
    )
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
    }


def _serve(repo: Path, batching: bool) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        console_script("agentarts"),
        "runtime",
        "serve",
        "--port",
        str(port),
        "--model-repository",
        str(repo),
    ] + ([] if batching else ["--no-batching"])
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AGENTARTS_DATA_DIR": str(repo / ".data")},
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(url + "/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def http(repo: Path, clients: int = 32, seconds: float = 6.0) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, batching_on in (("on", True), ("off", False)):
        proc, url = _serve(repo, batching_on)
        try:
            asyncio.run(_http_load(url, clients, 1.0))  # warm up
            for key, value in asyncio.run(_http_load(url, clients, seconds)).items():
                out[f"{label}_{key}"] = value
        finally:
            proc.terminate()
            proc.wait(10)
    return out


def cost_model() -> dict[str, float]:
    from agentarts.runtime.costmodel import CostModel
    from agentarts.runtime.devices import PROFILES
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


def run() -> dict[str, dict[str, float]]:
    from agentarts.runtime.testing import make_mlp, write_model

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        write_model(repo, "mlp", make_mlp())
        o = overhead(repo)
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
        bt = batching(repo)
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
                    f"{bt['threads_on_vs_off']:.2f}x off; "
                    f"mean batch {bt['threads_mean_batch']:.1f}",
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
        h = http(repo)
        table(
            "Runtime: HTTP (KServe v2 JSON), 32 concurrent clients, batch-1 requests",
            [
                (
                    "batching off",
                    f"{h['off_rps']:,.0f} req/s",
                    f"p50 {h['off_p50_ms']:.2f} ms, p99 {h['off_p99_ms']:.2f} ms (baseline)",
                ),
                (
                    "batching on",
                    f"{h['on_rps']:,.0f} req/s",
                    f"p50 {h['on_p50_ms']:.2f} ms, p99 {h['on_p99_ms']:.2f} ms; "
                    f"{h['on_rps'] / h['off_rps']:.2f}x off",
                ),
            ],
        )
    c = cost_model()
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
    return {"overhead": o, "batching": bt, "http": h, "cost_model": c}


if __name__ == "__main__":
    run()
