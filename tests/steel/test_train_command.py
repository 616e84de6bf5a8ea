"""`agentarts train steel`: fits on a plant's history, compares with the shipped model, never
writes over the shipped models, and says what to install when torch is missing."""

from __future__ import annotations

import hashlib
import importlib.util
import json

import pytest

from agentarts.industries.steel.train import MODELS
from tests.steel.conftest import write_history


def _digest() -> str:
    files = sorted(p for p in MODELS.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


@pytest.mark.slow
def test_fit_on_history_compares_with_the_shipped_model(runner, cli, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    data = write_history(tmp_path / "history.csv", rows=30 * 6, seed=17)
    out = tmp_path / "trained"
    before = _digest()
    args = ["train", "steel", "--data", str(data), "--out", str(out), "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["heldout_dips"] > 0 and summary["train_windows"] > 50
    assert summary["new"]["hmt_mae_c"] > 0 and summary["shipped"]["hmt_mae_c"] > 0
    assert summary["new_is_better"] == (
        summary["new"]["hmt_mae_c"] < summary["shipped"]["hmt_mae_c"]
    )
    for name in ("bf_thermal", "bf_abnormal"):
        assert (out / name / "1" / "model.onnx").is_file()
        assert (out / name / "model.toml").is_file()
    assert _digest() == before  # the shipped models are untouched
    # the same seed gives the same model; without --out, in a folder with no models/ yet (a new
    # project), the default models/steel-trained is created
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.chdir(fresh)
    again = runner.invoke(cli, ["train", "steel", "--data", str(data), "--json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["new"] == summary["new"]
    assert (fresh / "models" / "steel-trained" / "bf_thermal" / "model.toml").is_file()
    for folder in (tmp_path, fresh / "models"):
        assert not [p for p in folder.iterdir() if p.name.startswith(".steel-train-")]


def test_refuses_to_write_over_the_shipped_models(runner, cli, history):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch not installed")
    result = runner.invoke(cli, ["train", "steel", "--data", str(history), "--out", str(MODELS)])
    assert result.exit_code == 2 and "shipped model folder" in result.stderr


def test_refuses_a_full_folder_and_a_short_file(runner, cli, tmp_path, history):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch not installed")
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    result = runner.invoke(cli, ["train", "steel", "--data", str(history), "--out", str(full)])
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert (full / "notes.txt").read_text() == "mine"
    short = runner.invoke(
        cli, ["train", "steel", "--data", str(history), "--out", str(tmp_path / "x")]
    )
    assert short.exit_code == 2 and "rows" in short.stderr
    assert not (tmp_path / "x").exists()


def test_without_torch_one_line_hint(runner, cli, history, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    result = runner.invoke(cli, ["train", "steel", "--data", str(history)])
    assert result.exit_code == 2
    assert "agentarts[train]" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
