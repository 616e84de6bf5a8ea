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
