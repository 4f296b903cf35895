"""RouterClient/RouterPool against the stand-in: reuse, reconnect, TLS, the read-only allowlist, and
every failure as a one-line RouterError that names the router and never shows the password."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import librouteros
import pytest

from netwatchd.config.model import RouterSpec
from netwatchd.errors import RouterBusyError, RouterError
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.router.client import RouterClient, RouterPool, check_read_only
from support.sockets import finish_within, in_thread, trickling_server

PASSWORD = "Pw-core-7f3e1b"


@pytest.fixture
def standin() -> Iterator[RouterOSStandIn]:
    with RouterOSStandIn("netwatchd", PASSWORD) as server:
        yield server


def spec_for(server: RouterOSStandIn | None, port: int | None = None, **overrides: object) -> RouterSpec:
    values: dict[str, object] = {"name": "core", "address": "127.0.0.1", "port": port or (server.port if server else 9),
                                 "username": "netwatchd", "password": PASSWORD, "timeout": 2.0}
    values.update(overrides)
    return RouterSpec(**values)  # type: ignore[arg-type]


def assert_clean(message: str, caplog: pytest.LogCaptureFixture, password: str = PASSWORD) -> None:
    assert "\n" not in message and message.startswith("router core (")
    assert password not in message
    assert password not in caplog.text


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    # librouteros logs every word at DEBUG: that is where a password would leak
    caplog.set_level(logging.DEBUG)


def test_reads_and_reuses_one_connection(standin: RouterOSStandIn, caplog: pytest.LogCaptureFixture) -> None:
    client = RouterClient(spec_for(standin))
    assert client.query("/system/identity/print") == [{"name": "core"}]
    rows = client.query("/interface/print", stats=True, proplist=["name", "rx-byte"], where={"name": "ether1"})
    assert [set(r) for r in rows] == [{"name", "rx-byte"}] and rows[0]["rx-byte"] > 0
    disabled = client.query("/interface/print", proplist=["name"], where={"disabled": True})
    assert disabled == [{"name": "ether4"}]
    ping = client.query("/ping", address="198.18.1.2", count=2)
    assert [p["received"] for p in ping] == [1, 2]
    traffic = client.query("/interface/monitor-traffic", interface="ether1", once=True)
    assert traffic[0]["tx-bits-per-second"] > 0
    assert standin.logins == 2 and client.connected    # one session for reads, one for pings
    sock = client._api.protocol.transport.sock  # type: ignore[union-attr]
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert "=password=***" in caplog.text and PASSWORD not in caplog.text
    client.close()
    assert not client.connected


def test_non_ascii_comment_survives(standin: RouterOSStandIn) -> None:
    standin.interfaces[0]["comment"] = "Uplink Diskominfo — gedung utama ✓"
    client = RouterClient(spec_for(standin))
    rows = client.query("/interface/print", proplist=["comment"], where={"name": "ether1"})
    assert rows == [{"comment": "Uplink Diskominfo — gedung utama ✓"}]


def test_bad_login_is_one_clean_line(standin: RouterOSStandIn, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wrong-pass-3c9d"
    client = RouterClient(spec_for(standin, password=wrong))
    with pytest.raises(RouterError) as error:
        client.query("/system/identity/print")
    message = str(error.value)
    assert "login refused for user 'netwatchd': invalid user name or password (6)" in message
    assert_clean(message, caplog, wrong)


@pytest.mark.parametrize("kind, params, expected", [
    ("trap", {"message": "failure: already have such entry"},
     "the router refused the command: failure: already have such entry"),
    ("fatal", {"message": "out of memory"}, "the router ended the session (!fatal): out of memory"),
    ("drop_mid_reply", {"after": 1}, "the connection closed before the router finished its reply"),
    ("slow", {"delay": 1.0}, "no reply within the time allowed (timeout 0.3 s)"),
])
def test_every_fault_becomes_a_one_line_router_error(standin: RouterOSStandIn, caplog: pytest.LogCaptureFixture,
                                                      kind: str, params: dict, expected: str) -> None:
    client = RouterClient(spec_for(standin, timeout=0.3))
    standin.set_fault(kind, **params)
    with pytest.raises(RouterError) as error:
        client.query("/ip/address/print")
    assert str(error.value) == f"router core (127.0.0.1:{standin.port}): {expected}"
    assert_clean(str(error.value), caplog)
    standin.set_fault(None)
    assert len(client.query("/ip/address/print")) == 3  # and the next command works again


def test_trap_keeps_the_connection_but_fatal_and_drop_reconnect(standin: RouterOSStandIn) -> None:
    client = RouterClient(spec_for(standin))
    client.query("/system/identity/print")
    standin.set_fault("trap", times=1)
    with pytest.raises(RouterError):
        client.query("/ip/address/print")
    client.query("/ip/address/print")
    assert standin.logins == 1
    # a fatal on a fresh connection is reported; the next command reconnects
    client.close()
    standin.set_fault("fatal", times=1)
    with pytest.raises(RouterError, match="!fatal"):
        client.query("/ip/address/print")
    assert not client.connected
    assert len(client.query("/ip/address/print")) == 3
    assert standin.logins == 3


def test_a_reused_connection_that_died_is_retried_once(standin: RouterOSStandIn) -> None:
    client = RouterClient(spec_for(standin))
    client.query("/system/identity/print")
    standin.drop_connections()  # the router rebooted between two commands
    assert client.query("/system/identity/print") == [{"name": "core"}]
    standin.set_fault("drop_mid_reply", times=1)
    assert len(client.query("/interface/print")) == 6  # one drop on a reused line: retried
    standin.set_fault("drop_mid_reply", times=2)
    with pytest.raises(RouterError, match="closed before the router finished"):
        client.query("/interface/print")
    assert standin.logins == 4


def test_refused_port_and_silent_server(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(RouterError) as refused:
        RouterClient(spec_for(None, port)).query("/system/identity/print")
    assert str(refused.value) == (f"router core (127.0.0.1:{port}): connection refused on port {port} "
                                  "(is the api service enabled: /ip service print?)")
    with socket.socket() as silent:  # accepts, never answers the login
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(RouterError) as timeout:
            RouterClient(spec_for(None, silent.getsockname()[1], timeout=0.2)).query("/system/identity/print")
    assert "no answer within 0.2 s while connecting" in str(timeout.value)
    assert_clean(str(timeout.value), caplog)


def test_name_that_does_not_resolve() -> None:
    def failing_connector(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    client = RouterClient(spec_for(None, 8728, address="core.kominfo.lab"), connector=failing_connector)
    with pytest.raises(RouterError) as error:
        client.query("/system/identity/print")
    assert str(error.value) == ("router core (core.kominfo.lab:8728): cannot resolve 'core.kominfo.lab' "
                                "(check routers[].address)")


def test_pre_643_challenge_login_is_handled(caplog: pytest.LogCaptureFixture) -> None:
    with RouterOSStandIn("netwatchd", PASSWORD, login_mode="challenge", version="6.49.10") as old:
        client = RouterClient(spec_for(old))
        assert client.query("/system/identity/print") == [{"name": "core"}]
        bad = RouterClient(spec_for(old, password="Nope-0000"))
        with pytest.raises(RouterError, match="invalid user name or password"):
            bad.query("/system/identity/print")
    assert "=response=***" in caplog.text and PASSWORD not in caplog.text


def test_api_ssl_verified_unverified_and_untrusted(caplog: pytest.LogCaptureFixture) -> None:
    with RouterOSStandIn("netwatchd", PASSWORD, tls=True) as server:
        trusted = RouterClient(spec_for(server, tls=True, ca_file=str(server.ca_file)))
        assert trusted.query("/system/identity/print") == [{"name": "core"}]
        unverified = RouterClient(spec_for(server, tls=True, tls_verify=False))
        assert unverified.query("/system/identity/print") == [{"name": "core"}]
        untrusted = RouterClient(spec_for(server, tls=True))
        with pytest.raises(RouterError) as error:
            untrusted.query("/system/identity/print")
        assert "api-ssl certificate not trusted" in str(error.value) and "ca_file" in str(error.value)
        assert_clean(str(error.value), caplog)
    with RouterOSStandIn("netwatchd", PASSWORD) as plain:
        # the plain API port waits for more "words", answers the TLS hello with an API sentence
        # (!fatal: not logged in), or gives up on it and closes
        for verify in (True, False):
            with pytest.raises(RouterError, match=r"is this the api-ssl port\?|is this the plain API port\?") as error:
                RouterClient(spec_for(plain, tls=True, tls_verify=verify, timeout=0.3)).query("/system/identity/print")
            assert "enable" not in str(error.value)


def test_api_ssl_of_a_router_without_a_certificate(caplog: pytest.LogCaptureFixture) -> None:
    with RouterOSStandIn("netwatchd", PASSWORD, tls=True, certificate=False) as server:
        unverified = RouterClient(spec_for(server, tls=True, tls_verify=False))
        assert unverified.query("/system/identity/print") == [{"name": "core"}]
        assert unverified._api.protocol.transport.sock.cipher()[0].startswith("ADH-")  # type: ignore[union-attr]
        unverified.close()
        verified = RouterClient(spec_for(server, tls=True))
        with pytest.raises(RouterError) as error:
            verified.query("/system/identity/print")
        port = server.port
    message = str(error.value)
    assert_clean(message, caplog)
    assert message == (
        f"router core (127.0.0.1:{port}): api-ssl refused the TLS handshake (sslv3 alert handshake failure): "
        "most likely the router has no certificate for api-ssl, and then it offers only anonymous-DH ciphers, "
        "which certificate checks cannot use: set tls_verify: false for this router, or give api-ssl a "
        "certificate: /certificate add name=api-ssl common-name=127.0.0.1 subject-alt-name=IP:127.0.0.1 "
        "days-valid=3650; /certificate sign api-ssl; /ip service set api-ssl certificate=api-ssl")
    assert "enable" not in message          # the port answered: api-ssl is on


def test_unverified_api_ssl_still_prefers_a_certificate_suite() -> None:
    with RouterOSStandIn("netwatchd", PASSWORD, tls=True) as server:
        client = RouterClient(spec_for(server, tls=True, tls_verify=False))
        client.query("/system/identity/print")
        sock = client._api.protocol.transport.sock  # type: ignore[union-attr]
        assert not sock.cipher()[0].startswith(("ADH-", "AECDH-")) and sock.version() == "TLSv1.3"
        client.close()


def test_python_313_strict_x509_rejection_is_explained(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    import ssl

    default_context = ssl.create_default_context

    def as_python_313(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = default_context(*args, **kwargs)  # type: ignore[arg-type]
        context.verify_flags |= ssl.VERIFY_X509_STRICT      # what 3.13 turns on by default
        return context

    with RouterOSStandIn("netwatchd", PASSWORD, tls=True, certificate="without-key-ids") as server:
        spec = spec_for(server, tls=True, ca_file=str(server.ca_file))
        assert RouterClient(spec).query("/system/identity/print") == [{"name": "core"}]   # lax checks: fine
        monkeypatch.setattr(ssl, "create_default_context", as_python_313)
        with pytest.raises(RouterError) as error:
            RouterClient(spec).query("/system/identity/print")
        port = server.port
    message = str(error.value)
    assert_clean(message, caplog)
    assert message.startswith(f"router core (127.0.0.1:{port}): api-ssl certificate rejected by strict "
                              "X.509 checks (Missing Authority Key Identifier): Python 3.13 and later")
    assert "/certificate add name=api-ssl" in message and "tls_verify: false" in message


def test_a_certificate_for_another_name_is_explained(caplog: pytest.LogCaptureFixture) -> None:
    with RouterOSStandIn("netwatchd", PASSWORD, host="127.0.0.2", tls=True) as server:
        spec = spec_for(server, address="127.0.0.2", tls=True, ca_file=str(server.ca_file))
        with pytest.raises(RouterError) as error:
            RouterClient(spec).query("/system/identity/print")
    assert "api-ssl certificate does not name 127.0.0.2" in str(error.value)
    assert "subject-alt-name=IP:127.0.0.2" in str(error.value)
    assert_clean(str(error.value), caplog)


def test_a_missing_policy_is_named(standin: RouterOSStandIn, caplog: pytest.LogCaptureFixture) -> None:
    from netwatchd.errors import RouterPolicyError

    standin.set_group("netwatchd", {"read", "api"})
    client = RouterClient(spec_for(standin))
    with pytest.raises(RouterPolicyError) as error:
        client.query("/ping", address="198.18.1.2", count=1)
    assert (error.value.policy, error.value.command, error.value.user, error.value.router) == (
        "test", "/ping", "netwatchd", "core")
    assert str(error.value) == (
        f"router core (127.0.0.1:{standin.port}): user 'netwatchd' may not run /ping: not enough permissions (9); "
        "its user group needs the 'test' policy (on the router: /user group set <group> policy=read,test,api)")
    assert_clean(str(error.value), caplog)
    # reads still work, on the read session (a ping has a session of its own: two logins)
    assert client.query("/system/identity/print") == [{"name": "core"}] and standin.logins <= 2
    standin.set_group("netwatchd", {"api"})
    with pytest.raises(RouterPolicyError, match="needs the 'read' policy") as no_read:
        client.query("/ip/address/print")
    assert no_read.value.policy == "read"


@pytest.mark.parametrize("command, args, reason", [
    ("/ip/address/add", {"address": "198.18.9.1/24"}, "never changes router configuration"),
    ("/interface/set", {"numbers": "ether1", "disabled": "yes"}, "never changes router configuration"),
    ("/system/reboot", {}, "never changes router configuration"),
    ("/tool/netwatch/remove", {"numbers": "*1"}, "never changes router configuration"),
    ("/system/script/run", {"number": "0"}, "never changes router configuration"),
    ("/interface/print", {"file": "dump"}, "no files"),
    ("/ip/address/print", {"follow": True}, "no following"),
    ("/interface/monitor-traffic", {"interface": "ether1"}, "without once"),
    ("/ping", {"address": "198.18.1.2"}, "count must be 1..100"),
    ("/ping", {"address": "198.18.1.2", "count": 1000}, "count must be 1..100"),
    ("/ping", {"count": 3}, "an address is required"),
    ("/ping", {"address": "198.18.1.2", "count": 100, "interval": "1s"}, r"100 echoes take 100 s .*at most 30 s"),
    ("/ping", {"address": "198.18.1.2", "count": 3, "interval": "1ms"}, "interval must be 10ms..5s"),
    ("/ping", {"address": "198.18.1.2", "count": 3, "interval": "soon"}, "is not a duration like 200ms"),
    ("/ip address print", {}, "not a RouterOS API command path"),
    ("/ip/address/print", {"x=y": "1"}, "'x=y' is not a RouterOS argument name"),
])
def test_write_and_endless_commands_are_refused_before_sending(standin: RouterOSStandIn, command: str,
                                                               args: dict, reason: str) -> None:
    client = RouterClient(spec_for(standin))
    with pytest.raises(RouterError, match=reason):
        client.query(command, **args)
    assert standin.commands == []  # not even a login was needed to refuse it


def test_allowlist_accepts_reads() -> None:
    check_read_only("/tool/netwatch/print", {".proplist": "host"})
    check_read_only("/interface/monitor-traffic", {"interface": "ether1", "once": True})
    check_read_only("/ping", {"address": "198.18.1.2", "count": 3, "src-address": "198.18.0.1"})


def test_concurrent_callers_share_one_connection(standin: RouterOSStandIn) -> None:
    # 80 reads queued on one session: on a loaded machine a caller may wait longer than the 0.75 s
    # after which the bot would rather say "busy"; this test is about sharing, so it waits
    client = RouterClient(spec_for(standin), busy_wait=30)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                results.append(len(client.query("/interface/print")))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and results == [6] * 80 and standin.logins == 1


def test_pool_picks_routers_by_name() -> None:
    pool = RouterPool([RouterSpec(name="core", address="127.0.0.1"), RouterSpec(name="kec-waru", address="127.0.0.2")])
    assert pool.get().name == "core" and pool.get("KEC-WARU").name == "kec-waru"
    with pytest.raises(RouterError, match="no router named 'porong'; configured: core, kec-waru"):
        pool.get("porong")
    with pytest.raises(RouterError, match="no router configured"):
        RouterPool([]).get()
    pool.close()


@pytest.mark.parametrize("personality", ["v6", "v7"])
def test_replies_of_both_personalities_are_read(personality: str) -> None:
    from zoneinfo import ZoneInfo

    from netwatchd.config.kinds import parse_duration
    from netwatchd.router.netwatch import read_netwatch
    from netwatchd.router.values import ros_time_ms

    with RouterOSStandIn("netwatchd", PASSWORD, personality=personality) as server:
        server.set_ping("198.18.1.2", 12.4)
        client = RouterClient(spec_for(server))
        rows = client.query("/ping", address="198.18.1.2", count=2)
        entries = read_netwatch(client)
        uptime = client.query("/system/resource/print")[0]["uptime"]
        client.close()
    assert all(10 <= ros_time_ms(row["time"]) <= 14 for row in rows)           # "12ms" or "12ms412us"
    assert ros_time_ms(rows[-1]["avg-rtt"]) is not None and parse_duration(uptime) > 3 * 86400
    assert all(entry.since(ZoneInfo("Asia/Jakarta")) is not None for entry in entries)
    porong = next(entry for entry in entries if entry.host == "198.18.4.2")
    assert (porong.type, porong.status) == (("simple", "down") if personality == "v6" else ("icmp", "down"))
    assert porong.interval == (30.0 if personality == "v6" else 10.0)


# --- router-side ping: paced like RouterOS, on its own session, never blocking a read ---------------

def wait_for_command(standin: RouterOSStandIn, command: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(words[0] == command for words in list(standin.commands)):
        assert time.monotonic() < deadline, f"{command} never reached the stand-in"
        time.sleep(0.005)


def test_router_side_ping_sends_an_interval_and_a_dead_host_returns_in_count_times_200ms(
        standin: RouterOSStandIn) -> None:
    client = RouterClient(spec_for(standin, timeout=2.0))
    started = time.monotonic()
    rows = client.query("/ping", address="198.18.4.2", count=10)        # Porong: no reply
    elapsed = time.monotonic() - started
    [sent] = [words for words in standin.commands if words[0] == "/ping"]
    assert "=interval=200ms" in sent and "=count=10" in sent
    assert [r["status"] for r in rows] == ["timeout"] * 10 and rows[-1]["packet-loss"] == 100
    # the stand-in paces echoes like a router (>= 9 intervals); the bound is count × 0.2 s + timeout
    assert 1.8 <= elapsed < 10 * 0.2 + 2.0


def test_a_read_during_a_ping_is_answered_at_once_and_a_second_ping_is_told_to_wait(
        standin: RouterOSStandIn) -> None:
    client = RouterClient(spec_for(standin, timeout=2.0))
    ping, result = in_thread(lambda: client.query("/ping", address="198.18.4.2", count=10))   # ~2 s
    wait_for_command(standin, "/ping")
    started = time.monotonic()
    leases = client.query("/ip/dhcp-server/lease/print")
    assert time.monotonic() - started < 1.0 and len(leases) == 3
    started = time.monotonic()
    with pytest.raises(RouterBusyError) as busy:
        client.query("/ping", address="198.18.1.2", count=3)
    waited = time.monotonic() - started
    assert 0.5 < waited < 1.5, waited                     # BUSY_WAIT (0.75 s), then the answer
    assert busy.value.doing == "ping" and busy.value.router == "core" and 1 <= busy.value.retry_after <= 3
    assert str(busy.value) == (f"router core (127.0.0.1:{standin.port}): busy (ping in progress), "
                               f"try again in {busy.value.retry_after} s")
    assert ping.is_alive()                                # the first ping is still running meanwhile
    ping.join(5)
    assert len(result[0]) == 10                           # type: ignore[arg-type]
    assert [w[0] for w in standin.commands].count("/ping") == 1    # the refused one was never sent
    assert len(client.query("/ping", address="198.18.1.2", count=1)) == 1   # free again


def test_the_cross_check_never_waits_behind_a_ping(standin: RouterOSStandIn, clock) -> None:
    from pathlib import Path

    from netwatchd.config.model import Config, HostSpec
    from netwatchd.router.crosscheck_watch import CrossCheckWatcher

    config = Config(path=Path("hosts.yaml"), data_dir=Path("/nonexistent"),
                    hosts=(HostSpec("Porong", "198.18.4.2"), HostSpec("Waru", "198.18.15.2")),
                    routers=(spec_for(standin, timeout=2.0),))
    pool = RouterPool(config.routers)
    watcher = CrossCheckWatcher(config, pool, clock, load_states=dict)
    try:
        ping, _ = in_thread(lambda: pool.get("core").query("/ping", address="198.18.4.2", count=10))   # ~2 s
        wait_for_command(standin, "/ping")
        started = time.monotonic()
        assert watcher.run_once() == []
        assert time.monotonic() - started < 1.0 and watcher.last_errors == {}
        assert [w[0] for w in standin.commands].count("/tool/netwatch/print") == 1
        assert ping.is_alive()
        ping.join(5)
    finally:
        pool.close()


def test_the_router_default_interval_is_one_second(standin: RouterOSStandIn) -> None:
    """A client that sends no interval (routeros_api, a PHP script) waits a second per echo."""
    raw = librouteros.connect("127.0.0.1", "netwatchd", PASSWORD, port=standin.port)
    try:
        started = time.monotonic()
        rows = list(raw("/ping", address="198.18.1.2", count=2))
        assert time.monotonic() - started >= 0.95 and [r["seq"] for r in rows] == [0, 1]
    finally:
        raw.close()


def test_close_does_not_wait_for_a_running_ping(standin: RouterOSStandIn) -> None:
    client = RouterClient(spec_for(standin, timeout=2.0))
    client.query("/ping", address="198.18.1.2", count=1)       # a reused session: a drop would be retried
    ping, result = in_thread(lambda: client.query("/ping", address="198.18.4.2", count=20))   # ~4 s
    wait_for_command(standin, "/ping")
    started = time.monotonic()
    client.close()
    ping.join(3)
    assert time.monotonic() - started < 2.0 and not ping.is_alive()
    assert isinstance(result[0], RouterError) and "closed before the router finished" in str(result[0])
    assert [w[0] for w in standin.commands].count("/ping") == 2       # cut off, not run again


# --- whole-request deadlines: a peer that trickles cannot hold a worker ----------------------------

def test_a_reply_trickling_one_byte_per_100ms_fails_by_its_deadline(standin: RouterOSStandIn,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    client = RouterClient(spec_for(standin, timeout=0.5))
    client.query("/system/identity/print")                  # logged in; now every reply trickles
    standin.set_fault("trickle", every=0.1, times=1)
    error, elapsed = finish_within(lambda: client.query("/ip/address/print"), 3)   # ~400 bytes: 40 s at that pace
    assert isinstance(error, RouterError) and elapsed < 1.5
    assert str(error) == (f"router core (127.0.0.1:{standin.port}): the reply was still incomplete after "
                          "0.5 s (the router sent it too slowly; timeout 0.5 s)")
    assert_clean(str(error), caplog)
    assert len(client.query("/ip/address/print")) == 3      # a fresh session answers again


@pytest.mark.parametrize("tls, first, expected", [
    # plain API: a word of 127 bytes announced, then its bytes one by one: the login never completes
    (False, b"\x7f", "the router answered too slowly to log in within 0.5 s (a congested link, or not a "
                      "RouterOS API port?)"),
    # api-ssl: a TLS record header promising 16 KB, then a byte every 100 ms
    (True, b"\x16\x03\x03\x40\x00", "the TLS handshake did not finish within 0.5 s (is this the api-ssl port"),
])
def test_a_login_or_handshake_that_trickles_fails_by_the_connect_deadline(
        tls: bool, first: bytes, expected: str, caplog: pytest.LogCaptureFixture) -> None:
    with trickling_server(first) as port:
        client = RouterClient(spec_for(None, port, timeout=0.5, tls=tls, tls_verify=False))
        error, elapsed = finish_within(lambda: client.query("/system/identity/print"), 3)
    assert isinstance(error, RouterError) and expected in str(error) and elapsed < 1.5
    assert_clean(str(error), caplog)
