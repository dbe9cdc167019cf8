"""YAML files read with their line numbers, so every operator error reads `file:line: message`."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, PlainSerializer, ValidationError, WithJsonSchema

from worker.folder import yamltree

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


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _name(value: Any) -> Any:
    """One grammar for every name an operator writes that ends up in a Redis key, a stats field, a
    metric label or a URL: a separator or a control character in one would corrupt them all."""
    if not isinstance(value, str) or not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(
            f"{ascii(value)[:80]} is not a name: 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


Name = Annotated[str, BeforeValidator(_name), WithJsonSchema({"type": "string", "pattern": NAME_PATTERN})]

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

    _tags: ClassVar[dict[tuple[str, tuple[bool, bool]], str]] = {}  # a scalar's tag depends on its text alone

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """PyYAML's resolver, remembered per scalar text: rule files repeat the same few values."""
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            if len(self._tags) > 50_000:
                self._tags.clear()
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


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


MAX_FILE_BYTES = 256 * 1024  # a rule file is hand-written; far larger is a mistake or an attack
MAX_TOTAL_BYTES = 2 * 1024 * 1024


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
    try:
        data, duplicates = yamltree.build(root, Loader(""))
    except yamltree.Refused as refused:
        raise ProblemsFound([Problem(name, refused.line, refused.message)]) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise ProblemsFound([Problem(name, 1, f"invalid value: {exc}")]) from None
    if duplicates:
        raise ProblemsFound([Problem(name, line, message) for line, message in duplicates])
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
    where = ".".join(str(part) if str(part).isprintable() else ascii(str(part)) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {where!r}: remove it or check its spelling"
    if err["type"] == "missing":
        return f"missing required key {where!r}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg
