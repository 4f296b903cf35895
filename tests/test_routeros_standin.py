"""The RouterOS API stand-in, proven against two independent clients (librouteros 4 and the
routeros_api package) and a raw socket that checks the protocol details neither client exercises."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator

import librouteros
import pytest
import routeros_api
from librouteros.exceptions import ConnectionClosed, FatalError, TrapError
from librouteros.login import token
from librouteros.query import And, Key, Or
from routeros_api import exceptions as rapi_exceptions

from netwatchd.config.kinds import parse_duration
from netwatchd.lab.routeros_standin import RouterOSStandIn, evaluate_query, format_ros_time, format_ros_uptime
from netwatchd.lab.routeros_wire import encode_sentence, read_sentence

USER, PASSWORD = "netwatchd", "lab-Secret-9a7"


@pytest.fixture
def standin() -> Iterator[RouterOSStandIn]:
    with RouterOSStandIn(USER, PASSWORD) as server:
        yield server


def lib_connect(server: RouterOSStandIn, **kwargs: object) -> librouteros.api.Api:
    return librouteros.connect("127.0.0.1", USER, PASSWORD, port=server.port, timeout=5, encoding="utf-8",
                               **kwargs)  # type: ignore[arg-type]


class Raw:
    """A minimal hand-written client: one socket, sentences in and out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send(self, *words: str) -> None:
        self.sock.sendall(encode_sentence(words))

    def sentence(self) -> list[str]:
        return [w.decode() for w in read_sentence(self._read)]

    def until_done(self) -> list[list[str]]:
        sentences = []
        while True:
            sentence = self.sentence()
            sentences.append(sentence)
            if sentence[0] in ("!done", "!fatal"):
                return sentences

    def login(self) -> None:
        self.send("/login", f"=name={USER}", f"=password={PASSWORD}")
        assert self.until_done() == [["!done"]]


# ----------------------------------------------------------------------------- librouteros

def test_librouteros_reads_every_menu(standin: RouterOSStandIn) -> None:
    api = lib_connect(standin)
    try:
        assert list(api.path("system", "identity")) == [{"name": "core"}]
        resource = next(iter(api.path("system", "resource")))
        assert resource["board-name"] == "CCR2004-1G-12S+2XS" and resource["version"].startswith("7.")
        assert isinstance(resource["free-memory"], int)
        assert parse_duration(resource["uptime"]) > 3 * 86400
        for menu in (("ip", "address"), ("ip", "dhcp-server", "lease"), ("ip", "pool"), ("ip", "pool", "used"),
                     ("ip", "neighbor"), ("tool", "netwatch"), ("interface",)):
            rows = list(api.path(*menu))
            assert rows and all(row[".id"].startswith("*") for row in rows), menu
        dns = next(iter(api.path("ip", "dns")))
        assert dns["servers"] == "198.18.0.53,198.18.0.54" and dns["allow-remote-requests"] is True
    finally:
        api.close()


def test_librouteros_select_and_where_queries(standin: RouterOSStandIn) -> None:
    api = lib_connect(standin)
    try:
        interfaces = api.path("interface")
        running = list(interfaces.select(Key("name"), Key("running")).where(Key("running") == True))  # noqa: E712
        assert running and all(set(row) == {"name", "running"} and row["running"] is True for row in running)
        assert {r["name"] for r in running} == {"ether1", "sfp-sfpplus1", "ether2", "bridge-lan"}
        not_ether1 = list(interfaces.select(Key("name")).where(Key("name") != "ether1"))
        assert "ether1" not in {r["name"] for r in not_ether1} and len(not_ether1) == 5
        either = list(interfaces.select(Key("name")).where(Or(Key("name") == "ether3", Key("name") == "ether4")))
        assert [r["name"] for r in either] == ["ether3", "ether4"]
        both = list(interfaces.select(Key("name")).where(And(Key("type") == "ether", Key("disabled") == True)))  # noqa: E712
        assert [r["name"] for r in both] == ["ether4"]
        many_downs = list(interfaces.select(Key("name")).where(Key("link-downs") > 2))
        assert [r["name"] for r in many_downs] == ["sfp-sfpplus1", "ether3"]
        in_list = list(interfaces.select(Key("name")).where(Key("name").In("ether1", "ether2")))
        assert [r["name"] for r in in_list] == ["ether1", "ether2"]
    finally:
        api.close()


