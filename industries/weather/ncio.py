"""NetCDF in and out (CF-1.8 conventions, xarray; NetCDF3 via scipy, no system libraries).

A forecast file holds, on dims (time, y, x) of the 32 x 32 forecast grid: ``z500`` and
``t850`` (anomalies, m2 s-2 and K), ``u850``/``v850``, ``wind10``, ``gust``, ``hub_wind``
(m s-1), ``w`` (m s-1), ``rain`` (mm h-1), the model state ``psi`` (time, layer, y, x; m2 s-1)
so a file can start another forecast, and 2-D ``lat``/``lon`` auxiliary coordinates.

To retrain on your own model's output (``agentarts train weather --data FILE.nc``) give either
``psi`` (time, layer=2, y=32, x=32) or both ``z500`` and ``t850`` anomalies (time, y=32, x=32),
at a regular time step of 24, 12, 6 or 3 h (or one that divides 3 h), 8 days or more, on a
doubly periodic 500 km grid.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import InvalidInputError

_STEPS_OK = {1, 2, 4, 8} | {8 * k for k in range(2, 97)}  # frames a day the training takes

__all__ = ["read_state", "read_training_netcdf", "write_forecast"]

GRID = 32
_META = {
    "z500": ("geopotential anomaly at 500 hPa (upper-layer stand-in)", "m2 s-2", "geopotential"),
    "t850": ("air temperature anomaly at 850 hPa (layer-thickness stand-in)", "K", None),
    "u850": ("eastward wind at 850 hPa", "m s-1", "eastward_wind"),
    "v850": ("northward wind at 850 hPa", "m s-1", "northward_wind"),
    "wind10": ("10 m wind speed (0.6 x 850 hPa)", "m s-1", "wind_speed"),
    "gust": ("10 m wind gust (1.5 x 10 m wind)", "m s-1", "wind_speed_of_gust"),
    "hub_wind": ("wind speed at 100 m hub height", "m s-1", "wind_speed"),
    "w": ("vertical velocity at the layer interface", "m s-1", "upward_air_velocity"),
    "rain": ("rain rate, grid-box mean", "mm h-1", "lwe_precipitation_rate"),
}


def _xr() -> Any:
    try:
        import xarray as xr
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise InvalidInputError("NetCDF needs xarray: pip install xarray scipy") from exc
    return xr


def write_forecast(
    path: Path,
    psi: np.ndarray,
    fields: list[dict[str, np.ndarray]],
    init: datetime,
    model: str,
) -> Path:
    """Write frames at days 0..N (``psi`` (N+1, 2, 32, 32), ``fields`` per frame) atomically."""
    from agentarts.industries.weather.sites import DOMAIN_KM, to_latlon

    xr = _xr()
    n = psi.shape[-1]
    centres_km = (np.arange(n) + 0.5) * DOMAIN_KM / n
    xx, yy = np.meshgrid(centres_km, centres_km)
    lat, lon = to_latlon(xx, yy)
    times = np.array([np.datetime64(init.replace(tzinfo=None), "s")]) + np.arange(len(psi)).astype(
        "timedelta64[D]"
    )
    data: dict[str, Any] = {
        "psi": (
            ("time", "layer", "y", "x"),
            psi.astype(np.float32),
            {"long_name": "layer streamfunction (layer 0: 500 hPa, 1: 850 hPa)", "units": "m2 s-1"},
        )
    }
    for key, (long_name, units, standard) in _META.items():
        attrs = {"long_name": long_name, "units": units, "coordinates": "lat lon"}
        if standard:
            attrs["standard_name"] = standard
        stack = np.stack([f[key] for f in fields]).astype(np.float32)
        data[key] = (("time", "y", "x"), stack, attrs)
    ds = xr.Dataset(
        data,
        coords={
            "time": ("time", times, {"standard_name": "time"}),
            "x": (
                "x",
                centres_km * 1000,
                {"standard_name": "projection_x_coordinate", "units": "m"},
            ),
            "y": (
                "y",
                centres_km * 1000,
                {"standard_name": "projection_y_coordinate", "units": "m"},
            ),
            "lat": (
                ("y", "x"),
                lat.astype(np.float32),
                {"standard_name": "latitude", "units": "degrees_north"},
            ),
            "lon": (
                ("y", "x"),
                lon.astype(np.float32),
                {"standard_name": "longitude", "units": "degrees_east"},
            ),
            "layer": (
                "layer",
                np.array([500, 850], np.int32),
                {"long_name": "pressure level", "units": "hPa"},
            ),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": f"AgentArts weather pack forecast ({model})",
            "institution": "AgentArts weather pack (simulated: two-layer QG model)",
            "source": model,
            "history": f"{datetime.now().isoformat(timespec='seconds')} written by "
            "agentarts.industries.weather",
            "comment": "doubly periodic beta-plane sector; lat/lon from a tangent plane at "
            "38N 100E; anomalies exclude the imposed background gradient",
        },
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".nc.part")
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="scipy", encoding={"time": {"units": "days since 2000-01-01"}})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _open(path: Path) -> Any:
    xr = _xr()
    if not Path(path).is_file():
        raise InvalidInputError(f"{path}: no such NetCDF file")
    errors = []
    for engine in ("scipy", None):
        try:
            return xr.open_dataset(path, engine=engine).load()
        except Exception as exc:  # an unreadable file: say why, once
            errors.append(f"{type(exc).__name__}: {exc}")
    raise InvalidInputError(
        f"{path}: not a readable NetCDF file ({errors[-1]}); NetCDF4/HDF5 files need "
        "`pip install h5netcdf` or `netCDF4`"
    )


def _states(ds: Any, path: Path) -> np.ndarray:
    """psi (T, 2, 32, 32) from ``psi`` or from ``z500`` + ``t850``, validated."""
    from agentarts.industries.weather.fields import psi_from_anomalies

    if "psi" in ds:
        var = ds["psi"]
        dims = ("time", "layer", "y", "x")
        if var.ndim == 3:
            var = var.expand_dims("time")
        if tuple(var.dims) != dims:
            raise InvalidInputError(f"{path}: variable psi has dims {var.dims}, expected {dims}")
        a = np.asarray(var.values, np.float64)
        checked = {"psi": a}
    else:
        missing = [v for v in ("z500", "t850") if v not in ds]
        if missing:
            raise InvalidInputError(
                f"{path}: missing variables {', '.join(missing)} (need psi, or z500 and t850; "
                f"found {', '.join(map(str, ds.data_vars)) or 'none'})"
            )
        checked = {}
        for v in ("z500", "t850"):
            var = ds[v] if "time" in ds[v].dims else ds[v].expand_dims("time")
            if tuple(var.dims) != ("time", "y", "x"):
                raise InvalidInputError(f"{path}: {v} has dims {var.dims}, expected (time, y, x)")
            checked[v] = np.asarray(var.values, np.float64)
        a = psi_from_anomalies(checked["z500"], checked["t850"])
    for name, values in checked.items():
        if values.shape[-2:] != (GRID, GRID):
            raise InvalidInputError(
                f"{path}: {name} is on a {values.shape[-2]}x{values.shape[-1]} grid; the "
                f"emulator's grid is {GRID}x{GRID} (500 km); regrid first"
            )
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise InvalidInputError(f"{path}: {name} has {bad} NaN or missing values")
    return a


def read_state(path: Path, index: int = 0) -> tuple[np.ndarray, datetime | None]:
    """One state (2, 32, 32) and its time from a NetCDF file (default: the first time)."""
    ds = _open(path)
    states = _states(ds, path)
    if not -len(states) <= index < len(states):
        raise InvalidInputError(f"{path}: has {len(states)} times, no index {index}")
    when = None
    if "time" in ds.coords and ds["time"].size == len(states):
        when = datetime.fromisoformat(str(np.datetime_as_string(ds["time"].values[index], "s")))
    return states[index], when


def read_training_netcdf(path: Path) -> tuple[list[np.ndarray], float]:
    """Trajectories for ``train``: the file's states and its time step in days."""
    ds = _open(path)
    states = _states(ds, path)
    if "time" not in ds.coords or len(states) < 3:
        raise InvalidInputError(f"{path}: needs a time coordinate and at least 3 times")
    steps = np.diff(ds["time"].values).astype("timedelta64[s]").astype(np.int64)
    if len(set(steps.tolist())) != 1 or steps[0] <= 0:
        raise InvalidInputError(f"{path}: times must be regularly spaced and increasing")
    every = steps[0] / 86400.0
    per_day = 1 / every
    if every > 1 or abs(per_day - round(per_day)) > 1e-6 or round(per_day) not in _STEPS_OK:
        raise InvalidInputError(
            f"{path}: the time step ({every * 24:g} h) must be 24, 12, 6 or 3 h or divide 3 h "
            "(the emulator steps 3 h)"
        )
    if (len(states) - 1) * every < 8:
        raise InvalidInputError(f"{path}: needs at least 8 days of data to learn from")
    return [states.astype(np.float32)], float(every)
