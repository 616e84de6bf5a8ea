"""NetCDF in and out: CF attributes, round trip, and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from agentarts.errors import InvalidInputError
from agentarts.industries.weather.ncio import read_state, read_training_netcdf


def test_forecast_file_is_cf_and_round_trips(analysis_nc, equilibrated):
    ds = xr.open_dataset(analysis_nc, engine="scipy")
    assert ds.attrs["Conventions"] == "CF-1.8"
    assert ds["gust"].attrs["standard_name"] == "wind_speed_of_gust"
    assert ds["lat"].attrs["units"] == "degrees_north"
    assert ds["rain"].attrs["units"] == "mm h-1"
    state, when = read_state(analysis_nc)
    assert np.allclose(state, equilibrated)
    assert when.year == 2026
    ds.close()


def _anomalies(tmp_path, n=32, times=3, drop=(), nan=False):
    rng = np.random.default_rng(0)
    data = {
        "z500": (("time", "y", "x"), rng.normal(0, 1000, (times, n, n))),
        "t850": (("time", "y", "x"), rng.normal(0, 5, (times, n, n))),
    }
    if nan:
        data["t850"][1][1, 3, 4] = np.nan
    for name in drop:
        data.pop(name)
    path = tmp_path / "user.nc"
    time = np.datetime64("2026-01-01") + np.arange(times).astype("timedelta64[D]")
    xr.Dataset(data, coords={"time": time}).to_netcdf(path, engine="scipy")
    return path


def test_z500_t850_files_are_accepted(tmp_path):
    state, _ = read_state(_anomalies(tmp_path))
    assert state.shape == (2, 32, 32)


def test_missing_variables_are_named(tmp_path):
    with pytest.raises(InvalidInputError, match="missing variables t850"):
        read_state(_anomalies(tmp_path, drop=("t850",)))


def test_wrong_grid_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match=r"64x64 grid.*32x32"):
        read_state(_anomalies(tmp_path, n=64))


def test_nans_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="t850 has 1 NaN"):
        read_state(_anomalies(tmp_path, nan=True))


def test_not_netcdf_and_missing_files(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_text("hello")
    with pytest.raises(InvalidInputError, match="not a readable NetCDF"):
        read_state(bad)
    with pytest.raises(InvalidInputError, match="no such NetCDF"):
        read_state(tmp_path / "nope.nc")


def test_training_file_needs_enough_regular_days(tmp_path):
    with pytest.raises(InvalidInputError, match="at least 8 days"):
        read_training_netcdf(_anomalies(tmp_path, times=8))
    trajectories, every = read_training_netcdf(_anomalies(tmp_path, times=9))
    assert every == 1.0 and trajectories[0].shape == (9, 2, 32, 32)