def test_librouteros_ping_monitor_traffic_and_stats(standin: RouterOSStandIn) -> None:
    standin.set_ping("198.18.1.2", 1.234)
    api = lib_connect(standin)
    try:
        replies = list(api("/ping", address="198.18.1.2", count=3, interval="100ms"))
        assert [r["seq"] for r in replies] == [0, 1, 2]
        assert all(r["received"] == r["sent"] for r in replies)
        assert replies[0]["time"].startswith("1ms") and replies[0]["time"].endswith("us")
        lost = list(api("/ping", address="198.18.4.2", count=2, interval="100ms"))
        assert [r["status"] for r in lost] == ["timeout", "timeout"] and lost[-1]["packet-loss"] == 100
        traffic = list(api("/interface/monitor-traffic", interface="ether1,ether3", once=True))
        assert [t["name"] for t in traffic] == ["ether1", "ether3"]
        assert 47_000_000 < traffic[0]["rx-bits-per-second"] < 49_500_000 and traffic[1]["rx-bits-per-second"] == 0
        stats = list(api("/interface/print", stats=""))
        plain = list(api("/interface/print"))
        assert plain[0]["link-downs"] == 1 and plain[0]["rx-byte"] > 0
        assert plain[0]["rx-byte"] >= stats[0]["rx-byte"]       # asked later: counters only grow
        assert stats[3]["rx-byte"] == 0                          # ether3 is not running
    finally:
        api.close()


def test_librouteros_errors_trap_fatal_and_drop(standin: RouterOSStandIn) -> None:
    api = lib_connect(standin)
    with pytest.raises(TrapError) as trap:
        list(api("/ip/frobnicate/print"))
    assert trap.value.message == "no such command prefix"
    with pytest.raises(TrapError, match="not enough permissions"):
        list(api("/ip/address/add", address="198.18.9.1/24", interface="ether2"))
    standin.set_fault("trap", message="failure: router busy", category=1, times=1)
    with pytest.raises(TrapError) as busy:
        list(api.path("ip", "address"))
    assert busy.value.message == "failure: router busy" and busy.value.category == 1
    assert len(list(api.path("ip", "address"))) == 3  # a trap leaves the session usable
    standin.set_fault("drop_mid_reply", after=2, times=1)
    with pytest.raises(ConnectionClosed):
        list(api.path("interface"))
    api = lib_connect(standin)
    standin.set_fault("fatal", message="out of memory")
    with pytest.raises(FatalError, match="out of memory"):
        list(api.path("ip", "address"))
    with pytest.raises(OSError):   # librouteros closed the socket on !fatal
        list(api.path("ip", "address"))


def test_librouteros_wrong_password_and_challenge_login() -> None:
    with RouterOSStandIn(USER, PASSWORD) as server:
        with pytest.raises(TrapError, match=r"invalid user name or password \(6\)"):
            librouteros.connect("127.0.0.1", USER, "wrong", port=server.port, timeout=5)
    with RouterOSStandIn(USER, PASSWORD, login_mode="challenge", version="6.49.10") as old:
        api = librouteros.connect("127.0.0.1", USER, PASSWORD, port=old.port, timeout=5, login_method=token)
        netwatch = list(api.path("tool", "netwatch"))
        assert netwatch and "type" not in netwatch[0] and "/" in netwatch[0]["since"]  # v6: simple, nov/27/2026
        api.close()
        with pytest.raises(TrapError, match="invalid user name"):
            librouteros.connect("127.0.0.1", USER, "wrong", port=old.port, timeout=5, login_method=token)


def test_non_ascii_comments_survive_both_ways(standin: RouterOSStandIn) -> None:
    standin.netwatch.append({"host": "198.18.9.2", "name": "Jabon", "comment": "Kantor Kecamatan Jabon — lantai 2 ✓",
                             "type": "icmp", "status": "up", "interval": "10s", "disabled": "false"})
    api = lib_connect(standin)
    rows = list(api.path("tool", "netwatch").select(Key("comment")).where(Key("host") == "198.18.9.2"))
    assert rows == [{"comment": "Kantor Kecamatan Jabon — lantai 2 ✓"}]
    found = list(api.path("tool", "netwatch").select(Key("host")).where(
        Key("comment") == "Kantor Kecamatan Jabon — lantai 2 ✓"))
    assert found == [{"host": "198.18.9.2"}]
    api.close()


