"""The demo and the train command: options, refusals, and one short demo run."""

from __future__ import annotations

import json
import sys

import pytest

from agentarts.errors import InvalidInputError, UsageError
from agentarts.industries.weather.demo import run_demo
from agentarts.industries.weather.train import MODELS, train_command


def test_demo_refusals(tmp_path):
    with pytest.raises(UsageError, match="--auto-approve"):
        run_demo(auto_approve=False)
    with pytest.raises(UsageError, match="--days"):
        run_demo(days=0, auto_approve=True)
    with pytest.raises(UsageError, match="--days"):
        run_demo(days=2.5, auto_approve=True)
    with pytest.raises(UsageError, match=r"\.png"):
        run_demo(days=2, auto_approve=True, plot=tmp_path / "map.jpg")


def test_demo_takes_only_its_declared_options():
    import inspect

    params = inspect.signature(run_demo).parameters
    assert set(params) == {"seed", "days", "auto_approve", "as_json", "plot"}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


def test_train_refuses_the_shipped_folder_and_needs_torch(monkeypatch):
    with pytest.raises(UsageError, match="shipped model folder"):
        train_command(out=MODELS)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UsageError, match=r"pip install 'agentarts\[train\]'"):
        train_command(out=MODELS.parent / "elsewhere")


def test_train_on_a_bad_netcdf_names_the_problem(tmp_path):
    pytest.importorskip("torch")
    import numpy as np
    import xarray as xr

    path = tmp_path / "mine.nc"
    xr.Dataset({"z500": (("time", "y", "x"), np.zeros((6, 32, 32)))}).to_netcdf(
        path, engine="scipy"
    )
    with pytest.raises(InvalidInputError, match="missing variables t850"):
        train_command(data=path, out=tmp_path / "models")
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
def test_demo_json_has_the_issue_keys_and_a_map(tmp_path, capsys):
    png = tmp_path / "map.png"
    out = run_demo(seed=11, days=2, auto_approve=True, as_json=True, plot=png)
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(out))
    for key in (
        "leads_days",
        "rmse_emulator",
        "rmse_persistence",
        "rmse_climatology",
        "rmse_numerical",
        "acc_emulator",
    ):
        assert len(out[key]) == len(out["leads_days"]) == 2
    assert out["speedup_vs_truth"] > 1 and out["speedup_vs_numerical"] > 0
    assert set(out["alerts"]) >= {"drafted", "approved", "issued"}
    assert out["alerts"]["issued"] == out["alerts"]["approved"] <= out["alerts"]["drafted"]
    assert png.stat().st_size > 20_000


@pytest.mark.slow
def test_retraining_on_a_users_netcdf_writes_a_model_the_runtime_serves(tmp_path, monkeypatch):
    """12 days of 6-hourly output of 'their' model (here: the QG model at 32 x 32), one short
    training round, ONNX + card under --out; the runtime then serves it first."""
    pytest.importorskip("torch")
    import numpy as np
    import xarray as xr

    from agentarts.industries.weather import train as train_module
    from agentarts.industries.weather.qg import QGModel, QGParams
    from agentarts.runtime.local import LocalRuntime

    model = QGModel(QGParams().at(32))
    qh = model.run(model.random_state(5), 100)
    frames = model.trajectory(qh, 12, every_days=0.25).astype(np.float32)
    time = np.datetime64("2026-01-01") + (np.arange(len(frames)) * 6).astype("timedelta64[h]")
    path = tmp_path / "theirs.nc"
    xr.Dataset({"psi": (("time", "layer", "y", "x"), frames)}, coords={"time": time}).to_netcdf(
        path, engine="scipy"
    )
    monkeypatch.setattr(train_module, "USER_MINUTES", 0.01)
    out = train_command(data=path, out=tmp_path / "models", as_json=True)
    assert len(out["valid_normalised_rmse_per_day"]) == 3
    onnx = tmp_path / "models" / "qg_emulator" / "1" / "model.onnx"
    assert onnx.exists() and (onnx.parent.parent / "model.toml").exists()
    with LocalRuntime([tmp_path / "models"], include_packs=True) as runtime:
        y = runtime.infer("qg_emulator", {"x": frames[:1]})["y"]
    assert y.shape == (1, 2, 32, 32) and np.isfinite(y).all()
