"""WatchSession: one more API session per router, for netwatchd's own questions, commands run at once.

The bot's RouterClient runs one command at a time (librouteros has no `.tag` multiplexing). When 18
sites behind the core go quiet together, 18 confirmation pings one after another would take 18 x
0.6 s. RouterOS runs tagged commands of one session simultaneously and echoes each command's
`.tag` on every sentence of its reply (MikroTik's API manual, "Tags" and "/cancel, simultaneous
commands"), so this session sends every command with its own tag and one I/O thread hands each
reply sentence to the command that owns it: 18 pings take as long as one.

- Read-only like RouterClient: every command goes through `check_read_only` before a byte leaves.
- It connects (TCP, api-ssl, login) with RouterClient's own code, so every failure is the same one
  line naming the router and never the password; `connect_timeout` lets a caller with a deadline
  give the connect only what is left of it (an idle session is kept, so that is rare).
- One thread does all the socket I/O (an SSL object must not be read and written by two threads at
  once); callers queue sentences and wait on their Call. Replies are cast as librouteros casts them.
- A command that got no byte at all back by its caller's deadline (`expired`) ends the session: the
  router is gone or the line is dead, and the next command connects afresh. A command that was
  merely slow is cancelled (`/cancel =tag=`), as RouterOS expects of a streaming command.
Raises RouterError (one line) for every failure; RouterPolicyError when the API user lacks a policy.
"""

from __future__ import annotations

import dataclasses
import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from netwatchd.config.model import RouterSpec
from netwatchd.errors import RouterError
from netwatchd.logs import redact
from netwatchd.router import ros
from netwatchd.router.client import NO_PERMISSION_TRAP, RouterClient, command_words

log = logging.getLogger(__name__)

Connector = Callable[..., Any]


class Call:
    """One tagged command in flight. `wait(timeout)` for it; then `rows`, `trap` (the router's
    refusal, one line) or `error` (the session failed)."""

    def __init__(self, command: str, tag: str, words: Sequence[str] = ()) -> None:
        self.command = command
        self.tag = tag
        self.words = list(words)                 # its words without the tag (to send it again)
        self.attempts = 1
        self.rows: list[dict[str, Any]] = []
        self.trap: str | None = None
        self.error: RouterError | None = None
        self.sent_at = time.monotonic()
        self.finished_at: float | None = None
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None) -> bool:
        """True once the command ended (!done, or the session failed) within `timeout` s."""
        return self._done.wait(None if timeout is None else max(0.0, timeout))

    def finish(self, error: RouterError | None = None) -> None:
        if not self._done.is_set():
            self.error = self.error or error
            self.finished_at = time.monotonic()
            self._done.set()

    def result(self) -> list[dict[str, Any]]:
        """The rows. Raises RouterError when the router refused the command or the session failed."""
        if self.error is not None:
            raise self.error
        if self.trap is not None:
            raise RouterError(self.trap)
        return self.rows


class _Link:
    """One open connection: the API object, its socket, the pipe that wakes its I/O thread."""

    def __init__(self, api: Any, sock: socket.socket) -> None:
        self.api = api
        self.sock = sock
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)

    def wake(self) -> None:
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass                                    # the link is closing: nothing to wake