# ----------------------------------------------------------------------------- routeros_api

def test_routeros_api_package_reads_menus_and_pings(standin: RouterOSStandIn) -> None:
    pool = routeros_api.RouterOsApiPool("127.0.0.1", username=USER, password=PASSWORD, port=standin.port,
                                        plaintext_login=True)
    try:
        api = pool.get_api()
        addresses = api.get_resource("/ip/address").get()
        assert [a["address"] for a in addresses] == ["198.18.0.1/24", "198.18.255.1/30", "198.19.0.1/16"]
        assert api.get_resource("/ip/address").get(interface="ether1")[0]["network"] == "198.18.255.0"
        identity = api.get_resource("/system/identity").get()
        assert identity == [{"name": "core"}]
        ping = api.get_resource("/").call("ping", {"address": "198.18.15.2", "count": "2", "interval": "100ms"})
        assert [p["seq"] for p in ping] == ["0", "1"] and ping[1]["received"] == "2"
        traffic = api.get_resource("/interface").call("monitor-traffic", {"interface": "ether1", "once": ""})
        assert traffic[0]["name"] == "ether1"
        leases = api.get_resource("/ip/dhcp-server/lease").get()
        assert "Printer lantai 2 — ruang rapat" in [lease.get("comment") for lease in leases]
        with pytest.raises(rapi_exceptions.RouterOsApiCommunicationError, match="no such command prefix"):
            api.get_resource("/nothing/here").get()
        # the package tags every command; the stand-in must echo tags on each sentence
        assert all(any(w.startswith(".tag=") for w in c) for c in standin.commands if c[0] != "/login")
    finally:
        pool.disconnect()


def test_routeros_api_package_challenge_login_and_bad_password() -> None:
    with RouterOSStandIn(USER, PASSWORD, login_mode="challenge", version="6.49.10") as old:
        pool = routeros_api.RouterOsApiPool("127.0.0.1", username=USER, password=PASSWORD, port=old.port)
        assert pool.get_api().get_resource("/system/identity").get() == [{"name": "core"}]
        pool.disconnect()
    with RouterOSStandIn(USER, PASSWORD) as server:
        bad = routeros_api.RouterOsApiPool("127.0.0.1", username=USER, password="nope", port=server.port,
                                           plaintext_login=True)
        with pytest.raises(rapi_exceptions.RouterOsApiCommunicationError, match="invalid user name or password"):
            bad.get_api()


def test_routeros_api_package_over_tls() -> None:
    with RouterOSStandIn(USER, PASSWORD, tls=True) as server:
        assert server.ca_file is not None
        context = ssl.create_default_context(cafile=str(server.ca_file))
        pool = routeros_api.RouterOsApiPool("127.0.0.1", username=USER, password=PASSWORD, port=server.port,
                                            plaintext_login=True, ssl_context=context)
        assert pool.get_api().get_resource("/system/identity").get() == [{"name": "core"}]
        pool.disconnect()
        api = lib_connect(server, ssl_wrapper=lambda s: context.wrap_socket(s, server_hostname="127.0.0.1"))
        assert list(api.path("system", "identity")) == [{"name": "core"}]
        api.close()


# ----------------------------------------------------------------------------- the wire, by hand

def test_tag_is_echoed_on_every_sentence_and_count_only(standin: RouterOSStandIn) -> None:
    raw = Raw(standin.port)
    raw.login()
    raw.send("/interface/print", "=.proplist=name", "?type=ether", ".tag=42")
    sentences = raw.until_done()
    assert all(s[-1] == ".tag=42" for s in sentences)
    assert [s[1] for s in sentences[:-1]] == ["=name=ether1", "=name=sfp-sfpplus1", "=name=ether2", "=name=ether3",
                                              "=name=ether4"]
    raw.send("/interface/print", "=count-only=", "?running=true")
    assert raw.until_done() == [["!done", "=ret=4"]]
    raw.send("/ip/address/print", "?-comment")
    assert raw.until_done() == [["!done"]]
    raw.send("/interface/print", "?name", "=.proplist=name", "?=name=ether2")
    assert raw.until_done() == [["!re", "=name=ether2"], ["!done"]]


