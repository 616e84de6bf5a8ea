"""The runtime's layers: module-level imports point one way and form no cycle (issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

import agentarts.runtime

ROOT = Path(agentarts.runtime.__file__).parent
# a layer may import only the layers listed for it (module level; lazy imports are free)
ALLOWED = {
    "engine": {"engine"},
    "batching": {"batching", "engine", "protocol"},
    "devices": {"devices", "engine"},
    "kserve": {"kserve", "engine", "batching", "protocol"},
}


def _module_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        deps = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "agentarts.runtime."
            ):
                deps.add(node.module.removeprefix("agentarts.runtime."))
        graph[name] = deps
    return graph


def test_no_import_cycle_between_runtime_modules():
    graph = _module_imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*path, dep])}"
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_layers_import_only_the_layers_beneath_them():
    for name, deps in _module_imports().items():
        layer = name.split(".")[0]
        if layer not in ALLOWED:
            continue
        for dep in deps:
            assert dep.split(".")[0] in ALLOWED[layer], f"{name} imports {dep}"
