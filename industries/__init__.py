"""Bundled industry packs (``agentarts.industries.<name>``), each registered as a plugin."""
