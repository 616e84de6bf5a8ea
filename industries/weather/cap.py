"""Alerts in the Common Alerting Protocol, CAP 1.2 (OASIS Standard, 1 July 2010).

One ``<alert>`` per site finding, elements in the order the CAP 1.2 schema's sequences require
(alert: identifier, sender, sent, status, msgType, scope, restriction, info; info: category,
event, urgency, severity, certainty, onset, expires, senderName, headline, description,
instruction, parameter, area; area: areaDesc, circle). A drafted alert carries status ``Draft``
("not actionable in its current form"); the approved one is issued as ``Exercise`` (the
default: forecasts from a simulator) or ``Actual``. Times are ISO 8601 with an explicit offset.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

__all__ = ["CAP_NS", "draft_alert", "with_status"]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"

_LEVEL = {  # finding level -> (CAP severity, instruction)
    "stop": ("Severe", "Stop trains entering the affected section until the wind drops."),
    "restrict": ("Moderate", "Restrict line speed on the affected section and report."),
    "advisory": ("Minor", "Plan for the change (dispatch, reserves, maintenance crews)."),
}
_EVENT = {
    "RAIL_WIND_STOP": "Strong wind (rail stop)",
    "RAIL_WIND_RESTRICT": "Strong wind (rail speed restriction)",
    "RAIL_RAIN_RESTRICT": "Heavy rain (rail speed restriction)",
    "WIND_OUTPUT_DROP": "Wind power output drop",
    "WIND_CUT_OUT": "Wind turbine cut-out",
    "GRID_HEAT_LOAD": "Heat, high electricity load",
    "GRID_COLD_LOAD": "Cold spell, high electricity load",
}


def _time(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat()


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    el.text = text
    return el


def draft_alert(
    finding: dict[str, object],
    points: list[tuple[float, float]],
    issued: datetime,
    *,
    sender: str = "weather-desk@agentarts.invalid",
    sender_name: str = "AgentArts weather desk (simulated forecasts)",
    radius_km: float = 50.0,
) -> str:
    """CAP 1.2 XML (status Draft) for one finding; ``points`` are the site's (lat, lon)."""
    ET.register_namespace("", CAP_NS)
    days = sorted(int(d) for d in finding["days"])  # type: ignore[attr-defined]
    severity, instruction = _LEVEL[str(finding["level"])]
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", f"agentarts-weather-{uuid.uuid4()}")
    _sub(alert, "sender", sender)
    _sub(alert, "sent", _time(issued))
    _sub(alert, "status", "Draft")
    _sub(alert, "msgType", "Alert")
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", "For the duty staff of the operators of the named site")
    info = ET.SubElement(alert, f"{{{CAP_NS}}}info")
    _sub(info, "category", "Met")
    _sub(info, "event", _EVENT.get(str(finding["code"]), str(finding["code"])))
    _sub(info, "urgency", "Expected" if days[0] <= 1 else "Future")
    _sub(info, "severity", severity)
    _sub(info, "certainty", "Likely" if days[0] <= 2 else "Possible")
    _sub(info, "onset", _time(issued + timedelta(days=days[0] - 0.5)))
    _sub(info, "expires", _time(issued + timedelta(days=days[-1] + 0.5)))
    _sub(info, "senderName", sender_name)
    site = str(finding["site"])
    when = ", ".join(f"day {d}" for d in days)
    _sub(info, "headline", f"{_EVENT.get(str(finding['code']), finding['code'])}: {site}")
    _sub(
        info,
        "description",
        f"{str(finding['text'])[:1].upper()}{str(finding['text'])[1:]}. Forecast for {when} "
        f"after {issued:%Y-%m-%d %H:%M} UTC; worst value {finding['worst']} {finding['unit']}.",
    )
    _sub(info, "instruction", instruction)
    param = ET.SubElement(info, f"{{{CAP_NS}}}parameter")
    _sub(param, "valueName", "agentarts:rule")
    _sub(param, "value", str(finding["code"]))
    area = ET.SubElement(info, f"{{{CAP_NS}}}area")
    _sub(area, "areaDesc", site)
    for lat, lon in points:  # a line is a chain of circles (CAP radius in km)
        _sub(area, "circle", f"{lat:.4f},{lon:.4f} {radius_km:g}")
    ET.indent(alert)
    return ET.tostring(alert, encoding="unicode", xml_declaration=False)


def with_status(xml: str, status: str, issued: datetime) -> str:
    """The same alert with a new status (``Actual`` or ``Exercise``) and sent time."""
    if status not in ("Actual", "Exercise", "System", "Test", "Draft"):
        raise ValueError(f"not a CAP 1.2 status: {status!r}")
    ET.register_namespace("", CAP_NS)
    root = ET.fromstring(xml)
    root.find(f"{{{CAP_NS}}}status").text = status  # type: ignore[union-attr]
    root.find(f"{{{CAP_NS}}}sent").text = _time(issued)  # type: ignore[union-attr]
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
