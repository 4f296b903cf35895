"""Read hosts.yaml into a tree of located values (every value knows its line).

PyYAML's ordinary loaders forget line numbers and silently keep the last of two equal keys;
this module composes YAML nodes instead, so the validator can say `hosts.yaml:31: ...` for every
problem and report duplicate keys. `${NAME}` is replaced before parsing by a plain-scalar
sentinel of the same length (so `password: ${ROUTER_PASSWORD}` works inside a flow mapping `{...}`
and lines and columns stay right) and expanded from the environment afterwards.

Nothing here raises for bad input except `YamlProblem`, which carries a line and a one-line message.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000           # values after expanding aliases: a "billion laughs" alias bomb stops here
MAX_FLOW_DEPTH = 100
MAX_BLOCK_DEPTH = 100   # indentation levels; the deepest real hosts.yaml key is 4 deep
_BLOCK_INDENT = re.compile(r"[ ]*(?:-[ ]+)*")
_BRACKETS = re.compile(r"[\[\]{}]")

# `${NAME}` -> START + NAME + END + END: exactly as long as the original, and a plain YAML scalar.
_START, _END, _DOLLAR = "\ue000", "\ue001", "\ue002"
_ENV_REF = re.compile(r"\$\$\{|\$\{([^}\n]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SENTINEL = re.compile(f"{_START}([A-Za-z_][A-Za-z0-9_]*){_END}{_END}")

_TAG = "tag:yaml.org,2002:"
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: ~10x faster on big files
BAD_REFERENCE = ""   # in Value.missing_env: a malformed ${...} that was reported while parsing


class YamlProblem(Exception):
    """The file cannot be read as YAML at all. `line` is 1-based (0 = no line applies)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Value:
    """One located YAML value.

    kind is "scalar", "map" or "seq". For a scalar, `text` is the source text after `${VAR}`
    expansion and `typed` is what YAML makes of it (int, float, bool, None, str, ...); for a
    map, `items` maps key -> Entry in file order; for a seq, `elements` holds the values.
    `missing_env` names the `${VAR}`s in this scalar that the environment does not define.
    """

    kind: str
    line: int
    text: str = ""
    typed: Any = None
    items: dict[str, Entry] = field(default_factory=dict)
    elements: list[Value] = field(default_factory=list)
    missing_env: tuple[str, ...] = ()
    from_env: bool = False
    env_values: tuple[str, ...] = ()     # the values the `${VAR}`s of this scalar were replaced by

    def describe(self) -> str:
        """What kind of YAML value this is, for messages ("a list", "a number", ...)."""
        if self.kind == "map":
            return "a mapping"
        if self.kind == "seq":
            return "a list"
        if self.typed is None:
            return "empty"
        if isinstance(self.typed, bool):
            return "true/false"
        if isinstance(self.typed, (int, float)):
            return "a number"
        return "text"


@dataclass
class Entry:
    """A key of a mapping: the line the key is on, and its value."""

    key_line: int
    value: Value


