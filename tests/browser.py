"""A real headless browser for page tests: Debian's chromium, driven by Selenium through
Debian's chromedriver (same version), with the page's console captured; and the dashboard
scenario the page tests share (at ``/`` and mounted under a path)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from codexrs.testing import ScriptedModel, exec_command, text

#: Where page tests keep their screenshots: ``$CODEXRS_TEST_OUTPUT``, or ``test-output/`` in the clone.
OUTPUT = Path(os.environ.get("CODEXRS_TEST_OUTPUT") or Path(__file__).resolve().parent.parent / "test-output")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium session (a Selenium ``WebDriver``). Without chromium installed the test
    is skipped, except under CI (``CI`` set), where it fails: ``scripts/bootstrap`` installs it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver_path is None:
        message = "Debian's chromium and chromium-driver are not installed (scripts/bootstrap installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The page's console messages at level SEVERE (errors and uncaught exceptions) so far."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any, name: str) -> Path:
    """The whole page (up to 12,000 px tall) as ``OUTPUT/<name>.png``."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1400, min(max(height, 600), 12_000))
    path = OUTPUT / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def dashboard_streams_and_approves(driver: Any, api: httpx.Client, opened: str, page: str, token: str,
                                   model: ScriptedModel, workspace: Path, shot: str) -> None:  # fmt: skip
    """The dashboard, opened at ``opened?token=...`` (it lands on ``page``), shows a thread
    created over ``api`` (an httpx client whose base URL is the app's), its exec request with
    approve and deny buttons; approving it runs the command (a file appears in ``workspace``)
    and the answer streams into the page delta by delta, then the usage shows. Nothing on the
    page's console; screenshots ``<shot>-approval`` and ``<shot>``."""
    deltas = [f"word{i} " for i in range(30)]
    reply = text("".join(deltas), deltas=deltas).delayed(0.0, between_events=0.02)
    model.route(f"<{shot}>", exec_command(f"touch {shot}.txt"), reply)
    driver.get(f"{opened}?token={token}")
    assert api.post("api/threads", json={"name": shot, "approval_policy": "untrusted", "sandbox": "workspace-write"}).status_code == 201
    thread_id = api.get(f"api/threads/{shot}").json()["id"]
    card = f"#thread-{thread_id}"

    def wait_for(script: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := driver.execute_script(script)):
            if time.monotonic() > deadline:
                shown = driver.execute_script(f"var c = document.querySelector('{card}'); return [c && c.innerText, "
                                              "document.getElementById('error').textContent, document.getElementById('conn').textContent]")  # fmt: skip
                raise AssertionError(f"timed out: {script} (the card shows {shown[0]!r}, the page's error {shown[1]!r}, its stream {shown[2]!r})")
            time.sleep(0.1)
        return value

    wait_for(f"return document.querySelector('{card} .status')")
    wait_for("return document.getElementById('conn').textContent === 'live'")
    assert driver.current_url == page  # the token is kept for the tab, out of the address bar
    driver.execute_script(  # counts the changes of the card's text as they are drawn
        f"window.textChanges = 0; new MutationObserver(function () {{ window.textChanges++; }})"
        f".observe(document.querySelector('{card} .text'), {{childList: true, characterData: true, subtree: true}});"
    )
    assert api.post(f"api/threads/{shot}/send", json={"input": f"<{shot}>"}).status_code == 202
    button = wait_for(f"return document.querySelector('{card} .pending button.approve')")
    assert f"touch {shot}.txt" in driver.execute_script(f"return document.querySelector('{card} .pending code').textContent")
    assert driver.execute_script(f"return document.querySelector('{card} .status').textContent") == "waiting_for_approval"
    screenshot(driver, f"{shot}-approval")
    button.click()
    # The answer streams into the page, delta by delta, then the turn ends.
    wait_for(f"return document.querySelector('{card} .text').textContent === {json.dumps(''.join(deltas))}")
    wait_for(f"return document.querySelector('{card} .status').textContent === 'idle'")
    assert (workspace / f"{shot}.txt").exists()
    assert driver.execute_script("return window.textChanges") >= 10  # drawn as it streamed, not once at the end
    usage = driver.execute_script(f"return document.querySelector('{card} .usage').textContent")
    assert re.match(r"[1-9][0-9]* in / [1-9][0-9]* out · 1 turns", usage), usage
    assert driver.execute_script("return document.getElementById('error').textContent") == ""
    assert console_errors(driver) == []
    screenshot(driver, shot)
