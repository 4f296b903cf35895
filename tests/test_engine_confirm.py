"""The engine's two-vantage vote and recovery cause: questions out (`take_asks`), answers in.

The engine never talks to a router: these tests play the router's part by hand, so every order
of events (the answer before or after another probe, the parent dying meanwhile, a restart with
a question open) is tried exactly, without sleeping.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from netwatchd.engine.confirm import (
    CAUSE_GIVE_UP_S,
    CONFIRM_GIVE_UP_S,
    CONFIRMED,
    LINK_RESTORED,
    NO_ANSWER,
    PATH_RECHECK_S,
    REACHABLE,
    RESTARTED,
    RouterAnswer,
    recovery_cause,
)
from netwatchd.engine.engine import AlertEngine
from netwatchd.models import State
from support.state import Driver, alerts, brief, config, host

D, U, P, X, N = "down", "up", "path", "unreachable", "unknown"


def site(name: str = "waru", parent: str | None = "core", **kw):
    kw.setdefault("via", "core")
    return host(name, parent=parent, **kw)


def settled(*hosts) -> Driver:
    run = Driver(config(hosts))
    run.feed({h.name: "++" for h in hosts})
    return run


def reply(run: Driver, ask, result: str = CONFIRMED, **kw) -> list:
    answer = RouterAnswer(id=ask.id, kind=ask.kind, host=ask.host, router=ask.router, at=run.clock.now(),
                          result=result, **kw)
    out = run.engine.answer([answer])
    run.log += out
    return out


def one_ask(run: Driver, kind: str = "confirm"):
    asks = run.engine.take_asks()
    assert len(asks) == 1 and asks[0].kind == kind, asks
    return asks[0]


def test_a_down_waits_for_the_router_and_says_it_confirmed():
    run = settled(host("core"), site())
    out = run.feed({"core": "+++", "waru": "---"})
    assert alerts(out) == [] and run.state("waru") == State.UP          # not announced yet
    ask = one_ask(run)
    assert (ask.host, ask.router, ask.address) == ("waru", "core", site().address)
    out = reply(run, ask, CONFIRMED, sent=3, received=0, diagnosis=({"kind": "interface", "name": "ether6"},))
    assert alerts(out) == [("waru", "state", U, D, True, ())]
    evidence = out[0].evidence
    assert evidence["confirm"] == {"via": "core", "result": CONFIRMED, "sent": 3, "received": 0, "waited_s": 0.0}
    assert evidence["diagnosis"] == [{"kind": "interface", "name": "ether6"}]
    assert run.engine.take_asks() == []                                  # asked once, not per probe


def test_the_router_reaching_the_site_makes_it_path_never_down():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    out = reply(run, one_ask(run), REACHABLE, sent=3, received=3, rtt_ms=2.04)
    assert alerts(out) == [("waru", "state", U, P, True, ())]
    assert out[0].evidence["confirm"]["rtt_ms"] == 2.04
    # more failures change nothing and ask nothing until the re-check is due
    assert alerts(run.feed({"core": "+++++", "waru": "-----"})) == [] and run.engine.take_asks() == []
    assert run.engine.is_settling("waru") is False                       # probed at its normal pace
    run.clock.advance(PATH_RECHECK_S)
    run.step(core="+", waru="-")
    again = one_ask(run)
    assert reply(run, again, REACHABLE, sent=3, received=3) == [] and run.state("waru") == State.PATH
    run.clock.advance(PATH_RECHECK_S)
    run.step(core="+", waru="-")
    assert reply(run, one_ask(run), NO_ANSWER, error="timeout") == []    # nothing new is known
    run.clock.advance(PATH_RECHECK_S)
    run.step(core="+", waru="-")
    out = reply(run, one_ask(run), CONFIRMED, sent=3, received=0)
    assert alerts(out) == [("waru", "state", P, D, True, ())]            # now the site itself is gone


def test_path_ends_with_an_up_when_the_site_answers_again():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    reply(run, one_ask(run), REACHABLE, sent=3, received=2)
    out = run.feed({"core": "++", "waru": "++"})
    assert alerts(out) == [("waru", "state", P, U, True, ())]


def test_no_answer_from_the_router_is_a_down_marked_unconfirmed():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    out = reply(run, one_ask(run), NO_ANSWER, error="connection refused")
    assert alerts(out) == [("waru", "state", U, D, True, ())]
    assert out[0].evidence["confirm"] == {"via": "core", "result": NO_ANSWER, "sent": 0, "received": 0,
                                          "error": "connection refused", "waited_s": 0.0}


def test_an_answer_that_never_comes_is_given_up_and_the_down_still_goes_out():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    one_ask(run)
    assert alerts(run.step(1.0, core="+", waru="-")) == []
    out = run.step(CONFIRM_GIVE_UP_S, core="+", waru="-")
    assert alerts(out) == [("waru", "state", U, D, True, ())]
    assert out[-1].evidence["confirm"]["result"] == NO_ANSWER
    assert out[-1].evidence["confirm"]["waited_s"] == 1.0 + CONFIRM_GIVE_UP_S


def test_a_site_that_answers_again_while_asked_stays_up_and_the_late_answer_is_ignored():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    ask = one_ask(run)
    assert run.feed({"core": "+", "waru": "+"}) == []
    assert reply(run, ask, CONFIRMED, sent=3, received=0) == []
    assert run.state("waru") == State.UP and "confirm" not in run.engine.states()["waru"].extra
    run.feed({"core": "+++", "waru": "---"})                                         # a new outage asks anew
    assert one_ask(run).id > ask.id


def test_a_dead_parent_still_folds_its_children_and_they_are_never_asked_about():
    run = settled(host("core"), site("waru"), site("taman"))
    out = run.feed({"core": "---", "waru": "---", "taman": "---"})
    assert alerts(out) == [("core", "state", U, D, True, ("waru", "taman"))]
    assert run.engine.take_asks() == []


def test_a_parent_dying_while_its_child_is_asked_about_folds_the_child():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    ask = one_ask(run)
    out = run.feed({"core": "---", "waru": "---"})
    assert alerts(out) == [("core", "state", U, D, True, ("waru",))]
    assert run.state("waru") == State.UNREACHABLE
    assert reply(run, ask, CONFIRMED, sent=3, received=0) == []        # the question went with it


def test_children_wait_for_their_parents_verdict_then_fold_or_are_asked_themselves():
    gw, core, waru = host("gw"), site("core", parent="gw", via="gw"), site("waru")
    run = settled(gw, core, waru)
    run.feed({"gw": "+++", "core": "---", "waru": "---"})
    ask = one_ask(run)
    assert ask.host == "core"                                          # waru is held behind it
    out = reply(run, ask, CONFIRMED, sent=3, received=0)
    assert alerts(out) == [("core", "state", U, D, True, ("waru",))]

    run = settled(gw, core, waru)
    run.feed({"gw": "+++", "core": "---", "waru": "---"})
    out = reply(run, one_ask(run), REACHABLE, sent=3, received=3)
    assert alerts(out) == [("core", "state", U, P, True, ())]
    asked = run.engine.take_asks()                                     # released: waru asks core itself
    assert [(a.host, a.router) for a in asked] == [("waru", "core")]
    out = reply(run, asked[0], CONFIRMED, sent=3, received=0)
    assert alerts(out) == [("waru", "state", U, D, True, ())]


def test_an_open_question_survives_a_restart():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    first = one_ask(run)
    engine = AlertEngine(run.config, run.clock, run.engine.states())
    [again] = engine.take_asks()
    assert (again.host, again.kind) == ("waru", "confirm")
    assert first.host == again.host
    run.engine = engine
    out = reply(run, again, CONFIRMED, sent=3, received=0)
    assert alerts(out) == [("waru", "state", U, D, True, ())]


def test_without_a_via_router_or_with_confirm_off_the_down_is_immediate():
    for spec in (host("waru", parent="core"), site(confirm=False)):
        run = settled(host("core"), spec)
        assert alerts(run.feed({"core": "+++", "waru": "---"})) == [("waru", "state", U, D, True, ())]
        assert run.engine.take_asks() == []


def test_a_device_off_on_purpose_stays_silent_when_down_but_a_path_is_news():
    run = settled(host("core"), site(alert_on_down=False))
    run.feed({"core": "+++", "waru": "---"})
    assert alerts(reply(run, one_ask(run), CONFIRMED)) == []
    run = settled(host("core"), site(alert_on_down=False))
    run.feed({"core": "+++", "waru": "---"})
    assert alerts(reply(run, one_ask(run), REACHABLE, sent=3, received=3)) == [("waru", "state", U, P, True, ())]


# --------------------------------------------------------------------------- the cause of a recovery

@pytest.mark.parametrize("uptime_s, expected", [(30.0, RESTARTED), (86400.0 * 12, LINK_RESTORED), (None, "unknown")])
def test_an_up_waits_for_the_sites_router_and_carries_the_cause(uptime_s, expected):
    run = settled(host("core"), site(router="waru-rb", confirm=False))
    run.feed({"core": "+++", "waru": "---"})
    run.clock.advance(300)                                             # five minutes out
    out = run.feed({"core": "++", "waru": "++"})
    assert alerts(out) == [] and run.state("waru") == State.UP          # UP at once, its message waits
    ask = one_ask(run, "cause")
    assert (ask.host, ask.router) == ("waru", "waru-rb")
    kw = {"uptime_s": uptime_s} if uptime_s is not None else {"error": "no reply within 5 s"}
    run.clock.advance(0.2)
    out = reply(run, ask, **kw)
    assert alerts(out) == [("waru", "state", D, U, True, ())]
    cause = out[0].evidence["cause"]
    assert cause["result"] == expected and cause["router"] == "waru-rb"
    assert out[0].at < run.clock.now()                                 # stamped when it was decided


def test_an_up_whose_cause_never_comes_goes_out_anyway():
    run = settled(host("core"), site(router="waru-rb", confirm=False))
    run.feed({"core": "+++", "waru": "---"})
    run.feed({"core": "++", "waru": "++"})
    one_ask(run, "cause")
    out = run.step(CAUSE_GIVE_UP_S, core="+", waru="+")
    assert alerts(out) == [("waru", "state", D, U, True, ())]
    assert out[0].evidence["cause"] == {"router": "waru-rb", "result": "unknown", "error": "no answer in time"}


def test_a_new_change_lets_the_held_up_out_first_so_messages_keep_their_order():
    run = settled(host("core"), site(router="waru-rb", confirm=False))
    run.feed({"core": "+++", "waru": "---"})
    run.feed({"core": "++", "waru": "++"})
    one_ask(run, "cause")
    out = run.feed({"core": "+++", "waru": "---"})
    assert [brief(t)[2:4] for t in out if t.notify] == [(D, U), (U, D)]


def test_recovery_cause_compares_boot_time_with_the_start_of_the_outage():
    at = datetime(2026, 1, 5, 1, 10)
    began = datetime(2026, 1, 5, 1, 0)
    assert recovery_cause(120.0, at, began) == RESTARTED               # booted 8 min into a 10 min outage
    assert recovery_cause(3600.0, at, began) == LINK_RESTORED
    assert recovery_cause(None, at, began) == "unknown"


def test_a_wall_clock_step_forward_does_not_give_an_open_question_up():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    ask = one_ask(run)
    run.clock.step(2 * 3600)                                # NTP steps the clock 2 h forward meanwhile
    assert alerts(run.step(0.5, core="+", waru="-")) == []   # 0.5 s of real time: still waiting
    out = reply(run, ask, CONFIRMED, sent=3, received=0)
    assert alerts(out) == [("waru", "state", U, D, True, ())]
    assert out[0].evidence["confirm"]["waited_s"] == 0.5


def test_a_path_recheck_keeps_its_minute_across_a_step_back():
    run = settled(host("core"), site())
    run.feed({"core": "+++", "waru": "---"})
    reply(run, one_ask(run), REACHABLE, sent=3, received=3)
    run.clock.step(-3600)                                   # the clock steps back an hour
    run.clock.advance(PATH_RECHECK_S)
    run.step(core="+", waru="-")
    assert [a.host for a in run.engine.take_asks()] == ["waru"]   # due after a minute, not an hour later


def test_a_path_that_comes_and_goes_is_flapping_like_an_outage():
    """Issue 12 under the vote: a link down and up every 1.5 s often comes back before the router
    pings, so its outages are decided PATH; the second within the early window is FLAPPING."""
    from dataclasses import replace

    from netwatchd.config.model import FlapPolicy

    run = Driver(config([host("core"), replace(site(interval=1.0, down_after=2, up_after=2), retry_interval=0.5)],
                        flapping=FlapPolicy()))
    run.feed({"core": "++", "waru": "++"})
    kinds = []
    for _ in range(2):                                   # fail, the router reaches it, answers again
        out = run.feed({"core": "++", "waru": "--"})
        out += reply(run, one_ask(run), REACHABLE, sent=3, received=3)
        out += run.feed({"core": "++", "waru": "++"})
        kinds += [(a[1], a[3]) for a in alerts(out)]
    assert kinds == [("state", P), ("state", U), ("flapping", P)], kinds
    flapping = [t for t in run.log if t.notify and t.kind == "flapping"][0]
    assert flapping.evidence["outages"] == 2
