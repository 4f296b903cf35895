"""`netwatchd status` against a real store written by the engine, read while a writer keeps it open."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from netwatchd.clock import FakeClock
from netwatchd.config.loader import load_config
from netwatchd.engine.engine import AlertEngine
from netwatchd.models import State, Transition
from netwatchd.store import state_repo
from netwatchd.store.db import Database
from support.state import result

CONFIG = """\
data_dir: ./data
timezone: Asia/Jakarta
self_check:
  anchors: [198.18.0.1]
hosts:
  - {name: core, address: 198.18.0.2}
  - {name: Waru, address: 198.18.1.2, group: kecamatan, parent: core}
  - {name: Taman, address: 198.18.2.2, group: kecamatan, parent: core}
  - {name: Candi, address: 198.18.3.2, group: kecamatan, parent: core}
"""


def status(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netwatchd", "status", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def site(tmp_path):
    (tmp_path / "hosts.yaml").write_text(CONFIG)
    return tmp_path


def populate(site: Path):
    """Run the engine over a Waru outage with real wall-clock times and save like the agent does."""
    config = load_config(site / "hosts.yaml")
    clock = FakeClock(datetime.now(timezone.utc) - timedelta(minutes=10))
    engine = AlertEngine(config, clock)
    conn = Database.in_dir(config.data_dir).open()
    for codes in ["++++", "++++", "+-++", "+-++", "+-++", "+-~+"]:
        clock.advance(1)
        now = clock.now()
        names = ["core", "Waru", "Taman", "__self__:198.18.0.1"]
        batch = [result(n, c, now) for n, c in zip(names, codes, strict=True)]
        batch.append(result("Candi", "+", now))
        transitions = engine.ingest(batch)
        state_repo.save(conn, engine.take_changed(), transitions, ["console"], now)
    state_repo.add_mute(conn, "Taman", datetime.now(timezone.utc) + timedelta(hours=1), "admin", "router swap")
    # one alert the delivery worker gave up on
    dead = Transition(host="Candi", address="198.18.3.2", from_state=State.UP, to_state=State.DOWN,
                      at=clock.now())
    state_repo.save(conn, {}, [dead], ["-100999"], clock.now())
    conn.execute("UPDATE outbox SET status='dead', last_error='chat not found' WHERE chat_id='-100999'")
    return conn


def test_missing_store_is_one_line(site):
    done = status("-c", "hosts.yaml", cwd=site)
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "has not run" in done.stderr and "Traceback" not in done.stderr


def test_bad_config_is_located_not_a_traceback(tmp_path):
    (tmp_path / "hosts.yaml").write_text("hosts:\n  - {name: a}\n")
    done = status("-c", "hosts.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "hosts.yaml" in done.stderr


def test_table_while_the_agent_holds_the_store_open(site):
    writer = populate(site)
    writer.execute("BEGIN IMMEDIATE")            # the agent is in the middle of a write
    try:
        done = status("-c", "hosts.yaml", cwd=site)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    row = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in
           ("core", "Waru", "Taman", "Candi")}
    assert " down " in row["Waru"] and "100% loss, timeout" in row["Waru"]
    assert "WIB" in row["Waru"]
    assert " up " in row["Taman"] and "muted until" in row["Taman"] and "router swap" in row["Taman"]
    assert "uplink: up" in done.stdout
    assert "outbox: 1 alert(s) waiting for delivery" in done.stdout   # Waru's DOWN to the console
    assert "dead #" in done.stdout and "chat not found" in done.stdout and "Candi" in done.stdout


def test_json_output(site):
    populate(site).close()
    done = status("-c", "hosts.yaml", "--json", cwd=site)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    hosts = {h["name"]: h for h in report["hosts"]}
    assert hosts["Waru"]["state"] == "down" and hosts["Waru"]["evidence"]["failures_in_row"] == 4
    assert hosts["Waru"]["since_local"].endswith("WIB")
    assert hosts["Taman"]["muted"] is True and hosts["core"]["muted"] is False
    assert hosts["Candi"]["state"] == "up"
    assert report["outbox"]["depth"] == 1
    assert report["outbox"]["dead"] == [{**report["outbox"]["dead"][0], "chat_id": "-100999",
                                         "reason": "chat not found", "host": "Candi"}]
    assert report["uplink"]["state"] == "up"
