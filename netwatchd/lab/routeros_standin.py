"""A RouterOS API stand-in: a real threaded TCP (or TLS, api-ssl) server on loopback.

It speaks the RouterOS API wire protocol (netwatchd.lab.routeros_wire): length-prefixed words, sentences
ended by an empty word, `/login` in both the plain (>= 6.43) and the challenge/md5 (< 6.43) form,
`!re`/`!done`/`!trap`/`!fatal` replies with the request's `.tag` echoed, queries (`?name=v`,
`?=name=v`, `?name`, `?-name`, `?<name=v`, `?>name=v`, `?#|&!.`), `=.proplist=`, `=count-only=`,
and streaming commands that run until `/cancel`.

It serves a believable core router of the Sidoarjo intranet: identity, resource, interfaces (with
byte and packet counters that grow with time), monitor-traffic, addresses, DHCP leases, pools and their
usage, DNS, neighbors, Netwatch and `/ping`. Every table is a plain attribute tests may edit
(`standin.netwatch.append({...})`). A value given as bytes is sent as it is (a comment WinBox wrote in
the PC's cp1252 code page: RouterOS stores bytes and knows no encoding).

It is as strict as a router (docs/notes/rosstrict.md says which source each rule comes from):
- a personality per instance (netwatchd.lab.routeros_personality): `personality="v6"` (6.49.10: dates
  `nov/27/2026 10:00:03`, ping times in whole ms, simple Netwatch entries, no `!empty`) or "v7" (the
  default, 7.15.3), or any `version=` ("7.18.2" sends `!empty`, "7.9" still writes v6-style dates);
- any command before a successful `/login` gets `!fatal` `not logged in` and the connection closes;
- users belong to groups with RouterOS policies (netwatchd.lab.routeros_policy): the default user is
  in group "netwatchd" (read, test, api); `/ping` without `test` or a print without `read` gets
  `!trap =message=not enough permissions (9)`, a group without `api` cannot log in;
- api-ssl (`tls=True`) with a fresh self-signed certificate; `certificate=False`: no certificate,
  like a router in its factory state, offering anonymous-DH suites only (TLS 1.2);
  `certificate="without-key-ids"`: a CA-signed one without key identifiers (strict X.509 rejects it).

`/ping` never sends a packet to an arbitrary address: it answers from `ping_table` (address ->
rtt in ms, or None for a dead host; unknown addresses time out) and only for 127.0.0.0/8 it
really pings (icmplib) when the process may. It keeps the router's pace: echoes `interval` apart
(1 s unless the request says `interval=`, like RouterOS; `ping_interval=` changes that default),
each `!re` streamed when its reply is due, a lost echo reported as `status=timeout` one interval
after it was sent, and no `!done` without a `count`.

Write commands (add/set/remove/enable/...) need the `write` policy, which the default group lacks:
`!trap =message=not enough permissions (9)`; a group that has it still changes nothing. Every received
command is recorded in `.commands` (passwords masked) so tests can prove a client never tried one.

Faults (`set_fault(kind, **params)`): "slow" (delay=seconds before each reply), "drop_mid_reply"
(after=rows sent, then the connection is closed), "trap" (message=, category=), "fatal"
(message=: `!fatal` then close), "trickle" (the reply one byte every `every`=0.1 s: each byte in
time for a per-read timeout, the whole never); `times=N` limits a fault to the next N commands,
`commands={"/ping"}` to some commands. A wrong password gets the real login trap.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from netwatchd.config.durations import parse_duration
from netwatchd.errors import LabError
from netwatchd.lab.routeros_personality import Personality, format_ros_time, format_ros_uptime
from netwatchd.lab.routeros_policy import DEFAULT_GROUPS, NO_PERMISSION, check_group, required_policy
from netwatchd.lab.routeros_policy import WRITE_VERBS as POLICY_WRITE_VERBS
from netwatchd.lab.routeros_wire import WireError, encode_sentence, read_sentence

log = logging.getLogger(__name__)

Row = dict[str, str]


class LiveSource(Protocol):
    """What a stand-in running in a lab namespace reads from that namespace (netwatchd.lab.live)."""

    def ping(self, address: str, size: int, timeout: float) -> float | None: ...
    def interfaces(self) -> list[Row]: ...
    def addresses(self) -> list[Row]: ...
    def arp(self) -> list[Row]: ...
    def routes(self) -> list[Row]: ...
    def log(self) -> list[Row]: ...


BAD_LOGIN = "invalid user name or password (6)"
NOT_LOGGED_IN = "not logged in"
WRITE_VERBS = POLICY_WRITE_VERBS | {"reboot", "shutdown"}
READ_VERBS = {"print", "getall"}
PRINT_ARGUMENTS = {"detail", "stats", "stats-detail", "count-only", "without-paging", "brief", "terse", "as-value",
                   "value-list", "show-ids", "where", "from", "interval", "file", "follow", "follow-only", "append"}
FAULT_KINDS = {None, "slow", "drop_mid_reply", "trap", "fatal", "trickle"}
LAB_NETWORK = ipaddress.ip_network("198.18.0.0/15")
LOOPBACK_NETWORK = ipaddress.ip_network("127.0.0.0/8")
SINGLETON_MENUS = {"/system/identity", "/system/resource", "/ip/dns", "/system/clock"}


# ----------------------------------------------------------------------------- queries

def _compare_values(left: str, right: str) -> int:
    """-1, 0 or 1: as numbers when both are numbers, else as text (RouterOS's `<` and `>` query words)."""
    try:
        a, b = int(left), int(right)
    except ValueError:
        return (left > right) - (left < right)
    return (a > b) - (a < b)


def evaluate_query(row: Row, query_words: Sequence[str]) -> bool:
    """RouterOS's stack machine over one row: every query word pushes or combines booleans; the row
    matches when every value left on the stack is true. Raises ValueError for a malformed word."""
    stack: list[bool] = []
    for word in query_words:
        body = word[1:]
        if body.startswith("#"):
            for op in body[1:]:
                if op == "|":
                    b, a = stack.pop(), stack.pop()
                    stack.append(a or b)
                elif op == "&":
                    b, a = stack.pop(), stack.pop()
                    stack.append(a and b)
                elif op == "!":
                    stack.append(not stack.pop())
                elif op == ".":
                    stack.append(stack[-1])
                elif op.isdigit():
                    stack.append(stack[-1 - int(op)])
                else:
                    raise ValueError(f"unknown query operation {op!r}")
            continue
        if body.startswith("-"):
            stack.append(body[1:] not in row)
            continue
        operator = ""
        if body[:1] in ("<", ">", "="):
            operator, body = body[0], body[1:]
        name, has_value, value = body.partition("=")
        if not has_value and operator == "":
            stack.append(name in row)
        elif operator == "<":
            stack.append(name in row and _compare_values(row[name], value) < 0)
        elif operator == ">":
            stack.append(name in row and _compare_values(row[name], value) > 0)
        else:
            stack.append(_equal(row[name], value) if name in row else value == "")
    return all(stack)


_BOOLEAN_WORDS = {"true": True, "yes": True, "false": False, "no": False}


def _equal(stored: str, wanted: str) -> bool:
    """RouterOS compares by the property's type: a flag matches yes/true and no/false alike."""
    if stored in _BOOLEAN_WORDS and wanted in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[stored] == _BOOLEAN_WORDS[wanted]
    return stored == wanted


# ----------------------------------------------------------------------------- requests and faults

@dataclass
class Request:
    """One parsed command sentence."""

    command: str
    attributes: dict[str, str] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    api_attributes: dict[str, str] = field(default_factory=dict)
    tag: str | None = None

    @classmethod
    def parse(cls, words: Sequence[str]) -> Request:
        request = cls(command=words[0])
        for word in words[1:]:
            if word.startswith("="):
                name, _, value = word[1:].partition("=")  # "=once" (no value) is a flag too
                if name.startswith("."):
                    request.api_attributes[name] = value
                else:
                    request.attributes[name] = value
            elif word.startswith("?"):
                request.queries.append(word)
            elif word.startswith(".tag="):
                request.tag = word[len(".tag="):]
        return request


@dataclass
class Fault:
    kind: str
    params: dict[str, Any]
    remaining: int | None

    def applies(self, command: str) -> bool:
        wanted = self.params.get("commands")
        return (self.remaining is None or self.remaining > 0) and (not wanted or command in wanted)


class _SessionEnd(Exception):
    """The stand-in closes this connection (fatal, dropped, peer gone)."""


# ----------------------------------------------------------------------------- default data

def _default_interfaces(personality: Personality) -> list[Row]:
    rows = [
        {"name": "ether1", "default-name": "ether1", "type": "ether", "mtu": "1500", "mac-address": "48:A9:8A:10:00:01",
         "running": "true", "disabled": "false", "comment": "Uplink Diskominfo — gedung utama", "link-downs": "1"},
        {"name": "sfp-sfpplus1", "default-name": "sfp-sfpplus1", "type": "ether", "mtu": "1500",
         "mac-address": "48:A9:8A:10:00:02", "running": "true", "disabled": "false",
         "comment": "Backbone kecamatan (fiber)", "link-downs": "3"},
        {"name": "ether2", "default-name": "ether2", "type": "ether", "mtu": "1500", "mac-address": "48:A9:8A:10:00:03",
         "running": "true", "disabled": "false", "comment": "Ruang server", "link-downs": "0"},
        {"name": "ether3", "default-name": "ether3", "type": "ether", "mtu": "1500", "mac-address": "48:A9:8A:10:00:04",
         "running": "false", "disabled": "false", "comment": "", "link-downs": "7"},
        {"name": "ether4", "default-name": "ether4", "type": "ether", "mtu": "1500", "mac-address": "48:A9:8A:10:00:05",
         "running": "false", "disabled": "true", "comment": "cadangan", "link-downs": "0"},
        {"name": "bridge-lan", "type": "bridge", "mtu": "1500", "mac-address": "48:A9:8A:10:00:03",
         "running": "true", "disabled": "false", "comment": "", "link-downs": "0"},
    ]
    for row in rows:
        row.setdefault("default-name", "")
        row.update({"actual-mtu": row["mtu"], "l2mtu": "1592",
                    "last-link-up-time": personality.date(datetime(2026, 11, 20, 7, 12, 44)),
                    "dynamic": "false", "slave": "false"})
    return rows


# ----------------------------------------------------------------------------- ping from a namespace

_FPING_RTT = re.compile(r"\[0\], \d+ bytes, ([\d.]+) ms")


def netns_ping_hook(argv_prefix: Sequence[str], timeout_ms: int = 150) -> Callable[[str, int], float | None]:
    """A ping_hook that sends one real echo with fping from inside a lab namespace, e.g.
    `netns_ping_hook(lab.command("core", []))`: the stand-in's /ping then tells what the "router"
    namespace really sees. The stand-in only calls it for addresses in 198.18.0.0/15. `timeout_ms`
    stays under the 200 ms interval netwatchd asks for, so a dead echo costs what it costs a router."""

    def ping(address: str, size: int) -> float | None:
        if ipaddress.ip_address(address) not in LAB_NETWORK:
            return None
        try:
            done = subprocess.run([*argv_prefix, "fping", "-c1", f"-t{timeout_ms}", f"-b{size}", address],
                                  capture_output=True, text=True, timeout=timeout_ms / 1000 + 5)
        except (OSError, subprocess.SubprocessError):
            return None
        match = _FPING_RTT.search(done.stdout)
        return float(match.group(1)) if done.returncode == 0 and match else None

    return ping


# ----------------------------------------------------------------------------- TLS

def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost in `directory`: (cert, key). Raises LabError."""
    cert_path, key_path = directory / "routeros-standin.crt", directory / "routeros-standin.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "routeros-standin")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path
    except ImportError:
        pass
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "30", "-subj", "/CN=routeros-standin",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(key_path), "-out", str(cert_path)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LabError(f"cannot make a TLS certificate for the RouterOS stand-in: {exc} "
                       "(install the 'cryptography' package or openssl)") from None
    return cert_path, key_path


# RouterOS api-ssl with no certificate set (the factory state) can only offer anonymous Diffie-Hellman:
# TLS 1.2 at most (TLS 1.3 has no anonymous suites) and OpenSSL's security level 0.
ADH_ONLY_CIPHERS = ("ADH-AES256-GCM-SHA384:ADH-AES128-GCM-SHA256:ADH-AES256-SHA256:ADH-AES128-SHA256:"
                    "ADH-AES256-SHA:ADH-AES128-SHA:@SECLEVEL=0")
# RFC 7919 group ffdhe2048 (public parameters, as `openssl genpkey -genparam -algorithm DH -pkeyopt
# group:ffdhe2048` writes them): anonymous DH needs DH parameters, and generating fresh ones takes minutes.
FFDHE2048_PEM = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def make_cert_without_key_ids(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 it signed, neither with key identifiers (SKI/AKI), the
    way older certificate generators made them: (ca, cert, key). Strict X.509 checks (Python 3.13's
    default) reject it with "Missing Authority Key Identifier". Raises LabError without `cryptography`."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise LabError("a certificate without key identifiers needs the 'cryptography' package") from None
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "routeros-standin-ca")])
    now = datetime.now(timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
          .not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "core")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (directory / "routeros-standin-ca.crt", directory / "routeros-standin.crt",
             directory / "routeros-standin.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def server_tls_context(directory: Path, *, certificate: bool | str) -> tuple[ssl.SSLContext, Path | None]:
    """The api-ssl server context and the CA file a client should trust. `certificate`: True, a fresh
    self-signed certificate; "without-key-ids", one signed by a CA, neither with key identifiers;
    False, none at all, like a router in its factory state: anonymous DH only. Raises LabError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if certificate == "without-key-ids":
        ca, cert, key = make_cert_without_key_ids(directory)
        context.load_cert_chain(cert, key)
        return context, ca
    if certificate:
        cert, key = make_self_signed_cert(directory)
        context.load_cert_chain(cert, key)
        return context, cert
    dh_params = directory / "ffdhe2048.pem"
    dh_params.write_text(FFDHE2048_PEM, encoding="ascii")
    try:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ADH_ONLY_CIPHERS)
        context.load_dh_params(str(dh_params))
    except (ssl.SSLError, ValueError) as exc:
        raise LabError(f"this OpenSSL cannot serve anonymous-DH api-ssl (a router without a certificate): {exc}") \
            from None
    return context, None


