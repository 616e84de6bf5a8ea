"""The SDK version; read by setuptools at build time and by `agentarts --version`."""

__version__ = "0.1.0"
