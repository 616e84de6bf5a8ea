"""OpenAPI documentation of the infer body and of the error answers (``/openapi.json``).

The infer routes read their body themselves (JSON or the binary tensor data extension, decoded
after admission control), so FastAPI cannot derive the schema from a pydantic model: it is
written here, following the KServe v2 protocol's JSON schema, and attached to the routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["INFER_OPENAPI", "SCHEMAS", "add_schemas"]

_DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"]
_DATATYPES += ["FP16", "FP32", "FP64"]
_REF = "#/components/schemas/"

SCHEMAS: dict[str, Any] = {
    "InferInputTensor": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "shape": {
                "type": "array",
                "maxItems": 32,
                "items": {"type": "integer", "minimum": 0},
            },
            "datatype": {"type": "string", "enum": _DATATYPES},
            "data": {
                "type": "array",
                "description": "Row-major values, flat or nested; numbers for FP*, integers in "
                "range for INT*/UINT*, booleans for BOOL. Omit when binary_data_size is given.",
                "items": {},
            },
            "parameters": {
                "type": "object",
                "properties": {
                    "binary_data_size": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Bytes of this tensor in the binary tail (little-endian)",
                    }
                },
            },
        },
    },
    "InferRequestedOutput": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "parameters": {
                "type": "object",
                "properties": {"binary_data": {"type": "boolean"}},
            },
        },
    },
    "InferRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"description": "Echoed in the answer"},
            "inputs": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": _REF + "InferInputTensor"},
            },
            "outputs": {"type": "array", "items": {"$ref": _REF + "InferRequestedOutput"}},
            "parameters": {
                "type": "object",
                "properties": {
                    "timeout_ms": {"type": "number", "exclusiveMinimum": 0},
                    "timeout": {
                        "type": "integer",
                        "exclusiveMinimum": 0,
                        "description": "Triton's: microseconds",
                    },
                    "binary_data_output": {"type": "boolean"},
                },
            },
        },
    },
    "InferOutputTensor": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string", "enum": _DATATYPES},
            "data": {"type": "array", "items": {}},
            "parameters": {
                "type": "object",
                "properties": {"binary_data_size": {"type": "integer"}},
            },
        },
    },
    "InferResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {},
            "outputs": {"type": "array", "items": {"$ref": _REF + "InferOutputTensor"}},
            "parameters": {"type": "object"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What is wrong, by name"}},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}},
    }


_BINARY = {
    "type": "string",
    "format": "binary",
    "description": "Binary tensor data extension: a JSON InferRequest of "
    "Inference-Header-Content-Length bytes, then each binary input's bytes in order",
}

INFER_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": _REF + "InferRequest"}},
            "application/octet-stream": {"schema": _BINARY},
        },
    },
    "parameters": [
        {
            "name": "Inference-Header-Content-Length",
            "in": "header",
            "required": False,
            "schema": {"type": "integer", "minimum": 0},
            "description": "Length of the JSON header when binary tensors follow it",
        },
        {
            "name": "Content-Encoding",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": ["identity", "gzip", "deflate"]},
        },
    ],
    "responses": {
        "200": {
            "description": "Outputs (binary ones after a JSON header of "
            "Inference-Header-Content-Length bytes)",
            "content": {
                "application/json": {"schema": {"$ref": _REF + "InferResponse"}},
                "application/octet-stream": {"schema": _BINARY},
            },
        },
        "400": _error("Malformed body, wrong tensor names, shapes, types or values"),
        "401": _error("Missing or wrong API key"),
        "404": _error("Unknown model or version"),
        "413": _error("Body larger than the server's limit"),
        "415": _error("Unsupported Content-Type or Content-Encoding"),
        "422": _error("Invalid path parameters"),
        "429": {
            **_error("Overloaded: retry after the Retry-After header's seconds"),
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before retrying (rounded up, at least 1)",
                    "schema": {"type": "integer", "minimum": 1},
                },
                "retry-after-ms": {
                    "description": "The same wait in milliseconds (rounded up, at least 1)",
                    "schema": {"type": "integer", "minimum": 1},
                },
            },
        },
        "503": _error("The model cannot be loaded or is shutting down"),
        "504": _error("The request waited longer than its timeout"),
        "507": _error("Not enough simulated device memory to load the model"),
    },
}


def add_schemas(app: FastAPI) -> None:
    """Add the schemas above to the app's generated OpenAPI document."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
