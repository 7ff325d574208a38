"""Where things are in a spec file: key paths traced back to the line and column that wrote them.

The loader keeps the YAML node tree of a file in a :class:`SourceMap`; any layer that finds a
problem with a key (the loader, or a check against the network's layers) turns it into a
:class:`SpecError` at that key's line and column, named by a readable key path such as
``claims[fire6-eyes].drop.cases[0].region``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from probecheck.errors import SpecError
from probecheck.spec.models import NAME_PATTERN

__all__ = ["Loc", "SourceMap"]

Loc = tuple[Any, ...]

MERGE_TAG = "tag:yaml.org,2002:merge"


def position(node: Node) -> tuple[int, int]:
    """The 1-based (line, column) where ``node`` starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def pairs(node: MappingNode) -> Iterator[tuple[ScalarNode, Node]]:
    """(key, value) pairs of a mapping whose keys are plain scalars, merge keys left out."""
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag != MERGE_TAG:
            yield key, value


def lookup(node: Node, elem: Any) -> tuple[Node, tuple[int, int]] | None:
    """The child of ``node`` named by one loc element, and the position to point at."""
    if isinstance(node, MappingNode):
        # The last match wins, as in YAML (merged keys come first, explicit ones after).
        for key, value in reversed(list(pairs(node))):
            if key.value == str(elem):
                return value, position(key)
        return None
    if isinstance(node, SequenceNode) and isinstance(elem, int) and 0 <= elem < len(node.value):
        return node.value[elem], position(node.value[elem])
    return None


class SourceMap:
    """The node tree of one spec file, to point problems at the line and column of their key."""

    def __init__(self, root: Node, shown: str) -> None:
        self.root = root
        self.shown = shown
        self.ids = self._claim_ids()

    def position(self, loc: Loc) -> tuple[int, int]:
        """(line, column) of the deepest node of ``loc`` that exists in the file."""
        node, where = self.root, position(self.root)
        for elem in loc:
            found = lookup(node, elem)
            if found is None:
                break
            node, where = found
        return where

    def node(self, loc: Loc) -> Node | None:
        """The node at ``loc``, if the file has it."""
        node: Node | None = self.root
        for elem in loc:
            found = lookup(node, elem) if node is not None else None
            node = found[0] if found else None
        return node

    def key_text(self, loc: Loc) -> str | None:
        """``claims[fire6-eyes].drop.cases[0].region``; claims are named by id where known."""
        text = ""
        for i, elem in enumerate(loc):
            if elem == "[key]":
                continue
            is_key = loc[i + 1 : i + 2] == ("[key]",)
            if isinstance(elem, int) and not is_key:
                label = self.ids.get(elem, elem) if i == 1 and loc[0] == "claims" else elem
                text += f"[{label}]"
            else:
                text += f".{elem}" if text else str(elem)
        return text or None

    def error(self, loc: Loc, message: str, fix: str | None) -> SpecError:
        """A SpecError at the key ``loc`` of this file."""
        line, column = self.position(loc)
        return SpecError(
            message, path=self.shown, line=line, column=column, key=self.key_text(loc), fix=fix
        )

    def _claim_ids(self) -> dict[int, str]:
        """Claim index -> its id where written as text, to name claims in key paths."""
        claims = self.node(("claims",))
        ids: dict[int, str] = {}
        if not isinstance(claims, SequenceNode):
            return ids
        for i, item in enumerate(claims.value):
            found = lookup(item, "id")
            value = found[0].value if found and isinstance(found[0], ScalarNode) else ""
            if re.fullmatch(NAME_PATTERN, value) and not value.isdigit():
                ids[i] = value
        repeated = {v for v, n in Counter(ids.values()).items() if n > 1}
        return {i: v for i, v in ids.items() if v not in repeated}  # a repeated id names none
