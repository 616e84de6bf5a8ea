"""Typed tools: schemas from hints, validation, timeouts, retries, approvals, LangChain."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pydantic import BaseModel

from agentarts.errors import ApprovalError, ConfigError, InvalidInputError
from agentarts.runtime.testing import FakeRuntime
from agentarts.tools import ModelTool, Safety, Tool, ToolError, tool
from agentarts.tools.context import (
    _ACTIVE_GRANT,
    actuation_key,
    proposal_digest,
)


class Query(BaseModel):
    tag: str
    minutes: int = 10


class Reading(BaseModel):
    tag: str
    value: float


@tool
def read_tag(query: Query) -> Reading:
    """Read a tag.

    Longer text is not part of the description."""
    return Reading(tag=query.tag, value=float(query.minutes))


@tool(name="mean", safety="advisory")
def mean_of(values: list[float], weight: float = 1.0) -> float:
    """Weighted mean."""
    return sum(values) / len(values) * weight


def test_schema_from_a_model_parameter():
    assert isinstance(read_tag, Tool)
    schema = read_tag.schema()
    assert schema["name"] == "read_tag" and schema["safety"] == "read_only"
    assert schema["description"] == "Read a tag."
    assert set(schema["input_schema"]["properties"]) == {"tag", "minutes"}
    assert schema["output_schema"]["properties"]["value"]["type"] == "number"
    assert read_tag({"tag": "TI-1"}).value == 10.0
    assert read_tag(tag="TI-1", minutes=3).value == 3.0


def test_schema_from_keyword_parameters_and_wrapped_result():
    assert mean_of.safety is Safety.ADVISORY
    assert set(mean_of.input_model.model_json_schema()["properties"]) == {"values", "weight"}
    assert mean_of({"values": [1, 2, 3]}).result == 2.0  # type: ignore[attr-defined]


def test_bad_input_names_the_field():
    with pytest.raises(InvalidInputError, match="tool read_tag: minutes"):
        read_tag({"tag": "x", "minutes": "many"})
    with pytest.raises(InvalidInputError, match="tag: Field required"):
        read_tag({})


def test_untyped_parameter_is_refused():
    with pytest.raises(TypeError, match="needs a type hint"):

        @tool
        def bad(x):
            return x


def test_timeout_and_retries():
    calls = []

    @tool(timeout_s=0.05, retries=2)
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.5)
        return x

    slow.backoff_s = 0.0
    with pytest.raises(ToolError, match="after 3 attempt"):
        slow(x=1)
    assert len(calls) == 3


def test_retry_recovers_from_a_transient_error():
    attempts = []

    @tool(retries=3)
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise ConnectionError("link down")
        return x * 2

    flaky.backoff_s = 0.0
    assert flaky(x=2).result == 4  # type: ignore[attr-defined]
    assert len(attempts) == 3


def test_actuating_tool_needs_the_exact_approval():
    @tool(safety="actuating", retries=5)
    def open_valve(valve: str, pct: float) -> float:
        return pct

    with pytest.raises(ApprovalError, match="actuating"):
        open_valve(valve="V", pct=10)
    grant = {
        "id": "g1",
        "action": "open_valve",
        "digest": proposal_digest("open_valve", {"valve": "V", "pct": 10}),
    }
    token = _ACTIVE_GRANT.set(grant)
    try:
        assert open_valve(valve="V", pct=10).result == 10  # type: ignore[attr-defined]
        assert actuation_key() == "g1"
        with pytest.raises(ApprovalError):
            open_valve(valve="V", pct=90)  # not what was approved
    finally:
        _ACTIVE_GRANT.reset(token)
    with pytest.raises(ApprovalError):
        open_valve(valve="V", pct=10)  # the grant is only good while its node runs it
    assert open_valve.retries == 5  # kept, but never used for actuating tools


def test_to_langchain_tool():
    lc = read_tag.to_langchain()
    assert lc.name == "read_tag"
    assert lc.invoke({"tag": "TI-9", "minutes": 2}) == {"tag": "TI-9", "value": 2.0}


def test_model_tool_maps_fields_with_the_card():
    seen = {}

    def model(inputs):
        seen.update(inputs)
        return {"y": np.array([[1.0, -1.0]], np.float32)}

    runtime = FakeRuntime({"m": model})
    runtime.model_metadata = lambda name, version=None: {  # type: ignore[method-assign]
        "inputs": [
            {
                "name": "x",
                "datatype": "FP32",
                "shape": [-1, 2],
                "parameters": {"features": ["a", "b"], "mean": [10, 0], "std": [2, 1]},
            }
        ],
        "outputs": [
            {
                "name": "y",
                "datatype": "FP32",
                "shape": [-1, 2],
                "parameters": {"features": ["p", "q"], "mean": [100, 0], "std": [5, 2]},
            }
        ],
    }

    class In(BaseModel):
        a: float
        b: float

    class Out(BaseModel):
        p: float
        q: float

    t = ModelTool("predict", "m", In, Out, runtime=runtime)
    out = t({"a": 14.0, "b": 3.0})
    np.testing.assert_allclose(seen["x"], [[2.0, 3.0]])
    assert seen["x"].dtype == np.float32
    assert (out.p, out.q) == (105.0, -2.0)


def test_model_tool_without_features_in_card_says_how_to_fix():
    runtime = FakeRuntime({"m": lambda i: {"y": np.zeros((1, 1), np.float32)}})
    runtime.model_metadata = lambda name, version=None: {  # type: ignore[method-assign]
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
        "outputs": [],
    }

    class In(BaseModel):
        a: float

    t = ModelTool("predict", "m", In, In, runtime=runtime)
    with pytest.raises(ConfigError, match="pass to_tensors"):
        t({"a": 1.0})
