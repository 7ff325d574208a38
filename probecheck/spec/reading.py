"""YAML text → a node tree, safely: bounded in bytes, nodes and depth; plain YAML only.

A spec may come from anywhere, so nothing in it is executed or allowed to exhaust the machine:
the file is read up to :data:`MAX_BYTES`; its events are counted before any tree is built, with
aliases counted as the nodes they expand to, so an alias bomb ("billion laughs") is refused after
a few hundred events; nesting is bounded so no recursion runs out; and any tag beyond YAML's
plain types (``!!python/object``…) is an error, never a constructor call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from probecheck.errors import SpecError
from probecheck.spec.source import Loc, SourceMap, pairs, position

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "compose", "construct", "read_text"]

MAX_BYTES = 1 << 20
"""Largest spec file read (1 MiB); real specs are a few kilobytes."""
MAX_NODES = 20_000
"""Most YAML nodes in a spec, aliases counted as the nodes they expand to."""
MAX_DEPTH = 50
"""Deepest nesting of lists and mappings (a spec needs 6)."""

#: libyaml's parser where installed (tens of times faster), else PyYAML's own.
FAST_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_CORE = "tag:yaml.org,2002:"
_PLAIN = ("null", "bool", "int", "float", "str", "binary", "timestamp", "seq", "map", "set")
SAFE_TAGS = frozenset(_CORE + name for name in (*_PLAIN, "omap", "pairs", "merge", "value"))


def read_text(path: Path, shown: str) -> str:
    """The file's text (UTF-8, an optional BOM allowed), refused beyond MAX_BYTES."""
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise SpecError(
                "not a regular file (a device, pipe or socket)",
                path=shown,
                fix="name a .yaml file",
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(
            "spec file not found",
            path=shown,
            fix=f"check the path (relative paths start at the current directory, {Path.cwd()})",
        ) from None
    except IsADirectoryError:
        raise SpecError(
            "is a directory, not a spec file", path=shown, fix="name a .yaml file in it"
        ) from None
    except OSError as exc:
        raise SpecError(
            f"cannot read the spec file: {exc.strerror or exc}",
            path=shown,
            fix="check the file's permissions",
        ) from None
    if len(raw) > MAX_BYTES:
        raise SpecError(
            f"the spec file is larger than {MAX_BYTES >> 20} MiB; refused unread",
            path=shown,
            fix="split it into several spec files, or check that this is the file you meant",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not valid UTF-8 text (byte {exc.start})",
            path=shown,
            line=raw[: exc.start].count(b"\n") + 1,
            fix="save the file as UTF-8",
        ) from None


def _yaml_fix(problem: str) -> str:
    """A concrete suggestion for the most common YAML syntax problems."""
    if "\\t" in problem or "tab" in problem:
        return "indent with spaces, not tabs"
    if "single document" in problem:
        return "keep one document per spec file (remove the extra '---')"
    if "unacceptable character" in problem or "special characters" in problem:
        return "remove control characters; spec files are printable text"
    if "alias" in problem:
        return "define the anchor (&name) before the alias (*name) that uses it"
    return (
        "check the indentation and quoting on this line and the one before; "
        "quote values that contain ': ' or ' #'"
    )


def _yaml_error(exc: yaml.YAMLError, text: str, shown: str) -> SpecError:
    """A SpecError at the line and column YAML reports."""
    line = column = None
    message = str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            line, column = mark.line + 1, mark.column + 1
        message = " ".join(p for p in (exc.context, exc.problem) if p) or message
        start = exc.context_mark
        if start is not None and line is not None and start.line + 1 != line:
            message += f" (it started on line {start.line + 1})"
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "byte"
        message = f"unacceptable character {character}: special characters are not allowed"
    return SpecError(
        f"invalid YAML: {message}", path=shown, line=line, column=column, fix=_yaml_fix(message)
    )


def _too_big(what: str, event: Any, shown: str, fix: str) -> SpecError:
    mark = event.start_mark
    return SpecError(what, path=shown, line=mark.line + 1, column=mark.column + 1, fix=fix)


def _measure(text: str, shown: str) -> None:
    """Refuse documents that would expand beyond MAX_NODES or nest beyond MAX_DEPTH.

    Works on the parser's events, before a tree exists, and stops at the first event past a
    bound: an alias adds the size of the node it names, so an alias bomb is caught as it grows.
    """
    count = 0
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, count when the node started)
    sizes: dict[str, int] = {}
    for event in yaml.parse(text, Loader=FAST_LOADER):
        if isinstance(event, CollectionStartEvent):
            count += 1
            open_nodes.append((event.anchor, count))
            if len(open_nodes) > MAX_DEPTH:
                raise _too_big(
                    f"lists and mappings nest deeper than {MAX_DEPTH} levels; refused",
                    event,
                    shown,
                    "a spec nests a few levels deep: check the brackets and indentation",
                )
        elif isinstance(event, CollectionEndEvent):
            anchor, start = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = count - start + 1
        elif isinstance(event, ScalarEvent):
            count += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_nodes):
                raise _too_big(
                    f"alias '*{event.anchor}' refers to the node that contains it "
                    "(a recursive structure)",
                    event,
                    shown,
                    "use an alias only after the anchored node has ended",
                )
            count += sizes.get(event.anchor, 1)  # an undefined alias is YAML's error, below
        if count > MAX_NODES:
            raise _too_big(
                f"the document expands to more than {MAX_NODES} YAML nodes "
                "(aliases counted as the nodes they repeat); refused",
                event,
                shown,
                "a spec has hundreds of nodes, not tens of thousands: remove the nested "
                "aliases (&anchor / *alias) or split the file",
            )


