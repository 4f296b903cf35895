"""load_config_apart: hosts.yaml read in a forked child gives the very Config an in-process read
gives (shared objects still shared, secrets still masked here), and a bad one fails as usual."""

from __future__ import annotations

import os
import subprocess
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


FORKED = """
import os, sys, threading
from pathlib import Path
from netwatchd.config.apart import load_config_apart, read_in_child
from netwatchd.config.loader import load_config
from netwatchd.errors import ConfigError
from netwatchd.logs import redact

assert threading.active_count() == 1          # as at the agent's start: the fork path is taken
good, bad = Path(sys.argv[1]), Path(sys.argv[2])
env = {"APART_TOKEN": sys.argv[3], "APART_ROUTER_PW": "router-apart-pw"}
assert redact("pw router-apart-pw") == "pw router-apart-pw"     # not a secret in this process yet
apart = read_in_child(good, env)
assert apart is not None                      # it really came from the child
assert "router-apart-pw" not in redact("pw router-apart-pw"), "the child's secrets are masked here"
here = load_config(good, env)
assert apart == here and len(apart.hosts) == 120
# equal thresholds are one object in both (what keeps 10,000 sites small)
assert len({id(h.thresholds) for h in apart.hosts}) == len({id(h.thresholds) for h in here.hosts}) == 1
# pickle makes every float its own object: load_config_apart shares equal numbers and strings again
agent = load_config_apart(good, env)
assert agent == here and len({id(h.interval) for h in apart.hosts}) == 120
for field in ("interval", "timeout", "retry_interval", "http_code_max", "group"):
    assert len({id(getattr(h, field)) for h in agent.hosts}) == len({getattr(h, field) for h in agent.hosts}), field
assert read_in_child(bad, {}) is None         # a bad file: the caller reads in-process...
errors = []
for read in (load_config_apart, load_config):
    try:
        read(bad, {})
    except ConfigError as exc:
        errors.append(str(exc))
assert len(errors) == 2 and errors[0] == errors[1] and "interval" in errors[0], errors   # ...and fails as usual
try:
    os.waitpid(-1, os.WNOHANG)
    raise AssertionError("a child was left behind")
except ChildProcessError:
    pass
print("OK")
"""


def test_at_start_a_forked_child_reads_the_same_config_and_its_secrets_are_masked_here(hosts_yaml: Path) -> None:
    """Run in a fresh interpreter: this test process has other threads (pytest-xdist), and the fork
    path is taken only when none run (the agent's start)."""
    bad = hosts_yaml.with_name("bad.yaml")
    bad.write_text("hosts:\n  - {name: a, address: 127.0.0.1, interval: soon}\n", "utf-8")
    done = subprocess.run([sys.executable, "-c", FORKED, str(hosts_yaml), str(bad), TOKEN],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "OK", done.stdout + done.stderr


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
