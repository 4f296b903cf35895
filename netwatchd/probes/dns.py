"""`dns` probe (Netwatch v7 dns): ask the server at host.address for host.dns_name / record_type.

A small RFC 1035 client over UDP written with the standard library (one question, recursion
desired, reply matched by source, id and question). Alive when the server answers NOERROR with at
least one record of the asked type; NXDOMAIN, SERVFAIL, REFUSED, an empty answer or silence fail.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from dataclasses import dataclass

from netwatchd.clock import Clock
from netwatchd.config.model import HostSpec
from netwatchd.models import ProbeResult
from netwatchd.probes.tcp import socket_error_text

RECORD_TYPES: dict[str, int] = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
                                "TXT": 16, "AAAA": 28, "SRV": 33, "CAA": 257}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_RCODE_TEXT = {1: "the server could not parse the query", 2: "server failure",
               3: "name does not exist", 4: "query type not implemented by the server",
               5: "the server refused to answer"}
DNS_PORT = 53


class DnsFormatError(ValueError):
    """A DNS message that cannot be parsed (truncated, bad pointer, wrong question)."""


@dataclass(frozen=True)
class DnsReply:
    query_id: int
    rcode: int
    truncated: bool
    answers: tuple[tuple[int, str], ...]   # (record type, rendered value)


def encode_name(name: str) -> bytes:
    """'www.example.lan' -> length-prefixed labels. Raises ValueError for an unusable name."""
    labels = name.rstrip(".").split(".") if name.strip(".") else []
    out = bytearray()
    for label in labels:
        raw = label.encode("idna") if not label.isascii() else label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label in {name!r} (each label 1-63 characters)")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise ValueError(f"DNS name too long: {name!r} (255 bytes at most)")
    return bytes(out) + b"\x00"


def build_query(name: str, record_type: str, query_id: int) -> bytes:
    """A standard query with recursion desired. Raises ValueError for an unknown type or bad name."""
    code = RECORD_TYPES.get(record_type.upper())
    if code is None:
        raise ValueError(f"unknown DNS record type {record_type!r} (one of {', '.join(RECORD_TYPES)})")
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", code, 1)


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    """Decode a possibly compressed name; returns (name, offset after it in the record)."""
    labels: list[str] = []
    end: int | None = None
    jumps = 0
    while True:
        if offset >= len(message):
            raise DnsFormatError("name runs past the end of the message")
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(message):
                raise DnsFormatError("truncated compression pointer")
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > 64:
                raise DnsFormatError("compression pointer loop")
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), (end if end is not None else offset + 1)
        labels.append(message[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def _render(message: bytes, rtype: int, start: int, length: int) -> str:
    data = message[start:start + length]
    if rtype == 1 and length == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28 and length == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype in (2, 5, 12):
        return _read_name(message, start)[0]
    if rtype == 15 and length >= 3:
        return f"{struct.unpack_from('!H', message, start)[0]} {_read_name(message, start + 2)[0]}"
    if rtype == 16:
        parts, i = [], 0
        while i < len(data):
            parts.append(data[i + 1:i + 1 + data[i]].decode("utf-8", "replace"))
            i += 1 + data[i]
        return "".join(parts)
    return data.hex()


def parse_reply(message: bytes) -> DnsReply:
    """Parse a reply's header and answer section. Raises DnsFormatError when malformed."""
    if len(message) < 12:
        raise DnsFormatError("reply shorter than a DNS header")
    query_id, flags, questions, answer_count, _, _ = struct.unpack_from("!HHHHHH", message, 0)
    if not flags & 0x8000:
        raise DnsFormatError("not a reply (QR bit clear)")
    offset = 12
    for _ in range(questions):
        _, offset = _read_name(message, offset)
        offset += 4
    answers: list[tuple[int, str]] = []
    for _ in range(answer_count):
        _, offset = _read_name(message, offset)
        if offset + 10 > len(message):
            raise DnsFormatError("answer record truncated")
        rtype, _, _, length = struct.unpack_from("!HHIH", message, offset)
        offset += 10
        if offset + length > len(message):
            raise DnsFormatError("answer data truncated")
        answers.append((rtype, _render(message, rtype, offset, length)))
        offset += length
    return DnsReply(query_id=query_id, rcode=flags & 0x000F, truncated=bool(flags & 0x0200),
                    answers=tuple(answers))


def probe_dns(host: HostSpec, *, clock: Clock) -> ProbeResult:
    """One UDP query to host.address (port host.port or 53) within host.timeout. Never raises.

    rtt = query time; detail: dns_rcode, dns_answers, dns_name, record_type.
    """
    at = clock.now()
    name = host.dns_name or ""
    record_type = (host.record_type or "A").upper()
    detail: dict[str, object] = {"dns_name": name, "record_type": record_type}

    def failed(error: str, sent: int = 1) -> ProbeResult:
        return ProbeResult(host=host.name, address=host.address, probe="dns", at=at, alive=False,
                           sent=sent, error=error, detail=detail)

    if not name:
        return failed("no dns_name configured for this dns probe (the name to look up)", sent=0)
    query_id = random.getrandbits(16)
    try:
        query = build_query(name, record_type, query_id)
    except ValueError as exc:
        return failed(str(exc), sent=0)
    port = host.port or DNS_PORT
    started = time.perf_counter()
    try:
        family, _, _, _, server = socket.getaddrinfo(host.address, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(server)  # the kernel then passes only the server's datagrams
            sock.send(query)
            deadline = started + host.timeout
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError()
                sock.settimeout(remaining)
                message = sock.recv(65535)
                try:
                    reply = parse_reply(message)
                except DnsFormatError as exc:
                    return failed(f"malformed DNS reply: {exc}")
                if reply.query_id == query_id:
                    break
    except OSError as exc:
        return failed(f"{socket_error_text(exc)} (DNS server {host.address} port {port})")
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    wanted = RECORD_TYPES[record_type]
    matching = [value for rtype, value in reply.answers if rtype == wanted]
    detail.update(dns_rcode=RCODES.get(reply.rcode, str(reply.rcode)), dns_answers=matching,
                  dns_time_ms=round(elapsed_ms, 3))
    if reply.rcode != 0:
        return failed(f"{_RCODE_TEXT.get(reply.rcode, 'error')} ({RCODES.get(reply.rcode, reply.rcode)}) "
                      f"for {name} {record_type}")
    if not matching:
        extra = " (reply truncated; TCP is not tried)" if reply.truncated else ""
        return failed(f"no {record_type} record for {name}{extra}")
    return ProbeResult.from_rtts(host=host.name, address=host.address, probe="dns", at=at, sent=1,
                                 rtts_ms=[elapsed_ms], detail=detail)
