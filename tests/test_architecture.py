"""The layers stay written down: every top-level module is in the import-linter contract (a new one
outside it would be checked by nothing), and every package says what it owns and what it may import.
The contract itself is checked by `lint-imports` in scripts/run-tests.sh."""

from __future__ import annotations

import ast
import configparser
import pkgutil
import re
from pathlib import Path

import netwatchd

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(netwatchd.__file__).resolve().parent


def _layers() -> list[list[str]]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    lines = [line.strip() for line in parser["importlinter:contract:layers"]["layers"].splitlines() if line.strip()]
    return [[name.strip() for name in re.split(r"[|:]", line)] for line in lines]


def test_every_top_level_module_has_a_layer() -> None:
    in_contract = {name for layer in _layers() for name in layer}
    present = {f"netwatchd.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert present - in_contract == set(), "add the new module to a layer in .importlinter"
    assert in_contract - present == set(), "remove the module that is gone from .importlinter"


def test_the_layers_read_as_the_design_says() -> None:
    layers = [set(layer) for layer in _layers()]
    order = [{"netwatchd.__main__"}, {"netwatchd.cli"}, {"netwatchd.commands"}, {"netwatchd.app"}, {"netwatchd.bot"},
             {"netwatchd.notify", "netwatchd.report", "netwatchd.web", "netwatchd.lab"}, {"netwatchd.store"},
             {"netwatchd.engine", "netwatchd.probes", "netwatchd.router", "netwatchd.schedule"},
             {"netwatchd.config"},
             {"netwatchd.models", "netwatchd.errors", "netwatchd.clock", "netwatchd.logs", "netwatchd.jsonl",
              "netwatchd.textsplit"},
             {"netwatchd.files"}]
    assert layers == order


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert len(doc.split()) >= 20 and re.search(r"\bmay import\b", doc, re.I), \
            f"{init.relative_to(ROOT)}: say what the package owns and what it may import"
