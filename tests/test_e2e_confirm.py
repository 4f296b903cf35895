"""End to end in the lab: the routers as a second pair of eyes (issue 14's five cases).

`netwatchd run` in the monitor namespace; the core's RouterOS stand-in in the core namespace
answers /ping with real ICMP sent from there and /interface, /ip/arp, /log from the namespace's
real links (netwatchd.lab.live); Candi is a RouterOS device itself (its own stand-in in its
namespace). The cases:
  (a) Waru's cable is cut          -> DOWN "Confirmed by core: 0/3", with the core's evidence
  (b) the core drops only the monitor's packets to Waru (nftables, forward) -> PATH, never a DOWN,
      ten times in a row
  (c) the core's API is stopped, Taman's cable cut -> DOWN "Unconfirmed (core did not answer)"
  (d) Candi loses power (its stand-in's uptime starts over) -> UP "restarted (power cut?)"; a plain
      cable cut -> "link restored"
  (e) the core's CPU load crosses its health threshold -> one alert, then one "back to normal"
Timing as in test_e2e (bound 2.0 s); confirmation may add up to CONFIRM = 1 s on top.

These cases cut the same site again seconds after it came back ((b) ten times, (d) twice), which
the early flapping rule rightly calls FLAPPING at the second outage: this lab turns that rule off
(`flapping: {early_outages: 0}`) so each case sees the vote of a first outage. Flapping, with the
defaults, is test_e2e_truth's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from netwatchd.lab.topology import LabTiming
from support.e2e import acked as _acked
from support.e2e import events as _events
from support.e2e import message
from support.e2e import wait_record as _wait_record

pytestmark = pytest.mark.netns

TIMING = LabTiming(interval=1.0, timeout=0.5, retry_interval=0.5, down_after=2, up_after=2, count=3)
SITES = ["Waru", "Taman", "Candi"]
SLACK = 1.0                 # delivery + scheduling, as in test_e2e
CONFIRM = 1.0               # what the vote may add (issue 14: "adds at most 1 s")
PATH_RUNS = 10


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from conftest import _lab_unavailable

    reason = _lab_unavailable()
    if reason:
        import os

        if os.environ.get("CI"):
            pytest.fail(f"namespace tests must run in CI: {reason}")
        pytest.skip(reason)
    from netwatchd.lab.harness import LabRun

    with LabRun(SITES, timing=TIMING, workdir=tmp_path_factory.mktemp("e2e-confirm"), bot=False,
                site_routers=["Candi"], router_health={"cpu_percent": 90, "every": "1s"},
                flapping={"early_outages": 0}) as lab_run:
        lab_run.start_agent()
        lab_run.wait_all_up(15)
        yield lab_run


@pytest.fixture
def healthy(run: Any) -> Iterator[Any]:
    if run.agent is None or run.agent.poll() is not None:
        run.start_agent()
    run.wait_all_up(15)
    yield run
    run.unblock_path()
    if run.router._server is None:
        run.start_router()
    run.router.resource["cpu-load"] = "7"
    for site in SITES:
        run.restore(site)
    run.wait_all_up(20)


def _text(run: Any, record: dict[str, Any]) -> str:
    """The text of the message that carried `record` (maybe a grouped one: the outbox merges what
    Telegram's pace for a group holds back; a grouped line carries the same vote and cause)."""
    return str(message(run, record)["text"])


def test_a_a_cut_cable_is_a_down_the_core_confirms_with_its_evidence(healthy):
    run = healthy
    before = len(run.timing_records())
    cut_at = run.cut("Waru", "cable")
    down = _wait_record(run, "Waru", "down", after=before, timeout=TIMING.bound + SLACK + CONFIRM + 2)
    assert _acked(down) - cut_at <= TIMING.bound + SLACK + CONFIRM, _acked(down) - cut_at
    text = _text(run, down)
    assert "Waru DOWN" in text and "Confirmed by core: 0/3" in text, text     # the first message: alone
    waru = run.lab.site("Waru")
    assert f"• core {waru.core_if}: not running (link down)" in text, text          # the core's port
    assert f"ARP on core: {waru.address}" in text, text
    assert "core log: " in text and f"{waru.core_if} link down" in text, text
    run.restore("Waru")
    _wait_record(run, "Waru", "up", after=before, timeout=TIMING.bound + SLACK + 4)


def test_c_a_silent_core_api_leaves_the_down_unconfirmed(healthy):
    run = healthy
    before = len(run.timing_records())
    run.stop_router()
    cut_at = run.cut("Taman", "cable")
    down = _wait_record(run, "Taman", "down", after=before, timeout=TIMING.bound + SLACK + CONFIRM + 2)
    assert _acked(down) - cut_at <= TIMING.bound + SLACK + CONFIRM
    assert "unconfirmed (core did not answer)" in _text(run, down).lower()
    run.start_router()
    run.restore("Taman")
    _wait_record(run, "Taman", "up", after=before, timeout=TIMING.bound + SLACK + 4)


def test_d_a_site_router_that_lost_power_says_restarted_a_cut_cable_says_link_restored(healthy):
    run = healthy
    candi = run.site_standins["Candi"]
    before = len(run.timing_records())
    run.cut("Candi", "cable")                              # the router stays up: only its link broke
    _wait_record(run, "Candi", "down", after=before, timeout=TIMING.bound + SLACK + CONFIRM + 2)
    run.restore("Candi")
    up = _wait_record(run, "Candi", "up", after=before, timeout=TIMING.bound + SLACK + 6)
    assert "Cause: link restored (Candi-rb up for" in _text(run, up), _text(run, up)
    before = len(run.timing_records())
    run.cut("Candi", "cable")
    _wait_record(run, "Candi", "down", after=before, timeout=TIMING.bound + SLACK + CONFIRM + 2)
    candi.restart()                                        # the power came back: uptime from zero
    time.sleep(1.0)
    run.restore("Candi")
    up = _wait_record(run, "Candi", "up", after=before, timeout=TIMING.bound + SLACK + 6)
    assert "Cause: Candi restarted (power cut?)" in _text(run, up), _text(run, up)


def test_e_a_routers_cpu_past_its_threshold_is_one_alert_then_one_back_to_normal(healthy):
    run = healthy
    before = len(run.timing_records())
    run.router.resource["cpu-load"] = "96"
    high = _wait_record(run, "core", "degraded", after=before, timeout=10)
    assert "CPU load 96% (threshold 90%)" in _text(run, high), _text(run, high)
    run.router.resource["cpu-load"] = "7"
    ok = _wait_record(run, "core", "up", after=before, timeout=10)
    assert "CPU load 7% (threshold 90%)" in _text(run, ok), _text(run, ok)
    events = [e for r in run.timing_records()[before:] for e in _events(r)]
    assert events == [("core", "degraded"), ("core", "up")], events


def _announced(run: Any, since: int) -> list[tuple[str, str, str]]:
    """(host, from, to) of every alert queued after outbox row `since` (delivered or still paced:
    twenty messages a minute is Telegram's limit for a group, and the outbox keeps to it)."""
    import json

    from netwatchd.store.db import Database

    conn = Database.in_dir(run.data_dir).connect(readonly=True)
    try:
        rows = conn.execute("SELECT payload FROM outbox WHERE id > ? AND chat_id NOT LIKE '%#edit' ORDER BY id",
                            (since,)).fetchall()              # an alert's edit (its '#edit' lane) is not an alert
    finally:
        conn.close()
    return [(p["host"], p["from"], p["to"]) for p in (json.loads(r[0]) for r in rows)]


def _outbox_mark(run: Any) -> int:
    from netwatchd.store.db import Database

    conn = Database.in_dir(run.data_dir).connect(readonly=True)
    try:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def test_b_a_broken_path_at_the_core_is_path_never_down_ten_times_out_of_ten(healthy):
    run = healthy
    before, mark = len(run.timing_records()), _outbox_mark(run)
    for _ in range(PATH_RUNS):
        run.block_path("Waru")
        run.wait_states(lambda s: s.get("Waru") == "path", TIMING.bound + SLACK + CONFIRM + 2)
        run.unblock_path()
        run.wait_states(lambda s: s.get("Waru") == "up", TIMING.bound + SLACK + 4)
    announced = _announced(run, mark)
    assert announced == [("Waru", "up", "path"), ("Waru", "path", "up")] * PATH_RUNS, announced
    path = _wait_record(run, "Waru", "path", after=before, timeout=5)
    text = _text(run, path)
    assert "netwatchd cannot reach Waru, but core can (3/3" in text, text
    assert "the path between this server and core is at fault" in text, text
    back = _wait_record(run, "Waru", "up", after=before, timeout=5)
    assert "Waru reachable again" in _text(run, back)
