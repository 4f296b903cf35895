"""/metrics: parsed back with prometheus_client's own parser."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import requests
from prometheus_client.parser import text_string_to_metric_families

from netwatchd.config.model import WebSpec
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.web.metrics import Metrics
from netwatchd.web.server import StatusServer

AT = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_served_and_parsed():
    metrics = Metrics()
    metrics.observe_probe(ProbeResult.from_rtts(host="kec-a", address="x", probe="icmp", at=AT, sent=4,
                                                rtts_ms=[10.0, 20.0, 30.0]))
    metrics.observe_probe(ProbeResult.from_rtts(host="kec-b", address="y", probe="icmp", at=AT, sent=3, rtts_ms=[]))
    metrics.observe_transition(Transition(host="kec-b", address="y", from_state=State.UP,
                                          to_state=State.DOWN, at=AT))
    metrics.observe_transition(Transition(host="kec-b", address="y", from_state=State.DOWN,
                                          to_state=State.DOWN, at=AT, kind="reminder"))
    for latency, status in ((350.0, "sent"), (1500.0, "sent"), (None, "dead")):
        metrics.observe_delivery({"latency_ms": latency, "status": status})
    metrics.observe_command("status", "ok")
    metrics.observe_command("/ping", "denied")
    metrics.observe_command("<script>", "ok")
    metrics.set_outbox_depth(4)
    with StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=dict, metrics=metrics) as srv:
        reply = requests.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=5)
    assert reply.headers["Content-Type"].startswith("text/plain")
    s = _samples(reply.text)
    assert s[("netwatchd_probe_rtt_seconds", (("host", "kec-a"),))] == 0.02
    assert math.isnan(s[("netwatchd_probe_rtt_seconds", (("host", "kec-b"),))])
    assert s[("netwatchd_probe_loss_ratio", (("host", "kec-a"),))] == 0.25
    assert s[("netwatchd_probe_success", (("host", "kec-b"),))] == 0
    assert s[("netwatchd_probes_total", (("host", "kec-b"), ("result", "fail")))] == 1
    assert s[("netwatchd_host_state", (("host", "kec-b"), ("state", "down")))] == 1
    assert s[("netwatchd_host_state", (("host", "kec-b"), ("state", "up")))] == 0
    assert s[("netwatchd_transitions_total", (("kind", "state"), ("to", "down")))] == 1
    assert s[("netwatchd_transitions_total", (("kind", "reminder"), ("to", "down")))] == 1
    assert s[("netwatchd_delivery_latency_seconds_count", ())] == 2
    assert s[("netwatchd_delivery_latency_seconds_bucket", (("le", "1.0"),))] == 1
    assert s[("netwatchd_delivery_latency_seconds_sum", ())] == 1.85
    assert s[("netwatchd_deliveries_total", (("status", "dead"),))] == 1
    assert s[("netwatchd_outbox_depth", ())] == 4
    assert s[("netwatchd_bot_commands_total", (("command", "ping"), ("outcome", "denied")))] == 1
    assert s[("netwatchd_bot_commands_total", (("command", "other"), ("outcome", "ok")))] == 1


def test_states_set_at_start_and_removed_hosts_disappear():
    metrics = Metrics()
    metrics.set_states({"kec-a": State.UP, "kec-b": "degraded"})
    metrics.observe_probe(ProbeResult.from_rtts(host="kec-b", address="y", probe="icmp", at=AT, sent=1, rtts_ms=[1.0]))
    metrics.remove_host("kec-b")
    s = _samples(metrics.render().decode())
    assert s[("netwatchd_host_state", (("host", "kec-a"), ("state", "up")))] == 1
    assert not any(dict(labels).get("host") == "kec-b" for _, labels in s)


def test_odd_host_names_are_escaped_and_lateness_is_a_histogram():
    metrics = Metrics()
    odd = 'kantor "Waru"\\2\nbaru'
    metrics.observe_probes([ProbeResult.from_rtts(host=odd, address="x", probe="icmp", at=AT, sent=2, rtts_ms=[5.0]),
                            ProbeResult.from_rtts(host="kec-a", address="y", probe="icmp", at=AT, sent=1, rtts_ms=[])])
    metrics.set_state(odd, State.DEGRADED)
    metrics.observe_lateness([0.003, 0.04, 0.2, -0.001])
    s = _samples(metrics.render().decode())
    assert s[("netwatchd_probe_loss_ratio", (("host", odd),))] == 0.5
    assert s[("netwatchd_probe_rtt_seconds", (("host", odd),))] == 0.005
    assert s[("netwatchd_host_state", (("host", odd), ("state", "degraded")))] == 1
    assert s[("netwatchd_probes_total", (("host", "kec-a"), ("result", "fail")))] == 1
    assert s[("netwatchd_probe_lateness_seconds_count", ())] == 4
    assert s[("netwatchd_probe_lateness_seconds_bucket", (("le", "0.005"),))] == 2   # the negative one as 0
    assert s[("netwatchd_probe_lateness_seconds_bucket", (("le", "0.05"),))] == 3


def test_the_availability_parts_are_the_reports_parts():
    from netwatchd.report.stats import PARTS
    from netwatchd.web.metrics import AVAILABILITY_PARTS

    assert AVAILABILITY_PARTS == PARTS   # web may not import report (same layer): the list is kept twice


def test_availability_figures_render_with_nan_for_no_data_and_replace_the_previous_ones():
    m = Metrics()
    m.set_availability({"kec-a": (99.5, {"up": 3600.0, "down": 18.0}), "kec-b": (None, {"blind": 60.0})})
    m.set_availability({"kec-a": (100.0, {"up": 7200.0})})                  # five minutes later
    s = _samples(m.render().decode())
    assert s[("netwatchd_availability_ratio", (("host", "kec-a"),))] == 1.0
    assert s[("netwatchd_availability_seconds", (("host", "kec-a"), ("part", "up")))] == 7200.0
    assert ("netwatchd_availability_seconds", (("host", "kec-a"), ("part", "down"))) not in s   # not in the new figures
    assert math.isnan(s[("netwatchd_availability_ratio", (("host", "kec-b"),))])
    assert s[("netwatchd_availability_seconds", (("host", "kec-b"), ("part", "blind")))] == 60.0
    m.remove_host("kec-b")
    assert ("netwatchd_availability_ratio", (("host", "kec-b"),)) not in _samples(m.render().decode())


def test_per_host_families_are_the_same_text_whatever_the_chunk_size(monkeypatch):
    from netwatchd.web import metrics as module

    m = Metrics()
    m.observe_probes([ProbeResult.from_rtts(host=f"h{i}", address="x", probe="icmp", at=AT, sent=3,
                                            rtts_ms=[1.0] * (i % 4)) for i in range(7)])
    for i in range(7):
        m.set_state(f"h{i}", State.UP if i % 2 else State.DOWN)
    m.set_availability({"h1": (99.0, {"up": 10.0, "down": 0.1})})
    whole = m.render()
    for size in (1, 2, 3, 7):
        monkeypatch.setattr(module, "RENDER_CHUNK", size)
        assert m.render() == whole
    s = _samples(whole.decode())
    assert sum(1 for name, _ in s if name == "netwatchd_host_state") == 7 * len(module.STATES)
    assert s[("netwatchd_probes_total", (("host", "h3"), ("result", "ok")))] == 1
    assert whole.count(b"# TYPE netwatchd_availability_ratio gauge") == 1


def test_probe_counts_kept_as_one_int_per_host_read_back_as_ok_and_fail():
    """A host's ok and failed probes are one packed int (not a two-item list per host); the
    series say the same counts as counting the results one by one."""
    import random

    metrics = Metrics()
    rng = random.Random(16)
    expected: dict[tuple[str, str], int] = {}
    for _ in range(40):
        batch = []
        for host in ("a", "b", "c"):
            alive = rng.random() < 0.7
            batch.append(ProbeResult.from_rtts(host=host, address="x", probe="icmp", at=AT, sent=3,
                                               rtts_ms=[1.0] if alive else []))
            key = (host, "ok" if alive else "fail")
            expected[key] = expected.get(key, 0) + 1
        metrics.observe_probes(batch)
    metrics._counts["c"] += 5_000_000_000          # far beyond what a 32-bit half would hold
    expected[("c", "ok")] += 5_000_000_000
    s = _samples(metrics.render().decode())
    for host in ("a", "b", "c"):
        for outcome in ("ok", "fail"):
            assert s[("netwatchd_probes_total", (("host", host), ("result", outcome)))] \
                == expected.get((host, outcome), 0)
    assert all(type(v) is int for v in metrics._counts.values())


def test_a_large_exposition_arrives_whole_through_the_sliced_write():
    """/metrics beyond WRITE_SLICE (here ~2,000 hosts, ~2 MB) is written in slices: the client
    gets exactly render()'s bytes, with the right Content-Length, on a kept-alive connection."""
    from netwatchd.web.server import WRITE_SLICE

    metrics = Metrics()
    metrics.observe_probes([ProbeResult.from_rtts(host=f"site-{i:05d}", address="x", probe="icmp", at=AT, sent=3,
                                                  rtts_ms=[1.0 + i / 1000]) for i in range(2000)])
    metrics.set_states({f"site-{i:05d}": State.UP for i in range(2000)})
    expected = metrics.render()
    assert len(expected) > 4 * WRITE_SLICE
    with StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=dict, metrics=metrics) as srv, \
            requests.Session() as session:
        session.headers["Accept-Encoding"] = "identity"     # the plain ~2 MB (gzip is tested below)
        for _ in range(2):
            reply = session.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=10)
            assert reply.status_code == 200 and reply.content == expected
            assert int(reply.headers["Content-Length"]) == len(expected)
        head = session.head(f"http://127.0.0.1:{srv.port}/metrics", timeout=10)
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(expected) and not head.content
    assert _samples(expected.decode())[("netwatchd_probe_rtt_seconds", (("host", "site-01999"),))] == 0.002999