def test_a_command_before_login_is_fatal_and_closes(standin: RouterOSStandIn) -> None:
    raw = Raw(standin.port)
    raw.send("/system/identity/print", ".tag=1")
    assert raw.sentence() == ["!fatal", "not logged in"]          # no .tag: the session itself ends
    with pytest.raises(ConnectionError):
        raw.sentence()
    challenge = Raw(standin.port)                                  # a bare /login is not a login either
    challenge.send("/login")
    assert challenge.sentence()[0] == "!done"
    challenge.send("/ip/address/print")
    assert challenge.until_done() == [["!fatal", "not logged in"]]
    refused = Raw(standin.port)                                    # nor is a refused one
    refused.send("/login", f"=name={USER}", "=password=wrong")
    assert refused.until_done() == [["!trap", "=message=invalid user name or password (6)"], ["!done"]]
    refused.send("/system/identity/print")
    assert refused.until_done() == [["!fatal", "not logged in"]]
    assert standin.session_count() <= 1 and standin.logins == 0


def test_librouteros_and_routeros_api_see_the_fatal_before_login(standin: RouterOSStandIn) -> None:
    def no_login(api: object, username: str, password: str) -> None:
        """A client that forgets to log in."""

    api = lib_connect(standin, login_method=no_login)
    with pytest.raises(FatalError, match="not logged in"):
        list(api.path("system", "identity"))
    from routeros_api import api_communicator, api_socket, base_api
    from routeros_api.api import RouterOsApi

    socket_wrapper = api_socket.get_socket("127.0.0.1", standin.port, timeout=5)
    unlogged = RouterOsApi(api_communicator.ApiCommunicator(base_api.Connection(socket_wrapper)))
    # routeros_api cannot parse the bare reason word of a !fatal (it expects =key=value): it fails too
    with pytest.raises(rapi_exceptions.RouterOsApiParsingError, match="not logged in"):
        unlogged.get_resource("/system/identity").get()
    socket_wrapper.close()


def test_commands_after_login_and_quit(standin: RouterOSStandIn) -> None:
    raw = Raw(standin.port)
    raw.login()
    raw.send("/system/identity/print", "=frobnicate=1")
    assert raw.until_done() == [["!trap", "=message=unknown parameter frobnicate"], ["!done"]]
    raw.send("/system/identity/print", "=detail=", "=without-paging=")
    assert raw.until_done() == [["!re", "=name=core"], ["!done"]]
    raw.send("/interface/shout")
    assert raw.until_done() == [["!trap", "=message=no such command"], ["!done"]]
    raw.send("/quit")
    assert raw.sentence() == ["!fatal", "session terminated on request"]
    with pytest.raises(ConnectionError):
        raw.sentence()


def test_streaming_ping_runs_until_cancel(standin: RouterOSStandIn) -> None:
    raw = Raw(standin.port)
    raw.login()
    raw.send("/ping", "=address=198.18.1.2", "=interval=20ms", ".tag=p")
    first = [raw.sentence() for _ in range(3)]
    assert [s[0] for s in first] == ["!re"] * 3 and all(s[-1] == ".tag=p" for s in first)
    raw.send("/cancel", "=tag=p", ".tag=c")
    rest = []
    while True:
        sentence = raw.sentence()
        rest.append(sentence)
        if sentence[-1] == ".tag=c":
            break
    assert ["!trap", "=category=2", "=message=interrupted", ".tag=p"] in rest
    assert ["!done", ".tag=p"] in rest and rest[-1] == ["!done", ".tag=c"]


def test_slow_fault_delays_the_reply(standin: RouterOSStandIn) -> None:
    raw = Raw(standin.port)
    raw.login()
    standin.set_fault("slow", delay=0.3, commands={"/ip/dns/print"})
    started = time.monotonic()
    raw.send("/system/identity/print")
    raw.until_done()
    fast = time.monotonic() - started
    started = time.monotonic()
    raw.send("/ip/dns/print")
    raw.until_done()
    assert time.monotonic() - started >= 0.3 > fast


def test_recorded_commands_mask_the_password(standin: RouterOSStandIn) -> None:
    raw = Raw(standin.port)
    raw.login()
    assert standin.commands[0] == ["/login", f"=name={USER}", "=password=***"]
    assert PASSWORD not in repr(standin.commands)


