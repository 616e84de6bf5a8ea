"""Sites on the forecast grid and the rules that turn a forecast into decisions.

Geo-reference: the model is a plane. Its centre (8,000 km, 8,000 km) is placed at 38 N,
100 E on a local tangent plane (1 deg latitude = 110.57 km, 1 deg longitude = 111.32 km x
cos 38 deg), which is good to a few per cent within ~2,000 km of the centre. Sites must lie
in the geo-referenced area: 4,000 km east and west and 3,000 km north and south of the centre
(about 11-65 N, 54-146 E); the rest of the periodic domain has no meaningful latitude. Site
values are bilinear interpolations on the periodic 32 x 32 grid.

Rules (defaults; every threshold is a field a project can override):

* rail line (a Chinese railway bureau's rules): gust > 15 m/s or hourly rain >= 45 mm: report
  and restrict speed; gust > 30 m/s: no train enters. Checked at points every ~100 km along
  each segment; the worst point counts.
* wind farm: hub-height wind against a generic 3 MW turbine power curve (cut-in 3 m/s, rated
  12 m/s, cut-out 25 m/s, cubic in between, the shape of the curves in windpowerlib's turbine
  library): alert when the farm's output is forecast to fall by at least 40 % of capacity from
  now, or when turbines cut out.
* grid: degree-days on base 18 C from the site's climatological daily mean temperature plus
  the T850 anomaly (surface anomalies follow T850 to first order); the load rises with the
  degree-days above normal, so alert when a day's cooling or heating degree-days exceed the
  climatological day's by more than 6 (a day over 6 K hotter or colder than normal, about one
  standard deviation of the T850 anomaly).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from agentarts.errors import InvalidInputError

__all__ = [
    "DEFAULT_SITES",
    "Point",
    "Site",
    "evaluate_rules",
    "sample",
    "to_latlon",
    "to_xy_km",
]

DOMAIN_KM = 16000.0
CENTRE_KM = (8000.0, 8000.0)
CENTRE_LATLON = (38.0, 100.0)
HALF_WIDTH_KM = (4000.0, 3000.0)  # geo-referenced area around the centre (x, y)
KM_PER_DEG_LAT = 110.57
KM_PER_DEG_LON = 111.32 * math.cos(math.radians(CENTRE_LATLON[0]))


class Point(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=360)


class Site(BaseModel):
    """A named site: a rail line (two or more points), a wind farm or a grid area (one)."""

    name: str
    kind: Literal["rail", "wind_farm", "grid"]
    points: list[Point] = Field(min_length=1)
    capacity_mw: float = 0.0  # wind farm
    climate_mean_c: float = 15.0  # grid: climatological daily mean temperature of the season
    gust_restrict_ms: float = 15.0
    gust_stop_ms: float = 30.0
    rain_restrict_mm_h: float = 45.0
    output_drop_fraction: float = 0.4
    degree_day_margin: float = Field(6.0, ge=0)


def to_xy_km(lat: float, lon: float) -> tuple[float, float]:
    """Model coordinates (km) of a latitude/longitude."""
    return (
        CENTRE_KM[0] + (lon - CENTRE_LATLON[1]) * KM_PER_DEG_LON,
        CENTRE_KM[1] + (lat - CENTRE_LATLON[0]) * KM_PER_DEG_LAT,
    )


def to_latlon(x_km: np.ndarray | float, y_km: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude of model coordinates (km)."""
    lat = CENTRE_LATLON[0] + (np.asarray(y_km) - CENTRE_KM[1]) / KM_PER_DEG_LAT
    lon = CENTRE_LATLON[1] + (np.asarray(x_km) - CENTRE_KM[0]) / KM_PER_DEG_LON
    return lat, lon


def _check_on_grid(site: Site) -> list[tuple[float, float]]:
    xy = []
    for p in site.points:
        x, y = to_xy_km(p.lat, p.lon)
        (x0, y0), (hx, hy) = CENTRE_KM, HALF_WIDTH_KM
        if not (abs(x - x0) <= hx and abs(y - y0) <= hy):
            south, west = to_latlon(x0 - hx, y0 - hy)
            north, east = to_latlon(x0 + hx, y0 + hy)
            raise InvalidInputError(
                f"site {site.name!r}: point {p.lat:g} N {p.lon:g} E is off the grid "
                f"(the forecast area spans {float(south):.1f} to {float(north):.1f} N and "
                f"{float(west):.1f} to {float(east):.1f} E)"
            )
        xy.append((x, y))
    return xy


