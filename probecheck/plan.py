"""Activation planning: what inputs and layers claims need, and one forward per distinct input.

Claims checked one by one would each run their images through the network up to their own
layer, so an image asked about at fire6 by one claim and at fire9 by the next runs twice. The
plan gathers every input variant the selected claims read (a spec image, a paired altered image,
an image masked over a region) and every layer they ask of it; each distinct input then runs
once, hooked at all its layers and truncated after the deepest, and the probe's activation cache
answers the claims. Each check kind says which inputs a case reads (``CheckKind.inputs``); a kind
that is not registered fails loudly here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import NDArray

from probecheck.checks.inputs import CaseInputs, InputKey, image_key, masked_key
from probecheck.checks.registry import kind as registered_kind
from probecheck.errors import ProbecheckError
from probecheck.probe import Probe
from probecheck.spec import Claim
from probecheck.zoo.images import image_digest

__all__ = ["CaseInputs", "InputKey", "claim_needs", "image_key", "masked_key", "prefetch"]


def claim_needs(claims: Iterable[Claim]) -> dict[InputKey, set[str]]:
    """``{input variant: the layers asked of it}`` over the checks of ``claims``."""
    needs: dict[InputKey, set[str]] = {}
    for claim in claims:
        for name, check in claim.checks.items():
            kind = registered_kind(name)
            for case in check.cases:
                for key in kind.inputs(case).variants():
                    needs.setdefault(key, set()).add(claim.layer)
    return needs


def prefetch(
    probe: Probe,
    needs: dict[InputKey, set[str]],
    make: Callable[[InputKey], NDArray[np.uint8]],
) -> int:
    """Run every input of ``needs`` once through all its layers; return the forward passes.

    Inputs asked at the same layers share batched forwards (the probe splits batches at its
    ``max_batch``). Nothing here fails a claim: an input or layer that cannot be made or
    resolved is left for its claim to report, and a failing forward leaves the claims of that
    group to run their own.
    """
    before = probe.forward_passes
    distinct: dict[str, tuple[NDArray[np.uint8], set[str]]] = {}  # by content: names may alias
    for key, layers in needs.items():
        paths = set()
        for layer in layers:
            try:
                paths.add(probe.resolve(layer))
            except ProbecheckError:
                continue
        try:
            rgb = make(key) if paths else None
        except Exception:  # the claim that reads this input reports why it cannot be made
            continue
        if rgb is not None:
            distinct.setdefault(image_digest(rgb), (rgb, set()))[1].update(paths)
    groups: dict[frozenset[str], list[NDArray[np.uint8]]] = {}
    for rgb, paths in distinct.values():
        groups.setdefault(frozenset(paths), []).append(rgb)
    for paths, rgbs in groups.items():
        with contextlib.suppress(Exception):  # e.g. a layer that returns no tensor
            probe.activations_many(rgbs, sorted(paths))
    return probe.forward_passes - before
