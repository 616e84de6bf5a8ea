"""Console panels of the bundled rail and weather packs, through the same plugin interface a
third-party pack uses (``IndustryPack(panels="agentarts.server.panels_packs:rail_panels")``).

- **Rail**: the suspected fault waiting for a person (car, component, fault type, scores), the
  station frame with the finding's 64 x 64 window boxed, the crop itself enlarged, and the
  other findings of the train in the order the agent ranked them.
- **Weather**: the findings per site, a map of the strongest gust over the forecast with the
  sites marked, and the CAP 1.2 drafts exactly as they would be issued.

Both read only what the agents keep in their state and pending proposal (and, for rail, the
frame images: the pass folder's files, the train the server process triaged, or the generator
re-drawing the same seeded train once per process). Providers must be quick and change
nothing: images are cached per train / forecast file.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.server.panels import Panel, PanelContext

__all__ = ["png_data_uri", "rail_panels", "weather_panels"]


def png_data_uri(pixels: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI of a uint8 grey (H, W) or RGB (H, W, 3) array."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# -- rail ------------------------------------------------------------------------------------
def rail_panels(ctx: PanelContext) -> list[Panel]:
    """The finding a person must confirm, its frame with the window boxed, and the queue."""
    queue = ctx.state.get("queue") or []
    position = ctx.state.get("position", 0)
    out: list[Panel] = []
    if ctx.pending and isinstance(queue, list) and 0 <= position < len(queue):
        f = queue[position]
        out.append(
            Panel(
                "rail_finding",
                f"Finding {position + 1} of {len(queue)}: {f.get('fault_type', '?')}",
                "kv",
                {
                    "items": [
                        [k, f.get(k)]
                        for k in (  # what the proposal beside it does not already say
                            "fault_score",
                            "anomaly_score",
                            "score_over_threshold",
                            "confidence",  # the same ratio, in runs stored before its rename
                            "station",
                            "frame",
                            "window",
                            "file",
                        )
                        if f.get(k) is not None
                    ]
                },
            )
        )
        out += _rail_images(ctx.state.get("request") or {}, f)
    if isinstance(queue, list) and len(queue) > 1:
        rows = [
            [
                "▶" if i == position and ctx.pending else "",
                q.get("car_index"),
                q.get("fault_type"),
                q.get("criticality"),
            ]
            for i, q in enumerate(queue)
        ]
        columns = ["", "car", "fault", "criticality"]
        out.append(
            Panel(
                "rail_queue",
                "Findings of this train, as ranked",
                "table",
                {"columns": columns, "rows": rows},
            )
        )
    decisions = ctx.state.get("decisions") or []
    if decisions:
        rows = [
            [d["finding"].get("car_index"), d["finding"].get("fault_type"), d["decision"], d["by"]]
            for d in decisions
            if isinstance(d, dict) and isinstance(d.get("finding"), dict)
        ]
        out.append(
            Panel(
                "rail_decisions",
                "Decided so far",
                "table",
                {"columns": ["car", "fault", "decision", "by"], "rows": rows},
            )
        )
    return out


def _rail_images(request: dict[str, Any], f: dict[str, Any]) -> list[Panel]:
    from agentarts.industries.rail.generator import CROP, FRAME_H, FRAME_W, WINDOWS

    try:
        image = _rail_frame(request, f)
    except Exception as exc:  # a moved folder, an unreadable file: say so, do not fail
        image, why = None, f"{type(exc).__name__}: {exc}"
    else:
        why = "this server process does not hold the frame"
    window = int(f.get("window", -1))
    if image is None or not 0 <= window < len(WINDOWS) or image.shape != (FRAME_H, FRAME_W):
        return [Panel("rail_frame", "Station frame", "text", {"text": f"Frame not shown: {why}."})]
    x, y = WINDOWS[window]
    crop = image[y : y + CROP, x : x + CROP]
    where = f"{f.get('station')} frame {f.get('frame')}, window {window}"
    return [
        Panel(
            "rail_frame",
            f"Station frame ({where}): the finding boxed",
            "image",
            {
                "src": png_data_uri(image),
                "width": FRAME_W,
                "height": FRAME_H,
                "boxes": [
                    {"x": x, "y": y, "w": CROP, "h": CROP, "label": str(f.get("fault_type", ""))}
                ],
            },
            "the 64 x 64 window the models classified; nominal window positions",
        ),
        Panel(
            "rail_crop",
            "The crop the models saw (x3)",
            "image",
            {
                "src": png_data_uri(np.kron(crop, np.ones((3, 3), np.uint8))),
                "width": 192,
                "height": 192,
            },
        ),
    ]


def _rail_frame(request: dict[str, Any], f: dict[str, Any]) -> np.ndarray | None:
    """The station frame of finding ``f``: from the pass folder, from the train this process
    triaged, or re-drawn by the generator from the request's seed (cached)."""
    from agentarts.industries.rail import tools

    if request.get("source") == "folder" and request.get("folder") and f.get("file"):
        folder = Path(str(request["folder"])).resolve()
        path = (folder / str(f["file"])).resolve()
        if folder not in path.parents:
            raise ValueError(f"{f['file']!r} is outside the pass folder")
        return _grey(str(path), path.stat().st_mtime_ns)
    train = tools._LAST.get("train")
    if train is None or train.train_id != f.get("train_id"):
        if request.get("source", "generator") != "generator":
            return None
        train = _generated(
            int(request.get("seed", 7)),
            request.get("cars"),
            float(request.get("fault_rate", 0.004)),
        )
        if train.train_id != f.get("train_id"):
            return None
    for car in train.cars:
        if car.index != f.get("car_index"):
            continue
        for frame in car.frames:
            if frame.station == f.get("station") and frame.number == f.get("frame"):
                return frame.image
    return None


