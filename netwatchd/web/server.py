"""The status page server (stdlib ThreadingHTTPServer): /, /api/status, /metrics, /healthz.

`snapshot()` (see netwatchd.web.snapshot) is called at most once per `cache_seconds`, however many
browsers poll, and its JSON encoding is shared; /metrics renders the Metrics registry.
With web.username set every path except /healthz needs HTTP basic auth.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable

from netwatchd.config import WebSpec
from netwatchd.errors import ConfigError
from netwatchd.web.metrics import Metrics

log = logging.getLogger(__name__)


def _page() -> bytes:
    return resources.files("netwatchd.web").joinpath("static/index.html").read_bytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    status: "StatusServer"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("web %s %s", self.address_string(), format % args)

    def _send(self, code: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorised(self) -> bool:
        web = self.server.status.web
        if not web.username:
            return True
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True)
        except ValueError:
            return False
        wanted = f"{web.username}:{web.password or ''}".encode()
        return hmac.compare_digest(given, wanted)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        status = self.server.status
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                ok, detail = status.health()
                body = json.dumps({"status": "ok" if ok else "failing", "detail": detail}).encode()
                self._send(200 if ok else 503, body, "application/json")
                return
            if not self._authorised():
                self._send(401, b"authentication required\n", "text/plain; charset=utf-8",
                           {"WWW-Authenticate": 'Basic realm="netwatchd", charset="UTF-8"'})
                return
            if path in ("/", "/index.html"):
                self._send(200, status.page, "text/html; charset=utf-8")
            elif path == "/api/status":
                self._send(200, status.status_json(), "application/json")
            elif path == "/metrics":
                self._send(200, status.metrics.render(), status.metrics.content_type)
            else:
                self._send(404, b"not found: try /, /api/status, /metrics or /healthz\n",
                           "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # the page must never take the agent down
            log.exception("status page error on %s", path)
            body = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            try:
                self._send(500, body, "application/json")
            except OSError:
                pass


class StatusServer:
    """Serves the status page for `web` (host, port, optional basic auth). `start()` binds (raises
    ConfigError with a one-line fix when the address is taken), `stop()` closes; `.port` is the
    bound port (useful with port 0)."""

    def __init__(self, web: WebSpec, *, snapshot: Callable[[], dict], metrics: Metrics,
                 health: Callable[[], tuple[bool, str]] | None = None, cache_seconds: float = 0.5,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.web = web
        self.snapshot = snapshot
        self.metrics = metrics
        self.health = health or (lambda: (True, "serving"))
        self.page = _page()
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: tuple[float, bytes] | None = None
        self._cache_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self.web.port
        return int(self._server.server_address[1])

    def status_json(self) -> bytes:
        """The encoded snapshot, rebuilt at most once per cache_seconds (one builder at a time)."""
        with self._cache_lock:
            now = self._monotonic()
            if self._cache is None or now - self._cache[0] >= self._cache_seconds:
                body = json.dumps(self.snapshot(), separators=(",", ":"), allow_nan=False).encode()
                self._cache = (now, body)
            return self._cache[1]

    def start(self) -> None:
        try:
            server = _Server((self.web.host, self.web.port), _Handler)
        except OSError as exc:
            raise ConfigError(f"web: cannot listen on {self.web.host}:{self.web.port}: "
                              f"{exc.strerror or exc} (choose another web.listen port, or web: false "
                              "to turn the status page off)") from None
        server.status = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="status-page", daemon=True)
        self._thread.start()
        log.info("status page on http://%s:%d/", self.web.host, self.port)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "StatusServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
