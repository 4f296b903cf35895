"""WatchSession and the Confirmer against the RouterOS stand-in over real TCP (and api-ssl): tagged
commands at once, each reply to its own command, the read-only allowlist before a byte leaves,
a router that goes away or falls silent, and the evidence a confirmation collects."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from netwatchd.clock import SystemClock
from netwatchd.config.model import RouterSpec
from netwatchd.errors import RouterError
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.models import CONFIRMED, NO_ANSWER, REACHABLE, RouterAsk
from netwatchd.router.confirm import Confirmer, ask_routers
from netwatchd.router.watch_session import WatchSession, WatchSessions

PASSWORD = "Pw-watch-5d1c9a"


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)        # where a password would leak


@pytest.fixture
def standin() -> Iterator[RouterOSStandIn]:
    with RouterOSStandIn("netwatchd", PASSWORD, ping_table={"198.18.5.2": 1.2, "198.18.6.2": None}) as server:
        yield server


def spec(server: RouterOSStandIn, **kw: object) -> RouterSpec:
    values: dict[str, object] = {"name": "core", "address": "127.0.0.1", "port": server.port,
                                 "username": "netwatchd", "password": PASSWORD, "timeout": 2.0}
    values.update(kw)
    return RouterSpec(**values)  # type: ignore[arg-type]


def ask(i: int, address: str, kind: str = "confirm") -> RouterAsk:
    return RouterAsk(id=i, kind=kind, host=f"site{i}", address=address, router="core",
                     asked_at=datetime.now(timezone.utc))


def test_commands_run_at_once_and_each_reply_goes_to_its_own_command(standin: RouterOSStandIn) -> None:
    session = WatchSession(spec(standin))
    started = time.monotonic()
    slow = session.start("/ping", address="198.18.6.2", count=3, interval="200ms")
    quick = session.start("/system/identity/print")
    assert quick.wait(2.0) and quick.result() == [{"name": "core"}]
    assert not slow.done                                   # the ping is still running meanwhile
    assert slow.wait(2.0) and [r.get("status") for r in slow.result()] == ["timeout"] * 3
    assert time.monotonic() - started < 2.0
    assert standin.logins == 1 and session.connects == 1
    tags = [w for c in standin.commands if c[0] != "/login" for w in c if w.startswith(".tag=")]
    assert len(set(tags)) == 2
    session.close()


def test_nothing_but_reads_leaves_and_a_refusal_stays_with_its_command(standin: RouterOSStandIn,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    session = WatchSession(spec(standin))
    with pytest.raises(RouterError, match="never changes router configuration"):
        session.start("/system/reboot")
    with pytest.raises(RouterError, match="count must be"):
        session.start("/ping", address="198.18.5.2")
    assert standin.logins == 0                              # refused before connecting
    standin.set_group("netwatchd", {"read", "api"})         # the test policy taken away
    ping = session.start("/ping", address="198.18.5.2", count=1)
    other = session.start("/system/identity/print")
    assert ping.wait(2.0) and other.wait(2.0)
    with pytest.raises(RouterError, match="'test' policy"):
        ping.result()
    assert other.result() == [{"name": "core"}]
    assert PASSWORD not in caplog.text
    session.close()


def test_a_session_the_router_dropped_is_opened_again_and_the_read_sent_once_more(standin: RouterOSStandIn) -> None:
    session = WatchSession(spec(standin))
    assert session.start("/system/identity/print").wait(2.0)
    standin.drop_connections()                             # the router rebooted, or forgot us
    time.sleep(0.1)
    call = session.start("/system/identity/print")
    assert call.wait(3.0) and call.result() == [{"name": "core"}]
    assert standin.logins == 2
    session.close()


def test_a_silent_router_ends_the_session_at_the_callers_deadline(standin: RouterOSStandIn) -> None:
    session = WatchSession(spec(standin))
    assert session.start("/system/identity/print").wait(2.0)
    standin.set_fault("slow", delay=3.0, times=1)
    call = session.start("/system/resource/print")
    assert not call.wait(0.5)
    session.expired(call)                                  # nothing at all came back: the session ends
    assert call.wait(0.5) and "silence" in str(call.error)
    assert not session.connected
    session.close()


def test_api_ssl_with_the_routers_certificate() -> None:
    with RouterOSStandIn("netwatchd", PASSWORD, tls=True, ping_table={"198.18.5.2": 1.0}) as server:
        session = WatchSession(spec(server, tls=True, port=server.port, ca_file=str(server.ca_file)))
        calls = [session.start("/ping", address="198.18.5.2", count=2, interval="20ms") for _ in range(5)]
        assert all(c.wait(3.0) for c in calls)
        assert [len(c.result()) for c in calls] == [2] * 5
        session.close()


def test_a_router_that_cannot_be_reached_is_one_line_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    with RouterOSStandIn("netwatchd", PASSWORD) as server:
        port = server.port
    session = WatchSession(RouterSpec(name="core", address="127.0.0.1", port=port, username="netwatchd",
                                      password=PASSWORD, timeout=1.0))
    with pytest.raises(RouterError) as caught:
        session.start("/system/identity/print", connect_timeout=0.5)
    message = str(caught.value)
    assert message.startswith("router core (127.0.0.1:") and "refused" in message and "\n" not in message
    assert PASSWORD not in message and PASSWORD not in caplog.text


# --------------------------------------------------------------------------- the Confirmer

def test_eighteen_sites_are_confirmed_in_about_one_pings_time(standin: RouterOSStandIn) -> None:
    for i in range(1, 19):
        standin.set_ping(f"198.18.{i}.2", None if i % 2 else 0.8)
    sessions = WatchSessions([spec(standin)])
    confirmer = Confirmer(SystemClock())
    confirmer.look(sessions.get("core"), 2.0)               # opens the session, as the agent does at start
    started = time.monotonic()
    answers = ask_routers([ask(i, f"198.18.{i}.2") for i in range(1, 19)], sessions.get, confirmer, SystemClock())
    took = time.monotonic() - started
    assert [a.result for a in answers] == [CONFIRMED if i % 2 else REACHABLE for i in range(1, 19)]
    assert all((a.sent, a.received) == ((3, 0) if a.result == CONFIRMED else (3, 3)) for a in answers)
    assert took < confirmer.budget + 0.5, took              # one at a time would take 18 x 0.6 s
    sessions.close()


def test_no_answer_in_time_is_no_answer_not_a_wait(standin: RouterOSStandIn) -> None:
    sessions = WatchSessions([spec(standin)])
    confirmer = Confirmer(SystemClock(), budget=0.4)
    confirmer.look(sessions.get("core"), 2.0)
    standin.set_fault("slow", delay=2.0, commands={"/ping"})
    started = time.monotonic()
    [answer] = ask_routers([ask(1, "198.18.5.2")], sessions.get, confirmer, SystemClock())
    assert answer.result == NO_ANSWER and "no reply" in (answer.error or "")
    assert time.monotonic() - started < 1.0
    sessions.close()


def test_the_evidence_names_the_interface_its_link_downs_the_arp_entry_and_the_log(standin: RouterOSStandIn) -> None:
    standin.addresses.append({"address": "198.18.6.1/30", "network": "198.18.6.0", "interface": "ether3",
                              "disabled": "false", "invalid": "false"})
    sessions = WatchSessions([spec(standin)])
    confirmer = Confirmer(SystemClock())
    confirmer.look(sessions.get("core"), 2.0)               # the baseline: ether3 has gone down 7 times
    for row in standin.interfaces:
        if row["name"] == "ether3":
            row["link-downs"] = "8"
    standin.arp.append({"address": "198.18.6.2", "mac-address": "", "interface": "ether3", "status": "failed",
                        "complete": "false"})
    standin.add_log("interface,info", "ether3 link down")
    standin.add_log("interface,info", "ether30 link down")  # another interface: not about ether3
    [answer] = ask_routers([ask(1, "198.18.6.2")], sessions.get, confirmer, SystemClock())
    items = {item["kind"]: item for item in answer.diagnosis}
    assert items["interface"]["name"] == "ether3" and items["interface"]["running"] is False
    assert (items["interface"]["link_downs_before"], items["interface"]["link_downs"]) == (7, 8)
    assert items["neighbor"]["present"] and items["neighbor"]["status"] == "failed"
    assert [line[1] for line in items["log"]["lines"]] == ["ether3 link down", "ether3 link down"]
    sessions.close()


def test_an_unreadable_log_only_leaves_its_line_out(standin: RouterOSStandIn) -> None:
    sessions = WatchSessions([spec(standin)])
    standin.set_fault("trap", message="not enough permissions (9)", commands={"/log/print"})
    [answer] = ask_routers([ask(1, "198.18.6.2")], sessions.get, Confirmer(SystemClock()), SystemClock())
    assert answer.result == CONFIRMED
    assert {item["kind"] for item in answer.diagnosis} == {"interface", "neighbor"}
    sessions.close()


def test_a_recovered_sites_router_tells_its_uptime(standin: RouterOSStandIn) -> None:
    sessions = WatchSessions([spec(standin)])
    standin.restart()
    time.sleep(0.05)
    [answer] = ask_routers([ask(1, "198.18.6.2", kind="cause")], sessions.get, Confirmer(SystemClock()),
                           SystemClock())
    assert answer.kind == "cause" and answer.uptime_s is not None and answer.uptime_s < 5
    sessions.close()
