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
   ``cnn_500ms`` (the CNN with a 500 ms timeout) is where the storm must be partly refused.
5. Cost model: a MatMul's simulated time against the roofline arithmetic done by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench._common import (
    ServerProcess,
    console_script,
    grpc_infer_rps,
    kserve_bodies,
    percentile_ms,
    table,
    wrk,
    wrk_available,
)


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


BARE_SERVER = """
import json, sys
import numpy as np, onnxruntime as ort, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

path, mode, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
app = FastAPI()

@app.get("/v2/health/ready")
async def ready():
    return {"ready": True}

@app.post("/v2/models/{model}/infer")
async def infer(model: str, request: Request):
    body = json.loads(await request.body())
    t = body["inputs"][0]
    x = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])
    if mode == "threads":
        (y,) = await run_in_threadpool(session.run, None, {t["name"]: x})
    else:
        (y,) = session.run(None, {t["name"]: x})
    out = {"model_name": model, "outputs": [{"name": "y", "datatype": "FP32",
           "shape": list(y.shape), "data": y.ravel().tolist()}]}
    return Response(json.dumps(out), media_type="application/json")

uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


LITSERVE_SERVER = """
import sys
import numpy as np, onnxruntime as ort, litserve as ls

path, port, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class OnnxAPI(ls.LitAPI):
    def setup(self, device):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def decode_request(self, request):
        t = request["inputs"][0]
        return np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])

    def batch(self, inputs):
        return np.concatenate(inputs)

    def predict(self, x):
        return self.session.run(None, {"x": x})[0]

    def unbatch(self, y):
        return [y[i : i + 1] for i in range(len(y))]

    def encode_response(self, y):
        return {"model_name": "mlp", "outputs": [{"name": "y", "datatype": "FP32",
                "shape": list(y.shape), "data": y.ravel().tolist()}]}

if __name__ == "__main__":
    api = OnnxAPI(max_batch_size=batch, batch_timeout=0.002 if batch > 1 else 0.0,
                  api_path="/v2/models/mlp/infer")
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1)
    server.run(host="127.0.0.1", port=port, log_level="warning", generate_client_file=False)
"""


def _tree(pid: int) -> dict[int, int]:
    """A process and its descendants: pid -> resident memory (KB), from ps."""
    import subprocess as sp

    out = sp.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True).stdout
    rows = [tuple(map(int, line.split())) for line in out.splitlines() if line.strip()]
    found = {pid: 0}
    changed = True
    while changed:
        changed = False
        for child, parent, rss in rows:
            if parent in found and child not in found:
                found[child] = rss
                changed = True
            elif child in found:
                found[child] = rss
    return found


def _tree_rss_mb(pid: int) -> float:
    return sum(_tree(pid).values()) / 1024


class _Peer(ServerProcess):
    """A peer server whose readiness route is not KServe's (LitServe: ``/health``)."""

    def __init__(self, cmd: list[str], port: int, env_dir: Path, ready: str) -> None:
        import os
        import subprocess as sp

        from bench._common import wait_http

        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "AGENTARTS_DATA_DIR": str(env_dir / ".data")}
        self.proc = sp.Popen(cmd, stdout=sp.DEVNULL, stderr=sp.DEVNULL, env=env)
        try:
            wait_http(self.url + ready, 120)
        except RuntimeError:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        import os
        import signal

        family = _tree(self.proc.pid)  # its worker processes too, by pid
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except Exception:
            self.proc.kill()
        for pid in family:
            if pid != self.proc.pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def _litserve(repo: Path, batch: int) -> ServerProcess:
    from agentarts.runtime.testing import free_port

    script = repo / "litserve_server.py"
    script.write_text(LITSERVE_SERVER)
    port = free_port()
    model = str(repo / "mlp" / "1" / "model.onnx")
    return _Peer([sys.executable, str(script), model, str(port), str(batch)], port, repo, "/health")


