"""The status page under abuse, over real sockets on loopback: idle and trickling connections cost no thread,
time out, give way to real requests at the connection cap; the listen backlog is large; answers stay quick."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from netwatchd.config.model import WebSpec
from netwatchd.web.metrics import Metrics
from netwatchd.web.server import BACKLOG, StatusServer


def _server(**kwargs: object) -> StatusServer:
    return StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=lambda: {"sites": []}, metrics=Metrics(),
                        cache_seconds=0, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def idle_sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _open_idle(port: int, count: int, opened: list[socket.socket], partial: bytes = b"") -> None:
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        if partial:
            sock.sendall(partial)
        opened.append(sock)


def test_1500_idle_connections_hold_no_thread_and_a_real_request_is_answered(idle_sockets) -> None:
    with _server(max_connections=4000) as server:
        before = threading.active_count()
        _open_idle(server.port, 1500, idle_sockets, partial=b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)
        started = time.monotonic()
        reply = requests.get(f"http://127.0.0.1:{server.port}/api/status", timeout=5)
        took = time.monotonic() - started
        assert reply.status_code == 200 and reply.json() == {"sites": []}
        assert server.open_connections >= 1500
        assert threading.active_count() - before <= 4     # the worker pool's threads at most, never one each
        assert took < 2.0, took                           # generous: the point is "not starved"


def test_a_head_that_never_ends_is_closed_after_the_head_timeout(idle_sockets) -> None:
    with _server(head_timeout=0.5) as server:
        _open_idle(server.port, 1, idle_sockets, partial=b"GET / HTTP/1.1\r\nHost: slow")
        sock = idle_sockets[0]
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(100) == b""                      # the server closed it
        assert 0.4 < time.monotonic() - started < 3


def test_at_the_cap_the_oldest_idle_connection_gives_way_to_a_new_one(idle_sockets) -> None:
    with _server(max_connections=50) as server:
        _open_idle(server.port, 50, idle_sockets)
        time.sleep(0.2)
        for _ in range(20):
            assert requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).status_code == 200
        assert server.evicted >= 1 and server.open_connections <= 50 and server.refused == 0
        first = idle_sockets[0]
        first.settimeout(2)
        assert first.recv(10) == b""                      # the oldest idle one was closed


def test_keep_alive_serves_many_requests_on_one_connection_and_head_has_no_body() -> None:
    with _server() as server, requests.Session() as session:
        for _ in range(50):
            assert session.get(f"http://127.0.0.1:{server.port}/api/status", timeout=5).status_code == 200
        reply = session.head(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert reply.status_code == 200 and reply.content == b"" and int(reply.headers["Content-Length"]) > 0
        assert server.open_connections == 1


@pytest.mark.parametrize("raw, code", [
    (b"POST /api/status HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
])
def test_bad_requests_get_their_status_and_the_connection_closes(raw: bytes, code: int) -> None:
    with _server() as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(raw)
        sock.settimeout(5)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data.startswith(f"HTTP/1.1 {code} ".encode()), data[:80]


def test_the_listen_backlog_is_at_least_128() -> None:
    with _server() as server:
        out = subprocess.run(["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True).stdout
        send_q = int(out.split()[2])                       # for a listener ss shows the backlog here
        assert send_q == BACKLOG >= 128


def test_200_concurrent_clients_all_answered(idle_sockets) -> None:
    with _server() as server:
        url = f"http://127.0.0.1:{server.port}/api/status"
        with ThreadPoolExecutor(max_workers=200) as pool:
            codes = list(pool.map(lambda _: requests.get(url, timeout=10).status_code, range(600)))
        assert codes == [200] * 600


def test_api_status_is_gzipped_for_clients_that_accept_it_and_compressed_once_per_snapshot() -> None:
    calls = []

    def snapshot() -> dict:
        calls.append(1)
        return {"sites": [{"name": f"kec-{i}", "state": "up"} for i in range(2000)]}

    server = StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=snapshot, metrics=Metrics(),
                          cache_seconds=60)
    with server:
        url = f"http://127.0.0.1:{server.port}/api/status"
        packed = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=5)
        plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=5)
        assert packed.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
        assert packed.json() == plain.json() and len(plain.json()["sites"]) == 2000
        assert int(packed.headers["Content-Length"]) * 5 < int(plain.headers["Content-Length"])
        assert server.status_json_gzip() is server.status_json_gzip()     # compressed once, then reused
        assert len(calls) == 1
