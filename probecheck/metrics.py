"""The checks' numbers, as pure float64 functions of activation arrays.

``A`` is a (C, h, w) activation stack of one layer for one image; ``w`` is an (h, w) weight map
in [0, 1] — the fraction of each cell inside the region (``regions.area_fractions``).

Conventions for undefined values (a report shows them; a comparison with nan is False):
- ``region_means``: raises where the region misses the map; mean_out is nan where it covers it.
- ``drop``: nan where the image's mean_in is 0 (``silent`` says why the claim fails).
- ``selectivity_ratio``: inf where the channel fires only inside; 0 where it never fires
  (a channel silent everywhere is not selective).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.transform import resize

__all__ = [
    "REQUIRE_MODES",
    "RegionDrop",
    "channel_peaks",
    "channel_ranking",
    "combine",
    "combine_values",
    "drop",
    "iou",
    "iou_all",
    "map_peak",
    "map_peak_in_image",
    "occlusion_map",
    "occlusion_starts",
    "region_drop",
    "region_means",
    "selectivity_ratio",
    "silent",
    "strongest",
]

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

REQUIRE_MODES: tuple[str, ...] = ("all", "any", "mean")

# iou_all resizes channels in chunks of at most this many upsampled values (128 MiB of float64),
# so a 1000-channel layer on a large image does not need gigabytes at once.
_IOU_CHUNK_VALUES = 1 << 24


def _stack(A: ArrayLike) -> Floats:
    stack = np.asarray(A, dtype=np.float64)
    if stack.ndim != 3:
        raise ValueError(f"activations must be (C, h, w), got shape {stack.shape}")
    return stack


def _weights(w: ArrayLike, stack: Floats) -> Floats:
    weights = np.asarray(w, dtype=np.float64)
    if weights.shape != stack.shape[1:]:
        raise ValueError(
            f"weight map shape {weights.shape} differs from the activation map {stack.shape[1:]}"
        )
    return weights


def region_means(A: ArrayLike, w: ArrayLike) -> tuple[Floats, Floats]:
    """Per-channel area-weighted means inside and outside the region, shape (C,) each.

    mean_in = Σ w·A / Σ w and mean_out = Σ (1−w)·A / Σ (1−w); mean_out is nan when the region
    covers the whole map (there is no outside).
    """
    stack = _stack(A)
    weights = _weights(w, stack)
    total_in = weights.sum()
    if total_in <= 0:
        raise ValueError("region does not overlap the activation map")
    mean_in = np.einsum("chw,hw->c", stack, weights) / total_in
    outside = 1.0 - weights
    total_out = outside.sum()
    if total_out <= 0:
        mean_out = np.full(stack.shape[0], np.nan)
    else:
        mean_out = np.einsum("chw,hw->c", stack, outside) / total_out
    return mean_in, mean_out


def drop(mean_in_image: ArrayLike, mean_in_altered: ArrayLike) -> Floats:
    """Relative drop (image − altered) / image, elementwise; nan where image is 0.

    A negative base (a pre-ReLU channel whose region mean is below 0) gives a number without
    meaning; ``silent`` flags those channels, and callers report silence instead.
    """
    base = np.asarray(mean_in_image, dtype=np.float64)
    altered = np.asarray(mean_in_altered, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (base - altered) / base
    return np.where(base == 0, np.nan, out)


@dataclass(frozen=True)
class RegionDrop:
    """Per channel: the region's mean before and after removal, the drop, and silence.

    The drop check, its control and ``find`` all measure drops this way, so the silence rule
    lives here once.
    """

    mean_in: Floats
    mean_in_altered: Floats
    drop: Floats  # nan where mean_in is 0
    silent: Bools

    @functools.cached_property
    def drop_or_zero(self) -> Floats:
        """The drop, with 0 for silent channels: no activity in the region, nothing to drop.
        Made once (claims about other channels read the same drops), and read-only."""
        found = np.where(self.silent, 0.0, self.drop)
        found.flags.writeable = False
        return found


def region_drop(A: ArrayLike, A_altered: ArrayLike, w: ArrayLike, peak: ArrayLike) -> RegionDrop:
    """The drop of each channel's mean over region ``w`` from ``A`` to ``A_altered``.

    ``peak`` is each channel's peak on the original image (:func:`channel_peaks`); a channel is
    silent in the region where its mean there is at most 1e-6 of that peak.
    """
    mean_in = region_means(A, w)[0]
    mean_in_altered = region_means(A_altered, w)[0]
    return RegionDrop(
        mean_in, mean_in_altered, drop(mean_in, mean_in_altered), silent(mean_in, peak)
    )


def channel_peaks(A: ArrayLike) -> Floats:
    """Per-channel maximum over the map, shape (C,)."""
    stack = _stack(A)
    return stack.reshape(stack.shape[0], -1).max(axis=1)


def silent(mean_in: ArrayLike, peak: ArrayLike, rel: float = 1e-6) -> Bools:
    """True where a channel is too quiet in the region for a drop to mean anything.

    That is mean_in ≤ rel·peak (peak: ``channel_peaks`` of the original image), or the channel
    never fires at all (peak ≤ 0).
    """
    inside = np.asarray(mean_in, dtype=np.float64)
    peaks = np.asarray(peak, dtype=np.float64)
    return (inside <= rel * peaks) | (peaks <= 0)


def selectivity_ratio(A: ArrayLike, w: ArrayLike) -> Floats:
    """mean_in / mean_out of max(A, 0), shape (C,): how much more the channel fires inside.

    inf where the channel fires only inside (mean_out 0, mean_in > 0); 0 where it fires
    nowhere; nan where the region covers the whole map.
    """
    mean_in, mean_out = region_means(np.maximum(_stack(A), 0.0), w)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean_in / mean_out
    ratio = np.where((mean_out == 0) & (mean_in > 0), np.inf, ratio)
    return np.where((mean_out == 0) & (mean_in == 0), 0.0, ratio)


def _check_quantile(quantile: float) -> float:
    q = float(quantile)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    return q


def _iou_chunk(maps: Floats, region: Bools, q: float) -> Floats:
    """IoU of each of the (h, w, k) maps, upsampled to the region's shape, with the region."""
    height, width = region.shape
    # output_shape without the last axis keeps it as channels: one resize for the chunk
    up = resize(
        maps, (height, width), order=1, mode="edge", anti_aliasing=False, preserve_range=True
    ).reshape(height * width, -1)
    thresholds = np.quantile(up, q, axis=0)
    hot = up > thresholds
    # ties at the threshold (a flat map, or q = 1) can leave nothing above it: keep the ties
    empty = ~hot.any(axis=0)
    if empty.any():
        hot[:, empty] = up[:, empty] >= thresholds[empty]
    inside = region.reshape(-1, 1)
    intersection = (hot & inside).sum(axis=0)
    union = (hot | inside).sum(axis=0)
    return intersection / np.maximum(union, 1)


