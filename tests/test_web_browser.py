"""The status page in a real headless Chromium (driven over the W3C WebDriver protocol by Debian's
chromedriver): tiles per site with the right colour, and a colour change without a reload."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from netwatchd.config.model import Config, HostSpec, WebSpec
from netwatchd.engine.engine import HostState
from netwatchd.models import State
from netwatchd.web.metrics import Metrics
from netwatchd.web.server import StatusServer
from netwatchd.web.snapshot import build_snapshot

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
RGB = {"green": "rgb(46, 125, 50)", "amber": "rgb(249, 168, 37)", "red": "rgb(198, 40, 40)",
       "grey": "rgb(117, 117, 117)"}


class WebDriver:
    """The few WebDriver calls the test needs, over plain HTTP to chromedriver on loopback."""

    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url, session

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        reply = requests.request(method, f"{self.url}/session/{self.session}{path}", json=body, timeout=30)
        data = reply.json()
        if reply.status_code != 200:
            raise AssertionError(f"webdriver {path}: {data}")
        return data["value"]

    def get(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def js(self, script: str) -> Any:
        return self.call("POST", "/execute/sync", {"script": script, "args": []})

    def wait_for(self, script: str, expected: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.js(script)
            if value == expected:
                return value
            time.sleep(0.1)
        raise AssertionError(f"waited {timeout} s for {expected!r}, last value {value!r}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def browser(tmp_path) -> Iterator[WebDriver]:
    """A headless Chromium session. Skips off-CI when chromium/chromedriver are missing; fails in CI."""
    if not (CHROMIUM and CHROMEDRIVER):
        reason = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    port = _free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(url + "/status", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("chromedriver did not start")
            time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions", "--window-size=1200,900",
                f"--user-data-dir={tmp_path / 'profile'}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}
        created = requests.post(url + "/session", json=caps, timeout=60).json()["value"]
        session = WebDriver(url, created["sessionId"])
        try:
            yield session
        finally:
            requests.delete(f"{url}/session/{session.session}", timeout=30)
    finally:
        driver.terminate()
        driver.wait(timeout=10)


NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
CONFIG = Config(path=Path("hosts.yaml"), data_dir=Path("."), hosts=tuple(
    HostSpec(name=f"kec-{n}", address=f"198.18.{i}.2") for i, n in enumerate("abcde", 1)))

TILE_COLOURS = """
return Array.from(document.querySelectorAll('#tiles .tile')).map(
  el => [el.dataset.name, getComputedStyle(el).backgroundColor]);
"""


def test_tiles_coloured_by_state_and_live_update_without_reload(browser):
    states: dict[str, HostState] = {
        "kec-a": HostState("kec-a", State.UP, since=NOW),
        "kec-b": HostState("kec-b", State.DEGRADED, since=NOW),
        "kec-c": HostState("kec-c", State.DOWN, since=NOW),
        "kec-d": HostState("kec-d", State.UNREACHABLE, since=NOW),
        "kec-e": HostState("kec-e", State.UP, since=NOW, muted=True),
    }
    history = {"kec-a": [1.0, 2.0, 1.5, 3.0]}
    server = StatusServer(WebSpec(host="127.0.0.1", port=0), metrics=Metrics(), cache_seconds=0,
                          snapshot=lambda: build_snapshot(CONFIG, dict(states), {}, history, 0, now=NOW))
    with server:
        browser.get(f"http://127.0.0.1:{server.port}/")
        browser.wait_for("return document.querySelectorAll('#tiles .tile').length", 5)
        assert browser.js(TILE_COLOURS) == [["kec-a", RGB["green"]], ["kec-b", RGB["amber"]],
                                            ["kec-c", RGB["red"]], ["kec-d", RGB["grey"]],
                                            ["kec-e", RGB["grey"]]]
        assert browser.js("return document.getElementById('n-down').textContent") == "1"
        assert browser.js("return document.querySelector('[data-name=\"kec-a\"] path').getAttribute('d')") \
            .startswith("M0.0 ")
        browser.js("window.__sameDocument = 'yes'; return 1")
        updates_before = browser.js("return window.netwatchdUpdates")

        states["kec-a"] = HostState("kec-a", State.DOWN, since=NOW)
        states["kec-c"] = HostState("kec-c", State.UP, since=NOW)
        browser.wait_for("return getComputedStyle(document.querySelector('[data-name=\"kec-a\"]'))"
                         ".backgroundColor", RGB["red"], timeout=8)
        assert dict(browser.js(TILE_COLOURS))["kec-c"] == RGB["green"]
        assert browser.js("return window.__sameDocument") == "yes"          # no reload happened
        assert browser.js("return window.netwatchdUpdates") > updates_before
        assert browser.js("return document.getElementById('banner').style.display") in ("", "none")
