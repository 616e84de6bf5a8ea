"""Console panels: what the operator console shows next to a run, and how a pack adds its own.

A panel is data plus the name of a renderer the console knows. An industry pack contributes
panels by naming a provider in its ``IndustryPack(panels="module:attr")``; the provider is a
callable taking a :class:`PanelContext` and returning a list of :class:`Panel` (or plain dicts
with the same keys). It runs on the server, so it may read the run's state and the store, but
it must be quick (it runs for every look at a run) and must not change anything.

Renderers the console draws (``data`` shape for each):

- ``kv``: ``{"items": [[label, value], ...]}``
- ``text``: ``{"text": str}``
- ``code``: ``{"text": str}`` shown verbatim in a fixed-width font (XML, logs)
- ``table``: ``{"columns": [str, ...], "rows": [[...], ...]}``
- ``series``: ``{"unit": str, "series": [{"name": str, "points": [[x, y], ...]}, ...],
  "band": [lo, hi] (optional), "x_label": str (optional, after the last x),
  "x_unit": str (optional, after the first x)}``
- ``image``: ``{"src": "data:image/png;base64,...", "width": int, "height": int,
  "boxes": [{"x", "y", "w", "h", "label"}, ...] (optional, in image pixels)}``
- ``json``: any JSON value

The bundled packs' providers: ``steel_panels`` below, ``rail_panels`` and ``weather_panels``
in :mod:`agentarts.server.panels_packs`.

Example, for a third-party pack::

    from agentarts.server.panels import Panel

    def panels(ctx):
        kiln = ctx.state.get("kiln") or {}
        return [Panel("kiln", "Kiln temperatures", "kv", {"items": list(kiln.items())})]

    PACK = IndustryPack(name="cement", ..., panels="acme_cement.console:panels")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RENDERERS", "Panel", "PanelContext", "default_panels", "steel_panels"]

RENDERERS = ("kv", "text", "code", "table", "series", "image", "json")


@dataclass(frozen=True)
class Panel:
    """One box in the console: ``renderer`` names how ``data`` is drawn."""

    name: str
    title: str
    renderer: str
    data: Any
    note: str = ""  # a line under the panel: source, limits

    def as_dict(self) -> dict[str, Any]:
        if self.renderer not in RENDERERS:
            raise ValueError(f"panel {self.name!r}: unknown renderer {self.renderer!r}")
        return asdict(self)


@dataclass(frozen=True)
class PanelContext:
    """What a provider sees of a run."""

    thread_id: str
    agent: str
    status: str
    state: Mapping[str, Any]
    pending: Mapping[str, Any] | None
    record: Mapping[str, Any] = field(default_factory=dict)  # the run store's thread record


PanelProvider = Callable[[PanelContext], list[Panel | dict[str, Any]]]


def _scalar_items(value: Mapping[str, Any]) -> list[list[Any]]:
    return [[k, v] for k, v in value.items() if isinstance(v, str | int | float | bool)]


def default_panels(ctx: PanelContext) -> list[Panel]:
    """The proposal, its explanation and the guard's verdict: every agent with a gate has them."""
    out: list[Panel] = []
    pending = ctx.pending or {}
    if pending:
        out.append(
            Panel(
                "proposal",
                f"Proposed action: {pending.get('action', '?')} ({pending.get('safety', '')})",
                "kv",
                {"items": _scalar_items(pending.get("proposal") or {})},
            )
        )
        summary = pending.get("summary")
        if summary:
            out.append(Panel("explanation", "Why the agent proposes it", "text", {"text": summary}))
    guard = ctx.state.get("guard")
    if isinstance(guard, Mapping):
        violations = guard.get("violations") or []
        text = "inside the operating envelope" if guard.get("ok") else "; ".join(violations)
        out.append(Panel("guard", "Operating envelope", "text", {"text": text}))
    return out


def steel_panels(ctx: PanelContext) -> list[Panel]:
    """Blast furnace: hot-metal temperature and [Si] over the window, the 2 h forecast, the band.

    The window holds the last 6 h at 10-minute samples (what the steel pack's ``read_plant_data``
    returns); the forecast is 2 h ahead of its last sample; the HMT band is the pack's aim.
    """
    window = ctx.state.get("window") or {}
    forecast = ctx.state.get("forecast") or {}
    out: list[Panel] = []
    try:
        from agentarts.industries.steel.control import HMT_BAND

        band: list[float] | None = [float(HMT_BAND[0]), float(HMT_BAND[1])]
    except ImportError:  # the pack is not installed: draw without the band
        band = None
    for key, fkey, title, unit, bkey in (
        # the unit is in the title: the chart's axes carry numbers only
        ("hmt_c", "hmt_2h_c", "Hot-metal temperature (°C)", "°C", band),
        ("si_pct", "si_2h_pct", "Hot-metal silicon [Si] (wt%)", "wt%", None),
    ):
        values = window.get(key)
        if not isinstance(values, list) or not values:
            continue
        n = len(values)
        past = [[round((i - n + 1) * 10 / 60, 3), v] for i, v in enumerate(values)]
        series = [{"name": "measured", "points": past}]
        if fkey in forecast:
            series.append({"name": "forecast 2 h", "points": [past[-1], [2.0, forecast[fkey]]]})
        data = {"unit": unit, "series": series, "x_label": "hours from now", "x_unit": "h"}
        if bkey:
            data["band"] = bkey
        out.append(Panel(key, title, "series", data, "10-minute samples; forecast 2 h ahead"))
    diagnosis = ctx.state.get("diagnosis") or {}
    if diagnosis:
        probs = diagnosis.get("probabilities") or {}
        out.append(
            Panel(
                "diagnosis",
                f"Furnace state: {diagnosis.get('state', '?')}",
                "table",
                {"columns": ["state", "probability"], "rows": [[k, v] for k, v in probs.items()]},
            )
        )
    return out


def _packs(name: str) -> PanelProvider:
    """A provider from ``panels_packs``, imported when first used (it imports numpy)."""

    def provider(ctx: PanelContext) -> list[Panel | dict[str, Any]]:
        from agentarts.server import panels_packs

        return getattr(panels_packs, name)(ctx)

    provider.__name__ = name
    return provider


#: Panels for bundled packs that do not (yet) name their own provider.
BUILTIN: dict[str, PanelProvider] = {
    "steel": steel_panels,  # type: ignore[dict-item]
    "rail": _packs("rail_panels"),
    "weather": _packs("weather_panels"),
}
