"""KServe v2 / Open Inference Protocol messages, shared by the HTTP and gRPC front ends.

- Infer requests as JSON tensors or with Triton's binary tensor data extension: the body is a
  JSON header of ``Inference-Header-Content-Length`` bytes followed by the raw little-endian
  bytes of each input whose ``parameters.binary_data_size`` says how many it takes, in order.
  Responses put an output in binary when its ``parameters.binary_data`` is true, or when the
  request's ``parameters.binary_data_output`` is true and the output does not say otherwise
  (what tritonclient asks for by default).
- Triton's model configuration (``GET /v2/models/{m}/config``) and statistics
  (``GET /v2/models/{m}/stats``) in the JSON form of Triton's protobuf messages, which the
  gRPC service parses into the same messages.

References: KServe v2 protocol
(https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/), Triton's binary
data, statistics and model configuration extensions
(https://github.com/triton-inference-server/server/tree/main/docs/protocol).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from agentarts.errors import InvalidInputError
from agentarts.runtime.engine.tensors import (
    _tensor_head,
    decode_binary_tensor,
    decode_json_tensor,
    kserve_datatype,
)

if TYPE_CHECKING:
    from agentarts.runtime.local import LoadedModel
    from agentarts.runtime.protocol import InferResult

__all__ = [
    "InferRequest",
    "decode_request",
    "encode_response",
    "model_config",
    "model_stats",
    "parse_header_length",
]


try:  # orjson (present with langgraph's SDK) parses and writes JSON 2-4x faster
    import orjson

    _ORJSON = True
except ImportError:  # pragma: no cover - the standard library does the same, slower
    _ORJSON = False


def _loads(text: bytes) -> Any:
    """``json.loads``; orjson first when installed. Anything orjson refuses (NaN/Infinity
    tokens, integers over 64 bits, nesting past 1,024) is parsed again by the standard
    library, so the answer and its error message are the same either way."""
    if _ORJSON:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _dumps(answer: dict[str, Any]) -> bytes:
    if _ORJSON:
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(answer, separators=(",", ":")).encode()  # NaN as a bare NaN token


@dataclass(slots=True)
class InferRequest:
    """A decoded infer request: inputs, wanted outputs and their encoding, limits."""

    inputs: dict[str, np.ndarray]
    outputs: list[str] | None
    binary: dict[str, bool]  # output name -> send as binary (absent: use binary_default)
    binary_default: bool
    timeout_s: float | None
    id: Any = None


def _may_hold_bools(text: bytes) -> bool:
    """Whether a JSON text may hold a ``true`` or ``false`` token (then tensors are scanned
    for booleans, which numpy would silently turn into 1.0 and 0.0).

    Both tokens end in ``e``, which a body of numbers holds only in exponents and key names,
    so the ``e`` bytes are found with ``memchr`` and the few before each are compared. Measured:
    ~2 us on an 85 KB tensor body, against ~110 us for ``b"true" in text or b"false" in text``
    (CPython's search filter confuses the letters of true/false with digits, so it steps byte by
    byte)."""
    find = text.find
    at = find(b"e")
    for _ in range(256):
        if at < 0:
            return False
        if text[at - 3 : at + 1] == b"true" or text[at - 4 : at + 1] == b"false":
            return True
        at = find(b"e", at + 1)
    return b"true" in text or b"false" in text  # exponents throughout: plain searches


def parse_header_length(value: str | None, body_size: int) -> int | None:
    """``Inference-Header-Content-Length`` as an int within the body, or None if absent."""
    if value is None:
        return None
    if not value.isdigit() or int(value) > body_size:
        raise InvalidInputError(
            f"Inference-Header-Content-Length {value[:40]!r} is not a length within the "
            f"{body_size}-byte body"
        )
    return int(value)


def _positive(value: Any, what: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"parameters.{what} must be a positive finite number")
    return float(value)


FLAT_MIN_BYTES = 4096  # below this the full parser costs a few us: no fast path
_DATA_OPEN = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*\[")
_FLOAT_TYPES = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}


def _flat_json_request(body: bytes) -> InferRequest | None:
    """The common KServe v2 body decoded faster, or None (then the full parser decides).

    The common body is one input whose ``data`` is a flat list of numbers for a float
    datatype. Decoding its numbers is most of the cost (measured on the 64x64 CNN's 85 KB
    body: ``orjson.loads`` ~260 us, then ``numpy.asarray`` of the 4,096 Python floats ~180 us,
    which first works out a dtype and a shape). Here the data array's bytes are cut out and
    proven to hold numbers only (no ``"``, ``t``, ``f`` or ``n``: so no string, object,
    boolean or null; ``memchr`` scans, ~2 us each; a nested list fails orjson or
    ``numpy.fromiter``), the rest of the body is parsed with ``"data": []`` in its place, the
    numbers by orjson (whose strict grammar refuses NaN/Infinity tokens and anything else JSON
    does not allow), and ``numpy.fromiter`` makes the array (~100 us; through float64 as
    ``numpy.asarray`` goes, so values round the same) once the count equals the shape's
    product. Measured on a reserved core: 430 -> 393 us per 85 KB body, and the server's CPU
    per answer on the CNN 1,103 -> 1,008 us (mean of 3 A/B runs each). Anything unusual
    (another ``"data"`` key, ``\\u`` escapes in the rest, several inputs, an integer datatype,
    a count that does not fit the shape, integers past 2**53, any error) returns None, so the
    full parser decides and names every error."""
    at = body.find(b'"data"')
    if at <= 0 or body[at - 1] == 0x5C:  # not found, or an escaped quote inside a string
        return None
    opening = _DATA_OPEN.match(body, at + 6)
    if opening is None:
        return None
    start = opening.end() - 1
    end = body.find(b"]", start)
    if end < 0:
        return None
    array = body[start : end + 1]
    find = array.find
    if find(b'"') >= 0 or find(b"t") >= 0 or find(b"f") >= 0 or find(b"n") >= 0:
        return None  # strings (and so objects), booleans, null: nesting fails orjson or fromiter
    rest = body[: start + 1] + body[end:]
    if rest.count(b'"data"') != 1 or b"\\u" in rest or not _ORJSON:
        return None
    try:
        obj = orjson.loads(rest)
        tensors = obj["inputs"]
        tensor = tensors[0]
        if len(tensors) != 1 or tensor["data"] != [] or "parameters" in tensor:
            return None
        name, datatype, shape, count = _tensor_head(tensor, "inputs[0]")
        dtype = _FLOAT_TYPES.get(datatype)
        numbers = orjson.loads(array)
        if dtype is None or len(numbers) != count:
            return None
        # via float64, as the full parser's numpy.asarray: the same rounding to float32
        values = np.fromiter(numbers, np.float64, count)
        if count and not float(np.abs(values).max()) < 2.0**53:
            return None  # integers beyond float64's exact range (asarray keeps them int64)
        inputs = {name: values.astype(dtype, copy=False).reshape(shape)}
        return _request(obj, inputs)
    except (orjson.JSONDecodeError, InvalidInputError, LookupError, TypeError, ValueError):
        return None


def decode_request(body: bytes, header_length: int | None) -> InferRequest:
    """The infer body (JSON, or a JSON header and binary tensors) -> InferRequest."""
    if header_length is None and len(body) >= FLAT_MIN_BYTES:
        fast = _flat_json_request(body)
        if fast is not None:
            return fast
    header = body if header_length is None else body[:header_length]
    try:
        obj = _loads(header or b"null")
    except RecursionError:
        raise InvalidInputError("JSON body nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"malformed JSON body: {exc}") from None
    if type(obj) is not dict:
        raise InvalidInputError("the request body must be a JSON object")
    raw_inputs = obj.get("inputs")
    if type(raw_inputs) is not list or not raw_inputs:
        raise InvalidInputError("'inputs' must be a non-empty list of tensors")
    tail = memoryview(body)[header_length:] if header_length is not None else memoryview(b"")
    maybe_bools = _may_hold_bools(header)
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for i, tensor in enumerate(raw_inputs):
        params = tensor.get("parameters") if type(tensor) is dict else None
        if params is not None and type(params) is not dict:
            raise InvalidInputError(f"inputs[{i}]: 'parameters' must be an object")
        size = params.get("binary_data_size") if params else None
        if size is not None:
            if header_length is None:
                raise InvalidInputError(
                    f"inputs[{i}]: binary_data_size without an Inference-Header-Content-Length "
                    "header"
                )
            name, array, offset = decode_binary_tensor(tensor, size, tail, offset, f"inputs[{i}]")
        else:
            name, array = decode_json_tensor(tensor, f"inputs[{i}]", maybe_bools)
        if name in inputs:
            raise InvalidInputError(f"two inputs are named {name!r}")
        inputs[name] = array
    if offset != len(tail):
        raise InvalidInputError(
            f"{len(tail) - offset} bytes of binary data are not claimed by any input's "
            "binary_data_size"
        )
    return _request(obj, inputs)


def _request(obj: dict[str, Any], inputs: dict[str, np.ndarray]) -> InferRequest:
    """The request-level fields of a decoded body (parameters, outputs, id) around ``inputs``."""
    params = obj.get("parameters")
    if params is None:
        params = {}
    elif type(params) is not dict:
        raise InvalidInputError("'parameters' must be an object")
    timeout_s = None
    if "timeout_ms" in params:
        timeout_s = _positive(params["timeout_ms"], "timeout_ms") / 1e3
    elif "timeout" in params:  # Triton's, in microseconds
        timeout_s = _positive(params["timeout"], "timeout") / 1e6
    binary_default = params.get("binary_data_output", False)
    if type(binary_default) is not bool:
        raise InvalidInputError("parameters.binary_data_output must be true or false")
    names, binary = _wanted_outputs(obj.get("outputs"))
    return InferRequest(inputs, names, binary, binary_default, timeout_s, obj.get("id"))


def _wanted_outputs(wanted: Any) -> tuple[list[str] | None, dict[str, bool]]:
    if wanted is None:
        return None, {}
    bad = InvalidInputError(
        '\'outputs\' must be a list of {"name": ..., "parameters": {"binary_data": bool}}'
    )
    if type(wanted) is not list:
        raise bad
    names: list[str] = []
    binary: dict[str, bool] = {}
    for out in wanted:
        if type(out) is not dict or type(out.get("name")) is not str:
            raise bad
        params = out.get("parameters")
        if params is not None:
            if type(params) is not dict:
                raise bad
            flag = params.get("binary_data")
            if flag is not None:
                if type(flag) is not bool:
                    raise bad
                binary[out["name"]] = flag
        names.append(out["name"])
    if len(set(names)) != len(names):
        raise InvalidInputError("an output is requested twice")
    return names or None, binary


def encode_response(result: InferResult, request: InferRequest) -> tuple[bytes, int | None]:
    """The infer answer: (body, JSON header length if binary outputs follow it, else None)."""
    outputs = []
    chunks: list[bytes] = []
    for name, array in result.outputs.items():
        entry: dict[str, Any] = {
            "name": name,
            "datatype": kserve_datatype(array),
            "shape": list(array.shape),
        }
        if request.binary.get(name, request.binary_default):
            data = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = array.reshape(-1) if _ORJSON else array.reshape(-1).tolist()
        outputs.append(entry)
    answer: dict[str, Any] = {
        "model_name": result.model,
        "model_version": result.version,
        "outputs": outputs,
        "parameters": {
            "agentarts_host_time_us": round(result.host_time_us, 1),
            "agentarts_device_time_us": round(result.device_time_us, 3),
            "agentarts_batch_size": result.batch_size,
            "agentarts_device": result.device,
        },
    }
    if request.id is not None:
        answer["id"] = request.id
    head = _dumps(answer)
    if not chunks:
        return head, None
    return b"".join([head, *chunks]), len(head)


def model_config(lm: LoadedModel) -> dict[str, Any]:
    """Triton's ModelConfig (JSON form) of a loaded model: what ``get_model_config`` reads."""
    card = lm.card
    batchable = card.batchable
    cfg = card.batching

    def tensor(t: Any) -> dict[str, Any]:
        dims = list(t.shape[1:] if batchable and t.shape else t.shape)
        return {"name": t.name, "data_type": f"TYPE_{t.datatype}", "dims": dims}

    config: dict[str, Any] = {
        "name": lm.name,
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "version_policy": {"latest": {"num_versions": 1}},
        "max_batch_size": cfg.max_batch_size if batchable else 0,
        "input": [tensor(t) for t in card.inputs],
        "output": [tensor(t) for t in card.outputs],
        "instance_group": [{"name": lm.name, "kind": "KIND_CPU", "count": 1}],
        "default_model_filename": "model.onnx",
        "parameters": {
            k: {"string_value": str(v)}
            for k, v in {
                "description": card.description,
                "task": card.task,
                "precision": card.precision,
                "agentarts_device": lm.device_label,
            }.items()
            if v
        },
    }
    if batchable and cfg.enabled:
        config["dynamic_batching"] = {
            "preferred_batch_size": list(cfg.preferred_batch_sizes),
            "max_queue_delay_microseconds": cfg.max_queue_delay_us,
            "default_queue_policy": {
                "timeout_action": "REJECT",
                "default_timeout_microseconds": int(cfg.timeout_s * 1e6),
                "max_queue_size": cfg.max_queue_size,
            },
        }
    return config


