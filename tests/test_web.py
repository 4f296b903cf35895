"""StatusServer over real HTTP on loopback: the page, /api/status, /healthz, auth, errors."""

from __future__ import annotations

import base64
import json
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from netwatchd.config.model import Config, HostSpec, WebSpec
from netwatchd.engine.engine import HostState
from netwatchd.errors import ConfigError
from netwatchd.models import ProbeResult, State
from netwatchd.web.metrics import Metrics
from netwatchd.web.server import StatusServer
from netwatchd.web.snapshot import build_snapshot

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
CONFIG = Config(path=Path("hosts.yaml"), data_dir=Path("."), hosts=(
    HostSpec(name="kec-a", address="198.18.1.2", group="north"),
    HostSpec(name="kec-b", address="198.18.2.2", group="north", parent="kec-a"),
    HostSpec(name="kec-c", address="198.18.3.2"),
    HostSpec(name="kec-off", address="198.18.9.2", disabled=True),
))


def _snapshot(states):
    latest = {"kec-a": ProbeResult.from_rtts(host="kec-a", address="198.18.1.2", probe="icmp", at=NOW,
                                             sent=3, rtts_ms=[1.0, 2.0, 3.0])}
    return build_snapshot(CONFIG, states, latest, {"kec-a": [1.04, None, 2.0]}, 3, now=NOW)


def test_snapshot_shape_colours_and_summary():
    states = {"kec-a": HostState("kec-a", State.UP, since=NOW - timedelta(hours=1)),
              "kec-b": HostState("kec-b", State.DOWN, since=NOW, muted=True)}
    snap = _snapshot(states)
    assert [s["name"] for s in snap["sites"]] == ["kec-a", "kec-b", "kec-c"]   # disabled left out
    a, b, c = snap["sites"]
    assert (a["colour"], a["rtt_ms"], a["loss_percent"], a["rtt_history"]) == ("green", 2.0, 0.0, [1.0, None, 2.0])
    assert a["since"] == "2026-11-02T00:00:00.000+00:00" and a["last_probe"] == "2026-11-02T01:00:00.000+00:00"
    assert (b["state"], b["muted"], b["colour"]) == ("down", True, "grey")
    assert (c["state"], c["colour"], c["rtt_ms"], c["since"]) == ("unknown", "grey", None, None)
    assert snap["summary"] == {"total": 3, "up": 1, "degraded": 0, "path": 0, "down": 1, "unreachable": 0,
                               "unknown": 1, "muted": 1}
    assert snap["outbox_depth"] == 3 and snap["timezone"] == "Asia/Jakarta"


@pytest.fixture
def server():
    states = {"kec-a": HostState("kec-a", State.UP, since=NOW)}
    srv = StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=lambda: _snapshot(states),
                       metrics=Metrics(), cache_seconds=0)
    with srv:
        srv.states = states
        yield srv


def test_page_api_health_and_404(server):
    base = f"http://127.0.0.1:{server.port}"
    page = requests.get(base + "/", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "api/status" in page.text and "<script" in page.text and "http://" not in page.text
    api = requests.get(base + "/api/status", timeout=5)
    assert api.headers["Content-Type"] == "application/json" and api.headers["Cache-Control"] == "no-store"
    assert api.json()["sites"][0]["state"] == "up"
    server.states["kec-a"] = HostState("kec-a", State.DEGRADED, since=NOW)
    assert requests.get(base + "/api/status", timeout=5).json()["sites"][0]["colour"] == "amber"
    assert requests.get(base + "/healthz", timeout=5).json()["status"] == "ok"
    missing = requests.get(base + "/nope", timeout=5)
    assert missing.status_code == 404 and "/api/status" in missing.text


def test_snapshot_is_rebuilt_in_the_background_while_watched():
    calls = []
    ticks = [100.0]

    def snap():
        calls.append(1)
        return {"n": len(calls)}

    srv = StatusServer(WebSpec(port=0), snapshot=snap, metrics=Metrics(), cache_seconds=1.0,
                       watch_seconds=10.0, monotonic=lambda: ticks[0])
    assert srv.status_json() == b'{"n":1}'            # nothing yet: built synchronously
    assert srv.refresh_once() is False                 # still fresh
    ticks[0] += 1.5
    assert srv.status_json() == b'{"n":1}'            # slightly old: served at once, no build
    assert srv.refresh_once() is True and srv.status_json() == b'{"n":2}'   # background build
    ticks[0] += 11
    assert srv.refresh_once() is False and len(calls) == 2   # nobody watching: no work
    assert srv.status_json() == b'{"n":3}'            # too stale (> max_stale): built for this request


def test_background_thread_keeps_the_data_fresh():
    calls = []

    def snap():
        calls.append(1)
        return {"n": len(calls)}

    with StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=snap, metrics=Metrics(),
                      cache_seconds=0.05) as srv:
        url = f"http://127.0.0.1:{srv.port}/api/status"
        first = requests.get(url, timeout=5).json()["n"]
        deadline = time.monotonic() + 5
        while requests.get(url, timeout=5).json()["n"] < first + 2:
            assert time.monotonic() < deadline, "snapshot was not refreshed in the background"
            time.sleep(0.05)


