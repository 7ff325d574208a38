"""Images in any form a user has them → one uint8 RGB array (H, W, 3).

Paths, PIL images and arrays all work; gray, gray+alpha, RGBA, palette, CMYK, 16-bit and float
images become 8-bit RGB, so every later step can assume one format. Files are read by
:func:`read_image_file`, the one door for every image and mask a user names: it refuses
decompression bombs before decoding, turns the EXIF orientation into the pixels (a photo is used
upright, as every viewer shows it, and region coordinates are pixels of that upright image), and
names the file in every error.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
import weakref
from pathlib import Path
from typing import Union

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from probecheck.errors import ProbecheckError
from probecheck.image_files import unreadable_reason

ImageLike = Union[str, Path, Image.Image, NDArray]  # noqa: UP007 - runtime alias

#: The most pixels (width × height) an image file may have; a larger one is refused unread.
DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_ENV = "PROBECHECK_MAX_PIXELS"

#: the first bytes of the formats a user is likely to give, to tell "damaged" from "not an image"
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def max_pixels() -> int:
    """The pixel bound: ``PROBECHECK_MAX_PIXELS`` where set, else 50 megapixels."""
    given = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not given:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(given.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ProbecheckError(
            f"{MAX_PIXELS_ENV}={given!r} is not a positive whole number of pixels",
            fix=f"set it to e.g. {DEFAULT_MAX_PIXELS} or unset it",
        )
    return value


def read_image_file(path: str | os.PathLike[str], *, what: str = "image") -> Image.Image:
    """Open, bound, decode and orient an image file; every failure names the file.

    The size is checked from the header, before a pixel is decoded: a small file that claims
    to be huge (a decompression bomb) costs nothing. ``what`` ("image", "mask") words errors.
    """
    path = Path(path)
    limit = max_pixels()
    image: Image.Image | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # bounded below
            image = Image.open(path)
            width, height = image.size
            if width * height > limit:
                raise _bomb(path, what, f"{width}×{height} = {width * height:,} pixels", limit)
            if image.format == "PNG":  # Pillow skips the data's checksums when it decodes
                image.verify()  # a damaged PNG could otherwise give wrong pixels silently
                image.close()
                image = Image.open(path)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
    except Exception as error:
        if image is not None:
            image.close()
        raise _read_error(path, what, limit, error) from None
    return image


def _read_error(path: Path, what: str, limit: int, error: Exception) -> ProbecheckError:
    """The user's view of a failure to read ``path``: what, which file, why, and the fix."""
    if isinstance(error, ProbecheckError):
        return error
    if isinstance(error, FileNotFoundError):
        return ProbecheckError(
            f"{what} {path} does not exist",
            fix="check the path (paths in a spec are relative to the spec file)",
        )
    if isinstance(error, Image.DecompressionBombError):  # Pillow's own, harder limit
        counted = re.search(r"\((\d+) pixels\)", str(error))
        pixels = f"{int(counted[1]):,} pixels" if counted else "larger than Pillow decodes"
        return _bomb(path, what, pixels, limit)
    # decoders raise OSError, ValueError, SyntaxError, EOFError, struct.error…
    return ProbecheckError(
        f"cannot read {what} {path}: {unreadable_reason(path, error)}",
        fix="give a PNG, JPEG, TIFF, BMP or WebP file that opens in an image viewer",
    )


def _bomb(path: Path, what: str, pixels: str, limit: int) -> ProbecheckError:
    size = path.stat().st_size if path.is_file() else 0
    return ProbecheckError(
        f"{what} {path} is {pixels} in a {size:,}-byte file, "
        f"over the limit of {limit:,} pixels (a decompression bomb, or a needlessly large image)",
        fix=f"scale it down (the network sees it at a few hundred pixels a side), or raise the "
        f"limit with {MAX_PIXELS_ENV}=<pixels> if the image is genuine",
    )


def load_image(image: ImageLike) -> NDArray[np.uint8]:
    """Return ``image`` as a contiguous uint8 RGB array of shape (H, W, 3)."""
    if isinstance(image, (str, Path)):
        with read_image_file(image) as opened:
            return _from_pil(opened)
    if isinstance(image, Image.Image):
        return _from_pil(image)
    return _from_array(np.asarray(image))


def _from_pil(image: Image.Image) -> NDArray[np.uint8]:
    if image.mode in _SIXTEEN_BIT_MODES:  # the mode says 16 bits, however dark the pixels
        sixteen = np.asarray(image).astype(np.float64)
        return _from_array(np.rint(sixteen / 65535.0 * 255.0).astype(np.uint8))
    if image.mode in ("I", "F"):
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
    """A content hash of an RGB array: the cache key of an image.

    The digest of a read-only array that owns its pixels is remembered while the array lives
    (a spec's images are asked for it at every claim): such an array cannot change unless
    someone makes it writable again, which nothing here does.
    """
    frozen = not rgb.flags.writeable and rgb.flags.owndata
    if frozen:
        known = _DIGESTS.get(id(rgb))
        if known is not None and known[0]() is rgb:
            return known[1]
    digest = hashlib.sha256()
    digest.update(str(rgb.shape).encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    text = digest.hexdigest()
    if frozen:
        if len(_DIGESTS) > _DIGESTS_KEPT:  # forget the arrays that are gone
            for key in [k for k, (ref, _) in _DIGESTS.items() if ref() is None]:
                del _DIGESTS[key]
        _DIGESTS[id(rgb)] = (weakref.ref(rgb), text)
    return text


_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}
_DIGESTS_KEPT = 256


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
