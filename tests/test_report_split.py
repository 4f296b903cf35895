"""Honest availability: a month of synthetic history in a real store, split to the second.

November 2026 in WIB (30 days = 2,592,000 s). Four sites: the core router and three kecamatan
behind it (kec-a, kec-b, kec-c: parent core).

  agent        runs from Oct 31 23:00; killed (last heartbeat) Nov 10 12:00:00, started again
               Nov 10 14:30:00 and still running         -> 9,000 s blind for every site
  core outage  core DOWN Nov 5 10:00:00 - 11:30:00 (5,400 s own downtime); its children are
               UNREACHABLE 10:00:05 - 11:30:10           -> 5,405 s parent down each
  kec-a        its own outage Nov 12 09:00 - 09:20 (1,200 s, "timeout", acknowledged by @budi at
               09:05) and DEGRADED Nov 20 13:00 - 13:45 (2,700 s)
  maintenance  kec-b muted Nov 15 22:00 - Nov 16 02:00 (14,400 s) and DOWN 22:10 - 01:30 inside it
                                                         -> maintenance, not its downtime
  uplink loss  the server's own uplink lost Nov 25 03:00:00, back 03:40:00 (uplink_back summary
               at 03:41); every site UNREACHABLE 03:00:00 - 03:40:03 (judged again)
                                                         -> 2,403 s more blind for every site
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from netwatchd.clock import FakeClock
from netwatchd.commands import report as report_cmd
from netwatchd.models import State, Transition
from netwatchd.report.stats import Observation, Segment, classify, observation
from netwatchd.store import Database, report_repo, state_repo, transaction

WIB = ZoneInfo("Asia/Jakarta")
MONTH_S = 30 * 86400


def wib(day: int, h: int = 0, m: int = 0, s: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, h, m, s, tzinfo=WIB).astimezone(timezone.utc)


NOW = wib(1, 9, 0, month=12)
CONFIG = """\
data_dir: ./data
timezone: Asia/Jakarta
hosts:
  - {name: core, address: 198.18.0.1, group: core}
  - {name: kec-a, address: 198.18.1.2, group: kecamatan, parent: core}
  - {name: kec-b, address: 198.18.2.2, group: kecamatan, parent: core}
  - {name: kec-c, address: 198.18.3.2, group: kecamatan, parent: core}
