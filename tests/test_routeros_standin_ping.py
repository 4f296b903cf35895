"""The stand-in's /ping keeps a router's pace: echoes `interval` apart (1 s by default), one `!re`
streamed per echo when its reply is due, a lost echo reported as a timeout when the next is due,
RouterOS's range checks. Times are lower bounds only (a loaded machine is slower, never faster)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.lab.routeros_wire import encode_sentence, read_sentence

USER, PASSWORD = "netwatchd", "lab-Ping-51c0"


@pytest.fixture
def standin() -> Iterator[RouterOSStandIn]:
    with RouterOSStandIn(USER, PASSWORD) as server:
        yield server


class Timed:
    """A raw API client that notes when each sentence arrived."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.incoming = self.sock.makefile("rb")
        self.send("/login", f"=name={USER}", f"=password={PASSWORD}")
        assert [words for words, _ in self.until_done()] == [["!done"]]

    def send(self, *words: str) -> None:
        self.sent_at = time.monotonic()
        self.sock.sendall(encode_sentence(words))

    def until_done(self) -> list[tuple[list[str], float]]:
        """Every sentence up to !done, with seconds since the last send."""
        sentences = []
        while True:
            words = [w.decode() for w in read_sentence(self.incoming.read)]
            sentences.append((words, time.monotonic() - self.sent_at))
            if words[0] == "!done":
                return sentences


def fields(words: list[str]) -> dict[str, str]:
    return dict(w[1:].split("=", 1) for w in words[1:] if w.startswith("="))


def test_each_echo_streams_when_due_and_a_dead_host_times_out_one_interval_later(standin: RouterOSStandIn) -> None:
    client = Timed(standin.port)
    client.send("/ping", "=address=198.18.1.2", "=count=3", "=interval=200ms")
    alive = client.until_done()
    assert [w[0] for w, _ in alive] == ["!re", "!re", "!re", "!done"]
    arrivals = [at for _, at in alive[:3]]
    assert arrivals[0] < 0.15 and arrivals[1] >= 0.2 and arrivals[2] >= 0.4   # streamed, not batched
    last = fields(alive[2][0])
    assert (last["seq"], last["sent"], last["received"], last["packet-loss"]) == ("2", "3", "3", "0")
    assert {"size", "ttl", "time", "min-rtt", "avg-rtt", "max-rtt"} <= set(last) and "status" not in last

    client.send("/ping", "=address=198.18.4.2", "=count=3", "=interval=200ms")   # Porong: dead
    dead = client.until_done()
    arrivals = [at for _, at in dead[:3]]
    assert arrivals[0] >= 0.2 and arrivals[1] >= 0.4 and arrivals[2] >= 0.6
    rows = [fields(w) for w, _ in dead[:3]]
    assert [r["status"] for r in rows] == ["timeout"] * 3
    assert rows[2] == {"seq": "2", "host": "198.18.4.2", "status": "timeout", "sent": "3", "received": "0",
                       "packet-loss": "100"}


def test_without_interval_the_router_waits_a_second_per_echo(standin: RouterOSStandIn) -> None:
    client = Timed(standin.port)
    client.send("/ping", "=address=198.18.1.2", "=count=2")
    replies = client.until_done()
    assert [at >= 1.0 for _, at in replies] == [False, True, True]


def test_a_pong_later_than_the_interval_is_a_timeout(standin: RouterOSStandIn) -> None:
    standin.set_ping("198.18.9.9", 300.0)          # a 300 ms satellite hop
    client = Timed(standin.port)
    client.send("/ping", "=address=198.18.9.9", "=count=1", "=interval=100ms")
    assert fields(client.until_done()[0][0])["status"] == "timeout"
    client.send("/ping", "=address=198.18.9.9", "=count=1", "=interval=1s")
    assert fields(client.until_done()[0][0])["received"] == "1"


@pytest.mark.parametrize("words, message", [
    (["=interval=1ms"], "value of interval out of range (00:00:00.010..00:00:05)"),
    (["=interval=10s"], "value of interval out of range (00:00:00.010..00:00:05)"),
    (["=count=0"], "value of count out of range (1..4294967295)"),
    (["=count=many"], "value of count out of range (1..4294967295)"),
])
def test_out_of_range_arguments_are_trapped(standin: RouterOSStandIn, words: list[str], message: str) -> None:
    client = Timed(standin.port)
    client.send("/ping", "=address=198.18.1.2", *words)
    assert [w for w, _ in client.until_done()] == [["!trap", f"=message={message}"], ["!done"]]
