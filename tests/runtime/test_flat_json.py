"""The flat-JSON fast path of ``decode_request`` decides exactly as the full parser: the same
arrays (dtype, shape, bytes) and request fields, or the same 4xx message, for valid bodies and
for bodies perturbed byte by byte around the data array."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agentarts.errors import InvalidInputError
from agentarts.runtime.kserve import messages

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _outcome(body: bytes, flat: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(messages, "FLAT_MIN_BYTES", 0 if flat else 10**12)
    try:
        r = messages.decode_request(body, None)
    except InvalidInputError as exc:
        return ("error", str(exc))
    arrays = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in r.inputs.items()}
    return ("ok", arrays, r.outputs, r.binary, r.binary_default, r.timeout_s, repr(r.id))


def _same(body: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple:
    fast = _outcome(body, True, monkeypatch)
    assert fast == _outcome(body, False, monkeypatch), body[:300]
    return fast


def _body(data: object, shape: object = (1, 4), datatype: str = "FP32", **extra: object) -> bytes:
    tensor = {"name": "x", "shape": list(shape), "datatype": datatype, "data": data}
    return json.dumps({"inputs": [tensor], **extra}).encode()


def test_the_fast_path_is_taken_and_matches(monkeypatch):
    x = np.random.default_rng(1).standard_normal((1, 1, 64, 64)).astype(np.float32)
    body = _body(x.ravel().tolist(), x.shape)
    assert messages._flat_json_request(body) is not None
    outcome = _same(body, monkeypatch)
    assert outcome[0] == "ok"
    got = np.frombuffer(outcome[1]["x"][2], np.float32).reshape(x.shape)
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize(
    "body",
    [
        _body([1, 2, 3, True]),  # a boolean in FP32 data
        _body([1, 2, 3, "4"]),  # a string
        _body([1, 2, 3, None]),  # null
        _body([1, 2, 3]),  # does not fill the shape
        _body([[1, 2], [3, 4]], (2, 2)),  # nested (valid: the full parser reads it)
        _body([1, 2, 3, 4], (True, 4)),  # a boolean in the shape
        _body([1, 2, 3, 4], datatype="INT32"),  # integers: the full parser's range checks
        _body([1, 2, 3, 2**60]),  # beyond float64's exact integers
        _body([1.5, -2e-3, 3e38, 1e39]),  # overflows float32: both give inf
        _body([1, 2, 3, 4], datatype="FP16", id="data", outputs=[{"name": "data"}]),
        _body([1, 2, 3, 4], parameters={"timeout_ms": float("nan")}),
        _body([1, 2, 3, 4], parameters={"data": [9]}),  # a second "data" key
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,NaN]}]}',
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4,]}]}',
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,02,3,4]}]}',
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,+4]}]}',
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,.4]}]}',
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}',  # cut
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4],"data":[]}]}',
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","d\\u0061ta":[5,6,7,8],'
        b'"data":[1,2,3,4]}]}',  # an escaped duplicate key: JSON's last one wins
        b'{"inputs":[{"name":"x\\"data","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}',
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data" : [ 1 , 2 ,3,4 ] }]}',
        b'[{"data":[1,2,3,4]}]',
        b'{"inputs":[{"data":[1,2,3,4]}, {"name":"y"}]}',
    ],
)
def test_edge_bodies_decide_as_the_full_parser(body, monkeypatch):
    _same(body, monkeypatch)


NUMBER = st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-(2**63), 2**63)
TOKENS = st.sampled_from(
    [b"true", b"false", b"null", b'"1"', b"[1]", b"{}", b"NaN", b"-", b"1e", b",", b"]", b"["]
)


@settings(max_examples=300, deadline=None)
@given(
    numbers=st.lists(NUMBER, min_size=0, max_size=40),
    datatype=st.sampled_from(["FP32", "FP64", "FP16", "INT64", "BOOL"]),
    pad=st.booleans(),
    token=st.none() | TOKENS,
    where=st.integers(0, 10**6),
)
def test_generated_bodies_decide_as_the_full_parser(numbers, datatype, pad, token, where):
    body = _body(numbers, (1, len(numbers) + (1 if pad else 0)), datatype)
    if token is not None:  # a foreign token spliced in at some byte of the data array
        start = body.index(b'"data": [') + 9
        end = body.index(b"]", start)
        at = start + where % (end - start + 1)
        body = body[:at] + token + body[at:]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same(body, monkeypatch)
