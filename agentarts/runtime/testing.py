"""Test helpers shipped with the SDK: small ONNX models built in code and a fake runtime.

``FakeRuntime`` implements the ``Runtime`` protocol with plain Python functions, so tools and
agents can be tested without ONNX files; ``make_mlp`` and ``make_matmul`` write real ONNX models
(no torch needed) for runtime tests, benchmarks and examples.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agentarts.errors import NotFoundError
from agentarts.runtime.onnx_build import finish_model
from agentarts.runtime.protocol import InferResult

if TYPE_CHECKING:
    from agentarts.runtime.local import LocalRuntime

__all__ = [
    "FakeRuntime",
    "free_port",
    "held_runtime",
    "make_cnn",
    "make_matmul",
    "make_mlp",
    "serve_in_thread",
    "write_model",
]


def make_mlp(
    sizes: Sequence[int] = (64, 256, 256, 8), seed: int = 0, batch_dim: int | None = None
) -> Any:
    """An MLP (Gemm + Relu layers) with input ``x`` and output ``y``; dynamic batch by default."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev = "x"
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = np.zeros(fan_out, np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        nodes.append(
            helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}" if out != "y" else out])
        )
        if out != "y":
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out]))
        prev = out
    batch = batch_dim if batch_dim is not None else "batch"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, sizes[-1]])],
        inits,
    )
    return finish_model(graph)


