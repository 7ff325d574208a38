"""Masking: remove a region from an image, to build the "altered" image of a causal check.

Every method returns a new uint8 image that differs from the input only inside the mask.
"""

from __future__ import annotations

import sys

import numpy as np
from numpy.typing import NDArray
from skimage.filters import gaussian
from skimage.restoration import inpaint_biharmonic

from probecheck import disk_cache
from probecheck.spec.kinds.drop import MASK_METHODS

__all__ = ["MASK_METHODS", "NOISE_SEED", "blur_sigma", "filled_image", "mask_image"]

#: The seed of ``noise`` masking wherever a claim or ``find`` masks a region: reproducible.
NOISE_SEED = 0

Image8 = NDArray[np.uint8]
BoolMask = NDArray[np.bool_]

_INPAINT_PAD = 8  # context pixels around the hole that inpainting sees
_GRAY = 128


def _bbox(mask: BoolMask) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of the mask's bounding box, ends exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _padded(
    box: tuple[int, int, int, int], pad: int, shape: tuple[int, ...]
) -> tuple[slice, slice]:
    r0, r1, c0, c1 = box
    return (
        slice(max(r0 - pad, 0), min(r1 + pad, shape[0])),
        slice(max(c0 - pad, 0), min(c1 + pad, shape[1])),
    )


def _to_uint8(values: NDArray) -> Image8:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _inpaint(image: Image8, mask: BoolMask) -> NDArray:
    """Biharmonic inpainting on a crop around the hole: the hole only sees nearby context."""
    crop = _padded(_bbox(mask), _INPAINT_PAD, image.shape)
    filled = inpaint_biharmonic(image[crop].astype(np.float64) / 255.0, mask[crop], channel_axis=-1)
    out = image.astype(np.float64)
    out[crop] = filled * 255.0
    return out


def blur_sigma(height: float, width: float) -> float:
    """The blur for a region of this size: strong enough to wipe out its detail."""
    return max(2.0, 0.25 * min(height, width))


def _blur(image: Image8, mask: BoolMask) -> NDArray:
    """A Gaussian blur scaled to the region: strong enough to wipe out its detail."""
    r0, r1, c0, c1 = box = _bbox(mask)
    sigma = blur_sigma(r1 - r0, c1 - c0)
    crop = _padded(box, int(np.ceil(4 * sigma)), image.shape)  # the kernel's reach
    blurred = gaussian(
        image[crop].astype(np.float64), sigma=sigma, channel_axis=-1, preserve_range=True
    )
    out = image.astype(np.float64)
    out[crop] = blurred
    return out


def _fill(image: Image8, mask: BoolMask, method: str, seed: int) -> NDArray:
    if method == "inpaint":
        return _inpaint(image, mask)
    if method == "blur":
        return _blur(image, mask)
    if method == "mean":
        return np.broadcast_to(image.reshape(-1, 3).mean(axis=0), image.shape)
    if method == "gray":
        return np.full(image.shape, _GRAY, dtype=np.float64)
    # noise: drawn for the whole image, so a pixel's noise depends on the seed, not the region
    return np.random.default_rng(seed).integers(0, 256, size=image.shape, dtype=np.uint8)


def mask_image(image: Image8, mask: BoolMask, method: str, *, seed: int = NOISE_SEED) -> Image8:
    """A copy of ``image`` (H, W, 3 uint8) with the pixels under ``mask`` replaced.

    Methods: inpaint (biharmonic, from the surroundings), blur, mean (the image's mean
    colour), gray (128), noise (uniform 0..255, reproducible from ``seed``).
    """
    if method not in MASK_METHODS:
        raise ValueError(f"unknown mask method {method!r}; choose one of {', '.join(MASK_METHODS)}")
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(
            f"image must be an (H, W, 3) uint8 array, got {pixels.dtype} {pixels.shape}"
        )
    region = np.asarray(mask)
    if region.shape != pixels.shape[:2]:
        raise ValueError(
            f"mask shape {region.shape} differs from the image shape {pixels.shape[:2]}"
        )
    region = region != 0
    stored = disk_cache.active() if method in STORED_METHODS and region.any() else None
    if stored is not None:
        key = _stored_key(pixels, region, method)
        cached = stored.get(key)
        if cached is not None and cached.shape == pixels.shape and cached.dtype == np.uint8:
            return cached
    out = pixels.copy()
    if region.any():
        out[region] = _to_uint8(_fill(pixels, region, method, seed)[region])
    if stored is not None:
        stored.put(key, out)
    return out


#: The methods whose results the disk cache keeps: the others cost less than reading a file.
STORED_METHODS = ("inpaint", "blur")


def _stored_key(pixels: Image8, region: BoolMask, method: str) -> dict[str, object]:
    """Everything a masked image depends on: the disk cache's key (:mod:`disk_cache`)."""
    import hashlib

    import skimage

    image = hashlib.sha256(str(pixels.shape).encode() + np.ascontiguousarray(pixels).tobytes())
    mask = hashlib.sha256(str(region.shape).encode() + np.packbits(region).tobytes())
    return {
        "kind": "masked",
        "image": image.hexdigest(),
        "mask": mask.hexdigest(),
        "method": method,
        "code": disk_cache.code_digest(sys.modules[__name__]),
        "numpy": np.__version__,
        "skimage": skimage.__version__,
    }


def filled_image(image: Image8, method: str, *, size: float) -> Image8:
    """The whole image as ``method`` would fill a region of ``size`` pixels across.

    Occlusion copies its patches from this image: mean (the image's mean colour), gray (128), or
    blur (the image blurred as ``mask_image`` blurs a region of that size).
    """
    pixels = np.asarray(image)
    if method == "blur":
        sigma = blur_sigma(size, size)
        blurred = gaussian(
            pixels.astype(np.float64), sigma=sigma, channel_axis=-1, preserve_range=True
        )
        return _to_uint8(blurred)
    if method in ("mean", "gray"):
        return _to_uint8(_fill(pixels, np.ones(pixels.shape[:2], bool), method, NOISE_SEED))
    raise ValueError(f"unknown fill {method!r}; choose one of mean, gray, blur")
