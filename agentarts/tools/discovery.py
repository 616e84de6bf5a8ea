"""Find the tools a module, an agent or a pack defines (for ``agentarts tools list``)."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

from agentarts.errors import UsageError
from agentarts.tools.base import Tool

__all__ = ["find_tools"]


def _collect(obj: Any, out: dict[str, Tool]) -> None:
    if isinstance(obj, Tool):
        out.setdefault(obj.name, obj)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _collect(item, out)
    elif hasattr(obj, "builder") and hasattr(obj.builder, "nodes"):  # an Agent
        for spec in obj.builder.nodes.values():
            func = getattr(spec.runnable, "func", None)
            tool = getattr(func, "__agentarts_tool__", None)
            if tool is not None:
                out.setdefault(tool.name, tool)


def find_tools(ref: str | None) -> list[Tool]:
    """Tools in ``ref``: ``module`` (every Tool at module level, and in ``module.tools``),
    ``module:attr`` (a Tool, a list of tools, or an Agent), or an installed pack's name."""
    if not ref:
        raise UsageError("name a module (e.g. acme_agent.tools) or run inside a project")
    from agentarts.plugins import discover_packs, load_ref

    packs = discover_packs().packs
    if ref in packs and packs[ref].tools:
        ref = packs[ref].tools
    found: dict[str, Tool] = {}
    if ":" in ref:
        _collect(load_ref(ref), found)
        return list(found.values())
    try:
        module = importlib.import_module(ref)
    except ImportError as exc:
        raise UsageError(f"cannot import {ref!r}: {exc}") from exc
    candidates = [module]
    with contextlib.suppress(ImportError):
        candidates.append(importlib.import_module(f"{ref}.tools"))
    for mod in candidates:
        for value in vars(mod).values():
            _collect(value, found)
    return list(found.values())
