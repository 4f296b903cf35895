"""`http` / `https` probes (Netwatch v7 http-get / https-get): one GET, status code in range, time.

Redirects are not followed (a 301/302 is judged by its own code, inside the default 200-399).
Only the response head is waited for; the body is not downloaded. With verify_tls (default) an
https target must present a certificate valid for its name; detail["tls_days_left"] then says
how long it stays valid. The standard library's http.client is used on purpose: no proxy taken
from the environment (an intranet monitor must reach the site itself), no extra dependency.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from netwatchd.clock import Clock
from netwatchd.config.model import HostSpec
from netwatchd.models import ProbeResult
from netwatchd.probes.tcp import socket_error_text

USER_AGENT = "netwatchd-probe/1"


def target_url(host: HostSpec) -> str:
    """host.url, or scheme://address[:port]/ built from the probe type (IPv6 in brackets)."""
    if host.url:
        return host.url
    scheme = "https" if host.probe == "https" else "http"
    address = f"[{host.address}]" if ":" in host.address and not host.address.startswith("[") else host.address
    port = f":{host.port}" if host.port else ""
    return f"{scheme}://{address}{port}/"


def _tls_context(verify: bool) -> ssl.SSLContext:
    if verify:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def probe_http(host: HostSpec, *, clock: Clock) -> ProbeResult:
    """GET the host's URL within host.timeout; alive when the status is in
    http_code_min..http_code_max. Never raises. rtt = time to the response head;
    detail: http_status, http_time_ms, url (and tls_days_left for verified https)."""
    at = clock.now()
    url = target_url(host)
    parts = urlsplit(url)

    def failed(error: str, **detail: object) -> ProbeResult:
        return ProbeResult(host=host.name, address=host.address, probe=host.probe, at=at,
                           alive=False, sent=1, error=error, detail={"url": url, **detail})

    if parts.scheme not in ("http", "https") or not parts.hostname:
        return failed(f"not an http(s) URL: {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection: http.client.HTTPConnection
    started = time.perf_counter()
    try:
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=host.timeout,
                                                     context=_tls_context(host.verify_tls))
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=host.timeout)
    except ValueError as exc:  # e.g. a bad port in the URL
        return failed(f"bad URL {url!r}: {exc}")
    # host.timeout bounds each socket operation; this bounds the whole answer too (a server that
    # trickles its head a byte at a time would otherwise hold the probe, and its site, for good)
    deadline = _Deadline(connection, host.timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "*/*",
                                                 "Connection": "close"})
        # read the certificate now: getresponse() hands the socket over to the response
        days_left = _certificate_days_left(connection) if parts.scheme == "https" and host.verify_tls else None
        response = connection.getresponse()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        status = response.status
        response.close()
        if deadline.passed:        # the head was cut off by the deadline: not an answer
            return failed("timeout")
    except ssl.SSLCertVerificationError as exc:
        return failed(f"TLS certificate not trusted: {exc.verify_message or exc.reason}")
    except (OSError, http.client.HTTPException) as exc:
        if deadline.passed:
            return failed("timeout")
        if isinstance(exc, ssl.SSLError):
            return failed(f"TLS handshake failed: {exc.reason or exc}")
        if isinstance(exc, OSError):
            return failed(socket_error_text(exc))
        return failed(f"bad HTTP response: {type(exc).__name__} {exc}".strip())
    finally:
        deadline.cancel()
        connection.close()
    detail: dict[str, object] = {"url": url, "http_status": status, "http_time_ms": round(elapsed_ms, 3)}
    if days_left is not None:
        detail["tls_days_left"] = days_left
    if host.http_code_min <= status <= host.http_code_max:
        return ProbeResult.from_rtts(host=host.name, address=host.address, probe=host.probe, at=at,
                                     sent=1, rtts_ms=[elapsed_ms], detail=detail)
    return ProbeResult(host=host.name, address=host.address, probe=host.probe, at=at, alive=False,
                       sent=1, error=f"HTTP {status} outside {host.http_code_min}-{host.http_code_max}",
                       detail=detail)


class _Deadline:
    """Shuts the connection's socket down `seconds` from now, so a blocked read returns."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.passed = False
        self._connection = connection
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.passed = True
        sock = self._connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


def _certificate_days_left(connection: http.client.HTTPConnection) -> float | None:
    sock = connection.sock
    if not isinstance(sock, ssl.SSLSocket):
        return None
    certificate = sock.getpeercert()
    not_after = certificate.get("notAfter") if certificate else None
    if not isinstance(not_after, str):
        return None
    return round((ssl.cert_time_to_seconds(not_after) - time.time()) / 86400.0, 1)
