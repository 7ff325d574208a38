"""Read a YAML spec file into a validated :class:`Spec`, or raise one clear :class:`SpecError`.

The file is composed into a YAML node tree first (safe loader only) so that every problem,
whether YAML's, pydantic's or a cross-reference rule's, can be traced back to the line of the key
that causes it. Only SpecError leaves this module.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from probecheck.errors import SpecError
from probecheck.spec.models import NAME_PATTERN, RuleError, Spec

__all__ = ["load_spec"]

Loc = tuple[Any, ...]

MERGE_TAG = "tag:yaml.org,2002:merge"

TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "bool_type": "true or false",
}

TYPE_FIXES = {
    "a whole number": "write a whole number without quotes",
    "a number": "write a number without quotes",
    "text": "write text; quote values that YAML reads as numbers, dates or booleans: '2024'",
    "a list": "write a list: [a, b] or one '- item' per line",
    "a mapping": "write a mapping: {key: value} or indented 'key: value' lines",
}


BOUND_WORDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Load, validate and normalise the spec file at ``path``; raise SpecError on any problem."""
    path = Path(path)
    shown = str(path)
    text = _read(path, shown)
    root = _compose(text, shown)
    ids = _claim_ids(root)
    _check_duplicate_keys(root, shown, ids)
    data = _construct(root, text, shown)
    if not isinstance(data, dict):
        raise SpecError(
            f"the top level must be a mapping, got {_yaml_repr(data)}",
            path=shown,
            line=_line(root),
            fix="start the file with keys such as 'images:', 'regions:' and 'claims:'",
        )
    spec = _validate(data, root, shown, ids, path)
    _record_claim_lines(spec, root)
    _check_images_exist(spec, root, shown)
    return spec


# ------------------------------------------------------------------------------ reading YAML


def _read(path: Path, shown: str) -> str:
    """The file's text (UTF-8, an optional BOM allowed)."""
    try:
        raw = path.read_bytes()
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
    if "constructor" in problem or "tag" in problem:
        return "remove the '!' tag: spec files are plain YAML"
    return (
        "check the indentation and quoting on this line and the one before; "
        "quote values that contain ': ' or ' #'"
    )


def _yaml_error(exc: yaml.YAMLError, shown: str) -> SpecError:
    """A SpecError at the line YAML reports."""
    line = None
    message = str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(p for p in (exc.context, exc.problem) if p) or message
        start = exc.context_mark
        if start is not None and line is not None and start.line + 1 != line:
            message += f" (it started on line {start.line + 1})"
    return SpecError(f"invalid YAML: {message}", path=shown, line=line, fix=_yaml_fix(message))


