"""Pydantic's validation errors in a YAML author's words: what is wrong, and the fix.

Each error becomes (key path, message, fix): an unknown key names the closest allowed one, a
missing key gives an example from the field's schema, a wrong type says what to write instead.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from probecheck.spec.models import RuleError, RuleErrors, Spec

__all__ = ["describe"]

Loc = tuple[Any, ...]


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


def _describe(err: dict[str, Any]) -> list[tuple[Loc, str, str]]:
    """(loc, message, fix) for one pydantic error (several where a validator found several)."""
    loc = tuple(err["loc"])
    error = (err.get("ctx") or {}).get("error")
    rules = error.errors if isinstance(error, RuleErrors) else [error]
    if all(isinstance(rule, RuleError) for rule in rules):
        return [((*loc, *r.loc), r.message, r.fix or "see the spec language") for r in rules]
    if err["type"] == "extra_forbidden":
        return [(loc, *_unknown_key(loc))]
    if err["type"] == "missing":
        return [(loc, *_missing_key(loc))]
    return [(loc, *_bad_value(err))]


def describe(errors: list[dict[str, Any]]) -> list[tuple[Loc, str, str]]:
    """(loc, message, fix) for every pydantic error of a file.

    A misspelt key shows up twice, as an unknown key and as the missing key it was meant to be:
    the missing one is left out where an unknown sibling key is a close match for it.
    """
    unknown: dict[Loc, list[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden":
            unknown.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    found = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and difflib.get_close_matches(
            str(loc[-1]), unknown.get(loc[:-1], []), n=1
        ):
            continue
        found += _describe(dict(err))
    return found