def test_set_fault_rejects_unknown_kinds(standin: RouterOSStandIn) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        standin.set_fault("explode")


def test_ping_never_leaves_the_lab(standin: RouterOSStandIn) -> None:
    # an address the lab does not know is answered "timeout" without sending anything
    assert standin.ping_once("8.8.8.8", 56) is None
    assert standin.ping_once("198.18.4.2", 56) is None
    assert standin.ping_once("127.0.0.1", 56) is not None


@pytest.mark.parametrize("words, expected", [
    (["?name=a"], True), (["?=name=b"], False), (["?name"], True), (["?-name"], False), (["?-x"], True),
    (["?<n=10"], True), (["?>n=10"], False), (["?name=b", "?name=a", "?#|"], True),
    (["?name=a", "?n=9", "?#&"], True), (["?name=a", "?#!"], False), (["?name=a", "?#.", "?#&"], True),
])
def test_query_stack_machine(words: list[str], expected: bool) -> None:
    assert evaluate_query({"name": "a", "n": "9"}, words) is expected


@pytest.mark.parametrize("ms, text", [(1.234, "1ms234us"), (0.845, "845us"), (12, "12ms"), (1003, "1s3ms"), (0, "0ms")])
def test_v7_ping_time_format(ms: float, text: str) -> None:
    assert format_ros_time(ms) == text


def test_uptime_format() -> None:
    assert format_ros_uptime(3 * 604800 + 2 * 86400 + 4 * 3600 + 5 * 60 + 6) == "3w2d4h5m6s"


def test_runnable_as_a_module_with_password_from_env() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"NW_ROUTER_PW": "from-env-pw", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen([sys.executable, "-m", "netwatchd.lab.routeros_standin", "--port", str(port),
                                "--password-env", "NW_ROUTER_PW", "--identity", "kec-waru"],
                               stdout=subprocess.PIPE, text=True, env={**env, "PYTHONPATH": ":".join(sys.path)})
    try:
        assert process.stdout is not None
        assert f"listening on 127.0.0.1:{port}" in process.stdout.readline()
        api = librouteros.connect("127.0.0.1", "netwatchd", "from-env-pw", port=port, timeout=5)
        assert list(api.path("system", "identity")) == [{"name": "kec-waru"}]
        api.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_v7_18_sends_empty_and_both_clients_cope() -> None:
    with RouterOSStandIn(USER, PASSWORD, version="7.18.2 (stable)") as server:
        raw = Raw(server.port)
        raw.login()
        raw.send("/ip/address/print", "?interface=nothing", ".tag=e")
        assert raw.until_done() == [["!empty", ".tag=e"], ["!done", ".tag=e"]]
        api = lib_connect(server)
        assert list(api.path("ip", "address").select(Key("address")).where(Key("interface") == "nothing")) == []
        assert len(list(api.path("ip", "address"))) == 3
        api.close()
        pool = routeros_api.RouterOsApiPool("127.0.0.1", username=USER, password=PASSWORD, port=server.port,
                                            plaintext_login=True)
        assert pool.get_api().get_resource("/ip/address").get(interface="nothing") == []
        pool.disconnect()
    with RouterOSStandIn(USER, PASSWORD, version="7.15.3 (stable)") as older:
        raw = Raw(older.port)
        raw.login()
        raw.send("/ip/address/print", "?interface=nothing")
        assert raw.until_done() == [["!done"]]


def test_ping_hook_answers_only_for_lab_addresses() -> None:
    asked: list[str] = []

    def hook(address: str, size: int) -> float | None:
        asked.append(address)
        return 0.7 if address.endswith(".2") else None

    with RouterOSStandIn(USER, PASSWORD, ping_hook=hook) as server:
        assert server.ping_once("198.19.5.2", 56) == 0.7
        assert server.ping_once("198.19.5.3", 56) is None
        assert server.ping_once("10.0.0.2", 56) is None          # outside the lab: never asked, never sent
        assert asked == ["198.19.5.2", "198.19.5.3"]