def _sample(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(7).standard_normal(shape).astype(np.float32)


def _ours(repo: Path, grpc_port: int | None = None) -> ServerProcess:
    from agentarts.runtime.testing import free_port

    port = free_port()
    cmd = [console_script("agentarts"), "runtime", "serve", "--port", str(port)]
    cmd += ["--model-repository", str(repo)]
    if grpc_port:
        cmd += ["--grpc-port", str(grpc_port)]
    return ServerProcess(cmd, port, repo)


def _bare(repo: Path, model: str, mode: str) -> ServerProcess:
    from agentarts.runtime.testing import free_port

    script = repo / "bare_server.py"
    script.write_text(BARE_SERVER)
    port = free_port()
    cmd = [sys.executable, str(script), str(repo / model / "1" / "model.onnx"), mode, str(port)]
    return ServerProcess(cmd, port, repo)


def serving(repo: Path, seconds: float = 8.0, clients: int = 64) -> dict[str, float]:
    """Ours vs a bare FastAPI+onnxruntime server (both uvloop+httptools), same run, wrk."""
    out: dict[str, float] = {}
    for model, shape in (("mlp", (1, 64)), ("cnn", (1, 1, 64, 64))):
        bodies = kserve_bodies(_sample(shape))
        url = f"/v2/models/{model}/infer"
        for mode in ("inline", "threads"):
            with _bare(repo, model, mode) as srv:
                wrk(srv.url + url, *bodies["json"], clients, 2, workdir=repo)  # warm up
                r = wrk(srv.url + url, *bodies["json"], clients, seconds, workdir=repo)
                r["rss_mb"] = _tree_rss_mb(srv.proc.pid)
            out.update({f"{model}_bare_{mode}_{k}": v for k, v in r.items()})
        bare = max(out[f"{model}_bare_inline_rps"], out[f"{model}_bare_threads_rps"])
        out[f"{model}_bare_best_rps"] = bare
        with _ours(repo) as srv:
            for kind in ("json", "binary"):
                wrk(srv.url + url, *bodies[kind], clients, 2, workdir=repo)
                r = wrk(srv.url + url, *bodies[kind], clients, seconds, workdir=repo)
                r["rss_mb"] = _tree_rss_mb(srv.proc.pid)
                out.update({f"{model}_ours_{kind}_{k}": v for k, v in r.items()})
                out[f"{model}_ours_{kind}_vs_bare"] = r["rps"] / bare
    out.update(litserve(repo, seconds, clients))
    return out


def litserve(repo: Path, seconds: float = 8.0, clients: int = 64) -> dict[str, float]:
    """LitServe on the MLP, the same JSON body: batch 1, and its dynamic batching (64 rows,
    2 ms timeout); the better one is the peer's figure. Empty when LitServe is not installed."""
    import importlib.util

    if importlib.util.find_spec("litserve") is None:
        return {}
    out: dict[str, float] = {}
    body, headers = kserve_bodies(_sample((1, 64)))["json"]
    for batch in (1, 64):
        with _litserve(repo, batch) as srv:
            url = srv.url + "/v2/models/mlp/infer"
            wrk(url, body, headers, clients, 2, workdir=repo)
            r = wrk(url, body, headers, clients, seconds, workdir=repo)
            r["rss_mb"] = _tree_rss_mb(srv.proc.pid)
            r["processes"] = float(len(_tree(srv.proc.pid)))
        out.update({f"mlp_litserve_b{batch}_{k}": v for k, v in r.items()})
    return out


def grpc_throughput(repo: Path, seconds: float = 8.0, clients: int = 64) -> dict[str, float]:
    from agentarts.runtime.testing import free_port

    grpc_port = free_port()
    with _ours(repo, grpc_port=grpc_port):
        address = f"127.0.0.1:{grpc_port}"
        rps = asyncio.run(grpc_infer_rps(address, "mlp", _sample((1, 64)), clients, seconds))
    return {"mlp_grpc_rps": rps}


PROBE_LUA = """
-- Latency of every answer by status, timed in the probe's own threads (LuaJIT FFI clock).
-- One connection per thread, so request() and response() alternate.
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} agentarts_ts;
int clock_gettime(int clk, agentarts_ts *tp);
]]
local ts = ffi.new("agentarts_ts")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end
local f = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
{headers}
local started = 0
local origin = now()
samples = {{}}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function request() started = now(); return wrk.format() end
function response(status, headers, body)
  local t = now()
  samples[#samples + 1] = string.format("%d %.0f %.0f", status, t - started, t - origin)
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for _, v in ipairs(t:get("samples")) do io.write(v, "\\n") end
  end
end
"""


def probe(url: str, body: bytes, headers: dict[str, str], seconds: float, folder: Path):
    """Start a wrk probe: 2 threads, one connection each, at a higher CPU priority than the
    servers and the storm (``nice -n -5`` from the bench's niceness when allowed), timing each
    answer in C/LuaJIT: it measures the server, not its own starvation. Returns the process."""
    import subprocess as sp

    (folder / "probe_body.bin").write_bytes(body)
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script = PROBE_LUA.format(body=folder / "probe_body.bin", headers=lines)
    (folder / "probe.lua").write_text(script)
    cmd = ["nice", "-n", "-5", "wrk", "-t2", "-c2", f"-d{seconds:.0f}s", "--timeout", "20s"]
    cmd += ["-s", str(folder / "probe.lua"), url]
    return sp.Popen(cmd, stdout=sp.PIPE, stderr=sp.DEVNULL, text=True)


def probe_results(proc, start_s: float, end_s: float) -> dict[int, list[float]]:
    """Latencies (s) by status of the answers a finished probe got between ``start_s`` and
    ``end_s`` after it started (0: the probe's own socket errors and timeouts, counted)."""
    out, _ = proc.communicate(timeout=120)
    latencies: dict[int, list[float]] = {}
    for line in out.splitlines():
        parts = line.split()
        if (
            len(parts) == 3
            and all(p.isdigit() for p in parts)
            and start_s <= int(parts[2]) / 1e6 <= end_s
        ):
            latencies.setdefault(int(parts[0]), []).append(int(parts[1]) / 1e6)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        latencies[0] = [float("nan")] * sum(int(g) for g in errors.groups())
    return latencies


def _storm(
    url: str, body: bytes, headers: dict[str, str], connections: int, seconds: float, repo: Path
) -> tuple[dict[str, float], dict[int, list[float]]]:
    """wrk's storm, and the probe beside it: the probe connects 1 s before the storm starts
    (so its connections are not stuck behind the storm's in the listen backlog) and its
    answers count from 3 s into the storm (built up) to 1 s before its end."""
    prober = probe(url, body, headers, seconds + 1, repo)
    time.sleep(1.0)
    r = wrk(url, body, headers, connections, seconds, workdir=repo)
    return r, probe_results(prober, 4.0, seconds)


def overload(
    repo: Path, sustainable_rps: float, model: str = "mlp", kind: str = "json", bare: bool = True
) -> dict[str, float]:
    """2,560 connections, 40x the 64 of the sustainable run, for 15 s (ours, and the bare
    server when ``bare``), with the probe's latency per status."""
    out: dict[str, float] = {}
    shape = (1, 64) if model == "mlp" else (1, 1, 64, 64)
    body, headers = kserve_bodies(_sample(shape))[kind]
    servers = [("ours", lambda: _ours(repo))]
    if bare:
        servers.append(("bare", lambda: _bare(repo, model, "inline")))
    for label, server in servers:
        with server() as srv:
            url = f"{srv.url}/v2/models/{model}/infer"
            r, latencies = _storm(url, body, headers, 2560, 15.0, repo)
        out.update({f"{label}_{k}": v for k, v in r.items()})
        out[f"{label}_goodput_vs_sustainable"] = r["goodput_rps"] / sustainable_rps
        ok = latencies.get(200, [])
        refused = latencies.get(429, [])
        out[f"{label}_probe_200"] = float(len(ok))
        out[f"{label}_probe_ok_p50_ms"] = percentile_ms(ok, 0.50)
        out[f"{label}_probe_ok_p99_ms"] = percentile_ms(ok, 0.99)
        out[f"{label}_probe_429_p50_ms"] = percentile_ms(refused, 0.50)
        out[f"{label}_probe_429_p99_ms"] = percentile_ms(refused, 0.99)
        out[f"{label}_probe_429_max_ms"] = max(refused, default=float("nan")) * 1e3
        out[f"{label}_probe_429"] = float(len(refused))
        out[f"{label}_probe_other"] = float(
            sum(len(v) for k, v in latencies.items() if k not in (200, 429))
        )
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
            note += f", {sv[key + '_rss_mb']:.0f} MB"
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


def _overload_rows(ov: dict[str, float], bare: bool) -> list[tuple[str, str, str]]:
    rows = []
    for label in ("ours", "bare") if bare else ("ours",):
        good = ov[f"{label}_goodput_vs_sustainable"]
        target = label == "ours"
        refused = ov[f"{label}_probe_429"]
        p99 = ov[f"{label}_probe_429_p99_ms"]
        verdict = ""
        if target:
            verdict = f" (target < 5 ms: {_met(p99 < 5)})" if refused else " (no refusal to time)"
        rows += [
            (
                f"{label}: goodput at 2,560 connections",
                f"{ov[label + '_goodput_rps']:,.0f} req/s",
                f"{good:.2f}x sustainable"
                + (f"; target >= 0.8x: {_met(good >= 0.8)}" if target else "")
                + f"; {ov[label + '_non2xx']:,.0f} non-2xx, {ov[label + '_socket_errors']:,.0f}"
                + f" socket errors; p50 {ov[label + '_p50_ms']:.0f} ms, p99 "
                + f"{ov[label + '_p99_ms']:.0f} ms",
            ),
            (
                f"{label}: probe, 429 answers",
                f"{refused:,.0f} x 429",
                f"p50 {ov[label + '_probe_429_p50_ms']:.1f} ms, p99 {p99:.1f} ms, "
                f"max {ov[label + '_probe_429_max_ms']:.1f} ms{verdict}",
            ),
            (
                f"{label}: probe, 200 answers",
                f"{ov[label + '_probe_200']:,.0f} x 200",
                f"p50 {ov[label + '_probe_ok_p50_ms']:.1f} ms, "
                f"p99 {ov[label + '_probe_ok_p99_ms']:.1f} ms; "
                f"{ov[label + '_probe_other']:,.0f} other answers or socket errors",
            ),
        ]
    return rows


def _serving_tables(repo: Path) -> dict[str, float]:
    """Sections 3-5: HTTP/gRPC serving against the bare server and LitServe, and overload."""
    if not wrk_available():
        print("\n## Runtime: serving\n\nskipped: wrk is not installed (apt-get install wrk)")
        return {}
    sv = serving(repo)
    rows = _serving_rows(sv)
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
    # cnn_500ms: the same CNN with a 500 ms timeout in its card, so that 2,560 connections
    # (~1.2 s of work in line) must be partly refused: the refusal latency is measured there.
    for model, kind, bare in (
        ("mlp", "json", True),
        ("cnn", "binary", False),
        ("cnn_500ms", "binary", False),
    ):
        sustainable = sv[f"{model[:3]}_ours_{kind}_goodput_rps"]
        ov = overload(repo, sustainable, model, kind, bare)
        sv.update({f"overload_{model}_{k}": v for k, v in ov.items()})
        title = f"Runtime: overload, {model} ({kind}), 2,560 connections"
        table(f"{title} (sustainable {sustainable:,.0f} req/s)", _overload_rows(ov, bare))
    return sv


def run() -> dict[str, dict[str, float]]:
    from agentarts.runtime.testing import make_cnn, make_mlp, write_model

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
        write_model(repo, "cnn", make_cnn())
        write_model(repo, "cnn_500ms", make_cnn(), card="[batching]\ntimeout_ms = 500\n")
        sv = _serving_tables(repo)
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
    return {"overhead": o, "batching": bt, "serving": sv, "cost_model": c}


if __name__ == "__main__":
    run()
