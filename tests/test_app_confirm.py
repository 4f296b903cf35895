"""The agent and a real router: the confirmation vote, the recovery cause and router health, end to
end through the store and the outbox, against the RouterOS stand-in over real TCP on loopback.

The probes are the seam replaced (a table of who answers, as in test_app); the router is not: the
questions go out on the agent's WatchSession, the stand-in answers /ping from its table, and the
answers come back through the pool the agent really uses. The lab e2e tests do the same with real
ICMP in namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from netwatchd.app import Agent
from netwatchd.clock import FakeClock
from netwatchd.config.model import Config, HealthSpec, HostSpec, RouterSpec, WebSpec
from netwatchd.lab.routeros_standin import RouterOSStandIn
from netwatchd.models import ProbeResult, State

PASSWORD = "router-secret-for-tests"


class Network:
    def __init__(self) -> None:
        self.down: set[str] = set()

    def probe(self, hosts: Sequence[HostSpec], *, clock: FakeClock) -> list[ProbeResult]:
        return [ProbeResult.from_rtts(host=h.name, address=h.address, probe="icmp", at=clock.now(), sent=3,
                                      rtts_ms=[] if h.name in self.down else [0.4, 0.5, 0.4]) for h in hosts]


def site(name: str, index: int, parent: str | None = "core", **kw: object) -> HostSpec:
    return HostSpec(name=name, address=f"198.18.{index}.2", parent=parent, interval=10.0, timeout=1.0,
                    retry_interval=1.0, down_after=2, up_after=2, **kw)  # type: ignore[arg-type]


@pytest.fixture
def core() -> Iterator[RouterOSStandIn]:
    with RouterOSStandIn("netwatchd", PASSWORD, identity="core", ping_table={}) as server:
        yield server


def make_config(tmp_path: Path, routers: Sequence[RouterSpec], hosts: Sequence[HostSpec]) -> Config:
    return Config(path=tmp_path / "hosts.yaml", data_dir=tmp_path / "data", hosts=tuple(hosts),
                  routers=tuple(routers), web=WebSpec(enabled=False))


def router(name: str, server: RouterOSStandIn, **kw: object) -> RouterSpec:
    return RouterSpec(name=name, address="127.0.0.1", port=server.port, username="netwatchd", password=PASSWORD,
                      timeout=2.0, **kw)  # type: ignore[arg-type]


def settle(agent: Agent, clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    """Like test_app's settle, and every question to a router answered before time moves on."""
    for _ in range(int(seconds / step)):
        clock.advance(step)
        agent.probe_once()
        agent.tick_once()
        assert agent.wait_routers(5.0)


def watching_waru(tmp_path: Path, clock: FakeClock, core: RouterOSStandIn, *extra: RouterSpec,
                  **waru: object) -> tuple[Agent, Network]:
    """An agent watching the core and Waru (via core) with everything up and settled."""
    hosts = [site("core", 1, None), site("Waru", 15, via="core", **waru)]
    net = Network()
    agent = Agent(make_config(tmp_path, [router("core", core), *extra], hosts), clock=clock, probe_fn=net.probe)
    settle(agent, clock, 12)
    return agent, net


def announced(agent: Agent) -> list[dict]:
    rows = agent._conn().execute("SELECT payload FROM outbox ORDER BY id").fetchall()
    return [json.loads(r[0]) for r in rows]


def test_the_router_cannot_reach_the_site_either_so_the_down_is_confirmed(tmp_path, clock, core):
    agent, net = watching_waru(tmp_path, clock, core)
    core.set_ping("198.18.15.2", None)
    net.down.add("Waru")
    settle(agent, clock, 6)
    [down] = announced(agent)
    assert (down["host"], down["to"]) == ("Waru", "down")
    vote = dict(down["evidence"]["confirm"])
    assert vote.pop("waited_s") >= 0 and vote == {"via": "core", "result": "down", "sent": 3, "received": 0}
    assert [c[0] for c in core.commands if c[0] == "/ping"] == ["/ping"]
    ping = next(c for c in core.commands if c[0] == "/ping")
    assert "=count=3" in ping and "=interval=200ms" in ping and "=address=198.18.15.2" in ping
    kinds = {item["kind"] for item in down["evidence"]["diagnosis"]}
    assert {"interface", "neighbor"} <= kinds
    agent.stop(0.5)


def test_the_router_reaching_the_site_gives_a_path_and_never_a_down(tmp_path, clock, core):
    agent, net = watching_waru(tmp_path, clock, core)
    core.set_ping("198.18.15.2", 2.0)
    net.down.add("Waru")
    settle(agent, clock, 20)
    assert [(a["host"], a["to"]) for a in announced(agent)] == [("Waru", "path")]
    assert agent.known["Waru"].state == State.PATH
    net.down.clear()
    settle(agent, clock, 14)                               # its next probe (10 s), then up_after
    assert [(a["host"], a["from"], a["to"]) for a in announced(agent)][-1] == ("Waru", "path", "up")
    agent.stop(0.5)


def test_a_router_that_does_not_answer_gives_an_unconfirmed_down(tmp_path, clock, core):
    agent, net = watching_waru(tmp_path, clock, core)
    core.stop()                                            # the API is gone: refused at once
    net.down.add("Waru")
    settle(agent, clock, 6)
    [down] = announced(agent)
    assert (down["host"], down["to"]) == ("Waru", "down")
    assert down["evidence"]["confirm"]["result"] == "no_answer"
    assert "connection refused" in down["evidence"]["confirm"]["error"]
    assert PASSWORD not in json.dumps(down)
    agent.stop(0.5)


def test_a_site_router_that_restarted_during_the_outage_names_the_cause(tmp_path, clock, core):
    with RouterOSStandIn("netwatchd", PASSWORD, identity="waru-rb") as waru:
        agent, net = watching_waru(tmp_path, clock, core, router("waru-rb", waru), router="waru-rb")
        core.set_ping("198.18.15.2", None)
        net.down.add("Waru")
        settle(agent, clock, 6)
        waru.restart()                                     # it lost power and came back
        clock.advance(120)
        net.down.clear()
        settle(agent, clock, 6)
        up = announced(agent)[-1]
        assert (up["host"], up["to"]) == ("Waru", "up")
        assert up["evidence"]["cause"]["result"] == "restarted" and up["evidence"]["cause"]["router"] == "waru-rb"
        agent.stop(0.5)


def test_router_health_past_a_threshold_is_one_alert_then_one_back_to_normal(tmp_path, clock, core):
    spec = router("core", core, health=HealthSpec(cpu_percent=90, every=5))
    agent = Agent(make_config(tmp_path, [spec], [site("Waru", 15, via="core")]), clock=clock,
                  probe_fn=Network().probe)
    core.resource["cpu-load"] = "97"
    for _ in range(4):
        agent.router_watch_once()
        clock.advance(5)
    core.resource["cpu-load"] = "12"
    for _ in range(3):
        agent.router_watch_once()
        clock.advance(5)
    kinds = [(a["kind"], a["to"], a["evidence"].get("item"), a["evidence"].get("value")) for a in announced(agent)]
    assert kinds == [("router_health", "degraded", "cpu", 97.0), ("router_health", "up", "cpu", 12.0)]
    agent.stop(0.5)