@dataclass
class Document:
    """A parsed file: the root value, plus problems found while building the tree (duplicate keys,
    bad `${...}` references) that do not stop validation of the rest."""

    root: Value | None
    problems: list[tuple[int, str, str, str]]  # (line, key path, what is wrong, what is allowed)


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def read_text(path: Path) -> str:
    """The file's text, or YamlProblem for a missing/unreadable/binary/non-UTF-8/huge file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise YamlProblem(0, "no such file (give the path of your hosts.yaml with -c FILE)") from None
    except OSError as exc:
        raise YamlProblem(0, f"cannot read the file: {_reason(exc)} (check the path and its permissions)") from None
    if stat.S_ISDIR(mode):
        raise YamlProblem(0, "is a directory, not a file (give the path of your hosts.yaml with -c FILE)")
    if not stat.S_ISREG(mode):
        raise YamlProblem(0, "is not a regular file (a pipe or device cannot be read as a config; "
                             "give the path of your hosts.yaml)")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlProblem(0, f"cannot read the file: {_reason(exc)} (check the path and its permissions)") from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlProblem(0, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB "
                             "(a hosts.yaml is a few kilobytes; is this the right file?)")
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise YamlProblem(line, "this is a binary file, not YAML text (give the path of your hosts.yaml)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem(line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column}; "
                                "save the file as UTF-8)") from None


def hide_env_refs(text: str, problems: list[tuple[int, str, str, str]]) -> str:
    """Replace every `${NAME}` by a same-length plain-scalar sentinel; `$${` stays a literal `${`."""

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return _DOLLAR * 2 + "{"
        name = match.group(1)
        if not _ENV_NAME.match(name):
            line = text.count("\n", 0, match.start()) + 1
            problems.append((line, "", f"'{whole}' is not a valid environment variable reference",
                             "write ${NAME} with letters, digits and _, or $${ for a literal ${"))
            return _START + "_" * max(1, len(name)) + _END * 2   # expands to nothing, reported once
        return _START + name + _END * 2

    return _ENV_REF.sub(replace, text)


def restore_env_refs(text: str) -> str:
    """Undo hide_env_refs without expanding (for key names and messages)."""
    return _SENTINEL.sub(lambda m: "${" + m.group(1) + "}", text).replace(_DOLLAR * 2 + "{", "${")


def _expand(text: str, environ: Mapping[str, str]) -> tuple[str, tuple[str, ...], bool, tuple[str, ...]]:
    if _START not in text and _DOLLAR not in text:
        return text, (), False, ()
    missing: list[str] = []
    values: list[str] = []
    found = False

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        found = True
        name = match.group(1)
        if not name.strip("_"):
            missing.append(BAD_REFERENCE)
            return ""
        if name in environ:
            values.append(environ[name])
            return environ[name]
        missing.append(name)
        return ""

    expanded = _SENTINEL.sub(replace, text)
    return expanded.replace(_DOLLAR * 2 + "{", "${"), tuple(missing), found, tuple(values)


def _syntax_problem(exc: yaml.YAMLError, text: str) -> YamlProblem:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return YamlProblem(line, f"YAML cannot read the control character #x{exc.character:04x} "
                                 "(remove it, or quote the value and write it as an escape)")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = restore_env_refs(str(getattr(exc, "problem", None) or exc)).strip()
    context = getattr(exc, "context", None)
    if context:
        context = restore_env_refs(str(context)).strip()
        problem = f"{context}: {problem}" if context.startswith("while") else f"{context}, {problem}"
    line = mark.line + 1 if mark is not None else 0
    column = mark.column + 1 if mark is not None else 0
    hint = "check the indentation and quote values that contain ': ', '#', '{' or '['"
    if "\\t" in problem or "tab" in problem:
        hint = "indent with spaces, not tabs"
    elif "single document" in problem:
        hint = "keep one YAML document per file: remove the '---' line"
    elif "found undefined alias" in problem or "found duplicate anchor" in problem:
        hint = "define each &anchor once, before its *alias"
    return YamlProblem(line, f"YAML syntax error: {problem} (at column {column}; {hint})")


class _TreeBuilder:
    """YAML node graph -> Value tree, collecting duplicate keys and resolving `<<` merges."""

    def __init__(self, environ: Mapping[str, str], problems: list[tuple[int, str, str, str]]) -> None:
        self.environ = environ
        self.problems = problems
        self.constructor = SafeConstructor()
        self.count = 0
        self.active: set[int] = set()
        self.built: dict[int, tuple[Value, int]] = {}

    def build(self, node: Node, path: str) -> Value:
        built = self.built.get(id(node))
        if built is not None:       # an *alias: the same value again, counted at its full size
            self.count += built[1]
            if self.count > MAX_NODES:
                raise YamlProblem(node.start_mark.line + 1, f"more than {MAX_NODES} values after expanding "
                                  "aliases (is this an alias bomb? write the values out)")
            return built[0]
        start = self.count
        value = self._build(node, path)
        self.built[id(node)] = (value, self.count - start)
        return value

    def _build(self, node: Node, path: str) -> Value:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlProblem(node.start_mark.line + 1, f"more than {MAX_NODES} values after expanding "
                              "aliases (is this an alias bomb? write the values out)")
        if id(node) in self.active:
            raise YamlProblem(node.start_mark.line + 1, "an alias refers to itself (remove the recursive *alias)")
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return Value("seq", node.start_mark.line + 1,
                             elements=[self.build(child, f"{path}[{i}]") for i, child in enumerate(node.value)])
            assert isinstance(node, ScalarNode)
            return self._scalar(node)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: ScalarNode) -> Value:
        line = node.start_mark.line + 1
        text, missing, from_env, env_values = _expand(node.value, self.environ)
        if from_env:
            return Value("scalar", line, text=text, typed=text, missing_env=missing, from_env=True,
                         env_values=env_values)
        typed: Any = node.value
        if node.tag.startswith(_TAG) and node.tag != _TAG + "str":
            try:
                typed = self.constructor.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError):
                typed = node.value
        return Value("scalar", line, text=text, typed=typed)

    def _mapping(self, node: MappingNode, path: str) -> Value:
        result = Value("map", node.start_mark.line + 1)
        merged: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self._merge(value_node, path, merged)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            key_path = f"{path}.{key}" if path else key
            if key in result.items:
                first = result.items[key].key_line
                self.problems.append((key_node.start_mark.line + 1, key_path,
                                      f"duplicate key, already set on line {first}",
                                      "YAML would silently keep only the last one; remove one of them"))
                continue
            result.items[key] = Entry(key_node.start_mark.line + 1, self.build(value_node, key_path))
        for key, entry in merged.items():
            result.items.setdefault(key, entry)
        return result

    def _merge(self, value_node: Node, path: str, merged: dict[str, Entry]) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problems.append((source.start_mark.line + 1, path or "<<",
                                      "'<<' must merge a mapping", "write <<: *anchor of a mapping"))
                continue
            for key, entry in self.build(source, path).items.items():
                merged.setdefault(key, entry)

    def _key(self, key_node: Node, path: str) -> str | None:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, ScalarNode):
            self.problems.append((line, path or "(top level)", "a key must be a plain name, not a list or mapping",
                                  "write key: value"))
            return None
        return restore_env_refs(key_node.value)


def _check_flow_depth(text: str) -> None:
    """PyYAML needs a recursion level per nested [ or {, and gets slow before it gives up: refuse
    absurd nesting early (brackets inside quoted text count too, which a real config never nears)."""
    depth = 0
    for bracket in _BRACKETS.finditer(text):
        if bracket.group() in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                line = text.count("\n", 0, bracket.start()) + 1
                raise YamlProblem(line, f"more than {MAX_FLOW_DEPTH} nested [ or {{ (flatten the YAML)")
        else:
            depth = max(0, depth - 1)


def _check_block_depth(text: str) -> None:
    """Refuse absurd indentation nesting before PyYAML recurses into it (its composer needs a Python
    recursion level per level and dies with RecursionError near 1,000). Each `- ` of a compact sequence
    counts as a level of its own. Raises YamlProblem naming the first line past the limit."""
    stack: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lead = _BLOCK_INDENT.match(line)
        indent = len(line) - len(line.lstrip(" "))
        levels = [indent] + [indent + 1 + i for i in range(lead.group().count("-") if lead else 0)]
        while stack and stack[-1] >= indent:
            stack.pop()
        stack.extend(levels)
        if len(stack) > MAX_BLOCK_DEPTH:
            raise YamlProblem(number, f"more than {MAX_BLOCK_DEPTH} levels of indentation (flatten the YAML)")


def parse(text: str, environ: Mapping[str, str]) -> Document:
    """Parse YAML text into a located Value tree.

    Raises YamlProblem for a file that is not YAML at all (syntax error, several documents,
    alias bomb). Duplicate keys and bad `${...}` references are collected in Document.problems.
    """
    problems: list[tuple[int, str, str, str]] = []
    _check_flow_depth(text)
    _check_block_depth(text)
    hidden = hide_env_refs(text, problems)
    try:
        try:
            node = yaml.compose(hidden, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            try:  # the pure-Python parser words its errors the same everywhere, with or without libyaml
                node = yaml.compose(hidden, Loader=yaml.SafeLoader)
            except yaml.YAMLError as exc:
                raise _syntax_problem(exc, hidden) from None
    except RecursionError:  # a shape the depth checks above did not foresee: still one line, no traceback
        raise YamlProblem(0, "the YAML is nested too deeply (flatten it)") from None
    if node is None:
        return Document(None, problems)
    try:
        root = _TreeBuilder(environ, problems).build(node, "")
    except RecursionError:
        raise YamlProblem(node.start_mark.line + 1, "the YAML is nested too deeply (flatten it)") from None
    return Document(root, problems)

