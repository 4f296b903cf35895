"""A whole run on loopback only, no namespaces: TCP sites that are listening sockets of this process
(closing one makes the site go DOWN), the Bot API stand-in, and a real `python -m netwatchd run`
with its status page on 127.0.0.1. For fault tests and scripts/bench_faults.py, where what is
broken is the server itself (its disk, its store), not the network.

    with LoopbackRun(["office", "annex"], data_dir=disk / "data") as run:
        run.start_agent()
        run.wait_states(lambda s: s.get("office") == "up", 10)
        at = run.cut("office")                          # its listener closes: connection refused
        run.telegram.wait_for_messages(1, 10, LOOPBACK_CHAT_ID)
        status, body = run.healthz()                    # (503, {"status": "failing", ...})

Everything is undone by `close()` (the context manager): the agent is killed, sockets closed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netwatchd.errors import LabError
from netwatchd.lab.agentproc import AgentProcess

LOOPBACK_TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
LOOPBACK_CHAT_ID = -1001234567890
LOOPBACK_ADMIN_ID = 123456789


class LoopbackRun(AgentProcess):
    """Sites as loopback listeners, the stand-in, the agent process. Use as a context manager.

    `interval`/`timeout`/`down_after`: the probe timing of every site (a DOWN is decided about
    interval + down_after x retry after the cut). `bot`: telegram.poll_commands. `python_path`:
    run another checkout's netwatchd (PYTHONPATH), e.g. a benchmark's peer.
    """

    def __init__(self, sites: Sequence[str] = ("office",), *, data_dir: Path | None = None,
                 workdir: Path | None = None, interval: float = 1.0, timeout: float = 0.3,
                 retry_interval: float = 0.3, down_after: int = 2, up_after: int = 1, bot: bool = True,
                 language: str = "en", python_path: str | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="netwatchd-loopback-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.data_dir = data_dir or self.workdir / "data"
        self.config_path = self.workdir / "hosts.yaml"
        self.log_path = self.workdir / "agent.log"
        self.sites = list(sites)
        self.timing = dict(interval=interval, timeout=timeout, retry_interval=retry_interval,
                           down_after=down_after, up_after=up_after)
        self.bot = bot
        self.language = language
        self.python_path = python_path     # another checkout's netwatchd (a benchmark's peer)
        self.ports: dict[str, int] = {}
        self.listeners: dict[str, socket.socket] = {}
        self.telegram: Any = None
        self.agent: subprocess.Popen[bytes] | None = None
        self.web_port: int | None = None
        self._log_file: Any = None

    def bound(self) -> float:
        """Seconds from a cut to the DOWN decision at worst: a full interval before the next probe,
        then down_after failed tries of retry_interval + timeout each."""
        t = self.timing
        return float(t["interval"] + t["timeout"] + t["down_after"] * (t["retry_interval"] + t["timeout"]))

    def open(self) -> None:
        from netwatchd.lab.telegram_standin import TelegramStandIn

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.telegram = TelegramStandIn(token=LOOPBACK_TOKEN).start()
        for site in self.sites:
            self.ports[site] = self._listen(site, 0)
        self.write_config()

    def close(self) -> None:
        """Kill the agent, stop the stand-in, close the listeners. Never raises; idempotent."""
        try:
            self.kill_agent()
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
        if self.telegram is not None:
            try:
                self.telegram.stop()
            except Exception:  # noqa: BLE001 - teardown must go on
                pass
            self.telegram = None
        for sock in self.listeners.values():
            sock.close()
        self.listeners.clear()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- sites ---------------------------------------------------------------------------
    def _listen(self, site: str, port: int) -> int:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        self.listeners[site] = sock
        return int(sock.getsockname()[1])

    def cut(self, site: str) -> float:
        """Close the site's listener (the probe gets 'connection refused'); returns time.time()."""
        at = time.time()
        self.listeners.pop(site).close()
        return at

    def restore(self, site: str) -> float:
        """Listen on the site's port again; returns time.time()."""
        at = time.time()
        self._listen(site, self.ports[site])
        return at

    # ---- configuration ---------------------------------------------------------------------
    def config_text(self) -> str:
        t = self.timing
        hosts = "\n".join(f"  - {{name: {name}, address: 127.0.0.1, probe: tcp, port: {port}}}"
                          for name, port in self.ports.items())
        return (f"data_dir: {self.data_dir}\n"
                f"defaults: {{interval: {t['interval']}s, timeout: {int(t['timeout'] * 1000)}ms, "
                f"retry_interval: {int(t['retry_interval'] * 1000)}ms, down_after: {t['down_after']}, "
                f"up_after: {t['up_after']}}}\n"
                "telegram:\n  token: ${NETWATCHD_LOOPBACK_TOKEN}\n"
                f"  chat_ids: [{LOOPBACK_CHAT_ID}]\n  admins: [{LOOPBACK_ADMIN_ID}]\n"
                f"  api_url: {self.telegram.api_url}\n  language: {self.language}\n"
                f"  poll_commands: {'true' if self.bot else 'false'}\n"
                "web: {listen: 127.0.0.1:0}\n"
                f"hosts:\n{hosts}\n")

    def write_config(self) -> Path:
        self.config_path.write_text(self.config_text(), "utf-8")
        return self.config_path

    # ---- the agent process -----------------------------------------------------------------
    def start_agent(self, *, wait_ready: float = 20.0, extra_args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """`netwatchd run -c hosts.yaml`, log to agent.log; waits for its start line (and learns
        the status page's port from it). Raises LabError."""
        if self.agent is not None and self.agent.poll() is None:
            raise LabError("the agent is already running")
        if self._log_file is None:
            self._log_file = open(self.log_path, "ab")
        offset = self.log_offset()
        env = {**os.environ, "NETWATCHD_LOOPBACK_TOKEN": LOOPBACK_TOKEN, "PYTHONUNBUFFERED": "1"}
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (self.python_path, env.get("PYTHONPATH")) if p)
        self.agent = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", str(self.config_path),
                                       *extra_args], stdout=self._log_file, stderr=subprocess.STDOUT, env=env,
                                      cwd=self.workdir, start_new_session=True)
        if wait_ready:
            text = self.wait_log("watching", timeout=wait_ready, after=offset)
            found = re.search(r"status page http://127\.0\.0\.1:(\d+)/", text)
            self.web_port = int(found.group(1)) if found else None
        return self.agent

    # ---- what the agent says -------------------------------------------------------------------
    def healthz(self, timeout: float = 3.0) -> tuple[int, dict[str, Any]]:
        """GET /healthz on the agent's status page: (HTTP status, JSON body)."""
        if self.web_port is None:
            raise LabError("the status page's port is unknown (start_agent first)")
        url = f"http://127.0.0.1:{self.web_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as failed:
            return failed.code, json.loads(failed.read() or b"{}")

    def alerts(self) -> list[dict[str, Any]]:
        """Messages the stand-in received for the alerts chat, oldest first."""
        return list(self.telegram.messages(LOOPBACK_CHAT_ID))

    def wait_alert(self, needle: str, *, timeout: float, after: int = 0) -> dict[str, Any] | None:
        """The first alert from index `after` whose text contains `needle` (None if none in time)."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.alerts()[after:]:
                if needle in message["text"]:
                    return message
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def ask_bot(self, text: str, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Send `text` as the admin in a private chat; returns the bot's replies ([] if none in time)."""
        before = len(self.telegram.messages(LOOPBACK_ADMIN_ID))
        self.telegram.inject_message(LOOPBACK_ADMIN_ID, LOOPBACK_ADMIN_ID, text)
        replies = self.telegram.wait_for_messages(before + 1, timeout, LOOPBACK_ADMIN_ID)[before:]
        if replies:
            time.sleep(0.2)   # a long answer may come in several messages
        return list(self.telegram.messages(LOOPBACK_ADMIN_ID))[before:]
