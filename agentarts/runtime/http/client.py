"""``HttpRuntime``: the ``Runtime`` protocol over KServe v2 HTTP (any Triton/KServe/MindIE server
that speaks JSON tensors, and ``agentarts runtime serve``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agentarts.errors import (
    AgentArtsError,
    ConfigError,
    DeviceOutOfMemoryError,
    InvalidInputError,
    ModelError,
    NotFoundError,
    PayloadTooLargeError,
    RequestTimeoutError,
    RuntimeOverloadedError,
)
from agentarts.runtime.engine.tensors import KSERVE_TO_NUMPY, encode_json_tensor
from agentarts.runtime.protocol import InferResult

__all__ = ["HttpRuntime"]

_STATUS_ERRORS: dict[int, type[AgentArtsError]] = {
    400: InvalidInputError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    504: RequestTimeoutError,
    507: DeviceOutOfMemoryError,
}


class HttpRuntime:
    """Talks to a KServe v2 server. ``api_key`` is sent as a bearer token."""

    def __init__(
        self, url: str, *, api_key: str | None = None, timeout_s: float = 30.0, client: Any = None
    ) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError(f"{self.url}{path}: timed out") from exc
        except httpx.HTTPError as exc:
            raise ModelError(f"{self.url}{path}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text
            status = response.status_code
            if status == 429:
                millis = response.headers.get("retry-after-ms", "")
                retry = (
                    int(millis) / 1e3
                    if millis.isdigit()
                    else float(response.headers.get("retry-after", "1") or 1)
                )
                raise RuntimeOverloadedError(str(message), retry_after_s=retry)
            if status in (401, 403):
                raise ConfigError(f"{self.url}: API key rejected ({message})")
            raise _STATUS_ERRORS.get(status, ModelError)(str(message))
        return response.json()

    @staticmethod
    def _path(model: str, version: str | None) -> str:
        return f"/v2/models/{model}" + (f"/versions/{version}" if version else "")

    @staticmethod
    def _body(
        inputs: Mapping[str, np.ndarray], outputs: Sequence[str] | None, timeout_s: float | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "inputs": [encode_json_tensor(k, np.asarray(v)) for k, v in inputs.items()]
        }
        if outputs:
            body["outputs"] = [{"name": n} for n in outputs]
        if timeout_s is not None:
            body["parameters"] = {"timeout_ms": timeout_s * 1000}
        return body

    @staticmethod
    def _result(
        model: str, version: str | None, reply: dict[str, Any], start: float
    ) -> InferResult:
        result = {
            t["name"]: np.asarray(t["data"], dtype=KSERVE_TO_NUMPY[t["datatype"]]).reshape(
                t["shape"]
            )
            for t in reply.get("outputs", [])
        }
        params = reply.get("parameters") or {}
        return InferResult(
            model,
            str(reply.get("model_version", version or "")),
            result,
            (time.perf_counter() - start) * 1e6,
            float(params.get("agentarts_device_time_us", 0.0)),
            int(params.get("agentarts_batch_size", 0)),
            str(params.get("agentarts_device", "")),
        )

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult:
        start = time.perf_counter()
        body = self._body(inputs, outputs, timeout_s)
        reply = self._request("POST", self._path(model, version) + "/infer", json=body)
        return self._result(model, version, reply, start)

    async def ainfer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult:
        """``infer`` without blocking the event loop (the request runs on a worker thread)."""
        import asyncio

        return await asyncio.to_thread(
            self.infer, model, inputs, version=version, outputs=outputs, timeout_s=timeout_s
        )

    def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        return self._request("GET", self._path(model, version))

    def is_ready(self, model: str | None = None, version: str | None = None) -> bool:
        path = "/v2/health/ready" if model is None else self._path(model, version) + "/ready"
        try:
            self._request("GET", path)
        except AgentArtsError:
            return False
        return True

    def list_models(self) -> list[dict[str, Any]]:
        return self._request("POST", "/v2/repository/index", json={})

    def server_metadata(self) -> dict[str, Any]:
        return self._request("GET", "/v2")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
