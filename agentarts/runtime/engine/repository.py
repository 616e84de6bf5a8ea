"""Triton-style model repository: ``<repo>/<model>/<version>/model.onnx`` + ``model.toml``.

A model card (``<repo>/<model>/model.toml``) is optional. Without one, names, datatypes and
shapes come from the ONNX graph and a dynamic first dimension means the model is batchable.
With one, it documents what the graph cannot say (units, valid ranges, normalisation, batching,
provenance, metrics) and the runtime enforces what it declares. Example::

    description = "HMT 2 h ahead"
    task = "regression"
    precision = "fp16"            # what the simulated device runs at
    [[inputs]]
    name = "x"
    features = ["hmt_c", "si_pct"]
    unit = ["degC", "wt%"]
    mean = [1500.0, 0.45]
    std = [12.0, 0.1]
    valid_range = [-8.0, 8.0]      # of the tensor the model receives
    on_invalid = "reject"          # or "clip" / "accept"
    [batching]
    max_batch_size = 64
    preferred_batch_sizes = [32, 64]
    max_queue_delay_us = 200
    [provenance]
    script = "industries/steel/train.py"
    [metrics]
    mae_c = 4.1
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentarts.errors import ModelError, NotFoundError
from agentarts.runtime.engine.datatypes import ONNX_TO_KSERVE

if TYPE_CHECKING:
    import onnx

__all__ = ["BatcherConfig", "ModelCard", "ModelRepository", "TensorSpec", "load_card"]

CARD_FILE = "model.toml"
MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class BatcherConfig:
    """A model's batching rules (Triton's names); the batchers in ``batching/`` apply them."""

    max_batch_size: int = 64
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    max_queue_size: int = 1024
    timeout_s: float = 10.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if any(not 1 <= p <= self.max_batch_size for p in self.preferred_batch_sizes):
            raise ValueError("preferred batch sizes must be between 1 and max_batch_size")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: KServe datatype, shape (-1 = dynamic) and what the card adds."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    description: str = ""
    features: tuple[str, ...] = ()
    unit: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    valid_range: tuple[float, float] | None = None
    on_invalid: Literal["reject", "clip", "accept"] = "reject"
    allow_nan: bool = False

    def metadata(self) -> dict[str, Any]:
        """KServe v2 tensor metadata, plus the card's extras under ``parameters``."""
        extra = {
            k: v
            for k, v in {
                "description": self.description,
                "features": list(self.features),
                "unit": list(self.unit),
                "mean": self.mean and list(self.mean),
                "std": self.std and list(self.std),
                "valid_range": self.valid_range and list(self.valid_range),
            }.items()
            if v
        }
        out: dict[str, Any] = {
            "name": self.name,
            "datatype": self.datatype,
            "shape": list(self.shape),
        }
        if extra:
            out["parameters"] = extra
        return out


