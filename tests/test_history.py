"""Bounded history: raw rows -> packed blocks + rollups, retention, merge of late results."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from netwatchd.config.model import RetentionSpec
from netwatchd.models import ProbeResult
from netwatchd.store import Database
from netwatchd.store import history_repo as hr

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)   # a 5-minute and hour boundary


def _result(host: str, at: datetime, rtts: list[float], sent: int = 3) -> ProbeResult:
    return ProbeResult.from_rtts(host=host, address="198.18.1.1", probe="icmp", at=at, sent=sent, rtts_ms=rtts)


def _store(tmp_path):
    return Database.in_dir(tmp_path).open()


def _ten_minutes(conn) -> None:
    """Host a: 60 probes at 10 s, all answered. Host b: first 5 min up, then 2 min down, then up."""
    for i in range(60):
        at = T0 + timedelta(seconds=10 * i)
        b_down = 30 <= i < 42
        results = [_result("a", at, [1.0 + (i % 3), 2.0, 3.0]),
                   _result("b", at, [] if b_down else [10.0, 20.0, 30.0])]
        hr.record_results(conn, results, {"a": "up", "b": "down" if b_down else "up"})


def test_compaction_builds_exact_rollups_and_keeps_every_sample(tmp_path):
    conn = _store(tmp_path)
    _ten_minutes(conn)
    before = hr.raw_samples(conn, "b", T0, T0 + timedelta(minutes=10))
    hr.prune_and_rollup(conn, T0 + timedelta(minutes=10, seconds=30), RetentionSpec())
    assert conn.execute("SELECT count(*) FROM probe_results").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM probe_blocks").fetchone()[0] == 4
    after = hr.raw_samples(conn, "b", T0, T0 + timedelta(minutes=10))
    assert len(after) == 60
    for old, new in zip(before, after, strict=True):   # everything exact but rtts, which are kept within 0.5 %
        assert old[:4] == new[:4]
        for exact, packed in zip(old[4:], new[4:], strict=True):
            assert (exact is None and packed is None) or abs(packed - exact) <= 0.005 * exact + 1

    rows = {(r.host, r.bucket_ms): r for r in hr.iter_rollups(conn, T0, T0 + timedelta(hours=1), table="rollup_5m")}
    second_b = rows[("b", hr.to_ms(T0) + hr.BUCKET_MS)]
    assert (second_b.probes, second_b.failures) == (30, 12)
    assert (second_b.rtt_min_us, second_b.rtt_avg_us, second_b.rtt_max_us) == (10000, 20000, 30000)
    assert second_b.loss_bp_sum == 12 * 10000
    assert (second_b.up_s, second_b.down_s, second_b.degraded_s) == (180, 120, 0)
    first_a = rows[("a", hr.to_ms(T0))]
    # avg of per-probe averages 2.0, 2.333, 2.667 repeated -> 2.333 ms
    assert (first_a.rtt_min_us, first_a.rtt_avg_us, first_a.rtt_max_us) == (1000, 2333, 3000)
    assert first_a.up_s == 300 and first_a.failures == 0

    hourly = {r.host: r for r in hr.iter_rollups(conn, T0, T0 + timedelta(hours=1))}
    assert (hourly["b"].probes, hourly["b"].failures, hourly["b"].down_s, hourly["b"].up_s) == (60, 12, 120, 480)
    assert hourly["b"].rtt_avg_us == 20000
    assert hourly["a"].rtt_avg_us == 2333


def test_recent_bucket_is_not_compacted_until_complete(tmp_path):
    conn = _store(tmp_path)
    _ten_minutes(conn)
    hr.prune_and_rollup(conn, T0 + timedelta(minutes=9), RetentionSpec())
    # only the first bucket (00:00-00:05) is complete at 00:09 minus grace
    assert conn.execute("SELECT count(DISTINCT bucket_ms) FROM probe_blocks").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM probe_results").fetchone()[0] == 60
    assert len(hr.raw_samples(conn, "a", T0, T0 + timedelta(minutes=10))) == 60


def test_late_result_is_merged_into_an_existing_block(tmp_path):
    conn = _store(tmp_path)
    _ten_minutes(conn)
    hr.prune_and_rollup(conn, T0 + timedelta(minutes=11), RetentionSpec())
    late = T0 + timedelta(seconds=5)
    hr.record_results(conn, [_result("a", late, [50.0])], {"a": "up"})
    hr.prune_and_rollup(conn, T0 + timedelta(minutes=12), RetentionSpec())
    samples = hr.raw_samples(conn, "a", T0, T0 + timedelta(minutes=5))
    assert len(samples) == 31 and samples[1].at_ms == hr.to_ms(late)
    first = next(r for r in hr.iter_rollups(conn, T0, T0 + timedelta(minutes=5), table="rollup_5m") if r.host == "a")
    assert first.probes == 31 and first.rtt_max_us == 50000


def test_retention_deletes_each_tier_at_its_own_age(tmp_path):
    conn = _store(tmp_path)
    _ten_minutes(conn)
    retention = RetentionSpec(raw_days=7, rollup_5m_days=35, rollup_days=400)  # explicit, not the defaults
    hr.prune_and_rollup(conn, T0 + timedelta(minutes=11), retention)

    def counts():
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("probe_blocks", "rollup_5m", "rollup_1h"))

    assert counts() == (4, 4, 2)
    hr.prune_and_rollup(conn, T0 + timedelta(days=7, minutes=11), retention)
    assert counts() == (0, 4, 2)
    hr.prune_and_rollup(conn, T0 + timedelta(days=35, minutes=11), retention)
    assert counts() == (0, 0, 2)
    hr.prune_and_rollup(conn, T0 + timedelta(days=400, hours=2), retention)
    assert counts() == (0, 0, 0)


def test_missing_time_is_not_counted_as_any_state(tmp_path):
    conn = _store(tmp_path)
    # one probe at 00:00 then nothing (agent stopped): at most MAX_HOLD counts as up
    hr.record_results(conn, [_result("a", T0, [1.0])], {"a": "up"})
    hr.prune_and_rollup(conn, T0 + timedelta(hours=1), RetentionSpec())
    (row,) = list(hr.iter_rollups(conn, T0, T0 + timedelta(hours=1), table="rollup_5m"))
    assert row.up_s == hr.MAX_HOLD_MS // 1000 and row.down_s == 0


def test_a_day_of_regular_samples_packs_small(tmp_path):
    conn = _store(tmp_path)
    day = [ProbeResult.from_rtts(host="a", address="x", probe="icmp", at=T0 + timedelta(seconds=10 * i),
                                 sent=3, rtts_ms=[2.0 + (i * 7919 % 13) / 10.0] * 3) for i in range(8640)]
    for start in range(0, len(day), 500):
        hr.record_results(conn, day[start:start + 500], {"a": "up"})
    hr.prune_and_rollup(conn, T0 + timedelta(days=1, minutes=1), RetentionSpec())
    packed = conn.execute("SELECT sum(length(data)), sum(samples) FROM probe_blocks").fetchone()
    assert packed[1] == 8640
    assert packed[0] / packed[1] < 4, f"{packed[0] / packed[1]:.1f} bytes per sample"


samples_strategy = st.lists(
    st.tuples(st.integers(0, 299_999), st.integers(0, 4), st.booleans(), st.integers(0, 10000),
              st.one_of(st.none(), st.integers(0, 10_000_000))),
    min_size=1, max_size=40, unique_by=lambda t: t[0])


@settings(max_examples=60, deadline=None)
@given(samples_strategy)
def test_block_round_trip(raw):
    bucket = 1_700_000_100_000 // hr.BUCKET_MS * hr.BUCKET_MS
    samples = sorted(hr.Sample(bucket + off, state, alive, loss, None if rtt is None else rtt // 2, rtt,
                               None if rtt is None else rtt * 3 + 5) for off, state, alive, loss, rtt in raw)
    decoded = hr.decode_block(bucket, len(samples), hr.encode_block(bucket, samples))
    assert [s[:4] for s in decoded] == [s[:4] for s in samples]
    for original, back in zip(samples, decoded, strict=True):
        for exact, packed in zip(original[4:], back[4:], strict=True):
            assert (exact is None) == (packed is None)
            if exact is not None:
                assert abs(packed - exact) <= 0.005 * exact + 1


def test_short_steps_give_the_same_result_as_one_transaction(tmp_path):
    from netwatchd.store import transaction

    dumps = []
    for name, steps in (("stepwise", 1), ("whole", None)):
        conn = Database.in_dir(tmp_path / name).open()
        _ten_minutes(conn)
        if steps:
            hr.prune_and_rollup(conn, T0 + timedelta(minutes=11), RetentionSpec(), hosts_per_step=steps)
        else:
            with transaction(conn):
                hr.prune_and_rollup(conn, T0 + timedelta(minutes=11), RetentionSpec())
        dumps.append([conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                      for t in ("probe_blocks", "rollup_5m", "rollup_1h")])
        assert conn.execute("SELECT count(*) FROM probe_results").fetchone()[0] == 0
    assert dumps[0] == dumps[1] and len(dumps[0][1]) == 4


def test_compaction_holds_only_a_few_buckets_at_a_time_and_writes_them_all(tmp_path, monkeypatch):
    """Packed a host's bucket at a time, written COMPACT_FLUSH at a time: a step never holds all
    its samples (at 10,000 hosts that was a ~2 MB peak every 5 minutes); nothing is lost."""
    conn = _store(tmp_path)
    hosts = [f"h{i:03d}" for i in range(7)]
    for i in range(60):
        at = T0 + timedelta(seconds=10 * i)
        hr.record_results(conn, [_result(h, at, [1.0 + k, 2.0 + k, 3.0 + k]) for k, h in enumerate(hosts)],
                          dict.fromkeys(hosts, "up"))
    monkeypatch.setattr(hr, "COMPACT_FLUSH", 3)
    written: list[int] = []
    write = hr._write_compacted
    monkeypatch.setattr(hr, "_write_compacted", lambda c, blocks, rollups: (written.append(len(blocks)),
                                                                            write(c, blocks, rollups)))
    hr.prune_and_rollup(conn, T0 + timedelta(minutes=11), RetentionSpec(), hosts_per_step=len(hosts))
    assert max(written) == 3 and sum(written) == 2 * len(hosts)          # two buckets per host
    assert conn.execute("SELECT count(*) FROM probe_results").fetchone()[0] == 0
    for k, host in enumerate(hosts):
        samples = hr.raw_samples(conn, host, T0, T0 + timedelta(minutes=10))
        assert [s.at_ms for s in samples] == [hr.to_ms(T0) + 10_000 * i for i in range(60)]
        assert all(abs(s.rtt_min_us - 1000 * (1.0 + k)) <= 0.005 * 1000 * (1.0 + k) for s in samples)  # packed


def test_a_round_names_its_hosts_only_when_one_is_new_and_loses_no_row(tmp_path):
    """record_results writes the rows first and inserts names into history_hosts only when a row
    found no host id: a new host's rows still land, a round of known hosts (or the same round
    written again) does not insert every name again."""
    conn = _store(tmp_path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    hr.record_results(conn, [_result("a", T0, [1.0]), _result("b", T0, [2.0])], {"a": "up", "b": "up"})
    assert any("INTO history_hosts" in s for s in statements)              # both were new
    statements.clear()
    later = T0 + timedelta(seconds=10)
    hr.record_results(conn, [_result("a", later, [1.5]), _result("b", later, [])], {"a": "up", "b": "down"})
    hr.record_results(conn, [_result("a", later, [1.5]), _result("b", later, [])], {"a": "up", "b": "down"})
    assert not any("INTO history_hosts" in s for s in statements)          # known: rows only
    newest = T0 + timedelta(seconds=20)
    hr.record_results(conn, [_result("a", newest, [1.0]), _result("c", newest, [3.0]), _result("b", newest, [2.0])],
                      {"a": "up", "b": "up", "c": "up"})
    conn.set_trace_callback(None)
    until = T0 + timedelta(minutes=1)
    assert [(s.at_ms, s.alive) for s in hr.raw_samples(conn, "a", T0, until)] == \
        [(hr.to_ms(T0), True), (hr.to_ms(later), True), (hr.to_ms(newest), True)]
    assert [(s.at_ms, s.state) for s in hr.raw_samples(conn, "b", T0, until)] == \
        [(hr.to_ms(T0), 1), (hr.to_ms(later), 3), (hr.to_ms(newest), 1)]
    assert [s.at_ms for s in hr.raw_samples(conn, "c", T0, until)] == [hr.to_ms(newest)]
