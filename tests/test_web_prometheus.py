"""The example Prometheus/Alertmanager configs in scripts/prometheus are valid and match our metrics."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from netwatchd.models import ProbeResult, State, Transition
from netwatchd.web.metrics import Metrics

FOLDER = Path(__file__).resolve().parent.parent / "scripts" / "prometheus"


def _tool(name: str, package: str, required_in_ci: bool = True) -> str:
    path = shutil.which(name)
    if path:
        return path
    reason = f"needs {name} (apt-get install {package})"
    if required_in_ci and os.environ.get("CI"):
        pytest.fail(f"must run in CI: {reason}")
    pytest.skip(reason)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=FOLDER, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_config_and_rules_and_rule_unit_tests_pass():
    promtool = _tool("promtool", "prometheus")
    for args in (("check", "config", "prometheus.yml"), ("check", "rules", "netwatchd-rules.yml"),
                 ("test", "rules", "netwatchd-rules.test.yml")):
        done = _run(promtool, *args)
        assert done.returncode == 0, done.stdout + done.stderr


def test_amtool_accepts_alertmanager_config():
    amtool = _tool("amtool", "prometheus-alertmanager", required_in_ci=False)
    done = _run(amtool, "check-config", "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load((FOLDER / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    assert all("telegram_configs" in r for r in receivers.values())


def test_rules_only_use_metrics_the_agent_exposes():
    metrics = Metrics()
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    metrics.observe_probe(ProbeResult.from_rtts(host="a", address="x", probe="icmp", at=at, sent=1, rtts_ms=[1.0]))
    metrics.observe_transition(Transition(host="a", address="x", from_state=State.UP, to_state=State.DOWN, at=at))
    metrics.observe_delivery({"status": "sent", "latency_ms": 10})
    exposed = set(re.findall(r"^(netwatchd_\w+)", metrics.render().decode(), re.M))
    rules = yaml.safe_load((FOLDER / "netwatchd-rules.yml").read_text())
    used = {name for group in rules["groups"] for rule in group["rules"]
            for name in re.findall(r"netwatchd_\w+", rule["expr"])}
    assert used and used <= exposed, used - exposed
