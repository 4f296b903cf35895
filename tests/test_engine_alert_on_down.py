"""`alert_on_down: false`: a DOWN is decided and recorded but never announced (nor reminded, nor
listed at startup or at a mute's end); the UP that ends it is announced (netwatch-notify's
no-down-notification). Checked against the same engine driver as tests/test_engine.py, and the
key's loading (and its warning) through the real config loader."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from netwatchd.config.loader import analyze
from netwatchd.config.model import FlapPolicy
from netwatchd.engine.engine import SELF_HOST, Mute
from netwatchd.models import State
from support.state import Driver, alerts, brief, config, host

D, U, G, X, N = "down", "up", "degraded", "unreachable", "unknown"


def test_down_is_recorded_silently_and_the_up_after_it_is_announced() -> None:
    run = Driver(config([host("printer", alert_on_down=False), host("a")]))
    out = run.feed({"printer": "++---", "a": "++---"})
    assert [brief(t) for t in out if t.host == "printer"] == [
        ("printer", "state", N, U, False, ()), ("printer", "state", U, D, False, ())]
    assert alerts(out) == [("a", "state", U, D, True, ())]           # an ordinary host still alerts
    assert run.state("printer") == State.DOWN
    assert run.engine.states()["printer"].told == State.DOWN          # counted as told
    out = run.feed({"printer": "++"})
    assert alerts(out) == [("printer", "state", D, U, True, ())]


def test_degraded_is_still_announced() -> None:
    run = Driver(config([host("printer", alert_on_down=False)]))
    out = run.feed({"printer": "++~~~++"})
    assert alerts(out) == [("printer", "state", U, G, True, ()), ("printer", "state", G, U, True, ())]


def test_no_reminders_for_a_down_that_was_not_announced() -> None:
    run = Driver(config([host("printer", alert_on_down=False, reminder_every=10.0),
                         host("a", reminder_every=10.0)]))
    run.feed({"printer": "++---", "a": "++---"})
    out = run.feed({"printer": "-" * 25, "a": "-" * 25})
    assert alerts(out) == [("a", "reminder", D, D, True, ())] * 2


def test_mute_ending_while_down_says_nothing_and_the_up_follows() -> None:
    run = Driver(config([host("printer", alert_on_down=False)]))
    run.feed({"printer": "++"})
    run.engine.set_mutes([Mute(target="printer", until=run.clock.now() + timedelta(seconds=5))])
    out = run.feed({"printer": "-" * 12})
    assert alerts(out) == [] and run.state("printer") == State.DOWN
    out = run.feed({"printer": "++"})
    assert alerts(out) == [("printer", "state", D, U, True, ())]


def test_startup_summary_does_not_list_it_but_its_up_is_news() -> None:
    run = Driver(config([host("printer", alert_on_down=False), host("b")], announce_startup=True))
    out = run.feed({"printer": "---", "b": "---"})
    assert alerts(out) == [(SELF_HOST, "startup", N, U, True, ("b",))]
    assert out[-1].evidence["down"] == 1
    out = run.feed({"printer": "++"})
    assert alerts(out) == [("printer", "state", D, U, True, ())]


def test_children_of_a_silent_parent_are_unreachable_without_a_message() -> None:
    run = Driver(config([host("ap", alert_on_down=False), host("cam", parent="ap")]))
    run.feed({"ap": "++", "cam": "++"})
    out = run.feed({"ap": "---", "cam": "---"})
    assert alerts(out) == []
    assert (run.state("ap"), run.state("cam")) == (State.DOWN, State.UNREACHABLE)
    out = run.feed({"ap": "++", "cam": "++"})
    assert alerts(out) == [("ap", "state", D, U, True, ())]
    assert run.state("cam") == State.UP


def test_flapping_then_stable_in_down_is_silent_unless_flapping_was_announced() -> None:
    flappy = FlapPolicy(window=11, high_percent=40.0, low_percent=20.0)
    run = Driver(config([host("printer", alert_on_down=False, down_after=1, up_after=1)], flapping=flappy))
    out = run.feed({"printer": "+-+-+-+-"})
    kinds = [a[1] for a in alerts(out)]
    assert "flapping" in kinds and all(a[3] != D or a[1] == "flapping" for a in alerts(out))
    out = run.feed({"printer": "-" * 110})    # stable_after: 10 x its 10 s interval
    # admins were told "flapping": the "stable" that closes it is sent, whatever the state
    assert [(a[1], a[3]) for a in alerts(out)] == [("stable", D)]


def test_the_key_loads_and_warns_when_reminders_can_never_fire(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("defaults: {reminder_every: 1h}\n"
                    "hosts:\n"
                    "  - {name: printer, address: 198.18.0.30, alert_on_down: false}\n"
                    "  - {name: gw, address: 198.18.0.1}\n"
                    "  - {name: bad, address: 198.18.0.2, alert_on_down: maybe}\n", encoding="utf-8")
    result = analyze(path)
    assert [str(p) for p in result.problems] == [
        f"{path}:5: hosts[bad].alert_on_down: 'maybe' is not true or false (write true or false)"]
    assert [str(w) for w in result.warnings] == [
        f"{path}:3: warning: hosts[printer].alert_on_down: reminder_every has no effect while alert_on_down is "
        "false (a DOWN that is not announced is not reminded either) (remove reminder_every, or set "
        "alert_on_down: true)"]
    path.write_text("hosts:\n  - {name: printer, address: 198.18.0.30, alert_on_down: false}\n"
                    "  - {name: gw, address: 198.18.0.1}\n", encoding="utf-8")
    result = analyze(path)
    assert not result.problems and not result.warnings and result.config is not None
    assert [h.alert_on_down for h in result.config.hosts] == [False, True]
