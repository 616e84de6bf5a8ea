"""Request tensors: KServe v2 JSON and binary decoding, and validation against a model card."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from agentarts.errors import InvalidInputError
from agentarts.runtime.engine.datatypes import (
    KSERVE_TO_NUMPY,
    NUMPY_TO_KSERVE,
    ONNX_TO_KSERVE,
    kserve_datatype,
)

if TYPE_CHECKING:
    from agentarts.runtime.engine.repository import ModelCard

__all__ = [
    "KSERVE_TO_NUMPY",
    "ONNX_TO_KSERVE",
    "InputValidator",
    "decode_binary_tensor",
    "decode_json_tensor",
    "encode_json_tensor",
    "validate_inputs",
]

MAX_ELEMENTS = 50_000_000


MAX_DIMS = 32
# numpy kinds a datatype accepts from JSON numbers (booleans only for BOOL: see _has_bool)
_JSON_KINDS = {
    k: ("b" if k == "BOOL" else "iu" if k[0] in "IU" else "fiu") for k in KSERVE_TO_NUMPY
}
_KIND_NAMES = {"U": "strings", "S": "strings", "O": "mixed or out-of-range values", "b": "booleans"}


def _tensor_head(obj: Any, where: str) -> tuple[str, str, list[int], int]:
    """Name, datatype, shape and element count of one request tensor, each checked."""
    if type(obj) is not dict:
        raise InvalidInputError(f"{where}: each tensor must be an object")
    name = obj.get("name")
    if type(name) is not str or not name:
        raise InvalidInputError(f"{where}: tensor without a 'name'")
    shape = obj.get("shape")
    # type(d) is int, not isinstance: a JSON true is a Python bool, which is an int subclass
    if (
        type(shape) is not list
        or len(shape) > MAX_DIMS
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise InvalidInputError(
            f"{where}[{name}]: 'shape' must be a list of at most {MAX_DIMS} non-negative integers"
        )
    datatype = obj.get("datatype")
    if type(datatype) is not str or datatype not in KSERVE_TO_NUMPY:
        raise InvalidInputError(
            f"{where}[{name}]: datatype {datatype!r} is not one of {sorted(KSERVE_TO_NUMPY)}"
        )
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise InvalidInputError(f"{where}[{name}]: {count} elements exceed {MAX_ELEMENTS}")
    return name, datatype, shape, count


def _has_bool(data: list[Any]) -> bool:
    stack = [data]
    while stack:
        for v in stack.pop():
            if v is True or v is False:
                return True
            if type(v) is list:
                stack.append(v)
    return False


def decode_json_tensor(
    obj: Any, where: str = "inputs", maybe_bools: bool = True
) -> tuple[str, np.ndarray]:
    """One KServe v2 JSON tensor -> (name, array). Raises InvalidInputError naming the fault.

    Element types must suit the datatype: numbers for FP*, integers in range for INT*/UINT*,
    booleans for BOOL (strings, nulls and booleans in a numeric tensor are refused).
    ``maybe_bools=False`` (the body holds no ``true``/``false`` token) skips the bool scan."""
    name, datatype, shape, count = _tensor_head(obj, where)
    data = obj.get("data")
    if type(data) is not list:
        raise InvalidInputError(f"{where}[{name}]: 'data' must be a list")
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise InvalidInputError(
            f"{where}[{name}]: data is not a rectangular array: {exc}"
        ) from None
    kinds = _JSON_KINDS[datatype]
    if array.size:
        if array.dtype.kind not in kinds:
            got = _KIND_NAMES.get(array.dtype.kind, array.dtype.kind)
            raise InvalidInputError(f"{where}[{name}]: {datatype} data cannot hold {got}")
        if maybe_bools and kinds != "b" and _has_bool(data):
            raise InvalidInputError(f"{where}[{name}]: {datatype} data cannot hold booleans")
    dtype = np.dtype(KSERVE_TO_NUMPY[datatype])
    if array.size and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInputError(
                f"{where}[{name}]: values outside the {datatype} range [{info.min}, {info.max}]"
            )
    if array.size != count:
        raise InvalidInputError(
            f"{where}[{name}]: {array.size} values do not fill shape {shape} ({count})"
        )
    return name, array.astype(dtype, copy=False).reshape(shape)


def decode_binary_tensor(
    obj: dict[str, Any], size: Any, buffer: memoryview, offset: int, where: str = "inputs"
) -> tuple[str, np.ndarray, int]:
    """One tensor of the binary tensor data extension: its ``binary_data_size`` bytes at
    ``offset`` of the request's binary tail. Returns (name, array, next offset)."""
    name, datatype, shape, count = _tensor_head(obj, where)
    dtype = np.dtype(KSERVE_TO_NUMPY[datatype]).newbyteorder("<")
    if type(size) is not int or size != count * dtype.itemsize:
        raise InvalidInputError(
            f"{where}[{name}]: binary_data_size {size!r} is not {count} x {dtype.itemsize} bytes"
        )
    if offset + size > len(buffer):
        raise InvalidInputError(
            f"{where}[{name}]: binary data ends after {len(buffer) - offset} of {size} bytes"
        )
    array = np.frombuffer(buffer, dtype, count, offset)
    if offset % dtype.itemsize or not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))  # aligned, native copy
    if datatype == "BOOL" and array.size and array.view(np.uint8).max() > 1:
        raise InvalidInputError(f"{where}[{name}]: BOOL bytes must be 0 or 1")
    return name, array.reshape(shape), offset + size


