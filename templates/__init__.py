"""Project templates for ``agentarts new`` (copier templates; data, not code)."""
