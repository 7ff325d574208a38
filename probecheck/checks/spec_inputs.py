"""The images, region masks and masked images of one spec, each made once and reused."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from probecheck.checks.inputs import InputKey
from probecheck.errors import ProbecheckError
from probecheck.masking import mask_image
from probecheck.regions import area_fractions, load_mask_png, rasterise
from probecheck.spec import Spec
from probecheck.zoo.images import load_image, require_same_size

Floats = NDArray[np.float64]
T = TypeVar("T")


@dataclass
class SpecInputs:
    """The images, region masks and masked images of one spec, each made once and reused."""

    spec: Spec
    _images: dict[str, NDArray[np.uint8]] = field(default_factory=dict)
    _masks: dict[tuple[str, tuple[int, int]], NDArray[np.bool_]] = field(default_factory=dict)
    _masked: dict[tuple[str, str, str], NDArray[np.uint8]] = field(default_factory=dict)
    _fractions: dict[tuple[str, tuple[int, int], tuple[int, int]], Floats] = field(
        default_factory=dict
    )
    _measured: dict[Hashable, Any] = field(default_factory=dict)

    def image(self, name: str) -> NDArray[np.uint8]:
        """The named image as uint8 RGB."""
        if name not in self._images:
            self._images[name] = _read_only(load_image(self.spec.image_path(name)))
        return self._images[name]

    def region(self, name: str, shape: tuple[int, int]) -> NDArray[np.bool_]:
        """The named region rasterised at an image's resolution."""
        key = (name, shape)
        if key not in self._masks:
            region = self.spec.regions[name]
            mask = load_mask_png(region.mask_path) if region.mask_path is not None else None
            try:
                raster = rasterise(
                    shape,
                    boxes=region.boxes or (),
                    ellipses=region.ellipses or (),
                    polygons=region.polygons or (),
                    mask=mask,
                )
            except ValueError as error:
                raise ProbecheckError(f"region {name!r}: {error}") from None
            height, width = shape
            for box in region.boxes or ():
                if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                    raise ProbecheckError(
                        f"region {name!r}: box {[round(v) for v in box]} reaches outside the "
                        f"{width}×{height} image",
                        fix="boxes are [x0, y0, x1, y1] in pixels of the image they are used with",
                    )
            if not raster.any():
                raise ProbecheckError(
                    f"region {name!r} covers no pixel of a {shape[1]}×{shape[0]} image",
                    fix="regions are in pixel coordinates of the image they are used with",
                )
            self._masks[key] = raster
        return self._masks[key]

    def share(self, name: str, shape: tuple[int, int]) -> float:
        """The share of an image's pixels the named region covers (made once per shape)."""
        return self.measured(("share", name, shape), lambda: float(self.region(name, shape).mean()))

    def fractions(self, name: str, shape: tuple[int, int], grid: tuple[int, int]) -> Floats:
        """The named region resized by area to an activation grid, made once per grid."""
        key = (name, shape, grid)
        if key not in self._fractions:
            self._fractions[key] = area_fractions(self.region(name, shape), grid)
        return self._fractions[key]

    def measured(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The every-channel numbers ``key`` names, computed once for all the claims that ask:
        claims about other channels of the same layer, images and regions read them again."""
        if key not in self._measured:
            self._measured[key] = compute()
        return self._measured[key]

    def variant(self, key: InputKey) -> NDArray[np.uint8]:
        """The input variant ``key`` names (see :mod:`probecheck.plan`)."""
        if key[0] == "masked":
            return self.masked(*key[1:])
        return self.image(key[1])

    def masked(self, image: str, region: str, method: str) -> NDArray[np.uint8]:
        """``image`` with ``region`` removed by ``method`` (inpaint, blur, mean, gray, noise)."""
        key = (image, region, method)
        if key not in self._masked:
            rgb = self.image(image)
            self._masked[key] = _read_only(
                mask_image(rgb, self.region(region, rgb.shape[:2]), method)
            )
        return self._masked[key]


def require_same_size_images(inputs: SpecInputs, base: str, other: str) -> None:
    """``other`` is compared with ``base`` pixel for pixel: they must be one size."""
    require_same_size(inputs.image(base), inputs.image(other), f"image {other!r}")


def require_altered_image(inputs: SpecInputs, base: str, other: str, what: str, fix: str) -> None:
    """``other`` stands for another picture than ``base``: the same pixels would measure
    nothing (a control that never drops holds on no evidence), so they are an error."""
    if other == base or np.array_equal(inputs.image(base), inputs.image(other)):
        raise ProbecheckError(
            f"{what} {other!r} has the same pixels as image {base!r}: the check would compare "
            "a picture with itself and measure nothing",
            fix=fix,
        )


def _read_only(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The spec's own copy, read-only: every claim reads it, so its digest is computed once
    (:func:`probecheck.zoo.images.image_digest`)."""
    owned = rgb if rgb.flags.owndata else rgb.copy()
    owned.setflags(write=False)
    return owned