def test_lateness_counted_per_round_is_what_observe_per_value_gives():
    """observe_lateness counts a round's values into the buckets in one pass: the histogram
    (buckets, count and the float sum, digit for digit) must equal observe() value by value."""
    import random

    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from netwatchd.web.metrics import LATENESS_BUCKETS

    rng = random.Random(16)
    reference = CollectorRegistry()
    by_value = Histogram("netwatchd_probe_lateness_seconds", "When a host's probe started minus when it was due",
                         buckets=LATENESS_BUCKETS, registry=reference)
    metrics = Metrics()
    edges = [float(b) for b in LATENESS_BUCKETS]
    for _ in range(40):
        batch = [rng.choice([rng.uniform(-0.01, 0.3), rng.expovariate(30.0), rng.choice(edges), 0.0,
                             float("nan"), 7.5]) for _ in range(rng.randrange(0, 60))]
        metrics.observe_lateness(batch)
        for value in batch:
            by_value.observe(max(0.0, value))

    def lateness_lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("netwatchd_probe_lateness_seconds")
                and "_created" not in line]

    expected = lateness_lines(generate_latest(reference).decode())
    assert len(expected) == len(LATENESS_BUCKETS) + 2 + (0 if float("inf") in edges else 1)
    assert lateness_lines(metrics.render().decode()) == expected


