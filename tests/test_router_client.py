"""RouterClient/RouterPool against the stand-in: reuse, reconnect, TLS, the read-only allowlist, and
every failure as a one-line RouterError that names the router and never shows the password."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Iterator

import pytest

from netwatchd.config.model import RouterSpec
from netwatchd.errors import RouterError
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.router.client import RouterClient, RouterPool, check_read_only

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
    assert standin.logins == 1 and client.connected
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
    ("trap", {"message": "failure: already have such entry"}, "the router refused the command: failure: already have such entry"),
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
    assert client.query("/system/identity/print") == [{"name": "core"}] and standin.logins == 1
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
    client = RouterClient(spec_for(standin))
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

    from netwatchd.router.netwatch import read_netwatch
    from netwatchd.router.values import ros_duration_seconds, ros_time_ms

    with RouterOSStandIn("netwatchd", PASSWORD, personality=personality) as server:
        server.set_ping("198.18.1.2", 12.4)
        client = RouterClient(spec_for(server))
        rows = client.query("/ping", address="198.18.1.2", count=2)
        entries = read_netwatch(client)
        uptime = client.query("/system/resource/print")[0]["uptime"]
        client.close()
    assert all(10 <= ros_time_ms(row["time"]) <= 14 for row in rows)           # "12ms" or "12ms412us"
    assert ros_time_ms(rows[-1]["avg-rtt"]) is not None and ros_duration_seconds(uptime) > 3 * 86400
    assert all(entry.since(ZoneInfo("Asia/Jakarta")) is not None for entry in entries)
    porong = next(entry for entry in entries if entry.host == "198.18.4.2")
    assert (porong.type, porong.status) == (("simple", "down") if personality == "v6" else ("icmp", "down"))
    assert porong.interval == (30.0 if personality == "v6" else 10.0)
