"""``ModelTool``: a tool backed by a runtime model, mapping pydantic fields onto tensors.

The default mapping reads the model card through the ``Runtime`` protocol (so it works against
``LocalRuntime`` and any KServe v2 server alike): each input tensor's ``features`` name the
pydantic fields that fill its last dimension, in order, normalised with the card's ``mean`` and
``std``; scalar fields give shape ``[1, F]``, equal-length list fields ``[1, T, F]``. Outputs are
de-normalised the same way into the output model's fields named by the output's ``features``.
Pass ``to_tensors`` / ``from_tensors`` for anything else (class labels, images, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel

from agentarts.errors import ConfigError, InvalidInputError
from agentarts.runtime.tensors import KSERVE_TO_NUMPY
from agentarts.tools.base import Safety, Tool
from agentarts.tools.context import current_run

__all__ = ["ModelTool", "default_runtime"]

_DEFAULT: list[Any] = []


def default_runtime() -> Any:
    """The process-wide runtime: ``AGENTARTS_RUNTIME_URL`` / ``[runtime] url`` over HTTP (with
    ``AGENTARTS_API_KEY`` as its bearer token when set: a runtime served beyond loopback
    requires one), else an in-process ``LocalRuntime`` serving the configured and installed
    models."""
    if not _DEFAULT:
        import os

        from agentarts.config import load_settings

        settings = load_settings()
        if settings.runtime_url:
            from agentarts.runtime.client import HttpRuntime

            key = os.environ.get("AGENTARTS_API_KEY", "").strip() or None
            _DEFAULT.append(HttpRuntime(settings.runtime_url, api_key=key))
        else:
            from agentarts.runtime.local import LocalRuntime

            _DEFAULT.append(LocalRuntime(devices=settings.devices))
    return _DEFAULT[0]


class ModelTool(Tool):
    """A tool whose work is one inference of ``model`` on a ``Runtime``."""

    def __init__(
        self,
        name: str,
        model: str,
        input_model: type[BaseModel],
        output_model: type[BaseModel],
        *,
        description: str = "",
        runtime: Any = None,
        version: str | None = None,
        to_tensors: Callable[[BaseModel, dict[str, Any]], dict[str, np.ndarray]] | None = None,
        from_tensors: Callable[[dict[str, np.ndarray], dict[str, Any]], Any] | None = None,
        safety: Safety | str = Safety.ADVISORY,
        timeout_s: float | None = None,
        retries: int = 1,
    ) -> None:
        super().__init__(
            name=name,
            description=description or f"Model {model}",
            fn=self._run,
            input_model=input_model,
            output_model=output_model,
            safety=Safety(safety),
            timeout_s=timeout_s,
            retries=retries,
        )
        self.model = model
        self.version = version
        self._runtime = runtime
        self._to = to_tensors or self._default_to_tensors
        self._from = from_tensors or self._default_from_tensors
        self._meta: dict[str, Any] | None = None
        self.last_result: Any = None

    @property
    def runtime(self) -> Any:
        if self._runtime is not None:
            return self._runtime
        run = current_run()
        if run is not None and run.runtime is not None:
            return run.runtime
        return default_runtime()

    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = self.runtime.model_metadata(self.model, self.version)
        return self._meta

    def _run(self, args: BaseModel) -> Any:
        meta = self.metadata()
        tensors = self._to(args, meta)
        result = self.runtime.infer(self.model, tensors, version=self.version)
        self.last_result = result
        run = current_run()
        if run is not None and run.events is not None:
            run.events.emit(
                "model_call",
                run,
                node=None,
                model=self.model,
                version=result.version,
                device=result.device,
                device_time_us=result.device_time_us,
                host_time_us=result.host_time_us,
            )
        return self._from(result.outputs, meta)

    # -- the card-driven default mapping -----------------------------------------------------
    @staticmethod
    def _stats(spec: dict[str, Any], count: int) -> tuple[np.ndarray, np.ndarray]:
        params = spec.get("parameters", {})
        mean = np.asarray(params.get("mean", [0.0] * count), np.float64)
        std = np.asarray(params.get("std", [1.0] * count), np.float64)
        if mean.shape != (count,) or std.shape != (count,) or (std == 0).any():
            raise ConfigError(
                f"tensor {spec['name']}: card mean/std must have {count} non-zero entries"
            )
        return mean, std

    def _default_to_tensors(self, args: BaseModel, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        values = args.model_dump()
        out: dict[str, np.ndarray] = {}
        for spec in meta["inputs"]:
            features = spec.get("parameters", {}).get("features")
            if not features:
                raise ConfigError(
                    f"model {self.model}: input {spec['name']} has no 'features' "
                    "in its card; pass to_tensors to map it"
                )
            missing = [f for f in features if f not in values]
            if missing:
                raise InvalidInputError(
                    f"tool {self.name}: fields {missing} are needed by model {self.model}"
                )
            columns = [np.asarray(values[f], np.float64) for f in features]
            if any(c.shape != columns[0].shape for c in columns):
                raise InvalidInputError(f"tool {self.name}: features differ in length")
            array = np.stack(columns, axis=-1)
            mean, std = self._stats(spec, len(features))
            array = (array - mean) / std
            dtype = KSERVE_TO_NUMPY[spec["datatype"]]
            out[spec["name"]] = array[np.newaxis].astype(dtype)
        return out

    def _default_from_tensors(self, outputs: dict[str, np.ndarray], meta: dict[str, Any]) -> Any:
        result: dict[str, Any] = {}
        for spec in meta["outputs"]:
            features = spec.get("parameters", {}).get("features")
            if not features or spec["name"] not in outputs:
                continue
            array = np.asarray(outputs[spec["name"]], np.float64)[0]
            mean, std = self._stats(spec, len(features))
            array = array * std + mean
            for i, name in enumerate(features):
                result[name] = float(array[..., i]) if array.ndim == 1 else array[..., i].tolist()
        return result