def test_a_gzip_scrape_is_the_same_exposition_compressed_as_it_was_written():
    """Prometheus scrapes with Accept-Encoding: gzip: the body is the plain exposition, gzipped
    (compressed while written, so 10,000 hosts' ~11 MB of text never exist at once)."""
    import gzip
    import http.client

    metrics = Metrics()
    for i in range(3_000):
        metrics.observe_probe(ProbeResult.from_rtts(host=f"site-{i:04d}", address="x", probe="icmp", at=AT,
                                                    sent=3, rtts_ms=[] if i % 7 == 0 else [1.0 + i % 5, 2.0, 1.5]))
        metrics.set_state(f"site-{i:04d}", State.UP if i % 7 else State.DOWN)
    assert gzip.decompress(metrics.render_gzip()) == metrics.render()
    with StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=dict, metrics=metrics) as srv:
        bodies = {}
        for encoding in ("gzip", "identity"):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            conn.request("GET", "/metrics", headers={"Accept-Encoding": encoding})
            reply = conn.getresponse()
            bodies[encoding] = (reply.getheader("Content-Encoding"), reply.getheader("Vary"), reply.read())
            conn.close()
    zipped, plain = bodies["gzip"], bodies["identity"]
    assert zipped[0] == "gzip" and plain[0] is None and zipped[1] == plain[1] == "Accept-Encoding"
    assert gzip.decompress(zipped[2]) == plain[2] == metrics.render()
    assert len(zipped[2]) * 5 < len(plain[2])
    assert _samples(plain[2].decode())[("netwatchd_host_state", (("host", "site-0007"), ("state", "down")))] == 1


def test_availability_is_written_into_each_hosts_row_in_place():
    """Every 5 minutes for every host: the host's row of one flat array is rewritten, nothing new
    is made per host, and a removed host's row is the next new host's."""
    metrics = Metrics()
    metrics.set_availability({"a": (99.5, {"down": 60.0}), "b": (None, {})})
    rows = metrics._availability_values
    size = len(rows)
    metrics.set_availability({"a": (98.0, {"down": 120.0})})
    assert metrics._availability_values is rows and len(rows) == size
    s = _samples(metrics.render().decode())
    assert s[("netwatchd_availability_ratio", (("host", "a"),))] == 0.98
    assert s[("netwatchd_availability_seconds", (("host", "a"), ("part", "down")))] == 120.0
    assert math.isnan(s[("netwatchd_availability_ratio", (("host", "b"),))])
    metrics.remove_host("a")
    metrics.set_availability({"c": (50.0, {"up": 30.0, "down": 30.0})})
    assert len(rows) == size                                  # c took a's row
    s = _samples(metrics.render().decode())
    assert ("netwatchd_availability_ratio", (("host", "a"),)) not in s
    assert s[("netwatchd_availability_ratio", (("host", "c"),))] == 0.5
    assert s[("netwatchd_availability_seconds", (("host", "c"), ("part", "up")))] == 30.0
    assert ("netwatchd_availability_seconds", (("host", "c"), ("part", "degraded"))) not in s
    assert math.isnan(s[("netwatchd_availability_ratio", (("host", "b"),))])
