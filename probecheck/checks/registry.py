"""The check kinds, each one module of this package: everything that asks "which kind?" asks here.

The spec language lists the same names (``probecheck.spec.models.CHECK_MODELS``, the models a
claim's keys validate to); a kind the spec knows and this registry does not fails loudly, at
import (a test holds the two lists equal) and wherever it is asked for.
"""

from __future__ import annotations

from probecheck.checks import compare, drop, occlusion, selective, strongest
from probecheck.checks.kind import CheckKind
from probecheck.errors import ProbecheckError

KINDS: dict[str, CheckKind] = {
    k.name: k for k in (drop.KIND, selective.KIND, strongest.KIND, occlusion.KIND, compare.KIND)
}


def kind(name: str) -> CheckKind:
    """The registered kind ``name``; a ProbecheckError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ProbecheckError(
            f"check kind {name!r} is not registered",
            fix=f"register it in probecheck/checks/registry.py (known: {', '.join(KINDS)})",
        ) from None


def _check_against_spec() -> None:
    """Every kind of the spec language has its measuring side here, and no other."""
    from probecheck.spec.models import CHECK_NAMES

    if tuple(KINDS) != CHECK_NAMES:
        raise RuntimeError(
            f"the spec's check kinds {CHECK_NAMES} and the registered ones {tuple(KINDS)} differ"
        )


_check_against_spec()