def _duration(count: int, us: float) -> dict[str, int]:
    return {"count": int(count), "ns": int(us * 1e3)}


def model_stats(lm: LoadedModel) -> dict[str, Any]:
    """Triton's ModelStatistics (JSON form) of a loaded model version."""
    s = lm.batcher.stats
    ok = s.request_success
    batches = sorted(dict(s.batch_histogram).items())
    compute = dict(s.batch_compute_us)
    return {
        "name": lm.name,
        "version": lm.version,
        "last_inference": s.last_inference_ms,
        "inference_count": s.inference_count,
        "execution_count": s.exec_count,
        "inference_stats": {
            "success": _duration(ok, s.request_us),
            "fail": _duration(s.request_failure, 0.0),
            "queue": _duration(ok, s.queue_us),
            "compute_input": _duration(ok, 0.0),
            "compute_infer": _duration(ok, s.compute_us),
            "compute_output": _duration(ok, 0.0),
            "cache_hit": _duration(0, 0.0),
            "cache_miss": _duration(0, 0.0),
        },
        "batch_stats": [
            {
                "batch_size": size,
                "compute_input": _duration(count, 0.0),
                "compute_infer": _duration(count, compute.get(size, 0.0)),
                "compute_output": _duration(count, 0.0),
            }
            for size, count in batches
        ],
    }
