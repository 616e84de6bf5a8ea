"""The runtime benchmark's peers, baselines and load tools: the bare FastAPI + onnxruntime
server and the LitServe server (scripts the bench writes and runs as separate processes), the
raw onnxruntime session and the asyncio floor, starting our own server, and the wrk helpers
(the timing probe, storms of closed-loop clients and of clients that honour a 429's wait, the
server's refusal-time histogram read from ``/metrics``, where the CPU went during a run).

Every server the bench starts listens on a loopback port in ``PORTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess as sp
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.runtime.testing import free_port
from bench._common import (
    ServerProcess,
    console_script,
    kserve_bodies,
    percentile_ms,
    wait_http,
    wrk,
)

PORTS = range(18700, 18750)


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


def tree(pid: int) -> dict[int, int]:
    """A process and its descendants: pid -> resident memory (KB), from ps."""

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


def tree_rss_mb(pid: int) -> float:
    return sum(tree(pid).values()) / 1024


class Peer(ServerProcess):
    """A peer server whose readiness route is not KServe's (LitServe: ``/health``)."""

    def __init__(self, cmd: list[str], port: int, env_dir: Path, ready: str) -> None:
        import subprocess as sp

        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "AGENTARTS_DATA_DIR": str(env_dir / ".data")}
        self.proc = sp.Popen(cmd, stdout=sp.DEVNULL, stderr=sp.DEVNULL, env=env)
        try:
            wait_http(self.url + ready, 120)
        except RuntimeError:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:

        family = tree(self.proc.pid)  # its worker processes too, by pid
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except Exception:
            self.proc.kill()
        for pid in family:
            if pid != self.proc.pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def litserve_server(repo: Path, batch: int) -> ServerProcess:
    script = repo / "litserve_server.py"
    script.write_text(LITSERVE_SERVER)
    port = free_port(PORTS)
    model = str(repo / "mlp" / "1" / "model.onnx")
    return Peer([sys.executable, str(script), model, str(port), str(batch)], port, repo, "/health")