def compose(text: str, shown: str) -> Node:
    """The YAML node tree (with line and column marks) of a non-empty, bounded document."""
    try:
        _measure(text, shown)
        root = yaml.compose(text, Loader=FAST_LOADER)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, shown) from None
    if root is None:
        raise SpecError(
            "the spec file is empty",
            path=shown,
            fix="write at least 'images:', 'regions:' and a 'claims:' list "
            "(`probecheck schema` prints the spec language)",
        )
    return root


def _nodes(root: Node) -> list[tuple[Node, Loc]]:
    """Every distinct node of the tree once, with a key path to it (iterative: no recursion)."""
    found: list[tuple[Node, Loc]] = []
    stack: list[tuple[Node, Loc]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found.append((node, loc))
        if isinstance(node, SequenceNode):
            stack.extend((child, (*loc, i)) for i, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, ScalarNode) else "[key]"
                stack.extend([(key, (*loc, name, "[key]")), (value, (*loc, name))])
    return found


def tag_problems(root: Node, source: SourceMap) -> list[SpecError]:
    """Every node tagged beyond plain YAML: ``!!python/...`` and other tags construct objects."""
    problems = []
    for node, _ in _nodes(root):
        if node.tag in SAFE_TAGS:
            continue
        shown = node.tag.replace(_CORE, "!!")
        line, column = position(node)
        problems.append(
            SpecError(
                f"tag '{shown}' is not allowed: spec files are plain YAML and nothing in "
                "them is constructed or run",
                path=source.shown,
                line=line,
                column=column,
                fix=f"remove '{shown}' and write the value as plain YAML",
            )
        )
    return problems


def duplicate_key_problems(root: Node, source: SourceMap) -> list[SpecError]:
    """YAML silently keeps the last of two equal keys; a spec treats that as an error."""
    problems = []
    for node, loc in _nodes(root):
        if not isinstance(node, MappingNode):
            continue
        first: dict[str, int] = {}
        for key, _ in pairs(node):
            line, column = position(key)
            if key.value in first:
                problems.append(
                    SpecError(
                        f"duplicate key (first on line {first[key.value]})",
                        path=source.shown,
                        line=line,
                        column=column,
                        key=source.key_text((*loc, key.value)),
                        fix="YAML keeps only the last of the two; remove or rename one of them",
                    )
                )
            else:
                first[key.value] = line
    return problems


def _unreadable_scalar(root: Node, loader: Any) -> Node | None:
    """The first scalar that the constructor fails on, to point at its line."""
    for node, _ in _nodes(root):
        if isinstance(node, ScalarNode) and node.tag != _CORE + "str":
            try:
                loader.construct_object(node)
            except Exception:  # whatever it raised the first time
                return node
    return None


def construct(root: Node, text: str, shown: str) -> Any:
    """Python data from a node tree whose tags were checked, with the safe constructor."""
    loader = FAST_LOADER(text)
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, shown) from None
    except Exception as exc:  # a date that does not exist, an empty `!!int`: the data's fault
        node = _unreadable_scalar(root, loader) or root
        line, column = position(node)
        tag = str(node.tag).replace(_CORE, "!!")
        raise SpecError(
            f"a value cannot be read as {tag} ({node.value!r}): {exc or type(exc).__name__}",
            path=shown,
            line=line,
            column=column,
            fix="check dates and numbers written in this file",
        ) from None
    finally:
        loader.dispose()
