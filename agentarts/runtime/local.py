"""``LocalRuntime``: the in-process runtime (repository + engine + batcher + simulated devices)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import AgentArtsError, InvalidInputError, ModelError
from agentarts.runtime.batching.coroutines import AsyncBatcher
from agentarts.runtime.batching.threads import DynamicBatcher
from agentarts.runtime.devices.costmodel import CostModel
from agentarts.runtime.devices.profiles import DeviceCard, DevicePool, DeviceProfile, parse_devices
from agentarts.runtime.engine.ort import EngineConfig, OrtEngine
from agentarts.runtime.engine.repository import ModelCard, ModelRepository, load_card
from agentarts.runtime.engine.tensors import InputValidator
from agentarts.runtime.protocol import InferResult

__all__ = ["LoadedModel", "LocalRuntime", "default_repositories"]


def default_repositories(extra: Sequence[Path] = (), include_packs: bool = True) -> list[Path]:
    """Extra folders first, then ``[runtime] model_repositories``, then installed packs' models."""
    from agentarts.config import load_settings

    roots = [Path(p) for p in extra]
    roots += [p for p in load_settings().model_repositories if p not in roots]
    if include_packs:
        from agentarts.plugins import discover_packs

        for pack in discover_packs().packs.values():
            folder = pack.model_repository_dir()
            if folder is not None and folder not in roots:
                roots.append(folder)
    return roots


@dataclass
class LoadedModel:
    name: str
    version: str
    card: ModelCard
    engine: OrtEngine
    cost: CostModel
    card_device: DeviceCard
    reserved_bytes: int
    batcher: DynamicBatcher
    validate: Any  # InputValidator, or its compiled fast path
    device_us: dict[int, float]
    structure: Any = None  # the validator's structure-only check (the async path's)
    async_runner: Any = None  # see AsyncRunner: values checked per batch, answers per request

    device_label: str = ""
    _async: dict[int, AsyncBatcher] = field(default_factory=dict)
    last_async: AsyncBatcher | None = None  # the most recent loop's: one identity test per call

    def __post_init__(self) -> None:
        self.device_label = f"{self.card_device.index}:{self.card_device.profile.name}"

    @property
    def busy_us(self) -> float:
        """Simulated device time of every batch run so far (histogram x cost per size)."""
        histogram = dict(self.batcher.stats.batch_histogram)
        return sum(count * self.device_us[rows] for rows, count in histogram.items())

    def async_batcher(self) -> AsyncBatcher:
        """The async batcher of the running event loop (futures belong to one loop)."""
        loop = asyncio.get_running_loop()
        batcher = self._async.get(id(loop))
        if batcher is None or batcher.loop is not loop:  # an id can be reused by a new loop
            batcher = self._async[id(loop)] = AsyncBatcher(
                self.batcher, self.async_runner, (self.name, self.version, self.device_label), loop
            )
        self.last_async = batcher
        return batcher

    def close(self, drain: bool) -> None:
        self.batcher.close(drain=drain)
        for batcher in self._async.values():
            batcher.close()


def _concatenate(payloads: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in payloads]) for k in payloads[0]}


