"""`agentarts runtime models|devices|serve` from the command line."""

from __future__ import annotations

import json


def test_models_json_reports_broken_by_name(runner, cli, repo):
    result = runner.invoke(cli, ["runtime", "models", "--model-repository", str(repo), "--json"])
    assert result.exit_code == 0, result.stderr
    rows = {(m["name"], m["version"]): m for m in json.loads(result.stdout)["models"]}
    assert rows[("mlp", "2")]["state"] == "READY"
    assert rows[("mlp", "2")]["inputs"] == ["x[-1, 64]"]
    assert rows[("broken", "1")]["state"] == "UNAVAILABLE"


def test_models_table(runner, cli, repo):
    result = runner.invoke(cli, ["runtime", "models", "--model-repository", str(repo)])
    assert result.exit_code == 0 and "mlp" in result.stdout


def test_devices_json(runner, cli):
    result = runner.invoke(cli, ["runtime", "devices", "--devices", "910B2x8", "--json"])
    cards = json.loads(result.stdout)["cards"]
    assert len(cards) == 8 and cards[0]["peak_fp16_tflops"] == 353.9


def test_devices_bad_spec(runner, cli):
    result = runner.invoke(cli, ["runtime", "devices", "--devices", "A100x2"])
    assert result.exit_code == 2 and result.stderr.startswith("error: device spec")


def test_serve_beyond_loopback_needs_a_key(runner, cli, monkeypatch):
    monkeypatch.delenv("AGENTARTS_API_KEY", raising=False)
    result = runner.invoke(cli, ["runtime", "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "API key is required" in result.stderr