@dataclass(frozen=True)
class ModelCard:
    """Everything the runtime knows about a model (card merged over the ONNX graph)."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batching: BatcherConfig
    batchable: bool
    description: str = ""
    task: str = ""
    precision: str = "fp16"
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def input(self, name: str) -> TensorSpec:
        return next(t for t in self.inputs if t.name == name)


def _graph_specs(values: Any, initializers: set[str]) -> tuple[list[TensorSpec], bool]:
    specs, dynamic_first = [], True
    for vi in values:
        if vi.name in initializers:
            continue
        tt = vi.type.tensor_type
        dims = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tt.shape.dim
        ]
        dynamic_first = dynamic_first and bool(dims) and dims[0] == -1
        specs.append(TensorSpec(vi.name, ONNX_TO_KSERVE.get(tt.elem_type, "FP32"), tuple(dims)))
    return specs, dynamic_first


def _merge(
    graph: list[TensorSpec], declared: list[dict[str, Any]], where: str
) -> tuple[TensorSpec, ...]:
    by_name = {t.name: t for t in graph}
    for entry in declared:
        name = entry.get("name")
        if name not in by_name:
            raise ModelError(
                f"{where}: card declares tensor {name!r}, the graph has {sorted(by_name)}"
            )
        extra = {k: v for k, v in entry.items() if k != "name"}
        for key in ("features", "unit", "mean", "std", "valid_range"):
            if key in extra:
                value = extra[key]
                extra[key] = tuple(value) if isinstance(value, list) else (value,)
        if extra.get("on_invalid", "reject") not in ("reject", "clip", "accept"):
            raise ModelError(f"{where}: on_invalid must be reject, clip or accept")
        for key in ("datatype", "shape"):
            extra.pop(key, None)  # the graph is the truth for these
        try:
            by_name[name] = replace(by_name[name], **extra)
        except TypeError as exc:
            raise ModelError(f"{where}: tensor {name!r}: {exc}") from exc
    return tuple(by_name[t.name] for t in graph)


def load_card(name: str, model: onnx.ModelProto, card_path: Path | None) -> ModelCard:
    """Merge the card at ``card_path`` (if any) over what the ONNX ``model`` declares."""
    doc: dict[str, Any] = {}
    where = str(card_path) if card_path else name
    if card_path is not None and card_path.is_file():
        try:
            doc = tomllib.loads(card_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"{card_path}: invalid model card: {exc}") from exc
    inits = {i.name for i in model.graph.initializer}
    graph_in, batchable = _graph_specs(model.graph.input, inits)
    graph_out, _ = _graph_specs(model.graph.output, set())
    batch = dict(doc.get("batching", {}))
    max_batch = int(batch.get("max_batch_size", 64 if batchable else 1))
    try:
        batching = BatcherConfig(
            max_batch_size=max_batch if batchable else 1,
            preferred_batch_sizes=tuple(batch.get("preferred_batch_sizes", ())),
            max_queue_delay_us=int(batch.get("max_queue_delay_us", 0)),
            max_queue_size=int(batch.get("max_queue_size", 1024)),
            timeout_s=float(batch.get("timeout_ms", 10_000)) / 1000,
            enabled=bool(batch.get("enabled", True)) and batchable,
        )
    except ValueError as exc:
        raise ModelError(f"{where}: [batching] {exc}") from exc
    return ModelCard(
        name=name,
        inputs=_merge(graph_in, list(doc.get("inputs", [])), where),
        outputs=_merge(graph_out, list(doc.get("outputs", [])), where),
        batching=batching,
        batchable=batchable,
        description=str(doc.get("description", "")),
        task=str(doc.get("task", "")),
        precision=str(doc.get("precision", "fp16")),
        provenance=dict(doc.get("provenance", {})),
        metrics=dict(doc.get("metrics", {})),
    )


@dataclass
class ModelEntry:
    """A model folder: its versions (name -> model.onnx) and optional card."""

    name: str
    folder: Path
    versions: dict[str, Path]

    @property
    def card_path(self) -> Path | None:
        path = self.folder / CARD_FILE
        return path if path.is_file() else None

    def latest(self) -> str:
        return max(self.versions, key=lambda v: (int(v) if v.isdigit() else -1, v))


class ModelRepository:
    """One or more repository roots; the first root defining a model name wins."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(r) for r in roots]
        self.models: dict[str, ModelEntry] = {}
        self.problems: dict[str, str] = {}
        self.scan()

    def scan(self) -> None:
        models: dict[str, ModelEntry] = {}
        problems: dict[str, str] = {}
        for root in self.roots:
            if not root.is_dir():
                problems[str(root)] = "model repository folder does not exist"
                continue
            for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                if folder.name.startswith((".", "_")) or folder.name in models:
                    continue
                versions = {
                    v.name: v / MODEL_FILE
                    for v in folder.iterdir()
                    if v.is_dir() and (v / MODEL_FILE).is_file()
                }
                if versions:
                    models[folder.name] = ModelEntry(folder.name, folder, versions)
        self.models, self.problems = models, problems

    def resolve(self, name: str, version: str | None = None) -> tuple[ModelEntry, str, Path]:
        entry = self.models.get(name)
        if entry is None:
            raise NotFoundError(f"unknown model {name!r} (known: {sorted(self.models)})")
        version = version or entry.latest()
        if version not in entry.versions:
            raise NotFoundError(
                f"model {name!r} has no version {version!r} (versions: {sorted(entry.versions)})"
            )
        return entry, version, entry.versions[version]
