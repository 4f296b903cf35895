"""A peer that trickles: every byte in time for a per-read timeout, the whole answer never.

`trickling_server(first)` listens on loopback; to each connection it sends `first` (a status line,
a TLS record header, a RouterOS word length) and then one byte every `every` seconds for as long
as the client stays. Tests and scripts/bench_router.py use it to prove that a RouterOS or Telegram
request fails by its whole-request deadline instead of reading for ever.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def trickling_server(first: bytes = b"", every: float = 0.1) -> Iterator[int]:
    """A loopback server (yields its port): to each connection it sends `first`, then one byte
    every `every` s for as long as the peer stays, reading (and ignoring) whatever the peer sends.
    Stopped, and its listener closed, when the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()

    def one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.02)
            try:
                conn.sendall(first)
                while not stop.wait(every):
                    try:
                        conn.recv(65536)
                    except TimeoutError:
                        pass
                    conn.sendall(b"\x01")
            except OSError:
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        server.join(1)
        listener.close()