class WatchSession:
    """See the module docstring. Thread-safe; `close()` when done."""

    def __init__(self, spec: RouterSpec, *, connector: Connector = ros.lazy_connect) -> None:
        self.spec = spec
        self._connector = connector
        self._lock = threading.Lock()            # the session's state: link, calls, queue
        self._connect_lock = threading.Lock()    # one connect at a time
        self._link: _Link | None = None
        self._calls: dict[str, Call] = {}
        self._outgoing: deque[tuple[str, list[str]]] = deque()
        self._seq = 0
        self.last_received = 0.0                 # monotonic time of the last byte from the router
        self.connects = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def connected(self) -> bool:
        return self._link is not None

    # -- public ---------------------------------------------------------------------------------

    def start(self, command: str, /, *, proplist: Sequence[str] | None = None,
              where: Mapping[str, Any] | None = None, connect_timeout: float | None = None,
              **args: Any) -> Call:
        """Send one read-only command and return its Call at once (connecting first if needed).

        Raises RouterError when the command is not a read or the router cannot be reached.
        """
        _, words = command_words(command, args, proplist, where)
        self._ensure(connect_timeout)
        with self._lock:
            link = self._link
            if link is None:
                raise self._error("the session closed")
            self._seq += 1
            call = Call(command, f"nw{self._seq}", words)
            self._calls[call.tag] = call
            self._outgoing.append((command, [*words, f".tag={call.tag}"]))
        link.wake()
        return call

    def expired(self, call: Call) -> None:
        """`call` ran past its caller's deadline: cancel it, or end the session when nothing at all
        came back from the router since it was sent."""
        if call.done:
            return
        if self.last_received < call.sent_at:
            log.info("router %s: no reply to %s in time and nothing else either: reconnecting next time",
                     self.name, call.command)
            self._fail_all(self._error(f"no reply from the router (its session was ended after "
                                       f"{time.monotonic() - call.sent_at:.1f} s of silence)"))
            return
        with self._lock:
            link = self._link
            if link is None:
                return
            self._seq += 1
            self._outgoing.append(("/cancel", [f"=tag={call.tag}", f".tag=nw{self._seq}"]))
        link.wake()

    def close(self) -> None:
        """End the session; commands still waiting fail at once."""
        self._fail_all(self._error("the session was closed"))

    # -- connecting -----------------------------------------------------------------------------

    def _ensure(self, connect_timeout: float | None) -> None:
        if self._link is not None:
            return
        if not self._connect_lock.acquire(timeout=-1 if connect_timeout is None else max(0.0, connect_timeout)):
            raise self._error("still connecting (no answer yet)")
        try:
            if self._link is not None:
                return
            spec = self.spec
            if connect_timeout is not None:
                spec = dataclasses.replace(spec, timeout=max(0.1, min(spec.timeout, connect_timeout)))
            api = RouterClient(spec, connector=self._connector)._open()   # its connect, TLS, login, errors
            sock = api.protocol.transport.sock
            api.protocol.transport = ros.SocketTransport(sock)   # plain reads: the I/O thread waits itself
            sock.settimeout(self.spec.timeout)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
            link = _Link(api, sock)
            with self._lock:
                self._link = link
                self.last_received = time.monotonic()
                self.connects += 1
            threading.Thread(target=self._io, args=(link,), daemon=True, name=f"router-watch-{self.name}").start()
            log.debug("router %s: watch session open", self.name)
        finally:
            self._connect_lock.release()

    # -- the I/O thread -------------------------------------------------------------------------

    def _io(self, link: _Link) -> None:
        sock = link.sock
        try:
            while self._link is link:
                self._flush(link)
                if not (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0):
                    readable, _, _ = select.select([sock, link.wake_r], [], [], 5.0)
                    if link.wake_r in readable:
                        try:
                            while link.wake_r.recv(512):
                                pass
                        except (BlockingIOError, InterruptedError):
                            pass
                    if sock not in readable:
                        continue
                reply, words = link.api.protocol.readSentence()
                self.last_received = time.monotonic()
                self._dispatch(reply, words)
        except (ros.LibRouterosError, OSError, ValueError) as exc:
            if self._link is link:
                error = self._error(RouterClient(self.spec)._describe(exc, "reply"))
                again = self._fail_all(error, keep_unanswered=_peer_closed(exc))
                if again:
                    self._send_again(again, error)
        finally:
            link.wake_r.close()
            link.wake_w.close()

    def _flush(self, link: _Link) -> None:
        while True:
            with self._lock:
                if not self._outgoing or self._link is not link:
                    return
                command, words = self._outgoing.popleft()
            link.api.protocol.writeSentence(command, *words)

    def _dispatch(self, reply: str, words: Sequence[str]) -> None:
        tag = None
        attributes: dict[str, Any] = {}
        for word in words:
            if word.startswith(".tag="):
                tag = word[len(".tag="):]
            elif word.startswith("="):
                key, value = ros.parse_word(word)
                attributes[key] = value
        with self._lock:
            call = self._calls.get(tag or "")
        if call is None:
            return                                  # a /cancel's own reply, or an untagged sentence
        if reply == "!re":
            call.rows.append(attributes)
        elif reply == "!trap":
            if call.trap is None:
                call.trap = self._trap_text(call.command, str(attributes.get("message", "failure")))
        elif reply == "!done":
            with self._lock:
                self._calls.pop(call.tag, None)
            call.finish()

    def _trap_text(self, command: str, message: str) -> str:
        if NO_PERMISSION_TRAP in message:
            return str(RouterClient(self.spec)._error(ros.TrapError(message), "reply", command))
        return str(self._error(f"the router refused {command}: {message}"))

    def _error(self, text: str) -> RouterError:
        message = " ".join(f"router {self.name} ({self.spec.address}:{self.spec.port}): {text}".split())
        if self.spec.password:
            message = message.replace(self.spec.password, "***")
        return RouterError(redact(message))

    def _send_again(self, calls: list[Call], error: RouterError) -> None:
        """The router closed a reused session (it rebooted, or forgot an idle connection): send the
        commands it never answered once more on a fresh one, as RouterClient retries once."""
        try:
            self._ensure(None)
            with self._lock:
                link = self._link
                if link is None:
                    raise error
                for call in calls:
                    self._seq += 1
                    call.tag, call.attempts = f"nw{self._seq}", call.attempts + 1
                    call.sent_at = time.monotonic()
                    self._calls[call.tag] = call
                    self._outgoing.append((call.command, [*call.words, f".tag={call.tag}"]))
            link.wake()
        except RouterError as exc:
            for call in calls:
                call.finish(exc)

    def _fail_all(self, error: RouterError, *, keep_unanswered: bool = False) -> list[Call]:
        """Close the session; every waiting command fails with `error`, except (keep_unanswered)
        those sent once that got nothing back yet: they are returned, to be sent again."""
        with self._lock:
            link, self._link = self._link, None
            calls, self._calls = list(self._calls.values()), {}
            self._outgoing.clear()
        again = [c for c in calls if keep_unanswered and c.attempts == 1 and not c.rows and c.trap is None]
        for call in calls:
            if call not in again:
                call.finish(error)
        if link is not None:
            try:
                link.sock.shutdown(socket.SHUT_RDWR)     # wakes the I/O thread's select()
            except OSError:
                pass
            try:
                link.api.close()
            except (OSError, ros.LibRouterosError):
                pass
        return again


def _peer_closed(exc: BaseException) -> bool:
    """The router ended the session (not a timeout): a command it never answered may be sent again."""
    return isinstance(exc, (ros.ConnectionClosed, ros.FatalError, ConnectionResetError, BrokenPipeError,
                            ConnectionAbortedError)) and not isinstance(exc, TimeoutError)


class WatchSessions:
    """A WatchSession per configured router, by name (case-insensitive)."""

    def __init__(self, routers: Sequence[RouterSpec], *, connector: Connector = ros.lazy_connect) -> None:
        self._sessions = {spec.name.lower(): WatchSession(spec, connector=connector) for spec in routers}

    def get(self, name: str) -> WatchSession:
        """Raises RouterError for a router that is not configured."""
        try:
            return self._sessions[name.lower()]
        except KeyError:
            raise RouterError(f"no router named {name!r} under routers:") from None

    def all(self) -> list[WatchSession]:
        return list(self._sessions.values())

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
