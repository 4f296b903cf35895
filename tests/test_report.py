"""`netwatchd report` against a hand-computed fixture history in a real store.

Window: 2026-11-01 00:00 .. 2026-11-02 00:00 WIB (86,400 s).
  kec-a  up all day except DOWN 08:00:00-08:43:12 (2,592 s)      -> 97.000 % exactly
  kec-b  child of kec-a: UNREACHABLE 08:00:10-08:43:20 (2,590 s), degraded 14:00-14:30
  kec-c  no events at all                                          -> no data (not 100 %)
  kec-d  down since before the window, up at 01:00                -> clipped outage 3,600 s
  kec-e  goes down at 23:00 and stays down                        -> ongoing outage 3,600 s
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from netwatchd import cli
from netwatchd.config.model import RetentionSpec
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.report.progress import ProgressBar
from netwatchd.report.stats import RttSummary, SiteInfo, StateChange, delivery_stats, percentile, site_report
from netwatchd.store import Database, history_repo, transaction

WIB = ZoneInfo("Asia/Jakarta")
DAY_START = datetime(2026, 11, 1, tzinfo=WIB)


def wib(h: int, m: int = 0, s: int = 0, day: int = 1, month: int = 11) -> datetime:
    return datetime(2026, month, day, h, m, s, tzinfo=WIB)


EVENTS = [
    ("kec-a", wib(10, day=31, month=10), "unknown", "up"),
    ("kec-b", wib(10, day=31, month=10), "unknown", "up"),
    ("kec-d", wib(10, day=31, month=10), "unknown", "up"),
    ("kec-d", wib(23, day=31, month=10), "up", "down"),
    ("kec-e", wib(10, day=31, month=10), "unknown", "up"),
    ("kec-d", wib(1), "down", "up"),
    ("kec-a", wib(8), "up", "down"),
    ("kec-b", wib(8, 0, 10), "up", "unreachable"),
    ("kec-a", wib(8, 43, 12), "down", "up"),
    ("kec-b", wib(8, 43, 20), "unreachable", "up"),
    ("kec-b", wib(14), "up", "degraded"),
    ("kec-b", wib(14, 30), "degraded", "up"),
    ("kec-e", wib(23), "up", "down"),
    ("kec-a", wib(2, day=2), "up", "down"),           # after the window: must not count
]

TIMING = [  # detected inside the window unless noted
    {"detected_at": wib(8, 0, 1), "latency_ms": 300.0, "status": "sent", "host": "kec-a"},
    {"detected_at": wib(8, 43, 13), "latency_ms": 500.0, "status": "sent", "host": "kec-a"},
    {"detected_at": wib(23, 0, 1), "latency_ms": 1200.0, "status": "sent", "host": "kec-e"},
    {"detected_at": wib(23, 0, 2), "latency_ms": None, "status": "dead", "host": "kec-e"},
    {"detected_at": wib(2, day=2), "latency_ms": 50.0, "status": "sent", "host": "kec-a"},  # outside
]

CONFIG = """\
data_dir: ./data
timezone: Asia/Jakarta
hosts:
  - {name: kec-a, address: 198.18.1.2, group: north}
  - {name: kec-b, address: 198.18.2.2, group: north, parent: kec-a}
  - {name: kec-c, address: 198.18.3.2, group: south}
  - {name: kec-d, address: 198.18.4.2, group: south}
  - {name: kec-e, address: 198.18.5.2, group: south}
