"""tcp, http, https and dns probes against real listeners on 127.0.0.1, and probe_hosts' table."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatchd.clock import FakeClock
from netwatchd.config.model import HostSpec
from netwatchd.probes import probe_hosts
from netwatchd.probes.dns import DnsFormatError, build_query, parse_reply, probe_dns
from netwatchd.probes.http import probe_http, target_url
from netwatchd.probes.icmp import IcmpEngine
from netwatchd.probes.tcp import probe_tcp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- tcp -------------------------------------------------------------------------------------

def test_tcp_connect_to_a_listener_reports_connect_time(clock: FakeClock):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        result = probe_tcp(HostSpec("db", "127.0.0.1", probe="tcp", port=port), clock=clock)
    assert result.alive and (result.sent, result.received) == (1, 1)
    assert result.detail["tcp_connect_ms"] == result.rtt_avg_ms and 0 < result.rtt_avg_ms < 1000
    assert result.at == clock.now() and result.probe == "tcp"


def test_tcp_refused_port_and_missing_port_fail_with_reasons(clock: FakeClock):
    port = free_port()
    refused = probe_tcp(HostSpec("db", "127.0.0.1", probe="tcp", port=port), clock=clock)
    assert not refused.alive and refused.error == f"connection refused (port {port})"
    assert refused.loss_percent == 100.0
    unset = probe_tcp(HostSpec("db", "127.0.0.1", probe="tcp"), clock=clock)
    assert not unset.alive and "no port configured" in unset.error


def test_tcp_timeout_when_the_backlog_is_full(clock: FakeClock):
    # a listener that never accepts with a full backlog: further SYNs go unanswered
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        result = probe_tcp(HostSpec("db", "127.0.0.1", probe="tcp", port=port, timeout=0.3), clock=clock)
        for filler in fillers:
            filler.close()
    assert not result.alive and result.error == f"timeout (port {port})"


# -- http / https ----------------------------------------------------------------------------

class _StatusHandler(http.server.BaseHTTPRequestHandler):
    """GET /<code> answers with that status code."""

    def do_GET(self) -> None:  # http.server's naming
        code = int(self.path.strip("/") or 200)
        self.send_response(code)
        if 300 <= code < 400:
            self.send_header("Location", "/200")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()


def test_http_status_inside_the_range_is_up_and_outside_is_down(web_server: int, clock: FakeClock):
    def probe(code: int, **extra: object):
        spec = HostSpec("web", "127.0.0.1", probe="http", url=f"http://127.0.0.1:{web_server}/{code}", **extra)
        return probe_http(spec, clock=clock)

    ok = probe(200)
    assert ok.alive and ok.detail["http_status"] == 200 and ok.rtt_avg_ms == ok.detail["http_time_ms"]
    redirect = probe(302)  # not followed: judged by its own code, inside the default 200-399
    assert redirect.alive and redirect.detail["http_status"] == 302
    broken = probe(503)
    assert not broken.alive and broken.error == "HTTP 503 outside 200-399"
    assert broken.detail["http_status"] == 503 and broken.sent == 1 and broken.received == 0
    narrow = probe(302, http_code_min=200, http_code_max=299)
    assert not narrow.alive and narrow.error == "HTTP 302 outside 200-299"
    wanted_404 = probe(404, http_code_min=404, http_code_max=404)
    assert wanted_404.alive


def test_http_url_is_built_from_address_and_port(web_server: int, clock: FakeClock):
    spec = HostSpec("web", "127.0.0.1", probe="http", port=web_server)
    assert target_url(spec) == f"http://127.0.0.1:{web_server}/"
    assert probe_http(spec, clock=clock).alive
    assert target_url(HostSpec("w6", "::1", probe="https")) == "https://[::1]/"


def test_http_refused(clock: FakeClock):
    port = free_port()
    result = probe_http(HostSpec("web", "127.0.0.1", probe="http", port=port), clock=clock)
    assert not result.alive and result.error == "connection refused"


def test_https_self_signed_fails_verification_unless_told_not_to_verify(tls_server, clock: FakeClock):
    port, _ = tls_server
    url = f"https://localhost:{port}/200"
    checked = probe_http(HostSpec("tls", "localhost", probe="https", url=url), clock=clock)
    assert not checked.alive
    assert checked.error.startswith("TLS certificate not trusted: self")  # "self-signed certificate"
    unchecked = probe_http(HostSpec("tls", "localhost", probe="https", url=url, verify_tls=False), clock=clock)
    assert unchecked.alive and unchecked.detail["http_status"] == 200


def test_https_trusted_certificate_reports_days_left(tls_server, clock: FakeClock, monkeypatch):
    port, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust our own CA for this test only
    result = probe_http(HostSpec("tls", "localhost", probe="https", url=f"https://localhost:{port}/204"),
                        clock=clock)
    assert result.alive, result.error
    assert result.detail["http_status"] == 204
    assert 28 <= result.detail["tls_days_left"] <= 30


# -- dns -------------------------------------------------------------------------------------

ZONE = {("router.lab", 1): ["198.18.1.1"], ("router.lab", 28): ["2001:2::1"],
        ("www.lab", 1): ["198.18.1.10", "198.18.1.11"]}


def _answer(query: bytes) -> bytes:
    """A tiny authoritative server for ZONE (compressed answer names, NXDOMAIN otherwise)."""
    query_id, _flags, _qd, _an, _ns, _ar = struct.unpack_from("!HHHHHH", query, 0)
    labels, offset = [], 12
    while query[offset]:
        labels.append(query[offset + 1:offset + 1 + query[offset]].decode())
        offset += 1 + query[offset]
    qtype, _qclass = struct.unpack_from("!HH", query, offset + 1)
    question = query[12:offset + 5]
    name = ".".join(labels).lower()
    if name == "refuse.lab":
        return struct.pack("!HHHHHH", query_id, 0x8185, 1, 0, 0, 0) + question
    if name == "slow.lab":
        return b""
    values = ZONE.get((name, qtype), [])
    known = any(n == name for n, _ in ZONE)
    rcode = 0 if known else 3
    records = b""
    for value in values:
        data = socket.inet_pton(socket.AF_INET if qtype == 1 else socket.AF_INET6, value)
        records += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(data)) + data
    header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, len(values), 0, 0)
    return header + question + records


@pytest.fixture
def dns_server() -> Iterator[int]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            reply = _answer(data)
            if reply:
                sock.sendto(reply, self.client_address)

    server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def dns_host(port: int, name: str, record_type: str = "A", timeout: float = 1.0) -> HostSpec:
    return HostSpec("resolver", "127.0.0.1", probe="dns", port=port, dns_name=name,
                    record_type=record_type, timeout=timeout)


def test_dns_answers_are_read_for_a_and_aaaa(dns_server: int, clock: FakeClock):
    a = probe_dns(dns_host(dns_server, "www.lab"), clock=clock)
    assert a.alive and a.detail["dns_answers"] == ["198.18.1.10", "198.18.1.11"]
    assert a.detail["dns_rcode"] == "NOERROR" and a.rtt_avg_ms == a.detail["dns_time_ms"]
    aaaa = probe_dns(dns_host(dns_server, "Router.Lab.", "AAAA"), clock=clock)
    assert aaaa.alive and aaaa.detail["dns_answers"] == ["2001:2::1"]


def test_dns_failures_say_why(dns_server: int, clock: FakeClock):
    missing = probe_dns(dns_host(dns_server, "nothing.lab"), clock=clock)
    assert not missing.alive and missing.error == "name does not exist (NXDOMAIN) for nothing.lab A"
    empty = probe_dns(dns_host(dns_server, "www.lab", "AAAA"), clock=clock)
    assert not empty.alive and empty.error == "no AAAA record for www.lab"
    refused = probe_dns(dns_host(dns_server, "refuse.lab"), clock=clock)
    assert refused.error == "the server refused to answer (REFUSED) for refuse.lab A"
    silent = probe_dns(dns_host(dns_server, "slow.lab", timeout=0.2), clock=clock)
    assert silent.error == f"timeout (DNS server 127.0.0.1 port {dns_server})"
    closed = probe_dns(dns_host(free_port(), "www.lab"), clock=clock)
    assert closed.error.startswith("connection refused (DNS server 127.0.0.1")
    unset = probe_dns(HostSpec("r", "127.0.0.1", probe="dns"), clock=clock)
    assert not unset.alive and "no dns_name configured" in unset.error
    bad_type = probe_dns(dns_host(dns_server, "www.lab", "BOGUS"), clock=clock)
    assert bad_type.error.startswith("unknown DNS record type 'BOGUS'")


def test_dns_wire_format_round_trip_and_malformed_replies():
    query = build_query("www.lab", "A", 0x1234)
    assert query[:2] == b"\x12\x34" and query.endswith(b"\x03www\x03lab\x00\x00\x01\x00\x01")
    reply = parse_reply(_answer(query))
    assert reply.query_id == 0x1234 and reply.rcode == 0
    assert reply.answers == ((1, "198.18.1.10"), (1, "198.18.1.11"))
    with pytest.raises(DnsFormatError):
        parse_reply(_answer(query)[:-3])          # answer data cut off
    looping = bytearray(_answer(query))
    looping[len(query):len(query) + 2] = struct.pack("!H", 0xC000 | len(query))  # pointer to itself
    with pytest.raises(DnsFormatError, match="loop"):
        parse_reply(bytes(looping))
    with pytest.raises(ValueError, match="label"):
        build_query("a" * 64 + ".lab", "A", 1)


# -- probe_hosts -----------------------------------------------------------------------------

def test_probe_hosts_mixes_types_and_keeps_the_input_order(web_server: int, dns_server: int, clock: FakeClock):
    hosts = [HostSpec("web", "127.0.0.1", probe="http", port=web_server),
             HostSpec("lo", "127.0.0.1", count=2, packet_interval=0.01),
             HostSpec("dns", "127.0.0.1", probe="dns", port=dns_server, dns_name="router.lab"),
             HostSpec("odd", "127.0.0.1", probe="snmp"),
             HostSpec("lo6", "::1", count=1),
             HostSpec("tcp", "127.0.0.1", probe="tcp", port=free_port())]
    try:
        IcmpEngine().check()
    except Exception as exc:  # noqa: BLE001 - unprivileged developer machines; pragma: no cover
        pytest.skip(str(exc))
    results = probe_hosts(hosts, clock=clock)
    assert [r.host for r in results] == ["web", "lo", "dns", "odd", "lo6", "tcp"]
    assert [r.alive for r in results] == [True, True, True, False, True, False]
    assert [r.probe for r in results] == ["http", "icmp", "dns", "snmp", "icmp", "tcp"]
    assert results[3].error.startswith("unknown probe type 'snmp'")


def test_probe_hosts_turns_a_crashing_prober_into_that_host_s_failure(clock: FakeClock, monkeypatch):
    from netwatchd import probes

    def broken(host: HostSpec, *, clock: FakeClock):
        raise RuntimeError("bug")

    monkeypatch.setitem(probes.PROBERS, "tcp", broken)
    [result] = probe_hosts([HostSpec("t", "127.0.0.1", probe="tcp", port=1)], clock=clock)
    assert not result.alive and result.error == "probe crashed: RuntimeError: bug"



def test_http_over_ipv6_builds_a_bracketed_url(clock: FakeClock):
    class V6Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    server = V6Server(("::1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        result = probe_http(HostSpec("web6", "::1", probe="http", port=port), clock=clock)
    finally:
        server.shutdown()
        server.server_close()
    assert result.alive and result.detail["url"] == f"http://[::1]:{port}/"
    assert result.detail["http_status"] == 200


def test_http_a_server_that_trickles_its_answer_fails_within_the_timeout(clock: FakeClock):
    """Each byte comes before the socket timeout, the whole head never does: the probe must give
    up after host.timeout (a probe that never returns leaves its site unjudged for good)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.1):
                try:
                    conn.sendall(b"X")
                except OSError:
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    spec = HostSpec("slow", "127.0.0.1", probe="http", port=listener.getsockname()[1], timeout=0.5)
    found: list = []
    prober = threading.Thread(target=lambda: found.append(probe_http(spec, clock=clock)), daemon=True)
    prober.start()
    prober.join(3.0)
    stop.set()
    listener.close()
    assert found, "the probe was still waiting 3 s after its 0.5 s timeout"
    assert not found[0].alive and "timeout" in found[0].error