def encode_json_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(array.shape),
        "datatype": kserve_datatype(array),
        "data": array.reshape(-1).tolist(),
    }


class InputValidator:
    """Checks request tensors against a card, compiled once per model (it runs per request).

    Checks names, datatypes, shapes, the shared batch size, NaN/Inf and valid ranges; values
    outside a range are rejected or clipped as the card says. Returns (feeds, batch rows);
    without batching the batch dimension is part of the fixed shape and rows is 1.
    """

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self.names = frozenset(t.name for t in card.inputs)
        self.max_rows = card.batching.max_batch_size if card.batchable else 0
        self.specs = [
            (
                t.name,
                np.dtype(KSERVE_TO_NUMPY[t.datatype]),
                t.shape,
                # the common case, only the batch dim dynamic, is checked with one tuple compare
                t.shape[1:] if t.shape and t.shape[0] == -1 and -1 not in t.shape[1:] else None,
                np.dtype(KSERVE_TO_NUMPY[t.datatype]).kind == "f" and not t.allow_nan,
                t.valid_range if t.on_invalid != "accept" else None,
                t.on_invalid,
            )
            for t in card.inputs
        ]

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        feeds, rows = self.structure(inputs)
        return self.values(feeds), rows

    def structure(self, inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        """Names, datatypes, shapes and the batch size: what can be judged without reading
        the values (which ``values`` checks, once per batch on the async path)."""
        if len(inputs) != len(self.names) or not self.names.issuperset(inputs):
            self._names_error(inputs)
        feeds: dict[str, np.ndarray] = {}
        rows = -1
        for name, dtype, shape, tail, _, _, _ in self.specs:
            array = inputs[name]
            if type(array) is not np.ndarray:
                array = np.asarray(array)
            if array.dtype is not dtype and array.dtype != dtype:
                raise InvalidInputError(
                    f"model {self.card.name}: input {name!r} must be "
                    f"{kserve_datatype(np.empty(0, dtype))}, got {_describe_dtype(array)}"
                )
            got = array.shape
            if (
                (got[1:] != tail or not got)
                if tail is not None
                else (
                    len(got) != len(shape)
                    or any(w != -1 and w != g for w, g in zip(shape, got, strict=True))
                )
            ):
                raise InvalidInputError(
                    f"model {self.card.name}: input {name!r} has shape {list(got)}, "
                    f"expected {list(shape)} (-1 = any)"
                )
            if self.max_rows:
                if rows == -1:
                    rows = got[0]
                    if not 1 <= rows <= self.max_rows:
                        raise InvalidInputError(
                            f"model {self.card.name}: batch of {rows} rows, allowed "
                            f"1..{self.max_rows}"
                        )
                elif got[0] != rows:
                    raise InvalidInputError(
                        f"model {self.card.name}: inputs disagree on the batch size"
                    )
            feeds[name] = array
        return feeds, rows if rows > 0 else 1

    def values(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """NaN/Inf and valid ranges of structurally valid feeds (one request or a whole
        batch: every check is elementwise, so a batch passes exactly when each request does).
        Returns the feeds, clipped where the card says clip."""
        for name, _, _, _, check_finite, valid_range, on_invalid in self.specs:
            array = feeds[name]
            if check_finite:
                total = float(_sum(array, axis=None, dtype=np.float64))
                # A finite sum proves every value finite; otherwise look closer (overflow).
                if total - total != 0 and not np.isfinite(array).all():
                    bad = np.argwhere(~np.isfinite(array))[0].tolist()
                    raise InvalidInputError(
                        f"model {self.card.name}: input {name!r} has NaN or Inf at index {bad}"
                    )
            if valid_range is not None:
                checked = self._check_range(name, array, valid_range, on_invalid)
                if checked is not array:
                    feeds = {**feeds, name: checked}
        return feeds

    def compiled(self, values: bool = True) -> Any:
        """The fastest callable doing this validation (``values=False``: ``structure`` only):
        for the common card (one float input, only the batch dimension dynamic, no range) a
        closure that checks the same things in a straight line and hands anything unusual to
        the full validator, which then names the problem. The per-request path is most of the
        runtime's batch-1 overhead."""
        full = self if values else self.structure
        if len(self.specs) != 1 or not self.max_rows:
            return full
        name, dtype, shape, tail, check_finite, valid_range, _ = self.specs[0]
        if tail is None or not check_finite or valid_range is not None:
            return full
        ndim, max_rows, ndarray = len(shape), self.max_rows, np.ndarray
        reduce, f64 = _sum, np.float64

        def validate(inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
            array = inputs.get(name) if len(inputs) == 1 else None
            if (
                type(array) is not ndarray
                or array.dtype is not dtype
                or array.ndim != ndim
                or array.shape[1:] != tail
                or not 1 <= array.shape[0] <= max_rows
            ):
                return full(inputs)
            total = float(reduce(array, axis=None, dtype=f64))
            if total - total != 0:  # NaN, Inf or an overflowing sum: let the full check decide
                return full(inputs)
            return {name: array}, array.shape[0]

        def structure(inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
            array = inputs.get(name) if len(inputs) == 1 else None
            if (
                type(array) is not ndarray
                or array.dtype is not dtype
                or array.ndim != ndim
                or array.shape[1:] != tail
                or not 1 <= array.shape[0] <= max_rows
            ):
                return full(inputs)
            return {name: array}, array.shape[0]

        return validate if values else structure

    def _check_range(
        self, name: str, array: np.ndarray, valid_range: tuple[float, float], on_invalid: str
    ) -> np.ndarray:
        lo, hi = valid_range
        if array.min() >= lo and array.max() <= hi:
            return array
        if on_invalid == "clip":
            return np.clip(array, lo, hi)
        outside = (array < lo) | (array > hi)
        idx = np.argwhere(outside)[0].tolist()
        raise InvalidInputError(
            f"model {self.card.name}: input {name!r} value {float(array[tuple(idx)])!r} at "
            f"{idx} is outside [{lo}, {hi}]"
        )

    def _names_error(self, inputs: Mapping[str, Any]) -> None:
        missing = sorted(self.names - set(inputs))
        unknown = sorted(set(inputs) - self.names)
        raise InvalidInputError(
            f"model {self.card.name}: inputs {sorted(inputs)} do not match {sorted(self.names)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )


_sum = np.add.reduce


def _describe_dtype(array: np.ndarray) -> str:
    return NUMPY_TO_KSERVE.get(array.dtype.str, str(array.dtype))


def validate_inputs(
    card: ModelCard, inputs: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], int]:
    """One-off validation (see InputValidator, which the runtime keeps per model)."""
    return InputValidator(card)(inputs)
