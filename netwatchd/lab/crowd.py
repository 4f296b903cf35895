"""Crowds for the fault suite (scripts/bench_faults.py), loopback only: `Flood`, non-admin members
of a group sending commands to the bot through the Telegram stand-in; `Acceptor`, one thread that
accepts and closes the probes' connections to many listening sites (a listener nobody accepts on
fills its backlog after ~64 probes and then times out: a second, real, DOWN)."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Sequence

from netwatchd.lab.telegram_standin import TelegramStandIn

FLOOD_COMMANDS = ("/status", "/monitor", "/ping 127.0.0.1", "/help", "/dhcp")


class Flood(threading.Thread):
    """`members` distinct non-admins of group `chat_id`, each sending a command every `every`
    seconds (spread evenly: members / every commands a second) until stop()."""

    def __init__(self, telegram: TelegramStandIn, chat_id: int, *, members: int = 40, every: float = 2.0,
                 first_member: int = 100_000) -> None:
        super().__init__(name="flood", daemon=True)
        self.telegram, self.chat_id, self.members, self.every = telegram, chat_id, members, every
        self.first_member = first_member
        self.stopping = threading.Event()
        self.sent = 0

    def run(self) -> None:
        step = self.every / max(1, self.members)
        index = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            member = self.first_member + index % self.members
            self.telegram.inject_message(self.chat_id, member, FLOOD_COMMANDS[index % len(FLOOD_COMMANDS)],
                                         chat_type="supergroup", username=f"member{member}")
            self.sent += 1
            index += 1
            next_at += step
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> int:
        """Stop flooding; returns how many commands were sent."""
        self.stopping.set()
        self.join(5)
        return self.sent


class Acceptor:
    """Accepts and closes connections on the sockets `sockets()` returns (re-read every 50 ms, so
    sites closed and reopened meanwhile are followed). Call stop() when done."""

    def __init__(self, sockets: Callable[[], Sequence[socket.socket]]) -> None:
        self.sockets = sockets
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="acceptor", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            socks = list(self.sockets())
            try:
                ready = select.select(socks, [], [], 0.05)[0] if socks else []
            except (OSError, ValueError):       # a site closed meanwhile
                continue
            if not socks:
                self.stopping.wait(0.05)
            for sock in ready:
                try:
                    sock.setblocking(False)
                    sock.accept()[0].close()
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(2)
