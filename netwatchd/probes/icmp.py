"""The batched ICMP echo engine: one socket per address family for a whole round.

`IcmpEngine.ping(targets)` sends every echo of every target through one socket per family,
interleaving sends with receives (sending everything first overflows the receive buffer), and
matches each reply by (identifier, sequence, source address) - never by identifier alone - so two
engines, or two rounds of one engine, running at once never take each other's replies.

Sockets come from icmplib's socket layer (`ICMPv4Socket`/`ICMPv6Socket`: the choice of raw or
datagram socket and its permission errors). The hot path then uses the underlying socket
directly: icmplib's `send()` does a getaddrinfo and two setsockopt calls per packet and computes
the checksum in a Python loop, and its `receive()` matches by id+sequence and drops the embedded
destination of ICMP errors - fine for one ping, too slow and too loose for 10,000 per round.

Modes (chosen automatically, `IcmpEngine(privileged=None)`):
- raw (root or CAP_NET_RAW): we pick the identifiers: random at the engine's start, then one
  new identifier per round (per 65,536 echoes), sequences 0.. within it. A raw socket sees every
  ICMP packet of the host, so kernel filters pass only echo replies and errors (ICMP_FILTER /
  ICMP6_FILTER) and, on IPv4, only this round's identifiers (a small BPF program); the
  (id, seq, source) key does the rest. ICMP errors arrive as packets carrying the original
  header: they are matched by the embedded id, sequence and destination.
- unprivileged datagram ("ping socket", needs the process group inside
  net.ipv4.ping_group_range): the kernel replaces our identifier with the socket's own and only
  delivers replies carrying it to this socket; we read that identifier back and match on
  (id, sequence, source) all the same. ICMP errors come through the socket error queue
  (IP_RECVERR/IPV6_RECVERR), matched by the original sequence and destination.
Neither allowed -> PermissionProblem naming the exact fix.

Packet timing uses the OS monotonic clock (it is real network I/O); the injected `clock` only
stamps the results.
"""

from __future__ import annotations

import errno
import heapq
import os
import random
import select
import socket
import struct
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from netwatchd.errors import PermissionProblem

if TYPE_CHECKING:
    from datetime import datetime

    from netwatchd.clock import Clock
    from netwatchd.models import ProbeResult