@functools.lru_cache(maxsize=8)
def _grey(path: str, _mtime: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


@functools.lru_cache(maxsize=1)
def _generated(seed: int, cars: int | None, fault_rate: float) -> Any:
    """The generator's train for a request (deterministic in its seed): seconds, once."""
    from agentarts.industries.rail.generator import make_train

    return make_train(seed, cars, fault_rate)


# -- weather ---------------------------------------------------------------------------------
def weather_panels(ctx: PanelContext) -> list[Panel]:
    """Findings per site, the strongest-gust map with the sites, and the CAP drafts."""
    out: list[Panel] = []
    findings = (ctx.state.get("findings") or {}).get("findings") or []
    if findings:
        rows = [
            [
                f.get("site"),
                f.get("level"),
                f.get("code"),
                ", ".join(str(d) for d in f.get("days") or []),
                f"{f.get('worst')} {f.get('unit', '')}".strip(),
            ]
            for f in findings
        ]
        columns = ["site", "level", "code", "days", "worst"]
        out.append(
            Panel(
                "weather_findings",
                "What the rules found",
                "table",
                {"columns": columns, "rows": rows},
            )
        )
    path = (ctx.state.get("forecast") or {}).get("path")
    if path:
        try:
            out.append(_gust_map(str(path), Path(path).stat().st_mtime_ns, _sites_of(ctx)))
        except Exception as exc:  # the forecast file was removed or is unreadable
            out.append(Panel("weather_map", "Gust map", "text", {"text": f"Map not shown: {exc}"}))
    proposal = (ctx.pending or {}).get("proposal") or ctx.state.get("drafts") or {}
    alerts = proposal.get("alerts") or []
    for i, alert in enumerate(alerts[:4]):
        out.append(
            Panel(
                f"cap_{i}",
                f"CAP draft {i + 1} of {len(alerts)}: {alert.get('site')} ({alert.get('code')})",
                "code",
                {"text": str(alert.get("xml", ""))},
                "CAP 1.2; issued with status Exercise unless the run asks for Actual",
            )
        )
    if len(alerts) > 4:
        out.append(
            Panel(
                "cap_more",
                "More drafts",
                "text",
                {"text": f"{len(alerts) - 4} more in the export."},
            )
        )
    return out


def _sites_of(ctx: PanelContext) -> tuple[tuple[str, str, tuple[tuple[float, float], ...]], ...]:
    """(name, kind, ((lat, lon), ...)) of the run's sites (the input's, else the pack's)."""
    from agentarts.industries.weather.sites import DEFAULT_SITES

    raw = ctx.state.get("sites") or [s.model_dump() for s in DEFAULT_SITES]
    out = []
    for site in raw:
        points = tuple((float(p["lat"]), float(p["lon"])) for p in site.get("points") or [])
        out.append((str(site.get("name", "?")), str(site.get("kind", "")), points))
    return tuple(out)


#: the geo-referenced window of the forecast plane drawn on the map (km), 25 km a pixel
_MAP_X, _MAP_Y, _KM_PER_PX = (4000.0, 12000.0), (5000.0, 11000.0), 25.0
#: colour ramp for 0..1 (dark blue, teal, green, yellow: readable on light and dark themes)
_RAMP = np.array([[30, 40, 110], [30, 120, 150], [80, 180, 100], [250, 220, 60]], np.float64)


@functools.lru_cache(maxsize=4)
def _gust_map(path: str, _mtime: int, sites: tuple[Any, ...]) -> Panel:
    from agentarts.industries.weather.ncio import _open
    from agentarts.industries.weather.sites import DOMAIN_KM, to_xy_km

    ds = _open(Path(path))
    gust = np.asarray(ds["gust"].values, np.float64)  # (time, y, x), m/s
    strongest = gust[1:].max(axis=0) if len(gust) > 1 else gust[0]
    n = strongest.shape[-1]
    width = int((_MAP_X[1] - _MAP_X[0]) / _KM_PER_PX)
    height = int((_MAP_Y[1] - _MAP_Y[0]) / _KM_PER_PX)
    xs = _MAP_X[0] + (np.arange(width) + 0.5) * _KM_PER_PX
    ys = _MAP_Y[1] - (np.arange(height) + 0.5) * _KM_PER_PX  # north up
    fx, fy = np.meshgrid(xs / (DOMAIN_KM / n) - 0.5, ys / (DOMAIN_KM / n) - 0.5)
    i0, j0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    ax, ay = fx - i0, fy - j0
    i0, j0, i1, j1 = i0 % n, j0 % n, (i0 + 1) % n, (j0 + 1) % n
    value = (
        strongest[j0, i0] * (1 - ax) * (1 - ay)
        + strongest[j0, i1] * ax * (1 - ay)
        + strongest[j1, i0] * (1 - ax) * ay
        + strongest[j1, i1] * ax * ay
    )
    top = 5.0 * max(1, math.ceil(float(value.max()) / 5.0))  # the field's own range
    t = np.clip(value / top, 0, 1) * (len(_RAMP) - 1)
    lo = np.minimum(np.floor(t).astype(int), len(_RAMP) - 2)
    frac = (t - lo)[..., None]
    rgb = (_RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac).astype(np.uint8)
    boxes = []
    for name, kind, points in sites:
        for k, (lat, lon) in enumerate(points):
            x, y = to_xy_km(lat, lon)
            px, py = (x - _MAP_X[0]) / _KM_PER_PX, (_MAP_Y[1] - y) / _KM_PER_PX
            size = 6 if kind == "rail" else 10
            label = name if k == 0 else ""
            boxes.append(
                {"x": px - size / 2, "y": py - size / 2, "w": size, "h": size, "label": label}
            )
    return Panel(
        "weather_map",
        f"Strongest gust over the forecast (0 to {top:.0f} m/s, dark to yellow) and the sites",
        "image",
        {"src": png_data_uri(rgb), "width": width, "height": height, "boxes": boxes},
        "forecast plane around 38 N 100 E, 25 km a pixel, north up; boxes: site points",
    )
