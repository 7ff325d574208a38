"""The spec layer: YAML spec files → validated, typed objects (no torch, no numpy).

``load_spec(path)`` is the entry point; every problem comes out as ``probecheck.errors.SpecError``
naming file, line and key. ``json_schema()`` describes the language for editors.
"""

from __future__ import annotations

from probecheck.spec.kinds import (
    CompareCase,
    CompareCheck,
    DropCase,
    DropCheck,
    OcclusionCase,
    OcclusionCheck,
    SelectiveCase,
    SelectiveCheck,
    StrongestCase,
    StrongestCheck,
)
from probecheck.spec.loader import load_spec
from probecheck.spec.models import Claim, ModelRef, Region, Spec
from probecheck.spec.schema import json_schema

__all__ = [
    "Claim",
    "CompareCase",
    "CompareCheck",
    "DropCase",
    "DropCheck",
    "ModelRef",
    "OcclusionCase",
    "OcclusionCheck",
    "Region",
    "SelectiveCase",
    "SelectiveCheck",
    "Spec",
    "StrongestCase",
    "StrongestCheck",
    "json_schema",
    "load_spec",
]
