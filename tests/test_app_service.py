"""scripts/netwatchd.service: an unprivileged user with CAP_NET_RAW, restart on failure, state in
/var/lib/netwatchd, reload = SIGHUP; systemd's own checker accepts it (when systemd is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "scripts" / "netwatchd.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_service_runs_unprivileged_with_only_raw_icmp():
    unit = directives()
    assert unit["User"] == ["netwatchd"] and unit["Group"] == ["netwatchd"]
    assert unit["AmbientCapabilities"] == ["CAP_NET_RAW"]
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]


def test_the_service_restarts_keeps_state_reloads_with_sighup_and_validates_first():
    unit = directives()
    assert unit["Restart"] == ["on-failure"]
    assert unit["StateDirectory"] == ["netwatchd"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["ExecStartPre"][0].endswith("netwatchd check --strict -c /etc/netwatchd/hosts.yaml")
    assert unit["ExecStart"][0].endswith("netwatchd run -c /etc/netwatchd/hosts.yaml")
    assert unit["EnvironmentFile"] == ["/etc/netwatchd/netwatchd.env"]


def test_the_pre_start_check_refuses_what_run_would_refuse_an_unset_secret(tmp_path):
    """Without --strict an unset ${TELEGRAM_BOT_TOKEN} was a warning: the check passed, `run` refused,
    and systemd restarted it until its start limit."""
    config = tmp_path / "hosts.yaml"
    config.write_text("telegram:\n  token: ${TELEGRAM_BOT_TOKEN}\n  chat_ids: [-100123]\n"
                      f"data_dir: {tmp_path / 'data'}\nhosts:\n  - {{name: lo, address: 127.0.0.1}}\n", "utf-8")
    words = directives()["ExecStartPre"][0].split()
    command = [sys.executable, "-m", "netwatchd", *words[1:]]
    command[command.index("/etc/netwatchd/hosts.yaml")] = str(config)
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    unset = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert unset.returncode == 2 and "TELEGRAM_BOT_TOKEN" in unset.stderr, unset.stderr
    assert "Traceback" not in unset.stderr
    is_set = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            env={**env, "TELEGRAM_BOT_TOKEN": "123456:doc-example-not-a-real-token"})
    assert is_set.returncode == 0, is_set.stderr
    assert "doc-example-not-a-real-token" not in is_set.stdout + is_set.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path):
    netwatchd = shutil.which("netwatchd")
    assert netwatchd, "the package's console script should be installed"
    text = UNIT.read_text("utf-8").replace("/opt/netwatchd/venv/bin/netwatchd", netwatchd)
    copy = tmp_path / "netwatchd.service"
    copy.write_text(text, "utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_cap_net_raw_alone_is_enough_to_probe_and_without_it_the_fix_is_one_line():
    """What the unit grants (CAP_NET_RAW and nothing else) is what ICMP probing needs."""
    probe = [sys.executable, "-m", "netwatchd", "probe", "127.0.0.1", "--count", "1"]
    only_raw = subprocess.run(["setpriv", "--bounding-set=-all,+net_raw", "--", *probe],
                              capture_output=True, text=True, timeout=60)
    assert only_raw.returncode == 0 and " up " in only_raw.stdout, only_raw.stdout + only_raw.stderr
    if Path("/proc/sys/net/ipv4/ping_group_range").read_text().split() != ["1", "0"]:
        return                     # unprivileged ping sockets are allowed here: nothing to refuse
    none = subprocess.run(["setpriv", "--bounding-set=-all", "--", *probe], capture_output=True, text=True,
                          timeout=60)
    assert none.returncode == 2 and "AmbientCapabilities=CAP_NET_RAW" in none.stderr
    assert len(none.stderr.strip().splitlines()) == 1