def sample(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(7).standard_normal(shape).astype(np.float32)


def ours_server(repo: Path, grpc_port: int | None = None) -> ServerProcess:
    port = free_port(PORTS)
    cmd = [console_script("agentarts"), "runtime", "serve", "--port", str(port)]
    cmd += ["--model-repository", str(repo)]
    if grpc_port:
        cmd += ["--grpc-port", str(grpc_port)]
    return ServerProcess(cmd, port, repo)


def bare_server(repo: Path, model: str, mode: str) -> ServerProcess:
    script = repo / "bare_server.py"
    script.write_text(BARE_SERVER)
    port = free_port(PORTS)
    cmd = [sys.executable, str(script), str(repo / model / "1" / "model.onnx"), mode, str(port)]
    return ServerProcess(cmd, port, repo)


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


HONOUR_LUA = """
-- Clients that honour a 429's {header}: the connection that got it sends its next request
-- only after that wait (real retrying clients sleep Retry-After seconds and retry).
-- wrk (src/wrk.c) calls delay() from a connection's writable event, once after each answer on
-- it (and once before its first request), while response() runs as the answer is parsed; the
-- script knows no connection, so each wrk thread keeps the waits its answers asked for in a
-- FIFO, taken by delay() in order: wrk re-arms a connection's writable event as its answer
-- completes, so epoll reports them in the order the answers came (a connection reconnecting
-- after a socket error may take another's wait: those are counted as socket errors).
local f = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
{headers}
local waits = {{}}
local first, last = 1, 0
function response(status, headers, body)
  local ms = 0
  if status == 429 then
    local value = headers["{header}"] or headers["{title}"]
    ms = (tonumber(value) or 1) * {scale}
  end
  last = last + 1
  waits[last] = ms
end
function delay()
  if first > last then return 0 end
  local ms = waits[first]
  waits[first] = nil
  first = first + 1
  return ms
end
"""


def parse_wrk(out: str) -> dict[str, float]:
    """requests/s, goodput (2xx/s), non-2xx and socket error counts, p50/p99 (ms) of wrk's
    report (the same figures as ``bench._common.wrk``)."""
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
    found = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    total, elapsed = int(found.group(1)), float(found.group(2)) * scale[found.group(3)] / 1e3
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    refused = int(non2xx.group(1)) if non2xx else 0
    result = {
        "rps": total / elapsed,
        "goodput_rps": (total - refused) / elapsed,
        "non2xx": float(refused),
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(\w+)", out, re.MULTILINE)
        result[f"p{pct}_ms"] = (
            float(found.group(1)) * scale[found.group(2)] if found else float("nan")
        )
    return result


def honouring_wrk(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    seconds: float,
    folder: Path,
    header: str = "retry-after",
) -> dict[str, float]:
    """wrk with clients that wait what a 429's ``header`` says (``retry-after``: seconds,
    ``retry-after-ms``: milliseconds) before their next request."""
    (folder / "honour_body.bin").write_bytes(body)
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    title = "-".join(part.capitalize() for part in header.split("-"))
    scale = 1 if header.endswith("-ms") else 1000
    script = HONOUR_LUA.format(
        body=folder / "honour_body.bin", headers=lines, header=header, title=title, scale=scale
    )
    (folder / "honour.lua").write_text(script)
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "--timeout"]
    cmd += ["10s", "-s", str(folder / "honour.lua"), url]
    return parse_wrk(sp.run(cmd, capture_output=True, text=True, check=True).stdout)


def storm(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    seconds: float,
    repo: Path,
    honour: str | None = None,
) -> tuple[dict[str, float], dict[int, list[float]]]:
    """wrk's storm, and the probe beside it: the probe connects 1 s before the storm starts
    (so its connections are not stuck behind the storm's in the listen backlog) and its
    answers count from 3 s into the storm (built up) to 1 s before its end. ``honour``: the
    storm's clients wait what that header of a 429 says (the probe's two do not)."""
    prober = probe(url, body, headers, seconds + 1, repo)
    time.sleep(1.0)
    if honour:
        r = honouring_wrk(url, body, headers, connections, seconds, repo, honour)
    else:
        r = wrk(url, body, headers, connections, seconds, workdir=repo)
    return r, probe_results(prober, 4.0, seconds)


def refusal_histogram(url: str) -> list[tuple[float, int]]:
    """The server's refusal-time histogram from ``/metrics``: (upper bound s, cumulative
    count) per bucket, +Inf last."""
    import httpx

    text = httpx.get(url + "/metrics", timeout=30).text
    found = re.findall(r'agentarts_admission_refusal_seconds_bucket\{le="([^"]+)"\} (\d+)', text)
    return [(float(le), int(count)) for le, count in found]


def histogram_quantile_ms(buckets: list[tuple[float, int]], q: float) -> float:
    """The upper bound (ms) of the bucket holding quantile ``q`` (nan when empty)."""
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= q * total:
            return bound * 1e3
    return float("nan")


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen backlog was full
    (TcpExt ListenOverflows, machine-wide: only the bench's servers listen on loopback here)."""
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names[0] == "TcpExt:" and "ListenOverflows" in names:
            return int(values[names.index("ListenOverflows")])
    return 0


def _proc_cpu_ticks(pid: int) -> int:
    """utime + stime of a live process (all its threads), in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


class CpuMeter:
    """Where the machine's CPU went during a measurement, from /proc: the server's process
    tree, the benchmark's finished child processes (wrk, the probe), this process, everything
    else (other helpers' jobs, the kernel's softirq work for loopback traffic), and steal."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.hz = os.sysconf("SC_CLK_TCK")
        self.start = self._read()
        self.overflows = listen_overflows()

    def _read(self) -> tuple[float, ...]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = values
        server = sum(_proc_cpu_ticks(pid) for pid in tree(self.pid)) / self.hz
        t = os.times()
        return (
            (user + nice + system + irq + softirq) / self.hz,
            steal / self.hz,
            server,
            t.children_user + t.children_system,
            t.user + t.system,
            time.perf_counter(),
        )

    def stop(self, answers: float) -> dict[str, float]:
        """CPU figures since the start: the server's us per answer, and the CPU that went
        elsewhere (cores' worth on average): other processes and steal."""
        end = self._read()
        busy, steal, server, children, own, wall = (
            b - a for a, b in zip(self.start, end, strict=True)
        )
        return {
            "listen_overflows": float(listen_overflows() - self.overflows),
            "server_us_per_answer": server / max(answers, 1) * 1e6,
            "server_cores": server / wall,
            "load_cores": children / wall,
            "other_cores": max(0.0, busy - server - children - own) / wall,
            "steal_cores": steal / wall,
        }


def litserve_rates(repo: Path, seconds: float = 8.0, clients: int = 64) -> dict[str, float]:
    """LitServe on the MLP, the same JSON body: batch 1, and its dynamic batching (64 rows,
    2 ms timeout); the better one is the peer's figure. Empty when LitServe is not installed."""
    import importlib.util

    if importlib.util.find_spec("litserve") is None:
        return {}
    out: dict[str, float] = {}
    body, headers = kserve_bodies(sample((1, 64)))["json"]
    for batch in (1, 64):
        with litserve_server(repo, batch) as srv:
            url = srv.url + "/v2/models/mlp/infer"
            wrk(url, body, headers, clients, 2, workdir=repo)
            r = wrk(url, body, headers, clients, seconds, workdir=repo)
            r["rss_mb"] = tree_rss_mb(srv.proc.pid)
            r["processes"] = float(len(tree(srv.proc.pid)))
        out.update({f"mlp_litserve_b{batch}_{k}": v for k, v in r.items()})
    return out


def probe_stats(latencies: dict[int, list[float]]) -> dict[str, float]:
    """The probe's answer counts and latency percentiles (ms) by status, 200 and 429."""
    ok, refused = latencies.get(200, []), latencies.get(429, [])
    return {
        "probe_200": float(len(ok)),
        "probe_ok_p50_ms": percentile_ms(ok, 0.50),
        "probe_ok_p99_ms": percentile_ms(ok, 0.99),
        "probe_429_p50_ms": percentile_ms(refused, 0.50),
        "probe_429_p99_ms": percentile_ms(refused, 0.99),
        "probe_429_max_ms": max(refused, default=float("nan")) * 1e3,
        "probe_429": float(len(refused)),
        "probe_other": float(sum(len(v) for k, v in latencies.items() if k not in (200, 429))),
    }


def ort_session(path: Path) -> Any:
    """An onnxruntime session as every peer and our runtime use it: one intra-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def asyncio_floor(session: Any, callers: int, per_caller: int) -> float:
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


QUIET_CORES = 0.25  # other processes' CPU above which a serving row is measured again


def quietest_wrk(
    srv: ServerProcess,
    path: str,
    body_headers: tuple[bytes, dict[str, str]],
    clients: int,
    seconds: float,
    folder: Path,
    tries: int = 3,
) -> dict[str, float]:
    """A wrk row of ``srv`` with its CPU figures, measured again (up to ``tries`` times) while
    other processes took more than ``QUIET_CORES`` of the machine: other helpers' jobs outside
    the core reservation moved a row by up to 2x. Keeps the attempt with the least outside
    load (not the fastest), and says how many were made."""
    best: dict[str, float] = {}
    for attempt in range(1, tries + 1):
        meter = CpuMeter(srv.proc.pid)
        r = wrk(srv.url + path, *body_headers, clients, seconds, workdir=folder)
        r.update(meter.stop(r["rps"] * seconds), attempts=float(attempt))
        if not best or r["other_cores"] < best["other_cores"]:
            best = r
        if r["other_cores"] <= QUIET_CORES:
            break
        time.sleep(2.0)
    best["attempts"] = float(attempt)
    return best
