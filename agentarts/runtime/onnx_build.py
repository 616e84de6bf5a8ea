"""Wrapping a hand-built ONNX graph into a model every part of AgentArts writes the same way.

The packs export their trained networks by building the graph from the weights (no dependency
on an exporter version), and the runtime's test models are built the same way. All use opset
17 and IR version 8 (what onnxruntime 1.18+ and CANN's ATC read), and check the model first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["OPSET", "finish_model", "save_model"]

OPSET = 17
IR_VERSION = 8


def finish_model(graph: Any, producer: str = "") -> Any:
    """An ``onnx.ModelProto`` for ``graph`` (opset 17, IR 8), checked."""
    import onnx
    from onnx import helper

    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def save_model(graph: Any, path: Path, producer: str = "") -> Any:
    """``finish_model`` and write it to ``path`` (creating its folder); returns the model."""
    import onnx

    model = finish_model(graph, producer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return model