def _compose(text: str, shown: str) -> Node:
    """The YAML node tree (with line marks) of a non-empty file."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, shown) from None
    if root is None:
        raise SpecError(
            "the spec file is empty",
            path=shown,
            fix="write at least 'images:', 'regions:' and a 'claims:' list "
            "(`probecheck schema` prints the spec language)",
        )
    return root


def _construct(root: Node, text: str, shown: str) -> Any:
    """Python data from the node tree, with the safe constructor."""
    loader = yaml.SafeLoader(text)
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, shown) from None
    finally:
        loader.dispose()


# ------------------------------------------------------------------------- walking the nodes


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _pairs(node: MappingNode) -> Iterator[tuple[ScalarNode, Node]]:
    """(key, value) pairs of a mapping whose keys are plain scalars, merge keys left out."""
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag != MERGE_TAG:
            yield key, value


def _lookup(node: Node, elem: Any) -> tuple[Node, int] | None:
    """The child of ``node`` named by one pydantic loc element, and the line to point at."""
    if isinstance(node, MappingNode):
        # The last match wins, as in YAML (merged keys come first, explicit ones after).
        for key, value in reversed(list(_pairs(node))):
            if key.value == str(elem):
                return value, _line(key)
        return None
    if isinstance(node, SequenceNode) and isinstance(elem, int) and 0 <= elem < len(node.value):
        return node.value[elem], _line(node.value[elem])
    return None


def _line_at(root: Node, loc: Loc) -> int:
    """The line of the deepest node of ``loc`` that exists in the file."""
    node, line = root, _line(root)
    for elem in loc:
        found = _lookup(node, elem)
        if found is None:
            break
        node, line = found
    return line


def _claim_ids(root: Node) -> dict[int, str]:
    """Claim index -> its id where written as text, to name claims in error keys."""
    found = _lookup(root, "claims")
    ids: dict[int, str] = {}
    if found is None or not isinstance(found[0], SequenceNode):
        return ids
    for i, item in enumerate(found[0].value):
        id_node = _lookup(item, "id")
        value = id_node[0].value if id_node and isinstance(id_node[0], ScalarNode) else ""
        if re.fullmatch(NAME_PATTERN, value) and not value.isdigit():
            ids[i] = value
    return ids


def _key_text(loc: Loc, ids: dict[int, str]) -> str | None:
    """``claims[fire6-eyes].drop.cases[0].region`` for a loc; claims are named by id if known."""
    text = ""
    for i, elem in enumerate(loc):
        if elem == "[key]":
            continue
        is_key = loc[i + 1 : i + 2] == ("[key]",)
        if isinstance(elem, int) and not is_key:
            label = ids.get(elem, elem) if i == 1 and loc[0] == "claims" else elem
            text += f"[{label}]"
        else:
            text += f".{elem}" if text else str(elem)
    return text or None


def _check_duplicate_keys(root: Node, shown: str, ids: dict[int, str]) -> None:
    """YAML silently keeps the last of two equal keys; a spec treats that as an error."""
    stack: list[tuple[Node, Loc]] = [(root, ())]
    visited: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((child, (*loc, i)) for i, child in enumerate(node.value))
        if not isinstance(node, MappingNode):
            continue
        first: dict[str, int] = {}
        for key, value in _pairs(node):
            if key.value in first:
                raise SpecError(
                    f"duplicate key (first on line {first[key.value]})",
                    path=shown,
                    line=_line(key),
                    key=_key_text((*loc, key.value), ids),
                    fix="YAML keeps only the last of the two; remove or rename one of them",
                )
            first[key.value] = _line(key)
            stack.append((value, (*loc, key.value)))


# -------------------------------------------------------------------------- validation errors


def _strip(tp: Any) -> Any:
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field(model: type[BaseModel], key: Any) -> tuple[str, FieldInfo] | None:
    """The field of ``model`` written as ``key`` in YAML (its alias or its name)."""
    for name, info in model.model_fields.items():
        if key in (info.alias, name):
            return info.alias or name, info
    return None


def _walk(loc: Loc) -> tuple[Any, tuple[str, FieldInfo] | None]:
    """The type at ``loc`` in the Spec model tree, and the deepest model field on the way."""
    tp: Any = Spec
    last: tuple[str, FieldInfo] | None = None
    for elem in loc:
        tp = _strip(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found = _field(tp, elem)
            if found is None:
                return None, last
            last, tp = found, found[1].annotation
        elif origin in (list, tuple):
            tp = get_args(tp)[0]
        elif origin is dict:
            tp = get_args(tp)[1]
        else:
            return None, last
    return _strip(tp), last


def _yaml_repr(value: Any) -> str:
    """How a YAML author would recognise a value."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    return str(value)


def _flow(value: Any) -> str:
    """An example value as inline YAML."""
    if isinstance(value, str):
        return value
    return json.dumps(value).replace('"', "")


def _example(field: tuple[str, FieldInfo] | None) -> str:
    """' (e.g. at_least: 0.5)' from the field's examples, or ''."""
    if field is None or not field[1].examples:
        return ""
    return f" (e.g. {field[0]}: {_flow(field[1].examples[0])})"


def _unknown_key(loc: Loc) -> tuple[str, str]:
    """Message and fix for a key the model does not have."""
    name = str(loc[-1])
    model, _ = _walk(loc[:-1])
    allowed = []
    if isinstance(model, type) and issubclass(model, BaseModel):
        allowed = [info.alias or n for n, info in model.model_fields.items()]
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key '{name}'", f"{hint}allowed keys are: {', '.join(allowed)}"


