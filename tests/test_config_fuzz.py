"""No input makes the loader raise: random edits of the shipped hosts.yaml and random YAML-ish
text always end in a Config or in located one-line problems (hypothesis)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwatchd.config.loader import analyze
from netwatchd.config.schema import HOST, MAINTENANCE, SECTIONS, THRESHOLDS, TOP, Section
from netwatchd.logs import isolated_secrets

SHIPPED = (Path(__file__).resolve().parent.parent / "hosts.yaml").read_text()
FOLDER = Path(tempfile.mkdtemp(prefix="netwatchd-fuzz-"))
@pytest.fixture(autouse=True)
def _forget_secrets_afterwards() -> Iterator[None]:
    """Configs loaded here register made-up secrets; keep them out of other tests' output."""
    with isolated_secrets():
        yield


LOCATED = re.compile(r".+?:(\d+:)? (warning: )?\S.*")


def _judge(text: str | bytes) -> None:
    path = FOLDER / "hosts.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    result = analyze(path, environ={"TELEGRAM_BOT_TOKEN": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "X": "1"},
                     secrets_may_be_unset=True)
    assert (result.config is None) == bool(result.problems)
    for problem in result.problems + result.warnings:
        line = str(problem)
        assert "\n" not in line and LOCATED.fullmatch(line), line
        assert "Traceback" not in line


edits = st.lists(st.tuples(st.integers(0, len(SHIPPED)), st.integers(0, 3),
                           st.sampled_from(list(":-{}[],#&*!|>'\"%@` \n\t\\0123456789abcxyz${}")
                                           + ["", "  ", "\n  - "])),
                 min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits)
def test_random_edits_of_the_shipped_file(changes: list[tuple[int, int, str]]) -> None:
    text = SHIPPED
    for position, delete, insert in changes:
        position = min(position, len(text))
        text = text[:position] + insert + text[position + delete:]
    _judge(text)


yamlish = st.lists(st.sampled_from(list("ab:- \n{}[],#&*!|>'\"%1.0~?") + ["hosts", "name", "defaults", "interval",
                                                                        "${X}", "<<", "\n  - "]),
                   max_size=80).map("".join)


@settings(max_examples=200, deadline=None)
@given(yamlish)
def test_random_yamlish_text(text: str) -> None:
    _judge(text)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _judge(data)


ODD_VALUES = ["~", "''", "0", "-1", "1.0e+400", "99999999999999999999999999", "[]", "{}", "[1, 2]", "{a: 1}", "yes",
              "'x\\ny'", "24:00", "0x1F", ".nan", "2026-02-30", "2026-12-01T22:00", "'[::1]:0'", "http://", "'1h30m'",
              "off", "'50%'", "!!binary aGVsbG8=", "!!set {a, b}", "!custom x", "'${X}'", "'é'"]


def _document_with(section: Section, key: str, value: str) -> str:
    host = "hosts: [{name: A, address: 10.0.0.1}]\n"
    if section is TOP:
        return f"{key}: {value}\n{host}"
    if section is HOST:
        if key in ("name", "address"):
            return f"hosts:\n  - {{{key}: {value}}}\n"
        return f"hosts:\n  - name: A\n    address: 10.0.0.1\n    {key}: {value}\n"
    if section is THRESHOLDS:
        return f"defaults:\n  thresholds:\n    {key}: {value}\n{host}"
    if section is MAINTENANCE:
        other = "end: 2026-12-02T01:00" if key == "start" else "start: 2026-12-01T22:00"
        return f"maintenance:\n  - targets: [A]\n    {other}\n    {key}: {value}\n{host}"
    if section.shape == "list":
        return f"{section.name}:\n  - name: r\n    address: 10.0.0.9\n    {key}: {value}\n{host}"
    return f"{section.name}:\n  {key}: {value}\n{host}"


def test_every_key_with_odd_values() -> None:
    """Each key of every section, given values of every wrong type and range: never a crash."""
    count = 0
    for section in SECTIONS:
        for key in section.keys:
            if isinstance(key.kind, Section):
                continue
            for value in ODD_VALUES:
                _judge(_document_with(section, key.name, value))
                count += 1
    assert count > 2000
