"""A whole lab run: namespaces, both stand-ins, a lab hosts.yaml and `netwatchd run` in the monitor.

Used by the end-to-end tests, `scripts/bench_e2e.py` and `netwatchd demo`:

* the Bot API stand-in runs in *this* process, its listening socket inside the monitor namespace
  (127.0.0.1 there), so the caller reads its messages and injects updates directly;
* the RouterOS stand-in runs in this process too, listening on the core's lab address
  (198.18.0.2:8728, inside the core namespace), so the bot reaches "the core" over the lab link;
  it sees the core namespace (netwatchd.lab.live): its /ping sends real echoes from there, its
  /interface, /ip/address, /ip/arp, /ip/route and /log are the namespace's own, so the agent's
  confirmation vote is a real second vantage point. `site_routers` gives sites their own stand-in
  (at the site's address, in its namespace, `router: <site>-rb`) for the recovery cause;
* the agent is a real `python -m netwatchd run` process started with `ip netns exec <mon>`:
  it has no route out of 198.18.0.0/15, and is killed, restarted and signalled like the service.

Everything is undone by `close()` (the context manager), also after a failure or Ctrl-C.
Raises LabError without root / iproute2 (one line).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from netwatchd.errors import LabError
from netwatchd.jsonl import read_records
from netwatchd.lab.agentproc import AgentProcess
from netwatchd.lab.nsenter import inside_namespace
from netwatchd.lab.topology import CORE, CORE_UPLINK_ADDRESS, SIDOARJO_KECAMATAN, LabTiming, SidoarjoLab

LAB_TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
LAB_ROUTER_PASSWORD = "lab-router-secret-0042"
LAB_CHAT_ID = -1001234567890
LAB_ADMIN_ID = 123456789
ROUTER_PORT = 8728
OUTAGE = ("down", "path", "unreachable")
"""States a cut site is named in (`LabRun.named(..., to=OUTAGE)`; a FLAPPING message says "now DOWN")."""
GROUP_PER_MINUTE = 20       # Telegram's limit for one group chat (the admins' chat is a group); the outbox keeps to it


class LabRun(AgentProcess):
    """The lab, the stand-ins and the agent process. Use as a context manager.

    `workdir` holds hosts.yaml, the agent's data_dir and its log (agent.log). Raises LabError.
    """

    def __init__(self, sites: Sequence[str] = SIDOARJO_KECAMATAN, *, timing: LabTiming = LabTiming(),
                 workdir: str | Path | None = None, site_overrides: dict[str, dict[str, Any]] | None = None,
                 web_port: int | None = None, language: str = "en", bot: bool = True,
                 site_routers: Sequence[str] = (), router_health: dict[str, Any] | None = None,
                 confirm: bool = True, telegram_extra: dict[str, Any] | None = None,
                 flapping: dict[str, Any] | None = None) -> None:
        self.lab = SidoarjoLab(sites)
        self.timing = timing
        self.site_routers = tuple(site_routers)
        self.router_health = router_health
        self.confirm = confirm
        self.site_standins: dict[str, Any] = {}
        self._views: list[Any] = []
        self.site_overrides = dict(site_overrides or {})
        self.web_port = web_port
        self.language = language
        self.bot = bot
        self.telegram_extra = dict(telegram_extra or {})     # viewers, escalate, routes ... (hosts.yaml keys)
        self.flapping_keys = dict(flapping or {})            # flapping: keys (early_outages, ...)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="netwatchd-lab-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.config_path = self.workdir / "hosts.yaml"
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "agent.log"
        self.telegram: Any = None
        self.router: Any = None
        self.agent: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._stack = ExitStack()

    # ---- life cycle --------------------------------------------------------------------
    def open(self) -> None:
        """Build the namespaces, start the stand-ins, write hosts.yaml."""
        from netwatchd.lab.telegram_standin import TelegramStandIn

        self.lab.build()
        self.workdir.mkdir(parents=True, exist_ok=True)
        with inside_namespace(self.lab.mon):
            self.telegram = TelegramStandIn(token=LAB_TOKEN).start()
        self.router = self._standin(CORE, "core", CORE_UPLINK_ADDRESS)
        for name in self.site_routers:
            site = self.lab.site(name)
            self.site_standins[site.name] = self._standin(site.short, f"{site.name}-rb", site.address)
        self.write_config()

    def _standin(self, short: str, identity: str, address: str) -> Any:
        """A RouterOS stand-in listening on `address` inside namespace `short`, seeing that namespace."""
        from netwatchd.lab.live import NamespaceView
        from netwatchd.lab.routeros_standin import RouterOSStandIn

        standin = RouterOSStandIn(password=LAB_ROUTER_PASSWORD, host=address, port=ROUTER_PORT, identity=identity,
                                  ping_table={}, real_loopback_ping=False)
        view = NamespaceView(self.lab.ns(short), date=standin.personality.date, tz=standin.tz).start()
        self._views.append(view)
        standin.live = view
        with inside_namespace(self.lab.ns(short)):
            standin.start()
        return standin

    def close(self) -> None:
        """Stop the agent, the stand-ins and remove the namespaces. Never raises; idempotent."""
        try:
            self.kill_agent()
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
        for server in (self.telegram, self.router, *self.site_standins.values(), *self._views):
            if server is not None:
                try:
                    server.stop()
                except Exception:  # noqa: BLE001
                    pass
        self.telegram = self.router = None
        self.site_standins, self._views = {}, []
        self.lab.teardown()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- configuration -----------------------------------------------------------------
    def config_text(self, *, site_overrides: dict[str, dict[str, Any]] | None = None,
                    sites: Sequence[str] | None = None) -> str:
        """The lab hosts.yaml (optionally for a subset of the sites, for reload tests)."""
        text = self.lab.hosts_yaml(
            data_dir=self.data_dir, timing=self.timing, api_url=self.telegram.api_url,
            chat_ids=[LAB_CHAT_ID], admins=[LAB_ADMIN_ID], router_port=ROUTER_PORT,
            web_port=self.web_port, language=self.language,
            site_overrides=self.site_overrides if site_overrides is None else site_overrides,
            only_sites=sites, poll_commands=self.bot, site_routers=self.site_routers,
            router_health=self.router_health, confirm=self.confirm, telegram_extra=self.telegram_extra,
            flapping=self.flapping_keys)
        return text

    def write_config(self, text: str | None = None) -> Path:
        self.config_path.write_text(text if text is not None else self.config_text(), "utf-8")
        return self.config_path

    def agent_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"NETWATCHD_LAB_TOKEN": LAB_TOKEN, "NETWATCHD_LAB_ROUTER_PASSWORD": LAB_ROUTER_PASSWORD,
                    "PYTHONUNBUFFERED": "1"})
        return env

    # ---- the agent process -------------------------------------------------------------
    def start_agent(self, *, wait_ready: float = 20.0, extra_args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """`netwatchd run -c hosts.yaml` inside the monitor namespace; waits for its start line."""
        if self.agent is not None and self.agent.poll() is None:
            raise LabError("the agent is already running")
        if self._log_file is None:
            self._log_file = open(self.log_path, "ab")
        start_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        cmd = self.lab.command([sys.executable, "-m", "netwatchd", "run", "-c", str(self.config_path),
                                *extra_args])
        self.agent = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                      env=self.agent_env(), start_new_session=True)
        if wait_ready:
            self.wait_log("watching", timeout=wait_ready, after=start_offset)
        return self.agent

    def ensure_running(self, timeout: float = 15.0) -> dict[str, str]:
        """Start the agent unless it runs, and wait until every site is UP; returns the states."""
        if self.agent is None or self.agent.poll() is not None:
            self.start_agent()
        return self.wait_all_up(timeout)

    # ---- what the agent decided and delivered ------------------------------------------
    def wait_all_up(self, timeout: float = 15.0) -> dict[str, str]:
        names = ["core", *self.lab.sites]
        return self.wait_states(lambda s: all(s.get(n) == "up" for n in names), timeout)

    def timing_records(self) -> list[dict[str, Any]]:
        """Every record of data_dir/timing.jsonl and its rotated files (one per delivered message)."""
        return list(read_records(self.data_dir / "timing.jsonl"))

    def named(self, sites: Sequence[str], *, after: int, start: float, timeout: float,
              to: Collection[str] | None = None) -> tuple[dict[str, float], int]:
        """(site -> seconds from `start` (time.time()) to the acknowledgement of the first message
        naming it, number of messages naming any of `sites`) over the timing records from index
        `after` on, waiting until every site is named or `timeout` passes. With `to` (e.g. OUTAGE),
        only events into one of those states count: a site's UP of an earlier outage, delivered
        after `start`, does not name it as cut."""
        wanted = set(sites)
        deadline = time.monotonic() + timeout
        while True:
            found: dict[str, float] = {}
            messages = 0
            for record in self.timing_records()[after:]:
                hosts = {e["host"] for e in record["events"] if to is None or e["to"] in to} & wanted
                messages += bool(hosts)
                for host in hosts:
                    found.setdefault(host, datetime.fromisoformat(record["acked_at"]).timestamp() - start)
            if len(found) == len(wanted) or time.monotonic() >= deadline:
                return found, messages
            time.sleep(0.02)

    def wait_for_chat_room(self, room: int = 4) -> float:
        """Sleep until at most GROUP_PER_MINUTE - `room` messages were acknowledged in the last
        minute, so the next `room` go out at once; returns the seconds slept."""
        now = time.time()
        recent = sorted(at for at in (datetime.fromisoformat(r["acked_at"]).timestamp()
                                      for r in self.timing_records()) if now - at < 60)
        excess = len(recent) - (GROUP_PER_MINUTE - room)
        wait = recent[excess - 1] + 60.05 - now if excess > 0 else 0.0
        if wait > 0:
            time.sleep(wait)
        return max(0.0, wait)

    def alerts(self) -> list[dict[str, Any]]:
        """Messages the stand-in received for the admins' chat, oldest first."""
        return self.telegram.messages(LAB_CHAT_ID)

    def ask_bot(self, text: str, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Send `text` as the lab admin in a private chat; returns the bot's reply messages."""
        before = len(self.telegram.messages(LAB_ADMIN_ID))
        self.telegram.inject_message(LAB_ADMIN_ID, LAB_ADMIN_ID, text)
        replies = self.telegram.wait_for_messages(before + 1, timeout, LAB_ADMIN_ID)[before:]
        if not replies:
            raise LabError(f"the bot did not answer {text!r} within {timeout:g} s")
        time.sleep(0.2)   # a long answer may come in several messages
        return self.telegram.messages(LAB_ADMIN_ID)[before:]

    def press(self, message: dict[str, Any], action: str, user_id: int = LAB_ADMIN_ID, *, username: str = "admin",
              timeout: float = 5.0) -> dict[str, Any]:
        """Press the button of `action` (ack, snooze, diagnose, history) under one of the bot's messages
        as `user_id`; returns the answer to the press (its toast). Raises LabError when the message has
        no such button or the press is not answered in time."""
        from netwatchd.engine.incidents import parse_callback

        markup = message.get("reply_markup") or {}
        found = [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row
                 if (parse_callback(str(button.get("callback_data", ""))) or ("", ""))[1] == action]
        if not found:
            raise LabError(f"message {message.get('message_id')} has no {action} button")
        before = len(self.telegram.callback_answers())
        self.telegram.inject_callback(message["chat_id"], user_id, found[0], message["message_id"], username=username)
        answers = self.telegram.wait_for_answers(before + 1, timeout)
        if len(answers) <= before:
            raise LabError(f"the {action} press was not answered within {timeout:g} s")
        return answers[-1]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """The stand-in's current copy of one of the bot's messages (edits included)."""
        return next(m for m in self.telegram.messages(chat_id) if m["message_id"] == message_id)

    # ---- the study's operations, with the RouterOS stand-in kept in step ----------------
    def cut(self, site: str, how: str = "cable") -> float:
        """Cut a site; returns time.time() of the cut. (The core's stand-in sees it for real.)"""
        at = time.time()
        self.lab.cut(site, how)
        return at

    def restore(self, site: str) -> float:
        """Restore a site; returns time.time() just before the links came up."""
        at = time.time()
        self.lab.restore(site)
        return at

    def block_path(self, site: str) -> float:
        """Drop the monitor's packets to `site` at the core (the core still reaches it)."""
        at = time.time()
        self.lab.block_path(site)
        return at

    def unblock_path(self) -> None:
        self.lab.unblock_path()

    def stop_router(self) -> None:
        """Stop the core's RouterOS API (its listener and every session), as if the service were off."""
        self.router.stop()

    def start_router(self) -> None:
        """Start the core's RouterOS API again on the same address and port."""
        with inside_namespace(self.lab.ns(CORE)):
            self.router.start()

    def cut_core(self, how: str = "interface") -> float:
        at = time.time()
        self.lab.cut_core(how)
        return at

    def restore_core(self) -> float:
        at = time.time()
        self.lab.restore_core()
        return at
