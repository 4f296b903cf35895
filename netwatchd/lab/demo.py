"""`netwatchd demo`: the study's experiment, live, on one machine, in well under 90 seconds.

Builds the lab (monitor, MikroTik core, the 18 Sidoarjo kecamatan), starts the Bot API and
RouterOS stand-ins and a real `netwatchd run` in the monitor namespace, then: pulls Waru's cable
(the core, asked before the DOWN goes out, cannot reach Waru either: "confirmed by core"), has an
admin press ✅ Ack under the alert (the alert is edited in place) and plugs it back (the UP comes as
a reply in the outage's thread), breaks only the path to Taman at the core (the core still reaches
Taman: PATH, not DOWN) and mends it, cuts the core and lets nobody acknowledge it (after a few
seconds it escalates to a second chat), restores it, asks the bot /monitor and /ping Waru, prints
the report, and tears everything down. Every Telegram message is shown as the chat displays it,
with the time from the action to Telegram's acknowledgement beside the theoretical bound.
Nothing leaves the machine: the monitor namespace has no default route and the stand-ins listen
on its loopback and on the core's lab address.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from netwatchd.errors import LabError
from netwatchd.lab.chatview import bubble
from netwatchd.lab.topology import SIDOARJO_KECAMATAN, LabTiming

DEMO_TIMING = LabTiming(interval=2.0, timeout=0.5, retry_interval=0.5, down_after=2, up_after=2, count=3)
DEADLINE_SECONDS = 85.0
ESCALATION_CHAT = -1002222000000
ESCALATE_AFTER = 8.0          # seconds (a real hosts.yaml says 15m): short enough to watch it happen
TZ = ZoneInfo("Asia/Jakarta")


class Demo:
    """The scripted scenario. `out` receives everything printed; `ansi` turns on colours."""

    def __init__(self, *, out: TextIO = sys.stdout, ansi: bool | None = None, language: str = "en",
                 timing: LabTiming = DEMO_TIMING, sites: tuple[str, ...] = SIDOARJO_KECAMATAN) -> None:
        self.out = out
        self.ansi = out.isatty() and os.environ.get("NO_COLOR") is None if ansi is None else ansi
        self.language = language
        self.timing = timing
        self.sites = sites
        self.started = time.monotonic()
        self.run: Any = None
        self.shown_alerts = 0
        self.shown_escalations = 0
        self.seen_edits: dict[tuple[int, int], int] = {}
        self.last_state_line = ""
        self.rows: list[tuple[str, float | None, int | None]] = []   # (message, seconds, agent ms)

    # ---- output ------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.ansi else text

    def elapsed(self) -> str:
        return f"[{time.monotonic() - self.started:5.1f}s]"

    def step(self, title: str) -> None:
        self.say()
        self.say(self.style(f"── {title}", "1;35"))

    # ---- the live view -----------------------------------------------------------------
    def state_line(self, states: dict[str, str]) -> str:
        core = states.get("core", "unknown").upper()
        counts: dict[str, list[str]] = {}
        for site in self.sites:
            counts.setdefault(states.get(site, "unknown"), []).append(site)
        parts = []
        for state in ("up", "degraded", "path", "down", "unreachable", "unknown"):
            names = counts.get(state, [])
            if not names:
                continue
            label = f"{len(names)} {state.upper()}"
            if state != "up" and len(names) <= 3:
                label += f" ({', '.join(names)})"
            colour = {"up": "32", "degraded": "33", "path": "35", "down": "31", "unreachable": "90",
                      "unknown": "37"}[state]
            parts.append(self.style(label, colour))
        core_colour = "32" if core == "UP" else "31" if core == "DOWN" else "37"
        return f"core {self.style(core, core_colour)} · kecamatan: " + " · ".join(parts)

    def refresh(self) -> None:
        """Print the state line if it changed, and every Telegram message not shown yet."""
        line = self.state_line(self.run.states())
        if line != self.last_state_line:
            self.last_state_line = line
            self.say(f"{self.elapsed()} {line}")

    def show_new_alerts(self, action_at: float | None) -> list[dict[str, Any]]:
        """Print the messages not shown yet (the admins' chat, then the escalation chat) and the
        alerts edited since they were shown."""
        from netwatchd.lab.harness import LAB_CHAT_ID

        alerts = self.run.alerts()[self.shown_alerts:]
        escalations = self.run.telegram.messages(ESCALATION_CHAT)[self.shown_escalations:]
        records = {r.get("message_id"): r for r in self.run.timing_records() if r.get("kind") != "edit"}
        everything = {LAB_CHAT_ID: self.run.alerts(), ESCALATION_CHAT: self.run.telegram.messages(ESCALATION_CHAT)}
        for chat, message in [(LAB_CHAT_ID, m) for m in alerts] + [(ESCALATION_CHAT, m) for m in escalations]:
            if chat == LAB_CHAT_ID:
                self.shown_alerts += 1
            else:
                self.shown_escalations += 1
            self.seen_edits[(chat, message["message_id"])] = message.get("edits", 0)
            record = records.get(message["message_id"]) if chat == LAB_CHAT_ID else None
            agent_ms = int(record["latency_ms"]) if record and record.get("latency_ms") is not None else None
            seconds = message["at"] - action_at if action_at is not None else None
            title = "Telegram · Diskominfo admins" if chat == LAB_CHAT_ID else "Telegram · escalation chat (heads)"
            if message.get("reply_to"):
                target = next((m for m in everything[chat] if m["message_id"] == message["reply_to"]), None)
                if target is not None:
                    title += self.style("  ↪ reply to: " + _strip_tags(target["text"].split("\n", 1)[0]), "2")
            self.say(bubble(message["text"], ansi=self.ansi, title=self.style(title, "36")))
            if message.get("reply_markup"):
                self.say("  " + self.style(_buttons(message["reply_markup"]), "1"))
            measured = []
            if seconds is not None:
                measured.append(f"in the chat {seconds:.2f} s after the action "
                                f"(bound {self.timing.bound:.1f} s + delivery)")
            if agent_ms is not None:
                measured.append(f"decision → Telegram ack {agent_ms} ms")
            if measured:
                self.say("  " + self.style("↳ " + "; ".join(measured), "2"))
            first = message["text"].split("\n", 1)[0]
            self.rows.append((_strip_tags(first), seconds, agent_ms))
        self.show_edits()
        return alerts + escalations

    def show_edits(self) -> None:
        """An alert edited since it was shown: its new last lines (the status) and new buttons."""
        from netwatchd.lab.harness import LAB_CHAT_ID

        for chat in (LAB_CHAT_ID, ESCALATION_CHAT):
            for message in self.run.telegram.messages(chat):
                key = (chat, message["message_id"])
                if key not in self.seen_edits or message.get("edits", 0) <= self.seen_edits[key]:
                    continue
                self.seen_edits[key] = message.get("edits", 0)
                first = _strip_tags(message["text"].split("\n", 1)[0])
                status = message["text"].split("\n\n")[-1] if "\n\n" in message["text"] else ""
                self.say(self.style(f"  ✏️  the alert “{first}” is edited in place:", "36"))
                if status:
                    self.say(bubble(status, ansi=self.ansi))
                self.say("  " + self.style(_buttons(message.get("reply_markup")), "1"))

    def wait_for(self, what: str, done: Callable[[list[dict[str, Any]]], bool], action_at: float,
                 timeout: float) -> bool:
        """Keep the live view going until `done(new messages)` or the timeout (then say so)."""
        deadline = time.monotonic() + min(timeout, self.remaining())
        seen: list[dict[str, Any]] = []
        while True:
            self.refresh()
            seen += self.show_new_alerts(action_at)
            if done(seen):
                return True
            if time.monotonic() >= deadline:
                self.say(self.style(f"  (no {what} within {timeout:.0f} s — moving on)", "33"))
                return False
            time.sleep(0.1)

    def linger(self, seconds: float, action_at: float) -> list[dict[str, Any]]:
        """Keep the live view going for `seconds`; returns the messages that arrived meanwhile."""
        until = time.monotonic() + min(seconds, self.remaining())
        seen: list[dict[str, Any]] = []
        while time.monotonic() < until:
            self.refresh()
            seen += self.show_new_alerts(action_at)
            time.sleep(0.1)
        return seen

    def all_up(self) -> bool:
        states = self.run.states()
        return all(states.get(name) == "up" for name in ("core", *self.sites))

    def remaining(self) -> float:
        return max(1.0, DEADLINE_SECONDS - (time.monotonic() - self.started))

    # ---- the scenario ------------------------------------------------------------------
    def main(self) -> int:
        from netwatchd.lab.harness import LabRun

        t = self.timing
        self.say(self.style("netwatchd demo — the study's cable-cut experiment, in network namespaces", "1"))
        self.say("Lab: [mon: netwatchd + Bot API stand-in] ── [core: MikroTik, RouterOS API stand-in] ── "
                 f"{len(self.sites)} kecamatan, all in 198.18.0.0/15; the monitor has no default route, "
                 "so nothing leaves this machine.")
        self.say(f"Probes: ICMP every {t.interval:g} s ({t.count} echoes, timeout {t.timeout * 1000:.0f} ms); "
                 f"while failing every {t.retry_interval * 1000:.0f} ms; DOWN after {t.down_after} failures, "
                 f"UP after {t.up_after} answers.")
        self.say(f"Theoretical bound, cut → DOWN decision: interval + (down_after − 1) × retry_interval + "
                 f"timeout = {t.interval:g} + {t.down_after - 1} × {t.retry_interval:g} + {t.timeout:g} "
                 f"= {t.bound:.1f} s.")
        escalate = {"escalate": [{"after": f"{ESCALATE_AFTER:g}s", "chat_ids": [ESCALATION_CHAT]}]}
        with LabRun(self.sites, timing=t, language=self.language, telegram_extra=escalate) as run:
            self.run = run
            self.say(f"{self.elapsed()} lab built: {len(self.sites) + 2} namespaces; "
                     "starting `netwatchd run` inside the monitor namespace")
            run.start_agent()
            started = datetime.now(TZ)
            self.wait_for("all sites UP", lambda _: self.all_up(), time.time(), 20)

            self.step("1. Pull Waru's cable (link down on Waru's side: `ip link set ether1 down`); before the "
                      "DOWN goes out, the core is asked to ping Waru too (/ping count=3 interval=200ms)")
            at = run.cut("Waru", "cable")
            self.wait_for("DOWN message", lambda seen: any("Waru" in m["text"] for m in seen), at, t.bound + 8)
            self.press_ack("Waru")
            self.step("2. Plug Waru's cable back in")
            at = run.restore("Waru")
            self.wait_for("UP message", lambda seen: any("Waru" in m["text"] for m in seen), at, t.bound + 8)
            self.linger(1.2, at)        # the first message is edited too: "resolved after"

            self.step("3. Break only the path to Taman, at the core (nftables drops what the server sends "
                      "to Taman; the core itself still reaches Taman)")
            at = run.block_path("Taman")
            self.wait_for("PATH message", lambda seen: any("Taman" in m["text"] for m in seen), at, t.bound + 8)
            self.step("4. Mend the path")
            run.unblock_path()
            at = time.time()
            self.wait_for("Taman reachable again", lambda seen: any("Taman" in m["text"] for m in seen), at,
                          t.bound + 8)

            self.step(f"5. Cut the core (the core disables its port to the server); nobody presses Ack, "
                      f"so after {ESCALATE_AFTER:g} s it escalates")
            at = run.cut_core("interface")
            self.wait_for("core message", lambda seen: any("core" in m["text"] for m in seen), at, t.bound + 8)
            late = self.linger(2 * t.interval, at)     # the 18 sites fail too: no message each
            if not any(f"<b>{site}" in m["text"].split("\n", 1)[0] for m in late for site in self.sites):
                self.say(self.style(f"  ({2 * t.interval:g} s later: no message per kecamatan — they are "
                                    "UNREACHABLE behind the core, folded into its message)", "2"))
            self.wait_for("escalation", lambda _: bool(run.telegram.messages(ESCALATION_CHAT)), at, ESCALATE_AFTER + 4)
            self.step("6. Restore the core")
            at = run.restore_core()
            first = self.shown_alerts
            self.wait_for("core UP message", lambda seen: any("core" in m["text"] for m in seen), at, t.bound + 10)
            self.wait_for("all sites UP", lambda _: self.all_up(), at, 10)
            self.linger(1.5, at)        # a site back later than the fold window would come in the next slot
            after = run.alerts()[first:]
            if len(after) == 1 and "sites back with it" in after[0]["text"]:
                self.say(self.style("  (one message for the core and every kecamatan back with it: its UP waited "
                                    "up to fold_window, 1 s, for their first answers)", "2"))
            else:
                self.say(self.style(f"  ({len(after)} messages since the restore)", "33"))

            self.step("7. The admins ask the bot (Telegram → getUpdates → netwatchd → RouterOS API / ICMP)")
            for command in ("/monitor", "/ping Waru"):
                self.say(self.style(f"  admin: {command}", "1"))
                try:
                    asked = time.time()
                    for reply in run.ask_bot(command, timeout=min(10.0, self.remaining())):
                        self.say(bubble(reply["text"], ansi=self.ansi, title=self.style("bot", "36")))
                        self.say("  " + self.style(f"↳ answered in {reply['at'] - asked:.2f} s", "2"))
                except LabError as exc:
                    self.say(self.style(f"  ({exc})", "33"))

            self.step("8. The report (netwatchd report, this demo's window)")
            self.print_report(started)

            self.step("Summary: every Telegram message and its latency")
            self.print_summary()
            code, seconds = run.stop_agent()
            self.say(f"{self.elapsed()} agent stopped with SIGTERM: exit {code} in {seconds:.2f} s")
        self.say(f"{self.elapsed()} lab removed (namespaces, links, stand-ins). Nothing was sent outside "
                 "this machine.")
        return 0

    def press_ack(self, site: str) -> None:
        """An admin presses ✅ Ack under the site's alert: the toast, then the alert edited in place."""
        from netwatchd.lab.harness import LAB_CHAT_ID

        alert = next((m for m in reversed(self.run.alerts()) if m.get("reply_markup") and site in m["text"]), None)
        if alert is None:
            self.say(self.style(f"  (no alert with buttons for {site} — skipping the press)", "33"))
            return
        time.sleep(1.5)         # an admin reads the alert first (and Telegram's 1 message a second per chat passes)
        self.say(self.style("  admin @budi presses ✅ Ack under the alert", "1"))
        pressed = time.time()
        try:
            toast = self.run.press(alert, "ack", username="budi", timeout=min(5.0, self.remaining()))
        except LabError as exc:
            self.say(self.style(f"  ({exc})", "33"))
            return
        self.say("  " + self.style(f"↳ the button answers “{toast['text']}” in {(toast['at'] - pressed) * 1000:.0f} ms",
                                   "2"))
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and not self.run.message(LAB_CHAT_ID, alert["message_id"]).get("edits"):
            time.sleep(0.02)
        edited_at = time.time()
        self.show_edits()
        records = [r for r in self.run.timing_records() if r.get("kind") == "edit" and "ack" in r.get("reasons", [])]
        if records:
            self.say("  " + self.style(f"↳ press → edited alert {(edited_at - pressed) * 1000:.0f} ms here "
                                       f"(agent: press stored → Telegram's answer {records[-1]['latency_ms']} ms); "
                                       "no reminder and no escalation for Waru from now on", "2"))

    def print_report(self, since: datetime) -> None:
        cmd = [sys.executable, "-m", "netwatchd", "report", "-c", str(self.run.config_path),
               "--since", since.strftime("%Y-%m-%dT%H:%M")]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=self.run.agent_env(),
                                  timeout=max(5.0, min(30.0, self.remaining())))
        except subprocess.TimeoutExpired:
            self.say(self.style("  (the report took too long — skipped)", "33"))
            return
        text = proc.stdout if proc.returncode == 0 else (proc.stderr or proc.stdout)
        for line in text.rstrip().splitlines():
            self.say("  " + line)

    def print_summary(self) -> None:
        self.say(f"  {'message':<46} {'action → chat':>14} {'agent':>8}")
        for first, seconds, agent_ms in self.rows:
            took = f"{seconds:.2f} s" if seconds is not None else "-"
            agent = f"{agent_ms} ms" if agent_ms is not None else "-"
            self.say(f"  {first[:46]:<46} {took:>14} {agent:>8}")
        self.say(f"  bound for a DOWN decision: {self.timing.bound:.1f} s (+ the core's vote, at most 1 s, "
                 "+ delivery; an UP after a re-plugged cable also waits for ARP, up to 1 s)")
        self.say("  agent = the agent's decision → Telegram's acknowledgement; a message that waited for "
                 "the chat's next slot (Telegram allows 1 per second per chat) shows that wait")


def _buttons(markup: dict[str, Any] | None) -> str:
    """An inline keyboard as a line: [✅ Ack] [🔕 1 h] | [🔍 Diagnose] [📈 History]."""
    rows = (markup or {}).get("inline_keyboard") or []
    return " | ".join(" ".join(f"[{b.get('text')}]" for b in row) for row in rows) or "(no buttons)"


def _strip_tags(text: str) -> str:
    from netwatchd.lab.chatview import plain

    return plain(text).strip()
