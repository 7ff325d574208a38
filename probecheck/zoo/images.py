"""Images in any form a user has them → one uint8 RGB array (H, W, 3).

Paths, PIL images and arrays all work; gray, gray+alpha, RGBA, palette, 16-bit and float images
become 8-bit RGB, so every later step can assume one format.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from probecheck.errors import ProbecheckError

ImageLike = Union[str, Path, Image.Image, NDArray]  # noqa: UP007 - runtime alias


def load_image(image: ImageLike) -> NDArray[np.uint8]:
    """Return ``image`` as a contiguous uint8 RGB array of shape (H, W, 3)."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        try:
            with Image.open(path) as opened:
                opened.load()
                return _from_pil(opened)
        except FileNotFoundError:
            raise ProbecheckError(f"image {path} does not exist", fix="check the path") from None
        except OSError as error:
            raise ProbecheckError(
                f"cannot read image {path}: {error}", fix="give a PNG or JPEG file"
            ) from None
    if isinstance(image, Image.Image):
        return _from_pil(image)
    return _from_array(np.asarray(image))


def _from_pil(image: Image.Image) -> NDArray[np.uint8]:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _from_array(np.asarray(image))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _to_uint8(array: NDArray) -> NDArray[np.uint8]:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        scaled = array * 255.0 if array.size and float(np.nanmax(array)) <= 1.0 else array
        return np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        top = int(array.max()) if array.size else 0
        if top > 255:  # 16-bit (or wider) image: keep the full range
            bits = 16 if top <= 65535 else int(np.ceil(np.log2(top + 1)))
            return (array.astype(np.float64) / (2**bits - 1) * 255).round().astype(np.uint8)
        return np.clip(array, 0, 255).astype(np.uint8)
    raise ProbecheckError(f"cannot use an array of dtype {array.dtype} as an image")


def _from_array(array: NDArray) -> NDArray[np.uint8]:
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ProbecheckError(
            f"an image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {array.shape}"
        )
    channels = array.shape[2]
    if channels in (2, 4):  # drop alpha, composite on white
        # alpha is scaled by its type's range (as colour is), not by its own maximum:
        # a uniformly half-transparent uint8 image must not come out opaque
        alpha = _to_uint8(array[..., -1:]).astype(np.float64) / 255.0
        colour = _to_uint8(array[..., :-1]).astype(np.float64)
        array = np.rint(colour * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    rgb = _to_uint8(array)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return np.ascontiguousarray(rgb)


def image_digest(rgb: NDArray[np.uint8]) -> str:
    """A content hash of an RGB array: the cache key of an image."""
    digest = hashlib.sha256()
    digest.update(str(rgb.shape).encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.hexdigest()


def require_same_size(
    base: NDArray[np.uint8], other: NDArray[np.uint8], what: str
) -> NDArray[np.uint8]:
    """``other`` if it has ``base``'s size; an altered image must be the same photo, edited."""
    if base.shape != other.shape:
        raise ProbecheckError(
            f"{what} is {other.shape[1]}×{other.shape[0]} but the image is "
            f"{base.shape[1]}×{base.shape[0]}",
            fix="an altered image must be the same photo with only the region changed",
        )
    return other
