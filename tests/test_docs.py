"""The documentation stays true to the code: docs/configuration.md is exactly what the schema
generates, every relative link and #anchor in README.md and docs/*.md resolves (GitHub's anchor
rules), every `yaml` example passes the loader, architecture.md names every package and module,
and the README stays a short front page that starts with the two commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netwatchd.config.loader import analyze
from netwatchd.config.schema import DOC_PATH, config_reference

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS]
README_LIMIT = 15_000          # bytes: a front page, not a manual

_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: rendered text, lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)     # a link shows its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)                          # \w keeps letters, digits, _
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in _prose_lines(path.read_text("utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_anchor(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in _prose_lines(path.read_text("utf-8")):
        line = re.sub(r"``[^`]*``|`[^`]*`", "``", line)            # a link-like text in code is no link
        found += [(number, m.group(1)) for m in _LINK.finditer(line)]
    return found


def test_configuration_md_is_what_the_schema_generates():
    committed = (REPO / DOC_PATH).read_text("utf-8")
    assert committed == config_reference(), (
        f"{DOC_PATH} differs from netwatchd/config/schema.py: run `python -m netwatchd.config.schema`")


def test_the_generator_writes_and_checks_the_file(tmp_path):
    target = tmp_path / "configuration.md"
    run = [sys.executable, "-m", "netwatchd.config.schema", "-o", str(target)]
    assert subprocess.run(run, capture_output=True, text=True, check=False).returncode == 0
    assert target.read_text("utf-8") == config_reference()
    assert subprocess.run(run + ["--check"], capture_output=True, check=False).returncode == 0
    target.write_text(config_reference().replace("| `count` |", "| `kount` |"), "utf-8")
    drift = subprocess.run(run + ["--check"], capture_output=True, text=True, check=False)
    assert drift.returncode == 1 and "python -m netwatchd.config.schema" in drift.stderr


def test_the_anchor_rules_match_githubs():
    assert github_anchor("`netwatchd check`") == "netwatchd-check"
    assert github_anchor("Production set-up (Debian 12 / Ubuntu 22.04 or later)") == \
        "production-set-up-debian-12--ubuntu-2204-or-later"
    assert github_anchor("timing.jsonl — how fast were the alerts?") == "timingjsonl--how-fast-were-the-alerts"
    assert github_anchor("`hosts:` (list) and `defaults:`") == "hosts-list-and-defaults"
    assert (github_anchor("Status page, `/api/status`, `/metrics`, `/healthz`")
            == "status-page-apistatus-metrics-healthz")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):              # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if REPO not in destination.parents and destination != REPO:
            broken.append(f"{number}: {target} (outside the repository)")
        elif not destination.exists():
            broken.append(f"{number}: {target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{number}: {target} (no heading with anchor #{anchor} in {destination.name})")
        elif anchor and destination.suffix != ".md":
            broken.append(f"{number}: {target} (an anchor into a file that is not Markdown)")
    assert not broken, f"{page.relative_to(REPO)}:\n" + "\n".join(broken)


def test_the_link_checker_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [bad](#nothing) [gone](missing.md) `[code](nowhere.md)`\n"
                    "```\n[fenced](nowhere.md)\n```\n", "utf-8")
    assert [t for _, t in links(page)] == ["#title", "#nothing", "missing.md"]
    assert anchors(page) == {"title"}


def _yaml_examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text("utf-8")
        for match in re.finditer(r"^( *)```yaml\n(.*?)^\1```", text, re.S | re.M):
            line = text[: match.start()].count("\n") + 1
            block = "\n".join(row[len(match.group(1)):] for row in match.group(2).splitlines())
            found.append((f"{page.relative_to(REPO).as_posix()}:{line}", block))
    return found


EXAMPLES = _yaml_examples()


def _sections(text: str) -> dict[str, str]:
    """Top-level key -> its text (the key line and everything up to the next top-level key)."""
    out: dict[str, str] = {}
    key = None
    for line in text.splitlines(keepends=True):
        match = re.match(r"([A-Za-z_]\w*):", line)
        if match:
            key = match.group(1)
            out[key] = ""
        if key is not None:
            out[key] += line
    return out


def _as_config(block: str) -> str:
    """A yaml example as a whole hosts.yaml. The text is kept as written (netwatchd reads `${VAR}`
    where plain YAML would not): a block with `hosts:` is a whole file; another mapping replaces
    those sections of the shipped hosts.yaml; a list is `hosts:` items."""
    first = next(line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    if first.lstrip().startswith("- "):        # import-netwatch output, indented as it prints it, or not
        indent = "" if first.startswith(" ") else "  "
        return "hosts:\n" + "".join(f"{indent}{line}\n" for line in block.splitlines())
    own = _sections(block)
    if "hosts" in own:
        return block
    shipped = _sections((REPO / "hosts.yaml").read_text("utf-8"))
    return "".join(text for key, text in shipped.items() if key not in own) + block


def _check(block: str, tmp_path: Path):
    """Load a yaml example as netwatchd would (data_dir in tmp_path): its problems and warnings,
    leaving out the warnings about unset secret variables, and the text that was checked."""
    text = _as_config(block)
    text = "".join(t for key, t in _sections(text).items() if key != "data_dir") \
        if re.search(r"^data_dir:", text, re.M) else text
    text += f"\ndata_dir: {tmp_path / 'data'}\n"
    for ca_file in re.findall(r"ca_file:\s*([^\s#,}]+)", text):       # "must exist": give it one
        (tmp_path / ca_file).write_text("-----BEGIN CERTIFICATE-----\n", "utf-8")
    path = tmp_path / "hosts.yaml"
    path.write_text(text, "utf-8")
    result = analyze(path, environ={}, secrets_may_be_unset=True)
    def follows_unset_secret(w: Any) -> bool:      # "has no effect without a bot token" when it is ${VAR}
        return w.path in result.unset_secrets or any(w.allowed == f"set {s}" for s in result.unset_secrets)
    return [*result.problems, *(w for w in result.warnings if not follows_unset_secret(w))], text


@pytest.mark.parametrize("where,block", EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_every_yaml_example_is_a_valid_config(where, block, tmp_path):
    problems, text = _check(block, tmp_path)
    assert not problems, f"{where}:\n" + "\n".join(str(p) for p in problems) + "\n--- checked as:\n" + text


def test_the_yaml_check_can_fail(tmp_path):
    """The README once showed a weekly window across midnight in one entry; the loader refuses it."""
    wrong = 'maintenance:\n  - {targets: [kecamatan], days: [6], daily_start: "22:00", daily_end: "02:00"}\n'
    problems, _ = _check(wrong, tmp_path)
    assert [p.path for p in problems] == ["maintenance[0].daily_end"]


def test_the_yaml_examples_are_found_and_checked():
    assert len(EXAMPLES) >= 8 and any(w.startswith("README.md") for w, _ in EXAMPLES)


def test_readme_is_a_short_front_page():
    size = len((REPO / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/ (limit {README_LIMIT})"


def test_readme_starts_with_the_two_commands():
    """The demo in a fresh virtual environment (PEP 668 refuses pip into the system Python), then the
    suite, by the same script CI runs."""
    readme = (REPO / "README.md").read_text("utf-8")
    first_section = readme.split("\n## ", 2)[1]
    assert first_section.startswith("Two commands on a fresh clone")
    block = re.search(r"```sh\n(.*?)```", first_section, re.S).group(1)
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/netwatchd demo",
                        "bash scripts/run-tests.sh"]
    assert "bash scripts/run-tests.sh" in (REPO / ".ci" / "run").read_text("utf-8")
    assert "python3 -m venv .venv" in (REPO / "scripts" / "run-tests.sh").read_text("utf-8")


def test_architecture_names_every_package_and_module():
    """One row per package (or top-level module) in docs/architecture.md, naming each of its modules."""
    text = (REPO / "docs" / "architecture.md").read_text("utf-8")
    rows = {}
    for line in text.splitlines():
        cells = line.split("|")
        if line.startswith("| `") and len(cells) > 3:
            for name in re.findall(r"`([^`]+)`", cells[1]):
                rows[name] = line
    package = REPO / "netwatchd"
    missing = []
    for item in sorted(package.iterdir()):
        if item.suffix == ".py" and item.name != "__init__.py":
            if item.name not in rows:
                missing.append(f"netwatchd/{item.name}")
        elif item.is_dir() and (item / "__init__.py").exists():
            row = rows.get(f"{item.name}/")
            if row is None:
                missing.append(f"netwatchd/{item.name}/")
                continue
            named = set(re.findall(r"`([A-Za-z_][\w.]*)`", row))
            missing += [f"netwatchd/{item.name}/{m.name} (not named in its row)"
                        for m in sorted(item.glob("*.py")) if m.stem != "__init__" and m.stem not in named]
    assert not missing, "docs/architecture.md does not describe: " + ", ".join(missing)


def _page(name: str) -> str:
    return (REPO / "docs" / name).read_text("utf-8")


def test_every_template_key_and_placeholder_is_documented():
    from netwatchd.config.templates import PLACEHOLDERS, TEMPLATE_KEYS

    telegram = _page("telegram.md")
    keys = telegram.split("Keys:", 1)[1].split("Placeholders", 1)[0]
    words = set(re.findall(r"[a-z_]+", " ".join(re.findall(r"`([^`]+)`", keys))))
    assert set(TEMPLATE_KEYS) <= words, f"telegram.md does not list templates {sorted(set(TEMPLATE_KEYS) - words)}"
    missing = [p for p in PLACEHOLDERS if f"{{{p}}}" not in telegram]
    assert not missing, f"telegram.md does not list placeholders {missing}"


def test_every_metric_is_documented():
    from netwatchd.web.metrics import Metrics

    page = _page("reports-and-web.md")
    names = {family.name for family in Metrics().registry.collect()}
    assert names, "no metrics found"
    missing = sorted(n for n in names if n not in page and f"{n}_total" not in page)
    assert not missing, f"reports-and-web.md does not describe the metrics {missing}"


def test_every_bot_command_is_documented():
    from netwatchd.bot.parse import ALL_COMMANDS

    page = _page("bot.md")
    missing = sorted(c for c in ALL_COMMANDS if not re.search(rf"`/{c}\b", page))
    assert not missing, f"bot.md does not describe /{', /'.join(missing)}"
