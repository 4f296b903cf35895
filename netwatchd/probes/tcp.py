"""`tcp` probe (Netwatch v7 tcp-conn): can a TCP connection to address:port be opened, and how fast."""

from __future__ import annotations

import errno
import socket
import time

from netwatchd.clock import Clock
from netwatchd.config.model import HostSpec
from netwatchd.models import ProbeResult

_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable (no route from this host)",
    errno.ECONNRESET: "connection reset",
}


def socket_error_text(exc: OSError) -> str:
    """A failed connect in an administrator's words ('connection refused', 'timeout', ...)."""
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, socket.gaierror):
        return f"name does not resolve ({exc.strerror or exc})"
    return _REASONS.get(exc.errno or 0, exc.strerror or str(exc) or type(exc).__name__)


def probe_tcp(host: HostSpec, *, clock: Clock) -> ProbeResult:
    """Connect once to host.address:host.port within host.timeout. Never raises.

    rtt = connect time; detail["tcp_connect_ms"] the same (RouterOS tcp-connect-time).
    """
    at = clock.now()
    if host.port is None:
        return ProbeResult(host=host.name, address=host.address, probe="tcp", at=at, alive=False,
                           error="no port configured for this tcp probe (set port: N)")
    started = time.perf_counter()
    try:
        with socket.create_connection((host.address, host.port), timeout=host.timeout):
            elapsed_ms = (time.perf_counter() - started) * 1000.0
    except OSError as exc:
        return ProbeResult(host=host.name, address=host.address, probe="tcp", at=at, alive=False,
                           sent=1, error=f"{socket_error_text(exc)} (port {host.port})",
                           detail={"port": host.port})
    return ProbeResult.from_rtts(host=host.name, address=host.address, probe="tcp", at=at, sent=1,
                                 rtts_ms=[elapsed_ms],
                                 detail={"port": host.port, "tcp_connect_ms": round(elapsed_ms, 3)})
