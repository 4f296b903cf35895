"""A damaged store at start: `netwatchd run` (a real process) refuses it with one line naming the
file, what is damaged and the commands that keep it aside, exit 2, never a traceback; with
--move-damaged-store it moves the file aside and runs. The stores are real files written by the
store's own functions, then damaged byte by byte (netwatchd.lab.storefaults). Before: a damaged
host_state page crashed the agent with a traceback, and a damaged events or outbox page let it run
with /healthz "ok" while no alert was ever saved."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netwatchd.lab.storefaults import damage, make_store
from netwatchd.store.integrity import check_file


def write_config(folder: Path, port: int) -> Path:
    path = folder / "hosts.yaml"
    path.write_text(
        "data_dir: ./data\n"
        "defaults: {interval: 1s, timeout: 200ms, retry_interval: 200ms, down_after: 2, up_after: 1}\n"
        "web: false\n"
        f"hosts:\n  - {{name: office, address: 127.0.0.1, probe: tcp, port: {port}}}\n", "utf-8")
    return path


def run(folder: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatchd", *args, "-c", "hosts.yaml"], cwd=folder,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.parametrize("kind, names", [
    ("truncated", "schema"), ("truncated-header", "schema"), ("garbage-header", "not a database"),
    ("zeroed-page:events", "table events"), ("garbage-page:outbox", "table outbox"),
    ("zeroed-page:host_state", "table host_state"), ("cell-pointers:outbox", "table outbox"),
    ("garbage-page:probe_results", "table probe_results"),
])
def test_a_damaged_store_is_refused_with_one_line_that_says_what_to_do(tmp_path, listener, kind, names):
    store = make_store(tmp_path / "data")
    damage(store, kind)
    write_config(tmp_path, listener.getsockname()[1])
    started = time.monotonic()
    proc = run(tmp_path, "run")
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert time.monotonic() - started < 15
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"netwatchd: the store {store} is damaged (") and names in line, line
    aside = f"{store}.damaged-"
    assert f"mv {store} {aside}" in line and "then start netwatchd again" in line
    assert "netwatchd run -c hosts.yaml --move-damaged-store" in line
    assert f"sqlite3 {store} 'PRAGMA integrity_check'" in line
    assert store.exists() and not list(store.parent.glob("*.damaged-*")), "nothing is moved without the flag"


def test_the_printed_commands_work_and_the_agent_starts_afresh(tmp_path, listener):
    """Run the mv commands from the line as a shell would: the agent then starts with an empty
    store, and the damaged file kept aside is still readable by sqlite3 (for a look later)."""
    store = make_store(tmp_path / "data")
    damage(store, "zeroed-page:events")
    write_config(tmp_path, listener.getsockname()[1])
    line = run(tmp_path, "run").stderr.strip()
    command = line.split("`")[1]
    assert command.startswith("mv ")
    subprocess.run(command, shell=True, check=True, cwd=tmp_path)
    [aside] = store.parent.glob("netwatchd.sqlite3.damaged-*[0-9]")
    assert "table events" in (check_file(aside) or "")
    assert not store.exists()
    proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", "hosts.yaml"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_file(store)
        time.sleep(1.0)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(10)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert check_file(store) is None


def test_move_damaged_store_keeps_the_file_aside_and_the_fresh_agent_alerts(tmp_path, listener):
    store = make_store(tmp_path / "data")
    damage(store, "garbage-page:outbox")
    write_config(tmp_path, listener.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", "hosts.yaml", "--move-damaged-store"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        time.sleep(2.5)                        # the site is UP (the listener answers) ...
        listener.close()                       # ... then goes down: announced on the console
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _down_in_store(store):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "was damaged (database disk image is malformed; damaged: table outbox): moved to" in err
    [aside] = store.parent.glob("netwatchd.sqlite3.damaged-*[0-9]")
    assert "table outbox" in (check_file(aside) or "")
    assert check_file(store) is None
    assert "office DOWN" in out, out


def test_a_sound_store_is_used_as_always_with_the_flag(tmp_path, listener):
    store = make_store(tmp_path / "data")
    write_config(tmp_path, listener.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", "hosts.yaml", "--move-damaged-store"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(10)
    assert proc.returncode == 0 and "damaged" not in err, err
    assert not list(store.parent.glob("*.damaged-*"))


def test_an_empty_store_file_is_said_and_started_afresh(tmp_path, listener):
    (tmp_path / "data").mkdir()
    store = tmp_path / "data" / "netwatchd.sqlite3"
    store.write_bytes(b"")
    write_config(tmp_path, listener.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "netwatchd", "run", "-c", "hosts.yaml"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(10)
    assert proc.returncode == 0, err
    assert f"the store {store} is empty (0 bytes): starting with an empty store" in err


def test_status_on_a_damaged_store_says_the_same_in_one_line(tmp_path, listener):
    store = make_store(tmp_path / "data")
    damage(store, "zeroed-page:host_state")
    write_config(tmp_path, listener.getsockname()[1])
    proc = run(tmp_path, "status")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert f"the store {store} is damaged" in line and "--move-damaged-store" in line


def _wait_for_file(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _down_in_store(store: Path) -> bool:
    from netwatchd.store import state_repo
    from netwatchd.store.db import Database

    try:
        conn = Database(store).connect(readonly=True)
    except Exception:  # noqa: BLE001 - not created yet
        return False
    try:
        return any(t.host == "office" and t.to_state.value == "down" for t in state_repo.recent_events(conn))
    except Exception:  # noqa: BLE001 - being created
        return False
    finally:
        conn.close()
