"""Regions: rasterise spec shapes to pixel masks and map them onto activation grids.

Pure numpy / scikit-image; no torch and no knowledge of specs. A region is always a bool H×W
array in the pixel coordinates of the image it is used with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np
from numpy.typing import NDArray
from skimage import draw
from skimage.segmentation import find_boundaries

from probecheck.zoo.images import read_image_file

__all__ = ["MaskBox", "area_fractions", "load_mask_png", "outline", "rasterise"]

BoolMask = NDArray[np.bool_]


def _box_span(lo: float, hi: float, size: int) -> slice:
    """Pixels p with lo <= p < hi (exclusive end), clipped to [0, size)."""
    start = min(max(math.ceil(lo), 0), size)
    stop = min(max(math.ceil(hi), 0), size)
    return slice(start, max(start, stop))


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or any(int(n) <= 0 for n in shape):
        raise ValueError(f"shape must be (height, width) with positive sizes, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def rasterise(
    shape: tuple[int, int],
    *,
    boxes: Iterable[Sequence[float]] = (),
    ellipses: Iterable[Sequence[float]] = (),
    polygons: Iterable[Sequence[Sequence[float]]] = (),
    mask: NDArray | None = None,
) -> BoolMask:
    """The union of all shapes as a bool H×W mask.

    boxes ``[x0, y0, x1, y1]`` (x1, y1 exclusive), ellipses ``[cx, cy, rx, ry]``, polygons
    ``[[x, y], ...]`` — x is the column and y the row; everything is clipped to the image.
    ``mask`` is an H×W array, non-zero = inside, and must have exactly ``shape``.
    """
    height, width = _check_shape(shape)
    out = np.zeros((height, width), dtype=bool)
    for box in boxes:
        if len(box) != 4:
            raise ValueError(f"a box is [x0, y0, x1, y1], got {list(box)}")
        x0, y0, x1, y1 = (float(v) for v in box)
        out[_box_span(y0, y1, height), _box_span(x0, x1, width)] = True
    for ellipse in ellipses:
        if len(ellipse) != 4:
            raise ValueError(f"an ellipse is [cx, cy, rx, ry], got {list(ellipse)}")
        cx, cy, rx, ry = (float(v) for v in ellipse)
        if rx <= 0 or ry <= 0:
            raise ValueError(f"ellipse radii must be positive, got rx={rx}, ry={ry}")
        rr, cc = draw.ellipse(cy, cx, ry, rx, shape=(height, width))
        out[rr, cc] = True
    for polygon in polygons:
        points = np.asarray(polygon, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 3:
            raise ValueError(f"a polygon is a list of at least 3 [x, y] points, got {polygon!r}")
        rr, cc = draw.polygon(points[:, 1], points[:, 0], shape=(height, width))
        out[rr, cc] = True
    if mask is not None:
        given = np.asarray(mask)
        if given.shape != (height, width):
            raise ValueError(
                f"mask shape {given.shape} differs from the image shape {(height, width)}"
            )
        out |= given != 0
    return out


def load_mask_png(path: str | PathLike[str]) -> BoolMask:
    """Read a mask image: a pixel is inside where any colour channel is non-zero.

    Alpha is ignored, unless the colour channels are zero everywhere and alpha varies — an
    "alpha-only" mask as drawn on a transparent layer — and then non-zero alpha is inside.
    Palette images are read by their colours (not their indices). The file is read as images
    are (:func:`~probecheck.zoo.images.read_image_file`): size-bounded and turned upright by its
    EXIF orientation, so a mask lines up with an image saved by the same camera or editor.
    """
    img = read_image_file(path, what="mask")  # bounded, upright, errors that name the file
    with img:
        if img.mode in ("P", "PA"):
            keep_alpha = img.mode == "PA" or "transparency" in img.info
            img = img.convert("RGBA" if keep_alpha else "RGB")
        elif img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            img = img.convert("RGB")
        bands = img.getbands()
        pixels = np.asarray(img)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    is_alpha = np.array([band == "A" for band in bands])
    colour = pixels[..., ~is_alpha]
    inside = (colour != 0).any(axis=-1)
    if is_alpha.any() and not inside.any():
        alpha = pixels[..., is_alpha]
        if alpha.min() != alpha.max():
            inside = (alpha != 0).any(axis=-1)
    return inside


def _overlap_matrix(cells: int, pixels: int, span: slice | None = None) -> NDArray[np.float64]:
    """cells×pixels overlap lengths between grid cells and pixels, in units of 1/cells pixel.

    Scaling both axes by ``cells`` puts pixel p on [p*cells, (p+1)*cells) and cell i on
    [i*pixels, (i+1)*pixels): all endpoints are integers, so the overlaps are exact.
    ``span`` keeps only the pixels in it (the columns of that slice).
    """
    start, stop = (0, pixels) if span is None else (span.start, span.stop)
    cell = np.arange(cells, dtype=np.int64)[:, None]
    pix = np.arange(start, stop, dtype=np.int64)[None, :]
    lo = np.maximum(cell * pixels, pix * cells)
    hi = np.minimum((cell + 1) * pixels, (pix + 1) * cells)
    return np.clip(hi - lo, 0, None).astype(np.float64)


def area_fractions(mask: NDArray, grid: tuple[int, int]) -> NDArray[np.float64]:
    """The fraction of each cell of an h×w activation grid that lies inside the region.

    The whole H×W image maps uniformly onto the grid (the model sees the whole image resized),
    and pixels that straddle a cell boundary count by their overlap. Exact up to one rounding:
    the overlaps are integers (see ``_overlap_matrix``), so ``Ry @ mask @ Rx.T`` is an exact
    integer sum whenever it is below 2**53, and one division by the cell area follows.
    """
    return MaskBox.of(mask).fractions(grid)


@dataclass(frozen=True)
class MaskBox:
    """A region's bounding box and the pixels in it, read once for its area fractions on
    several grids (``fractions``: ``area_fractions`` without reading the whole mask again)."""

    shape: tuple[int, int]
    rows: slice | None  # None: the region is empty
    cols: slice | None
    box: NDArray[np.float64] | None  # the mask inside the box, as 0.0 / 1.0

    @classmethod
    def of(cls, mask: NDArray) -> MaskBox:
        region = np.asarray(mask)
        if region.ndim != 2:
            raise ValueError(f"mask must be 2-D (H, W), got shape {region.shape}")
        inside = region != 0
        shape = (int(region.shape[0]), int(region.shape[1]))
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        if rows.size == 0:
            return cls(shape, None, None, None)
        ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        return cls(shape, ys, xs, inside[ys, xs].astype(np.float64))

    def fractions(self, grid: tuple[int, int]) -> NDArray[np.float64]:
        """``area_fractions`` of the mask on ``grid``."""
        cells_y, cells_x = _check_shape(grid)
        height, width = self.shape
        out = np.zeros((cells_y, cells_x))
        if self.box is None:
            return out
        # Only the region's bounding box, and the cells it touches, add to the sums (the rest
        # is zeros): the same exact integers at a fraction of the cost, and in numpy's own
        # loops (einsum), not BLAS, whose threads stall for milliseconds on cores torch has
        # just used.
        ry = _overlap_matrix(cells_y, height, self.rows)
        rx = _overlap_matrix(cells_x, width, self.cols)
        cy, cx = np.flatnonzero(ry.any(axis=1)), np.flatnonzero(rx.any(axis=1))
        cys, cxs = slice(cy[0], cy[-1] + 1), slice(cx[0], cx[-1] + 1)
        partial = np.einsum("ip,pq->iq", ry[cys], self.box)
        # A cell spans `height` units of 1/cells_y row and `width` units of 1/cells_x column.
        out[cys, cxs] = np.einsum("iq,jq->ij", partial, rx[cxs]) / float(height * width)
        return out


def outline(mask: NDArray, *, mode: str = "inner") -> BoolMask:
    """The region's boundary pixels, for drawing it on the image.

    ``mode`` is find_boundaries' mode; "inner" keeps the line on the region's own pixels.
    """
    return find_boundaries(np.asarray(mask) != 0, mode=mode)
