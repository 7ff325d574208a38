"""The JSON Schema of the spec language, so editors can complete and check spec YAML files.

It is generated from the pydantic models, so it cannot drift from what ``load_spec`` accepts;
rules that span fields (exactly one of altered / mask_with, cross-references) are only checked
by ``load_spec``.
"""

from __future__ import annotations

from typing import Any

from probecheck.spec.models import Spec

__all__ = ["SCHEMA_DIALECT", "json_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The spec language as a JSON Schema (draft 2020-12) dict; every object forbids extra keys."""
    body = Spec.model_json_schema(by_alias=True, mode="validation")
    body["title"] = "probecheck spec"
    return {"$schema": SCHEMA_DIALECT, **body}
