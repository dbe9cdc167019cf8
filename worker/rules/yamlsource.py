"""YAML files read with their line numbers, so every operator error reads `file:line: message`."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, PlainSerializer, ValidationError, WithJsonSchema

M = TypeVar("M", bound=BaseModel)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION_SECONDS = 36_500 * 86400  # 100 years: longer is "for ever", which is no duration at all


def parse_duration(value: Any) -> int:
    """`90s`, `15m`, `2h`, `3d` to seconds, from 1 s to 36500d (100 years)."""
    match = re.fullmatch(r"\s*([0-9]{1,12})\s*([smhd])\s*", str(value)[:64])
    if not match or int(match.group(1)) == 0:
        shown = str(value)[:40]
        raise ValueError(f"bad duration {shown!r}: use a positive number and a unit, like 90s, 15m, 2h or 3d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {value!r} is over 36500d (100 years): leave it out for no limit")
    return seconds


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda s: f"{s}s", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\s*[0-9]+\s*[smhd]\s*$", "examples": ["90s", "15m", "2h", "3d"]}),
]


def parse_span(value: Any) -> int:
    """A duration that may be zero (`0`, `0s`): "at once"."""
    return 0 if re.fullmatch(r"\s*0\s*[smhd]?\s*", str(value)) else parse_duration(value)


Span = Annotated[
    int,
    BeforeValidator(parse_span),
    PlainSerializer(lambda s: f"{s}s", return_type=str),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\s*[0-9]+\s*[smhd]?\s*$"}, {"const": 0}]}),
]


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser where installed (10,000 rules in well under 2 s); YAML 1.2 booleans: `on`,
    `yes`, `no` stay strings (a rule's `on:` key is not True)."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ProblemsFound(Exception):
    """Every problem found in a set of files, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Document:
    """A parsed file: its data and the node tree that knows where each value stands."""

    path: str
    data: Any
    root: yaml.Node | None

    def line_of(self, loc: tuple[Any, ...]) -> int:
        """Line (1-based) of the deepest node along `loc` that exists."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else 1
        for key in loc:
            found = _child(node, key)
            if found is None:
                break
            marker, node = found
            line = marker.start_mark.line + 1
        return line

    def problem(self, loc: tuple[Any, ...], message: str) -> Problem:
        return Problem(self.path, self.line_of(loc), message)


def _child(node: yaml.Node | None, key: Any) -> tuple[yaml.Node, yaml.Node] | None:
    """(node whose line to report, node to descend into): a mapping entry reports its key's line."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(key):
                return key_node, value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key], node.value[key]
    return None


def _duplicate_keys(node: yaml.Node | None, path: str) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.value in seen:
                problems.append(Problem(path, key_node.start_mark.line + 1, f"duplicate key {key_node.value!r}"))
            seen.add(key_node.value)
            problems += _duplicate_keys(value_node, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item, path)
    return problems


MAX_FILE_BYTES = 256 * 1024  # a rule file is hand-written; far larger is a mistake or an attack
MAX_TOTAL_BYTES = 2 * 1024 * 1024
MAX_ALIAS_VALUES = 20_000  # what aliases add when expanded: a few hundred bytes can stand for billions
MAX_DEPTH = 64  # a rule file nests a handful of levels; thousands would exhaust the stack
MAX_DIGITS = 18  # a number in a rule file is a priority, an amount or a quantity, never longer


def checked_size(path: Path, folder: Path | None = None) -> int:
    """The size of a rule file that is safe to read: a regular file (not a FIFO or device, which
    would block or never end), inside the folder even through a symlink, under the size limit."""
    name = str(path)
    try:
        if path.is_symlink() and folder is not None and folder.resolve() not in path.resolve().parents:
            raise ProblemsFound([Problem(name, 1, "a symlink out of the rules folder: copy the file in instead")])
        info = path.stat()
    except OSError as exc:
        raise ProblemsFound([Problem(name, 1, f"cannot read file: {exc.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):
        raise ProblemsFound([Problem(name, 1, "not a regular file (a FIFO, device or folder): rules are plain files")])
    if info.st_size > MAX_FILE_BYTES:
        raise ProblemsFound([Problem(name, 1, f"{info.st_size} bytes, over the {MAX_FILE_BYTES // 1024} KiB limit")])
    return info.st_size


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes counted as if every alias were copied out, in time linear in the file."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a cycle counts once while being measured
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, memo) for item in node.value)
    memo[id(node)] = size
    return size


def _shape_problem(root: yaml.Node, path: str) -> Problem | None:
    """Too deep, or a number too long to be one: found walking the tree without recursion, each
    node once (an alias shares its anchor's node: walking every use could take ages)."""
    stack, seen = [(root, 1)], set()
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            return Problem(path, line, f"nested deeper than {MAX_DEPTH} levels: rules are a few levels deep")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_DIGITS:
                return Problem(path, line, f"a number of {len(node.value)} digits: out of range")
        elif isinstance(node, yaml.MappingNode):
            stack += [(child, depth + 1) for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
    return None


def read(path: Path, folder: Path | None = None) -> Document:
    """Parse one file, once; raise ProblemsFound for an unsafe file, bad YAML, a shape no rule file
    has (too deep, an endless number, aliases that expand too far) or duplicate keys."""
    name = str(path)
    checked_size(path, folder)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            text = handle.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemsFound([Problem(name, 1, f"cannot read file: {exc}")]) from None
    if len(text) > MAX_FILE_BYTES:
        raise ProblemsFound([Problem(name, 1, f"over the {MAX_FILE_BYTES // 1024} KiB limit")])
    try:
        root = yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = f"invalid YAML: {exc.problem or exc}"
        if exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise ProblemsFound([Problem(name, line, message)]) from None
    except yaml.YAMLError as exc:
        raise ProblemsFound([Problem(name, 1, f"invalid YAML: {exc}")]) from None
    if root is None:
        return Document(name, None, None)
    shape = _shape_problem(root, name)
    if shape is not None:
        raise ProblemsFound([shape])
    memo: dict[int, int] = {}
    try:
        added = _expanded_size(root, memo) - len(memo)
        if added > MAX_ALIAS_VALUES:
            message = f"aliases expand to over {MAX_ALIAS_VALUES} more values: write the rules out plainly"
            raise ProblemsFound([Problem(name, 1, message)])
        duplicates = _duplicate_keys(root, name)  # walks what aliases expand to: bounded just above
    except RecursionError:
        raise ProblemsFound([Problem(name, 1, "aliases nest too deep: write the rules out plainly")]) from None
    if duplicates:
        raise ProblemsFound(duplicates)
    try:
        data = Loader("").construct_document(root)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise ProblemsFound([Problem(name, 1, f"invalid value: {exc}")]) from None
    return Document(name, data, root)


def validate(doc: Document, model: type[M], at: tuple[Any, ...] = (), name: str = "") -> M:
    """Build `model` from the document (or its part at `at`); pydantic's errors become `file:line`
    problems, each prefixed with `name` (e.g. "rule 'basic-to-pro': ") rather than a list index."""
    data = doc.data
    for key in at:
        data = data[key]
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = [doc.problem(at + tuple(err["loc"]), name + _message(err)) for err in exc.errors()]
        raise ProblemsFound(problems) from None


def _message(err: Any) -> str:
    where = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {where!r}: remove it or check its spelling"
    if err["type"] == "missing":
        return f"missing required key {where!r}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg
