"""A real headless browser for page tests: Debian's chromium, driven by Selenium through
Debian's chromedriver (same version), with the page's console captured."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

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
