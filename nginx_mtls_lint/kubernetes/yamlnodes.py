"""YAML documents as trees of nodes that remember where each value was written.

`yaml.compose` gives every node its position without constructing anything (no tags run, no
objects built), and an alias is the same node object again, so a document is walked with a
budget: an alias bomb (a billion laughs) stops at the budget instead of filling memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import yaml

# Nodes visited per document, aliases counted each time they are reached. A large
# `kubectl get -o yaml` of a namespace stays far below it.
NODE_BUDGET = 200_000


class YamlProblem(Exception):
    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(slots=True, eq=False)
class Node:
    """A value with where it is written (1-based line and column of the value; for a value
    under a mapping key, also the key's line: where a reader looks for `key: value`)."""

    value: "dict[str, Node] | list[Node] | str | None"
    line: int
    column: int
    key_line: int = 0
    plain: bool = False  # an unquoted scalar (YAML 1.1 reads `on` as a boolean there)
    tag: str = "str"  # what YAML 1.1 (as kubectl reads it) makes of a scalar: str, bool, int...
    keys: dict[str, int] = field(default_factory=dict)  # mapping: key -> the key's line

    @property
    def at(self) -> int:
        return self.key_line or self.line

    def get(self, *path: str | int) -> "Node | None":
        node: Node | None = self
        for step in path:
            if node is None:
                return None
            if isinstance(step, int):
                node = node.value[step] if isinstance(node.value, list) and \
                    -len(node.value) <= step < len(node.value) else None
            else:
                node = node.value.get(step) if isinstance(node.value, dict) else None
        return node

    def text(self, *path: str | int) -> str | None:
        node = self.get(*path)
        return node.value if node is not None and isinstance(node.value, str) else None

    def items(self, *path: str | int) -> Iterator[tuple[str, "Node"]]:
        node = self.get(*path)
        if node is not None and isinstance(node.value, dict):
            yield from node.value.items()

    def seq(self, *path: str | int) -> "list[Node]":
        node = self.get(*path)
        return node.value if node is not None and isinstance(node.value, list) else []


def _convert(root: yaml.Node) -> Node:
    budget = [NODE_BUDGET]

    def walk(node: yaml.Node, key_line: int, depth: int) -> Node:
        budget[0] -= 1
        if budget[0] < 0 or depth > 100:
            raise YamlProblem(node.start_mark.line + 1,
                              "the document expands beyond any real manifest (aliases or "
                              "nesting); not analysed")
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            keys: dict[str, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
                if name == "<<":  # merge keys: kept out, Kubernetes objects do not use them
                    continue
                keys[name] = key.start_mark.line + 1
                out[name] = walk(value, key.start_mark.line + 1, depth + 1)
            return Node(out, line, column, key_line, keys=keys)
        if isinstance(node, yaml.SequenceNode):
            return Node([walk(item, 0, depth + 1) for item in node.value], line, column,
                        key_line)
        value = node.value
        style = getattr(node, "style", None)  # ScalarNode's
        if node.tag == "tag:yaml.org,2002:null" and style is None:
            return Node(None, line, column, key_line, plain=True)
        return Node(value, line, column, key_line, plain=style is None,
                    tag=node.tag.rsplit(":", 1)[-1])

    return walk(root, 0, 0)


def documents(text: str) -> tuple[list[Node], YamlProblem | None]:
    """The documents of a YAML stream, up to the first syntax error (returned with them)."""
    found: list[Node] = []
    try:
        for root in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if root is not None:
                found.append(_convert(root))
    except YamlProblem as e:
        return found, e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return found, YamlProblem(mark.line + 1 if mark else None,
                                  f"YAML cannot be parsed: {e.problem or e}")
    except yaml.YAMLError as e:
        return found, YamlProblem(None, f"YAML cannot be parsed: {e}")
    return found, None