def _along(xy: list[tuple[float, float]], step_km: float = 100.0) -> list[tuple[float, float]]:
    """Points every ``step_km`` along a polyline (its vertices included)."""
    out = [xy[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(xy):
        pieces = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step_km))
        out += [
            (x0 + (x1 - x0) * i / pieces, y0 + (y1 - y0) * i / pieces) for i in range(1, pieces + 1)
        ]
    return out


def sample(field: np.ndarray, xy: list[tuple[float, float]]) -> np.ndarray:
    """Bilinear values of periodic fields ``(..., n, n)`` at model points (km); cell centres
    sit at (i + 0.5) * dx."""
    n = field.shape[-1]
    dx = DOMAIN_KM / n
    out = []
    for x, y in xy:
        fx, fy = x / dx - 0.5, y / dx - 0.5
        i0, j0 = math.floor(fx), math.floor(fy)
        ax, ay = fx - i0, fy - j0
        i0, j0, i1, j1 = i0 % n, j0 % n, (i0 + 1) % n, (j0 + 1) % n
        v = (
            field[..., j0, i0] * (1 - ax) * (1 - ay)
            + field[..., j0, i1] * ax * (1 - ay)
            + field[..., j1, i0] * (1 - ax) * ay
            + field[..., j1, i1] * ax * ay
        )
        out.append(v)
    return np.stack(out, axis=-1)


def power_fraction(hub_ms: np.ndarray) -> np.ndarray:
    """Generic 3 MW turbine: output as a fraction of rated power."""
    v = np.asarray(hub_ms, np.float64)
    cut_in, rated, cut_out = 3.0, 12.0, 25.0
    p = np.clip((v**3 - cut_in**3) / (rated**3 - cut_in**3), 0.0, 1.0)
    return np.where((v < cut_in) | (v >= cut_out), 0.0, p)


