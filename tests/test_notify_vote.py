"""What the routers said, in the alerts: exact texts in English and Indonesian (as Gatus tests its
provider bodies), and every dynamic value escaped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from netwatchd.models import State, Transition
from netwatchd.notify.format import render_message

AT = datetime(2026, 11, 27, 14, 3, 5, tzinfo=timezone.utc)
PROBE = {"loss_percent": 100.0, "failures_in_row": 3, "error": "timeout"}
DIAGNOSIS = [
    {"kind": "interface", "router": "core", "name": "ether16", "found": True, "running": False, "disabled": False,
     "link_downs": 8, "link_downs_before": 7, "last_look": "2026-11-27T13:58:00.000+00:00", "comment": "Waru fiber"},
    {"kind": "neighbor", "router": "core", "address": "172.16.200.117", "present": True, "mac": "48:A9:8A:20:15:01",
     "interface": "ether16", "status": "failed"},
    {"kind": "log", "router": "core", "interface": "ether16", "lines": [["2026-11-27 21:02:51", "ether16 link down"]]},
]


def down(result: str = "down", **vote: object) -> Transition:
    confirm = {"via": "core", "result": result, "sent": 3, "received": 0, **vote}
    to = State.PATH if result == "reachable" else State.DOWN
    return Transition("Waru", "172.16.200.117", State.UP, to, AT,
                      evidence={**PROBE, "confirm": confirm, "diagnosis": DIAGNOSIS})


def test_a_confirmed_down_says_so_and_shows_the_routers_evidence():
    assert render_message([down()], language="en") == (
        "🔴 <b>Waru DOWN</b>\nAddress: 172.16.200.117\nSince: 27/11/2026 21:03:05 WIB\n"
        "Evidence: loss 100%, 3 failures in a row, error: timeout\n"
        "Confirmed by core: 0/3\n"
        "• core ether16 (Waru fiber): not running (link down), link-downs 7 → 8 since the look at 20:58\n"
        "• ARP on core: 172.16.200.117 → 48:A9:8A:20:15:01 on ether16 (failed)\n"
        "• core log: 2026-11-27 21:02:51 ether16 link down")
    assert render_message([down()], language="id") == (
        "🔴 <b>Waru DOWN</b>\nAlamat: 172.16.200.117\nSejak: 27/11/2026 21:03:05 WIB\n"
        "Bukti: loss 100%, 3 gagal berturut-turut, error: timeout\n"
        "Dikonfirmasi oleh core: 0/3\n"
        "• core ether16 (Waru fiber): tidak running (link putus), link-down 7 → 8 sejak pemeriksaan 20:58\n"
        "• ARP di core: 172.16.200.117 → 48:A9:8A:20:15:01 di ether16 (failed)\n"
        "• Log core: 2026-11-27 21:02:51 ether16 link down")


def test_an_unconfirmed_down_says_the_router_did_not_answer():
    t = Transition("Waru", "172.16.200.117", State.UP, State.DOWN, AT,
                   evidence={**PROBE, "confirm": {"via": "core", "result": "no_answer", "sent": 0, "received": 0,
                                                  "error": "router core (172.16.0.1:8728): connection refused"}})
    assert render_message([t], language="en").split("\n")[-1] == "Unconfirmed (core did not answer)"
    assert render_message([t], language="id").split("\n")[-1] == "Belum terkonfirmasi (core tidak menjawab)"


def test_path_is_its_own_message_naming_the_path_as_the_fault():
    t = down("reachable", received=3, rtt_ms=2.04)
    assert render_message([t], language="en").split("\n")[:2] == [
        "🟣 <b>Waru PATH PROBLEM</b>",
        "netwatchd cannot reach Waru, but core can (3/3, 2 ms): the path between this server and core is at fault"]
    assert render_message([t], language="id").split("\n")[:2] == [
        "🟣 <b>Waru GANGGUAN JALUR</b>",
        "netwatchd tidak dapat menjangkau Waru, tetapi core dapat (3/3, 2 ms): jalur antara server ini dan core "
        "yang bermasalah"]
    back = Transition("Waru", "172.16.200.117", State.PATH, State.UP, AT + timedelta(minutes=5), since=AT)
    assert render_message([back], language="en") == (
        "🟢 <b>Waru reachable again</b>: the path from this server is back\nAddress: 172.16.200.117\n"
        "At: 27/11/2026 21:08:05 WIB\nPath problem for: 5 min (since 27/11/2026 21:03:05 WIB)")


@pytest.mark.parametrize("cause, en, id_", [
    ({"router": "waru-rb", "result": "restarted", "uptime_s": 95},
     "Cause: Waru restarted (power cut?), waru-rb up for only 1 min 35 s",
     "Penyebab: Waru restart (listrik padam?), waru-rb baru menyala 1 mnt 35 dtk"),
    ({"router": "waru-rb", "result": "link", "uptime_s": 1036800},
     "Cause: link restored (waru-rb up for 12 d)", "Penyebab: link pulih (waru-rb sudah menyala 12 hari)"),
    ({"router": "waru-rb", "result": "unknown", "error": "no answer in time"},
     "Cause unknown (waru-rb did not answer)", "Penyebab tidak diketahui (waru-rb tidak menjawab)"),
])
def test_an_up_says_why_the_site_came_back(cause, en, id_):
    t = Transition("Waru", "172.16.200.117", State.DOWN, State.UP, AT + timedelta(minutes=5), since=AT,
                   evidence={"cause": cause})
    assert render_message([t], language="en").split("\n")[-1] == en
    assert render_message([t], language="id").split("\n")[-1] == id_


def test_router_health_restart_and_pool_alerts():
    pool = Transition("core", "172.16.0.1", State.UP, State.DEGRADED, AT, kind="router_health",
                      evidence={"router": "core", "item": "pool:dhcp-lan", "value": 92.0, "threshold": 90.0,
                                "pool": "dhcp-lan", "used": 46, "size": 50})
    assert render_message([pool], language="en").split("\n")[0] == \
        "🟡 <b>core DEGRADED</b>: IP pool dhcp-lan 92% used (46 of 50 addresses, threshold 90%)"
    cpu_ok = Transition("core", "172.16.0.1", State.DEGRADED, State.UP, AT, kind="router_health",
                        evidence={"router": "core", "item": "cpu", "value": 12.0, "threshold": 90.0})
    assert render_message([cpu_ok], language="id").split("\n")[0] == \
        "🟢 <b>core normal kembali</b>: Beban CPU 12% (batas 90%)"
    restart = Transition("core", "172.16.0.1", State.UP, State.UP, AT, kind="router_restart",
                         evidence={"router": "core", "uptime_s": 250, "previous_uptime_s": 1000000,
                                   "last_look": "2026-11-27T13:58:00.000+00:00"})
    assert render_message([restart], language="en") == (
        "🔄 <b>core restarted</b>\nAddress: 172.16.0.1\nAt: 27/11/2026 21:03:05 WIB\n"
        "uptime 4 min 10 s; at the last look (20:58) it had been up 11 d 13 h")


def test_a_grouped_message_keeps_each_sites_vote():
    taman = Transition("Taman", "172.16.14.1", State.UP, State.PATH, AT,
                       evidence={**PROBE, "confirm": {"via": "core", "result": "reachable", "sent": 3, "received": 3}})
    text = render_message([down(), taman], language="en")
    assert text.split("\n") == [
        "🔔 <b>1 site DOWN, 1 site PATH PROBLEM</b>",
        "🔴 <b>Waru</b> (172.16.200.117) DOWN 21:03:05 WIB — loss 100%, 3 failures in a row, error: timeout, "
        "confirmed by core: 0/3",
        "🟣 <b>Taman</b> (172.16.14.1) PATH PROBLEM 21:03:05 WIB — loss 100%, 3 failures in a row, error: timeout, "
        "core reaches it: 3/3"]


def test_an_arp_entry_without_a_mac_address_says_so():
    t = Transition("Waru", "198.18.15.2", State.UP, State.DOWN, AT, evidence={"diagnosis": [
        {"kind": "neighbor", "router": "core", "address": "198.18.15.2", "present": True, "mac": "",
         "interface": "ether16", "status": "incomplete"},
        {"kind": "route", "router": "core", "address": "198.18.15.2", "found": False}]})
    assert render_message([t], language="en").split("\n")[-2:] == [
        "• ARP on core: 198.18.15.2 on ether16 without a MAC address (incomplete)",
        "• core has no route to 198.18.15.2"]


def test_what_a_router_says_is_escaped():
    t = Transition("Waru", "172.16.200.117", State.UP, State.DOWN, AT, evidence={
        "confirm": {"via": "co<re", "result": "down", "sent": 3, "received": 0},
        "diagnosis": [{"kind": "log", "router": "co<re", "lines": [["10:00", "<b>evil</b> & co"]]}]})
    text = render_message([t], language="en")
    assert "co&lt;re" in text and "&lt;b&gt;evil&lt;/b&gt; &amp; co" in text and "<b>evil" not in text
