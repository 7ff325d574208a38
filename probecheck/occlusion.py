"""Occlusion maps: slide a patch over the input and watch one region's mean activation.

The sweep is Captum's ``Occlusion`` on the network's input (the preprocessed image, e.g.
227×227): patch and stride are input pixels, starts ``stride`` apart and the last patch clipped
at the edge (:func:`metrics.occlusion_starts`). A patch is filled from the image filled by
:func:`masking.filled_image` (mean colour, gray or blur), preprocessed like the image. For every
position the drop of each channel's region mean (area-weighted, as ``metrics.region_means``) is
``base − occluded``; the per-pixel map averages the drops of the patches covering each pixel
(:func:`metrics.occlusion_map`).

Only the forward passes that can change the answer are run, and the answer stays exact:
- the geometry of the layer (receptive field size, jump and offset per axis) is derived by
  walking the modules up to it; a patch outside the receptive field of every region cell cannot
  change the region, so its drop is exactly 0 and it is not run;
- the region's cells depend only on a bounded crop of the input, so the network runs on that
  crop, its start aligned to the layer's jump so that its cells coincide with the full image's;
  a crop edge on the image edge keeps the network's own padding and ceil-mode pooling edges;
- the crop's unoccluded cells are compared with the full image's before any occluded batch is
  trusted; a network that cannot be analysed (or fails that comparison) runs whole occluded
  images instead — slower, still exact.
- within the crop, a patch changes only the cone of cells above it: only that cone is recomputed,
  node by node, from the unoccluded maps with the changed cells spliced in (:mod:`probecheck.cone`,
  for the networks whose geometry is derived; its unoccluded cells are checked the same way).
Forwards are batched, truncated after the layer and run under ``torch.inference_mode``.

Exactness: the drops equal a one-position-at-a-time forward of the whole occluded image up to the
order of float32 sums — the convolution kernels block a tile and a whole map differently, so the
last bits of a cell may differ (about 5e-7 of the largest drop on SqueezeNet; tests allow 1e-4).

A sweep run before is read from the persistent cache (:mod:`probecheck.disk_cache`) before the
network is touched: importing this module and answering a stored sweep cost no torch.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from probecheck import disk_cache, masking, metrics
from probecheck.errors import ProbecheckError
from probecheck.masking import filled_image
from probecheck.probe import Probe, require_channels
from probecheck.regions import area_fractions
from probecheck.spec.models import OCCLUSION_FILLS
from probecheck.zoo.geometry import Axis, Geometry
from probecheck.zoo.images import image_digest

if TYPE_CHECKING:
    import torch
    from torch import nn

    from probecheck.cone import Program

__all__ = [
    "OCCLUSION_FILLS",
    "Axis",
    "Occlusion",
    "layer_geometry",
    "occlude",
]

Floats = NDArray[np.float64]

#: Crop cells may differ from the full image's by float rounding (other blocking), no more.
_CROP_TOLERANCE = 1e-4
#: Occluded crops per forward. Crops are small, so more fit a batch than whole images do.
CROP_BATCH = 32
#: Patches per incremental pass: their tiles are smaller still.
CONE_BATCH = 64


def layer_geometry(model: nn.Module, path: str) -> Geometry | None:
    """(rows, cols) geometry of the layer at ``path``, as the architecture's profile derives it
    (:mod:`probecheck.zoo.archs`); None where it cannot be derived (whole images are run)."""
    from probecheck.zoo.archs import geometry_for

    return geometry_for(model, path)


def build_program(model: nn.Module, path: str) -> Program | None:
    """The incremental program up to ``path`` (:func:`probecheck.cone.build_program`; torch is
    imported here, when a sweep runs, not with this module)."""
    from probecheck import cone

    return cone.build_program(model, path)


# the sweep ---------------------------------------------------------------------------------------


@dataclass
class Occlusion:
    """The sweep of one image: per-position drops of every channel's region mean, and how.

    ``drops[c, i, j]`` is ``base[c] − mean_in(c)`` with the patch at (``starts_y[i]``,
    ``starts_x[j]``) in input pixels; ``input_size`` is the network's (H, W).
    """

    drops: Floats  # (C, ny, nx)
    base: Floats  # (C,)
    starts_y: list[int]
    starts_x: list[int]
    patch: int
    stride: int
    fill: str
    input_size: tuple[int, int]
    skipped: int  # positions outside every region cell's receptive field: drop exactly 0
    forwards: int  # batched forward passes run
    crop: tuple[int, int, int, int] | None  # (y0, y1, x0, x1) of the input run, or None (whole)
    incremental: bool = False  # only each patch's cone was recomputed (probecheck.cone)
    key: str = ""  # digest of everything the numbers depend on (the disk cache's key)

    @property
    def positions(self) -> int:
        return len(self.starts_y) * len(self.starts_x)

    def sensitivity(self, channels: int | list[int] | None = None) -> Floats:
        """Per-pixel map(s) at input resolution, as Captum's Occlusion computes them.

        One channel gives (H, W); a list (or None: all channels) gives (len, H, W).
        """
        if isinstance(channels, int):
            grid = self.drops[channels]
        else:
            grid = self.drops if channels is None else self.drops[channels]
        return metrics.occlusion_map(
            grid, self.starts_y, self.starts_x, self.patch, self.input_size
        )


def _crop_axis(cells: NDArray[np.intp], axis: Axis, length: int) -> tuple[int, int]:
    """[start, end) of the input the cells need, the start a multiple of the axis' jump."""
    first = axis.span(int(cells.min()))[0]
    last = axis.span(int(cells.max()))[1]
    start = 0 if first <= 0 else (first // axis.jump) * axis.jump
    end = length if last >= length - 1 else last + 1
    return start, end


def _influence(weights: Floats, geometry: Geometry, size: tuple[int, int]) -> NDArray[np.bool_]:
    """Input pixels inside the receptive field of some region cell (weight > 0)."""
    mask = np.zeros(size, dtype=bool)
    rows, cols = np.nonzero(weights > 0)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        y0, y1 = geometry[0].span(r)
        x0, x1 = geometry[1].span(c)
        mask[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = True
    return mask


def _layer_output(probe: Probe, path: str, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The module's output for ``batch``; the forward stops there."""
    from probecheck.zoo.forward import hooked_forward

    output = hooked_forward(probe.model, batch, {path: module})[path]
    probe.occluded_passes += len(batch)
    probe.batches += 1
    return output


def _region_batch(
    target: torch.Tensor,
    first: NDArray[np.int64],
    size: list[int],
    changed: torch.Tensor,
    at: NDArray[np.int64],
) -> torch.Tensor:
    """(B, C, h, w): the region's cells of the unoccluded ``target`` map, with each patch's
    recomputed tile (``changed[b]`` at ``at[b]``) written over them."""
    from probecheck.cone import splice

    region = target[:, :, first[0] : first[0] + size[0], first[1] : first[1] + size[1]]
    cells = region.expand(len(changed), -1, -1, -1)
    return splice(cells, np.tile(first, (len(changed), 1)), changed, at)


def occlude(
    probe: Probe,
    rgb: NDArray[np.uint8],
    layer: str,
    region: NDArray[np.bool_],
    *,
    patch: int = 24,
    stride: int = 12,
    fill: str = "mean",
    batch_size: int | None = None,
    use_geometry: bool = True,
    incremental: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Occlusion:
    """Sweep ``patch`` over ``rgb`` and measure every channel of ``layer`` over ``region``.

    ``region`` is a mask at the image's resolution. ``progress`` is called with the number of
    positions just measured (skipped ones included). ``use_geometry=False`` runs whole images
    for every position (the slow, simple reference; the result is the same);
    ``incremental=False`` runs each occluded crop whole instead of only the cells its patch
    changes (:mod:`probecheck.cone`; the same result up to the order of float sums).
    """
    if fill not in OCCLUSION_FILLS:
        raise ProbecheckError(
            f"unknown fill {fill!r}", fix=f"choose one of {', '.join(OCCLUSION_FILLS)}"
        )
    height, width = probe.preprocessing.size
    try:
        starts_y = metrics.occlusion_starts(height, patch, stride)
        starts_x = metrics.occlusion_starts(width, patch, stride)
    except ValueError as error:
        raise ProbecheckError(
            f"occlusion patch {patch}, stride {stride}: {error}",
            fix=f"patch and stride are pixels of the {width}×{height} network input",
        ) from None
    path = probe.resolve(layer)
    full = require_channels(probe.activations(rgb, layer)[layer], layer)
    weights = area_fractions(region, full.shape[1:])
    if weights.sum() <= 0:
        raise ProbecheckError("the region covers no cell of the layer's map")
    settings = {"patch": patch, "stride": stride, "fill": fill, "batch_size": batch_size}
    settings |= {"use_geometry": use_geometry, "incremental": incremental}
    key = _sweep_key(probe, rgb, path, weights, settings)
    stored = disk_cache.active()
    found = stored.get_arrays(key) if stored is not None else None
    if found is not None:  # the same sweep, run before: its numbers, bit for bit
        if progress is not None:
            progress(len(starts_y) * len(starts_x))
        return _stored_sweep(found, starts_y, starts_x, patch, stride, fill, (height, width), key)
    module = dict(probe.model.named_modules())[path]
    scale = (rgb.shape[0] / height + rgb.shape[1] / width) / 2
    images = probe.prepare([rgb, filled_image(rgb, fill, size=patch * scale)])
    image, baseline = images[:1], images[1:]

    geometry = layer_geometry(probe.model, path) if use_geometry else None
    window = (0, height, 0, width)
    offset = (0, 0)
    relevant = np.ones((len(starts_y), len(starts_x)), dtype=bool)
    if geometry is not None:
        rows, cols = np.nonzero(weights > 0)
        y0, y1 = _crop_axis(rows, geometry[0], height)
        x0, x1 = _crop_axis(cols, geometry[1], width)
        window, offset = (y0, y1, x0, x1), (y0 // geometry[0].jump, x0 // geometry[1].jump)
        influence = _influence(weights, geometry, (height, width))
        for i, sy in enumerate(starts_y):
            for j, sx in enumerate(starts_x):
                relevant[i, j] = influence[sy : sy + patch, sx : sx + patch].any()

    sweep = _Sweep(probe, path, module, image, baseline, full, weights, starts_y, starts_x, patch)
    result = None
    program = build_program(probe.model, path) if geometry is not None and incremental else None
    if program is not None:
        result = sweep.run_incremental(
            program, window, offset, relevant, batch_size or CONE_BATCH, progress
        )
    used_cone = result is not None
    if result is None:
        result = sweep.run(window, offset, relevant, batch_size or CROP_BATCH, progress)
    if result is None:  # the window's cells differ from the full image's: run whole images
        relevant[:] = True
        window = (0, height, 0, width)
        result = sweep.run(window, (0, 0), relevant, batch_size or probe.max_batch, progress)
        assert result is not None  # whole images are the full image's own cells
    drops, base, forwards = result
    whole = window == (0, height, 0, width)
    sweep = Occlusion(
        drops=drops,
        base=base,
        starts_y=starts_y,
        starts_x=starts_x,
        patch=patch,
        stride=stride,
        fill=fill,
        input_size=(height, width),
        skipped=int((~relevant).sum()),
        forwards=forwards,
        crop=None if whole else window,
        incremental=used_cone,
        key=disk_cache.key_digest(key),
    )
    if stored is not None:
        stored.put_arrays(key, _sweep_arrays(sweep))
    return sweep


def _sweep_key(
    probe: Probe,
    rgb: NDArray[np.uint8],
    path: str,
    weights: Floats,
    settings: dict[str, object],
) -> dict[str, object]:
    """Everything a sweep's numbers depend on: the disk cache's key (:mod:`disk_cache`)."""
    region = hashlib.sha256(str(weights.shape).encode() + weights.tobytes()).hexdigest()
    code = disk_cache.code_digest(sys.modules[__name__], "probecheck.cone", masking, metrics)
    activation = probe.activation_key(image_digest(rgb), path)
    return {**activation, "kind": "occlusion", "region": region, "code": code, **settings}


def _sweep_arrays(sweep: Occlusion) -> dict[str, NDArray]:
    """The sweep's numbers and how it ran, as arrays for the disk cache."""
    how = [sweep.skipped, sweep.forwards, int(sweep.incremental)]
    return {
        "drops": sweep.drops,
        "base": sweep.base,
        "how": np.array(how, dtype=np.int64),
        "crop": np.array(sweep.crop or (), dtype=np.int64),
    }


def _stored_sweep(
    arrays: dict[str, NDArray],
    starts_y: list[int],
    starts_x: list[int],
    patch: int,
    stride: int,
    fill: str,
    input_size: tuple[int, int],
    key: dict[str, object],
) -> Occlusion:
    """A sweep read back from the disk cache (see :func:`_sweep_arrays`)."""
    skipped, forwards, incremental = (int(v) for v in arrays["how"])
    crop = tuple(int(v) for v in arrays["crop"])
    return Occlusion(
        drops=arrays["drops"],
        base=arrays["base"],
        starts_y=starts_y,
        starts_x=starts_x,
        patch=patch,
        stride=stride,
        fill=fill,
        input_size=input_size,
        skipped=skipped,
        forwards=forwards,
        crop=crop if len(crop) == 4 else None,  # type: ignore[arg-type]
        incremental=bool(incremental),
        key=disk_cache.key_digest(key),
    )


@dataclass
class _Sweep:
    """What every run of the sweep shares: the network, the inputs and the region's cells."""

    probe: Probe
    path: str
    module: nn.Module
    image: torch.Tensor  # (1, 3, H, W) preprocessed
    baseline: torch.Tensor  # (1, 3, H, W) the fill, preprocessed
    full: NDArray[np.float32]  # (C, h, w) the layer on the whole image
    weights: Floats  # (h, w) region fractions
    starts_y: list[int]
    starts_x: list[int]
    patch: int

    def run(
        self,
        window: tuple[int, int, int, int],
        offset: tuple[int, int],
        relevant: NDArray[np.bool_],
        batch_size: int,
        progress: Callable[[int], None] | None,
    ) -> tuple[Floats, Floats, int] | None:
        """(drops, base, forwards) from forwards on ``window`` of the input; None if its cells
        do not reproduce the full image's (then nothing of this run is used)."""
        import torch

        y0, y1, x0, x1 = window
        rows, cols = np.nonzero(self.weights > 0)
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        weights = torch.from_numpy(self.weights[r0:r1, c0:c1])
        total = float(weights.sum())
        cells = (
            slice(r0 - offset[0], r1 - offset[0]),
            slice(c0 - offset[1], c1 - offset[1]),
        )
        image = self.image[:, :, y0:y1, x0:x1]
        baseline = self.baseline[:, :, y0:y1, x0:x1]
        todo = [(i, j) for i, j in zip(*np.nonzero(relevant), strict=True)]
        channels = self.full.shape[0]
        drops = np.zeros((channels, len(self.starts_y), len(self.starts_x)))
        base: Floats | None = None
        forwards = 0
        # the unoccluded window rides in the first batch: its cells are checked, and are the base
        jobs: list[tuple[int, int] | None] = [None, *todo]
        for begin in range(0, len(jobs), batch_size):
            chunk = jobs[begin : begin + batch_size]
            batch = image.expand(len(chunk), -1, -1, -1).clone()
            for k, job in enumerate(chunk):
                if job is None:
                    continue
                sy, sx = self.starts_y[job[0]], self.starts_x[job[1]]
                ys = slice(max(sy, y0) - y0, min(sy + self.patch, y1) - y0)
                xs = slice(max(sx, x0) - x0, min(sx + self.patch, x1) - x0)
                batch[k, :, ys, xs] = baseline[0, :, ys, xs]
            output = _layer_output(self.probe, self.path, self.module, batch)
            forwards += 1
            picked = output[:, :, cells[0], cells[1]].to("cpu", torch.float64)
            if tuple(picked.shape[2:]) != tuple(weights.shape):
                return None
            if base is None and not self._same_cells(picked[0].numpy(), (r0, r1, c0, c1)):
                return None
            means = (torch.einsum("bchw,hw->bc", picked, weights) / total).numpy()
            if base is None:  # the window holds: from here on, progress is final
                base = means[0]
                if progress is not None and (~relevant).any():
                    progress(int((~relevant).sum()))
            for k, job in enumerate(chunk):
                if job is not None:
                    drops[:, job[0], job[1]] = base - means[k]
            if progress is not None:
                progress(sum(job is not None for job in chunk))
        assert base is not None
        return drops, base, forwards

    def run_incremental(
        self,
        program: Program,
        window: tuple[int, int, int, int],
        offset: tuple[int, int],
        relevant: NDArray[np.bool_],
        batch_size: int,
        progress: Callable[[int], None] | None,
    ) -> tuple[Floats, Floats, int] | None:
        """As :meth:`run`, recomputing only each patch's cone of cells on ``window``; None if
        the program's unoccluded cells do not reproduce the model's on the full image."""
        import torch

        y0, y1, x0, x1 = window
        rows, cols = np.nonzero(self.weights > 0)
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        weights = torch.from_numpy(self.weights[r0:r1, c0:c1])
        total = float(weights.sum())
        image = self.image[:, :, y0:y1, x0:x1]
        baseline = self.baseline[:, :, y0:y1, x0:x1]
        self.probe._fix_threads()
        with torch.inference_mode():
            target = program.run_base(image)
        self.probe.occluded_passes += 1
        self.probe.batches += 1
        first = np.array([r0 - offset[0], c0 - offset[1]])
        size = [int(r1 - r0), int(c1 - c0)]
        if first.min() < 0 or (first + size > np.array(target.shape[2:])).any():
            return None
        region = target[:, :, first[0] : first[0] + size[0], first[1] : first[1] + size[1]]
        region = region.to("cpu", torch.float64)
        if not self._same_cells(region[0].numpy(), (r0, r1, c0, c1)):
            return None
        program.set_region(
            (int(first[0]), int(first[0]) + size[0] - 1),
            (int(first[1]), int(first[1]) + size[1] - 1),
        )
        base = (torch.einsum("chw,hw->c", region[0], weights) / total).numpy()
        channels = self.full.shape[0]
        drops = np.zeros((channels, len(self.starts_y), len(self.starts_x)))
        forwards = 1
        if progress is not None and (~relevant).any():
            progress(int((~relevant).sum()))
        todo = np.argwhere(relevant)
        for begin in range(0, len(todo), batch_size):
            chunk = todo[begin : begin + batch_size]
            sy = np.array(self.starts_y)[chunk[:, 0]]
            sx = np.array(self.starts_x)[chunk[:, 1]]
            boxes = np.stack(
                [
                    np.maximum(sy, y0) - y0,
                    np.minimum(sy + self.patch, y1) - y0,
                    np.maximum(sx, x0) - x0,
                    np.minimum(sx + self.patch, x1) - x0,
                ],
                axis=1,
            )
            with torch.inference_mode():
                tiles, starts = program.patch_tiles(baseline, boxes)
                changed, at = program.occluded(tiles, starts)
                cells = _region_batch(target, first, size, changed, at)
            self.probe.occluded_passes += len(chunk)
            self.probe.batches += 1
            forwards += 1
            cells = cells.to("cpu", torch.float64)
            means = (torch.einsum("bchw,hw->bc", cells, weights) / total).numpy()
            drops[:, chunk[:, 0], chunk[:, 1]] = (base[None, :] - means).T
            if progress is not None:
                progress(len(chunk))
        return drops, base, forwards

    def _same_cells(self, cells: NDArray[np.float64], box: tuple[int, int, int, int]) -> bool:
        """The window's region cells equal the full image's, up to float rounding."""
        r0, r1, c0, c1 = box
        reference = self.full[:, r0:r1, c0:c1].astype(np.float64)
        scale = max(float(np.abs(reference).max()), 1e-12)
        return float(np.abs(cells - reference).max()) <= _CROP_TOLERANCE * scale
