"""A real browser for tests: Debian's ``chromium`` driven through its own ``chromedriver``
(Selenium), headless, never downloaded. Without them the tests are skipped, except under
CI (``CI=true``), where a missing browser fails the run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: Screenshots and pages kept for a person to look at.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def chrome(offline: bool = True, local: bool = False):  # type: ignore[no-untyped-def]
    """A headless Chromium session (the caller quits it); ``offline`` turns the network off,
    ``local`` allows this machine (a test server on 127.0.0.1) and nothing else."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        msg = "Debian's chromium and chromium-driver are needed (apt-get install them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1240,1754", "--hide-scrollbars"):  # fmt: skip
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # requests, for tests
    if local:  # only this machine: every name resolves nowhere, addresses stay local
        opts.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    elif offline:  # no request can leave: every address resolves nowhere
        opts.add_argument("--host-resolver-rules=MAP * ~NOTFOUND")
        opts.add_argument("--proxy-server=127.0.0.1:9")
    session = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    if offline and not local:
        session.execute_cdp_cmd("Network.enable", {})
        session.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
        )
    return session


def keep(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def map_zoom(b) -> int:  # type: ignore[no-untyped-def]
    """The zoom of the one Leaflet map on the page (folium names it ``map_...``)."""
    return int(
        b.execute_script(
            "const k = Object.keys(window).find(k => k.startsWith('map_'));"
            "return window[k].getZoom();"
        )
    )
