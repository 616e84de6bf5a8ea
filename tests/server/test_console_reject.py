"""Rejecting in the console: the "needs a reason" message must not cover the buttons."""

from __future__ import annotations

import pytest

from tests.agents.sample_agent import READING
from tests.server.conftest import bearer
from tests.server.test_console_browser import _sign_in, browser, server  # noqa: F401

pytestmark = pytest.mark.slow


def test_reject_without_then_with_a_reason(server, browser, tokens):  # noqa: F811
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    _sign_in(browser, server, wait)
    with httpx.Client(base_url=server, headers=bearer(tokens["operator"])) as http:
        tid = http.post("/invocations", json={"reading": READING}).json()["thread_id"]
    card = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, f"article[data-thread='{tid}']"))
    )
    reject = card.find_element(By.CSS_SELECTOR, "button.reject")
    # the buttons at the bottom of the window, where a tall card (steel, rail) leaves them
    browser.execute_script(
        "arguments[0].closest('article').style.marginTop = '900px';"
        "arguments[0].scrollIntoView(false)",
        reject,
    )
    reject.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "toast"), "needs a reason"))
    on_top = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === arguments[0]",
        reject,
    )
    assert on_top, "the message covers the Reject button"
    # while the message shows, the person types a reason and rejects at once
    card.find_element(By.CSS_SELECTOR, "textarea.reason").send_keys("level sensor drifting")
    card.find_element(By.CSS_SELECTOR, "button.reject").click()  # was intercepted by the toast
    wait.until(ec.text_to_be_present_in_element((By.ID, "pending-count"), "0"))
    with httpx.Client(base_url=server, headers=bearer(tokens["viewer"])) as http:
        approvals = http.get(f"/runs/{tid}").json()["approvals"]
    assert [(a["decision"], a["by"], a["reason"]) for a in approvals] == [
        ("rejected", "dana", "level sensor drifting")
    ]