def site_series(site: Site, fields: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Per forecast day (fields shaped (days + 1, n, n)): the values the site's rules read."""
    xy = _check_on_grid(site)
    if site.kind == "rail":
        pts = _along(xy)
        gust = sample(fields["gust"], pts).max(axis=-1)
        rain = sample(fields["rain"], pts).max(axis=-1)
        return {"gust_ms": gust.round(1).tolist(), "rain_mm_h": rain.round(2).tolist()}
    if site.kind == "wind_farm":
        hub = sample(fields["hub_wind"], xy[:1])[..., 0]
        power = power_fraction(hub) * site.capacity_mw
        return {"hub_wind_ms": hub.round(1).tolist(), "power_mw": power.round(1).tolist()}
    t = site.climate_mean_c + sample(fields["t850"], xy[:1])[..., 0]
    return {
        "temp_c": t.round(1).tolist(),
        "cdd": np.maximum(t - 18.0, 0).round(1).tolist(),
        "hdd": np.maximum(18.0 - t, 0).round(1).tolist(),
    }


def evaluate_rules(site: Site, series: dict[str, list[float]]) -> list[dict[str, object]]:
    """Triggered rules: one finding per rule with the days (lead, 1..) it applies to."""
    findings: list[dict[str, object]] = []

    def add(code: str, level: str, days: list[int], worst: float, unit: str, text: str) -> None:
        if days:
            findings.append(
                {
                    "site": site.name,
                    "kind": site.kind,
                    "code": code,
                    "level": level,
                    "days": days,
                    "worst": round(worst, 2),
                    "unit": unit,
                    "text": text,
                }
            )

    leads = range(1, len(next(iter(series.values()))))
    if site.kind == "rail":
        g, r = series["gust_ms"], series["rain_mm_h"]
        stop = [d for d in leads if g[d] > site.gust_stop_ms]
        restrict = [d for d in leads if d not in stop and g[d] > site.gust_restrict_ms]
        wet = [d for d in leads if r[d] >= site.rain_restrict_mm_h]
        add(
            "RAIL_WIND_STOP",
            "stop",
            stop,
            max(g[1:]),
            "m/s",
            f"gust above {site.gust_stop_ms:g} m/s: no train enters the line",
        )
        add(
            "RAIL_WIND_RESTRICT",
            "restrict",
            restrict,
            max(g[1:]),
            "m/s",
            f"gust above {site.gust_restrict_ms:g} m/s: report and restrict speed",
        )
        add(
            "RAIL_RAIN_RESTRICT",
            "restrict",
            wet,
            max(r[1:]),
            "mm/h",
            f"hourly rain at or above {site.rain_restrict_mm_h:g} mm: report and restrict speed",
        )
    elif site.kind == "wind_farm":
        p, hub = series["power_mw"], series["hub_wind_ms"]
        drop = [d for d in leads if p[0] - p[d] >= site.output_drop_fraction * site.capacity_mw]
        cut = [d for d in leads if hub[d] >= 25.0]
        add(
            "WIND_OUTPUT_DROP",
            "advisory",
            drop,
            min(p[1:]),
            "MW",
            f"output down {site.output_drop_fraction:.0%}+ of {site.capacity_mw:g} MW from now",
        )
        add(
            "WIND_CUT_OUT",
            "advisory",
            cut,
            max(hub[1:]),
            "m/s",
            "hub-height wind at or above the 25 m/s cut-out",
        )
    else:
        cdd, hdd = series["cdd"], series["hdd"]
        normal_cdd = max(site.climate_mean_c - 18.0, 0.0)
        normal_hdd = max(18.0 - site.climate_mean_c, 0.0)
        margin = site.degree_day_margin
        hot = [d for d in leads if cdd[d] > normal_cdd + margin]
        cold = [d for d in leads if hdd[d] > normal_hdd + margin]
        add(
            "GRID_HEAT_LOAD",
            "advisory",
            hot,
            max(cdd[1:]),
            "degree-days",
            f"cooling degree-days over {margin:g} above normal ({normal_cdd:g}): load rises",
        )
        add(
            "GRID_COLD_LOAD",
            "advisory",
            cold,
            max(hdd[1:]),
            "degree-days",
            f"heating degree-days over {margin:g} above normal ({normal_hdd:g}): load rises",
        )
    return findings


def _pt(lat: float, lon: float) -> Point:
    return Point(lat=lat, lon=lon)


#: The demo's sites (illustrative names; positions on the model's geo-reference; the demo
#: starts on 1 January, so the grids' climatological means are January's).
DEFAULT_SITES = [
    Site(
        name="Corridor rail line",
        kind="rail",
        points=[
            _pt(36.1, 103.8),
            _pt(38.9, 100.4),
            _pt(39.7, 98.5),
            _pt(40.5, 95.0),
            _pt(42.8, 93.5),
        ],
    ),
    Site(
        name="Northern rail line",
        kind="rail",
        points=[_pt(43.9, 125.3), _pt(41.8, 123.4), _pt(39.9, 116.4)],
    ),
    Site(name="Gobi wind farm", kind="wind_farm", points=[_pt(42.8, 100.5)], capacity_mw=600.0),
    Site(name="Coastal wind farm", kind="wind_farm", points=[_pt(35.5, 122.0)], capacity_mw=300.0),
    Site(name="Plains city grid", kind="grid", points=[_pt(34.3, 108.9)], climate_mean_c=0.5),
    Site(name="Northern city grid", kind="grid", points=[_pt(45.8, 126.6)], climate_mean_c=-18.0),
]


def check_sites(sites: list[Site]) -> None:
    """Raise naming the first site that is off the grid."""
    for site in sites:
        _check_on_grid(site)
        if site.kind == "rail" and len(site.points) < 2:
            raise InvalidInputError(f"site {site.name!r}: a rail line needs two or more points")
        if site.kind == "wind_farm" and site.capacity_mw <= 0:
            raise InvalidInputError(f"site {site.name!r}: a wind farm needs capacity_mw > 0")
