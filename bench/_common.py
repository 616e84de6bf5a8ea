"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def console_script(name: str) -> str:
    """The installed console script next to this interpreter (not a pyenv shim)."""
    path = BIN / name
    if not path.exists():
        raise SystemExit(f"{name} is not installed next to {sys.executable}: pip install -e .")
    return str(path)


def time_command(
    cmd: Sequence[str],
    runs: int = 15,
    cwd: Path | None = None,
    before: Callable[[], Any] | None = None,
) -> float:
    """Median wall time of ``cmd`` in seconds over ``runs`` runs (after one warm-up)."""
    samples = []
    for i in range(runs + 1):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        if i:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_call(fn: Callable[[], Any], runs: int = 50, warmup: int = 5) -> list[float]:
    """Per-call wall times of ``fn`` in seconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(title: str, rows: list[tuple[str, str, str]]) -> None:
    """Print a result table: (measure, value, ratio or target)."""
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n## {title}\n")
    for name, value, note in rows:
        print(f"{name:<{width}} {value:>14}   {note}")


def wait_http(url: str, timeout_s: float = 60.0) -> None:
    """Wait until ``url`` answers 200 (a server process starting)."""
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout_s:.0f} s")


def wrk_available() -> bool:
    import shutil

    return shutil.which("wrk") is not None


def _seconds(text: str) -> float:
    for unit, scale in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def wrk(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    seconds: float,
    threads: int = 2,
    workdir: Path | None = None,
) -> dict[str, float]:
    """POST ``body`` to ``url`` with wrk; returns requests/s, goodput (2xx/s), error counts and
    latency percentiles (ms) over every answer."""
    import re
    import tempfile

    folder = Path(workdir or tempfile.mkdtemp())
    (folder / "body.bin").write_bytes(body)
    lines = ['wrk.method = "POST"', f'local f = io.open("{folder / "body.bin"}", "rb")']
    lines += ["wrk.body = f:read('*a')", "f:close()"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    (folder / "post.lua").write_text("\n".join(lines) + "\n")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency"]
    cmd += ["--timeout", "10s", "-s", str(folder / "post.lua"), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))
    elapsed = _seconds("".join(re.search(r"requests in ([\d.]+)(\w+)", out).groups()))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result = {
        "rps": total / elapsed,
        "goodput_rps": (total - (int(non2xx.group(1)) if non2xx else 0)) / elapsed,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+\w+)", out, re.MULTILINE)
        result[f"p{pct}_ms"] = _seconds(found.group(1)) * 1e3 if found else float("nan")
    return result


class ServerProcess:
    """A server process answering ``/v2/health/ready`` on a loopback port; stopped on exit."""

    def __init__(self, cmd: list[str], port: int, env_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "AGENTARTS_DATA_DIR": str(env_dir / ".data")}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        try:
            wait_http(self.url + "/v2/health/ready")
        except RuntimeError:
            self.proc.kill()
            raise

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(15)


async def probe_latencies(
    url: str, path: str, body: bytes, headers: dict[str, str], seconds: float
) -> dict[int, list[float]]:
    """Latency of each answer by status (0: no answer), from 8 keep-alive connections, after
    letting a load generator's storm build up for 2 s."""
    import httpx

    latencies: dict[int, list[float]] = {}
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one() -> None:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    reply = await client.post(path, content=body, headers=headers)
                except httpx.HTTPError:
                    latencies.setdefault(0, []).append(time.perf_counter() - t0)
                    continue
                latencies.setdefault(reply.status_code, []).append(time.perf_counter() - t0)

        await asyncio.sleep(2.0)  # let the storm build up
        await asyncio.gather(*(one() for _ in range(8)))
    return latencies


def percentile_ms(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1e3 if values else float("nan")


def kserve_bodies(x: Any) -> dict[str, tuple[bytes, dict[str, str]]]:
    """KServe v2 infer bodies and headers for the float32 array ``x`` as input "x": JSON
    tensors, and Triton's binary tensor data extension (binary outputs asked for too)."""
    import json

    shape = x.shape
    tensor = {"name": "x", "shape": list(shape), "datatype": "FP32"}
    plain = json.dumps({"inputs": [{**tensor, "data": x.round(5).ravel().tolist()}]}).encode()
    head = json.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": x.nbytes}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    return {
        "json": (plain, {"Content-Type": "application/json"}),
        "binary": (
            head + x.tobytes(),
            {
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(len(head)),
            },
        ),
    }


async def grpc_infer_rps(address: str, model: str, x: Any, clients: int, seconds: float) -> float:
    """Requests/s of ``clients`` concurrent KServe v2 gRPC ModelInfer calls sending ``x`` as
    input "x" (a Python grpc.aio client: its own CPU cost is included, unlike wrk's)."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.tobytes())
    done = 0
    async with grpc.aio.insecure_channel(address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        await stub.ModelInfer(request)
        stop = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await stub.ModelInfer(request)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return done / (time.perf_counter() - start)
