"""The status page server: /, /api/status, /metrics, /healthz — one event loop, bounded, never starved.

One asyncio loop in one thread holds every connection, so an idle or trickling client costs a socket, not a
thread (1,500 slowloris connections used to hold 1,500 threads). Limits: a request head must arrive within
HEAD_TIMEOUT and fit MAX_HEAD bytes; a kept-alive connection idles at most IDLE_TIMEOUT; at most
`max_connections` are open, and when a new one arrives at the cap the oldest connection still waiting for a
request head is closed to make room (so attackers' idle sockets give way to real browsers). Answers are
computed by a pool of WORKERS threads (the snapshot and /metrics can take milliseconds at 10,000 sites), so
threads stay bounded too. The listen backlog is BACKLOG.

`snapshot()` (see netwatchd.web.snapshot) is rebuilt in the background about once per `cache_seconds` while
someone is watching, however many browsers poll, and every request gets the latest encoded bytes at once;
/metrics renders the Metrics registry. With web.username set every path except /healthz needs HTTP basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import resource
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources

from netwatchd.config.model import WebSpec
from netwatchd.errors import ConfigError
from netwatchd.web.metrics import Metrics

log = logging.getLogger(__name__)

BACKLOG = 512
HEAD_TIMEOUT = 10.0          # seconds for a whole request head, from connect or from the previous answer
IDLE_TIMEOUT = 15.0          # a kept-alive connection with no new request
WRITE_TIMEOUT = 15.0         # a client that does not read its answer
WRITE_SLICE = 256 * 1024     # a larger answer is handed to the socket this much at a time
MAX_HEAD = 16 * 1024
MAX_REQUESTS_PER_CONNECTION = 1000
WORKERS = 4
GZIP_LEVEL = 1             # level 2 costs ~10 % more CPU for ~5 % fewer bytes; 3 nearly twice
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            503: "Service Unavailable", 505: "HTTP Version Not Supported"}


def _page() -> bytes:
    return resources.files("netwatchd.web").joinpath("static/index.html").read_bytes()


def default_max_connections() -> int:
    """Half of the open-file limit (the rest is for the store, probes, Telegram and routers), 64 to 2,048."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 2048
    return max(64, min(2048, soft // 2))


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, ready to write."""

    code: int
    body: bytes
    content_type: str
    extra: tuple[tuple[str, str], ...] = ()


class _Built:
    """One build of /api/status: when it started, and the page raw and/or gzip-compressed (a form
    nobody asked for lately is left out and made on demand)."""

    __slots__ = ("started", "raw", "gzip")

    def __init__(self, started: float, raw: bytes | None, packed: bytes | None) -> None:
        self.started = started
        self.raw = raw
        self.gzip = packed


def _gzip(body: bytes) -> bytes:
    """body gzip-compressed at GZIP_LEVEL, mtime 0 (gzip.compress(body, 1, mtime=0) on 3.11+)."""
    return _gzip_parts((body,))


def _gzip_parts(parts: Iterable[bytes]) -> bytes:
    """The pieces joined and gzip-compressed (the same bytes as _gzip() of them joined), without
    joining them first."""
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    out = [packer.compress(part) for part in parts]
    out.append(packer.flush())
    return b"".join(out)


def _text(code: int, text: str) -> Answer:
    return Answer(code, text.encode(), "text/plain; charset=utf-8")


class _Connection:
    """Book-keeping for one client: whether it is between requests (evictable) and its writer."""

    __slots__ = ("writer", "waiting_for_head", "opened", "task")

    def __init__(self, writer: asyncio.StreamWriter, opened: float, task: asyncio.Task[None] | None) -> None:
        self.writer = writer
        self.waiting_for_head = True
        self.opened = opened
        self.task = task


class StatusServer:
    """Serves the status page for `web` (host, port, optional basic auth). `start()` binds (raises
    ConfigError with a one-line fix when the address is taken), `stop()` closes; `.port` is the
    bound port (useful with port 0).

    /api/status never waits for a rebuild while someone is watching: a background thread rebuilds
    the encoded snapshot every `cache_seconds` as long as a request came in the last
    `watch_seconds`, and requests get the latest bytes. Only the first request after an idle spell
    (data older than `max_stale`) builds synchronously. cache_seconds=0 builds on every request.
    After `release_seconds` without a request the page is dropped and `release()` is called (the
    app drops its per-site cache too). The page is kept gzip-compressed only while only gzip
    clients poll; a plain client gets it decompressed once per build.
    """

    def __init__(self, web: WebSpec, *, snapshot: Callable[[], dict | bytes | Iterable[bytes]], metrics: Metrics,
                 health: Callable[[], tuple[bool, str]] | None = None, cache_seconds: float = 1.0,
                 watch_seconds: float = 10.0, release: Callable[[], None] | None = None,
                 release_seconds: float = 60.0, monotonic: Callable[[], float] = time.monotonic,
                 max_connections: int | None = None, head_timeout: float = HEAD_TIMEOUT,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.web = web
        self.snapshot = snapshot
        self.metrics = metrics
        self.health = health or (lambda: (True, "serving"))
        self.page = _page()
        self._cache_seconds = cache_seconds
        self._watch_seconds = watch_seconds
        self._release = release
        self._release_seconds = max(release_seconds, watch_seconds)
        self._max_stale = max(3 * cache_seconds, 2.0) if cache_seconds > 0 else 0.0
        self._monotonic = monotonic
        self._cache: _Built | None = None
        self._build_lock = threading.Lock()
        self._form_lock = threading.Lock()
        self._last_request = self._last_raw_request = self._last_gzip_request = -1e18
        self._stopping = threading.Event()
        self.max_connections = max_connections or default_max_connections()
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._refresher: threading.Thread | None = None
        self._connections: dict[int, _Connection] = {}
        self._bound_port = 0
        self.evicted = 0          # idle connections closed to make room (visible in tests and logs)
        self.refused = 0          # connections answered 503 because every slot was busy with a request

    @property
    def port(self) -> int:
        return self._bound_port or self.web.port

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def _rebuild(self, started: float, *, need: str | None) -> _Built:
        """Build the page in the forms wanted now: gzip while gzip clients polled lately, raw while
        plain clients did, plus `need` ("raw"/"gzip": the form a waiting request wants; None: the
        background). A page given in pieces is compressed piece by piece, so a gzip-only page is
        never held whole (10,000 sites: ~4 MB raw, a tenth or less compressed)."""
        now = self._monotonic()
        lately = self._watch_seconds if self._cache_seconds > 0 else -1.0   # no cache: only what is asked
        want_raw = need == "raw" or now - self._last_raw_request <= lately
        want_gzip = need == "gzip" or now - self._last_gzip_request <= lately or not want_raw
        data = self.snapshot()
        if isinstance(data, dict):
            data = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
        if not isinstance(data, (bytes, bytearray)) and not want_raw:
            built = self._cache = _Built(started, None, _gzip_parts(data))
            return built
        body = bytes(data) if isinstance(data, (bytes, bytearray)) else b"".join(data)
        built = self._cache = _Built(started, body if want_raw else None, _gzip(body) if want_gzip else None)
        return built

    def _current(self, *, raw: bool) -> _Built:
        """The latest build, or a fresh one when there is none or it is too old (> max_stale)."""
        now = self._monotonic()
        self._last_request = now
        if raw:
            self._last_raw_request = now
        else:
            self._last_gzip_request = now
        cached = self._cache
        if cached is not None and now - cached.started <= self._max_stale and self._cache_seconds > 0:
            return cached
        with self._build_lock:
            cached = self._cache   # another request may have just built it
            if cached is not None and self._cache_seconds > 0 and now - cached.started <= self._max_stale:
                return cached
            return self._rebuild(self._monotonic(), need="raw" if raw else "gzip")

    def status_json(self) -> bytes:
        """The encoded snapshot: the latest background build, or a fresh one when too old. When
        only gzip clients polled lately the build holds just the compressed page, and this
        decompresses it (once per build)."""
        return self._form(self._current(raw=True), raw=True)

    def status_json_gzip(self) -> bytes:
        """status_json() gzip-compressed (level 1), compressed at most once per snapshot (by the
        background rebuild while gzip clients poll): 10,000 sites are about 4.4 MB of JSON and a
        tenth of that compressed, for every browser that polls."""
        return self._form(self._current(raw=False), raw=False)

    def _form(self, built: _Built, *, raw: bool) -> bytes:
        """The build's raw or gzip page, made from the other form the first time it is asked for."""
        body = built.raw if raw else built.gzip
        if body is None:
            with self._form_lock:
                body = built.raw if raw else built.gzip
                if body is None and raw:
                    body = built.raw = zlib.decompress(built.gzip or b"", 31)
                elif body is None:
                    body = built.gzip = _gzip(built.raw or b"")
        return body

    def refresh_once(self) -> bool:
        """Rebuild if someone watched recently and the data is older than cache_seconds (what the
        background thread does); returns True when it rebuilt."""
        now = self._monotonic()
        cached = self._cache
        if now - self._last_request > self._watch_seconds:
            if cached is not None and now - self._last_request > self._release_seconds:
                self.release_once()
            return False
        if cached is not None and now - cached.started < self._cache_seconds:
            return False
        with self._build_lock:
            cached = self._cache      # a request may have built it while this waited for the lock
            if cached is not None and self._monotonic() - cached.started < self._cache_seconds:
                return False
            self._rebuild(self._monotonic(), need=None)
        return True

    def release_once(self) -> None:
        """Drop the built page and let the snapshot's source drop what it keeps for it (`release`):
        a page nobody has polled for release_seconds costs no memory; the next request builds it
        afresh (at 10,000 sites ~0.1 s once, then incremental again)."""
        with self._build_lock:
            self._cache = None
            if self._release is not None:
                self._release()

    def _refresh_loop(self) -> None:
        pause = min(0.25, self._cache_seconds / 4)
        while not self._stopping.wait(pause):
            try:
                self.refresh_once()
            except Exception:  # a failing snapshot shows up as a 500 on the next synchronous build
                log.exception("status snapshot failed")
                self._cache = None
                self._stopping.wait(1.0)

    # ---- answering (worker threads) ---------------------------------------------------------
    def _authorised(self, headers: dict[str, str]) -> bool:
        if not self.web.username:
            return True
        header = headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True)
        except ValueError:
            return False
        wanted = f"{self.web.username}:{self.web.password or ''}".encode()
        return hmac.compare_digest(given, wanted)

    def answer(self, method: str, target: str, headers: dict[str, str]) -> Answer:
        """The answer to one request. Never raises: a failure is a 500 with its one-line reason."""
        path = target.split("?", 1)[0]
        try:
            if method not in ("GET", "HEAD"):
                return Answer(405, b"only GET and HEAD\n", "text/plain; charset=utf-8", (("Allow", "GET, HEAD"),))
            if path == "/healthz":
                ok, detail = self.health()
                body = json.dumps({"status": "ok" if ok else "failing", "detail": detail}).encode()
                return Answer(200 if ok else 503, body, "application/json")
            if not self._authorised(headers):
                return Answer(401, b"authentication required\n", "text/plain; charset=utf-8",
                              (("WWW-Authenticate", 'Basic realm="netwatchd", charset="UTF-8"'),))
            if path in ("/", "/index.html"):
                return Answer(200, self.page, "text/html; charset=utf-8")
            if path == "/api/status":
                if "gzip" in headers.get("accept-encoding", ""):
                    return Answer(200, self.status_json_gzip(), "application/json",
                                  (("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")))
                return Answer(200, self.status_json(), "application/json", (("Vary", "Accept-Encoding"),))
            if path == "/metrics":
                if "gzip" in headers.get("accept-encoding", ""):     # Prometheus asks for it
                    return Answer(200, self.metrics.render_gzip(), self.metrics.content_type,
                                  (("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")))
                return Answer(200, self.metrics.render(), self.metrics.content_type, (("Vary", "Accept-Encoding"),))
            return _text(404, "not found: try /, /api/status, /metrics or /healthz\n")
        except Exception as exc:  # the page must never take the agent down
            log.exception("status page error on %s", path)
            return Answer(500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode(), "application/json")

    # ---- the event loop ------------------------------------------------------------------------
    @staticmethod
    def _encode(answer: Answer, *, head_only: bool, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {answer.code} {_REASONS.get(answer.code, 'Unknown')}",
                 f"Content-Type: {answer.content_type}", f"Content-Length: {len(answer.body)}",
                 "Cache-Control: no-store", "X-Content-Type-Options: nosniff",
                 f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        lines += [f"{key}: {value}" for key, value in answer.extra]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + answer.body

    def _make_room(self) -> bool:
        """At the cap: close the oldest connection that is waiting for a request head. False if none is."""
        idle = [c for c in self._connections.values() if c.waiting_for_head]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.opened)
        oldest.writer.transport.abort()
        self._connections.pop(id(oldest.writer), None)
        self.evicted += 1
        if self.evicted in (1, 100) or self.evicted % 10000 == 0:
            log.warning("status page: %d open connections (the cap); closed the oldest idle one to make room "
                        "(%d so far: a client opening connections it does not use?)", self.max_connections,
                        self.evicted)
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        if len(self._connections) >= self.max_connections and not self._make_room():
            self.refused += 1
            writer.write(self._encode(_text(503, "busy: too many connections, try again\n"),
                                      head_only=False, keep_alive=False))
            writer.close()
            return
        connection = _Connection(writer, loop.time(), asyncio.current_task())
        self._connections[id(writer)] = connection
        try:
            for served in range(MAX_REQUESTS_PER_CONNECTION):
                connection.waiting_for_head = True
                wait = self.head_timeout if served == 0 else self.idle_timeout
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
                except asyncio.LimitOverrunError:
                    await self._write(writer, _text(431, "request head too large\n"), False, False)
                    return
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                connection.waiting_for_head = False
                request = self._parse_head(head)
                if isinstance(request, Answer):
                    await self._write(writer, request, False, False)
                    return
                method, target, version, headers = request
                keep_alive = (version == "HTTP/1.1" and method in ("GET", "HEAD")
                              and headers.get("connection", "").lower() != "close"
                              and served + 1 < MAX_REQUESTS_PER_CONNECTION)
                answer = await loop.run_in_executor(self._pool, self.answer, method, target, headers)
                if not await self._write(writer, answer, method == "HEAD", keep_alive) or not keep_alive:
                    return
        finally:
            self._connections.pop(id(writer), None)
            writer.close()

    @staticmethod
    def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]] | Answer:
        try:
            text = head.decode("latin-1")
            request_line, *header_lines = text.split("\r\n")
            method, target, version = request_line.split(" ")
        except ValueError:
            return _text(400, "bad request line\n")
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            return _text(505, "HTTP/1.0 or HTTP/1.1 only\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                return _text(400, "bad header line\n")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers and headers["content-length"] not in ("", "0"):
            return _text(400, "no request bodies here\n")
        return method, target, version, headers

    async def _write(self, writer: asyncio.StreamWriter, answer: Answer, head_only: bool, keep_alive: bool) -> bool:
        try:   # head and body written apart: no copy of a page's ~0.3-4 MB per answer
            writer.write(self._encode(answer, head_only=True, keep_alive=keep_alive))
            if not head_only and answer.body:
                if len(answer.body) <= WRITE_SLICE:
                    writer.write(answer.body)
                else:   # /metrics at 10,000 hosts is ~11 MB: not copied into the transport's buffer
                    await asyncio.wait_for(_write_sliced(writer, answer.body), WRITE_TIMEOUT)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
            return True
        except (asyncio.TimeoutError, ConnectionError):
            return False

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def start(self) -> None:
        """Bind and serve in a background thread. Raises ConfigError (one line with the fix) when the address
        cannot be used."""
        loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(asyncio.start_server(
                self._serve, self.web.host, self.web.port, backlog=BACKLOG, limit=MAX_HEAD, reuse_address=True))
        except OSError as exc:
            loop.close()
            raise ConfigError(f"web: cannot listen on {self.web.host}:{self.web.port}: "
                              f"{exc.strerror or exc} (choose another web.listen port, or web: false "
                              "to turn the status page off)") from None
        self._loop, self._server = loop, server
        self._bound_port = int(server.sockets[0].getsockname()[1])
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="status-page")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run_loop, args=(loop,), name="status-page", daemon=True)
        self._thread.start()
        if self._cache_seconds > 0:
            self._refresher = threading.Thread(target=self._refresh_loop, name="status-snapshot", daemon=True)
            self._refresher.start()
        log.info("status page on http://%s:%d/", self.web.host, self.port)

    def stop(self) -> None:
        """Close the listener and every connection; join the threads (5 s each at most)."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return
        self._stopping.set()

        async def close_all() -> None:
            server.close()
            tasks = [c.task for c in self._connections.values() if c.task is not None]
            for connection in list(self._connections.values()):
                connection.writer.transport.abort()
            if tasks:   # aborted transports end their reads at once; a task inside a worker ends with it
                _, pending = await asyncio.wait(tasks, timeout=2)
                for task in pending:
                    task.cancel()
            self._connections.clear()

        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)
        except Exception:  # stopping must not fail the agent's exit
            log.debug("status page close", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        for thread in (self._thread, self._refresher):
            if thread:
                thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._loop = self._server = None
        self._pool = None
        self._thread = self._refresher = None
        self._bound_port = 0

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _write_sliced(writer: asyncio.StreamWriter, body: bytes) -> None:
    """Write `body` WRITE_SLICE bytes at a time, each once the previous one is on its way (the
    transport copies what the socket does not take at once). Raises ConnectionError."""
    view = memoryview(body)
    for start in range(0, len(view), WRITE_SLICE):
        writer.write(view[start:start + WRITE_SLICE])
        await writer.drain()