class _ImportedOnFirstUse(ModuleType):
    """Stands in for a module inside another package's globals; the first attribute asked of it
    imports the real module (normally, through sys.modules) and answers from that."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return getattr(__import__(name), attr)


def _import_icmplib_without_asyncio() -> None:
    """Import icmplib with `asyncio` deferred: its modules `import asyncio` at the top but only use
    it inside its async API (async_ping, async_multiping, AsyncSocket), which netwatchd does not
    call. Importing asyncio (with ssl, concurrent.futures, ...) was ~25 of the ~30 ms icmplib
    costs every `netwatchd probe`. While icmplib loads, sys.modules["asyncio"] is a stand-in;
    icmplib keeps it, and its first use by icmplib imports the real asyncio. Everyone else
    (`import asyncio` anywhere after this) gets the real module. Raises ImportError as import."""
    stand_in = None
    if "asyncio" not in sys.modules:
        stand_in = sys.modules["asyncio"] = _ImportedOnFirstUse("asyncio")
    try:
        import icmplib  # noqa: F401
    finally:
        if stand_in is not None and sys.modules.get("asyncio") is stand_in:
            del sys.modules["asyncio"]


_import_icmplib_without_asyncio()
from icmplib import ICMPv4Socket, ICMPv6Socket  # noqa: E402  (already imported just above)
from icmplib.exceptions import ICMPLibError, SocketPermissionError  # noqa: E402


def _debug(message: str, *args: object) -> None:
    """log.debug(message, *args) for this module, without importing logging (~4 ms of a
    `netwatchd probe`) into a process that has not: there no handler could show a debug line."""
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger(__name__).debug(message, *args)


Resolver = Callable[[str], str]
"""Turns a host name into one IP address string; raises OSError (socket.gaierror) when it cannot."""

RECEIVE_BUFFER_BYTES = 8 << 20     # room for a whole 10,000-host round of replies
SEND_BATCH = 64                    # echoes sent between two drains of the receive queue
_SEND_AGAIN = -1.0
_SO_RCVBUFFORCE = 33               # Linux; socket module lacks the constant
_SO_ATTACH_FILTER = 26
_SOL_RAW = 255
_ICMP_FILTER = 1                   # SOL_RAW option: bit set = type blocked
_ICMP6_FILTER = 1                  # IPPROTO_ICMPV6 option: bit set = type blocked
_IP_RECVERR = 11
_IPV6_RECVERR = 25
_SOL_IPV6 = 41
_ERRQUEUE_ANCILLARY = 512

# ICMP types we care about
_V4_ECHO_REQUEST, _V4_ECHO_REPLY = 8, 0
_V6_ECHO_REQUEST, _V6_ECHO_REPLY = 128, 129
_V4_ERRORS = {3: "destination unreachable", 11: "time exceeded", 12: "parameter problem"}
_V6_ERRORS = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded",
              4: "parameter problem"}
_V4_UNREACHABLE = {0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable",
                   3: "port unreachable", 4: "fragmentation needed", 9: "network prohibited",
                   10: "host prohibited", 13: "communication administratively prohibited"}
_V6_UNREACHABLE = {0: "no route to destination", 1: "administratively prohibited",
                   2: "beyond scope of source address", 3: "address unreachable",
                   4: "port unreachable", 5: "source address failed policy",
                   6: "reject route to destination"}
_TIME_EXCEEDED = {0: "TTL exceeded in transit", 1: "fragment reassembly time exceeded"}


class IcmpTarget(NamedTuple):
    """One host to ping: `count` echoes `interval` s apart, each waited for `timeout` s.
    (A NamedTuple: built for every host of every round, 3x cheaper than a frozen dataclass.)"""

    host: str
    address: str
    count: int = 3      # type: ignore[assignment]  # shadows tuple.count(), which nothing here calls
    interval: float = 0.05
    timeout: float = 1.0
    payload_size: int = 56


def system_resolver(name: str) -> str:
    """Resolve with the system resolver (first address, in /etc/gai.conf order). Raises OSError."""
    return str(socket.getaddrinfo(name, None, type=socket.SOCK_RAW)[0][4][0])


def error_reason(family: int, icmp_type: int, code: int, source: str) -> str:
    """Human text for an ICMP error, e.g. 'destination host unreachable from 198.18.0.1'."""
    if family == socket.AF_INET:
        if icmp_type == 3:
            what = "destination " + _V4_UNREACHABLE.get(code, f"unreachable (code {code})")
        elif icmp_type == 11:
            what = _TIME_EXCEEDED.get(code, f"time exceeded (code {code})")
        else:
            what = f"{_V4_ERRORS.get(icmp_type, 'ICMP error')} (type {icmp_type} code {code})"
    else:
        if icmp_type == 1:
            what = "destination unreachable: " + _V6_UNREACHABLE.get(code, f"code {code}")
        elif icmp_type == 3:
            what = {0: "hop limit exceeded in transit"}.get(code, _TIME_EXCEEDED.get(code, "time exceeded"))
        else:
            what = f"{_V6_ERRORS.get(icmp_type, 'ICMPv6 error')} (type {icmp_type} code {code})"
    return f"{what} from {source}"


def _ip_literal(address: str) -> tuple[str, int] | None:
    """(canonical text, family) when `address` is an IP literal (fe80::1%eth0 keeps its scope)."""
    bare, _, scope = address.partition("%")
    try:
        socket.inet_pton(socket.AF_INET, bare)  # strict dotted quad: already canonical
        return bare, socket.AF_INET
    except OSError:
        pass
    try:
        text = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, bare))
    except OSError:
        return None
    return (f"{text}%{scope}" if scope else text), socket.AF_INET6


def _strip_scope(address: str) -> str:
    return address.split("%", 1)[0]


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


_PAYLOAD_PATTERN = bytes(range(0x20, 0x7F))


def _payload(size: int) -> bytes:
    size = max(0, size)
    return (_PAYLOAD_PATTERN * (size // len(_PAYLOAD_PATTERN) + 1))[:size]


_pack_header = struct.Struct("!BBHHH").pack
_unpack_header = struct.Struct("!BBHHH").unpack_from
_V4_CHECKSUM_BASE = _V4_ECHO_REQUEST << 8


class _Channel:
    """One open ICMP socket of a round plus what is needed to read and write it fast."""

    __slots__ = ("family", "raw", "sock", "ident", "icmp_socket", "block")

    def __init__(self, family: int, raw: bool, icmp_socket: ICMPv4Socket | ICMPv6Socket,
                 ident: int, block: int) -> None:
        self.block = block
        self.family = family
        self.raw = raw
        self.icmp_socket = icmp_socket  # keeps icmplib's wrapper (and so the socket) alive
        self.sock: socket.socket = icmp_socket.sock
        self.ident = ident

    def close(self) -> None:
        self.icmp_socket.close()


def _open_socket(family: int, raw: bool) -> ICMPv4Socket | ICMPv6Socket:
    """icmplib socket of the given kind. Raises SocketPermissionError or ICMPLibError."""
    cls = ICMPv4Socket if family == socket.AF_INET else ICMPv6Socket
    return cls(privileged=raw)


def _echo_reply_filter(first_ident: int, last_ident: int) -> bytes:
    """A classic BPF program for a raw IPv4 ICMP socket: pass echo replies whose identifier is in
    first..last and every other ICMP type (errors, already narrowed by ICMP_FILTER); drop the
    replies of other rounds and other programs before they are queued to us."""
    program = [
        (0xB1, 0, 0, 0),                    # ldxb 4*([0]&0xf)   X = IP header length
        (0x50, 0, 0, 0),                    # ldb [x+0]          A = ICMP type
        (0x15, 0, 3, _V4_ECHO_REPLY),       # jeq #0 ? next : accept
        (0x48, 0, 0, 4),                    # ldh [x+4]          A = identifier
        (0x35, 0, 2, first_ident),          # jge #first ? next : drop
        (0x25, 1, 0, last_ident),           # jgt #last ? drop : accept
        (0x06, 0, 0, 0x40000),              # accept
        (0x06, 0, 0, 0),                    # drop
    ]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)


def _attach_filter(sock: socket.socket, program: bytes) -> None:
    """SO_ATTACH_FILTER with a struct sock_fprog pointing at `program` (best effort)."""
    buffer = array("B", program)   # its address, without importing ctypes (7 ms of `netwatchd probe`)
    fprog = struct.pack("@HP", len(program) // 8, buffer.buffer_info()[0])
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError as exc:  # the ICMP_FILTER and the (id, seq, source) match still hold
        _debug("no BPF filter on the ICMP socket: %s", exc)


def _tune(sock: socket.socket, family: int, raw: bool, idents: tuple[int, int]) -> None:
    """Raise the receive buffer, filter in the kernel, ask for errors on datagram sockets."""
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER_BYTES)
            break
        except OSError:
            continue
    sock.setblocking(False)
    if raw and family == socket.AF_INET:
        passed = (1 << _V4_ECHO_REPLY) | sum(1 << t for t in _V4_ERRORS)
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", ~passed & 0xFFFFFFFF))
        _attach_filter(sock, _echo_reply_filter(*idents))
    elif raw:
        words = [0xFFFFFFFF] * 8
        for allowed in (_V6_ECHO_REPLY, *_V6_ERRORS):
            words[allowed >> 5] &= ~(1 << (allowed & 31)) & 0xFFFFFFFF
        sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *words))
    elif family == socket.AF_INET:
        sock.setsockopt(socket.SOL_IP, _IP_RECVERR, 1)
    else:
        sock.setsockopt(_SOL_IPV6, _IPV6_RECVERR, 1)


def _permission_problem(privileged: bool | None) -> PermissionProblem:
    interpreter = os.path.realpath(sys.executable)
    gid = os.getgid()
    setcap = f"sudo setcap cap_net_raw+ep {interpreter}"
    sysctl = f"sudo sysctl -w net.ipv4.ping_group_range='{gid} {gid}'"
    if privileged is True:
        return PermissionProblem(f"raw ICMP sockets need root or CAP_NET_RAW: run as root, or {setcap} "
                                 "(systemd: AmbientCapabilities=CAP_NET_RAW)")
    if privileged is False:
        return PermissionProblem(f"unprivileged ICMP is off for group {gid}: {sysctl} "
                                 "(persist it in /etc/sysctl.d/)")
    return PermissionProblem(f"ICMP is not permitted for this process (uid {os.getuid()}, gid {gid}): "
                             f"either {setcap} (systemd: AmbientCapabilities=CAP_NET_RAW) "
                             f"or {sysctl} (persist it in /etc/sysctl.d/)")


class IcmpEngine:
    """Pings many targets per round through one socket per address family.

    `privileged`: True = raw sockets only, False = unprivileged datagram sockets only,
    None = raw when permitted, else datagram. `resolver` turns host names into addresses
    (default: the system resolver). `ident` fixes the first identifier (tests); by default it is
    random per engine. Safe to share between threads: rounds get disjoint (id, sequence) pairs.
    """

    def __init__(self, privileged: bool | None = None, *, resolver: Resolver | None = None,
                 ident: int | None = None) -> None:
        self._privileged = privileged
        self._resolver = resolver or system_resolver
        self._lock = threading.Lock()
        self._next_ident = ident if ident is not None else random.getrandbits(16)
        self._raw: bool | None = None

    @property
    def mode(self) -> str:
        """'raw' or 'datagram'. Raises PermissionProblem when neither is permitted."""
        return "raw" if self._decide_mode() else "datagram"

    def check(self) -> str:
        """Make sure ICMP can be sent (call at start-up); returns the mode. Raises PermissionProblem."""
        return self.mode

    def _decide_mode(self) -> bool:
        with self._lock:
            if self._raw is not None:
                return self._raw
            choices = [True, False] if self._privileged is None else [self._privileged]
            for raw in choices:
                try:
                    _open_socket(socket.AF_INET, raw).close()
                except SocketPermissionError:
                    continue
                except ICMPLibError:
                    # IPv4 missing entirely (unusual): judge by IPv6 instead
                    try:
                        _open_socket(socket.AF_INET6, raw).close()
                    except SocketPermissionError:
                        continue
                    except ICMPLibError:
                        pass
                self._raw = raw
                _debug("ICMP mode: %s", "raw" if raw else "datagram")
                return raw
            raise _permission_problem(self._privileged)

    def _reserve(self, echoes: int) -> int:
        """Reserve identifiers for a round of `echoes` echoes: one identifier per 65,536 echoes,
        never shared with another round of this engine (so the kernel filter can pass only this
        round's replies). Returns the round's first slot, id << 16 | sequence (sequence 0)."""
        blocks = max(1, -(-echoes // 65536))
        with self._lock:
            first = self._next_ident
            if first + blocks > 0x10000:  # keep a round's identifiers contiguous
                first = 0
            self._next_ident = (first + blocks) & 0xFFFF
            return first << 16

    def ping(self, targets: Sequence[IcmpTarget], *, clock: Clock) -> list[ProbeResult]:
        """One round: every echo of every target; results in the order of `targets`.

        Never raises for a target's failure (unresolvable name, no route, ICMP error, timeout:
        each ends up in that target's result). Raises PermissionProblem when ICMP is not permitted.
        """
        raw = self._decide_mode()
        at = clock.now()
        round_ = IcmpRound([t.host for t in targets], [t.address for t in targets],
                           [t[2:] for t in targets], raw=raw, resolver=self._resolver, reserve=self._reserve)
        round_.run()
        return round_.results(at)

    def ping_addresses(self, addresses: Sequence[str], settings: IcmpTarget) -> IcmpRound:
        """One round to `addresses` (each its own host name), all with the count, interval,
        timeout and payload size of `settings`; returns the finished round, whose columns
        (`sent`, `rtts`, `errors`, ...) a caller may read without building a ProbeResult per
        target (`netwatchd probe` on 10,000 addresses), or turn into results(). Never raises for
        a target's failure. Raises PermissionProblem when ICMP is not permitted."""
        raw = self._decide_mode()
        round_ = IcmpRound(addresses, addresses, settings[2:], raw=raw, resolver=self._resolver,
                           reserve=self._reserve)
        round_.run()
        return round_


Settings = tuple[int, float, float, int]
"""An IcmpTarget's (count, interval, timeout, payload_size)."""


class IcmpRound:
    """One engine round, and when run() has returned, its outcome, target by target (index i):
    `hosts[i]`, `addresses[i]`, `ips[i]` (None: the name did not resolve, see
    `failed_before_send[i]`), `sent[i]`, `rtts[i]` (one entry per echo: ms, or None for no
    reply), `errors[i]` (the last error), `error_count[i]`, `late[i]` (replies after the
    timeout); `raw` (raw or datagram sockets). Target i's echo k is sent at
    first_send_i + k * interval_i. `settings`: a list of one Settings per target, or one for all."""

    def __init__(self, hosts: Sequence[str], addresses: Sequence[str],
                 settings: Settings | list[Settings], *, raw: bool, resolver: Resolver,
                 reserve: Callable[[int], int]) -> None:
        self.hosts = hosts
        self.addresses = addresses
        self.raw = raw
        n = len(addresses)
        if isinstance(settings, list):                       # one per target
            per_target = settings
            self.counts = [s[0] if s[0] > 0 else 1 for s in per_target]
            self.intervals = [s[1] if s[1] > 0 else 0.0 for s in per_target]
            self.timeouts = [s[2] for s in per_target]
            sizes = [s[3] for s in per_target]
        else:                                                 # the same for all
            count, interval, timeout, size = settings
            self.counts = [count if count > 0 else 1] * n
            self.intervals = [interval if interval > 0 else 0.0] * n
            self.timeouts = [timeout] * n
            sizes = [size] * n
        self.ips: list[str | None] = [None] * n
        self.match_ips: list[str] = [""] * n    # the address replies come from (no %scope)
        self.families: list[int] = [0] * n
        self.sent = [0] * n
        self.rtts: list[list[float | None]] = [[None] * count for count in self.counts]
        self.errors: list[str | None] = [None] * n
        self.error_count = [0] * n
        self.late = [0] * n
        self.failed_before_send: list[str | None] = [None] * n
        # (ident, sequence, source ip) -> (target index, echo number, send time)
        self.pending: dict[tuple[int, int, str], tuple[int, int, float]] = {}
        self.channels: dict[tuple[int, int], _Channel | str] = {}
        self.current: dict[int, _Channel] = {}
        self._resolve(resolver)
        payloads: dict[int, tuple[bytes, int]] = {}
        for size in set(sizes):
            body = _payload(size)
            payloads[size] = (body, _ones_complement_sum(body))
        self.payloads = [payloads[size] for size in sizes]
        self.total_echoes = sum(count for count, ip in zip(self.counts, self.ips, strict=True) if ip is not None)
        self.first_slot = reserve(self.total_echoes) if self.total_echoes else 0
        self.next_slot = self.first_slot
        last_slot = self.first_slot + max(0, self.total_echoes - 1)
        self.idents = (self.first_slot >> 16, last_slot >> 16)

    # -- preparation ---------------------------------------------------------------------
    def _resolve(self, resolver: Resolver) -> None:
        """Fill ips/match_ips/families; a name that does not resolve fails that target alone."""
        cache: dict[str, str | Exception] = {}
        ips, match_ips, families = self.ips, self.match_ips, self.families
        inet_pton, v4 = socket.inet_pton, socket.AF_INET
        for i, address in enumerate(self.addresses):
            try:                                # the common case: a dotted quad, already canonical
                inet_pton(v4, address)
            except OSError:
                pass
            else:
                ips[i] = match_ips[i] = address
                families[i] = v4
                continue
            literal = _ip_literal(address)
            if literal is None:
                address = address.strip()
                if address not in cache:
                    try:
                        cache[address] = resolver(address)
                    except (OSError, UnicodeError) as exc:
                        cache[address] = exc
                found = cache[address]
                if isinstance(found, Exception):
                    reason = getattr(found, "strerror", None) or str(found)
                    self.failed_before_send[i] = f"name does not resolve: {address} ({reason})"
                    continue
                literal = _ip_literal(found) or (found, socket.AF_INET6 if ":" in found else socket.AF_INET)
            ips[i], families[i] = literal
            match_ips[i] = _strip_scope(literal[0]) if families[i] == socket.AF_INET6 else literal[0]

    def _channel(self, family: int, block: int) -> _Channel | str:
        """The socket for this family (and id block in datagram mode), or why it cannot be opened."""
        key = (family, -1 if self.raw else block)
        found = self.channels.get(key)
        if found is None:
            found = self.channels[key] = self._open(family, block)
        return found

    def _open(self, family: int, block: int) -> _Channel | str:
        try:
            icmp_socket = _open_socket(family, self.raw)
        except SocketPermissionError as exc:
            return f"ICMP socket not permitted: {exc}"
        except ICMPLibError as exc:
            return f"cannot open an ICMP{'v6' if family == socket.AF_INET6 else ''} socket: {exc}"
        try:
            sock = icmp_socket.sock
            _tune(sock, family, self.raw, self.idents)
            ident = -1  # raw mode: the id travels in each packet
            if not self.raw:  # the kernel picks the id of a ping socket when it is bound
                sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
                ident = sock.getsockname()[1]
        except OSError as exc:
            icmp_socket.close()
            return f"cannot set up the ICMP socket: {exc.strerror or exc}"
        return _Channel(family, self.raw, icmp_socket, ident, block)

    def _open_channels(self) -> list[_Channel]:
        return [c for c in self.channels.values() if isinstance(c, _Channel)]

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        finally:
            for channel in self._open_channels():
                channel.close()

    def _loop(self) -> None:
        clock = time.perf_counter
        order = [i for i, ip in enumerate(self.ips) if ip is not None]
        first_pos = 0
        follow_ups: list[tuple[float, int, int]] = []   # (due, target, echo number)
        last_deadline = 0.0
        counts, intervals, timeouts = self.counts, self.intervals, self.timeouts
        send = self._send
        raw_v4: _Channel | None = None     # once open: echoes to IPv4 targets go out in batches
        while True:
            now = clock()
            budget = SEND_BATCH
            if first_pos < len(order) and raw_v4 is not None:
                end = min(len(order), first_pos + budget)
                done, last_deadline = self._send_raw_v4(raw_v4, [(i, 0) for i in order[first_pos:end]], follow_ups,
                                                        last_deadline)
                budget -= done
                first_pos += done
            if first_pos >= len(order) and raw_v4 is not None and follow_ups and follow_ups[0][0] <= now:
                due_now: list[tuple[float, int, int]] = []
                while len(due_now) < budget and follow_ups and follow_ups[0][0] <= now:
                    due_now.append(heapq.heappop(follow_ups))
                done, last_deadline = self._send_raw_v4(raw_v4, [(i, echo) for _, i, echo in due_now], follow_ups,
                                                        last_deadline)
                for item in due_now[done:]:      # left to _send() below
                    heapq.heappush(follow_ups, item)
                budget -= done
            while budget:
                if first_pos < len(order):
                    index, echo = order[first_pos], 0
                    first_pos += 1
                elif follow_ups and follow_ups[0][0] <= now:
                    _, index, echo = heapq.heappop(follow_ups)
                else:
                    break
                budget -= 1
                now = send(index, echo)
                if raw_v4 is None and self.raw:
                    raw_v4 = self.current.get(socket.AF_INET)
                if now < 0:  # send buffer full: retry in a millisecond, read replies meanwhile
                    now = clock()
                    heapq.heappush(follow_ups, (now + 0.001, index, echo))
                    break
                deadline = now + timeouts[index]
                if deadline > last_deadline:
                    last_deadline = deadline
                if echo + 1 < counts[index]:
                    heapq.heappush(follow_ups, (now + intervals[index], index, echo + 1))
            self._drain()
            now = clock()
            sending_left = first_pos < len(order) or bool(follow_ups)
            if not sending_left and (not self.pending or now >= last_deadline):
                return
            if first_pos < len(order):
                continue
            wake = last_deadline if not follow_ups else min(follow_ups[0][0], last_deadline)
            if follow_ups and not self.pending:
                wake = follow_ups[0][0]
            wait = max(0.0, wake - now)
            fds = [c.sock for c in self._open_channels()]
            if fds and wait > 0:
                select.select(fds, [], [], wait)
            elif wait > 0:
                time.sleep(wait)

    def _send_raw_v4(self, channel: _Channel, batch: list[tuple[int, int]],
                     follow_ups: list[tuple[float, int, int]], last_deadline: float) -> tuple[int, float]:
        """Send echo `echo` of target `index` for each (index, echo) of `batch`, in order, through
        the raw IPv4 `channel`, as _send() would, in one loop (10,000 targets at count 3: ~30,000
        calls of _send less) and queue each target's next echo. Stops before the first one that is
        not IPv4 or whose send raises, leaving it to _send() (which knows what each error means).
        Returns (how many were sent, the latest reply deadline)."""
        sendto = channel.sock.sendto
        families, ips, match_ips, payloads = self.families, self.ips, self.match_ips, self.payloads
        sent, pending, counts, intervals, timeouts = self.sent, self.pending, self.counts, self.intervals, self.timeouts
        clock, pack, v4, push = time.perf_counter, _pack_header, socket.AF_INET, heapq.heappush
        slot = self.next_slot
        done = 0
        try:
            for index, echo in batch:
                if families[index] != v4:
                    break
                body, body_sum = payloads[index]
                ident, sequence = slot >> 16, slot & 0xFFFF
                total = _V4_CHECKSUM_BASE + body_sum + ident + sequence
                total = (total & 0xFFFF) + (total >> 16)
                total = (total & 0xFFFF) + (total >> 16)
                packet = pack(_V4_ECHO_REQUEST, 0, ~total & 0xFFFF, ident, sequence) + body
                sent_at = clock()
                try:
                    sendto(packet, (ips[index], 0))
                except OSError:
                    break
                slot = (slot + 1) & 0xFFFFFFFF
                sent[index] += 1
                pending[(ident, sequence, match_ips[index])] = (index, echo, sent_at)
                deadline = sent_at + timeouts[index]
                if deadline > last_deadline:
                    last_deadline = deadline
                if echo + 1 < counts[index]:
                    push(follow_ups, (sent_at + intervals[index], index, echo + 1))
                done += 1
        finally:
            self.next_slot = slot
        return done, last_deadline

    def _send(self, index: int, echo: int) -> float:
        """Send echo `echo` of target `index`; returns when it was sent (or failed), or
        _SEND_AGAIN (negative) when the send buffer is full and nothing was sent."""
        family = self.families[index]
        slot = self.next_slot
        current = self.current.get(family)
        if current is None or (not self.raw and current.block != slot >> 16):
            opened = self._channel(family, slot >> 16)
            if isinstance(opened, str):
                self._fail(index, opened)
                self.sent[index] += 1
                self.next_slot = (slot + 1) & 0xFFFFFFFF
                return time.perf_counter()
            current = self.current[family] = opened
        channel: _Channel = current
        body, body_sum = self.payloads[index]
        sequence = slot & 0xFFFF
        if not channel.raw:  # ping sockets: the kernel sets the id and the checksum
            ident = channel.ident
            header = _pack_header(_V4_ECHO_REQUEST if family == socket.AF_INET else _V6_ECHO_REQUEST,
                                  0, 0, ident, sequence)
        elif family == socket.AF_INET:
            ident = slot >> 16
            total = _V4_CHECKSUM_BASE + body_sum + ident + sequence
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            header = _pack_header(_V4_ECHO_REQUEST, 0, ~total & 0xFFFF, ident, sequence)
        else:  # the kernel computes ICMPv6 checksums
            ident = slot >> 16
            header = _pack_header(_V6_ECHO_REQUEST, 0, 0, ident, sequence)
        ip = self.ips[index]
        packet = header + body
        attempts = 1 if channel.raw else 3
        while True:
            sent_at = time.perf_counter()
            try:
                channel.sock.sendto(packet, (ip, 0))
                break
            except (BlockingIOError, InterruptedError):
                return _SEND_AGAIN
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    return _SEND_AGAIN
                attempts -= 1
                if attempts > 0:
                    # ping socket: a send reports (and clears) an ICMP error that arrived for an
                    # earlier echo; its details wait in the error queue. Read them, send again.
                    self._drain_error_queue(channel)
                    continue
                failure = exc
            self.next_slot = (slot + 1) & 0xFFFFFFFF
            self.sent[index] += 1
            self._fail(index, _local_error_text(failure))
            return time.perf_counter()
        self.next_slot = (slot + 1) & 0xFFFFFFFF
        self.sent[index] += 1
        self.pending[(ident, sequence, self.match_ips[index])] = (index, echo, sent_at)
        return sent_at

    def _fail(self, index: int, reason: str) -> None:
        self.errors[index] = reason
        self.error_count[index] += 1

    def _drain(self) -> None:
        for channel in self._open_channels():
            if channel.raw and channel.family == socket.AF_INET:
                self._drain_raw_v4(channel.sock)
            elif channel.raw:
                self._drain_raw_v6(channel.sock)
            else:
                self._drain_datagram(channel)

    def _reply(self, key: tuple[int, int, str], received_at: float) -> None:
        found = self.pending.pop(key, None)
        if found is None:
            return  # someone else's reply, a duplicate, or one already given up on
        index, echo, sent_at = found
        rtt = received_at - sent_at
        if rtt > self.timeouts[index]:
            self.late[index] += 1
            return
        self.rtts[index][echo] = rtt * 1000.0

    def _icmp_error(self, key: tuple[int, int, str], reason: str) -> None:
        found = self.pending.pop(key, None)
        if found is not None:
            self._fail(found[0], reason)

    def _drain_raw_v4(self, sock: socket.socket) -> None:
        unpack_from = _unpack_header
        receive = sock.recvfrom
        clock = time.perf_counter
        take = self.pending.pop
        timeouts, rtts = self.timeouts, self.rtts
        while True:
            try:
                packet, source = receive(2048)
            except (BlockingIOError, InterruptedError):
                return
            received_at = clock()
            header_length = (packet[0] & 0x0F) * 4
            if len(packet) < header_length + 8:
                continue
            kind, code, _, ident, sequence = unpack_from(packet, header_length)
            if kind == _V4_ECHO_REPLY:      # what _reply() does, inline: one call less per reply
                found = take((ident, sequence, source[0]), None)
                if found is None:
                    continue  # someone else's reply, a duplicate, or one already given up on
                index, echo, sent_at = found
                rtt = received_at - sent_at
                if rtt > timeouts[index]:
                    self.late[index] += 1
                else:
                    rtts[index][echo] = rtt * 1000.0
                continue
            if kind not in _V4_ERRORS:
                continue
            inner = header_length + 8
            if len(packet) < inner + 20:
                continue
            inner_length = (packet[inner] & 0x0F) * 4
            if packet[inner + 9] != socket.IPPROTO_ICMP or len(packet) < inner + inner_length + 8:
                continue
            destination = socket.inet_ntop(socket.AF_INET, packet[inner + 16:inner + 20])
            inner_kind, _, _, ident, sequence = unpack_from(packet, inner + inner_length)
            if inner_kind == _V4_ECHO_REQUEST:
                self._icmp_error((ident, sequence, destination),
                                 error_reason(socket.AF_INET, kind, code, source[0]))

    def _drain_raw_v6(self, sock: socket.socket) -> None:
        unpack_from = struct.unpack_from
        clock = time.perf_counter
        while True:
            try:
                packet, source = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            received_at = clock()
            if len(packet) < 8:
                continue
            kind, code, _, ident, sequence = unpack_from("!BBHHH", packet, 0)
            origin = _strip_scope(source[0])
            if kind == _V6_ECHO_REPLY:
                self._reply((ident, sequence, origin), received_at)
                continue
            # error: 8-byte header, the original IPv6 header (40 bytes), then our echo header
            if kind not in _V6_ERRORS or len(packet) < 8 + 40 + 8 or packet[8 + 6] != socket.IPPROTO_ICMPV6:
                continue
            destination = socket.inet_ntop(socket.AF_INET6, packet[8 + 24:8 + 40])
            inner_kind, _, _, ident, sequence = unpack_from("!BBHHH", packet, 48)
            if inner_kind == _V6_ECHO_REQUEST:
                self._icmp_error((ident, sequence, destination),
                                 error_reason(socket.AF_INET6, kind, code, origin))

    def _drain_datagram(self, channel: _Channel) -> None:
        sock = channel.sock
        clock = time.perf_counter
        while True:
            try:
                packet, source = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # a pending ICMP error is reported here once; its details are in the error queue
                self._drain_error_queue(channel)
                continue
            received_at = clock()
            if len(packet) < 8:
                continue
            kind, _, _, ident, sequence = struct.unpack_from("!BBHHH", packet, 0)
            if kind in (_V4_ECHO_REPLY, _V6_ECHO_REPLY):
                self._reply((ident, sequence, _strip_scope(source[0])), received_at)
        self._drain_error_queue(channel)

    def _drain_error_queue(self, channel: _Channel) -> None:
        sock = channel.sock
        while True:
            try:
                packet, ancillary, _, destination = sock.recvmsg(2048, _ERRQUEUE_ANCILLARY,
                                                                 socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(packet) < 8:
                continue
            _, _, _, ident, sequence = struct.unpack_from("!BBHHH", packet, 0)
            for level, kind, data in ancillary:
                if (level, kind) not in ((socket.SOL_IP, _IP_RECVERR), (_SOL_IPV6, _IPV6_RECVERR)):
                    continue
                err_no, origin, icmp_type, code = struct.unpack_from("=IBBB", data, 0)
                offender = _offender(data[16:], channel.family) or "this host"
                if origin in (2, 3):  # SO_EE_ORIGIN_ICMP / ICMP6
                    reason = error_reason(channel.family, icmp_type, code, offender)
                else:
                    reason = os.strerror(err_no).lower()
                self._icmp_error((ident, sequence, _strip_scope(destination[0])), reason)

    # -- results -------------------------------------------------------------------------
    def detail(self, i: int) -> dict[str, object]:
        """Target i's ProbeResult.detail: the socket mode, and the resolved ip (a name),
        late_replies and icmp_errors when there are any."""
        detail: dict[str, object] = {"mode": "raw" if self.raw else "datagram"}
        ip = self.ips[i]
        if ip is not None and ip != self.addresses[i]:
            detail["ip"] = ip
        if self.late[i]:
            detail["late_replies"] = self.late[i]
        if self.error_count[i]:
            detail["icmp_errors"] = self.error_count[i]
        return detail

    def plain(self, i: int) -> bool:
        """True when target i's detail is only the socket mode."""
        ip = self.ips[i]
        return not ((ip is not None and ip != self.addresses[i]) or self.late[i] or self.error_count[i])

    def special(self) -> set[int]:
        """The targets whose detail is more than the socket mode (not plain())."""
        found: set[int] = set()
        if any(self.late):
            found.update(i for i, count in enumerate(self.late) if count)
        if any(self.error_count):
            found.update(i for i, count in enumerate(self.error_count) if count)
        if self.ips != self.addresses:      # a name resolved, or a target not sent to
            found.update(i for i, (ip, address) in enumerate(zip(self.ips, self.addresses, strict=True))
                         if ip is not None and ip != address)
        return found

    def results(self, at: datetime) -> list[ProbeResult]:
        """One ProbeResult per target, in target order, stamped `at`."""
        from netwatchd.models import ProbeResult

        out: list[ProbeResult] = []
        append = out.append
        from_rtts = ProbeResult.from_rtts
        plain: dict[str, object] = {"mode": "raw" if self.raw else "datagram"}  # from_rtts copies it
        hosts, addresses = self.hosts, self.addresses
        special = self.special()
        for i in range(len(addresses)):
            detail = self.detail(i) if i in special else plain
            unresolved = self.failed_before_send[i]
            if unresolved:
                append(ProbeResult(host=hosts[i], address=addresses[i], probe="icmp", at=at,
                                   alive=False, error=unresolved, detail=dict(detail)))
                continue
            echoes = self.rtts[i]
            rtts = echoes if None not in echoes else [r for r in echoes if r is not None]
            append(from_rtts(host=hosts[i], address=addresses[i], probe="icmp", at=at,
                             sent=self.sent[i], rtts_ms=rtts,  # type: ignore[arg-type]
                             error=self.errors[i], detail=detail))
        return out



def _offender(data: bytes, family: int) -> str | None:
    """The address in SO_EE_OFFENDER (after sock_extended_err), if any."""
    try:
        if family == socket.AF_INET and len(data) >= 8 and struct.unpack_from("=H", data)[0] == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, data[4:8])
        if family == socket.AF_INET6 and len(data) >= 24 and struct.unpack_from("=H", data)[0] == socket.AF_INET6:
            return socket.inet_ntop(socket.AF_INET6, data[8:24])
    except (OSError, ValueError):
        return None
    return None


def _local_error_text(exc: OSError) -> str:
    """sendto failures in words an administrator expects ('network unreachable (no route)')."""
    known = {errno.ENETUNREACH: "network unreachable (no route from this host)",
             errno.EHOSTUNREACH: "host unreachable (no route from this host)",
             errno.EACCES: "not permitted (broadcast address or firewall)",
             errno.EPERM: "not permitted by the local firewall",
             errno.EADDRNOTAVAIL: "address not available",
             errno.EINVAL: "invalid destination address"}
    return known.get(exc.errno or 0, f"send failed: {exc.strerror or exc}")
