"""The command reference (docs/commands.md) matches the parser: every subcommand is listed, and every one but
`demo` (its own lab config) and `probe` (`-f`; `-c` is the echo count) takes `-c FILE`, default ./hosts.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netwatchd.cli import SUBCOMMANDS, build_parser

COMMANDS = (Path(__file__).parent.parent / "docs" / "commands.md").read_text("utf-8")
REFERENCE = COMMANDS.split("\n## Reference\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_is_in_the_reference(name):
    assert re.search(rf"^\| `netwatchd {re.escape(name)}[ `]", REFERENCE, re.M), name


@pytest.mark.parametrize("name", sorted(set(SUBCOMMANDS) - {"demo", "probe"}))
def test_config_flag_defaults_to_hosts_yaml(name):
    parser = build_parser()
    extra = ["--rsc", "x.rsc"] if name == "import-netwatch" else []
    assert parser.parse_args([name, *extra, "-c", "other.yaml"]).config == "other.yaml"
    default = parser.parse_args([name, *extra]).config
    assert default in ("hosts.yaml", "./hosts.yaml") or (name == "import-netwatch" and default is None)


def test_the_reference_names_the_exceptions():
    assert "`demo` builds its own lab config" in REFERENCE and "`probe` uses `-f/--from-file`" in REFERENCE
