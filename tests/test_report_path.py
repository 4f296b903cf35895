"""Reports: PATH time is its own category (never downtime, left out of availability), an outage
carries its recovery cause, and a router's health alerts never move a site's timeline."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from netwatchd.models import State, Transition
from netwatchd.report.data import load_inputs
from netwatchd.report.render import cause_text, render_text, site_to_dict
from netwatchd.report.stats import SiteInfo, StateChange, build_report, site_report
from netwatchd.store import state_repo
from netwatchd.store.db import Database

WIB = ZoneInfo("Asia/Jakarta")


def wib(h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, 1, h, m, tzinfo=WIB)


SINCE, UNTIL = wib(0), wib(12)          # 43,200 s


def test_path_time_is_not_downtime_and_not_in_availability():
    changes = [StateChange("Waru", wib(2), "path", "up"), StateChange("Waru", wib(3), "up", "path"),
               StateChange("Waru", wib(6), "down", "up"), StateChange("Waru", wib(7), "up", "down", cause="restarted")]
    report = site_report(SiteInfo("Waru", parent="core"), "up", changes, SINCE, UNTIL, WIB)
    assert report.path_s == 3600 and report.downtime_s == 3600
    # available 10 h of the 11 h with a known state: the PATH hour counts for neither side
    assert round(report.availability_percent, 4) == round(100 * 10 / 11, 4)
    [outage] = report.outages
    assert (outage.start, outage.end, outage.cause, outage.recovery) == (
        wib(6).astimezone(timezone.utc), wib(7).astimezone(timezone.utc), "down", "restarted")
    assert site_to_dict(report)["path_s"] == 3600 and site_to_dict(report)["outages"][0]["recovery"] == "restarted"
    assert cause_text(outage, report, "en") == "down, restarted (power cut?)"
    assert cause_text(outage, report, "id") == "putus, restart (listrik padam?)"


def test_the_store_gives_the_report_its_causes_and_router_alerts_do_not_touch_the_site(tmp_path):
    db = Database.in_dir(tmp_path)
    db.migrate()
    conn = db.connect()
    transitions = [
        Transition("Waru", "198.18.15.2", State.UNKNOWN, State.UP, wib(0, 30)),
        Transition("Waru", "198.18.15.2", State.UP, State.DOWN, wib(1)),
        Transition("Waru", "198.18.15.2", State.DOWN, State.UP, wib(1, 30),
                   evidence={"cause": {"router": "waru-rb", "result": "link", "uptime_s": 99999}}),
        # the router waru-rb shares nothing with the site, but a router may share a host's name
        Transition("Waru", "198.18.15.2", State.UP, State.DEGRADED, wib(2), kind="router_health",
                   evidence={"item": "cpu", "value": 95}),
        Transition("Waru", "198.18.15.2", State.UP, State.UP, wib(2, 30), kind="router_restart"),
        Transition("Waru", "198.18.15.2", State.UP, State.PATH, wib(4)),
        Transition("Waru", "198.18.15.2", State.PATH, State.UP, wib(5)),
    ]
    state_repo.save(conn, {}, transitions, [], wib(6))
    sites = [SiteInfo("Waru")]
    inputs = load_inputs(conn, sites, SINCE, UNTIL)
    report = build_report(sites, inputs.initial_states, inputs.changes, inputs.rtt, [], since=SINCE, until=UNTIL,
                          tz=WIB, tz_name="Asia/Jakarta", generated_at=wib(12))
    [site] = report.sites
    assert [o.recovery for o in site.outages] == ["link"]
    assert site.path_s == 3600 and site.downtime_s == 1800 and site.seconds["degraded"] == 0
    text = render_text(report, WIB)
    header = next(line for line in text.split("\n") if line.startswith("SITE")).split()
    assert header[header.index("DEGRADED") + 1] == "PATH" and "down, link restored" in text
    assert json.dumps(site_to_dict(site))
    conn.close()