def test_a_command_sent_during_a_stream_is_answered_while_the_stream_goes_on(standin: RouterOSStandIn) -> None:
    """RouterOS runs the commands of one session at once (the API manual's "/cancel, simultaneous
    commands"): the print is answered, the stream keeps streaming until it is cancelled."""
    raw = Raw(standin.port)
    raw.login()
    raw.send("/interface/monitor-traffic", "=interface=ether1", ".tag=m")
    assert raw.sentence()[0] == "!re"
    raw.send("/system/identity/print", ".tag=i")
    sentences = []
    while not sentences or sentences[-1] != ["!done", ".tag=i"]:
        sentences.append(raw.sentence())
    assert ["!re", "=name=core", ".tag=i"] in sentences
    assert not any(s[0] == "!trap" for s in sentences)
    later = raw.sentence()                                   # the stream is still running
    assert later[0] == "!re" and later[-1] == ".tag=m"
    raw.send("/cancel", "=tag=m", ".tag=c")
    rest = []
    while not rest or rest[-1] != ["!done", ".tag=c"]:
        rest.append(raw.sentence())
    assert ["!trap", "=category=2", "=message=interrupted", ".tag=m"] in rest


def test_tagged_pings_of_one_session_run_at_the_same_time() -> None:
    table = {f"198.18.{i}.2": None for i in range(1, 19)}       # 18 dead sites: 3 timeouts each
    with RouterOSStandIn(USER, PASSWORD, ping_table=table) as server:
        raw = Raw(server.port)
        raw.login()
        started = time.monotonic()
        for i in range(1, 19):
            raw.send("/ping", f"=address=198.18.{i}.2", "=count=3", "=interval=200ms", f".tag=p{i}")
        done: set[str] = set()
        rows: dict[str, int] = {}
        while len(done) < 18:
            sentence = raw.sentence()
            tag = sentence[-1].removeprefix(".tag=")
            if sentence[0] == "!done":
                done.add(tag)
            else:
                rows[tag] = rows.get(tag, 0) + 1
        took = time.monotonic() - started
    assert rows == {f"p{i}": 3 for i in range(1, 19)}
    assert 0.55 <= took < 5.0, took            # about one ping's 3 x 200 ms; one after another would be 10.8 s


def test_router_ping_from_a_lab_namespace_sees_a_real_outage(lab) -> None:
    from netwatchd.config.model import RouterSpec
    from netwatchd.lab.routeros_standin import netns_ping_hook
    from netwatchd.router.client import RouterClient

    lab.add_namespace("core")
    lab.add_namespace("waru")
    lab.link("core", "eth1", "198.18.15.1/30", "waru", "eth0", "198.18.15.2/30")
    with RouterOSStandIn(USER, PASSWORD, ping_table={}, ping_hook=netns_ping_hook(lab.command("core", []))) as server:
        client = RouterClient(RouterSpec(name="core", address="127.0.0.1", port=server.port, username=USER,
                                         password=PASSWORD, timeout=5))
        alive = client.query("/ping", address="198.18.15.2", count=2)
        assert [r["received"] for r in alive] == [1, 2] and alive[0]["time"].endswith("us")
        lab.set_link("waru", "eth0", False)                     # pull the cable at Waru
        dead = client.query("/ping", address="198.18.15.2", count=2)
        assert [r.get("status") for r in dead] == ["timeout", "timeout"] and dead[-1]["packet-loss"] == 100
        client.close()


