"""KServe v2 tensor datatypes and their numpy and ONNX equivalents (no other runtime imports:
the model repository and the request decoders both build on this)."""

from __future__ import annotations

from typing import Any

import numpy as np

from agentarts.errors import InvalidInputError

__all__ = ["KSERVE_TO_NUMPY", "NUMPY_TO_KSERVE", "ONNX_TO_KSERVE", "kserve_datatype"]

KSERVE_TO_NUMPY: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
NUMPY_TO_KSERVE = {np.dtype(v).str: k for k, v in KSERVE_TO_NUMPY.items()}
# ONNX TensorProto element type -> KServe datatype
ONNX_TO_KSERVE = {
    1: "FP32",
    2: "UINT8",
    3: "INT8",
    4: "UINT16",
    5: "INT16",
    6: "INT32",
    7: "INT64",
    9: "BOOL",
    10: "FP16",
    11: "FP64",
    12: "UINT32",
    13: "UINT64",
}


def kserve_datatype(array: np.ndarray) -> str:
    try:
        return NUMPY_TO_KSERVE[array.dtype.str]
    except KeyError:
        raise InvalidInputError(f"unsupported tensor dtype {array.dtype}") from None