def test_basic_auth_protects_everything_but_healthz():
    web = WebSpec(host="127.0.0.1", port=0, username="noc", password="s3cret-pass")
    with StatusServer(web, snapshot=lambda: {"sites": []}, metrics=Metrics()) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        for path in ("/", "/api/status", "/metrics"):
            refused = requests.get(base + path, timeout=5)
            assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
            assert "s3cret" not in refused.text
        assert requests.get(base + "/api/status", auth=("noc", "wrong"), timeout=5).status_code == 401
        assert requests.get(base + "/api/status", auth=("noc", "s3cret-pass"), timeout=5).json() == {"sites": []}
        bad_header = requests.get(base + "/", headers={"Authorization": "Basic !!!"}, timeout=5)
        assert bad_header.status_code == 401
        assert requests.get(base + "/healthz", timeout=5).status_code == 200
        token = base64.b64encode(b"noc:s3cret-pass").decode()
        assert requests.get(base + "/metrics", headers={"Authorization": f"Basic {token}"}, timeout=5).ok


def test_failing_snapshot_is_a_500_not_a_dead_server():
    def broken():
        raise RuntimeError("store locked")

    with StatusServer(WebSpec(host="127.0.0.1", port=0), snapshot=broken, metrics=Metrics(),
                      health=lambda: (False, "probe loop stalled 30 s")) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        reply = requests.get(base + "/api/status", timeout=5)
        assert reply.status_code == 500 and "store locked" in reply.json()["error"]
        health = requests.get(base + "/healthz", timeout=5)
        assert health.status_code == 503 and health.json() == {"status": "failing", "detail": "probe loop stalled 30 s"}
        assert requests.get(base + "/", timeout=5).status_code == 200


def test_port_in_use_is_a_one_line_config_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = StatusServer(WebSpec(host="127.0.0.1", port=port), snapshot=dict, metrics=Metrics())
        with pytest.raises(ConfigError, match=rf"web: cannot listen on 127.0.0.1:{port}: .*web: false"):
            srv.start()


def test_incremental_encoder_equals_plain_json_and_follows_changes():
    import json

    from netwatchd.web.snapshot import SnapshotEncoder

    states = {"kec-a": HostState("kec-a", State.UP, since=NOW), "kec-b": HostState("kec-b", State.DOWN, since=NOW)}
    latest = {"kec-a": ProbeResult.from_rtts(host="kec-a", address="198.18.1.2", probe="icmp", at=NOW,
                                             sent=3, rtts_ms=[1.0, 2.0, 3.0])}
    history = {"kec-a": [1.0, 2.0]}
    encoder = SnapshotEncoder()

    def both():
        plain = json.dumps(build_snapshot(CONFIG, states, latest, history, 1, now=NOW), separators=(",", ":"))
        return encoder.encode(CONFIG, states, latest, history, 1, now=NOW).decode(), plain

    first, plain = both()
    assert first == plain
    states["kec-b"] = HostState("kec-b", State.UP, since=NOW)           # a new state object
    history["kec-a"].append(7.25)                                       # history grows in place
    second, plain = both()
    assert second == plain and second != first
    assert json.loads(second)["sites"][0]["rtt_history"] == [1.0, 2.0, 7.2]
    assert json.loads(second)["summary"]["up"] == 2