def test_netwatch_status_flips_with_a_fresh_since(standin: RouterOSStandIn) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert standin.set_netwatch_status("198.18.15.2", "down") == 1
    assert standin.set_netwatch_status("198.18.15.2", "down") == 0      # no change, since kept
    api = lib_connect(standin)
    [row] = list(api.path("tool", "netwatch").select(Key("status"), Key("since")).where(Key("host") == "198.18.15.2"))
    api.close()
    since = datetime.strptime(row["since"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo("Asia/Jakarta"))
    assert row["status"] == "down" and abs((datetime.now(ZoneInfo("Asia/Jakarta")) - since).total_seconds()) < 5
    with pytest.raises(ValueError):
        standin.set_netwatch_status("198.18.15.2", "sideways")


# ----------------------------------------------------------------------------- user groups and policies

def test_ping_needs_the_test_policy_and_prints_need_read(standin: RouterOSStandIn) -> None:
    standin.set_ping("198.18.1.2", 1.5)
    api = lib_connect(standin)                           # group "netwatchd": read, test, api
    assert len(list(api("/ping", address="198.18.1.2", count=1))) == 1
    api.close()
    standin.set_group("netwatchd", {"read", "api"})      # an admin took `test` away
    api = lib_connect(standin)
    with pytest.raises(TrapError) as refused:
        list(api("/ping", address="198.18.1.2", count=1))
    assert refused.value.message == "not enough permissions (9)"
    assert list(api.path("system", "identity")) == [{"name": "core"}]   # the session is still usable
    api.close()
    standin.set_group("netwatchd", {"test", "api"})
    raw = Raw(standin.port)
    raw.login()
    raw.send("/ip/address/print", ".tag=7")
    assert raw.until_done() == [["!trap", "=message=not enough permissions (9)", ".tag=7"], ["!done", ".tag=7"]]
    raw.send("/ping", "=address=198.18.1.2", "=count=1")
    assert raw.until_done()[-1] == ["!done"]


def test_routeros_api_package_sees_the_permission_trap(standin: RouterOSStandIn) -> None:
    standin.set_group("netwatchd", {"read", "api"})
    pool = routeros_api.RouterOsApiPool("127.0.0.1", username=USER, password=PASSWORD, port=standin.port,
                                        plaintext_login=True)
    try:
        with pytest.raises(rapi_exceptions.RouterOsApiCommunicationError, match=r"not enough permissions \(9\)"):
            pool.get_api().get_resource("/").call("ping", {"address": "198.18.1.2", "count": "1"})
    finally:
        pool.disconnect()


def test_a_group_without_api_cannot_log_in_either_way(standin: RouterOSStandIn) -> None:
    standin.add_user("viewer", "Viewer-pass-1", group="read")
    standin.set_group("winbox-only", {"read", "winbox"})
    standin.add_user("winbox", "Winbox-pass-2", group="winbox-only")
    assert list(librouteros.connect("127.0.0.1", "viewer", "Viewer-pass-1", port=standin.port,
                                    timeout=5).path("system", "identity")) == [{"name": "core"}]
    with pytest.raises(TrapError, match=r"invalid user name or password \(6\)"):
        librouteros.connect("127.0.0.1", "winbox", "Winbox-pass-2", port=standin.port, timeout=5)
    with RouterOSStandIn("winbox", "Winbox-pass-2", login_mode="challenge", personality="v6",
                         group="read") as old:
        old.set_group("read", {"read", "winbox"})
        with pytest.raises(TrapError, match="invalid user name or password"):
            librouteros.connect("127.0.0.1", "winbox", "Winbox-pass-2", port=old.port, timeout=5, login_method=token)
    with pytest.raises(ValueError, match="unknown user group"):
        standin.add_user("x", "y", group="admins")
    with pytest.raises(ValueError, match="unknown RouterOS policy 'reed'"):
        standin.set_group("typo", {"reed"})


def test_write_commands_need_write_and_still_change_nothing() -> None:
    with RouterOSStandIn(USER, PASSWORD, group="full") as server:
        api = lib_connect(server)
        with pytest.raises(TrapError, match="never changes its configuration"):
            list(api("/ip/address/add", address="198.18.9.1/24", interface="ether2"))
        assert len(list(api.path("ip", "address"))) == 3
        api.close()


# ----------------------------------------------------------------------------- v6 and v7 personalities

V6_NETWATCH_FIELDS = {".id", "host", "interval", "timeout", "status", "since", "up-script", "down-script", "comment",
                      "disabled"}


def test_v6_personality_as_librouteros_sees_it() -> None:
    with RouterOSStandIn(USER, PASSWORD, personality="v6") as v6:
        v6.set_ping("198.18.1.2", 1.234)
        v6.set_ping("198.18.0.1", 0.21)
        api = lib_connect(v6)
        resource = next(iter(api.path("system", "resource")))
        assert resource["version"] == "6.49.10 (long-term)" and resource["board-name"] == "RB433AH"
        netwatch = list(api.path("tool", "netwatch"))
        assert netwatch and all(set(row) == V6_NETWATCH_FIELDS for row in netwatch)
        assert all(re.fullmatch(r"[a-z]{3}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", row["since"]) for row in netwatch)
        interface = next(iter(api.path("interface")))
        assert interface["last-link-up-time"] == "nov/20/2026 07:12:44"
        times = [row["time"] for row in api("/ping", address="198.18.1.2", count=2)]
        assert all(re.fullmatch(r"1ms", t) for t in times), times             # whole milliseconds
        assert next(iter(api("/ping", address="198.18.0.1", count=1)))["time"] == "0ms"
        api.close()
        raw = Raw(v6.port)
        raw.login()
        raw.send("/ip/address/print", "?interface=nothing")
        assert raw.until_done() == [["!done"]]                               # no !empty on v6


def test_v7_personality_by_version() -> None:
    with RouterOSStandIn(USER, PASSWORD, personality="v7") as v7:
        api = lib_connect(v7)
        netwatch = list(api.path("tool", "netwatch"))
        assert {"name", "type", "thr-avg", "packet-count"} <= set(netwatch[0])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", netwatch[0]["since"])
        api.close()
    with RouterOSStandIn(USER, PASSWORD, version="7.9.2 (stable)") as early:   # v7 before 7.10 and 7.14
        api = lib_connect(early)
        [row] = list(api.path("tool", "netwatch").select(Key("since"), Key("name"), Key("type")).where(
            Key("host") == "198.18.4.2"))
        assert re.fullmatch(r"[a-z]{3}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", row["since"]) and "name" not in row
        assert row["type"] == "icmp"
        api.close()
    with pytest.raises(ValueError, match="unknown RouterOS personality"):
        RouterOSStandIn(personality="v8")


@pytest.mark.parametrize("ms, v6, v7", [(0.21, "0ms", "210us"), (1.234, "1ms", "1ms234us"), (12.9, "12ms", "12ms900us"),
                                       (1003, "1s3ms", "1s3ms"), (2000, "2s", "2s")])
def test_ping_time_per_personality(ms: float, v6: str, v7: str) -> None:
    from netwatchd.lab.routeros_personality import Personality

    assert Personality.named("v6").ping_time(ms) == v6 and Personality.named("v7").ping_time(ms) == v7
    assert parse_duration(v6) <= ms / 1000 and abs(parse_duration(v7) - ms / 1000) < 1e-6


# ----------------------------------------------------------------------------- api-ssl without a certificate

def adh_client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_ciphers("ADH:@SECLEVEL=0")
    return context


def test_api_ssl_without_certificate_offers_only_anonymous_dh() -> None:
    with RouterOSStandIn(USER, PASSWORD, tls=True, certificate=False) as server:
        assert server.ca_file is None
        with adh_client_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=5)) as tls:
            name, version, _ = tls.cipher()
            assert name.startswith("ADH-") and version == "TLSv1.2" and tls.getpeercert(binary_form=True) is None
        ordinary = ssl.create_default_context()                   # offers no anonymous suite
        with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
            ordinary.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=5),
                                 server_hostname="127.0.0.1")
        unverified = ssl.create_default_context()
        unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
        unverified.set_ciphers("DEFAULT:ADH:@SECLEVEL=0")          # DEFAULT's !aNULL removes ADH for good
        with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
            unverified.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=5))


def test_both_clients_over_certificate_less_api_ssl() -> None:
    with RouterOSStandIn(USER, PASSWORD, tls=True, certificate=False, personality="v6") as server:
        api = lib_connect(server, ssl_wrapper=adh_client_context().wrap_socket)
        assert list(api.path("system", "identity")) == [{"name": "core"}]
        api.close()
        pool = routeros_api.RouterOsApiPool("127.0.0.1", username=USER, password=PASSWORD, port=server.port,
                                            plaintext_login=True, ssl_context=adh_client_context())
        assert pool.get_api().get_resource("/system/identity").get() == [{"name": "core"}]
        pool.disconnect()


def test_openssl_s_client_reaches_the_certificate_less_stand_in() -> None:
    """The OpenSSL command line tool, as shipped here, as a third client of the TLS layer."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("no openssl binary")
    with RouterOSStandIn(USER, PASSWORD, tls=True, certificate=False) as server:
        done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-cipher",
                               "aNULL:@SECLEVEL=0", "-tls1_2", "-brief"], input="", capture_output=True, text=True,
                              timeout=20)
    summary = done.stdout + done.stderr
    assert "Ciphersuite: ADH-" in summary and "Protocol version: TLSv1.2" in summary, summary
