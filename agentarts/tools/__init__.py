"""Typed tools: ``Tool``, ``@tool``, ``ModelTool`` and safety levels."""

from agentarts.tools.base import Safety, Tool, ToolError, tool
from agentarts.tools.context import RunContext, actuation_key, current_run
from agentarts.tools.model_tool import ModelTool

__all__ = [
    "ModelTool",
    "RunContext",
    "Safety",
    "Tool",
    "ToolError",
    "actuation_key",
    "current_run",
    "tool",
]
