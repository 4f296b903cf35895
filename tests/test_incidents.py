"""The pure decisions of engine.incidents and engine.routing: which transition opens or ends an
outage, which messages a round makes and where they go, who may press what, what is due. Tables of
inputs and exact outputs; no store, no clock, no sleeping."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from netwatchd.config.model import Config, EscalationLevel, HostSpec, Route, RouteMatch, TelegramSpec
from netwatchd.engine.incidents import (
    ACK,
    ACKED,
    ADMIN,
    ALREADY_ACKED,
    DIAGNOSE,
    FORGED,
    HISTORY,
    NOT_ALLOWED,
    RESOLVED,
    SNOOZE,
    SNOOZED,
    VIEWER,
    VIEWER_ONLY,
    Incident,
    Post,
    callback_data,
    due_escalations,
    ended_by,
    ends,
    escalation_due,
    judge_press,
    opens,
    parse_callback,
    plan_round,
    role_of,
)
from netwatchd.engine.routing import CONSOLE, Destination, Router
from netwatchd.models import State, Transition

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)
MAIN, DISTRICT, CORE_CHAT = -100111, -1004444, -1009999


def t(host: str, to: State, kind: str = "state", *, notify: bool = True, minutes: float = 0.0,
      affected: tuple[str, ...] = ()) -> Transition:
    frm = State.UP if to != State.UP else State.DOWN
    return Transition(host=host, address="198.18.1.2", from_state=frm, to_state=to, at=T0 + timedelta(minutes=minutes),
                      kind=kind, notify=notify, affected=affected)


def config(routes: tuple[Route, ...] = (), token: str = "123:abc") -> Config:
    hosts = (HostSpec("core", "198.18.0.2", group="core"), HostSpec("Waru", "198.18.1.2", group="kecamatan"),
             HostSpec("Taman", "198.18.2.2", group="kecamatan"), HostSpec("Candi", "198.18.3.2", group="kota"))
    return Config(path=Path("hosts.yaml"), data_dir=Path("data"), hosts=hosts,
                  telegram=TelegramSpec(token=token, chat_ids=(MAIN,), routes=routes))


def incident(host: str = "Waru", **kw: object) -> Incident:
    return Incident(id=kw.pop("id", 1), token="tok12345abcdefgh", host=host, opened_at=T0, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ opens / ends


@pytest.mark.parametrize("transition, opening, ending", [
    (t("Waru", State.DOWN), True, False),
    (t("Waru", State.DEGRADED), True, False),
    (t("Waru", State.UNREACHABLE), True, False),
    (t("Waru", State.PATH), True, False),                           # the via router still reaches it
    (t("Waru", State.DOWN, notify=False), False, False),            # muted, or alert_on_down: false
    (t("Waru", State.UP), False, True),
    (t("Waru", State.UP, notify=False), False, True),               # folded into its parent's UP
    (t("Waru", State.UP, "flapping"), True, False),
    (t("Waru", State.UP, "stable"), False, True),
    (t("Waru", State.DOWN, "stable"), True, False),
    (t("Waru", State.DOWN, "maintenance_end"), True, False),
    (t("Waru", State.DOWN, "reminder"), False, False),
    (t("__self__", State.DOWN, "uplink_lost"), True, False),
    (t("__self__", State.UP, "uplink_back"), False, True),
    (t("Waru", State.DOWN, "crosscheck"), False, False),            # a disagreement, not an outage
])
def test_what_opens_and_what_ends_an_outage(transition: Transition, opening: bool, ending: bool) -> None:
    assert (opens(transition), ends(transition)) == (opening, ending)


# ------------------------------------------------------------------ routing


ROUTES = (Route((RouteMatch(host="Waru"),), (DISTRICT,), 12), Route((RouteMatch(group="kecamatan"),), (CORE_CHAT,)))


@pytest.mark.parametrize("transition, expected", [
    (t("Waru", State.DOWN), [Destination(str(DISTRICT), 12)]),                       # first match wins
    (t("taman", State.DOWN), [Destination(str(CORE_CHAT))]),                         # its group, any case
    (t("Candi", State.DOWN), [Destination(str(MAIN))]),                              # no route: chat_ids
    (t("core", State.DOWN, affected=("Waru", "Taman", "Candi")),                     # a fold: every child's chat
     [Destination(str(MAIN)), Destination(str(DISTRICT), 12), Destination(str(CORE_CHAT))]),
    (t("__self__", State.DOWN, "uplink_lost"),
     [Destination(str(MAIN)), Destination(str(DISTRICT), 12), Destination(str(CORE_CHAT))]),
    (t("__self__", State.UP, "reload"), [Destination(str(MAIN))]),
])
def test_routes_first_match_folds_and_the_servers_own_news(transition: Transition, expected: list[Destination]) -> None:
    assert Router(config(ROUTES)).destinations(transition) == expected


def test_without_a_token_everything_goes_to_the_console() -> None:
    assert Router(config(ROUTES, token="")).destinations(t("Waru", State.DOWN)) == [Destination(CONSOLE)]


# ------------------------------------------------------------------ a round


def test_a_round_opens_replies_silences_and_closes_in_order() -> None:
    router = Router(config())
    acked = incident("Taman", acked_at=T0)
    chats = {"Taman": [Destination(str(MAIN)), Destination("-1002222")]}        # it was escalated too
    round_ = [t("Waru", State.DOWN), t("Taman", State.DOWN, "reminder"), t("Waru", State.UP, minutes=3),
              t("Waru", State.DOWN, minutes=4), t("Taman", State.UP, minutes=5), t("Candi", State.UP)]
    plan = plan_round(round_, {"Taman": acked}, chats, router, T0)
    assert [x.notify for x in plan.transitions] == [True, False, True, True, True, True]
    assert plan.opened == [(0, "Waru"), (3, "Waru")] and plan.closed == [(2, "Waru"), (4, "Taman")]
    main = Destination(str(MAIN))
    assert plan.posts == [
        Post(0, main, "Waru", root=True),
        Post(2, main, "Waru"),                                   # the UP in Waru's thread
        Post(3, main, "Waru", root=True),                        # a new outage, a new thread
        Post(4, main, "Taman"), Post(4, Destination("-1002222"), "Taman"),    # the escalation chat hears the end
        Post(5, main),                                           # an UP without an outage: a plain message
    ]


def test_a_reminder_goes_only_where_the_sites_alerts_go_and_a_snooze_silences_it_until_it_ends() -> None:
    router = Router(config())
    snoozed = incident(snoozed_until=T0 + timedelta(hours=1))
    chats = {"Waru": [Destination(str(MAIN)), Destination("-1002222")]}
    reminder = t("Waru", State.DOWN, "reminder")
    assert plan_round([reminder], {"Waru": snoozed}, chats, router, T0).transitions[0].notify is False
    later = plan_round([reminder], {"Waru": snoozed}, chats, router, T0 + timedelta(hours=1))
    assert later.transitions[0].notify is True
    assert later.posts == [Post(0, Destination(str(MAIN)), "Waru")]


# ------------------------------------------------------------------ escalation


def test_each_level_is_due_after_its_time_and_not_before_a_snooze_ends() -> None:
    levels = (EscalationLevel(900.0, (-1,)), EscalationLevel(3600.0, (-2,)))
    assert escalation_due(T0, levels, 0) == T0 + timedelta(minutes=15)
    assert escalation_due(T0, levels, 1) == T0 + timedelta(hours=1)
    assert escalation_due(T0, levels, 2) is None
    assert escalation_due(T0, levels, 0, T0 + timedelta(minutes=40)) == T0 + timedelta(minutes=40)
    assert escalation_due(T0, levels, 1, T0 + timedelta(minutes=40)) == T0 + timedelta(hours=1)


def test_what_is_due_leaves_out_the_acknowledged_the_snoozed_the_resolved_and_the_early() -> None:
    now = T0 + timedelta(minutes=20)
    due_at = T0 + timedelta(minutes=15)
    waiting = [incident("A", id=1, escalate_at=due_at), incident("B", id=2, escalate_at=due_at, acked_at=T0),
               incident("C", id=3, escalate_at=due_at, snoozed_until=now + timedelta(minutes=1)),
               incident("D", id=4, escalate_at=due_at, resolved_at=T0),
               incident("E", id=5, escalate_at=now + timedelta(1)),
               incident("F", id=6, escalate_at=T0 + timedelta(minutes=10)), incident("G", id=7)]
    assert [i.host for i in due_escalations(waiting, now)] == ["F", "A"]


# ------------------------------------------------------------------ presses


def test_callback_data_is_opaque_short_and_read_back_exactly() -> None:
    data = callback_data("Zx-_09abcdefghij", DIAGNOSE)
    assert data == "nw1:Zx-_09abcdefghij:d" and len(data.encode()) <= 64
    assert parse_callback(data) == ("Zx-_09abcdefghij", DIAGNOSE)
    for forged in ("nw1:short:a", "nw1:Zx-_09abcdefghij:x", "nw1:Zx-_09abcdefghij", "/monitor",
                   "nw1:Zx-_09abc;DROP TABLE:a", "nw1:" + "a" * 41 + ":a"):
        assert parse_callback(forged) is None, forged


@pytest.mark.parametrize("state, action, role, on_message, outcome", [
    ({}, ACK, ADMIN, True, ACKED),
    ({}, SNOOZE, ADMIN, True, SNOOZED),
    ({}, DIAGNOSE, ADMIN, True, "run"),
    ({}, HISTORY, VIEWER, True, "run"),
    ({}, ACK, VIEWER, True, VIEWER_ONLY),
    ({}, DIAGNOSE, VIEWER, True, VIEWER_ONLY),
    ({}, HISTORY, None, True, NOT_ALLOWED),
    ({}, ACK, None, True, NOT_ALLOWED),
    ({}, ACK, ADMIN, False, FORGED),                       # another incident's data on this message
    ({"acked_at": T0}, ACK, ADMIN, True, ALREADY_ACKED),
    ({"acked_at": T0}, SNOOZE, ADMIN, True, ALREADY_ACKED),
    ({"resolved_at": T0}, ACK, ADMIN, True, RESOLVED),       # stale: the outage is over
    ({"resolved_at": T0}, DIAGNOSE, ADMIN, True, RESOLVED),
    ({"resolved_at": T0}, HISTORY, VIEWER, True, "run"),     # a look at the past is always fine
])
def test_who_may_press_what(state: dict[str, object], action: str, role: str | None, on_message: bool,
                            outcome: str) -> None:
    verdict = judge_press(replace(incident(), **state), action, role, on_message=on_message)  # type: ignore[arg-type]
    assert verdict.outcome == outcome
    assert verdict.change == ({ACKED: ACK, SNOOZED: SNOOZE}.get(outcome))
    assert (verdict.run is not None) == (outcome == "run")


def test_an_unknown_token_or_no_action_is_refused_as_forged() -> None:
    assert judge_press(None, ACK, ADMIN, on_message=True).outcome == FORGED
    assert judge_press(incident(), None, ADMIN, on_message=True).outcome == FORGED


def test_roles() -> None:
    assert [role_of(u, (1, 2), (3, 1)) for u in (1, 2, 3, 4, None)] == [ADMIN, ADMIN, VIEWER, None, None]


def test_an_outage_ends_when_the_admins_are_told_the_site_is_back() -> None:
    core_up = t("core", State.UP, affected=("Waru", "Taman"))
    back = replace(t("__self__", State.UP, "uplink_back", affected=("Waru", "Taman")),
                   evidence={"changes": {"Waru": "up", "Taman": "down"}})
    assert ended_by(t("Waru", State.UP)) == ["Waru"]
    assert ended_by(core_up) == ["core", "Waru", "Taman"]          # folded into the parent's UP
    assert ended_by(back) == ["__self__", "Waru"]                   # the summary lists Taman as down
    assert ended_by(t("Waru", State.UP, notify=False)) == []        # muted or flapping: nobody was told
    assert ended_by(t("core", State.DOWN, affected=("Waru",))) == []


def test_a_flapping_sites_silent_flips_keep_its_outage_open_until_it_is_stable() -> None:
    router = Router(config())
    flapping = t("Waru", State.UP, "flapping")
    round_ = [flapping, t("Waru", State.UP, notify=False, minutes=1), t("Waru", State.DOWN, notify=False, minutes=2),
              t("Waru", State.UP, "stable", minutes=9)]
    plan = plan_round(round_, {}, {}, router, T0)
    assert plan.opened == [(0, "Waru")] and plan.closed == [(3, "Waru")]
    main = Destination(str(MAIN))
    assert plan.posts == [Post(0, main, "Waru", root=True), Post(3, main, "Waru")]


def test_a_parents_up_ends_its_folded_childrens_outages_in_the_same_round() -> None:
    router = Router(config())
    open_ = {"Waru": incident("Waru", id=7)}
    plan = plan_round([t("core", State.UP, affected=("Waru",)), t("Waru", State.UP, notify=False)], open_,
                      {"Waru": [Destination(str(MAIN))]}, router, T0)
    assert plan.closed == [(0, "Waru")] and plan.opened == []
    assert plan.posts == [Post(0, Destination(str(MAIN)))]       # core had no outage open: a plain message
