"""The input variants a case reads, named so that one forward serves every claim that reads them.

An input variant is ``("image", name)`` (a spec image: an original or a paired one) or
``("masked", image, region, method)`` (an image with a region removed). Each kind says which
variants a case reads (``CheckKind.inputs``); :mod:`probecheck.plan` runs them once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

#: An input variant: ("image", name) or ("masked", image, region, method).
InputKey = tuple[str, ...]


def image_key(name: str) -> InputKey:
    """A spec image as named under ``images:`` (an original or a paired altered one)."""
    return ("image", name)


def masked_key(image: str, region: str, method: str) -> InputKey:
    """``image`` with ``region`` removed by ``method``."""
    return ("masked", image, region, method)


@dataclass(frozen=True)
class CaseInputs:
    """The inputs one case of a check reads: its image, and the images it is compared with
    (a drop's altered images, a comparison's other image)."""

    image: InputKey
    altered: InputKey | None = None
    control_altered: InputKey | None = None

    def variants(self) -> Iterator[InputKey]:
        yield self.image
        if self.altered is not None:
            yield self.altered
        if self.control_altered is not None:
            yield self.control_altered
