"""Activation planning: what inputs and layers claims need, and one forward per distinct input.

Claims checked one by one would each run their images through the network up to their own
layer, so an image asked about at fire6 by one claim and at fire9 by the next runs twice. The
plan gathers every input variant the selected claims read (a spec image, a paired altered image,
an image masked over a region) and every layer they ask of it; each distinct input then runs
once, hooked at all its layers and truncated after the deepest, and the probe's activation cache
answers the claims. Check kinds the plan does not know are left out: their claims run their own
forwards, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from probecheck.errors import ProbecheckError
from probecheck.probe import Probe
from probecheck.spec import Claim
from probecheck.zoo.images import image_digest

#: An input variant: ("image", name) or ("masked", image, region, method).
InputKey = tuple[str, ...]
#: The check kinds whose inputs the plan knows (occlusion: its image; the sweep runs its own).
PLANNED_KINDS = ("drop", "selective", "strongest", "occlusion")


def image_key(name: str) -> InputKey:
    """A spec image as named under ``images:`` (an original or a paired altered one)."""
    return ("image", name)


def masked_key(image: str, region: str, method: str) -> InputKey:
    """``image`` with ``region`` removed by ``method``."""
    return ("masked", image, region, method)


@dataclass(frozen=True)
class CaseInputs:
    """The inputs one case of a check reads: its image, and for a drop its altered images."""

    image: InputKey
    altered: InputKey | None = None
    control_altered: InputKey | None = None

    def variants(self) -> Iterator[InputKey]:
        yield self.image
        if self.altered is not None:
            yield self.altered
        if self.control_altered is not None:
            yield self.control_altered


def case_inputs(kind: str, case: Any) -> CaseInputs:
    """Which input variants a case of a ``kind`` check (drop, selective, strongest) reads."""
    image = image_key(case.image)
    if kind != "drop":
        return CaseInputs(image)
    if case.altered is not None:
        control = case.control_altered
        return CaseInputs(image, image_key(case.altered), image_key(control) if control else None)
    return CaseInputs(
        image,
        masked_key(case.image, case.region, case.mask_with),
        masked_key(case.image, case.control, case.mask_with) if case.control else None,
    )


def claim_needs(claims: Iterable[Claim]) -> dict[InputKey, set[str]]:
    """``{input variant: the layers asked of it}`` over the planned checks of ``claims``."""
    needs: dict[InputKey, set[str]] = {}
    for claim in claims:
        for kind, check in claim.checks.items():
            if kind not in PLANNED_KINDS:
                continue
            for case in check.cases:
                for key in case_inputs(kind, case).variants():
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
