"""A composed YAML tree turned into Python data in one walk, checked as it goes: how deep it nests,
how long its numbers are, duplicate keys, and how much its aliases add when expanded (a few hundred
bytes of aliases can stand for billions of values). Each node is built once; an alias reuses it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_ALIAS_VALUES = 20_000  # what aliases add when expanded
MAX_DEPTH = 64  # a rule file nests a handful of levels; thousands would exhaust the stack
MAX_DIGITS = 18  # a number in a rule file is a priority, an amount or a quantity, never longer
_STR, _INT, _MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:merge"


class Refused(Exception):
    """(line, message) of the first thing no rule file has."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


@dataclass
class _Walk:
    constructor: yaml.constructor.SafeConstructor
    built: dict[int, tuple[Any, int]] = field(default_factory=dict)  # node id -> (value, values inside)
    added: int = 0
    duplicates: list[tuple[int, str]] = field(default_factory=list)

    def build(self, node: yaml.Node, depth: int) -> tuple[Any, int]:
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise Refused(line, f"nested deeper than {MAX_DEPTH} levels: rules are a few levels deep")
        known = self.built.get(id(node))
        if known is not None:  # an alias: the same value again, counted as if copied out
            self.added += known[1]
            if self.added > MAX_ALIAS_VALUES:
                raise Refused(1, f"aliases expand to over {MAX_ALIAS_VALUES} more values: write the rules out plainly")
            return known
        if isinstance(node, yaml.ScalarNode):
            result = (self._scalar(node, line), 1)
        elif isinstance(node, yaml.SequenceNode):
            items = [self.build(child, depth + 1) for child in node.value]
            result = ([value for value, _ in items], 1 + sum(size for _, size in items))
        elif isinstance(node, yaml.MappingNode):
            result = self._mapping(node, depth)
        else:
            raise Refused(line, f"unsupported YAML node {type(node).__name__}")
        self.built[id(node)] = result
        return result

    def _scalar(self, node: yaml.ScalarNode, line: int) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag == _INT and len(node.value) > MAX_DIGITS:
            raise Refused(line, f"a number of {len(node.value)} digits: out of range")
        return self.constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, depth: int) -> tuple[Any, int]:
        if any(key.tag == _MERGE for key, _ in node.value):  # `<<: *anchor`: PyYAML's own merge rules
            self.constructor.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        size = 1
        for key_node, value_node in node.value:
            key, key_size = self.build(key_node, depth + 1)
            value, value_size = self.build(value_node, depth + 1)
            if key in mapping:
                self.duplicates.append((key_node.start_mark.line + 1, f"duplicate key {key_node.value!r}"))
            try:
                mapping[key] = value
            except TypeError:
                raise Refused(key_node.start_mark.line + 1, "a key that is a list or a mapping") from None
            size += key_size + value_size
        return mapping, size


def build(root: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> tuple[Any, list[tuple[int, str]]]:
    """(data, duplicate keys as (line, message)); raises Refused for a shape no rule file has."""
    walk = _Walk(constructor)
    value, _ = walk.build(root, 1)
    return value, walk.duplicates
