"""`netwatchd run` as a real process: console alerts, SIGTERM/SIGINT within 2 s, SIGHUP reload,
one-line errors. Probes are TCP connects to a real listener on loopback (no root needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def write_config(path: Path, port: int, *, extra_host: bool = False) -> Path:
    hosts = [f"  - {{name: office, address: 127.0.0.1, probe: tcp, port: {port}}}"]
    if extra_host:
        hosts.append(f"  - {{name: annex, address: localhost, probe: tcp, port: {port}}}")
    path.write_text(
        "data_dir: ./data\n"
        "defaults: {interval: 1s, timeout: 200ms, retry_interval: 200ms, down_after: 2, up_after: 1}\n"
        "web: false\n"
        "hosts:\n" + "\n".join(hosts) + "\n", "utf-8")
    return path


class Agent:
    def __init__(self, config: Path, cwd: Path) -> None:
        self.out = cwd / "stdout.txt"
        self.err = cwd / "stderr.txt"
        self.proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", str(config),
                                      "--log-level", "debug"],
                                     cwd=cwd, stdout=open(self.out, "wb"), stderr=open(self.err, "wb"),
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_for(self, needle: str, timeout: float = 10, where: str = "err") -> str:
        path = self.err if where == "err" else self.out
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = path.read_text("utf-8", "replace")
            if needle in text:
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in {where}:\n{path.read_text('utf-8', 'replace')}")

    def stop(self, sig: int) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(10)
        return code, time.monotonic() - start


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator:
    started: list[Agent] = []

    def make(config: Path) -> Agent:
        agent = Agent(config, tmp_path)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_agent_alerts_on_the_console_and_stops_cleanly_within_two_seconds(tmp_path, listener, agent_factory, sig):
    port = listener.getsockname()[1]
    agent = agent_factory(write_config(tmp_path / "hosts.yaml", port))
    agent.wait_for("watching 1 hosts")
    agent.wait_for("office: unknown -> up", timeout=10)
    listener.close()                                    # the office stops answering
    agent.wait_for("office DOWN", timeout=10, where="out")   # console notifier (no telegram token)
    code, seconds = agent.stop(sig)
    assert code == 0 and seconds < 2.0, (code, seconds)
    assert "Traceback" not in agent.err.read_text("utf-8")
    assert (tmp_path / "data" / "netwatchd.sqlite3").exists()


def test_sighup_reloads_a_good_file_and_rejects_a_bad_one(tmp_path, listener, agent_factory):
    port = listener.getsockname()[1]
    config = write_config(tmp_path / "hosts.yaml", port)
    agent = agent_factory(config)
    agent.wait_for("watching 1 hosts")
    write_config(config, port, extra_host=True)
    agent.proc.send_signal(signal.SIGHUP)
    agent.wait_for("reloaded")
    agent.wait_for("annex: unknown -> up")
    config.write_text(config.read_text("utf-8").replace("probe: tcp", "probe: tcpp"), "utf-8")
    agent.proc.send_signal(signal.SIGHUP)
    text = agent.wait_for("reload of")
    assert "reload rejected" in text and "tcpp" in text and "the running config (2 hosts) is kept" in text
    assert agent.proc.poll() is None
    code, _ = agent.stop(signal.SIGTERM)
    assert code == 0


def test_sighup_with_a_1000_level_deep_file_keeps_the_agent_and_its_config(tmp_path, listener, agent_factory):
    port = listener.getsockname()[1]
    config = write_config(tmp_path / "hosts.yaml", port)
    agent = agent_factory(config)
    agent.wait_for("watching 1 hosts")
    config.write_text("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 1000)), "utf-8")
    agent.proc.send_signal(signal.SIGHUP)
    text = agent.wait_for("reload of")
    assert "flatten the YAML" in text and "the running config (1 hosts) is kept" in text
    assert agent.proc.poll() is None
    assert "Traceback" not in agent.err.read_text("utf-8")
    code, _ = agent.stop(signal.SIGTERM)
    assert code == 0


def test_the_data_dir_and_every_file_in_it_are_private_whatever_the_umask(tmp_path, listener, agent_factory):
    previous = os.umask(0)                                 # the child inherits the loosest umask
    try:
        agent = agent_factory(write_config(tmp_path / "hosts.yaml", listener.getsockname()[1]))
    finally:
        os.umask(previous)
    agent.wait_for("office: unknown -> up")
    data = tmp_path / "data"
    assert oct(data.stat().st_mode & 0o777) == oct(0o700)
    files = sorted(data.iterdir())
    assert {f.name for f in files} >= {"netwatchd.sqlite3", "netwatchd.sqlite3-wal", "netwatchd.sqlite3-shm"}
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: oct(0o600) for f in files}
    agent.stop(signal.SIGTERM)


def test_a_missing_default_config_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "netwatchd", "run"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert "hosts.yaml" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_bad_shard_is_one_line_exit_2(tmp_path, listener):
    config = write_config(tmp_path / "hosts.yaml", listener.getsockname()[1])
    proc = subprocess.run([sys.executable, "-m", "netwatchd", "run", "-c", str(config), "--shard", "3/2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--shard" in proc.stderr and "Traceback" not in proc.stderr
