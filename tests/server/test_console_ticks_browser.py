"""Console charts in a browser: the steel trends' y ticks are round (were min/mid/max)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.server.conftest import PASSWORD, free_port
from tests.server.test_console_browser import _shots, _sign_in, browser  # noqa: F401
from tests.server.test_console_ticks import round_step

pytestmark = pytest.mark.slow


def test_steel_charts_show_round_ticks(browser, tmp_path, monkeypatch, fresh_plant):  # noqa: F811
    import uvicorn
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from agentarts.graph import Agent
    from agentarts.industries.steel.agent import builder
    from agentarts.server import ServerConfig, create_app
    from agentarts.server.users import UserStore
    from tests.server.test_panels import cooling_history

    monkeypatch.chdir(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'steel.db'}"
    agent = Agent(builder, name="steel-blast-furnace", database_url=db_url)
    agent.ref = "agentarts.industries.steel.agent:agent"
    result = agent.run({"source": str(cooling_history(tmp_path))}, thread_id="shift-a")
    assert result.status == "waiting_approval", result.error
    users = UserStore(db_url)
    users.add("dana", "approver", password=PASSWORD)
    users.close()
    app = create_app([agent], db_url, ServerConfig(), industry="steel")
    port = free_port(18850, 18899)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        wait = WebDriverWait(browser, 30)
        _sign_in(browser, f"http://127.0.0.1:{port}", wait)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".p-si_pct svg.chart .ytick"))
        browser.save_screenshot(str(_shots(tmp_path) / "9-steel-round-ticks.png"))
        si = browser.find_element(By.CSS_SELECTOR, ".p-si_pct")
        browser.execute_script("arguments[0].scrollIntoView()", si)
        browser.save_screenshot(str(_shots(tmp_path) / "10-steel-si-round-ticks.png"))
        for panel in ("p-hmt_c", "p-si_pct"):
            ticks = browser.find_elements(By.CSS_SELECTOR, f".{panel} svg.chart text.ytick")
            labels = [t.text for t in ticks]
            assert len(labels) >= 3, (panel, labels)
            round_step(labels)
    finally:
        srv.should_exit = True
        thread.join(10)
        agent.close()
