"""--shard K/N: every host in exactly one shard, stable, children stay with their parent."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwatchd.config.model import HostSpec
from netwatchd.engine.sharding import parse_shard, shard_hosts, shard_of
from netwatchd.errors import UsageError

HOSTS = [HostSpec(name="core", address="198.18.0.1")] + [
    HostSpec(name=f"kec-{i:02d}", address=f"198.18.{i}.2", parent="core" if i % 3 == 0 else None)
    for i in range(1, 61)] + [HostSpec(name="cam-1", address="198.18.100.2", parent="kec-03"),
                              HostSpec(name="behind-router", address="198.18.101.2", parent="mikrotik-core")]


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_every_host_in_exactly_one_shard_and_children_with_parents(n):
    shards = [shard_hosts(HOSTS, k, n) for k in range(1, n + 1)]
    names = [h.name for shard in shards for h in shard]
    assert sorted(names) == sorted(h.name for h in HOSTS)
    home = {h.name: k for k, shard in enumerate(shards) for h in shard}
    assert home["cam-1"] == home["kec-03"] == home["core"] == home["kec-06"]
    for shard in shards:   # original order kept
        assert [h.name for h in shard] == [h.name for h in HOSTS if h in shard]
    if n == 3:
        assert all(len(shard) > 5 for shard in shards)   # independent roots spread out


def test_hash_is_stable_across_processes():
    code = "from netwatchd.engine.sharding import shard_of; print([shard_of(f'kec-{i}', 4) for i in range(20)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert other.stdout.strip() == str([shard_of(f"kec-{i}", 4) for i in range(20)])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text("abcdefgh-0123", min_size=1, max_size=8), unique_by=str.lower, max_size=30),
       st.text("xyz", min_size=1, max_size=4))
def test_adding_a_host_moves_no_other_host(names, extra):
    hosts = [HostSpec(name=n, address="198.18.0.9") for n in names]
    grown = hosts + [HostSpec(name="new-" + extra, address="198.18.0.9")]
    for k in (1, 2, 3):
        before = {h.name for h in shard_hosts(hosts, k, 3)}
        after = {h.name for h in shard_hosts(grown, k, 3)}
        assert before <= after and len(after - before) <= 1


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "", "2/0"])
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(UsageError, match="is not K/N with 1 <= K <= N"):
        parse_shard(text)


def test_parse_shard():
    assert parse_shard("2/3") == (2, 3) and parse_shard(" 1 / 1 ") == (1, 1)
