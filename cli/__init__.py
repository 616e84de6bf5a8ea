"""The ``agentarts`` command line (Typer). Commands are thin; the logic lives in ``agentarts``.

Heavy libraries (langgraph, onnxruntime, fastapi, torch, matplotlib) are imported inside the
commands that need them, so ``agentarts --help`` starts fast; a test guards it.
"""