def _missing_key(loc: Loc) -> tuple[str, str]:
    """Message and fix for a required key that is absent."""
    _, field = _walk(loc)
    name = str(loc[-1])
    about = f" — {field[1].description}" if field and field[1].description else ""
    example = _example(field).strip(" ()").removeprefix("e.g. ") or f"{name}: ..."
    return f"missing required key '{name}'", f"add {example}{about}"


def _bad_value(err: dict[str, Any]) -> tuple[str, str]:
    """Message and fix for a value of the wrong type or out of range."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    _, field = _walk(err["loc"])
    example = _example(field)
    if kind in TYPE_WORDS:
        word = TYPE_WORDS[kind]
        fix = TYPE_FIXES.get(word, f"write {word}")
        if word == "text" and isinstance(value, int | float) and not isinstance(value, bool):
            fix = f"quote it: '{value}'"
        return f"expected {word}, got {_yaml_repr(value)}", fix + example
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{_yaml_repr(value)} is not allowed", f"{hint}use one of: {', '.join(options)}"
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        how = "at least" if kind == "too_short" else "at most"
        items = f"{how} {bound} item{'' if bound == 1 else 's'}"
        return f"expected {items}, got {ctx.get('actual_length')}", f"give {items}{example}"
    if kind in BOUND_WORDS:
        word, bound = BOUND_WORDS[kind]
        about = f": {field[1].description}" if field and field[1].description else example
        return f"must be {word} {ctx.get(bound)}, got {_yaml_repr(value)}", f"change it{about}"
    if kind == "string_too_short":
        return "must not be empty", f"write a value{example}"
    if kind == "string_pattern_mismatch":
        return (
            f"{_yaml_repr(value)} has characters that are not allowed",
            "use only letters, digits, '_', '.' and '-'",
        )
    message = err["msg"][:1].lower() + err["msg"][1:]
    return f"{message}, got {_yaml_repr(value)}", f"change the value{example}"


def _describe(err: dict[str, Any]) -> tuple[Loc, str, str]:
    """(loc, message, fix) for one pydantic error."""
    loc = tuple(err["loc"])
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, RuleError):
        return (*loc, *error.loc), error.message, error.fix or "see the spec language"
    if err["type"] == "extra_forbidden":
        return loc, *_unknown_key(loc)
    if err["type"] == "missing":
        return loc, *_missing_key(loc)
    return loc, *_bad_value(err)


def _validate(
    data: dict[str, Any], root: Node, shown: str, ids: dict[int, str], path: Path
) -> Spec:
    """The validated Spec, or a SpecError for the earliest problem in the file."""
    try:
        return Spec.model_validate(data, context={"path": path})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc, message, fix = _describe(dict(err))
            problems.append((err["type"] == "missing", _line_at(root, loc), loc, message, fix))
        # A misspelt key also shows up as a missing one: report the unknown key first.
        _, line, loc, message, fix = min(problems, key=lambda p: p[:2])
        more = len(problems) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise SpecError(message, path=shown, line=line, key=_key_text(loc, ids), fix=fix) from None


# ------------------------------------------------------------------------------ after loading


def _record_claim_lines(spec: Spec, root: Node) -> None:
    """Give every claim the line where it starts, for test locations in reports."""
    for i, claim in enumerate(spec.claims):
        claim._line = _line_at(root, ("claims", i))


def _check_images_exist(spec: Spec, root: Node, shown: str) -> None:
    """Every image file named under images: must exist (masks are read later, lazily)."""
    for name, written in spec.images.items():
        resolved = spec.image_path(name)
        if resolved.is_file():
            continue
        what = "is not a file" if resolved.exists() else "not found"
        raise SpecError(
            f"image file {what}: {resolved}",
            path=shown,
            line=_line_at(root, ("images", name)),
            key=f"images.{name}",
            fix=f"paths under images: are relative to the spec file's directory "
            f"({spec.base_dir}); check '{written}'",
        )