def make_matmul(k: int, n: int, seed: int = 0) -> Any:
    """One MatMul ``y = x @ W`` with x [batch, k] and W [k, n]: FLOPs and bytes in closed form."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        [numpy_helper.from_array(w, "w")],
    )
    return finish_model(graph)


def make_cnn(
    size: int = 64, channels: Sequence[int] = (16, 32, 64, 64), classes: int = 4, seed: int = 0
) -> Any:
    """A crop classifier's size of CNN: ``x`` [batch, 1, size, size] -> ``y`` [batch, classes].

    3x3 Conv + Relu layers, a 2x2 MaxPool after each but the last, global average pooling and a
    Gemm head. The defaults (a 64 x 64 grey crop, as the rail pack's camera windows) give
    ~60k parameters and ~25 MFLOPs per image, so compute per request dominates HTTP costs.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev, fan_in = "x", 1
    for i, out_ch in enumerate(channels):
        w = (rng.standard_normal((out_ch, fan_in, 3, 3)) * np.sqrt(2 / (fan_in * 9))).astype(
            np.float32
        )
        inits += [
            numpy_helper.from_array(w, f"cw{i}"),
            numpy_helper.from_array(np.zeros(out_ch, np.float32), f"cb{i}"),
        ]
        nodes.append(
            helper.make_node("Conv", [prev, f"cw{i}", f"cb{i}"], [f"c{i}"], pads=[1, 1, 1, 1])
        )
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev = f"r{i}"
        if i < len(channels) - 1:
            nodes.append(
                helper.make_node("MaxPool", [prev], [f"p{i}"], kernel_shape=[2, 2], strides=[2, 2])
            )
            prev = f"p{i}"
        fan_in = out_ch
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    w = (rng.standard_normal((fan_in, classes)) / np.sqrt(fan_in)).astype(np.float32)
    inits += [
        numpy_helper.from_array(w, "hw"),
        numpy_helper.from_array(np.zeros(classes, np.float32), "hb"),
    ]
    nodes.append(helper.make_node("Gemm", ["flat", "hw", "hb"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", classes])],
        inits,
    )
    return finish_model(graph)


def free_port(ports: Sequence[int] = range(18000, 19000), exclude: Sequence[int] = ()) -> int:
    """A loopback TCP port from ``ports`` that nothing listens on now (tried in random order)."""
    candidates = [p for p in ports if p not in exclude]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {ports}")


@contextlib.contextmanager
def serve_in_thread(
    runtime: LocalRuntime,
    *,
    grpc: bool = False,
    api_key: str | None = None,
    ports: Sequence[int] = range(18000, 19000),
    keep_alive_s: int = 5,
    **app_options: Any,
) -> Iterator[tuple[str, str | None]]:
    """Run the HTTP server (and the gRPC one, on the same event loop) in a thread on loopback;
    yields ("127.0.0.1:HTTP_PORT", "127.0.0.1:GRPC_PORT" or None) and stops them after."""
    import asyncio

    import uvicorn

    from agentarts.runtime.http.server import _event_loop_factory, create_app, protocol_class

    host = "127.0.0.1"
    port = free_port(ports)
    grpc_port = free_port(ports, exclude=[port]) if grpc else None
    app = create_app(runtime, api_key=api_key, **app_options)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="error",
            loop="none",
            http=protocol_class(app),
            timeout_keep_alive=keep_alive_s,
            timeout_graceful_shutdown=5,
        )
    )
    failure: list[BaseException] = []

    async def main() -> None:
        grpc_server = None
        try:
            if grpc_port is not None:
                from agentarts.runtime.grpc.server import start_grpc

                grpc_server, _ = await start_grpc(
                    runtime, host, grpc_port, api_key=api_key, admission=app.state.admission
                )
            await server.serve()
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            if grpc_server is not None:
                await grpc_server.stop(0.5)

    def run() -> None:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            runner.run(main())

    thread = threading.Thread(target=run, daemon=True, name="agentarts-test-server")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and not failure and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(5)
        raise RuntimeError(f"the test server did not start: {failure}")
    try:
        yield f"{host}:{port}", None if grpc_port is None else f"{host}:{grpc_port}"
    finally:
        server.should_exit = True
        thread.join(15)


HELD_CARD = "[batching]\nmax_batch_size = 1\nmax_queue_size = 1\n"


@contextlib.contextmanager
def held_runtime(
    repo: Path | str, name: str = "held", card: str = HELD_CARD
) -> Iterator[tuple[LocalRuntime, threading.Event]]:
    """A runtime serving an MLP ``name`` (written into ``repo`` with ``card``; by default 2
    slots: 1 running + 1 queued) whose runs block until the yielded event is set, so tests can
    fill its queue and waiting room. Yields (runtime, release); releases and closes after."""
    from agentarts.runtime.local import LocalRuntime

    write_model(repo, name, make_mlp(), card=card)
    rt = LocalRuntime([Path(repo)], include_packs=False)
    lm = rt.lookup(name)  # loaded: its first request may take the HTTP fast path
    release = threading.Event()
    runner = lm.async_runner

    def blocked(payloads: Any, rows: int) -> Any:
        release.wait(20)
        return runner(payloads, rows)

    lm.async_runner = blocked
    try:
        yield rt, release
    finally:
        release.set()
        rt.close(drain=False)


def write_model(
    repo: Path | str, name: str, model: Any, version: str = "1", card: str | None = None
) -> Path:
    """Write ``model`` as ``repo/name/version/model.onnx`` (and ``model.toml`` if given)."""
    import onnx

    folder = Path(repo) / name / version
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    if card is not None:
        (Path(repo) / name / "model.toml").write_text(card)
    return folder / "model.onnx"


class FakeRuntime:
    """A ``Runtime`` whose models are Python functions ``inputs -> outputs`` (a test double).

    Records every call in ``calls`` so tests can assert what a tool sent.
    """

    def __init__(
        self,
        models: Mapping[str, Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]],
        device_time_us: float = 10.0,
    ) -> None:
        self.models = dict(models)
        self.device_time_us = device_time_us
        self.calls: list[tuple[str, dict[str, np.ndarray]]] = []

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult:
        if model not in self.models:
            raise NotFoundError(f"unknown model {model!r}")
        start = time.perf_counter()
        feeds = {k: np.asarray(v) for k, v in inputs.items()}
        self.calls.append((model, feeds))
        result = self.models[model](feeds)
        if outputs:
            result = {k: result[k] for k in outputs}
        rows = next(iter(feeds.values())).shape[0] if feeds else 1
        return InferResult(
            model,
            version or "1",
            result,
            (time.perf_counter() - start) * 1e6,
            self.device_time_us,
            rows,
            "fake",
        )

    async def ainfer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult:
        return self.infer(model, inputs, version=version, outputs=outputs, timeout_s=timeout_s)

    def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        if model not in self.models:
            raise NotFoundError(f"unknown model {model!r}")
        return {"name": model, "versions": ["1"], "platform": "python", "inputs": [], "outputs": []}

    def is_ready(self, model: str | None = None, version: str | None = None) -> bool:
        return model is None or model in self.models

    def list_models(self) -> list[dict[str, Any]]:
        return [{"name": m, "version": "1", "state": "READY"} for m in self.models]

    def close(self) -> None:
        """Nothing to release: the models are plain functions."""
