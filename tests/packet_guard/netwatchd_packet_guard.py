"""The test suite's packet guard: where packets may go, enforced in every test process.

Installed in the pytest process by tests/conftest.py and in every Python subprocess the tests
start (through the sitecustomize.py beside this file, found via PYTHONPATH). Allowed:
loopback (127.0.0.0/8, ::1) from anywhere, and the lab ranges 198.18.0.0/15 and 2001:2::/48 only from inside a
network namespace other than the machine's own (so a lab address can never be sent to through
the host's default route). Anything else, and any name lookup other than localhost-style names,
is refused with PermissionError and recorded in $NETWATCHD_PACKET_GUARD_LOG; the test session
then fails listing every violation.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import threading
import traceback

LAB = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))  # RFC 2544 / RFC 5180
_ALLOWED_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_INET = (socket.AF_INET, socket.AF_INET6)
_installed = False
_lock = threading.Lock()


def _root_netns() -> int | None:
    """The machine's own namespace: as recorded by the pytest process (which starts in it) for its
    subprocesses, else init's (unreadable in some sandboxes), else this process's own."""
    recorded = os.environ.get("NETWATCHD_PACKET_GUARD_ROOT_NS")
    if recorded:
        return int(recorded)
    for path in ("/proc/1/ns/net", "/proc/self/ns/net"):
        try:
            return os.stat(path).st_ino
        except OSError:
            continue
    return None


_ROOT_NS = _root_netns()


_SIOCGSKNS = 0x894C  # ioctl: an fd for the network namespace a socket belongs to (Linux >= 4.9)


def _in_own_namespace(sock: socket.socket | None = None) -> bool:
    """True when `sock` (or, without one, the calling thread) lives outside the machine's own netns.

    A socket keeps the namespace it was created in, whichever thread later sends on it.
    """
    current: int | None = None
    if sock is not None:
        try:
            import fcntl

            ns_fd = fcntl.ioctl(sock.fileno(), _SIOCGSKNS)
            try:
                current = os.fstat(ns_fd).st_ino
            finally:
                os.close(ns_fd)
        except (OSError, ImportError):
            current = None
    if current is None:
        try:
            current = os.stat("/proc/thread-self/ns/net").st_ino
        except OSError:
            return False
    return _ROOT_NS is not None and current != _ROOT_NS


def _record(what: str) -> None:
    path = os.environ.get("NETWATCHD_PACKET_GUARD_LOG")
    stack = "".join(traceback.format_stack(limit=12)[:-2])
    if path:
        with _lock, open(path, "a", encoding="utf-8") as log:
            log.write(f"pid {os.getpid()}: {what}\n{stack}\n")


def _refuse(what: str) -> None:
    _record(what)
    raise PermissionError(f"packet guard: {what} (tests may reach only loopback and their own namespaces)")


@functools.lru_cache(maxsize=65536)
def _classify(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return "name"
    if ip.is_loopback or ip.is_unspecified:
        return "loopback"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
        if ip.is_loopback:
            return "loopback"
    if any(ip.version == net.version and ip in net for net in LAB):
        return "lab"
    return "outside"


def check_destination(address: object, sock: socket.socket | None = None) -> None:
    """Raise PermissionError (and record it) if a packet to `address` would break the rule."""
    if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
        return
    host = address[0]
    kind = _classify(host)
    if kind == "loopback":
        return
    if kind == "lab":
        if _in_own_namespace(sock):
            return
        _refuse(f"a packet to lab address {host} from the machine's own network namespace")
    if kind == "name":
        if host.lower() in _ALLOWED_NAMES:
            return
        _refuse(f"a connection to the name {host!r}")
    _refuse(f"a packet to {host}")


def check_name(host: object) -> None:
    if host is None or not isinstance(host, (str, bytes)):
        return
    name = host.decode() if isinstance(host, bytes) else host
    kind = _classify(name)
    if kind != "name":
        return
    lowered = name.lower().rstrip(".")
    if lowered in _ALLOWED_NAMES or lowered.endswith((".localhost", ".test")):
        return
    _refuse(f"a name lookup of {name!r}")


def install() -> None:
    """Wrap socket.socket's sending methods and the resolver. Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    cls = socket.socket
    original_connect, original_connect_ex = cls.connect, cls.connect_ex
    original_sendto, original_sendmsg = cls.sendto, cls.sendmsg

    def connect(self: socket.socket, address: object) -> None:
        if self.family in _INET:
            check_destination(address, self)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family in _INET:
            check_destination(address, self)
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, data: bytes, *args: object) -> int:
        if self.family in _INET and args:
            check_destination(args[-1], self)
        return original_sendto(self, data, *args)

    def sendmsg(self: socket.socket, buffers: object, *args: object) -> int:
        if self.family in _INET and len(args) >= 3:
            check_destination(args[2], self)
        return original_sendmsg(self, buffers, *args)

    cls.connect, cls.connect_ex, cls.sendto, cls.sendmsg = connect, connect_ex, sendto, sendmsg  # type: ignore[method-assign]

    original_getaddrinfo, original_gethostbyname = socket.getaddrinfo, socket.gethostbyname

    def getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        check_name(host)
        return original_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        check_name(host)
        return original_gethostbyname(host)

    socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname  # type: ignore[assignment]
