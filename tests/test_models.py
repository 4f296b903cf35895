from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netwatchd.models import ProbeResult, State, Transition

AT = datetime(2026, 11, 27, 1, 2, 3, 456000, tzinfo=timezone.utc)


def test_statistics_match_netwatch_definitions():
    result = ProbeResult.from_rtts(host="Waru", address="198.18.1.2", probe="icmp", at=AT, sent=4,
                                   rtts_ms=[1.0, 2.0, 4.0])
    assert (result.alive, result.sent, result.received) == (True, 4, 3)
    assert (result.rtt_min_ms, result.rtt_avg_ms, result.rtt_max_ms) == (1.0, 2.333, 4.0)
    assert result.jitter_ms == 1.5          # mean |difference| of consecutive replies
    assert result.stdev_ms == 1.247         # population standard deviation
    assert result.loss_percent == 25.0


def test_nothing_back_is_a_timeout_and_full_loss():
    result = ProbeResult.from_rtts(host="Waru", address="x", probe="icmp", at=AT, sent=3, rtts_ms=[])
    assert not result.alive and result.error == "timeout" and result.loss_percent == 100.0
    assert result.rtt_avg_ms is None
    unsent = ProbeResult(host="Waru", address="x", probe="icmp", at=AT, alive=False)
    assert unsent.loss_percent == 100.0     # judged by what came back, never by loss alone


@given(st.lists(st.floats(min_value=0.001, max_value=5000), max_size=12), st.integers(0, 3))
def test_fast_constructor_equals_the_dataclass_one(rtts, extra_sent):
    fast = ProbeResult.from_rtts(host="h", address="a", probe="icmp", at=AT, sent=len(rtts) + extra_sent,
                                 rtts_ms=rtts, detail={"mode": "raw"})
    slow = ProbeResult(host="h", address="a", probe="icmp", at=AT, alive=fast.alive, sent=fast.sent,
                       received=len(rtts), rtt_min_ms=fast.rtt_min_ms, rtt_avg_ms=fast.rtt_avg_ms,
                       rtt_max_ms=fast.rtt_max_ms, jitter_ms=fast.jitter_ms, stdev_ms=fast.stdev_ms,
                       error=fast.error, detail={"mode": "raw"})
    assert fast == slow and repr(fast) == repr(slow)
    if rtts:
        assert fast.rtt_min_ms <= fast.rtt_avg_ms + 0.001 and fast.rtt_avg_ms <= fast.rtt_max_ms + 0.001
    with pytest.raises(AttributeError):
        fast.alive = not fast.alive  # type: ignore[misc]


def test_transition_round_trips_through_json_dict():
    t = Transition(host="core", address="198.18.0.2", from_state=State.UP, to_state=State.DOWN, at=AT,
                   group="core", since=AT, affected=("Waru", "Taman"), evidence={"loss_percent": 100.0})
    assert Transition.from_dict(t.to_dict()) == t
    assert t.to_dict()["at"] == "2026-11-27T01:02:03.456+00:00"


def test_from_rtts_fills_every_field_as_the_constructor_would():
    import dataclasses
    from datetime import datetime, timezone

    from netwatchd.models import ProbeResult

    at = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
    for rtts in ([], [1.25], [1.0, 2.0, 4.0]):
        made = ProbeResult.from_rtts(host="h", address="a", probe="icmp", at=at, sent=3, rtts_ms=rtts,
                                     detail={"mode": "raw"})
        rebuilt = ProbeResult(**{f.name: getattr(made, f.name) for f in dataclasses.fields(ProbeResult)})
        assert made == rebuilt and repr(made) == repr(rebuilt)
        assert not hasattr(made, "__dict__")      # slots: the agent keeps one per host


def test_equal_small_details_are_one_read_only_object_equal_to_the_old_dicts():
    import copy
    import json
    import pickle

    from netwatchd.models import Detail, shared_detail

    plain = {"mode": "datagram"}
    results = [ProbeResult.from_rtts(host=f"h{i}", address="a", probe="icmp", at=AT, sent=3, rtts_ms=[1.0],
                                     detail=plain if i % 2 else {"mode": "datagram"}) for i in range(6)]
    assert all(r.detail is results[0].detail for r in results)     # one object for every result
    assert results[0].detail == plain and json.dumps(results[0].detail) == json.dumps(plain)
    assert results[0].to_dict()["detail"] == plain and type(results[0].to_dict()["detail"]) is dict
    plain["mode"] = "raw"                   # the caller's dict changing later changes no result
    assert results[0].detail == {"mode": "datagram"}
    assert ProbeResult.from_rtts(host="h", address="a", probe="icmp", at=AT, sent=3, rtts_ms=[1.0],
                                 detail=plain).detail == {"mode": "raw"}
    with pytest.raises(TypeError):
        results[0].detail["mode"] = "raw"   # type: ignore[index]
    with pytest.raises(TypeError):
        results[0].detail.update(mode="raw")
    assert results[0].detail == {"mode": "datagram"}
    for copied in (dict(results[0].detail), copy.deepcopy(results[0].detail),
                   pickle.loads(pickle.dumps(results[0].detail))):
        assert copied == {"mode": "datagram"}
    # what differs per result (floats, lists) is not shared; 1, 1.0 and True are kept apart
    one, other = shared_detail({"tcp_connect_ms": 1.5}), shared_detail({"tcp_connect_ms": 1.5})
    assert one == other and one is not other
    assert json.dumps([shared_detail({"n": 1}), shared_detail({"n": True}), shared_detail({"n": 1.0})]) \
        == '[{"n": 1}, {"n": true}, {"n": 1.0}]'
    built = ProbeResult(host="h", address="a", probe="icmp", at=AT, alive=False, detail={"port": 22})
    assert type(built.detail) is Detail and built.detail is shared_detail({"port": 22})
    assert ProbeResult(host="h", address="a", probe="icmp", at=AT, alive=False).detail == {}
