"""Headless Chromium (Debian's, through its chromedriver) for the browser tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.helpers import REPOSITORY

LAPTOP = (1366, 768)
# Screenshots for people to look at, kept after the run.
SCREENSHOTS = REPOSITORY / ".local" / "screenshots"


def _executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: `make browser` installs Debian's chromium and its driver")
    return found


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a laptop's window that records the console."""
    options = webdriver.ChromeOptions()
    options.binary_location = _executable("chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # we run as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_executable("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[dict[str, object]]:
    """The console's error entries since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: webdriver.Chrome, folder: Path, name: str, *, full_page: bool) -> Path:
    """Save the window (or the whole page) as name.png in `folder` and in .local/screenshots."""
    size = driver.get_window_size()
    width, height = size["width"], size["height"]
    if full_page:
        page_height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, page_height)
    path = folder / f"{name}.png"
    try:
        assert driver.save_screenshot(str(path)), f"no screenshot {name}"
    finally:
        driver.set_window_size(width, height)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / path.name)
    return path
