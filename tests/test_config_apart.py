"""load_config_apart: hosts.yaml read in a forked child gives the very Config an in-process read
gives (shared objects still shared, secrets still masked here), and a bad one fails as usual."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from netwatchd.config.apart import load_config_apart, read_in_child
from netwatchd.config.loader import load_config
from netwatchd.errors import ConfigError
from netwatchd.logs import isolated_secrets, redact

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork()")

TOKEN = "123456789:AAH-apart-test-token-aaaaaaaaaaaaaaaa"


@pytest.fixture
def hosts_yaml(tmp_path: Path) -> Path:
    lines = ["data_dir: ./data",
             "defaults: {interval: 5s, thresholds: {rtt_avg_ms: 150}}",
             "telegram: {token: ${APART_TOKEN}, chat_ids: [42], admins: [42]}",
             "routers:",
             "  - {name: core, address: 127.0.0.1, username: api, password: ${APART_ROUTER_PW}}",
             "hosts:",
             "  - {name: core, address: 127.0.0.1}"]
    lines += [f"  - {{name: site{i:03d}, address: 127.0.1.{i}, group: g{i % 3}, parent: core}}" for i in range(1, 120)]
    path = tmp_path / "hosts.yaml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


ENV = {"APART_TOKEN": TOKEN, "APART_ROUTER_PW": "router-apart-pw"}


def only_thread() -> None:
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        pytest.skip(f"other threads are running in this test process: {others}")


def test_the_child_reads_the_same_config_with_shared_objects_kept_shared(hosts_yaml: Path) -> None:
    only_thread()
    with isolated_secrets():
        apart = read_in_child(hosts_yaml, ENV)
        here = load_config(hosts_yaml, ENV)
    assert apart is not None                          # it really came from the child
    assert apart == here
    assert len(apart.hosts) == 120
    # equal thresholds are one object in both (what keeps 10,000 sites small)
    assert len({id(h.thresholds) for h in apart.hosts}) == len({id(h.thresholds) for h in here.hosts})


def test_secrets_the_child_saw_are_masked_in_this_process(hosts_yaml: Path) -> None:
    only_thread()
    with isolated_secrets():
        assert redact("pw router-apart-pw") == "pw router-apart-pw"     # not a secret yet here
        assert read_in_child(hosts_yaml, ENV) is not None
        line = redact(f"token {TOKEN} pw router-apart-pw")
    assert TOKEN not in line and "router-apart-pw" not in line, line


def test_a_bad_config_fails_as_an_in_process_read_does(tmp_path: Path) -> None:
    only_thread()
    bad = tmp_path / "hosts.yaml"
    bad.write_text("hosts:\n  - {name: a, address: 127.0.0.1, interval: soon}\n", "utf-8")
    assert read_in_child(bad, {}) is None
    with pytest.raises(ConfigError) as apart:
        load_config_apart(bad, {})
    with pytest.raises(ConfigError) as here:
        load_config(bad, {})
    assert str(apart.value) == str(here.value)
    assert "interval" in str(apart.value)


def test_with_other_threads_running_a_new_interpreter_reads_it(hosts_yaml: Path) -> None:
    """A reload: the agent's threads run, so no fork; `python -m netwatchd.config.apart` reads it."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        with isolated_secrets():
            apart = read_in_child(hosts_yaml, {**os.environ, **ENV})
            assert apart is not None
            assert apart == load_config(hosts_yaml, ENV)
            assert "router-apart-pw" not in redact("pw router-apart-pw")
            bad = hosts_yaml.with_name("bad.yaml")
            bad.write_text("hosts: [{name: a, address: 127.0.0.1, interval: soon}]\n", "utf-8")
            assert read_in_child(bad, dict(os.environ)) is None
            with pytest.raises(ConfigError, match="interval"):
                load_config_apart(bad)
    finally:
        stop.set()
        other.join()


def test_the_child_leaves_no_zombie(hosts_yaml: Path) -> None:
    only_thread()
    with isolated_secrets():
        read_in_child(hosts_yaml, ENV)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    assert sys.platform.startswith(("linux", "darwin", "freebsd"))
