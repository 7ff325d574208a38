"""The check kinds, each one module of this package: everything that asks "which kind?" asks here.

The spec language lists the same names (``probecheck.spec.kinds.CHECK_NAMES``, from the kinds'
spec modules); a kind the spec knows and this registry does not, or the other way round, fails
loudly at import, and a kind asked for by a name neither knows is a ProbecheckError.
"""

from __future__ import annotations

from collections.abc import Sequence

from probecheck.checks import compare, drop, occlusion, selective, strongest
from probecheck.checks.kind import CheckKind
from probecheck.errors import ProbecheckError
from probecheck.spec.kinds import CHECK_NAMES

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


def check_against_spec(registered: Sequence[str], spec_names: Sequence[str]) -> None:
    """Every kind of the spec language has its measuring side here, in the same order, and no
    kind is registered that the spec language lacks."""
    if tuple(registered) == tuple(spec_names):
        return
    unmeasured = [n for n in spec_names if n not in registered]
    unspecified = [n for n in registered if n not in spec_names]
    missing = []
    if unmeasured:
        missing.append(f"not registered in probecheck/checks/registry.py: {unmeasured}")
    if unspecified:
        missing.append(f"not in probecheck/spec/kinds/__init__.py's SPEC_KINDS: {unspecified}")
    raise RuntimeError(
        f"the spec's check kinds {tuple(spec_names)} and the registered ones {tuple(registered)} "
        f"differ{' (' + '; '.join(missing) + ')' if missing else ' in order'}"
    )


check_against_spec(tuple(KINDS), CHECK_NAMES)