"""
CHILDREN = ("kec-a", "kec-b", "kec-c")
SITES = ("core", *CHILDREN)
BLIND = 9000 + 2403
EXPECTED = {
    "core": {"down": 5400, "parent": 0, "maintenance": 0, "degraded": 0, "blind": BLIND},
    "kec-a": {"down": 1200, "parent": 5405, "maintenance": 0, "degraded": 2700, "blind": BLIND},
    "kec-b": {"down": 0, "parent": 5405, "maintenance": 14400, "degraded": 0, "blind": BLIND},
    "kec-c": {"down": 0, "parent": 5405, "maintenance": 0, "degraded": 0, "blind": BLIND},
}
for _parts in EXPECTED.values():
    _parts["unknown"] = 0
    _parts["path"] = 0              # no site had a path problem (issue 14's PATH part)
    _parts["up"] = MONTH_S - sum(_parts.values())


def _t(host: str, before: str, after: str, at: datetime, kind: str = "state", **evidence: object) -> Transition:
    return Transition(host=host, address="", from_state=State(before), to_state=State(after), at=at, kind=kind,
                      evidence=dict(evidence))


def history() -> list[Transition]:
    events = [_t(site, "unknown", "up", wib(31, 23, 0, 30, month=10)) for site in SITES]
    events.append(_t("core", "up", "down", wib(5, 10), error="timeout"))
    events += [_t(child, "up", "unreachable", wib(5, 10, 0, 5)) for child in CHILDREN]
    events.append(_t("core", "down", "up", wib(5, 11, 30)))
    events += [_t(child, "unreachable", "up", wib(5, 11, 30, 10)) for child in CHILDREN]
    events.append(_t("kec-a", "up", "down", wib(12, 9), error="timeout"))
    events.append(_t("kec-a", "down", "down", wib(12, 9, 5), kind="acknowledged", by="@budi"))
    events.append(_t("kec-a", "down", "up", wib(12, 9, 20)))
    events.append(_t("kec-a", "up", "degraded", wib(20, 13)))
    events.append(_t("kec-a", "degraded", "up", wib(20, 13, 45)))
    events.append(_t("kec-b", "up", "down", wib(15, 22, 10), error="destination host unreachable"))
    events.append(_t("kec-b", "down", "up", wib(16, 1, 30)))
    events.append(Transition(host="__self__", address="198.18.0.254", from_state=State.UP, to_state=State.DOWN,
                             at=wib(25, 3), kind="uplink_lost"))
    events += [_t(site, "up", "unreachable", wib(25, 3)) for site in SITES]
    events += [_t(site, "unreachable", "up", wib(25, 3, 40, 3)) for site in SITES]
    events.append(Transition(host="__self__", address="198.18.0.254", from_state=State.DOWN, to_state=State.UP,
                             at=wib(25, 3, 41), kind="uplink_back", since=wib(25, 3),
                             evidence={"lost_for_s": 2400.0, "lost_at": wib(25, 3).isoformat()}))
    events.append(_t("kec-a", "up", "down", wib(1, 2, month=12)))          # after the window: not counted
    return sorted(events, key=lambda t: t.at)


def write_store(tmp_path: Path) -> Path:
    cfg = tmp_path / "hosts.yaml"
    cfg.write_text(CONFIG)
    conn = Database.in_dir(tmp_path / "data").open()
    try:
        state_repo.save(conn, {}, history(), ["console"], NOW)
        first = report_repo.start_run(conn, wib(31, 23, month=10))
        report_repo.heartbeat(conn, first, wib(10, 12))                  # then kill -9: no stop recorded
        second = report_repo.start_run(conn, wib(10, 14, 30))
        report_repo.heartbeat(conn, second, NOW - timedelta(seconds=20))  # still running
        with transaction(conn):
            report_repo.record_maintenance(conn, [("kec-b", True, wib(15, 22))])
        with transaction(conn):
            report_repo.record_maintenance(conn, [("kec-b", False, wib(16, 2))])
    finally:
        conn.close()
    return cfg


def run_report(cfg: Path, *extra: str) -> bytes:
    parser = argparse.ArgumentParser()
    report_cmd.add_arguments(parser)
    out = cfg.parent / f"out-{len(extra)}-{'-'.join(extra).replace('/', '')}"
    args = parser.parse_args(["-c", str(cfg), "--since", "2026-11-01", "--until", "2026-12-01", "-o", str(out),
                              *extra])
    assert report_cmd.run(args, clock=FakeClock(NOW)) == 0
    return out.read_bytes()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path)


def test_the_split_of_a_month_is_exact_to_the_second(store: Path) -> None:
    data = json.loads(run_report(store, "--format", "json"))
    sites = {s["site"]: s for s in data["sites"]}
    for name, parts in EXPECTED.items():
        assert sites[name]["parts_s"] == pytest.approx(parts, abs=1e-6), name
        assert sum(sites[name]["parts_s"].values()) == pytest.approx(MONTH_S)
        observable = parts["up"] + parts["degraded"] + parts["down"]
        assert sites[name]["observable_s"] == pytest.approx(observable)
        assert sites[name]["availability_percent"] == pytest.approx(100.0 * (observable - parts["down"]) / observable,
                                                                    abs=1e-12)
    # the kecamatan is not blamed for the core's outage, nor for the monitor's blindness
    assert sites["kec-c"]["availability_percent"] == 100.0
    # kec-b was down only inside its maintenance window: 100 %, and that outage is not listed as its own
    assert sites["kec-b"]["availability_percent"] == 100.0 and sites["kec-b"]["own_outage_count"] == 0
    a = sites["kec-a"]
    assert [(o["cause"], o["duration_s"], o["own_s"], o["parent_s"]) for o in a["outages"]] == [
        ("unreachable (parent core down)", 5405.0, 0.0, 5405.0), ("down", 1200.0, 1200.0, 0.0)]
    assert a["outages"][1]["detail"] == "timeout" and a["outages"][1]["acknowledged_by"] == "@budi"
    assert a["outages"][1]["acknowledged_at"] == "2026-11-12T09:05:00.000+07:00"
    assert a["mttr_s"] == 1200.0 and a["own_outage_count"] == 1
    assert sites["core"]["outages"][0]["detail"] == "timeout"
    total = {p: sum(EXPECTED[s][p] for s in SITES) for p in EXPECTED["core"]}
    assert data["parts_s"] == pytest.approx(total)
    available = total["up"] + total["degraded"]
    assert data["overall_availability_percent"] == pytest.approx(100 * available / (available + total["down"]),
                                                                 abs=1e-12)


def test_csv_and_text_carry_the_same_split(store: Path) -> None:
    rows = {r["site"]: r for r in csv.DictReader(io.StringIO(run_report(store, "--format", "csv").decode()))}
    a = rows["kec-a"]
    assert (float(a["downtime_s"]), float(a["parent_down_s"]), float(a["blind_s"]), float(a["degraded_s"])) == (
        1200.0, 5405.0, BLIND, 2700.0)
    assert float(rows["kec-b"]["maintenance_s"]) == 14400.0 and float(rows["kec-b"]["availability_percent"]) == 100.0
    text = run_report(store, "--format", "text").decode()
    line = next(row for row in text.splitlines() if row.startswith("kec-a "))
    assert line.split()[1:8] == ["99.953", "%", "20m", "00s", "1h", "30m", "0s"], line  # own 20m, parent 1h30m
    assert "monitor blind 0.440 % (12h 40m)" in text                             # 11,403 s x 4 sites
    indonesian = run_report(store, "--format", "text", "--language", "id").decode()
    assert "99,953 %" in indonesian and "monitor buta" in indonesian and "pemeliharaan" in indonesian


def test_pdf_is_a4_and_its_text_carries_the_figures(store: Path) -> None:
    pytest.importorskip("weasyprint")
    pypdf = pytest.importorskip("pypdf")
    pdf = run_report(store, "--format", "pdf", "--language", "id")
    assert pdf.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    for page in reader.pages:                                        # A4: 210 x 297 mm in points
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    assert "Laporan ketersediaan jaringan" in flat and "Peringkat kecamatan" in flat
    # the ranking: kec-b and kec-c at 100 %, then kec-a, then the core
    assert flat.index("1 kec-b") < flat.index("3 kec-a kecamatan 99,953 %") < flat.index("4 core core 99,791 %")
    assert "20 mnt 00 dtk" in flat                                   # kec-a's own downtime
    assert "tak terjangkau (induk core putus)" in flat and "putus: timeout" in flat
    assert "@budi 2026-11-12 09:05" in flat                          # who acknowledged, and when
    assert "monitor buta" in flat and "pemeliharaan" in flat and "4 jam 00 mnt" in flat   # kec-b's maintenance
    assert "Pengiriman notifikasi" in flat                            # the delivery-latency section
    assert flat.count("kec-a") >= 4                                   # ranking, split, timeline, outages


def test_the_bot_and_metrics_show_the_same_split(store: Path) -> None:
    from netwatchd.app import Agent
    from netwatchd.bot.handlers import BotContext, run_command
    from netwatchd.bot.parse import ParsedCommand
    from netwatchd.config.loader import load_config

    config = load_config(store)
    clock = FakeClock(wib(30, 23, 59, 59))
    ctx = BotContext(db=Database.in_dir(config.data_dir), config=config, clock=clock, routers=None, probe_fn=None,
                     started_monotonic=0.0)
    text = run_command(ParsedCommand("report"), ctx)[0].text
    assert "11/2026" in text and re.search(r"kec-a\s+99\.95%\s+20m00s\s+1h30m\s+-\s+3h10m", text), text
    agent = Agent(config, clock=clock, probe_fn=lambda hosts, **_: [], api=None, routers=_NoRouters())
    try:
        agent.refresh_availability()
        metrics = agent.metrics.render().decode()
    finally:
        agent.stop(0.2)
    assert 'netwatchd_availability_seconds{host="kec-a",part="parent"} 5405.0' in metrics
    assert 'netwatchd_availability_seconds{host="kec-b",part="maintenance"} 14400.0' in metrics
    assert f'netwatchd_availability_seconds{{host="core",part="blind"}} {float(BLIND)}' in metrics
    assert 'netwatchd_availability_ratio{host="kec-c"} 1.0' in metrics


@pytest.mark.parametrize("since, until", [(wib(1), wib(1, month=12)), (wib(5, 10, 30), wib(25, 3, 20)),
                                          (wib(1), wib(10, 13))])
def test_metrics_availability_equals_the_reports_figures(store: Path, since: datetime, until: datetime) -> None:
    """What /metrics computes every 5 minutes (one site at a time, no rtt rollups, no delivery
    log) is exactly the report's availability and split, on the month's real store file."""
    from netwatchd.config.loader import load_config
    from netwatchd.report.make import all_sites, availability_figures, make_report

    config = load_config(store)
    report, _ = make_report(config, since, until, all_sites(config), now=NOW)
    figures = availability_figures(config, since, until, all_sites(config), now=NOW)
    assert figures == {s.site.name: (s.availability_percent, dict(s.parts)) for s in report.sites}
    assert figures["core"][0] is not None and figures["core"][0] < 100.0      # each window has its outage
    assert set(figures) == set(SITES)


def test_metrics_availability_without_a_store_is_empty(tmp_path: Path) -> None:
    from netwatchd.config.loader import load_config
    from netwatchd.report.make import all_sites, availability_figures

    (tmp_path / "hosts.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "hosts.yaml")
    assert availability_figures(config, wib(1), wib(2), all_sites(config), now=wib(2)) == {}


class _NoRouters:
    def close(self) -> None:
        pass


def test_observation_and_classification_rules() -> None:
    since, until = wib(1), wib(2)
    runs = [(wib(1, 1), wib(1, 2), True), (wib(1, 3), wib(1, 23, 59, 50), False)]
    seen = observation(runs, wib(1, 1), [(wib(1, 12), wib(1, 12, 30))], since, until, now=wib(2, 0, 0, 30))
    # before the first recorded run: unknown to the runs (the timeline decides); a gap; the uplink
    assert seen.blind == ((wib(1, 2), wib(1, 3)), (wib(1, 12), wib(1, 12, 30)))
    assert seen.uplink == ((wib(1, 12), wib(1, 12, 30)),)
    killed = observation(runs, wib(1, 1), [], since, until, now=wib(3))     # the last heartbeat is old now
    assert killed.blind[-1] == (wib(1, 23, 59, 50), until)
    segments = [Segment("up", since, wib(1, 12)), Segment("unreachable", wib(1, 12), wib(1, 12, 31)),
                Segment("down", wib(1, 12, 31), wib(1, 13)), Segment("up", wib(1, 13), until)]
    parts = classify(segments, seen, maintenance=[(wib(1, 12, 45), wib(1, 14))])
    assert [(p.state, p.start, p.end) for p in parts] == [
        ("up", since, wib(1, 2)), ("blind", wib(1, 2), wib(1, 3)), ("up", wib(1, 3), wib(1, 12)),
        ("blind", wib(1, 12), wib(1, 12, 31)),          # the unreachable that began in the uplink loss, to its end
        ("down", wib(1, 12, 31), wib(1, 12, 45)), ("maintenance", wib(1, 12, 45), wib(1, 14)),
        ("up", wib(1, 14), until)]
    assert classify(segments, Observation()) == segments[:1] + [Segment("parent", wib(1, 12), wib(1, 12, 31))] + \
        segments[2:]


def test_the_availability_computed_by_a_new_interpreter_is_the_in_process_figures(store: Path) -> None:
    """report/apart.py (what the agent uses every 5 minutes) gives /metrics exactly what
    availability_figures gives, on the month's real store file."""
    from netwatchd.config.loader import load_config
    from netwatchd.report.apart import figures_apart
    from netwatchd.report.make import all_sites, availability_figures
    from netwatchd.web.metrics import AVAILABILITY_PARTS, Metrics

    config = load_config(store)
    since, until = wib(1), wib(25, 3, 20)
    values = figures_apart(config, since, until, until, AVAILABILITY_PARTS)
    assert values is not None
    apart, here = Metrics(), Metrics()
    apart.set_availability_values((h.name for h in config.hosts if not h.disabled), values)
    here.set_availability(availability_figures(config, since, until, all_sites(config), now=until))
    def availability(metrics: Metrics) -> list[str]:
        return [line for line in metrics.render().decode().splitlines() if line.startswith("netwatchd_availability")]

    assert availability(apart) == availability(here)
    assert any("netwatchd_availability_seconds" in line and not line.endswith(" 0.0") for line in availability(apart))
