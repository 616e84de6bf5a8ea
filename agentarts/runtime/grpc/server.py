"""The KServe v2 gRPC front end (``inference.GRPCInferenceService``), as Triton serves it.

Served with the generated stubs tritonclient ships (``tritonclient.grpc.service_pb2_grpc``:
the same ``grpc_service.proto`` Triton and KServe use), on grpcio's asyncio server, in the
HTTP server's event loop: both front ends feed the same per-model batcher, the same admission
control (``admission.Admission``) and the same API key (``authorization: Bearer KEY`` or
``x-api-key: KEY`` metadata). Tensors arrive as ``raw_input_contents`` (what tritonclient
sends) or typed ``contents``; outputs always go back as ``raw_output_contents``, as Triton does.

Errors map to gRPC status codes from their HTTP status: 400 INVALID_ARGUMENT, 401
UNAUTHENTICATED, 404 NOT_FOUND, 413 RESOURCE_EXHAUSTED, 429 UNAVAILABLE (with trailers
``retry-after``, seconds, and ``retry-after-ms``), 503/507 UNAVAILABLE, 504 DEADLINE_EXCEEDED.

Needs the ``grpc`` extra (grpcio and tritonclient[grpc]).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentarts._version import __version__
from agentarts.errors import (
    AgentArtsError,
    ConfigError,
    InvalidInputError,
    MissingDependencyError,
    RuntimeOverloadedError,
)
from agentarts.runtime.batching.admission import Admission
from agentarts.runtime.engine.tensors import (
    decode_binary_tensor,
    decode_json_tensor,
    kserve_datatype,
)
from agentarts.runtime.kserve.messages import model_config, model_stats
from agentarts.runtime.kserve.status import check_api_key, error_status

if TYPE_CHECKING:
    import numpy as np

    from agentarts.runtime.local import LocalRuntime

__all__ = ["grpc_modules", "start_grpc"]

log = logging.getLogger("agentarts.runtime.grpc")

# typed InferTensorContents field per datatype (FP16 has none: raw bytes only)
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def grpc_modules() -> tuple[Any, Any, Any, Any]:
    """(grpc, service_pb2, service_pb2_grpc, model_config_pb2), or a clear install hint."""
    try:
        import grpc
        from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
    except (ImportError, RuntimeError) as exc:  # tritonclient raises RuntimeError without grpc
        raise MissingDependencyError(
            f"the gRPC front end needs grpcio and tritonclient[grpc] ({exc})",
            hint="pip install 'agentarts[grpc]'",
        ) from exc
    return grpc, service_pb2, service_pb2_grpc, model_config_pb2


def _status_code(grpc: Any, status: int) -> Any:
    codes = grpc.StatusCode
    return {
        400: codes.INVALID_ARGUMENT,
        401: codes.UNAUTHENTICATED,
        404: codes.NOT_FOUND,
        409: codes.FAILED_PRECONDITION,
        413: codes.RESOURCE_EXHAUSTED,
        415: codes.INVALID_ARGUMENT,
        429: codes.UNAVAILABLE,
        504: codes.DEADLINE_EXCEEDED,
    }.get(status, codes.UNAVAILABLE if status in (503, 507) else codes.INVALID_ARGUMENT)


def _param(value: Any) -> Any:
    """An InferParameter's value (whichever of its oneof fields is set)."""
    which = value.WhichOneof("parameter_choice")
    return getattr(value, which) if which else None


