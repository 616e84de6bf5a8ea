"""The public API is small, stable and cheap to import."""

from __future__ import annotations

import json

import agentarts
from tests.conftest import run_python

HEAVY = ["langgraph", "onnxruntime", "fastapi", "torch", "matplotlib", "copier", "sqlmodel"]

EXPECTED = {
    "AgentArtsError",
    "ApprovalError",
    "ConfigError",
    "DeviceOutOfMemoryError",
    "IndustryPack",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelError",
    "NotFoundError",
    "RequestTimeoutError",
    "RuntimeOverloadedError",
    "Settings",
    "UsageError",
    "__version__",
    "create_project",
    "discover_packs",
    "load_settings",
    "upgrade_project",
    "LocalRuntime",
    "HttpRuntime",
    "Runtime",
    "InferResult",
}


def test_all_is_exactly_the_public_api():
    assert set(agentarts.__all__) == EXPECTED
    for name in agentarts.__all__:
        assert getattr(agentarts, name) is not None


def test_unknown_attribute_raises_attribute_error():
    try:
        agentarts.does_not_exist  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_every_error_derives_from_the_base():
    from agentarts import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.AgentArtsError)


def test_import_agentarts_loads_no_heavy_library():
    code = (
        "import sys, json, agentarts\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