def test_the_encoder_writes_exactly_what_json_dumps_writes_for_any_site():
    import json
    import random

    from netwatchd.web.snapshot import RttHistory, SnapshotEncoder

    rng = random.Random(7)
    names = ["kec-a", 'Kantor "Waru"', "Sukodono\\2", "Pôrong", "tab\there"]
    config = Config(path=Path("hosts.yaml"), data_dir=Path("."), hosts=tuple(
        HostSpec(name=n, address=f"198.18.{i}.2", group=rng.choice(["", "north", "sélatan"]),
                 parent=rng.choice([None, "kec-a"])) for i, n in enumerate(names)))
    encoder = SnapshotEncoder()
    histories: dict[str, RttHistory] = {n: RttHistory() for n in names}
    states: dict[str, HostState] = {}
    latest: dict[str, ProbeResult] = {}
    for round_ in range(60):
        changed = rng.sample(names, 2)
        for name in changed:
            rtts = [] if rng.random() < 0.3 else [rng.uniform(0, 2500) for _ in range(3)]
            latest[name] = ProbeResult.from_rtts(host=name, address="x", probe="icmp",
                                                 at=NOW + timedelta(seconds=round_), sent=3, rtts_ms=rtts,
                                                 error=rng.choice([None, 'no "route"\n']))
            histories[name].append(latest[name].rtt_avg_ms)
            states[name] = HostState(name, rng.choice(list(State)), since=rng.choice([None, NOW]),
                                     muted=rng.random() < 0.2, flapping=rng.random() < 0.2)
        body = encoder.encode(config, states, latest, histories, round_, now=NOW, changed=changed)
        plain = json.dumps(build_snapshot(config, states, latest, histories, round_, now=NOW), separators=(",", ":"))
        assert body.decode() == plain
        lists = {n: list(h) for n, h in histories.items()}     # a history as plain floats, as the old page had it
        assert json.loads(body) == build_snapshot(config, states, latest, lists, round_, now=NOW)


def test_rtt_history_keeps_the_last_points_rounded_to_a_tenth():
    from netwatchd.web.snapshot import RttHistory

    history = RttHistory(4)
    for value in (0.04, 1.25, None, 2.0, 123.456, 7.0):
        history.append(value)
    assert list(history) == [None, 2.0, 123.5, 7.0] and history[-1] == 7.0 and history[0] is None
    assert history.json_points(3) == "[2.0,123.5,7.0]"


def test_the_page_in_pieces_is_the_page_and_gzips_to_the_same_bytes():
    import gzip
    import random

    from netwatchd.web.server import _gzip, _gzip_parts
    from netwatchd.web.snapshot import PART_SITES, RttHistory, SnapshotEncoder

    rng = random.Random(5)
    count = PART_SITES * 2 + 7                     # three pieces of sites, the last one short
    config = Config(path=Path("hosts.yaml"), data_dir=Path("."), hosts=tuple(
        HostSpec(name=f"kec-{i}", address=f"198.18.{i // 250}.{i % 250 + 2}") for i in range(count)))
    histories = {h.name: RttHistory() for h in config.hosts}
    for history in histories.values():
        for _ in range(rng.randint(0, 40)):
            history.append(rng.choice([None, rng.uniform(0, 90)]))
    states = {h.name: HostState(h.name, rng.choice(list(State)), since=NOW) for h in config.hosts}
    whole = SnapshotEncoder().encode(config, states, {}, histories, 2, now=NOW)
    pieces = list(SnapshotEncoder().parts(config, states, {}, histories, 2, now=NOW))
    assert len(pieces) > 4 and b"".join(pieces) == whole
    assert json.loads(whole) == build_snapshot(config, states, {}, {n: list(h) for n, h in histories.items()}, 2,
                                               now=NOW)
    packed = _gzip_parts(pieces)
    assert gzip.decompress(packed) == whole and packed == _gzip(whole)    # the same bytes however it is cut
    assert len(packed) * 4 < len(whole)