def iou_all(A: ArrayLike, region_mask: ArrayLike, quantile: float) -> Floats:
    """Network Dissection IoU of every channel with the region, shape (C,).

    Each map is upsampled to the image (bilinear, no anti-aliasing) and thresholded so that
    its top (1 − quantile) fraction is kept: ``up > np.quantile(up, quantile)``, or ``>=``
    where ties leave nothing strictly above. The IoU with the region is 0 for an empty region.
    """
    stack = _stack(A)
    region = np.asarray(region_mask) != 0
    if region.ndim != 2:
        raise ValueError(f"region mask must be 2-D (H, W), got shape {region.shape}")
    q = _check_quantile(quantile)
    maps = np.moveaxis(stack, 0, -1)
    chunk = max(1, _IOU_CHUNK_VALUES // region.size)
    parts = [
        _iou_chunk(maps[..., start : start + chunk], region, q)
        for start in range(0, maps.shape[-1], chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def iou(channel_map: ArrayLike, region_mask: ArrayLike, quantile: float) -> float:
    """Network Dissection IoU of one (h, w) map with the region; see ``iou_all``."""
    single = np.asarray(channel_map, dtype=np.float64)
    if single.ndim != 2:
        raise ValueError(f"channel map must be 2-D (h, w), got shape {single.shape}")
    return float(iou_all(single[np.newaxis], region_mask, quantile)[0])


def channel_ranking(A: ArrayLike, w: ArrayLike | None = None) -> NDArray[np.intp]:
    """Channel indices, strongest first: by peak, or by region mean where ``w`` is given.

    Ties keep the lower index first; nan scores go last.
    """
    stack = _stack(A)
    scores = channel_peaks(stack) if w is None else region_means(stack, w)[0]
    return np.argsort(-scores, kind="stable")


def strongest(A: ArrayLike, w: ArrayLike | None = None) -> int:
    """The index of the strongest channel (see ``channel_ranking``)."""
    return int(channel_ranking(A, w)[0])


def combine(passed: ArrayLike, require: str) -> bool:
    """Combine per-channel verdicts: 'all' or 'any'.

    'mean' combines the measured values, not the verdicts: use ``combine_values`` and compare
    its result with the threshold.
    """
    verdicts = np.asarray(passed, dtype=bool)
    if require == "all":
        return bool(verdicts.all())
    if require == "any":
        return bool(verdicts.any())
    if require == "mean":
        raise ValueError("require 'mean' combines values, not verdicts: use combine_values")
    raise ValueError(f"unknown require {require!r}; choose one of {', '.join(REQUIRE_MODES)}")


def combine_values(
    values: Sequence[float] | ArrayLike, require: str, *, higher_is_better: bool = True
) -> float:
    """One number that stands for the channels' values under ``require``.

    'mean' is the mean of the values (e.g. the mean drop, then compared with at_least);
    'all' is the worst value and 'any' the best, so comparing it with the threshold gives the
    same verdict as ``combine``. A nan value (a silent channel) makes 'mean' and 'all' nan.
    """
    vals = np.asarray(values, dtype=np.float64).ravel()
    if vals.size == 0:
        raise ValueError("no values to combine")
    if require == "mean":
        return float(vals.mean())
    if require not in ("all", "any"):
        raise ValueError(f"unknown require {require!r}; choose one of {', '.join(REQUIRE_MODES)}")
    if np.isnan(vals).any():
        if require == "all" or np.isnan(vals).all():
            return float("nan")
        vals = vals[~np.isnan(vals)]
    worst_is_min = higher_is_better == (require == "all")
    return float(vals.min() if worst_is_min else vals.max())


def occlusion_starts(length: int, patch: int, stride: int) -> list[int]:
    """Where patches start along an axis of ``length`` pixels: Captum's ``Occlusion`` sweep.

    ceil((length − patch) / stride) + 1 starts, ``stride`` apart; the last patch is clipped at
    the edge, so every pixel is covered. Needs 1 ≤ stride ≤ patch ≤ length.
    """
    if not 1 <= stride <= patch <= length:
        raise ValueError(
            f"need 1 ≤ stride ≤ patch ≤ {length} (the input's side), got patch {patch}, "
            f"stride {stride}"
        )
    count = -(-(length - patch) // stride) + 1
    return [i * stride for i in range(count)]


def _coverage(starts: Sequence[int], patch: int, length: int) -> Floats:
    """(positions, length) indicator: which pixels each patch start covers."""
    cover = np.zeros((len(starts), length))
    for i, start in enumerate(starts):
        cover[i, start : start + patch] = 1.0
    return cover


def occlusion_map(
    drops: ArrayLike,
    starts_y: Sequence[int],
    starts_x: Sequence[int],
    patch: int,
    shape: tuple[int, int],
) -> Floats:
    """Per-pixel sensitivity from per-position drops (..., ny, nx), as Captum's ``Occlusion``.

    Each pixel gets the sum of the drops of the patches covering it, divided by how many cover
    it. Patches are rectangles, so the sum is ``Ryᵀ · drops · Rx`` with 0/1 coverage matrices.
    """
    grid = np.asarray(drops, dtype=np.float64)
    rows = _coverage(starts_y, patch, shape[0])
    cols = _coverage(starts_x, patch, shape[1])
    total = np.einsum("...ij,iy,jx->...yx", grid, rows, cols, optimize=True)
    counts = np.outer(rows.sum(axis=0), cols.sum(axis=0))
    return total / counts


def map_peak(values: ArrayLike) -> tuple[int, int]:
    """(row, col) of a map's maximum; where it is a plateau, its pixel nearest the centroid.

    Overlapping patches make plateaus, and the first pixel of one would sit on its corner.
    """
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 2:
        raise ValueError(f"map must be 2-D, got shape {grid.shape}")
    top = np.nanmax(grid)
    rows, cols = np.nonzero(grid == top)
    nearest = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
    return int(rows[nearest]), int(cols[nearest])


def map_peak_in_image(values: ArrayLike, image_shape: tuple[int, ...]) -> tuple[int, int]:
    """(x, y) in the image's pixels of the peak of a map made at another size (the network's
    input): the centre of the peak's map pixel, scaled, clipped inside the image."""
    grid = np.asarray(values)
    row, col = map_peak(grid)
    height, width = grid.shape
    x = min(int((col + 0.5) * image_shape[1] / width), image_shape[1] - 1)
    y = min(int((row + 0.5) * image_shape[0] / height), image_shape[0] - 1)
    return x, y