def _split(
    names: list[str], outs: list[np.ndarray], payloads: list[dict[str, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    """A batch's outputs cut back into each request's rows, in order."""
    if len(payloads) == 1:
        return [dict(zip(names, outs, strict=True))]
    first = next(iter(payloads[0]))
    parts, start = [], 0
    if len(names) == 1:  # one output: the common case, kept cheap per request
        only, out = names[0], outs[0]
        for p in payloads:
            end = start + p[first].shape[0]
            parts.append({only: out[start:end]})
            start = end
        return parts
    for p in payloads:
        end = start + p[first].shape[0]
        parts.append({k: o[start:end] for k, o in zip(names, outs, strict=True)})
        start = end
    return parts


class LocalRuntime:
    """Serves the models of one or more repositories in this process.

    Args:
        model_repositories: folders to serve; default: settings and installed packs.
        devices: simulated cards, e.g. ``"910B2x8"``, or a list of profiles.
        batching: False turns dynamic batching off for every model (each call runs alone).
        engine: onnxruntime thread settings.
    """

    def __init__(
        self,
        model_repositories: Sequence[Path | str] | None = None,
        devices: str | Sequence[DeviceProfile] = "910B2x1",
        *,
        batching: bool = True,
        engine: EngineConfig | None = None,
        include_packs: bool = True,
    ) -> None:
        roots = (
            [Path(p) for p in model_repositories]
            if model_repositories is not None
            else default_repositories(include_packs=include_packs)
        )
        self.repository = ModelRepository(roots)
        profiles = parse_devices(devices) if isinstance(devices, str) else list(devices)
        self.devices = DevicePool(profiles)
        self.batching = batching
        self.engine_config = engine or EngineConfig()
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._failed: dict[tuple[str, str], str] = {}
        # (name, version or None) -> loaded model, so the request path skips version lookup
        self._fast: dict[tuple[str, str | None], LoadedModel] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- loading -----------------------------------------------------------------------------
    def load(self, model: str, version: str | None = None) -> LoadedModel:
        """Load (once) and return a model version; raises NotFound, ModelError or OOM."""
        entry, version, path = self.repository.resolve(model, version)
        key = (model, version)
        hit = self._loaded.get(key)
        if hit is not None:
            return hit
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            if self._closed:
                raise ModelError("runtime is closed")
            try:
                loaded = self._load(entry.name, version, path, entry.card_path)
            except AgentArtsError as exc:
                if not isinstance(exc, ModelError):
                    raise
                self._failed[key] = str(exc)
                raise
            self._loaded[key] = loaded
            self._failed.pop(key, None)
            return loaded

    def _load(self, name: str, version: str, path: Path, card_path: Path | None) -> LoadedModel:
        import onnx

        try:
            proto = onnx.load(str(path))
        except Exception as exc:  # protobuf DecodeError, OSError, ...
            raise ModelError(
                f"{name}/{version}: {path.name} is not a valid ONNX model: {exc}"
            ) from exc
        card = load_card(name, proto, card_path)
        if not self.batching:
            from dataclasses import replace

            card = replace(card, batching=replace(card.batching, enabled=False))
        key = f"{name}/{version}"
        engine = OrtEngine(path, self.engine_config, model_bytes=proto.SerializeToString())
        # Reserve weights + activations at max batch on the card with the most free HBM.
        probe = CostModel(proto, self.devices.cards[0].profile, card.precision)
        need = probe.weights_bytes() + probe.peak_activation_bytes(card.batching.max_batch_size)
        device = self.devices.reserve(key, need)
        same = device.profile == probe.profile
        cost = probe if same else CostModel(proto, device.profile, card.precision)
        for size in {1, card.batching.max_batch_size, *card.batching.preferred_batch_sizes}:
            cost.batch_cost(size)  # warm the cache off the request path
        validator = InputValidator(card)
        loaded = LoadedModel(
            name,
            version,
            card,
            engine,
            cost,
            device,
            need,
            batcher=None,  # type: ignore[arg-type]
            validate=validator.compiled(),
            device_us={
                b: cost.batch_cost(b).time_us for b in range(1, card.batching.max_batch_size + 1)
            },
        )
        run, run_one = self._runners(loaded)
        loaded.batcher = DynamicBatcher(run, card.batching, key, run_one=run_one)
        loaded.structure = validator.compiled(values=False)
        loaded.async_runner = self._async_runner(loaded, validator.values)
        return loaded

    def _runners(self, lm: LoadedModel) -> tuple[Any, Any]:
        # Simulated device time is a pure function of the batch size, so busy time is derived
        # from the batch-size histogram when read (see busy_us) instead of summed per call.
        engine, device_us_by_rows = lm.engine, lm.device_us
        names = engine.output_names
        raw_run = engine._run
        only = names[0] if len(names) == 1 else None

        def run_one(feeds: dict[str, np.ndarray], rows: int) -> tuple[dict[str, Any], float]:
            # The hot path of a lone caller, so as few Python operations as possible.
            try:
                outs = raw_run(names, feeds, None)
            except Exception as exc:
                raise ModelError(f"inference failed: {exc}") from exc
            result = {only: outs[0]} if only is not None else dict(zip(names, outs, strict=True))
            return result, device_us_by_rows[rows]

        def run(payloads: list[dict[str, np.ndarray]], rows: int) -> list[Any]:
            if len(payloads) == 1:
                return [run_one(payloads[0], rows)]
            outs = engine.run(_concatenate(payloads))
            device_us = device_us_by_rows[rows]
            return [(part, device_us) for part in _split(names, outs, payloads)]

        return run, run_one

    @staticmethod
    def _async_runner(lm: LoadedModel, check_values: Any) -> Any:
        """The async batcher's runner: requests arrive structure-checked; their values are
        checked here once per batch (a NaN/Inf or range check over 64 rows costs what it costs
        over one). A batch that fails is split: each request is checked alone, those at fault
        get the error naming their value, the rest run."""
        engine, device_us_by_rows = lm.engine, lm.device_us
        names = engine.output_names
        raw_run = engine._run

        def run(payloads: list[dict[str, np.ndarray]], rows: int) -> tuple[list[Any], float, int]:
            feeds = payloads[0] if len(payloads) == 1 else _concatenate(payloads)
            try:
                feeds = check_values(feeds)
            except InvalidInputError:
                return isolate(payloads)
            try:
                outs = raw_run(names, feeds, None)
            except Exception as exc:
                raise ModelError(f"inference failed: {exc}") from exc
            return _split(names, outs, payloads), device_us_by_rows[rows], rows

        def isolate(payloads: list[dict[str, np.ndarray]]) -> tuple[list[Any], float, int]:
            verdicts: list[Any] = []
            good: list[dict[str, np.ndarray]] = []
            for p in payloads:
                try:
                    good.append(check_values(p))
                    verdicts.append(None)
                except InvalidInputError as exc:
                    verdicts.append(exc)
            if not good:
                return verdicts, 0.0, 0
            first = next(iter(good[0]))
            answers, device_us, ran = run(good, sum(p[first].shape[0] for p in good))
            served = iter(answers)
            return [next(served) if v is None else v for v in verdicts], device_us, ran

        return run

    def load_all(self) -> dict[str, str]:
        """Load every model's latest version; returns {name/version: error} for those that fail."""
        errors: dict[str, str] = {}
        for name, entry in self.repository.models.items():
            try:
                self.load(name, entry.latest())
            except AgentArtsError as exc:
                errors[f"{name}/{entry.latest()}"] = str(exc)
        return errors

    # -- Runtime protocol --------------------------------------------------------------------
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
        lm = self._fast.get((model, version))
        if lm is None:
            lm = self.load(model, version)
            self._fast[(model, version)] = lm
            start = time.perf_counter()  # host time and the timeout count inference, not loading
        try:
            feeds, rows = lm.validate(inputs)
        except InvalidInputError:
            self.count_failure(lm)
            raise
        # inlined on purpose: this is most of the batch-1 overhead
        (result, device_us), batch = lm.batcher.submit(feeds, rows, timeout_s, start)
        if outputs:
            result = self._select(model, result, outputs)
        return InferResult(
            model,
            lm.version,
            result,
            (time.perf_counter() - start) * 1e6,
            device_us,
            batch,
            lm.device_label,
        )

    async def ainfer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult:
        """``infer`` for asyncio callers: batches concurrent awaits of one event loop."""
        start = time.perf_counter()
        lm = self._fast.get((model, version))
        if lm is None:
            lm = await asyncio.to_thread(self.load, model, version)  # loading may take seconds
            self._fast[(model, version)] = lm
            start = time.perf_counter()
        try:
            feeds, rows = lm.structure(inputs)
        except InvalidInputError:
            self.count_failure(lm)
            raise
        batcher = lm.last_async
        if batcher is None or batcher.loop is not asyncio.get_running_loop():
            batcher = lm.async_batcher()
        result = await batcher.submit(feeds, rows, timeout_s, start)
        if outputs:
            result.outputs = self._select(model, result.outputs, outputs)
        return result

    def lookup(self, model: str, version: str | None = None) -> LoadedModel:
        """The loaded model serving (model, version or latest), loading it on first use."""
        lm = self._fast.get((model, version))
        if lm is None:
            lm = self._fast[(model, version)] = self.load(model, version)
        return lm

    @staticmethod
    def count_failure(lm: LoadedModel, count: int = 1) -> None:
        """Count requests refused before reaching the batcher (bad input, admission)."""
        with lm.batcher._lock:
            lm.batcher.stats.request_failure += count

    @staticmethod
    def _select(model: str, result: dict[str, Any], outputs: Sequence[str]) -> dict[str, Any]:
        unknown = sorted(set(outputs) - set(result))
        if unknown:
            raise InvalidInputError(f"model {model}: unknown outputs {unknown}")
        return {k: result[k] for k in outputs}

    def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        entry, version, _ = self.repository.resolve(model, version)
        lm = self.load(model, version)
        card = lm.card
        return {
            "name": model,
            "versions": sorted(entry.versions),
            "platform": "onnxruntime_onnx",
            "inputs": [t.metadata() for t in card.inputs],
            "outputs": [t.metadata() for t in card.outputs],
            "parameters": {
                "version": version,
                "description": card.description,
                "task": card.task,
                "precision": card.precision,
                "device": lm.device_label,
                "providers": lm.engine.providers,
                "max_batch_size": card.batching.max_batch_size if card.batchable else 0,
                "preferred_batch_sizes": list(card.batching.preferred_batch_sizes),
                "max_queue_delay_us": card.batching.max_queue_delay_us,
                "dynamic_batching": card.batching.enabled,
                "hbm_reserved_bytes": lm.reserved_bytes,
                "provenance": card.provenance,
                "metrics": card.metrics,
            },
        }

    def is_ready(self, model: str | None = None, version: str | None = None) -> bool:
        if self._closed:
            return False
        if model is None:
            return True
        try:
            self.load(model, version)
        except AgentArtsError:
            return False
        return True

    def list_models(self) -> list[dict[str, Any]]:
        """Triton repository index: one row per model version with its state."""
        rows = []
        for name, entry in sorted(self.repository.models.items()):
            for version in sorted(entry.versions):
                key = (name, version)
                if key in self._loaded:
                    lm = self._loaded[key]
                    rows.append(
                        {
                            "name": name,
                            "version": version,
                            "state": "READY",
                            "device": lm.device_label,
                        }
                    )
                elif key in self._failed:
                    rows.append(
                        {
                            "name": name,
                            "version": version,
                            "state": "UNAVAILABLE",
                            "reason": self._failed[key],
                        }
                    )
                else:
                    rows.append({"name": name, "version": version, "state": "UNLOADED"})
        return rows

    def devices_status(self) -> list[dict[str, Any]]:
        """Cards with HBM use and simulated busy time (sum over their models' batches)."""
        busy: dict[int, float] = {}
        for lm in self._loaded.values():
            busy[lm.card_device.index] = busy.get(lm.card_device.index, 0.0) + lm.busy_us
        return self.devices.describe(busy)

    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())

    def close(self, drain: bool = True) -> None:
        with self._lock:
            self._closed = True
            models = list(self._loaded.values())
        for lm in models:
            lm.close(drain)

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
