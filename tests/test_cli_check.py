"""`netwatchd check` as a real subprocess (`python -m netwatchd`): exit codes, the one-line summary,
every error listed, --json, and never a traceback for any bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTDATA = Path(__file__).parent / "testdata"
SECRET_VARS = ("TELEGRAM_BOT_TOKEN", "ROUTER_PASSWORD")


def netwatchd(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "netwatchd", *args], cwd=cwd, env=clean, capture_output=True,
                          text=True, timeout=60)


def test_shipped_hosts_yaml_passes_without_secrets_in_the_environment() -> None:
    done = netwatchd("check", "-c", "hosts.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hosts.yaml: OK — 19 hosts, 1 router, telegram: 1 chat once TELEGRAM_BOT_TOKEN is set\n"
    assert done.stderr.splitlines() == [
        "hosts.yaml:25: warning: telegram.token: environment variable TELEGRAM_BOT_TOKEN is not set "
        "(netwatchd run will refuse to start until it is)",
        "hosts.yaml:32: warning: routers[core].password: environment variable ROUTER_PASSWORD is not set "
        "(netwatchd run will refuse to start until it is)"]


def test_default_config_is_hosts_yaml_in_the_working_directory() -> None:
    done = netwatchd("check", env={"TELEGRAM_BOT_TOKEN": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                   "ROUTER_PASSWORD": "lab-secret"})
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "hosts.yaml: OK — 19 hosts, 1 router, telegram: 1 chat\n", "")


def test_strict_treats_unset_secrets_as_errors_like_run() -> None:
    done = netwatchd("check", "--strict", "-c", "hosts.yaml")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "hosts.yaml: 2 errors"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("yaml_text, summary", [
    ("hosts: [{name: A, address: 10.0.0.1}]\n", "1 host, no routers, telegram: off (alerts go to the console)"),
    ("telegram: {token: '123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', chat_ids: [-1001, -1002], admins: [7]}\n"
     "routers: [{name: a, address: 10.0.0.1}, {name: b, address: 10.0.0.2}]\n"
     "hosts: [{name: A, address: 10.0.0.1}, {name: B, address: 10.0.0.2, disabled: true}]\n",
     "2 hosts (1 disabled), 2 routers, telegram: 2 chats"),
])
def test_summary_reads_naturally(tmp_path: Path, yaml_text: str, summary: str) -> None:
    (tmp_path / "site.yaml").write_text(yaml_text)
    done = netwatchd("check", "-c", "site.yaml", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"site.yaml: OK — {summary}\n"), done.stderr


def test_bad_file_exits_2_listing_every_error_without_traceback() -> None:
    done = netwatchd("check", "-c", str(TESTDATA / "invalid-address.yaml"))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 8 and lines[-1].endswith("invalid-address.yaml: 7 errors")
    assert all(":" in line and "hosts[" in line for line in lines[:-1])
    assert done.stdout == "" and "Traceback" not in done.stderr


def _special_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {"empty": b"", "binary": bytes(range(256)), "non-utf8": b"hosts:\n  - {name: \xff}\n",
             "list": b"- {name: Waru, address: 172.16.200.117}\n", "syntax": b"hosts: [\n  {name: A\n",
             "huge-number": b"defaults: {count: 1" + b"0" * 5000 + b"}\nhosts: []\n",
             "wrong-types": b"hosts: 3\ntelegram: [1]\nweb: 8080\nflapping: yes please\n"}
    paths = {}
    for name, data in files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(data)
        paths[name] = path
    paths["directory"] = tmp_path
    paths["missing"] = tmp_path / "does-not-exist.yaml"
    return paths


def test_every_special_bad_input_is_one_located_message(tmp_path: Path) -> None:
    inputs = _special_inputs(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(zip(inputs, pool.map(lambda p: netwatchd("check", "-c", str(p)), inputs.values()), strict=True))
    for name, path in inputs.items():
        done = runs[name]
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and "Error:" not in done.stderr.split(":", 2)[-1][:6], name
        first = done.stderr.splitlines()[0]
        assert first.startswith(f"{path}:"), (name, first)
        assert first.endswith(")"), (name, first)           # every message says what is allowed


def test_json_output(tmp_path: Path) -> None:
    done = netwatchd("check", "--json", "-c", str(TESTDATA / "invalid-timeout-interval.yaml"))
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["ok"] is False and document["summary"] is None
    assert [(e["line"], e["path"]) for e in document["errors"]] == [(4, "hosts[Waru].timeout"),
                                                                      (5, "hosts[Candi].interval")]
    assert document["errors"][0]["message"] == "timeout 5s is not shorter than interval 5s"
    done = netwatchd("check", "--json", "-c", "hosts.yaml")
    document = json.loads(done.stdout)
    assert done.returncode == 0 and document["ok"] is True and document["hosts"] == 19
    assert document["unset_secret_variables"] == ["ROUTER_PASSWORD", "TELEGRAM_BOT_TOKEN"]


def test_data_dir_that_is_a_file_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a folder")
    (tmp_path / "hosts.yaml").write_text("data_dir: state\nhosts: [{name: A, address: 10.0.0.1}]\n")
    done = netwatchd("check", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr == (f"hosts.yaml: warning: data_dir: {tmp_path / 'state'} is a file "
                           "(point data_dir at a folder)\n")