def _make_servicer(
    runtime: LocalRuntime, api_key: str | None, admission: Admission, base: Any
) -> Any:
    grpc, pb, _, mc = grpc_modules()
    from google.protobuf import json_format

    key = api_key.encode() if api_key is not None else None

    async def authorize(context: Any) -> None:
        if key is None:
            return
        given = b""
        for name, value in context.invocation_metadata() or ():
            raw = value.encode() if isinstance(value, str) else value
            if name == "x-api-key":
                given = raw.strip()
            elif name == "authorization" and raw[:7].lower() == b"bearer " and not given:
                given = raw[7:].strip()
        if not check_api_key(given, key):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key")

    def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
        """Check the API key, turn AgentArtsError into a gRPC status (never INTERNAL)."""

        @functools.wraps(method)
        async def call(self: Any, request: Any, context: Any) -> Any:
            await authorize(context)
            try:
                return await method(self, request, context)
            except AgentArtsError as exc:
                if isinstance(exc, RuntimeOverloadedError):
                    seconds = max(1, math.ceil(exc.retry_after_s))
                    millis = max(1, math.ceil(exc.retry_after_s * 1e3))
                    context.set_trailing_metadata(
                        (("retry-after", str(seconds)), ("retry-after-ms", str(millis)))
                    )
                await context.abort(_status_code(grpc, error_status(exc)), str(exc))

        return call

    class Servicer(base):  # type: ignore[misc, valid-type]
        @guarded
        async def ServerLive(self, request: Any, context: Any) -> Any:
            return pb.ServerLiveResponse(live=True)

        @guarded
        async def ServerReady(self, request: Any, context: Any) -> Any:
            return pb.ServerReadyResponse(ready=runtime.is_ready())

        @guarded
        async def ModelReady(self, request: Any, context: Any) -> Any:
            version = request.version or None
            runtime.repository.resolve(request.name, version)
            import asyncio

            ok = await asyncio.to_thread(runtime.is_ready, request.name, version)
            return pb.ModelReadyResponse(ready=ok)

        @guarded
        async def ServerMetadata(self, request: Any, context: Any) -> Any:
            return pb.ServerMetadataResponse(
                name="agentarts",
                version=__version__,
                extensions=["model_repository", "model_configuration", "statistics"],
            )

        @guarded
        async def ModelMetadata(self, request: Any, context: Any) -> Any:
            import asyncio

            meta = await asyncio.to_thread(
                runtime.model_metadata, request.name, request.version or None
            )

            def tensors(items: list[dict[str, Any]]) -> list[Any]:
                return [
                    pb.ModelMetadataResponse.TensorMetadata(
                        name=t["name"], datatype=t["datatype"], shape=t["shape"]
                    )
                    for t in items
                ]

            return pb.ModelMetadataResponse(
                name=meta["name"],
                versions=meta["versions"],
                platform=meta["platform"],
                inputs=tensors(meta["inputs"]),
                outputs=tensors(meta["outputs"]),
            )

        @guarded
        async def ModelConfig(self, request: Any, context: Any) -> Any:
            import asyncio

            lm = await asyncio.to_thread(runtime.load, request.name, request.version or None)
            config = json_format.ParseDict(model_config(lm), mc.ModelConfig())
            return pb.ModelConfigResponse(config=config)

        @guarded
        async def ModelStatistics(self, request: Any, context: Any) -> Any:
            loaded = runtime.loaded()
            if request.name:
                entry, version, _ = runtime.repository.resolve(
                    request.name, request.version or None
                )
                loaded = [lm for lm in loaded if lm.name == entry.name]
                if request.version:
                    loaded = [lm for lm in loaded if lm.version == version]
            stats = {"model_stats": [model_stats(lm) for lm in loaded]}
            return json_format.ParseDict(stats, pb.ModelStatisticsResponse())

        @guarded
        async def RepositoryIndex(self, request: Any, context: Any) -> Any:
            rows = runtime.list_models()
            if request.ready:
                rows = [r for r in rows if r["state"] == "READY"]
            return pb.RepositoryIndexResponse(
                models=[
                    pb.RepositoryIndexResponse.ModelIndex(
                        name=r["name"],
                        version=r["version"],
                        state=r["state"],
                        reason=r.get("reason", ""),
                    )
                    for r in rows
                ]
            )

        @guarded
        async def ModelInfer(self, request: Any, context: Any) -> Any:
            return await infer(request)

        async def ModelStreamInfer(self, request_iterator: Any, context: Any) -> Any:
            """Triton's streaming infer: one answer (or error message) per request, in order."""
            await authorize(context)
            async for request in request_iterator:
                try:
                    response = await infer(request)
                    yield pb.ModelStreamInferResponse(infer_response=response)
                except AgentArtsError as exc:
                    yield pb.ModelStreamInferResponse(error_message=str(exc))

    async def infer(request: Any) -> Any:
        import asyncio

        version = request.model_version or None
        lm = runtime._fast.get((request.model_name, version))
        if lm is None:
            lm = await asyncio.to_thread(runtime.lookup, request.model_name, version)
        raw = request.raw_input_contents
        size = sum(len(r) for r in raw)
        admission.admit(lm, size)
        try:
            try:
                inputs, timeout_s = decode(request)
            except InvalidInputError:
                runtime.count_failure(lm)
                raise
            wanted = [o.name for o in request.outputs] or None
            result = await runtime.ainfer(
                request.model_name, inputs, version=version, outputs=wanted, timeout_s=timeout_s
            )
        finally:
            admission.release(lm, size)
        response = pb.ModelInferResponse(
            model_name=result.model, model_version=result.version, id=request.id
        )
        for name, array in result.outputs.items():
            response.outputs.add(name=name, datatype=kserve_datatype(array), shape=array.shape)
            response.raw_output_contents.append(
                array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            )
        response.parameters["agentarts_device_time_us"].double_param = result.device_time_us
        response.parameters["agentarts_batch_size"].int64_param = result.batch_size
        response.parameters["agentarts_device"].string_param = result.device
        return response

    def decode(request: Any) -> tuple[dict[str, np.ndarray], float | None]:
        raw = request.raw_input_contents
        if raw and len(raw) != len(request.inputs):
            raise InvalidInputError(
                f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs"
            )
        inputs: dict[str, np.ndarray] = {}
        for i, t in enumerate(request.inputs):
            head = {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
            where = f"inputs[{i}]"
            if raw:
                name, array, _ = decode_binary_tensor(
                    head, len(raw[i]), memoryview(raw[i]), 0, where
                )
            else:
                field = _CONTENTS.get(t.datatype)
                if field is None:
                    raise InvalidInputError(
                        f"{where}[{t.name}]: send {t.datatype or 'this datatype'} as "
                        "raw_input_contents"
                    )
                head["data"] = list(getattr(t.contents, field))
                name, array = decode_json_tensor(head, where, maybe_bools=False)
            if name in inputs:
                raise InvalidInputError(f"two inputs are named {name!r}")
            inputs[name] = array
        if not inputs:
            raise InvalidInputError("the request has no inputs")
        params = request.parameters
        timeout_s = None
        for name, scale in (("timeout_ms", 1e-3), ("timeout", 1e-6)):
            if name in params:
                value = _param(params[name])
                if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
                    raise InvalidInputError(f"parameters.{name} must be a positive number")
                timeout_s = value * scale
                break
        return inputs, timeout_s

    return Servicer()


async def start_grpc(
    runtime: LocalRuntime,
    host: str,
    port: int,
    *,
    api_key: str | None = None,
    max_message_bytes: int = 16 * 1024 * 1024,
    admission: Admission | None = None,
) -> tuple[Any, int]:
    """Start the gRPC service in the running event loop; returns (server, bound port)."""
    grpc, _, pb_grpc, _ = grpc_modules()
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
    )
    servicer = _make_servicer(
        runtime, api_key, admission or Admission(), pb_grpc.GRPCInferenceServiceServicer
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen for gRPC on {host}:{port}: {exc}") from exc
    if not bound:
        raise ConfigError(f"cannot listen for gRPC on {host}:{port}")
    await server.start()
    return server, bound
