"""No input makes the loader raise: random edits of the shipped hosts.yaml and random YAML-ish
text always end in a Config or in located one-line problems (hypothesis)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwatchd.config_loader import analyze

SHIPPED = (Path(__file__).resolve().parent.parent / "hosts.yaml").read_text()
FOLDER = Path(tempfile.mkdtemp(prefix="netwatchd-fuzz-"))
LOCATED = re.compile(r".+?:(\d+:)? (warning: )?\S.*")


def _judge(text: str | bytes) -> None:
    path = FOLDER / "hosts.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    result = analyze(path, environ={"TELEGRAM_BOT_TOKEN": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                     secrets_may_be_unset=True)
    assert (result.config is None) == bool(result.problems)
    for problem in result.problems + result.warnings:
        line = str(problem)
        assert "\n" not in line and LOCATED.fullmatch(line), line
        assert "Traceback" not in line


edits = st.lists(st.tuples(st.integers(0, len(SHIPPED)), st.integers(0, 3),
                           st.sampled_from(list(":-{}[],#&*!|>'\"%@` \n\t\\0123456789abcxyz${}") + ["", "  ", "\n  - "])),
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
