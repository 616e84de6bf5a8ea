"""Physical stand-ins, site rules and CAP 1.2 alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from agentarts.errors import InvalidInputError
from agentarts.industries.weather.cap import CAP_NS, draft_alert, with_status
from agentarts.industries.weather.fields import (
    diagnose,
    psi_from_anomalies,
    saturation_q,
    t850_anomaly,
    z500_anomaly,
)
from agentarts.industries.weather.sites import (
    Point,
    Site,
    check_sites,
    evaluate_rules,
    power_fraction,
    sample,
    site_series,
    to_latlon,
    to_xy_km,
)


def test_stand_ins_invert_and_have_atmospheric_sizes(equilibrated):
    z, t = z500_anomaly(equilibrated), t850_anomaly(equilibrated)
    assert np.allclose(psi_from_anomalies(z, t), equilibrated, rtol=1e-4, atol=1.0)
    assert 300 < z.std() < 3000  # m2/s2 (ERA5 mid-latitude Z500 anomalies: ~1000)
    assert 1 < t.std() < 10  # K
    f = diagnose(equilibrated)
    assert (f["rain"] >= 0).all() and f["rain"].max() < 50
    assert 0.001 < f["w"].std() < 0.2  # m/s: synoptic vertical motion is cm/s
    assert np.allclose(f["gust"], 1.5 * f["wind10"])


def test_geostrophic_wind_of_a_known_streamfunction():
    n, length = 32, 16.0e6
    y = (np.arange(n) + 0.5) * length / n
    psi = np.zeros((2, n, n))
    psi[0] = (1e7 * np.sin(2 * np.pi * y / length))[:, None]
    f = diagnose(psi)
    u_expected = 13.0 - 1e7 * 2 * np.pi / length * np.cos(2 * np.pi * y / length)
    assert np.allclose(f["u500"][:, 0], u_expected, atol=1e-6)
    assert np.allclose(f["v500"], 0, atol=1e-9)


def test_saturation_humidity_matches_tables():
    # 20 C at 1000 hPa: 14.7 g/kg; 0 C at 850 hPa: 4.5 g/kg (Bolton 1980 / standard tables)
    assert saturation_q(np.array(293.15), 1000.0) == pytest.approx(0.0147, abs=3e-4)
    assert saturation_q(np.array(273.15), 850.0) == pytest.approx(0.0045, abs=2e-4)


def test_georeference_round_trips_and_off_grid_sites_are_named():
    x, y = to_xy_km(40.0, 97.0)
    lat, lon = to_latlon(x, y)
    assert (float(lat), float(lon)) == pytest.approx((40.0, 97.0))
    far = Site(name="Far away", kind="grid", points=[Point(lat=-10, lon=100)])
    with pytest.raises(InvalidInputError, match=r"Far away.*off the grid"):
        check_sites([far])
    with pytest.raises(InvalidInputError, match="two or more points"):
        check_sites([Site(name="Stub", kind="rail", points=[Point(lat=38, lon=100)])])


def test_bilinear_sampling_on_the_periodic_grid():
    field = np.arange(32.0)[None, :].repeat(32, 0)  # value = column index
    dx = 16000.0 / 32
    assert sample(field, [(1.5 * dx, 0.5 * dx)])[0] == pytest.approx(1.0)
    assert sample(field, [(2.0 * dx, 3.0 * dx)])[0] == pytest.approx(1.5)


def test_power_curve():
    p = power_fraction(np.array([2.0, 3.0, 7.5, 12.0, 20.0, 25.0]))
    assert p[0] == 0 and p[1] == 0 and 0 < p[2] < 1 and p[3] == 1 and p[4] == 1 and p[5] == 0


def test_rail_rules_restrict_and_stop():
    site = Site(name="Line", kind="rail", points=[Point(lat=38, lon=100), Point(lat=39, lon=101)])
    series = {"gust_ms": [5, 16, 31, 10], "rain_mm_h": [0, 0, 50, 1]}
    found = {f["code"]: f for f in evaluate_rules(site, series)}
    assert found["RAIL_WIND_STOP"]["days"] == [2]
    assert found["RAIL_WIND_RESTRICT"]["days"] == [1]
    assert found["RAIL_RAIN_RESTRICT"]["days"] == [2]
    assert evaluate_rules(site, {"gust_ms": [5, 14.9, 15, 1], "rain_mm_h": [0, 44.9, 0, 0]}) == []


def test_wind_farm_and_grid_rules(equilibrated):
    farm = Site(name="Farm", kind="wind_farm", points=[Point(lat=40, lon=97)], capacity_mw=600)
    found = evaluate_rules(farm, {"hub_wind_ms": [12, 5, 26], "power_mw": [600, 40, 0]})
    assert {f["code"] for f in found} == {"WIND_OUTPUT_DROP", "WIND_CUT_OUT"}
    city = Site(name="City", kind="grid", points=[Point(lat=34, lon=109)], climate_mean_c=24)
    fields = {k: np.stack([v, v]) for k, v in diagnose(equilibrated).items()}
    series = site_series(city, fields)
    assert series["cdd"][0] == pytest.approx(max(series["temp_c"][0] - 18, 0), abs=0.06)
    hot = evaluate_rules(city, {"temp_c": [24, 30.1], "cdd": [6, 12.1], "hdd": [0, 0]})
    assert [f["code"] for f in hot] == ["GRID_HEAT_LOAD"]  # over 6 degree-days above normal
    assert evaluate_rules(city, {"temp_c": [24, 30], "cdd": [6, 12], "hdd": [0, 0]}) == []
    cold_city = city.model_copy(update={"climate_mean_c": -18.0})
    cold = evaluate_rules(cold_city, {"temp_c": [-18, -25], "cdd": [0, 0], "hdd": [36, 43]})
    assert [f["code"] for f in cold] == ["GRID_COLD_LOAD"]


def test_cap_alert_is_valid_cap_1_2_in_schema_order():
    finding = {
        "site": "Line",
        "kind": "rail",
        "code": "RAIL_WIND_STOP",
        "level": "stop",
        "days": [1, 2],
        "worst": 31.2,
        "unit": "m/s",
        "text": "gust above 30 m/s",
    }
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    xml = draft_alert(finding, [(38.0, 100.0), (39.0, 101.0)], issued)
    root = ET.fromstring(xml)
    ns = {"c": CAP_NS}
    assert root.tag == f"{{{CAP_NS}}}alert"
    order = [child.tag.split("}")[1] for child in root]
    assert order == [
        "identifier",
        "sender",
        "sent",
        "status",
        "msgType",
        "scope",
        "restriction",
        "info",
    ]
    info = root.find("c:info", ns)
    info_order = [c.tag.split("}")[1] for c in info]
    assert info_order == [
        "category",
        "event",
        "urgency",
        "severity",
        "certainty",
        "onset",
        "expires",
        "senderName",
        "headline",
        "description",
        "instruction",
        "parameter",
        "area",
    ]
    assert root.findtext("c:status", namespaces=ns) == "Draft"
    assert info.findtext("c:severity", namespaces=ns) == "Severe"
    assert root.findtext("c:sent", namespaces=ns).endswith("+00:00")
    circles = [c.text for c in info.find("c:area", ns).findall("c:circle", ns)]
    assert circles == ["38.0000,100.0000 50", "39.0000,101.0000 50"]
    issued_xml = with_status(xml, "Exercise", issued)
    assert ET.fromstring(issued_xml.split("\n", 1)[1]).findtext("c:status", namespaces=ns) == (
        "Exercise"
    )
    with pytest.raises(ValueError):
        with_status(xml, "Published", issued)
