"""Each subcommand imports only what it uses: a cron job running `netwatchd check` or `status`
every minute must not pay for matplotlib, requests, icmplib... (the start-up time itself is in
scripts/bench_probe.py, never in a test). Every run is a real `python -m netwatchd` subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from netwatchd.cli import SUBCOMMANDS

HEAVY = ("matplotlib", "requests", "prometheus_client", "librouteros", "icmplib", "apscheduler", "yaml",
         "sqlite3", "asyncio")
NEVER = {"matplotlib", "requests", "prometheus_client", "librouteros", "apscheduler"}  # no command here uses them
PROBE = """
import sys
from netwatchd.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
heavy = {heavy!r}
print("IMPORTED", *sorted(m for m in heavy if m in sys.modules), "EXIT", code, file=sys.stderr)
"""


def imported(*argv: str, cwd: Path, heavy: tuple[str, ...] = HEAVY) -> tuple[set[str], str]:
    """The `heavy` modules a `netwatchd ARGV` process had imported when it finished, and its exit code."""
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=heavy), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("IMPORTED"), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    words = line.split()
    return set(words[1:words.index("EXIT")]), words[-1]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yaml"     # loopback only; nothing is probed by check or status
    path.write_text("data_dir: ./data\nhosts:\n  - {name: office, address: 127.0.0.1}\n", "utf-8")
    return path


def test_help_imports_no_subcommand_and_nothing_heavy(tmp_path: Path) -> None:
    found, code = imported("--help", cwd=tmp_path)
    assert (found, code) == (set(), "0")


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_a_subcommands_help_imports_none_of_the_big_libraries(name: str, tmp_path: Path) -> None:
    found, code = imported(name, "--help", cwd=tmp_path)
    assert code == "0"
    assert not found & (NEVER | {"icmplib", "asyncio"}), found


def test_check_reads_yaml_and_nothing_else(config: Path) -> None:
    found, code = imported("check", "-c", str(config), cwd=config.parent)
    assert code == "0"
    assert found == {"yaml"}


def test_status_reads_the_config_and_the_store_only(config: Path) -> None:
    found, _ = imported("status", "-c", str(config), cwd=config.parent)
    assert found <= {"yaml", "sqlite3"}, found


def test_probe_of_addresses_loads_icmplib_but_no_config_reader(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text("127.0.0.1\n", "utf-8")
    found, _ = imported("probe", "-c", "1", "-t", "300ms", "--from-file", str(listing), cwd=tmp_path)
    assert found == {"icmplib"}, found   # icmplib is what pings; its asyncio is not loaded (probes/icmp.py)


def test_pinging_a_pasted_list_loads_no_logging_json_dataclasses_or_result_objects(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text("127.0.0.1\n127.0.0.2\n", "utf-8")
    lean = ("logging", "json", "dataclasses", "datetime", "netwatchd.models", "netwatchd.clock", "shutil", "asyncio")
    found, code = imported("probe", "-c", "1", "-t", "300ms", "--from-file", str(listing), cwd=tmp_path, heavy=lean)
    assert (found, code) == (set(), "0")
    found, code = imported("probe", "--json", "-c", "1", "127.0.0.1", cwd=tmp_path, heavy=lean)
    assert (found, code) == ({"datetime"}, "0")      # the JSON's "at"
    found, _ = imported("probe", "--log-level", "debug", "-c", "1", "127.0.0.1", cwd=tmp_path, heavy=lean)
    assert "logging" in found                        # asked for: set up, and the engine's debug lines shown


def test_a_tcp_probe_does_not_load_icmplib(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        found, code = imported("probe", "--probe", "tcp", "--port", str(server.getsockname()[1]), "127.0.0.1",
                               cwd=tmp_path)
    assert code == "0"
    assert found == set(), found


def test_the_probe_command_offers_every_probe_type() -> None:
    from netwatchd.cli import build_parser
    from netwatchd.models import PROBE_TYPES
    from netwatchd.probes import prober_for

    parser = build_parser(only=("probe",))
    for kind in PROBE_TYPES:
        assert parser.parse_args(["probe", "--probe", kind, "127.0.0.1"]).probe == kind
        assert kind == "icmp" or prober_for(kind) is not None


AGENT_WITHOUT_ROUTERS = """
import sys
from netwatchd.app import Agent
from netwatchd.config.loader import load_config
agent = Agent(load_config(sys.argv[1]), api=None)
print("AGENT", "librouteros" in sys.modules)
from netwatchd.config.model import RouterSpec
from netwatchd.errors import RouterError
from netwatchd.router.client import RouterClient
spec = RouterSpec(name="core", address="127.0.0.1", port=int(sys.argv[2]), username="u", password="p", timeout=2)
try:
    RouterClient(spec).query("/system/identity/print")
except RouterError as exc:
    print("QUERY", "librouteros" in sys.modules)
"""


def test_an_agent_without_routers_never_loads_librouteros(config: Path) -> None:
    """librouteros (and its asyncio) loads when a router is first reached, not with the agent."""
    with socket.socket() as sock:           # a loopback port nobody listens on: refused at once
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    done = subprocess.run([sys.executable, "-c", AGENT_WITHOUT_ROUTERS, str(config), str(closed_port)],
                          cwd=config.parent, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["AGENT", "False", "QUERY", "True"], done.stdout + done.stderr


AGENT_AFTER_START_READ = """
import sys
from netwatchd.app import Agent
from netwatchd.config.apart import load_config_apart
agent = Agent(load_config_apart(sys.argv[1]))     # Telegram: a closed loopback port, never called here
agent.reports_once()
assert agent.bot is not None
late = ("yaml", "difflib", "decimal", "netwatchd.config.loader", "netwatchd.config.reader", "netwatchd.config.kinds",
        "netwatchd.config.schema", "netwatchd.report.make", "netwatchd.report.data")
print("HELD", *sorted(m for m in late if m in sys.modules))
"""


def test_the_running_agent_holds_no_yaml_parser_or_report_makers(config: Path) -> None:
    """hosts.yaml is read in a child (config/apart.py): the parser, YAML and the schema (~3 MB of
    modules) never load in the agent, and the report makers load with the first report asked for."""
    config.write_text(config.read_text("utf-8") + "telegram:\n  token: 123456:" + "A" * 35 + "\n"
                      "  chat_ids: [-1001]\n  admins: [1001]\n  api_url: http://127.0.0.1:9/\n", "utf-8")
    done = subprocess.run([sys.executable, "-c", AGENT_AFTER_START_READ, str(config)],
                          cwd=config.parent, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["HELD"], done.stdout + done.stderr