"""


def _write_fixture(tmp_path):
    cfg = tmp_path / "hosts.yaml"
    cfg.write_text(CONFIG)
    data = tmp_path / "data"
    conn = Database.in_dir(data).open()
    with transaction(conn):
        for host, at, before, after in EVENTS:
            t = Transition(host=host, address="", from_state=State(before), to_state=State(after),
                           at=at.astimezone(timezone.utc))
            conn.execute("INSERT INTO events(host, kind, from_state, to_state, at, payload) VALUES (?,?,?,?,?,?)",
                         (host, "state", before, after, t.at.isoformat(timespec="milliseconds"),
                          json.dumps(t.to_dict())))
    # probes of kec-a for two hours so the rtt summary has figures: 5 ms, 7 ms alternating
    results = [ProbeResult.from_rtts(host="kec-a", address="198.18.1.2", probe="icmp",
                                     at=(wib(10) + timedelta(seconds=10 * i)).astimezone(timezone.utc),
                                     sent=2, rtts_ms=[5.0, 7.0] if i % 10 else [5.0]) for i in range(720)]
    history_repo.record_results(conn, results, {"kec-a": "up"})
    history_repo.prune_and_rollup(conn, wib(13).astimezone(timezone.utc), RetentionSpec(raw_days=3650))
    conn.close()
    with open(data / "timing.jsonl", "w") as handle:
        for rec in TIMING:
            handle.write(json.dumps({
                "events": [{"host": rec["host"], "from": "up", "to": "down", "at": rec["detected_at"].isoformat()}],
                "detected_at": rec["detected_at"].isoformat(timespec="milliseconds"),
                "enqueued_at": rec["detected_at"].isoformat(), "sent_at": None, "acked_at": None,
                "latency_ms": rec["latency_ms"], "attempts": 1, "chat_id": "-100", "message_id": 7,
                "status": rec["status"]}) + "\n")
        handle.write("not json\n")
    return cfg


def _report_json(tmp_path, capsys, *extra):
    cfg = _write_fixture(tmp_path)
    out = tmp_path / "r.json"
    code = cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02",
                     "--format", "json", "-o", str(out), *extra])
    assert code == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def test_availability_outages_and_clipping_match_hand_computation(tmp_path, capsys):
    data = _report_json(tmp_path, capsys)
    sites = {s["site"]: s for s in data["sites"]}
    a = sites["kec-a"]
    assert a["availability_percent"] == 97.0
    assert a["downtime_s"] == 2592 and a["outage_count"] == 1 and a["longest_outage_s"] == 2592
    assert a["mttr_s"] == 2592 and a["mtbf_s"] == 86400 - 2592
    assert a["outages"][0]["cause"] == "down"
    assert a["outages"][0]["start"] == "2026-11-01T08:00:00.000+07:00"

    b = sites["kec-b"]
    # unreachable because its parent was down: not its own downtime, shown beside the headline
    assert b["availability_percent"] == 100.0
    assert b["parts_s"]["parent"] == 2590 and b["parts_s"]["down"] == 0 and b["observable_s"] == 86400 - 2590
    assert b["outages"][0]["cause"] == "unreachable (parent kec-a down)"
    assert b["degraded_s"] == 1800 and b["seconds"]["up"] == 86400 - 2590 - 1800

    assert sites["kec-c"]["availability_percent"] is None and sites["kec-c"]["outage_count"] == 0

    d = sites["kec-d"]
    assert d["downtime_s"] == 3600 and d["outages"][0]["began_before_window"] is True
    assert d["mttr_s"] == 3600 and d["mtbf_s"] is None   # the outage began before the window

    e = sites["kec-e"]
    assert e["outages"][0]["ongoing"] is True and e["downtime_s"] == 3600
    assert e["mttr_s"] is None and e["mtbf_s"] == 82800

    observable = 4 * 86400 - 2590
    assert data["overall_availability_percent"] == pytest.approx(
        100 * (observable - 2592 - 3600 - 3600) / observable, abs=1e-12)


def test_rtt_summary_comes_from_rollups(tmp_path, capsys):
    a = {s["site"]: s for s in _report_json(tmp_path, capsys)["sites"]}["kec-a"]
    # 720 probes: 72 with one reply of 5 ms (avg 5), 648 with 5 and 7 (avg 6); loss 50 % on 72
    assert a["probes"] == 720 and a["failures"] == 0
    assert a["rtt_min_ms"] == 5.0 and a["rtt_max_ms"] == 7.0
    assert a["rtt_avg_ms"] == pytest.approx((72 * 5 + 648 * 6) / 720, abs=0.001)
    assert a["loss_percent"] == pytest.approx(72 * 50 / 720)


def test_delivery_figures_from_the_timing_log(tmp_path, capsys):
    delivery = _report_json(tmp_path, capsys)["delivery"]
    assert delivery == {"count": 4, "delivered": 3, "failures": 1, "mean_ms": pytest.approx(2000 / 3),
                        "p50_ms": 500.0, "p95_ms": 1200.0, "max_ms": 1200.0,
                        "within_1s_percent": pytest.approx(200 / 3)}


def test_site_filter_limits_sites_and_deliveries(tmp_path, capsys):
    data = _report_json(tmp_path, capsys, "--site", "KEC-E")
    assert [s["site"] for s in data["sites"]] == ["kec-e"]
    assert data["delivery"]["count"] == 2 and data["delivery"]["failures"] == 1


def test_group_filter(tmp_path, capsys):
    data = _report_json(tmp_path, capsys, "--group", "north")
    assert [s["site"] for s in data["sites"]] == ["kec-a", "kec-b"]


def test_text_and_csv_formats(tmp_path, capsys):
    cfg = _write_fixture(tmp_path)
    assert cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02",
                     "--language", "en"]) == 0
    text = capsys.readouterr().out
    assert "97.000 %" in text and "no data" in text and "43m 12s" in text
    assert "unreachable (parent kec-a down)" in text and "ongoing" in text
    assert "within 1 s: 66.7 %" in text
    assert "parent down 0.600 % (43m 10s)" in text      # kec-b's 2,590 s of 5 x 86,400 s, beside the headline
    # Indonesian: decimal comma, Indonesian words
    assert cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02",
                     "--language", "id"]) == 0
    text = capsys.readouterr().out
    assert "97,000 %" in text and "tidak ada data" in text and "43 mnt 12 dtk" in text
    assert "tak terjangkau (induk kec-a putus)" in text and "induk putus" in text
    assert cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02",
                     "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_site = {r["site"]: r for r in rows}
    assert float(by_site["kec-a"]["availability_percent"]) == 97.0
    assert by_site["kec-c"]["availability_percent"] == ""


def test_html_is_self_contained_with_charts(tmp_path, capsys):
    cfg = _write_fixture(tmp_path)
    out = tmp_path / "report.html"
    assert cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02",
                     "-o", str(out), "--language", "en"]) == 0
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 5
    assert "@page" in html and "size: A4" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "97.000 %" in html and "Ranking of sites" in html and "parent down" in html


@pytest.mark.parametrize("flag,value,needle", [
    ("--since", "1 Nov", "--since '1 Nov' is not a date"),
    ("--until", "2026-13-01", "--until '2026-13-01' is not a date"),
    ("--since", "2026-11-03", "must be before"),
    ("--site", "kec-z", "--site 'kec-z' is not in"),
    ("--group", "west", "--group 'west' has no sites"),
])
def test_bad_arguments_are_one_line_usage_errors(tmp_path, capsys, flag, value, needle):
    cfg = _write_fixture(tmp_path)
    args = ["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02", flag, value]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_store_reports_no_data_instead_of_failing(tmp_path, capsys):
    cfg = tmp_path / "hosts.yaml"
    cfg.write_text(CONFIG)
    assert cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02"]) == 0
    text = capsys.readouterr().out
    assert "no store at" in text and text.count("no data") >= 6


def test_month_to_date_default_in_the_configured_zone(tmp_path):
    from netwatchd.commands.report import resolve_window

    now = datetime(2026, 11, 30, 18, 30, tzinfo=timezone.utc)   # already 1 Dec 01:30 in Jakarta
    since, until = resolve_window(None, None, WIB, now)
    assert since == datetime(2026, 12, 1, tzinfo=WIB) and until == now
    since, until = resolve_window("2026-11-01T08:00", "2027-01-01", WIB, now)
    assert since == wib(8) and until == now   # the future is clipped


def test_pure_figures_for_a_single_site():
    site = SiteInfo("x", parent=None)
    changes = [StateChange("x", wib(6), "down"), StateChange("x", wib(6, 10), "up"),
               StateChange("x", wib(18), "down"), StateChange("x", wib(18, 20), "up")]
    rep = site_report(site, "up", changes, DAY_START, DAY_START + timedelta(days=1), WIB, RttSummary())
    assert rep.downtime_s == 1800 and rep.longest_outage_s == 1200
    assert rep.mttr_s == 900 and rep.mtbf_s == (86400 - 1800) / 2
    assert rep.daily_availability == {DAY_START.date(): pytest.approx(100 * (86400 - 1800) / 86400)}
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and percentile([], 95) is None
    empty = delivery_stats([], DAY_START, DAY_START + timedelta(days=1))
    assert empty.count == 0 and empty.p95_ms is None


def test_progress_bar_waits_a_second_and_needs_a_terminal():
    ticks = iter([0.0, 0.5, 1.5, 1.6])

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar(stream, monotonic=lambda: next(ticks))
    bar.update(1, 10, "sites")           # 0.5 s: silent
    assert stream.getvalue() == ""
    bar.update(5, 10, "sites")           # 1.5 s: drawn
    assert "50.0%" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\r")
    piped = io.StringIO()
    quiet = ProgressBar(piped, monotonic=iter([0.0, 5.0]).__next__)
    quiet.update(1, 2)
    assert piped.getvalue() == ""


def test_current_state_without_events_counts_and_unjudged_hosts_do_not(tmp_path, capsys):
    cfg = _write_fixture(tmp_path)
    conn = Database.in_dir(tmp_path / "data").open()
    with transaction(conn):
        conn.execute("INSERT INTO host_state(host, state, since, data) VALUES ('kec-c', 'up', ?, '{}')",
                     (wib(9, day=30, month=10).astimezone(timezone.utc).isoformat(timespec="milliseconds"),))
        conn.execute("INSERT INTO host_state(host, state, since, data) VALUES ('kec-e', 'unknown', '', '{}')")
    conn.close()
    out = tmp_path / "r.json"
    assert cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02",
                     "--format", "json", "-o", str(out)]) == 0
    sites = {s["site"]: s for s in json.loads(out.read_text())["sites"]}
    assert sites["kec-c"]["availability_percent"] == 100.0        # up since October, no events since
    assert sites["kec-e"]["downtime_s"] == 3600                   # its events still rule


def test_report_runs_without_the_secrets_in_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NW_REPORT_TEST_TOKEN", raising=False)
    cfg = _write_fixture(tmp_path)
    cfg.write_text(CONFIG + "telegram:\n  token: ${NW_REPORT_TEST_TOKEN}\n  chat_ids: [-1001234567890]\n")
    assert cli.main(["report", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02"]) == 0
    assert "97.000 %" in capsys.readouterr().out


def test_an_unknown_site_gets_a_did_you_mean_and_a_list_that_says_it_is_cut():
    from netwatchd.commands.report import site_hint

    sites = ["Sidoarjo", "Buduran", "Candi", "Porong", "Krembung", "Tulangan", "Tanggulangin", "Jabon", "Krian",
             "Balongbendo", "Wonoayu", "Tarik", "Prambon", "Taman", "Waru", "Gedangan", "Sedati", "Sukodono"]
    hint = site_hint("wary", sites)
    assert hint.startswith("did you mean 'Waru'? sites: Balongbendo, Buduran, Candi,")
    assert hint.endswith(", Sukodono and 6 more")     # 18 sites: the 6 not shown are counted, not silently dropped
    assert site_hint("xyz", ["b", "A"]) == "sites: A, b"
    assert site_hint("xyz", []) == "no sites are configured"
