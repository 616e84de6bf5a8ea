"""The operator console in a real headless Chromium (Debian's chromium + chromedriver, selenium).

A person signs in, sees a pending approval appear live, approves it with a reason, sees the
run complete and the audit row carry their name. Screenshots go to the test's tmp dir (or to
AGENTARTS_SCREENSHOTS if set, for a person to look at).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.agents.sample_agent import READING
from tests.server.conftest import PASSWORD, bearer, free_port

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
        reason="needs Debian's chromium and chromium-driver",
    ),
]
selenium = pytest.importorskip("selenium")


def _serve(agent, db_url, industry=None):
    return _serve_many([agent], db_url, industry)


def _serve_many(agents, db_url, industry=None):
    import uvicorn

    from agentarts.server import ServerConfig, create_app
    from agentarts.server.users import UserStore

    store = UserStore(db_url)
    if store.get("dana") is None:
        store.add("dana", "approver", password=PASSWORD)
    store.close()
    app = create_app(agents, db_url, ServerConfig(), industry=industry)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started
    return f"http://127.0.0.1:{port}", srv, thread


@pytest.fixture
def server(agent, db_url, tokens, clock):
    base, srv, thread = _serve(agent, db_url)
    yield base
    srv.should_exit = True
    thread.join(10)


def _sign_in(browser, base, wait):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    browser.get(base + "/")
    wait.until(ec.visibility_of_element_located((By.ID, "login-form")))
    browser.find_element(By.ID, "username").send_keys("dana")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "whoami"), "dana"))


@pytest.fixture
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,720",
    ):
        options.add_argument(flag)
    # chromium keeps a profile, crash reports and caches under $HOME even with chromedriver's temp
    # profile: a private home keeps the test suite out of the user's
    home = tmp_path_factory.mktemp("chromium-home")
    options.add_argument(f"--user-data-dir={home / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(DRIVER, env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_window_size(1280, 720)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(1280 + 1280 - inner[0], 720 + 720 - inner[1])  # a 1280x720 page
    yield driver
    driver.quit()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("AGENTARTS_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_sign_in_approve_and_see_the_audit_row(server, browser, tokens, tmp_path):
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    shots = _shots(tmp_path)
    wait = WebDriverWait(browser, 20)
    browser.get(server + "/")
    load_ms, served_ms = browser.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "const all = [n, ...performance.getEntriesByType('resource')"
        "  .filter(e => e.name.includes('/static/'))];"
        "return [n.loadEventEnd - n.startTime,"
        " all.reduce((t, e) => t + e.responseEnd - e.requestStart, 0)];"
    )
    print(
        f"console first load: {load_ms:.0f} ms (the server's part, all files: {served_ms:.0f} ms)"
    )
    # the target is 1 s for the page of a cold server; the browser's own start-up on a CI
    # machine busy with other tests gets a looser bound
    assert 0 < served_ms < 1000, served_ms
    assert 0 < load_ms < 5000, load_ms
    wait.until(ec.visibility_of_element_located((By.ID, "login-form")))
    browser.find_element(By.ID, "username").send_keys("dana")
    browser.find_element(By.ID, "password").send_keys("not the password")
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "login-error"), "wrong"))
    browser.find_element(By.ID, "password").clear()
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "whoami"), "dana"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "view"), "Nothing waits"))
    browser.save_screenshot(str(shots / "1-signed-in.png"))

    # an operator's run reaches its gate: the card appears without reloading the page
    with httpx.Client(base_url=server, headers=bearer(tokens["operator"])) as http:
        started = http.post("/invocations", json={"reading": READING}).json()
    tid = started["thread_id"]
    card = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, f"article[data-thread='{tid}']"))
    )
    browser.save_screenshot(str(shots / "2-pending-approval.png"))
    text = card.text
    assert "set_valve" in text and "opening_pct" in text and "50" in text, text
    assert "Move a control valve." in text, text  # the explanation
    assert browser.find_element(By.ID, "pending-count").text == "1"

    card.find_element(By.CSS_SELECTOR, "textarea.reason").send_keys("forecast runs hot")
    card.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "toast"), "run completed"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "pending-count"), "0"))

    browser.find_element(By.CSS_SELECTOR, "button[data-view='runs']").click()
    row = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, f"tr[data-thread='{tid}']"))
    )
    assert "completed" in row.text
    row.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "view"), "Approvals"))
    detail = browser.find_element(By.ID, "view").text
    assert "approved" in detail and "dana" in detail and "forecast runs hot" in detail
    browser.save_screenshot(str(shots / "3-run-detail.png"))

    browser.find_element(By.CSS_SELECTOR, "button[data-view='audit']").click()
    audit_row = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "tr.a-approve")))
    cells = [td.text for td in audit_row.find_elements(By.TAG_NAME, "td")]
    assert cells[1:5] == ["dana", "approver", "approve", tid]
    assert cells[5] == "resuming" and cells[6] == "forecast runs hot"  # recorded, then applied
    applied = browser.find_element(By.CSS_SELECTOR, "tr.a-applied").find_elements(By.TAG_NAME, "td")
    assert [td.text for td in applied][1:6] == ["dana", "", "applied", tid, "completed"]
    browser.save_screenshot(str(shots / "4-audit-light.png"))
    browser.find_element(By.ID, "theme").click()
    assert browser.execute_script("return document.documentElement.dataset.theme") == "dark"
    browser.save_screenshot(str(shots / "5-audit-dark.png"))

    # the page fits 1280x720 without a horizontal scroll bar, and broke no CSP rule
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not [e for e in errors if "401" not in e["message"]], errors
    # the audit trail in the database says the same
    with httpx.Client(base_url=server, headers=bearer(tokens["viewer"])) as http:
        approvals = http.get(f"/runs/{tid}").json()["approvals"]
    assert [(a["decision"], a["by"]) for a in approvals] == [("approved", "dana")]
    assert shutil.disk_usage(shots)  # screenshots were written
    assert len(list(shots.glob("*.png"))) >= 5


def test_steel_proposal_shows_the_hmt_trend_forecast_and_band(
    browser, tmp_path, monkeypatch, fresh_plant
):
    """The steel pack's panels in the console: HMT and [Si] trends, 2 h forecast, aim band."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from agentarts.graph import Agent
    from agentarts.industries.steel.agent import builder
    from tests.server.test_panels import cooling_history

    monkeypatch.chdir(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'steel.db'}"
    agent = Agent(builder, name="steel-blast-furnace", database_url=db_url)
    agent.ref = "agentarts.industries.steel.agent:agent"
    result = agent.run({"source": str(cooling_history(tmp_path))}, thread_id="shift-a")
    assert result.status == "waiting_approval", result.error
    base, srv, thread = _serve(agent, db_url, industry="steel")
    try:
        wait = WebDriverWait(browser, 30)
        _sign_in(browser, base, wait)
        card = wait.until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, "article[data-thread='shift-a']"))
        )
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".p-hmt_c svg.chart .band"))
        browser.save_screenshot(str(_shots(tmp_path) / "6-steel-proposal.png"))
        text = card.text.lower()  # panel titles are drawn in capitals
        assert "apply_setpoint" in text and "pci_rate_kg_thm" in text, text
        assert result.pending["summary"][:40].lower() in text  # the explanation
        assert "hot-metal temperature" in text and "aim band" in text
        lines = card.find_elements(By.CSS_SELECTOR, ".p-hmt_c svg.chart path.line")
        assert len(lines) == 2  # measured and forecast
        browser.find_element(By.ID, "theme").click()
        browser.save_screenshot(str(_shots(tmp_path) / "7-steel-proposal-dark.png"))
        card.find_element(By.CSS_SELECTOR, "textarea.reason").send_keys("furnace cooling")
        card.find_element(By.CSS_SELECTOR, "button.approve").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "toast"), "run completed"))
        # the furnace's alerts (its HMT forecast is below the aim band) are listed too
        browser.find_element(By.CSS_SELECTOR, "button[data-view='alerts']").click()
        row = wait.until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, "table.alerts tbody tr"))
        )
        assert "shift-a" in row.text
        browser.save_screenshot(str(_shots(tmp_path) / "8-steel-alerts-dark.png"))
    finally:
        srv.should_exit = True
        thread.join(10)
        agent.close()


