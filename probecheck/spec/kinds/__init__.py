"""The check kinds of the spec language, one module each, listed once here.

Each module (``drop``, ``selective``, ``strongest``, ``occlusion``, ``compare``) holds its kind's
case and check models with their rules, and declares its ``KIND``, a
:class:`~probecheck.spec.kinds.base.SpecKind`.
:data:`SPEC_KINDS` gives everything else: ``Claim``'s fields (and so the JSON Schema),
``CHECK_MODELS`` (the did-you-mean of a check that validates beside another error) and
``CHECK_NAMES`` (the order a claim's checks run in). The measuring side of each kind is
registered in :mod:`probecheck.checks.registry`, which refuses to load if the names differ.
"""

from __future__ import annotations

from probecheck.spec.kinds import compare, drop, occlusion, selective, strongest
from probecheck.spec.kinds.base import SpecKind, _Check
from probecheck.spec.kinds.compare import CompareCase, CompareCheck
from probecheck.spec.kinds.drop import DropCase, DropCheck
from probecheck.spec.kinds.occlusion import OcclusionCase, OcclusionCheck
from probecheck.spec.kinds.selective import SelectiveCase, SelectiveCheck
from probecheck.spec.kinds.strongest import StrongestCase, StrongestCheck

__all__ = [
    "CHECK_MODELS",
    "CHECK_NAMES",
    "SPEC_KINDS",
    "AnyCheck",
    "CompareCase",
    "CompareCheck",
    "DropCase",
    "DropCheck",
    "OcclusionCase",
    "OcclusionCheck",
    "SelectiveCase",
    "SelectiveCheck",
    "SpecKind",
    "StrongestCase",
    "StrongestCheck",
]

#: The check kinds, in the order a claim's checks run (and its fields appear in the schema).
SPEC_KINDS: tuple[SpecKind, ...] = (
    drop.KIND,
    selective.KIND,
    strongest.KIND,
    occlusion.KIND,
    compare.KIND,
)
CHECK_MODELS: dict[str, type[_Check]] = {kind.name: kind.model for kind in SPEC_KINDS}
CHECK_NAMES: tuple[str, ...] = tuple(CHECK_MODELS)
#: any check model (each kind's is a subclass)
AnyCheck = _Check
