"""Headless Chromium for the browser tests of the report and the playground.

``make test`` installs the Debian packages ``chromium`` and ``chromium-driver`` first; where they
cannot be installed (or Chromium cannot start) the browser tests skip and say why.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def built_once(tmp_path_factory, worker_id: str, name: str, build: Callable[[Path], Any]) -> Any:
    """``build(folder)`` run once per test session even under pytest-xdist (the workers share
    the session's temporary root; a file lock makes the others wait and read the pickled
    result). Expensive fixtures (the report, the node run) use it."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent  # the parent is this session's, shared by workers
    folder = root / f"shared-{name}"
    with FileLock(str(folder) + ".lock"):
        done = folder / "result.pickle"
        if not done.exists():
            folder.mkdir(exist_ok=True)
            value = build(folder)
            done.write_bytes(pickle.dumps(value))
        return pickle.loads(done.read_bytes())


def chromium_paths() -> tuple[str | None, str | None]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return binary, shutil.which("chromedriver")


def start_chromium(profile, width: int = 1400, height: int = 1000):
    """A headless Chromium driven by selenium, or pytest.skip with the reason."""
    binary, driver = chromium_paths()
    if not binary or not driver:
        pytest.skip(
            "Chromium or chromedriver is not installed (make test installs the Debian packages chromium and chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        browser = webdriver.Chrome(service=Service(driver), options=options)
    except WebDriverException as exc:
        pytest.skip(f"Chromium cannot start here: {str(exc).splitlines()[0]}")
    browser.set_page_load_timeout(60)
    return browser


def severe_console_messages(browser) -> list[str]:
    """JavaScript errors the page logged (uncaught exceptions land here)."""
    return [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]


@pytest.fixture(scope="session")
def build_once(tmp_path_factory):
    """A function ``(name, build) -> result``: :func:`built_once` for this session."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "master")
    return lambda name, build: built_once(tmp_path_factory, worker, name, build)


@pytest.fixture
def console_errors():
    """A function: the JavaScript errors a browser's page logged since the last call."""
    return severe_console_messages


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    browser = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.quit()