def test_rail_and_weather_proposals_show_their_pack_panels(browser, tmp_path, db_url, tokens):
    """Two packs' agents on one server: the rail card boxes the finding in its frame, the
    weather card shows the gust map with the sites and the CAP draft."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from agentarts.graph import Agent
    from agentarts.industries.rail.agent import builder as rail
    from agentarts.industries.weather.agent import builder as weather
    from tests.server.test_panels import RAIL_PASS

    rail_agent = Agent(rail, name="rail-inspection", database_url=db_url)
    rail_agent.ref = "agentarts.industries.rail.agent:agent"
    desk = Agent(weather, name="weather-desk", database_url=db_url)
    desk.ref = "agentarts.industries.weather.agent:agent"
    assert rail_agent.run(RAIL_PASS, thread_id="pass-1").status == "waiting_approval"
    sites = [
        {
            "name": "Corridor line",
            "kind": "rail",
            "points": [{"lat": 36, "lon": 96}, {"lat": 38, "lon": 100}, {"lat": 40, "lon": 106}],
            "gust_restrict_ms": 0.1,
            "gust_stop_ms": 1000,
        }
    ]
    state = {"initial": "seed:7", "days": 2, "sites": sites, "out": str(tmp_path / "fc.nc")}
    assert desk.run(state, thread_id="desk-1").status == "waiting_approval"
    base, srv, thread = _serve_many([rail_agent, desk], db_url)
    shots = _shots(tmp_path)
    try:
        wait = WebDriverWait(browser, 30)
        _sign_in(browser, base, wait)
        rail_card = wait.until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, "article[data-thread='pass-1']"))
        )
        wait.until(lambda d: rail_card.find_elements(By.CSS_SELECTOR, ".p-rail_frame svg rect.box"))
        browser.execute_script("arguments[0].scrollIntoView()", rail_card)
        browser.save_screenshot(str(shots / "9-rail-finding-light.png"))
        assert "finding 1 of" in rail_card.text.lower()
        desk_card = browser.find_element(By.CSS_SELECTOR, "article[data-thread='desk-1']")
        wait.until(
            lambda d: desk_card.find_elements(By.CSS_SELECTOR, ".p-weather_map svg rect.box")
        )
        assert "<status>Draft</status>" in desk_card.find_element(By.CSS_SELECTOR, "pre.code").text
        browser.find_element(By.ID, "theme").click()
        browser.execute_script("arguments[0].scrollIntoView()", desk_card)
        browser.save_screenshot(str(shots / "10-weather-draft-dark.png"))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    finally:
        srv.should_exit = True
        thread.join(10)
        rail_agent.close()
        desk.close()
