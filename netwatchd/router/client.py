"""RouterClient: read-only access to one RouterOS device over its API (librouteros).

- Two API sessions per router ("lanes"), each reused and re-established after any failure (a
  `!fatal` or a dropped line leaves a session unusable): one for the short reads (print,
  monitor-traffic once: the bot's menus and the cross-check), one for router-side `/ping`, which
  runs for count × interval. A ping never holds up a `/dhcp` or the cross-check. librouteros runs
  one command at a time per session, so each lane has a lock; a command that finds its lane taken
  for longer than BUSY_WAIT (0.75 s) is not queued: it gets RouterBusyError ("busy (ping in
  progress), try again in N s") at once. A failure on a reused session is retried once on a fresh
  one (the router may simply have rebooted since the last command); a timeout is never retried.
- Deadlines, not just read timeouts: connecting (TCP, TLS, login) must finish within
  RouterSpec.timeout, and every command's whole reply within RouterSpec.timeout (+ count × interval
  for a `/ping`) from when it was sent, however the bytes trickle in. A router-side ping is sent
  with `interval=200ms` unless the caller chose one, and count × interval is capped at 30 s.
- api-ssl (RouterSpec.tls, port 8729) with certificate checks against RouterSpec.ca_file or the
  system CAs, or deliberately without (tls_verify: false): then the anonymous-DH suites a router
  without a certificate offers (its factory state) are accepted as well as the normal ones.
- A TLS failure names its likely cause (no certificate on the router, the plain API port, a
  certificate strict X.509 checks reject) and the fix; a missing user-group policy is named too.
- Non-ASCII comments survive (RouterSpec.encoding, utf-8 by default; librouteros' default would drop them);
  with utf-8 a word that is not valid UTF-8 is read as cp1252 (router/wire_text.py).
- Every failure becomes a RouterError with one line naming the router and never the password.
- Thread-safe: any thread may call query(); the lanes' locks keep one command per session.
- It never changes configuration: only `print`, `monitor-traffic` with `once` and `ping` with a
  bounded `count` are sent; anything else is refused here, before a byte leaves.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from netwatchd.config.durations import parse_duration
from netwatchd.config.model import RouterSpec
from netwatchd.errors import RouterBusyError, RouterError, RouterPolicyError
from netwatchd.logs import add_secret, redact
from netwatchd.router import ros
from netwatchd.router.wire_text import wire_encoding

if TYPE_CHECKING:
    from librouteros.api import Api

log = logging.getLogger(__name__)

MAX_PING_COUNT = 100
PING_COMMANDS = frozenset({"/ping", "/tool/ping"})
PING_INTERVAL = "200ms"          # sent with every router-side ping the caller did not give one
ROUTER_DEFAULT_PING_INTERVAL = 1.0   # what RouterOS uses without interval=
PING_INTERVAL_RANGE = (0.01, 5.0)    # what RouterOS accepts: 10ms..5s
MAX_PING_SECONDS = 30.0          # count × interval: how long one ping may hold the ping session
BUSY_WAIT = 0.75                 # how long a command waits for a taken session before "router busy"
PRINT_ARGUMENTS_REFUSED = {"file", "follow", "follow-only", "interval", "append"}
PING_ARGUMENTS = {"address", "count", "size", "interval", "src-address", "interface", "routing-table", "vrf",
                  "ttl", "do-not-fragment", "arp-ping", "dscp"}
MONITOR_TRAFFIC_ARGUMENTS = {"interface", "once", "aggregate"}

Connector = Callable[..., "Api"]

# tls_verify: false. RouterOS api-ssl without a certificate offers anonymous-DH suites only (TLS 1.2
# at most). OpenSSL's DEFAULT list contains !aNULL, which removes them for good, so "DEFAULT:ADH"
# offers none: HIGH plus ADH, at security level 0 (anonymous suites sit at level 0). Normal suites
# stay in the list, so a router that has a certificate is reached the usual way.
UNVERIFIED_CIPHERS = "HIGH:ADH:!PSK:!SRP:!aDSS:!eNULL:@SECLEVEL=0"
NO_PERMISSION_TRAP = "not enough permissions"
# OpenSSL's texts for what only strict X.509 checking (Python 3.13+ by default) rejects
STRICT_X509_FAILURES = ("key identifier", "not marked critical", "does not include key usage",
                        "empty subject", "subject alt name extension not critical", "issuer name empty",
                        "pathlen", "keycertsign", "invalid for non-ca")
NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
                   "UNKNOWN_PROTOCOL", "HTTPS_PROXY_REQUEST"}
NO_COMMON_CIPHER_REASONS = {"SSLV3_ALERT_HANDSHAKE_FAILURE", "NO_CIPHERS_AVAILABLE", "NO_SHARED_CIPHER",
                            "TLSV1_ALERT_INSUFFICIENT_SECURITY", "NO_SUITABLE_KEY_SHARE"}
OLD_TLS_REASONS = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}


def policy_needed(command: str) -> str | None:
    """The RouterOS user-group policy a command netwatchd sends needs, when it is known."""
    if command in ("/ping", "/tool/ping"):
        return "test"
    if command.rsplit("/", 1)[-1] in ("print", "getall") or command == "/interface/monitor-traffic":
        return "read"
    return None


def subject_alt_name(address: str) -> str:
    """How a certificate must name the router netwatchd reaches at `address` (IP:x or DNS:x)."""
    try:
        ipaddress.ip_address(address)
        return f"IP:{address}"
    except ValueError:
        return f"DNS:{address}"


def certificate_commands(address: str) -> str:
    """The RouterOS commands that give api-ssl a self-signed certificate naming `address`."""
    return (f"/certificate add name=api-ssl common-name={address} subject-alt-name={subject_alt_name(address)} "
            "days-valid=3650; /certificate sign api-ssl; /ip service set api-ssl certificate=api-ssl")


class _MaskLoginWords(logging.Filter):
    """librouteros logs every word it sends at DEBUG, /login's password included: mask it."""

    _PATTERN = re.compile(r"=(password|response)=[^'\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._PATTERN.sub(r"=\1=***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


logging.getLogger("librouteros").addFilter(_MaskLoginWords())


# ----------------------------------------------------------------------------- the read-only allowlist

def _api_name(name: str) -> str:
    """Python keyword -> RouterOS argument name (src_address -> src-address)."""
    return name if name.startswith(".") else name.replace("_", "-")


def check_read_only(command: str, args: Mapping[str, Any]) -> None:
    """Refuse anything that is not a read. Raises RouterError naming the command."""
    if not re.fullmatch(r"(/[a-z0-9][a-z0-9-]*)+", command):
        raise RouterError(f"refused {command!r}: not a RouterOS API command path like /ip/address/print")
    verb = command.rsplit("/", 1)[1]
    names = set(args)
    odd = sorted(name for name in names if not re.fullmatch(r"\.?[a-z][a-z0-9-]*", name))
    if odd:
        raise RouterError(f"refused {command}: {odd[0]!r} is not a RouterOS argument name")
    if verb in ("print", "getall"):
        bad = names & PRINT_ARGUMENTS_REFUSED
        if bad:
            raise RouterError(f"refused {command} {sorted(bad)[0]}=: netwatchd only reads, once (no files, "
                              "no following)")
        return
    if command == "/interface/monitor-traffic":
        if not args.get("once"):
            raise RouterError("refused /interface/monitor-traffic without once: it would stream forever")
        if names - MONITOR_TRAFFIC_ARGUMENTS:
            unknown = sorted(names - MONITOR_TRAFFIC_ARGUMENTS)[0]
            raise RouterError(f"refused /interface/monitor-traffic argument {unknown}")
        return
    if command in ("/ping", "/tool/ping"):
        count = args.get("count")
        if isinstance(count, bool) or not isinstance(count, (int, str)) or not str(count).isdigit() \
                or not 1 <= int(count) <= MAX_PING_COUNT:
            raise RouterError(f"refused {command}: count must be 1..{MAX_PING_COUNT} (without it ping never ends)")
        if not args.get("address"):
            raise RouterError(f"refused {command}: an address is required")
        seconds = int(count) * ping_interval_seconds(command, args)
        if seconds > MAX_PING_SECONDS:
            raise RouterError(f"refused {command}: {int(count)} echoes take {seconds:g} s at that interval; at most "
                              f"{MAX_PING_SECONDS:g} s (lower count, or a shorter interval such as {PING_INTERVAL})")
        if names - PING_ARGUMENTS:
            raise RouterError(f"refused {command} argument {sorted(names - PING_ARGUMENTS)[0]}")
        return
    raise RouterError(f"refused {command}: netwatchd never changes router configuration "
                      "(only print, monitor-traffic once and ping with a count are sent)")


def ping_interval_seconds(command: str, args: Mapping[str, Any]) -> float:
    """The spacing of a ping's echoes in seconds (RouterOS's 1 s when `interval` is absent).
    Raises RouterError for a value RouterOS would refuse."""
    value = args.get("interval")
    if value is None or value is True or value == "":
        return ROUTER_DEFAULT_PING_INTERVAL
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise RouterError(f"refused {command}: interval {str(value)[:20]!r} is not a duration like 200ms") from None
    low, high = PING_INTERVAL_RANGE
    if not low <= seconds <= high:
        raise RouterError(f"refused {command}: interval must be 10ms..5s, not {str(value)[:20]}")
    return seconds


def _word_value(value: Any) -> str:
    if value is True:
        return ""            # a flag: RouterOS takes =once= like =once=yes
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def command_words(command: str, args: Mapping[str, Any], proplist: Sequence[str] | None = None,
                  where: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """A read-only command's arguments by RouterOS name, and its API words (`=name=value`,
    `=.proplist=`, `?=name=value`); a `/ping` gets `interval=200ms` unless one is given.
    Raises RouterError for anything that is not a read."""
    words_args = {_api_name(k): v for k, v in args.items() if v is not False and v is not None}
    if command in PING_COMMANDS:
        words_args.setdefault("interval", PING_INTERVAL)
    check_read_only(command, words_args)
    words = [f"={k}={_word_value(v)}" for k, v in words_args.items()]
    if proplist:
        words.append("=.proplist=" + ",".join(proplist))
    for key, value in (where or {}).items():
        wanted = ("yes" if value else "no") if isinstance(value, bool) else _word_value(value)
        words.append(f"?={_api_name(key)}={wanted}")
    return words_args, words


# ----------------------------------------------------------------------------- the client

class _DeadlineExpired(TimeoutError):
    """A command's (or the login's, or the TLS handshake's) whole-request deadline passed.
    `received` bytes of the reply had arrived by then (more than 0: the peer answered, but too
    slowly); `handshake` when it was the TLS handshake that did not finish."""

    def __init__(self, allowed: float, received: int, *, handshake: bool = False) -> None:
        super().__init__(f"not complete within {allowed:g} s")
        self.allowed = allowed
        self.received = received
        self.handshake = handshake


class _DeadlineTransport:
    """librouteros' socket transport (its SocketTransport's write/read/close) with a deadline for
    the whole request: each recv/send waits only for what is left of it, so a peer that trickles a
    byte at a time cannot hold a worker. `start(seconds)` before each request. Raises
    _DeadlineExpired."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = time.monotonic()
        self.allowed = 0.0
        self.received = 0

    def start(self, seconds: float) -> None:
        self.allowed = seconds
        self.deadline = time.monotonic() + seconds
        self.received = 0

    def _wait_at_most(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _DeadlineExpired(self.allowed, self.received)
        self.sock.settimeout(left)

    def write(self, data: bytes) -> None:
        self._wait_at_most()
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise _DeadlineExpired(self.allowed, self.received) from None

    def read(self, length: int) -> bytes:
        data = bytearray()
        while len(data) < length:
            self._wait_at_most()
            try:
                got = self.sock.recv(length - len(data))
            except TimeoutError:
                raise _DeadlineExpired(self.allowed, self.received) from None
            if not got:
                raise ros.ConnectionClosed("Connection unexpectedly closed.")
            self.received += len(got)
            data += got
        return bytes(data)

    def close(self) -> None:
        self.sock.close()


class _Lane:
    """One API session of a router and the lock that keeps one command on it at a time."""

    def __init__(self, name: str) -> None:
        self.name = name                 # "read" or "ping"
        self.lock = threading.Lock()
        self.api: Api | None = None
        self.command = ""                # what holds the lock now
        self.free_at = 0.0               # monotonic time by which the holder should be done


class RouterClient:
    """One router. `query()` from any thread; `close()` when done."""

    def __init__(self, spec: RouterSpec, *, connector: Connector = ros.lazy_connect,
                 busy_wait: float = BUSY_WAIT) -> None:
        self.spec = spec
        self._connector = connector
        self.busy_wait = busy_wait
        self._read_lane = _Lane("read")
        self._ping_lane = _Lane("ping")
        self._closes = 0                 # close() calls so far: a command cut off by one is not retried
        add_secret(spec.password)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def connected(self) -> bool:
        """Whether the session for short reads is open."""
        return self._read_lane.api is not None

    @property
    def _api(self) -> Api | None:
        """The session for short reads (None while closed)."""
        return self._read_lane.api

    def __repr__(self) -> str:
        tls = ", tls" if self.spec.tls else ""
        return f"RouterClient({self.spec.name!r}, {self.spec.address}:{self.spec.port}{tls})"

    # -- public -----------------------------------------------------------------------------------

    def query(self, command: str, /, *, proplist: Sequence[str] | None = None,
              where: Mapping[str, Any] | None = None, **args: Any) -> list[dict[str, Any]]:
        """Run one read-only command and return its rows.

        `args` become `=name=value` words (underscores turn into hyphens, True into a flag, False
        leaves the argument out); `proplist` limits the fields; `where` adds `?=name=value` queries.
        A `/ping` gets `interval=200ms` unless `interval` is given. Values come back cast by
        librouteros (yes/true -> True, integers -> int, the rest str).
        Raises RouterBusyError when the router's session for this command stays taken (a ping
        running) for BUSY_WAIT, and RouterError (one line, router named, no password) for every
        other failure, including a command that is not a read.
        """
        words_args, words = command_words(command, args, proplist, where)
        echoes = self._echo_time(command, words_args)
        allowed = self.spec.timeout + echoes
        lane = self._ping_lane if command in PING_COMMANDS else self._read_lane
        self._take(lane, command, echoes + 1.0 if echoes else allowed)
        closes = self._closes
        try:
            for attempt in (1, 2):
                api, fresh = self._connection(lane)
                try:
                    return self._run(api, command, words, allowed)
                except (ros.LibRouterosError, OSError) as exc:
                    self._drop(lane)
                    if attempt == 2 or fresh or not self._worth_retrying(exc) or closes != self._closes:
                        raise self._error(exc, "reply") from None
                    log.info("router %s: the reused connection failed (%s); reconnecting", self.name,
                             self._describe(exc, "reply"))
            raise AssertionError("unreachable: the second attempt returns or raises")
        finally:
            lane.command, lane.free_at = "", 0.0
            lane.lock.release()

    def close(self) -> None:
        """Close both sessions. A command still running (a ping) is cut off, not waited for."""
        self._closes += 1
        for lane in (self._read_lane, self._ping_lane):
            if lane.lock.acquire(timeout=self.busy_wait):
                try:
                    self._drop(lane)
                finally:
                    lane.lock.release()
                continue
            api = lane.api
            if api is not None:   # its command then fails at once, and its thread drops the session
                try:
                    # the plain socket's shutdown: an SSLSocket's own would pull its state from under the reader
                    socket.socket.shutdown(api.protocol.transport.sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- internals --------------------------------------------------------------------------------

    def _take(self, lane: _Lane, command: str, expected: float) -> None:
        """Lock `lane` for `command` (expected to take `expected` s), waiting at most busy_wait.
        Raises RouterBusyError (nothing sent) when it stays taken."""
        if not lane.lock.acquire(timeout=self.busy_wait):
            holder, free_at = lane.command, lane.free_at
            doing = "ping" if holder in PING_COMMANDS else "command"
            seconds = max(1, math.ceil(free_at - time.monotonic())) if free_at else 1
            what = "ping in progress" if doing == "ping" else f"{holder or 'another command'} in progress"
            message = (f"router {self.name} ({self.spec.address}:{self.spec.port}): busy ({what}), "
                       f"try again in {seconds} s")
            log.info("%s", message)
            raise RouterBusyError(message, router=self.name, doing=doing, retry_after=seconds)
        lane.command, lane.free_at = command, time.monotonic() + expected

    @staticmethod
    def _echo_time(command: str, args: Mapping[str, Any]) -> float:
        """How long a ping's echoes take on the router (count × interval); 0 for other commands."""
        if command not in PING_COMMANDS:
            return 0.0
        return int(args.get("count", 1)) * ping_interval_seconds(command, args)

    @staticmethod
    def _worth_retrying(exc: BaseException) -> bool:
        return isinstance(exc, (ros.ConnectionClosed, ros.FatalError, ConnectionResetError, BrokenPipeError,
                                ConnectionAbortedError)) and not isinstance(exc, TimeoutError)

    def _run(self, api: Api, command: str, words: list[str], allowed: float) -> list[dict[str, Any]]:
        transport = _deadline_transport(api)
        transport.start(allowed)
        try:
            return [dict(row) for row in api.rawCmd(command, *words)]
        except (ros.TrapError, ros.MultiTrapError) as exc:
            # the router refused this command; the connection itself is fine
            raise self._error(exc, "reply", command) from None

    def _connection(self, lane: _Lane) -> tuple[Api, bool]:
        if lane.api is not None:
            return lane.api, False
        started = time.monotonic()
        lane.api = self._open()
        _keep_alive(lane.api.protocol.transport.sock)
        log.debug("router %s: connected to %s:%d%s for %s in %.0f ms", self.name, self.spec.address, self.spec.port,
                 " (api-ssl)" if self.spec.tls else "", "pings" if lane is self._ping_lane else "reads",
                 (time.monotonic() - started) * 1000)
        return lane.api, True

    def _open(self) -> Api:
        spec = self.spec
        deadline = time.monotonic() + spec.timeout     # TCP connect, TLS handshake and login together
        try:
            return self._connector(spec.address, spec.username, spec.password, port=spec.port,
                                   timeout=spec.timeout, encoding=wire_encoding(spec.encoding),
                                   ssl_wrapper=_handshake_by(deadline, self._ssl_wrapper()) if spec.tls else None,
                                   login_method=_login_by(deadline, _login))
        except (ros.LibRouterosError, OSError, UnicodeError, ValueError) as exc:
            raise self._error(exc, "connect") from None

    def _ssl_wrapper(self) -> Callable[[socket.socket], socket.socket]:
        spec = self.spec
        if spec.tls_verify:
            try:
                context = ssl.create_default_context(cafile=spec.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise RouterError(f"router {spec.name}: cannot read ca_file {spec.ca_file}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            try:
                context.set_ciphers(UNVERIFIED_CIPHERS)
            except ssl.SSLError:  # an OpenSSL built without anonymous DH: the normal suites only
                log.warning("router %s: this OpenSSL offers no anonymous-DH ciphers; a router without an "
                            "api-ssl certificate cannot be reached", spec.name)
        hostname = spec.address if spec.tls_verify else None
        return lambda sock: context.wrap_socket(sock, server_hostname=hostname)

    def _drop(self, lane: _Lane) -> None:
        api, lane.api = lane.api, None
        if api is not None:
            try:
                api.close()
            except (OSError, ros.LibRouterosError):
                pass

    def _error(self, exc: BaseException, stage: str, command: str = "") -> RouterError:
        policy_refusal = isinstance(exc, ros.TrapError) and stage == "reply" and NO_PERMISSION_TRAP in exc.message
        description = self._describe_refusal(exc, command) if policy_refusal else self._describe(exc, stage)
        message = f"router {self.name} ({self.spec.address}:{self.spec.port}): {description}"
        message = " ".join(message.split())  # one line, whatever the router said
        if self.spec.password:
            message = message.replace(self.spec.password, "***")
        message = redact(message)
        log.debug("%s", message)   # the caller reports it (the CLI's one line, the bot's answer, the watcher's log)
        if policy_refusal:
            return RouterPolicyError(message, router=self.name, user=self.spec.username, command=command,
                                     policy=policy_needed(command))
        return RouterError(message)

    def _describe_refusal(self, exc: BaseException, command: str) -> str:
        """`not enough permissions (9)`: the API user's group lacks the policy this command needs."""
        trap = getattr(exc, "message", str(exc))
        policy = policy_needed(command)
        if policy is None:
            return (f"user {self.spec.username!r} may not run {command}: {trap} (its user group lacks a policy "
                    "this command needs)")
        return (f"user {self.spec.username!r} may not run {command}: {trap}; its user group needs the {policy!r} "
                "policy (on the router: /user group set <group> policy=read,test,api)")

    def _describe_tls(self, exc: ssl.SSLError) -> str:
        """A failed api-ssl handshake: the likely cause and its fix, never 'api-ssl is off' (the port answered)."""
        spec = self.spec
        reason = str(exc.reason or "").upper()
        shown = (exc.reason or str(exc)).lower().replace("_", " ")
        if reason in NOT_TLS_REASONS:
            return (f"the service on port {spec.port} does not speak TLS ({shown}): is this the plain API "
                    "port? api-ssl listens on 8729 unless /ip service says otherwise")
        if reason in NO_COMMON_CIPHER_REASONS:
            if spec.tls_verify:
                return (f"api-ssl refused the TLS handshake ({shown}): most likely the router has no certificate "
                        "for api-ssl, and then it offers only anonymous-DH ciphers, which certificate checks "
                        "cannot use: set tls_verify: false for this router, or give api-ssl a certificate: "
                        f"{certificate_commands(spec.address)}")
            return (f"api-ssl refused the TLS handshake ({shown}): the router and netwatchd share no cipher "
                    "or TLS version (check the api-ssl certificate and tls-version in /ip service print detail)")
        if reason in OLD_TLS_REASONS:
            return (f"api-ssl refused the TLS handshake ({shown}): the router offers only TLS versions this "
                    "machine's OpenSSL refuses (older than 1.2); upgrade RouterOS")
        if isinstance(exc, ssl.SSLEOFError) or "EOF" in reason:
            return (f"the router closed the connection during the TLS handshake ({shown}): is this the api-ssl "
                    f"port? (the plain API port {spec.port} may drop a TLS hello); if it is, check api-ssl in "
                    "/ip service print detail (its certificate and the addresses it accepts)")
        return f"TLS handshake failed ({shown})"

    def _describe_certificate(self, exc: ssl.SSLCertVerificationError) -> str:
        """The router's certificate was not accepted: why, and what to change."""
        spec = self.spec
        why = str(exc.verify_message or exc.reason or exc)
        lowered = why.lower()
        if "mismatch" in lowered and ("hostname" in lowered or "ip address" in lowered):
            return (f"api-ssl certificate does not name {spec.address} ({why}): re-create it with "
                    f"subject-alt-name={subject_alt_name(spec.address)}, or set tls_verify: false")
        if "expired" in lowered:
            return f"api-ssl certificate has expired ({why}): sign a new one on the router, or set tls_verify: false"
        if any(marker in lowered for marker in STRICT_X509_FAILURES):
            return (f"api-ssl certificate rejected by strict X.509 checks ({why}): Python 3.13 and later require "
                    "RFC 5280 extensions that certificates made by RouterOS may lack; re-create it with "
                    f"{certificate_commands(spec.address)}, or set tls_verify: false")
        return (f"api-ssl certificate not trusted ({why}): set routers[].ca_file to the router's CA or "
                "certificate (/certificate export-certificate api-ssl), or tls_verify: false")

    def _describe(self, exc: BaseException, stage: str) -> str:
        spec = self.spec
        if isinstance(exc, ros.TrapError) and stage == "connect":
            if "invalid user name or password" in exc.message or "cannot log in" in exc.message:
                return (f"login refused for user {spec.username!r}: {exc.message} "
                        "(check routers[].username/password and that the user's group has the api policy)")
            return f"login failed: {exc.message}"
        if isinstance(exc, ros.MultiTrapError):
            return "the router refused the command: " + "; ".join(t.message for t in exc.traps)
        if isinstance(exc, ros.TrapError):
            return f"the router refused the command: {exc.message}"
        if isinstance(exc, ros.FatalError):
            return f"the router ended the session (!fatal): {exc}"
        if isinstance(exc, ros.ConnectionClosed):
            return ("the connection closed before the router finished its reply"
                    if stage == "reply" else "the router closed the connection during login")
        if isinstance(exc, socket.gaierror):
            return f"cannot resolve {spec.address!r} (check routers[].address)"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return self._describe_certificate(exc)
        if isinstance(exc, ssl.SSLError):
            return self._describe_tls(exc)
        if isinstance(exc, _DeadlineExpired) and stage == "reply":
            if exc.received:
                return (f"the reply was still incomplete after {exc.allowed:g} s (the router sent it too slowly; "
                        f"timeout {spec.timeout:g} s)")
            if exc.allowed > spec.timeout:
                return (f"no reply within {exc.allowed:g} s (timeout {spec.timeout:g} s plus "
                        f"{exc.allowed - spec.timeout:g} s for the echoes)")
        if isinstance(exc, _DeadlineExpired) and exc.handshake:
            return (f"the TLS handshake did not finish within {spec.timeout:g} s (is this the api-ssl port? "
                    "/ip service print on the router lists it)")
        if isinstance(exc, _DeadlineExpired) and exc.received:
            return (f"the router answered too slowly to log in within {spec.timeout:g} s "
                    f"({'is this the api-ssl port?' if spec.tls else 'a congested link, or not a RouterOS API port?'})")
        if isinstance(exc, TimeoutError):
            if stage == "connect":
                hint = "is this the api-ssl port?" if spec.tls else "router down, or a firewall drops the API port"
                return f"no answer within {spec.timeout:g} s while connecting ({hint})"
            return f"no reply within the time allowed (timeout {spec.timeout:g} s)"
        if isinstance(exc, ConnectionRefusedError):
            return (f"connection refused on port {spec.port} (is the {'api-ssl' if spec.tls else 'api'} "
                    "service enabled: /ip service print?)")
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return "the connection was reset by the router"
        if isinstance(exc, UnicodeError):
            return f"text not representable in {spec.encoding} (set routers[].encoding, or use an ASCII password)"
        if isinstance(exc, OSError):
            return f"network error: {exc.strerror or exc.__class__.__name__}"
        return f"{exc.__class__.__name__}: {exc}"


def _deadline_transport(api: Api) -> _DeadlineTransport:
    """The session's transport, swapped for a _DeadlineTransport on first use."""
    transport = api.protocol.transport
    if not isinstance(transport, _DeadlineTransport):
        transport = _DeadlineTransport(transport.sock)
        api.protocol.transport = transport
    return transport


def _login_by(deadline: float, login: Callable[[Api, str, str], None]) -> Callable[[Api, str, str], None]:
    """`login`, with what is left until `deadline` for its whole exchange."""

    def bounded(api: Api, username: str, password: str) -> None:
        _deadline_transport(api).start(deadline - time.monotonic())
        login(api, username, password)

    return bounded


def _handshake_by(deadline: float, wrap: Callable[[socket.socket], socket.socket]
                  ) -> Callable[[socket.socket], socket.socket]:
    """`wrap` (the TLS handshake), cut off at `deadline`: the socket is shut down then, so a peer
    that trickles its handshake cannot hold the connect. Raises _DeadlineExpired."""

    def bounded(sock: socket.socket) -> socket.socket:
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        allowed = max(0.0, deadline - time.monotonic())
        timer = threading.Timer(allowed, expire)
        timer.daemon = True
        timer.start()
        try:
            return wrap(sock)
        except (OSError, ValueError):
            if expired.is_set():
                raise _DeadlineExpired(allowed, 0, handshake=True) from None
            raise
        finally:
            timer.cancel()

    return bounded


def _keep_alive(sock: socket.socket) -> None:
    """TCP keepalive on the idle API connection, so a NAT or firewall that forgot it is noticed
    in about 90 s rather than by the next command's timeout."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    except OSError:
        pass


def _login(api: Api, username: str, password: str) -> None:
    """Plain login (RouterOS >= 6.43); a router older than that answers with a challenge, which is
    then answered the pre-6.43 way on the same connection. Raises ros.TrapError on bad credentials."""
    rows = list(api.rawCmd("/login", f"=name={username}", f"=password={password}"))
    challenge = next((row["ret"] for row in rows if "ret" in row), None)
    if challenge is not None:
        response = ros.encode_password(str(challenge), password)
        list(api.rawCmd("/login", f"=name={username}", f"=response={response}"))


# ----------------------------------------------------------------------------- several routers

class RouterPool:
    """A client per configured router; `get()` picks one by name (case-insensitive) or the first."""

    def __init__(self, routers: Sequence[RouterSpec], *, connector: Connector = ros.lazy_connect) -> None:
        self._clients = [RouterClient(spec, connector=connector) for spec in routers]

    def names(self) -> list[str]:
        return [c.name for c in self._clients]

    def get(self, name: str | None = None) -> RouterClient:
        """Raises RouterError when no router is configured or `name` is unknown."""
        if not self._clients:
            raise RouterError("no router configured: add one under routers: in hosts.yaml")
        if name is None:
            return self._clients[0]
        for client in self._clients:
            if client.name.lower() == name.lower():
                return client
        raise RouterError(f"no router named {name!r}; configured: {', '.join(self.names())}")

    def close(self) -> None:
        for client in self._clients:
            client.close()