def test_the_page_is_kept_only_compressed_while_only_gzip_clients_poll():
    import gzip

    ticks = [100.0]
    calls: list[int] = []

    def parts():
        calls.append(1)
        return iter([b'{"n":', str(len(calls)).encode(), b',"pad":"' + b"x" * 5000 + b'"}'])

    srv = StatusServer(WebSpec(port=0), snapshot=parts, metrics=Metrics(), cache_seconds=1.0,
                       watch_seconds=10.0, monotonic=lambda: ticks[0])
    packed = srv.status_json_gzip()
    assert json.loads(gzip.decompress(packed))["n"] == 1
    assert srv._cache is not None and srv._cache.raw is None          # no raw page held for gzip clients
    plain = srv.status_json()                                          # a plain client: decompressed once
    assert plain == gzip.decompress(packed) and srv.status_json() is plain and len(calls) == 1
    ticks[0] += 1.5
    assert srv.refresh_once() is True and len(calls) == 2
    assert srv._cache.raw is not None and srv._cache.gzip is not None  # both kinds polled lately: both built
    ticks[0] += 9
    srv.status_json_gzip()
    ticks[0] += 1.5
    assert srv.refresh_once() is True and srv._cache.raw is None       # the plain client went away


def test_a_page_nobody_polls_is_dropped_with_its_source_cache():
    ticks = [100.0]
    released: list[int] = []
    srv = StatusServer(WebSpec(port=0), snapshot=lambda: {"n": 1}, metrics=Metrics(), cache_seconds=1.0,
                       watch_seconds=10.0, release=lambda: released.append(1), release_seconds=60.0,
                       monotonic=lambda: ticks[0])
    assert srv.status_json() == b'{"n":1}'
    ticks[0] += 30
    assert srv.refresh_once() is False and srv._cache is not None and not released   # idle, still kept
    ticks[0] += 31
    assert srv.refresh_once() is False and srv._cache is None and released == [1]    # dropped once
    assert srv.refresh_once() is False and released == [1]
    assert srv.status_json() == b'{"n":1}'                                             # built again on demand


def test_the_shared_rtt_ring_holds_what_one_history_per_host_held():
    import random

    from netwatchd.web.snapshot import RttHistories, RttHistory, SnapshotEncoder

    rng = random.Random(11)
    names = [f"kec-{i}" for i in range(40)]
    config = Config(path=Path("hosts.yaml"), data_dir=Path("."), hosts=tuple(
        HostSpec(name=n, address=f"198.18.0.{i + 2}") for i, n in enumerate(names)))
    ring, each = RttHistories(5), {}
    for _ in range(600):
        name = rng.choice(names)
        if rng.random() < 0.03:                      # a site removed (its slot is reused later)
            gone, want_gone = ring.pop(name), each.pop(name, None)
            assert (gone is None and want_gone is None) or list(gone) == list(want_gone)
            assert name not in ring and ring.get(name) is None
            continue
        rtt = rng.choice([None, rng.uniform(0, 50), 1e12])
        ring.append(name, rtt)
        each.setdefault(name, RttHistory(5)).append(rtt)
    assert len(ring) == len(each) and 0 < len(each) < len(names)
    for name in names:
        got, want = ring.get(name), each.get(name)
        assert (got is None) == (want is None), name
        if want is not None:
            assert list(got) == list(want) and len(got) == len(want) and got[-1] == want[-1]
            assert got.json_points(30) == want.json_points(30) and got.json_points(3) == want.json_points(3)
    assert ring._count.buffer_info()[1] <= len(names)                  # slots of removed sites reused
    states = {n: HostState(n, State.UP, since=NOW) for n in names}
    assert SnapshotEncoder().encode(config, states, {}, ring, 0, now=NOW) == \
        SnapshotEncoder().encode(config, states, {}, each, 0, now=NOW)