# ----------------------------------------------------------------------------- the server

class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: RouterOSStandIn


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        _Session(self.server.standin, self.request).run()  # type: ignore[attr-defined]


class RouterOSStandIn:
    """See the module docstring. Context manager; `.port`, `.ca_file` (with tls=True)."""

    def __init__(self, username: str = "netwatchd", password: str = "lab-secret", host: str = "127.0.0.1",
                 port: int = 0, identity: str = "core", *, version: str | None = None,
                 personality: str | None = None,
                 tls: bool = False, login_mode: str = "plain", encoding: str = "utf-8",
                 certificate: bool | str = True, group: str = "netwatchd",
                 ping_table: dict[str, float | None] | None = None, ping_interval: float = 1.0,
                 real_loopback_ping: bool = True, timezone_name: str = "Asia/Jakarta",
                 empty_reply: bool | None = None,
                 ping_hook: Callable[[str, int], float | None] | None = None,
                 live: LiveSource | None = None) -> None:
        if login_mode not in ("plain", "challenge"):
            raise ValueError("login_mode must be 'plain' (RouterOS >= 6.43) or 'challenge' (older)")
        # v6 or v7 behaviour follows the version; `personality` picks a typical version of either
        self.personality = Personality(version) if version else Personality.named(personality or "v7")
        self.username, self.password = username, password
        self.lock = threading.RLock()
        self.groups: dict[str, frozenset[str]] = dict(DEFAULT_GROUPS)
        self.users: dict[str, tuple[str, str]] = {}
        self.add_user(username, password, group)
        self.host, self._requested_port = host, port
        self.identity = identity
        self.version = self.personality.version
        self.tls = tls
        if certificate not in (True, False, "without-key-ids"):
            raise ValueError("certificate must be True, False (none: anonymous DH) or 'without-key-ids'")
        self.certificate = certificate
        self.login_mode = login_mode
        self.encoding = encoding
        self.ping_interval = ping_interval
        self.real_loopback_ping = real_loopback_ping
        self.ping_hook = ping_hook   # the lab's own answer for 198.18.0.0/15 addresses not in ping_table
        self.live = live             # a lab namespace: real echoes, links, addresses, ARP, routes, link log
        # RouterOS >= 7.18 sends !empty before !done when a print finds nothing
        self.empty_reply = self.personality.empty_reply if empty_reply is None else empty_reply
        self.tz = ZoneInfo(timezone_name)
        self.started_at = time.time()
        self.uptime_offset = 3 * 86400 + 4 * 3600 + 17 * 60   # it was up before the stand-in started
        self.ca_file: Path | None = None
        now_local = datetime.now(self.tz).replace(microsecond=0)
        self.resource: Row = self.personality.resource()
        self.interfaces: list[Row] = _default_interfaces(self.personality)
        # bits per second each interface carries in each direction (drives monitor-traffic and counters)
        self.traffic: dict[str, tuple[int, int]] = {
            "ether1": (48_200_000, 12_750_000), "sfp-sfpplus1": (13_100_000, 46_900_000),
            "ether2": (2_400_000, 1_100_000), "bridge-lan": (2_400_000, 1_100_000)}
        self.addresses: list[Row] = [
            {"address": "198.18.0.1/24", "network": "198.18.0.0", "interface": "bridge-lan",
             "comment": "LAN Diskominfo"},
            {"address": "198.18.255.1/30", "network": "198.18.255.0", "interface": "ether1", "comment": "uplink"},
            {"address": "198.19.0.1/16", "network": "198.19.0.0", "interface": "sfp-sfpplus1",
             "comment": "backbone kecamatan"},
        ]
        for row in self.addresses:
            row.update({"actual-interface": row["interface"], "invalid": "false", "dynamic": "false",
                        "disabled": "false"})
        self.leases: list[Row] = [
            {"address": "198.18.0.50", "mac-address": "3C:52:82:4A:10:11", "client-id": "1:3c:52:82:4a:10:11",
             "host-name": "PC-Sekretariat", "server": "dhcp-lan", "status": "bound", "expires-after": "8m12s",
             "last-seen": "1m48s", "dynamic": "true", "disabled": "false", "comment": ""},
            {"address": "198.18.0.51", "mac-address": "3C:52:82:4A:10:12", "host-name": "laptop-kabid",
             "server": "dhcp-lan", "status": "bound", "expires-after": "4m1s", "last-seen": "5m59s",
             "dynamic": "true", "disabled": "false", "comment": ""},
            {"address": "198.18.0.20", "mac-address": "00:0C:29:11:22:33", "host-name": "printer-lt2",
             "server": "dhcp-lan", "status": "waiting", "last-seen": "3d2h", "dynamic": "false",
             "disabled": "false", "comment": "Printer lantai 2 — ruang rapat"},
        ]
        self.pools: list[Row] = [
            {"name": "pool-lan", "ranges": "198.18.0.50-198.18.0.200", "next-pool": "none", "comment": ""},
            {"name": "pool-tamu", "ranges": "198.18.2.10-198.18.2.60", "next-pool": "none", "comment": "Wi-Fi tamu"},
        ]
        self.pool_used: list[Row] = [
            {"pool": "pool-lan", "address": "198.18.0.50", "owner": "dhcp-lan", "info": "3C:52:82:4A:10:11"},
            {"pool": "pool-lan", "address": "198.18.0.51", "owner": "dhcp-lan", "info": "3C:52:82:4A:10:12"},
        ]
        self.dns: Row = {"servers": "198.18.0.53,198.18.0.54", "dynamic-servers": "", "use-doh-server": "",
                         "verify-doh-cert": "false", "allow-remote-requests": "true", "max-udp-packet-size": "4096",
                         "query-server-timeout": "2s", "query-total-timeout": "10s", "max-concurrent-queries": "100",
                         "cache-size": "2048KiB", "cache-max-ttl": "1w", "cache-used": "412KiB"}
        self.neighbors: list[Row] = [
            {"interface": "sfp-sfpplus1", "address": "198.19.15.1", "mac-address": "48:A9:8A:20:15:01",
             "identity": "kec-waru", "platform": "MikroTik", "version": "7.14.3 (stable)", "board": "RB4011iGS+",
             "uptime": "12d4h", "interface-name": "sfp-sfpplus1"},
            {"interface": "sfp-sfpplus1", "address": "198.19.1.1", "mac-address": "48:A9:8A:20:01:01",
             "identity": "kec-sidoarjo", "platform": "MikroTik", "version": "6.49.10 (long-term)",
             "board": "RB750Gr3", "uptime": "40d1h", "interface-name": "sfp-sfpplus1"},
        ]
        self.netwatch: list[Row] = self.personality.netwatch(now_local)
        # /system/health as numbers (None: the board has no such sensor), printed per personality
        self.health: dict[str, float | None] = {"voltage": 24.1, "temperature": 41.0}
        self.arp: list[Row] = [
            {"address": "198.19.15.1", "mac-address": "48:A9:8A:20:15:01", "interface": "sfp-sfpplus1",
             "status": "reachable", "complete": "true"},
            {"address": "198.19.1.1", "mac-address": "48:A9:8A:20:01:01", "interface": "sfp-sfpplus1",
             "status": "stale", "complete": "true"},
            {"address": "198.18.0.50", "mac-address": "3C:52:82:4A:10:11", "interface": "bridge-lan",
             "status": "reachable", "complete": "true"},
        ]
        for row in self.arp:
            row.update({"published": "false", "invalid": "false", "DHCP": "false", "dynamic": "true",
                        "disabled": "false"})
        self.routes: list[Row] = [
            {"dst-address": "0.0.0.0/0", "gateway": "198.18.255.2", "immediate-gw": "198.18.255.2%ether1",
             "distance": "1", "active": "true", "static": "true"},
            {"dst-address": "198.19.16.0/20", "gateway": "198.19.15.1", "immediate-gw": "198.19.15.1%sfp-sfpplus1",
             "distance": "1", "active": "true", "static": "true"},
        ]
        self.log: list[Row] = [self._log_row("system,info", "router rebooted"),
                               self._log_row("interface,info", "ether3 link down")]
        self.ping_table: dict[str, float | None] = dict(ping_table) if ping_table is not None else {
            "198.18.0.1": 0.21, "198.18.1.2": 1.8, "198.18.3.2": 2.4, "198.18.15.2": 1.2,
            "198.18.4.2": None, "198.18.0.10": 0.9}
        self.commands: list[list[str]] = []
        self.logins = 0
        self._fault: Fault | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sessions: set[socket.socket] = set()
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._ssl_context: ssl.SSLContext | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> RouterOSStandIn:
        """Listen and serve in a background thread. Raises LabError if the port is taken."""
        if self.tls:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="routeros-standin-")
            self._ssl_context, self.ca_file = server_tls_context(Path(self._tmpdir.name),
                                                                 certificate=self.certificate)
        try:
            self._server = _Server((self.host, self._requested_port), _Handler)
        except OSError as exc:
            raise LabError(f"RouterOS stand-in cannot listen on {self.host}:{self._requested_port}: "
                           f"{exc.strerror or exc}") from None
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="routeros-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.drop_connections()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> RouterOSStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise LabError("the RouterOS stand-in is not started")
        return int(self._server.server_address[1])

    def drop_connections(self) -> None:
        """Close every open API session (like a router reboot); the listener stays up."""
        with self.lock:
            sessions = list(self._sessions)
        for sock in sessions:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- faults and data helpers ------------------------------------------------------------------

    def set_fault(self, kind: str | None, *, times: int | None = None, **params: Any) -> None:
        """Make the next commands (or `times` of them) misbehave; kind None clears. Raises ValueError."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(k for k in FAULT_KINDS if k)} or None")
        with self.lock:
            self._fault = None if kind is None else Fault(kind, dict(params), times)

    def add_user(self, name: str, password: str, group: str = "netwatchd") -> None:
        """A user of `group` (one of `.groups`: full, write, read, netwatchd, or one added with
        set_group). Raises ValueError for an unknown group."""
        if group not in self.groups:
            raise ValueError(f"unknown user group {group!r}; one of {', '.join(sorted(self.groups))}")
        with self.lock:
            self.users[name] = (password, group)

    def set_group(self, name: str, policies: set[str] | frozenset[str]) -> None:
        """Create or change a user group, e.g. set_group("netwatchd", {"read", "api"}) takes `test` away.
        Raises ValueError for an unknown policy."""
        with self.lock:
            self.groups[name] = check_group(policies)

    def policies_of(self, user: str) -> frozenset[str]:
        with self.lock:
            entry = self.users.get(user)
            return self.groups.get(entry[1], frozenset()) if entry else frozenset()

    def set_ping(self, address: str, rtt_ms: float | None) -> None:
        """What /ping answers for `address`: rtt in ms, or None for a host that does not reply."""
        self.ping_table[address] = rtt_ms

    def set_netwatch_status(self, host: str, status: str) -> int:
        """Flip the Netwatch entries watching `host` to up/down/unknown as the router would: `since`
        becomes now (router local time, v6 or v7 format) when the status changes. Returns how many
        entries changed. Raises ValueError for another status."""
        if status not in ("up", "down", "unknown"):
            raise ValueError("a Netwatch status is up, down or unknown")
        since = self.personality.date(datetime.now(self.tz))
        changed = 0
        with self.lock:
            for row in self.netwatch:
                if row.get("host") == host and row.get("status") != status:
                    row.update({"status": status, "since": since})
                    changed += 1
        return changed

    def session_count(self) -> int:
        with self.lock:
            return len(self._sessions)

    def _take_fault(self, command: str) -> Fault | None:
        with self.lock:
            fault = self._fault
            if fault is None or command == "/login" or not fault.applies(command):
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
            return fault

    def _record(self, words: Sequence[str]) -> None:
        masked = [("=password=***" if w.startswith("=password=") else
                   "=response=***" if w.startswith("=response=") else w) for w in words]
        with self.lock:
            self.commands.append(masked)

    # -- menus ------------------------------------------------------------------------------------

    def _uptime_seconds(self) -> float:
        return time.time() - self.started_at + self.uptime_offset

    def restart(self) -> None:
        """Behave like a router that just booted (a power cut): uptime from zero, every API session
        dropped, the log starting over with "router rebooted"."""
        with self.lock:
            self.started_at, self.uptime_offset = time.time(), 0
            self.log = [self._log_row("system,info", "router rebooted")]
        self.drop_connections()

    def add_log(self, topics: str, message: str) -> None:
        """Append one /log entry (the router's own time), as RouterOS keeps them (1000 in memory)."""
        with self.lock:
            self.log.append(self._log_row(topics, message))
            del self.log[:-1000]

    def _log_row(self, topics: str, message: str) -> Row:
        return {"time": self.personality.date(datetime.now(self.tz)), "topics": topics, "message": message}

    def _menu_rows(self, menu: str, request: Request) -> list[Row] | None:
        """Rows of a printable menu, or None when the menu does not exist."""
        if menu == "/system/identity":
            return [{"name": self.identity}]
        if menu == "/system/resource":
            return [{"uptime": format_ros_uptime(self._uptime_seconds()), **self.resource}]
        if menu == "/system/clock":
            now = datetime.now(self.tz)
            return [{"time": now.strftime("%H:%M:%S"), "date": now.strftime("%Y-%m-%d"),
                     "time-zone-autodetect": "false", "time-zone-name": str(self.tz), "gmt-offset": "+07:00",
                     "dst-active": "false"}]
        if menu == "/interface":
            # Over the API a print returns every property, counters included; =stats= only changes the
            # CLI's columns (homeassistant-mikrotik_router reads rx-byte from a plain /interface print).
            return self.live.interfaces() if self.live is not None else self._interface_rows()
        if menu == "/system/health":
            return self.personality.health_rows(self.health)
        live = self.live
        if live is not None and menu in ("/ip/address", "/ip/arp", "/ip/route", "/log"):
            rows = {"/ip/address": live.addresses, "/ip/arp": live.arp, "/ip/route": live.routes,
                    "/log": live.log}[menu]()
            if menu == "/log":
                with self.lock:
                    rows = [dict(row) for row in self.log] + rows
            return rows
        table = {"/ip/address": self.addresses, "/ip/dhcp-server/lease": self.leases, "/ip/pool": self.pools,
                 "/ip/pool/used": self.pool_used, "/ip/neighbor": self.neighbors, "/tool/netwatch": self.netwatch,
                 "/ip/arp": self.arp, "/ip/route": self.routes, "/log": self.log}
        if menu in table:
            with self.lock:
                return [dict(row) for row in table[menu]]
        if menu == "/ip/dns":
            return [dict(self.dns)]
        return None

    def _interface_rows(self) -> list[Row]:
        elapsed = self._uptime_seconds()
        rows = []
        with self.lock:
            interfaces = [dict(row) for row in self.interfaces]
        for index, row in enumerate(interfaces):
            rx_bps, tx_bps = self.traffic.get(row["name"], (0, 0)) if row.get("running") == "true" else (0, 0)
            rx_bytes, tx_bytes = int(rx_bps * elapsed / 8), int(tx_bps * elapsed / 8)
            row.update({"rx-byte": str(rx_bytes), "tx-byte": str(tx_bytes),
                        "rx-packet": str(rx_bytes // 900), "tx-packet": str(tx_bytes // 900),
                        "rx-drop": "0", "tx-drop": "0", "tx-queue-drop": str(index * 3),
                        "rx-error": "0", "tx-error": "0", "fp-rx-byte": str(rx_bytes),
                        "fp-tx-byte": "0", "fp-rx-packet": str(rx_bytes // 900), "fp-tx-packet": "0"})
            rows.append(row)
        return rows

    def _monitor_traffic_row(self, name: str) -> Row | None:
        with self.lock:
            known = {row["name"]: row for row in self.interfaces}
        if name not in known:
            return None
        running = known[name].get("running") == "true"
        rx, tx = self.traffic.get(name, (0, 0)) if running else (0, 0)
        wobble = 1 + (secrets.randbelow(41) - 20) / 1000  # +-2 %, like a live counter
        rx, tx = int(rx * wobble), int(tx * wobble)
        return {"name": name, "rx-packets-per-second": str(rx // 7200), "rx-bits-per-second": str(rx),
                "fp-rx-packets-per-second": str(rx // 7200), "fp-rx-bits-per-second": str(rx),
                "rx-drops-per-second": "0", "rx-errors-per-second": "0",
                "tx-packets-per-second": str(tx // 7200), "tx-bits-per-second": str(tx),
                "fp-tx-packets-per-second": "0", "fp-tx-bits-per-second": "0",
                "tx-drops-per-second": "0", "tx-queue-drops-per-second": "0", "tx-errors-per-second": "0"}

    def ping_once(self, address: str, size: int, timeout: float = 1.0) -> float | None:
        """RTT in ms for one echo to `address` as the lab knows it, or None (lost): `ping_table` first,
        then `live` (a real echo from the router's lab namespace) or `ping_hook` (only for lab
        addresses in 198.18.0.0/15), then 127.0.0.0/8 for real. Anything else is lost without a
        packet being sent. A real echo is waited for at most `timeout` s."""
        if address in self.ping_table:
            rtt = self.ping_table[address]
            return None if rtt is None else rtt * (1 + (secrets.randbelow(201) - 100) / 1000)
        parsed: ipaddress.IPv4Address | ipaddress.IPv6Address | None
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            parsed = ipaddress.ip_address("127.0.0.1") if address == "localhost" else None
        if parsed is None:
            return None
        if self.live is not None and parsed in LAB_NETWORK:
            return self.live.ping(address, size, timeout)
        if self.ping_hook is not None and parsed in LAB_NETWORK:
            return self.ping_hook(address, size)
        if parsed not in LOOPBACK_NETWORK:
            return None
        if self.real_loopback_ping:
            try:
                import icmplib

                host = icmplib.ping(address, count=1, timeout=timeout, payload_size=size,
                                    privileged=os.geteuid() == 0)
                return host.avg_rtt if host.is_alive else None
            except Exception:  # noqa: BLE001 - no ICMP permission: answer like loopback does
                pass
        return 0.05


# ----------------------------------------------------------------------------- one API session

class _Stream:
    """A command that runs for a while (a ping, monitor-traffic without once) in its own thread, as
    RouterOS runs the commands of one session at once; `/cancel =tag=` stops it."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.stop = threading.Event()
        self.cancel: Request | None = None      # the /cancel that stopped it


class _Session:
    """One client connection: read sentences, answer them, until the peer leaves or a fault ends it.

    Quick commands are answered in the reading thread, in order; a streaming command runs in a thread
    of its own, so a second command (tagged, as RouterOS expects) is answered while it streams, and
    several pings of one session run at the same time. Writes are whole sentences under one lock."""

    def __init__(self, standin: RouterOSStandIn, sock: socket.socket) -> None:
        self.standin = standin
        self.raw_sock = sock
        self.sock: socket.socket = sock
        self.logged_in = False
        self.user: str | None = None
        self.challenge: str | None = None
        self.buffer = b""
        self._local = threading.local()   # per thread: reply sentences not yet sent, the stream it runs
        self.write_lock = threading.Lock()
        self.streams: dict[str, _Stream] = {}
        self.streams_lock = threading.Lock()

    @property
    def outgoing(self) -> bytearray:
        """This thread's reply sentences not yet sent (one sendall per reply, not per sentence)."""
        buffer = getattr(self._local, "outgoing", None)
        if buffer is None:
            buffer = self._local.outgoing = bytearray()
        return buffer

    def run(self) -> None:
        with self.standin.lock:
            self.standin._sessions.add(self.raw_sock)
        try:
            self.raw_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small sentences, no Nagle stalls
            if self.standin._ssl_context is not None:
                self.sock.settimeout(10)
                self.sock = self.standin._ssl_context.wrap_socket(self.sock, server_side=True)
                self.sock.settimeout(None)
            while True:
                words = self._read_sentence()
                if words is None:
                    return
                if words:
                    self._answer(words)
                    self._flush()
        except (_SessionEnd, OSError, WireError, ssl.SSLError):
            return
        finally:
            with self.streams_lock:
                for stream in self.streams.values():
                    stream.stop.set()
            with self.standin.lock:
                self.standin._sessions.discard(self.raw_sock)
            try:
                self.sock.close()
            except OSError:
                pass

    # -- io ---------------------------------------------------------------------------------------

    def _read_exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise _SessionEnd()
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _read_sentence(self) -> list[str] | None:
        try:
            raw = read_sentence(self._read_exactly)
        except _SessionEnd:
            return None
        return [w.decode(self.standin.encoding, errors="replace") for w in raw]

    def _send(self, reply: str, attributes: Row | None = None, tag: str | None = None) -> None:
        encoding = self.standin.encoding
        # a value given as bytes goes on the wire as it is: text a router holds in a legacy code page
        words: list[str | bytes] = [reply, *(
            f"={k}=".encode(encoding) + v if isinstance(v, bytes) else f"={k}={v}"
            for k, v in (attributes or {}).items())]
        if tag is not None:
            words.append(f".tag={tag}")
        self.outgoing.extend(encode_sentence(words, self.standin.encoding))

    def _flush(self) -> None:
        buffer = self.outgoing
        if buffer:
            data = bytes(buffer)
            buffer.clear()
            with self.write_lock:
                self.sock.sendall(data)

    def _trap(self, message: str, tag: str | None, category: str | None = None) -> None:
        attributes = {"category": category} if category is not None else {}
        attributes["message"] = message
        self._send("!trap", attributes, tag)
        self._send("!done", None, tag)

    def _fatal(self, message: str) -> None:
        self.outgoing.extend(encode_sentence(["!fatal", message], self.standin.encoding))
        self._flush()
        raise _SessionEnd()

    # -- dispatch ---------------------------------------------------------------------------------

    def _answer(self, words: list[str]) -> None:
        standin = self.standin
        standin._record(words)
        request = Request.parse(words)
        if request.command == "/login":
            self._login(request)
            return
        if request.command == "/quit":
            self._fatal("session terminated on request")
        if not self.logged_in:
            # a command before a successful /login: the router ends the session
            self._fatal(NOT_LOGGED_IN)
        policy = required_policy(request.command)
        if policy is not None and self.user is not None and policy not in standin.policies_of(self.user):
            self._trap(NO_PERMISSION, request.tag)
            return
        if request.command == "/cancel":
            self._cancel(request)
            return
        fault = standin._take_fault(request.command)
        if fault is not None and fault.kind == "slow":
            time.sleep(float(fault.params.get("delay", 2.0)))
        elif fault is not None and fault.kind == "trap":
            self._trap(str(fault.params.get("message", "failure: simulated by the stand-in")), request.tag,
                       fault.params.get("category"))
            return
        elif fault is not None and fault.kind == "fatal":
            self._fatal(str(fault.params.get("message", "session terminated by the stand-in")))
        elif fault is not None and fault.kind == "trickle":
            for reply, attributes in self._replies(request):
                self._send(reply, attributes, request.tag)
            data = bytes(self.outgoing)
            self.outgoing.clear()
            every = float(fault.params.get("every", 0.1))
            for index in range(len(data)):      # ends when the client gives up and closes
                with self.write_lock:
                    self.sock.sendall(data[index:index + 1])
                time.sleep(every)
            return
        drop_after = int(fault.params.get("after", 1)) if fault is not None and fault.kind == "drop_mid_reply" else None
        if request.command in ("/ping", "/tool/ping") or (
                request.command == "/interface/monitor-traffic" and "once" not in request.attributes):
            stream = _Stream(request)
            with self.streams_lock:
                self.streams[request.tag or ""] = stream
            threading.Thread(target=self._run_stream, args=(stream, drop_after), daemon=True,
                             name="routeros-standin-stream").start()
            return
        self._respond(request, drop_after)

    def _run_stream(self, stream: _Stream, drop_after: int | None) -> None:
        self._local.stream = stream
        try:
            self._respond(stream.request, drop_after)
            self._flush()
        except (_SessionEnd, OSError, ssl.SSLError):
            try:
                self.raw_sock.shutdown(socket.SHUT_RDWR)      # the reading thread ends the session
            except OSError:
                pass
        finally:
            with self.streams_lock:
                if self.streams.get(stream.request.tag or "") is stream:
                    del self.streams[stream.request.tag or ""]

    def _cancel(self, request: Request) -> None:
        """`/cancel =tag=N` stops that command, `/cancel` every one; the stopped command answers
        `interrupted`, then this /cancel gets its !done (from the stream's thread)."""
        wanted = request.attributes.get("tag")
        with self.streams_lock:
            targets = [s for tag, s in self.streams.items() if wanted is None or tag == wanted]
        if not targets:
            self._send("!done", None, request.tag)
            return
        for stream in targets:
            stream.cancel = request if stream is targets[-1] else None
            stream.stop.set()

    def _respond(self, request: Request, drop_after: int | None) -> None:
        sent = 0
        for reply, attributes in self._replies(request):
            if drop_after is not None and (sent >= drop_after or reply == "!done"):
                # half a reply, then the line goes dead: close without !done
                self._flush()
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                raise _SessionEnd()
            self._send(reply, attributes, request.tag)
            sent += 1

    def _login(self, request: Request) -> None:
        standin, attrs = self.standin, request.attributes
        name = attrs.get("name", "")
        with standin.lock:
            password = standin.users[name][0] if name in standin.users else None
        may_use_api = "api" in standin.policies_of(name)
        if "response" in attrs and "name" in attrs:
            expected = None
            if standin.login_mode == "challenge" and self.challenge is not None and password is not None:
                # RouterOS's pre-6.43 login is MD5
                digest = hashlib.md5(b"\x00" + password.encode(standin.encoding)
                                     + bytes.fromhex(self.challenge), usedforsecurity=False).hexdigest()
                expected = "00" + digest
            if expected is not None and attrs["response"] == expected and may_use_api:
                self._logged_in(name, request.tag)
            else:
                self._trap(BAD_LOGIN, request.tag)
            return
        if standin.login_mode == "plain" and "name" in attrs and "password" in attrs:
            # a group without the api policy cannot log in over the API (refused like a bad password)
            if password is not None and attrs["password"] == password and may_use_api:
                self._logged_in(name, request.tag)
            else:
                self._trap(BAD_LOGIN, request.tag)
            return
        # a bare /login (or, before 6.43, a plain one): hand out a challenge
        self.challenge = secrets.token_hex(16)
        self._send("!done", {"ret": self.challenge}, request.tag)

    def _logged_in(self, user: str, tag: str | None) -> None:
        self.logged_in, self.user = True, user
        with self.standin.lock:
            self.standin.logins += 1
        self._send("!done", None, tag)

    def _replies(self, request: Request) -> Iterator[tuple[str, Row | None]]:
        """The reply sentences for one command (lazily, so streaming commands can run until /cancel)."""
        command = request.command
        if command in ("/ping", "/tool/ping"):
            for reply, row in self._ping(request):   # written in v7 style; a v6 router writes whole ms
                yield reply, self.standin.personality.restyle_ping_row(row)
            return
        if command == "/interface/monitor-traffic":
            yield from self._monitor_traffic(request)
            return
        menu, _, verb = command.rpartition("/")
        probe_rows = self.standin._menu_rows(menu, request) if menu else None
        if probe_rows is None:
            yield from self._error("no such command prefix")
            return
        if verb in WRITE_VERBS:  # the user's group allows it (checked before): the stand-in still will not
            yield from self._error("failure: the RouterOS stand-in never changes its configuration")
            return
        if verb not in READ_VERBS:
            yield from self._error("no such command")
            return
        unknown = sorted(set(request.attributes) - PRINT_ARGUMENTS)
        if unknown:
            yield from self._error(f"unknown parameter {unknown[0]}")
            return
        rows = probe_rows
        if menu not in SINGLETON_MENUS and not (menu == "/system/health" and self.standin.personality.v6):
            rows = [{".id": row.get(".id", f"*{index + 1:X}"), **row} for index, row in enumerate(rows)]
        try:
            rows = [row for row in rows if evaluate_query(row, request.queries)]
        except (ValueError, IndexError):
            yield from self._error("unknown parameter")
            return
        if "count-only" in request.attributes:
            yield "!done", {"ret": str(len(rows))}
            return
        proplist = request.api_attributes.get(".proplist")
        for row in rows:
            if proplist is not None:
                row = {k: row[k] for k in proplist.split(",") if k in row}
            yield "!re", row
        if not rows and self.standin.empty_reply:
            yield "!empty", None
        yield "!done", None

    @staticmethod
    def _error(message: str) -> Iterator[tuple[str, Row | None]]:
        yield "!trap", {"message": message}
        yield "!done", None

    def _stream_pause(self, seconds: float) -> bool:
        """Wait between streamed rows; True when the command was cancelled (or the session ends)."""
        self._flush()
        stream: _Stream | None = getattr(self._local, "stream", None)
        if stream is None:           # not in a stream's thread (cannot happen): just wait
            time.sleep(max(0.0, seconds))
            return False
        return stream.stop.wait(max(0.0, seconds))

    def _interrupted(self) -> Iterator[tuple[str, Row | None]]:
        yield "!trap", {"category": "2", "message": "interrupted"}
        yield "!done", None
        stream: _Stream | None = getattr(self._local, "stream", None)
        if stream is not None and stream.cancel is not None:
            self._send("!done", None, stream.cancel.tag)
            stream.cancel = None

    def _ping(self, request: Request) -> Iterator[tuple[str, Row | None]]:
        """RouterOS's /ping: echo n is sent at n × interval (1 s unless `interval=`, 10ms..5s), its
        `!re` streams out when the reply arrives (after its rtt), or as `status=timeout` when no
        reply came before the next echo was due; `!done` after `count` echoes, never without one
        (until /cancel). Rows carry the running totals, like the router's."""
        attrs = request.attributes
        address = attrs.get("address", "")
        if not address:
            yield from self._error("missing value(s) of argument(s) address")
            return
        try:
            count = int(attrs["count"]) if attrs.get("count") else None
            if count is not None and not 1 <= count <= 4294967295:
                raise ValueError("count")
        except ValueError:
            yield from self._error("value of count out of range (1..4294967295)")
            return
        try:
            size = int(attrs.get("size") or 56)
        except ValueError:
            yield from self._error("value of size out of range (14..65535)")
            return
        try:
            interval = parse_duration(attrs["interval"]) if attrs.get("interval") else self.standin.ping_interval
            if attrs.get("interval") and not 0.01 <= interval <= 5.0:
                raise ValueError("interval")
        except ValueError:
            yield from self._error("value of interval out of range (00:00:00.010..00:00:05)")
            return
        rtts: list[float] = []
        seq = 0
        started = time.monotonic()
        while count is None or seq < count:
            sent_at = started + seq * interval
            if self._stream_pause(sent_at - time.monotonic()):
                yield from self._interrupted()
                return
            rtt = self.standin.ping_once(address, size, timeout=interval)
            if rtt is not None and rtt / 1000 >= interval:
                rtt = None            # the pong came after the next echo was due: RouterOS calls it a timeout
            answered_at = sent_at + (interval if rtt is None else rtt / 1000)
            if self._stream_pause(answered_at - time.monotonic()):
                yield from self._interrupted()
                return
            row: Row = {"seq": str(seq), "host": address}
            if rtt is None:
                row.update({"status": "timeout"})
            else:
                rtts.append(rtt)
                row.update({"size": str(size), "ttl": "64", "time": format_ros_time(rtt)})
            sent = seq + 1
            row.update({"sent": str(sent), "received": str(len(rtts)),
                        "packet-loss": str(int(100 * (sent - len(rtts)) / sent))})
            if rtts:
                row.update({"min-rtt": format_ros_time(min(rtts)), "avg-rtt": format_ros_time(sum(rtts) / len(rtts)),
                            "max-rtt": format_ros_time(max(rtts))})
            yield "!re", row
            seq += 1
        yield "!done", None

    def _monitor_traffic(self, request: Request) -> Iterator[tuple[str, Row | None]]:
        names = [n for n in request.attributes.get("interface", "").split(",") if n]
        if not names:
            yield from self._error("missing value(s) of argument(s) interface")
            return
        while True:
            rows = [self.standin._monitor_traffic_row(n) for n in names]
            if any(r is None for r in rows):
                yield from self._error("input does not match any value of interface")
                return
            for row in rows:
                yield "!re", row
            if "once" in request.attributes:
                break
            if self._stream_pause(1.0):
                yield from self._interrupted()
                return
        yield "!done", None


# ----------------------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netwatchd.lab.routeros_standin",
                                     description="RouterOS API stand-in on loopback (lab and tests only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8728)
    parser.add_argument("--user", default="netwatchd")
    parser.add_argument("--password-env", metavar="VAR",
                        help="read the password from this environment variable (default: lab-secret)")
    parser.add_argument("--password", help="lab only: prefer --password-env (command lines are visible to ps)")
    parser.add_argument("--identity", default="core")
    parser.add_argument("--personality", choices=["v6", "v7"], default="v7",
                        help="behave like RouterOS 6.49.10 or 7.15.3 (dates, times, Netwatch fields)")
    parser.add_argument("--version", dest="ros_version", default=None,
                        help="RouterOS version to claim instead, e.g. '7.18.2 (stable)' (overrides --personality)")
    parser.add_argument("--group", default="netwatchd", choices=["netwatchd", "read", "write", "full"],
                        help="the user's group (netwatchd: read, test, api)")
    parser.add_argument("--tls", action="store_true", help="api-ssl with a fresh self-signed certificate")
    parser.add_argument("--tls-no-certificate", action="store_true",
                        help="api-ssl like a router without a certificate: anonymous-DH suites only")
    parser.add_argument("--login", choices=["plain", "challenge"], default="plain",
                        help="plain: RouterOS >= 6.43; challenge: the older md5 login")
    parser.add_argument("--alive", default="", metavar="ADDR[=MS],...",
                        help="addresses /ping answers (rtt in ms, default 1.5), e.g. 198.18.1.2=2.1,198.18.3.2")
    parser.add_argument("--dead", default="", metavar="ADDR,...", help="addresses /ping reports as timeouts")
    args = parser.parse_args(argv)
    password = "lab-secret"
    if args.password_env:
        if args.password_env not in os.environ:
            parser.exit(2, f"environment variable {args.password_env} is not set\n")
        password = os.environ[args.password_env]
    elif args.password:
        password = args.password
    standin = RouterOSStandIn(args.user, password, args.host, args.port, args.identity, version=args.ros_version,
                              personality=args.personality, tls=args.tls or args.tls_no_certificate,
                              certificate=not args.tls_no_certificate, group=args.group, login_mode=args.login)
    try:
        for item in filter(None, args.alive.split(",")):
            address, _, rtt = item.partition("=")
            standin.set_ping(str(ipaddress.ip_address(address.strip())), float(rtt) if rtt else 1.5)
        for address in filter(None, args.dead.split(",")):
            standin.set_ping(str(ipaddress.ip_address(address.strip())), None)
    except ValueError as exc:
        parser.exit(2, f"--alive/--dead: {exc}\n")
    try:
        standin.start()
    except LabError as exc:
        parser.exit(2, f"{exc}\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"RouterOS stand-in '{args.identity}' listening on {args.host}:{standin.port}"
          f"{' (api-ssl, CA file ' + str(standin.ca_file) + ')' if standin.ca_file else ''}"
          f"{' (api-ssl without a certificate: anonymous DH)' if args.tls_no_certificate else ''}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
