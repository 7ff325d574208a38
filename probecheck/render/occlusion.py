"""Occlusion maps drawn over their image: where does covering the picture move the region?

The map (at the network's input resolution) is resized to the image, scaled 0 = no change to
1 = the largest drop (negative values, where covering raises the region, show as 0), coloured
and blended over the photo; the region is outlined and the peak marked with a cross.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from skimage.draw import line
from skimage.transform import resize

from probecheck.regions import outline
from probecheck.render.montage import colorize

__all__ = ["occlusion_overlay"]

REGION_RGB = (40, 230, 40)
PEAK_RGB = (0, 200, 255)
ALPHA = 0.6  # weight of the map against the photo


def _scaled(sensitivity: NDArray, shape: tuple[int, int]) -> NDArray[np.float64]:
    values = np.asarray(sensitivity, dtype=np.float64)
    big = resize(values, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
    top = float(np.nanmax(big))
    return np.clip(big / top, 0.0, 1.0) if top > 0 else np.zeros(shape)


def occlusion_overlay(
    image: NDArray[np.uint8],
    sensitivity: NDArray,
    *,
    region: NDArray[np.bool_] | None = None,
    peak: tuple[int, int] | None = None,
) -> NDArray[np.uint8]:
    """``image`` (H, W, 3) with the map blended over it; ``peak`` is (x, y) in image pixels."""
    height, width = image.shape[:2]
    heat = colorize(_scaled(sensitivity, (height, width))).astype(np.float64)
    out = np.rint((1 - ALPHA) * image.astype(np.float64) + ALPHA * heat).astype(np.uint8)
    if region is not None:
        out[outline(region, mode="thick")] = REGION_RGB
    if peak is not None:
        x, y = peak
        arm = max(3, min(height, width) // 30)
        for y0, x0, y1, x1 in ((y - arm, x, y + arm, x), (y, x - arm, y, x + arm)):
            rr, cc = line(
                int(np.clip(y0, 0, height - 1)),
                int(np.clip(x0, 0, width - 1)),
                int(np.clip(y1, 0, height - 1)),
                int(np.clip(x1, 0, width - 1)),
            )
            out[rr, cc] = PEAK_RGB
    return out
