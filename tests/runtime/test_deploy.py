"""The deployment files agree with the CLI: the manifest's and the image's arguments are what
`agentarts runtime serve` accepts, and the image copies folders that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def manifest_container() -> dict:
    spec = yaml.safe_load((DEPLOY / "kserve-inferenceservice.yaml").read_text())
    assert spec["apiVersion"] == "serving.kserve.io/v1beta1"
    assert spec["kind"] == "InferenceService"
    (container,) = spec["spec"]["predictor"]["containers"]
    return container


def dockerfile_cmd() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, re.MULTILINE)
    return json.loads(cmd)


def test_dockerfile_copies_existing_paths():
    text = (DEPLOY / "Dockerfile").read_text()
    sources = [
        part
        for line in text.splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for part in line.split()[1:-1]
    ]
    assert sources and all((ROOT / s).exists() for s in sources), sources


def test_manifest_and_image_start_the_same_server(runner, cli, monkeypatch):
    container = manifest_container()
    assert container["args"] == dockerfile_cmd()
    assert container["ports"][0]["containerPort"] == 8080
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["env"][0]["name"] == "AGENTARTS_API_KEY"

    calls = []

    class Stub:
        class devices:
            cards = []

        def load_all(self):
            return {}

        def list_models(self):
            return []

    import agentarts.cli._runtime as cli_runtime
    import agentarts.runtime.http.server as server

    monkeypatch.setattr(cli_runtime, "_runtime", lambda *a, **k: Stub())
    monkeypatch.setattr(server, "serve", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setenv("AGENTARTS_API_KEY", "from-the-secret")
    result = runner.invoke(cli, container["args"])
    assert result.exit_code == 0, result.stderr
    ((args, kwargs),) = calls
    assert args[1:] == ("0.0.0.0", 8080)
    assert kwargs == {"api_key": "from-the-secret", "grpc_port": 8081, "backlog": None}
    monkeypatch.delenv("AGENTARTS_API_KEY")
    refused = runner.invoke(cli, container["args"])
    assert refused.exit_code == 2 and "API key is required" in refused.stderr
