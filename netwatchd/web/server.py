"""The status page server (stdlib ThreadingHTTPServer): /, /api/status, /metrics, /healthz.

`snapshot()` (see netwatchd.web.snapshot) is rebuilt in the background about once per
`cache_seconds` while someone is watching, however many browsers poll, and every request gets the
latest encoded bytes at once; /metrics renders the Metrics registry.
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

from netwatchd.config.model import WebSpec
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
    disable_nagle_algorithm = True   # headers and body go out at once (no 40 ms delayed-ACK stall)
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
    bound port (useful with port 0).

    /api/status never waits for a rebuild while someone is watching: a background thread rebuilds
    the encoded snapshot every `cache_seconds` as long as a request came in the last
    `watch_seconds`, and requests get the latest bytes. Only the first request after an idle spell
    (data older than `max_stale`) builds synchronously. cache_seconds=0 builds on every request.
    """

    def __init__(self, web: WebSpec, *, snapshot: Callable[[], dict | bytes], metrics: Metrics,
                 health: Callable[[], tuple[bool, str]] | None = None, cache_seconds: float = 1.0,
                 watch_seconds: float = 10.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.web = web
        self.snapshot = snapshot
        self.metrics = metrics
        self.health = health or (lambda: (True, "serving"))
        self.page = _page()
        self._cache_seconds = cache_seconds
        self._watch_seconds = watch_seconds
        self._max_stale = max(3 * cache_seconds, 2.0) if cache_seconds > 0 else 0.0
        self._monotonic = monotonic
        self._cache: tuple[float, bytes] | None = None
        self._build_lock = threading.Lock()
        self._last_request = -1e18
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._refresher: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self.web.port
        return int(self._server.server_address[1])

    def _rebuild(self, started: float) -> tuple[float, bytes]:
        data = self.snapshot()
        body = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
        self._cache = (started, body)
        return self._cache

    def status_json(self) -> bytes:
        """The encoded snapshot: the latest background build, or a fresh one when too old."""
        now = self._monotonic()
        self._last_request = now
        cached = self._cache
        if cached is not None and now - cached[0] <= self._max_stale and self._cache_seconds > 0:
            return cached[1]
        with self._build_lock:
            cached = self._cache   # another request may have just built it
            if cached is not None and self._cache_seconds > 0 and now - cached[0] <= self._max_stale:
                return cached[1]
            return self._rebuild(self._monotonic())[1]

    def refresh_once(self) -> bool:
        """Rebuild if someone watched recently and the data is older than cache_seconds (what the
        background thread does); returns True when it rebuilt."""
        now = self._monotonic()
        cached = self._cache
        if now - self._last_request > self._watch_seconds:
            return False
        if cached is not None and now - cached[0] < self._cache_seconds:
            return False
        with self._build_lock:
            self._rebuild(now)
        return True

    def _refresh_loop(self) -> None:
        pause = min(0.25, self._cache_seconds / 4)
        while not self._stopping.wait(pause):
            try:
                self.refresh_once()
            except Exception:  # a failing snapshot shows up as a 500 on the next synchronous build
                log.exception("status snapshot failed")
                self._cache = None
                self._stopping.wait(1.0)

    def start(self) -> None:
        try:
            server = _Server((self.web.host, self.web.port), _Handler)
        except OSError as exc:
            raise ConfigError(f"web: cannot listen on {self.web.host}:{self.web.port}: "
                              f"{exc.strerror or exc} (choose another web.listen port, or web: false "
                              "to turn the status page off)") from None
        server.status = self
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="status-page", daemon=True)
        self._thread.start()
        if self._cache_seconds > 0:
            self._refresher = threading.Thread(target=self._refresh_loop, name="status-snapshot", daemon=True)
            self._refresher.start()
        log.info("status page on http://%s:%d/", self.web.host, self.port)

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in (self._thread, self._refresher):
            if thread:
                thread.join(timeout=5)
        self._server = None
        self._thread = None
        self._refresher = None

    def __enter__(self) -> "StatusServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
