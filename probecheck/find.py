"""Find channels worth a claim: rank channels by how much removing a region silences them.

This is the workbench behind ``probecheck find``: it measures, for every channel of one or many
layers, the same numbers a drop check and a selective check compute (through
:mod:`probecheck.metrics`, on the same images, masks and masking seed), so a claim written from
these numbers, with a margin below them, passes when the spec is run. No CLI here: the caller
gets plain dataclasses and a YAML string.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from probecheck import metrics
from probecheck.errors import ProbecheckError
from probecheck.masking import MASK_METHODS, mask_image
from probecheck.probe import Probe
from probecheck.regions import MaskBox, load_mask_png, rasterise
from probecheck.spec.writing import checked_spec_text
from probecheck.zoo.images import ImageLike, load_image, require_same_size

__all__ = [
    "ChannelScore",
    "FindInputs",
    "RegionShapes",
    "claim_yaml",
    "default_layers",
    "drop_thresholds",
    "rank_channels",
    "ratio_threshold",
]

#: Layer types searched when no layer is named: where a "feature detector" lives.
SEARCHED_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ReLU)
#: Layer types whose outputs are never below 0: their positive part is themselves.
NON_NEGATIVE_TYPES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)
#: A selective check is only proposed when the channel is this much stronger inside than out.
SELECTIVE_MIN_RATIO = 1.5
#: The largest ratio_at_least proposed (also for a channel firing only inside, ratio inf):
#: "ten times stronger inside" already says it all; 0.8 × 598 would only make the claim brittle.
MAX_RATIO = 10.0

BoolMask = NDArray[np.bool_]
Image8 = NDArray[np.uint8]
LayerCallback = Callable[[int, int, str], None]


# ------------------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class ChannelScore:
    """One channel's numbers. ``channel`` is 0-based; ``control_drop`` is nan without control.

    ``score`` = min(drop, 1) − |control_drop| (control_drop counted as 0 without a control):
    a big drop in the region and little change in the control. A drop above 1 (the map went
    negative, pre-ReLU) is no better than going quiet, and a control that *rises* on removal is
    as suspect as one that falls. Silent channels score −inf. ``faint`` channels (mean_in below
    5% of their peak) are not silent to a check, but a drop of almost nothing is no evidence:
    they rank after the others.
    """

    layer: str
    channel: int
    drop: float
    control_drop: float
    selectivity: float
    mean_in: float
    peak: float
    score: float
    silent: bool
    faint: bool = False

    def sort_key(self) -> tuple[bool, bool, float, float]:
        """Silent, then faint channels last; best score first; ties (many drops reach 1) go
        to the more selective channel."""
        selectivity = -np.inf if math.isnan(self.selectivity) else self.selectivity
        return (self.silent, self.faint, -self.score, -selectivity)


SCORE_FORMULA = "min(drop, 1) − |control drop|, ties by selectivity"
#: mean_in below this fraction of the channel's peak: too faint in the region to rank.
FAINT_FRACTION = 0.05
#: The smallest normal float32: below it, a ReLU's output is read, not derived.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
#: A full-map float32 sum is exact to ~1e-7 of itself: a remainder below this share of it is 0.
FLOAT32_SUM_TOLERANCE = 1e-5


def _scores(drop: NDArray, control_drop: NDArray | None, quiet: NDArray) -> NDArray:
    penalty = np.zeros_like(drop) if control_drop is None else np.abs(control_drop)
    score = np.minimum(drop, 1.0) - penalty
    return np.where(quiet | np.isnan(score), -np.inf, score)


@dataclass(frozen=True)
class Support:
    """The cells of one activation grid that a region touches, and their area fractions.

    A region covers few cells, so its weighted means gather those cells only: the terms left
    out are the zeros of ``regions.area_fractions``, and the sums are those of the checks.
    """

    cells: NDArray[np.intp]  # flat indices into the (h·w) grid
    weights: NDArray[np.float64]  # the area fractions at those cells
    inside: float  # Σ w
    outside: float  # Σ (1 − w): 0 where the region covers the whole grid

    @classmethod
    def of(cls, mask: BoolMask | MaskBox, grid: tuple[int, int]) -> Support:
        """``mask`` read once (``MaskBox``) serves every grid a forward pass meets."""
        box = mask if isinstance(mask, MaskBox) else MaskBox.of(mask)
        w = box.fractions(grid).ravel()
        cells = np.flatnonzero(w)
        weights = w[cells]
        return cls(cells, weights, float(weights.sum()), float((1.0 - w).sum()))

    @property
    def index(self) -> torch.Tensor:
        """``cells`` as a tensor, for index_select on an accelerator."""
        return torch.from_numpy(self.cells.astype(np.int64))


@dataclass(frozen=True)
class LayerNumbers:
    """Every channel of one layer on one image, as arrays of shape (C,), all float64.

    ``drop`` is nan where the channel is silent in the region; ``control_drop`` counts a
    silent channel's control drop as 0 and is None without a control. ``selectivity`` is
    mean_in / mean_out of max(A, 0) (``metrics.selectivity_ratio``).
    """

    mean_in: NDArray[np.float64]
    peak: NDArray[np.float64]
    drop: NDArray[np.float64]
    silent: NDArray[np.bool_]
    control_drop: NDArray[np.float64] | None
    selectivity: NDArray[np.float64]

    @property
    def faint(self) -> NDArray[np.bool_]:
        return self.mean_in < FAINT_FRACTION * self.peak


def layer_numbers(
    maps: NDArray,
    altered_maps: NDArray,
    region: Support,
    control_maps: NDArray | None = None,
    control: Support | None = None,
    *,
    selectivity: bool = True,
) -> LayerNumbers:
    """The numbers a drop check, its control and a selective check measure, for every channel,
    from (C, h, w) maps of the image, the image with the region removed, and with the control
    removed (see ``ImageSums``, ``region_sums`` and ``finish_numbers``)."""
    control = control if control_maps is not None else None
    sums = ImageSums.of(_flat(maps), region, control, selectivity)
    found = region_sums(
        sums,
        _values(_flat(altered_maps), region),
        None if control is None else _values(_flat(control_maps), control),  # type: ignore[arg-type]
        region,
        control,
    )
    return finish_numbers([found])[0]


def _flat(maps: NDArray | torch.Tensor) -> torch.Tensor:
    """(C, h, w) maps as a (C, h·w) tensor (a view of a numpy array where it can be)."""
    tensor = maps if isinstance(maps, torch.Tensor) else torch.from_numpy(np.asarray(maps))
    return tensor.reshape(tensor.shape[0], -1)


def _values(flat: torch.Tensor, support: Support) -> NDArray[np.float64]:
    """The (C, k) values of (C, h·w) maps at a region's k cells, as float64."""
    if flat.device.type == "cpu":  # numpy's gather: a tenth of index_select's call overhead
        return flat.numpy()[:, support.cells].astype(np.float64)
    return flat.index_select(1, support.index.to(flat.device)).double().cpu().numpy()


def _float64(values: torch.Tensor) -> NDArray[np.float64]:
    return values.cpu().numpy().astype(np.float64)


class Scratch:
    """One float buffer reused for every layer's max(A, 0) in a forward pass: a fresh
    multi-megabyte tensor per layer costs more in page faults than the clamping itself."""

    def __init__(self) -> None:
        self._buffer: torch.Tensor | None = None

    def like(self, tensor: torch.Tensor) -> torch.Tensor:
        """A contiguous tensor of ``tensor``'s shape, dtype and device, of undefined values."""
        buffer = self._buffer
        if (
            buffer is None
            or buffer.numel() < tensor.numel()
            or buffer.dtype != tensor.dtype
            or buffer.device != tensor.device
        ):
            buffer = self._buffer = torch.empty(
                tensor.numel(), dtype=tensor.dtype, device=tensor.device
            )
        return buffer[: tensor.numel()].view(tensor.shape)


@dataclass(frozen=True)
class ImageSums:
    """What one layer's maps of the (unaltered) image contribute: each channel's peak, its
    values on the region's and the control's cells, and the sum of max(A, 0) over the map.

    Taken while the maps are made (``Probe.reduced_forward``): no map is copied. The
    full-map reductions run in torch, in float32, which changes the third significant digit
    of no number printed; without ``selectivity`` no full-map sum is taken, and a
    ``non_negative`` output (a ReLU's) is summed without clamping at 0.
    """

    peak: NDArray[np.float64]
    region: NDArray[np.float64]  # (C, k) values at the region's cells
    control: NDArray[np.float64] | None
    positive_all: NDArray[np.float64] | None

    @classmethod
    def of(
        cls,
        flat: torch.Tensor,
        region: Support,
        control: Support | None,
        selectivity: bool,
        non_negative: bool = False,
        scratch: Scratch | None = None,
        *,
        after: ImageSums | None = None,
    ) -> ImageSums:
        """``after``: the numbers of the map this one is the ReLU of; what follows from them
        is not read again (``_after_relu``)."""
        positive_all = None
        if selectivity:
            if non_negative:
                positive = flat
            elif scratch is not None and flat.is_contiguous():
                positive = torch.clamp_min(flat, 0.0, out=scratch.like(flat))
            else:
                positive = flat.clamp_min(0.0)
            positive_all = _float64(positive.sum(dim=1))
        peak = region_values = control_values = None
        if after is not None:
            peak = _after_relu(after.peak)
            region_values = _after_relu(after.region)
            control_values = None if after.control is None else _after_relu(after.control)
        if peak is None:
            peak = _float64(flat.amax(dim=1))
        if region_values is None:
            region_values = _values(flat, region)
        if control_values is None and control is not None:
            control_values = _values(flat, control)
        return cls(peak, region_values, control_values, positive_all)


def _after_relu(values: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """max(v, 0) of numbers taken from a map, as they are in the map's ReLU: v above 0 stays,
    v below 0 becomes +0; None where one is 0, nan or subnormal (whose sign, or whether it
    is 0, can depend on the CPU's modes), which is then read from the ReLU's output instead."""
    if not np.abs(values).min(initial=np.inf) >= FLOAT32_TINY:  # nan compares False
        return None
    return np.maximum(values, 0.0)  # +0 for every v < 0


def region_sums(
    sums: ImageSums,
    altered: NDArray[np.float64],
    control_altered: NDArray[np.float64] | None,
    region: Support,
    control: Support | None,
) -> dict[str, NDArray[np.float64]]:
    """One layer's per-channel region means (and what selectivity needs), float64."""
    count = len(sums.peak)
    found = {
        "peak": sums.peak,
        "mean_in": (sums.region @ region.weights) / region.inside,
        "mean_in_altered": (altered @ region.weights) / region.inside,
    }
    if control is not None and sums.control is not None and control_altered is not None:
        found["base"] = (sums.control @ control.weights) / control.inside
        found["changed"] = (control_altered @ control.weights) / control.inside
    if sums.positive_all is not None:
        found["positive_in"] = np.maximum(sums.region, 0.0) @ region.weights
        found["positive_all"] = sums.positive_all
        found["inside"] = np.full(count, region.inside)
        found["outside"] = np.full(count, region.outside)
    return found


def finish_numbers(layers: Sequence[dict[str, NDArray[np.float64]]]) -> list[LayerNumbers]:
    """Every channel's numbers from the layers' ``region_sums``, by the definitions of
    :mod:`probecheck.metrics` (``region_drop``, ``silent``, ``selectivity_ratio``), in
    float64; computed once over all layers' channels, then split by layer."""
    if not layers:
        return []
    joined = {key: np.concatenate([layer[key] for layer in layers]) for key in layers[0]}
    peak, mean_in = joined["peak"], joined["mean_in"]
    quiet = metrics.silent(mean_in, peak)
    drop = metrics.drop(mean_in, joined["mean_in_altered"])
    control_drop = None
    if "base" in joined:
        base = joined["base"]
        changed = metrics.drop(base, joined["changed"])
        control_drop = np.where(metrics.silent(base, peak), 0.0, changed)
    if "positive_all" in joined:
        positive_all, outside = joined["positive_all"], joined["outside"]
        positive_in = joined["positive_in"]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_pos_in = positive_in / joined["inside"]
            # Σ outside = Σ all − Σ inside; what is left of a float32 sum's rounding is 0
            positive_out = positive_all - positive_in
            positive_out[positive_out <= FLOAT32_SUM_TOLERANCE * positive_all] = 0.0
            mean_pos_out = np.where(outside > 0, positive_out / outside, np.nan)
            ratio = mean_pos_in / mean_pos_out
        ratio = np.where((mean_pos_out == 0) & (mean_pos_in > 0), np.inf, ratio)
        selectivity = np.where((mean_pos_out == 0) & (mean_pos_in == 0), 0.0, ratio)
    else:
        selectivity = np.full_like(peak, np.nan)
    bounds = np.cumsum([len(layer["peak"]) for layer in layers])[:-1]
    columns = [mean_in, peak, drop, quiet, control_drop, selectivity]
    parts = [None if c is None else np.split(c, bounds) for c in columns]
    return [
        LayerNumbers(*(None if part is None else part[i] for part in parts))  # type: ignore[arg-type]
        for i in range(len(layers))
    ]


@dataclass(frozen=True)
class Ranking(Sequence[ChannelScore]):
    """Every channel's numbers as arrays, in ranked order; a ChannelScore is made per row read.

    Scoring ~8,000 channels costs little as arrays; making and sorting 8,000 Python records
    cost twice the forward passes. Rows are made only when read: ``ranking[0]``, ``top(10)``.
    """

    layers: tuple[str, ...]
    layer_index: NDArray[np.intp]
    channel: NDArray[np.intp]
    drop: NDArray[np.float64]
    control_drop: NDArray[np.float64]  # nan without a control
    selectivity: NDArray[np.float64]
    mean_in: NDArray[np.float64]
    peak: NDArray[np.float64]
    score: NDArray[np.float64]
    silent: NDArray[np.bool_]
    faint: NDArray[np.bool_]

    @classmethod
    def build(cls, layers: Sequence[str], numbers: Sequence[LayerNumbers]) -> Ranking:
        """Concatenate the layers' numbers and sort them by ``ChannelScore.sort_key``."""
        counts = [len(n.drop) for n in numbers]
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
        drop = cat([n.drop for n in numbers])
        controls = [
            np.full(len(n.drop), np.nan) if n.control_drop is None else n.control_drop
            for n in numbers
        ]
        has_control = bool(numbers) and numbers[0].control_drop is not None
        silent = cat([n.silent for n in numbers]).astype(bool)
        control_drop = cat(controls)
        score = _scores(drop, control_drop if has_control else None, silent)
        selectivity = cat([n.selectivity for n in numbers])
        faint = cat([n.faint for n in numbers]).astype(bool)
        tie = np.where(np.isnan(selectivity), -np.inf, selectivity)
        # np.lexsort sorts by the last key first and is stable: sort_key's order, as arrays
        order = np.lexsort((-tie, -score, faint, silent))
        layer_index = np.repeat(np.arange(len(counts)), counts)
        channel = cat([np.arange(c) for c in counts]).astype(np.intp)
        return cls(
            tuple(layers),
            layer_index[order],
            channel[order],
            drop[order],
            control_drop[order],
            selectivity[order],
            cat([n.mean_in for n in numbers])[order],
            cat([n.peak for n in numbers])[order],
            score[order],
            silent[order],
            faint[order],
        )

    def __len__(self) -> int:
        return len(self.channel)

    def _row(self, i: int) -> ChannelScore:
        return ChannelScore(
            self.layers[int(self.layer_index[i])],
            int(self.channel[i]),
            float(self.drop[i]),
            float(self.control_drop[i]),
            float(self.selectivity[i]),
            float(self.mean_in[i]),
            float(self.peak[i]),
            float(self.score[i]),
            bool(self.silent[i]),
            bool(self.faint[i]),
        )

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._row(i) for i in range(len(self))[index]]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._row(index % len(self))

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The rank of a channel: found by layer and channel (a silent row's nan is not
        equal to itself, so ``==`` would never find it)."""
        end = len(self) if stop is None else stop
        layer = self.layers.index(value.layer) if value.layer in self.layers else -1
        hits = np.flatnonzero((self.layer_index == layer) & (self.channel == value.channel))
        hits = hits[(hits >= start) & (hits < end)]
        if not hits.size:
            raise ValueError(f"{value.layer} channel {value.channel} is not ranked here")
        return int(hits[0])

    def top(self, count: int) -> list[ChannelScore]:
        """The first ``count`` channels neither silent nor faint: the rows worth showing."""
        shown = np.flatnonzero(~(self.silent | self.faint))[:count]
        return [self._row(int(i)) for i in shown]

    def best(self) -> ChannelScore | None:
        """The channel a claim is written for: the first not faint, else the first not silent."""
        for rows in (self.top(1), [self._row(int(i)) for i in np.flatnonzero(~self.silent)[:1]]):
            if rows:
                return rows[0]
        return None

    @property
    def silent_count(self) -> int:
        return int(self.silent.sum())

    @property
    def faint_count(self) -> int:
        return int((self.faint & ~self.silent).sum())


def default_layers(probe: Probe) -> list[str]:
    """Every convolution and ReLU of the network, by alias where it has one, in forward order."""
    return [
        probe.alias(path) or path
        for path, module in probe.model.named_modules()
        if path and isinstance(module, SEARCHED_TYPES)
    ]


# ------------------------------------------------------------------------------------ inputs


def _check_mask(mask: BoolMask, shape: tuple[int, ...], what: str) -> BoolMask:
    region = np.asarray(mask) != 0
    if region.shape != tuple(shape):
        raise ProbecheckError(
            f"the {what} mask is {region.shape[1]}×{region.shape[0]} but the image is "
            f"{shape[1]}×{shape[0]}",
            fix="draw the mask on the image itself, at the same size",
        )
    if not region.any():
        raise ProbecheckError(
            f"the {what} covers no pixel of the image", fix="give a region inside the image"
        )
    return region


def _altered_images(
    rgb: Image8,
    region: BoolMask,
    altered: ImageLike | None,
    mask_with: str | None,
    control: BoolMask | None,
    control_altered: ImageLike | None,
    name: str = "the image",
) -> tuple[Image8, Image8 | None]:
    """The image with the region removed, and with the control removed (None without control);
    either with the very pixels of the image is an error (``name`` says which image): it
    measures nothing, and a control that cannot drop would score best."""
    if (altered is None) == (mask_with is None):
        raise ProbecheckError(
            "give either an altered image or a masking method (not both, not neither)",
            fix=f"--altered IMG (the image with the region removed) or --mask-with "
            f"{'|'.join(MASK_METHODS)}",
        )
    if mask_with is not None and mask_with not in MASK_METHODS:
        raise ProbecheckError(
            f"unknown masking method {mask_with!r}", fix=f"use one of {', '.join(MASK_METHODS)}"
        )
    if control_altered is not None and (control is None or mask_with is not None):
        raise ProbecheckError(
            "a control-altered image needs a control region and a paired --altered image",
            fix="add --control-box/--control-mask and use --altered, or drop --control-altered",
        )
    if altered is not None:
        altered_rgb = require_same_size(rgb, load_image(altered), "the altered image")
    else:
        altered_rgb = mask_image(rgb, region, mask_with)  # type: ignore[arg-type]
    control_rgb = None
    if control_altered is not None:  # the checks above: a control is given with it
        control_rgb = require_same_size(
            rgb, load_image(control_altered), "the control-altered image"
        )
    elif control is not None and mask_with is None:
        # The spec language cannot say "paired image for the region, inpainting for the
        # control", and a claim printed here must be checkable as written: refuse.
        raise ProbecheckError(
            "with an altered image, the control region needs its own altered image",
            fix="add --control-altered IMG (the image with the control region removed), "
            "or use --mask-with inpaint instead of --altered to mask both regions the same way",
        )
    elif control is not None:
        control_rgb = mask_image(rgb, control, mask_with)  # type: ignore[arg-type]
    for what, removed in (("region", altered_rgb), ("control region", control_rgb)):
        if removed is not None and np.array_equal(removed, rgb):
            how = f"masking it by {mask_with}" if mask_with else "its altered image"
            raise ProbecheckError(
                f"{name}: removing the {what} changed no pixel ({how}): there is nothing "
                "to measure",
                fix="choose another --mask-with, a region with detail to remove, or an altered "
                "image that differs from the image",
            )
    return altered_rgb, control_rgb


def rank_channels(
    probe: Probe,
    image: ImageLike,
    region_mask: BoolMask,
    *,
    altered: ImageLike | None = None,
    mask_with: str | None = None,
    control_mask: BoolMask | None = None,
    control_altered: ImageLike | None = None,
    layers: Sequence[str] | None = None,
    on_layer: LayerCallback | None = None,
) -> Ranking:
    """Score every channel of ``layers`` (default: every conv and ReLU), best first.

    The region is removed by the paired ``altered`` image or by ``mask_with``; the control
    region by ``control_altered`` or the same ``mask_with``. All images go through one batched
    forward pass for all layers. Silent channels come last. ``on_layer(done, total, layer)``
    is called after each layer is scored, for progress display.
    """
    rgb = load_image(image)
    region = _check_mask(region_mask, rgb.shape[:2], "region")
    control = None if control_mask is None else _check_mask(control_mask, rgb.shape[:2], "control")
    altered_rgb, control_rgb = _altered_images(
        rgb, region, altered, mask_with, control, control_altered
    )
    explicit = layers is not None
    names = list(layers) if layers is not None else default_layers(probe)
    for name in names:
        probe.resolve(name)  # an unknown layer fails here, before the forward pass
    images = [rgb, altered_rgb] + ([control_rgb] if control_rgb is not None else [])
    scored, numbers = forward_numbers(
        probe,
        names,
        images,
        region,
        control if control_rgb is not None else None,
        explicit=explicit,
        on_layer=on_layer,
    )
    return Ranking.build(scored, numbers)


@dataclass(frozen=True)
class _Reduced:
    """What the hooks kept of one layer: its grid and, per image in order, the ImageSums of
    the image, then the region values of each altered image."""

    grid: tuple[int, int]
    parts: list[Any]


def forward_numbers(
    probe: Probe,
    names: Sequence[str],
    images: Sequence[Image8],
    region: BoolMask,
    control: BoolMask | None,
    *,
    explicit: bool,
    selectivity: bool = True,
    on_layer: LayerCallback | None = None,
) -> tuple[list[str], list[LayerNumbers]]:
    """Every layer's numbers from [image, region removed, (control removed)], scored in the
    forward's hooks (``Probe.reduced_forward``: no map is copied out), in the probe's batches
    (as ``Probe.activations_many`` runs them, so the numbers are the checks' to the last
    bit). Layers that are not (C, h, w) are skipped, or refused where ``explicit``."""
    supports: dict[tuple[int, tuple[int, int]], Support] = {}
    boxes: dict[int, MaskBox] = {}
    on_grid: dict[tuple[int, int], tuple[Support, Support | None]] = {}  # region, control
    scratch = Scratch()

    def support(mask: BoolMask, grid: tuple[int, int]) -> Support:
        """Area fractions once per region and grid: many layers share a grid."""
        key = (id(mask), grid)
        if key not in supports:
            if id(mask) not in boxes:
                boxes[id(mask)] = MaskBox.of(mask)
            supports[key] = Support.of(boxes[id(mask)], grid)
        return supports[key]

    paths = {name: probe.resolve(name) for name in names}
    hooked = sorted(set(paths.values()))
    every = dict(probe.model.named_modules())  # in the order they are listed
    modules = {path: every[path] for path in hooked}
    non_negative = {
        path: isinstance(module, NON_NEGATIVE_TYPES) for path, module in modules.items()
    }
    # A plain ReLU fed a hooked layer's output, unchanged, gives numbers that follow from that
    # layer's (``_after_relu``); and a layer whose output goes straight into one need not clamp
    # its own map: the ReLU's plain sum is its positive sum (``deferred``, checked after).
    relus = [path for path, module in modules.items() if _plain_relu(module)]
    feeds_relu = {  # listed right before a scored plain ReLU: most likely its input
        path
        for path, after in itertools.pairwise(every)
        if path in modules and after in relus and not non_negative[path]
    }

    def reducer(first: int, deferred: set[str]) -> Callable[[str, torch.Tensor], Any]:
        current: dict[str, _Reduced] = {}

        def reduce(path: str, output: torch.Tensor) -> _Reduced | tuple[int, ...]:
            if output.dim() != 4:
                return tuple(output.shape[1:])
            grid = (int(output.shape[2]), int(output.shape[3]))
            if grid not in on_grid:
                on_grid[grid] = (
                    support(region, grid),
                    support(control, grid) if control is not None else None,
                )
            r, c = on_grid[grid]
            source = current.get(inputs_from.get(path) or "")
            if source is not None and source.grid != grid:
                source = None
            parts: list[Any] = []
            for i in range(output.shape[0]):
                role = first + i  # 0: the image, 1: region removed, 2: control removed
                before = None if source is None else source.parts[i]
                if role != 0 and before is not None:
                    values = _after_relu(before)
                    if values is not None:  # nothing to read from this map
                        parts.append(values)
                        continue
                flat = _flat(output[i])
                if role == 0:
                    sums = ImageSums.of(
                        flat,
                        r,
                        c,
                        selectivity and path not in deferred,
                        non_negative[path],
                        scratch,
                        after=before,
                    )
                    if before is not None and selectivity and before.positive_all is None:
                        source.parts[i] = replace(before, positive_all=sums.positive_all)
                    parts.append(sums)
                else:
                    parts.append(_values(flat, r if role == 1 else c))  # type: ignore[arg-type]
            current[path] = _Reduced(grid, parts)
            return current[path]

        return reduce

    inputs_from: dict[str, str | None] = dict.fromkeys(relus)
    reduced: dict[str, Any] = {}
    prepared = probe.prepare(images)  # resized together: the same pixels as one by one
    deferred = feeds_relu if selectivity else set()
    for start in range(0, len(images), probe.max_batch):
        batch = prepared[start : start + probe.max_batch]
        kept = probe.reduced_forward(
            batch, hooked, reducer(start, deferred), inputs_from=inputs_from, strict=explicit
        )
        if deferred and _unsummed(kept):
            # the network did not run its modules in the order they are listed (in this
            # batch at least): every layer sums its own map, here and in the batches after
            deferred = set()
            kept = probe.reduced_forward(
                batch, hooked, reducer(start, deferred), inputs_from=inputs_from, strict=explicit
            )
        for path, part in kept.items():
            if isinstance(part, _Reduced) and path in reduced:
                part = _Reduced(part.grid, reduced[path].parts + part.parts)
            reduced[path] = part
    scored: list[str] = []
    layers: list[dict[str, NDArray[np.float64]]] = []
    for done, name in enumerate(names, start=1):
        found = reduced.get(paths[name])  # absent: a default layer that never ran (aux heads)
        if isinstance(found, _Reduced):
            sums, altered, *control_altered = found.parts
            layers.append(
                region_sums(
                    sums,
                    altered,
                    control_altered[0] if control_altered else None,
                    support(region, found.grid),
                    support(control, found.grid) if control is not None else None,
                )
            )
            scored.append(name)
        elif explicit and found is not None:
            raise ProbecheckError(
                f"layer {name} gives activations of shape {found}, not (channels, h, w)",
                fix="choose a convolutional layer (`probecheck layers` lists them)",
            )
        if on_layer is not None:
            on_layer(done, len(names), name)
    return scored, finish_numbers(layers)


def _plain_relu(module: nn.Module) -> bool:
    """An ``nn.ReLU`` itself (no subclass) with no hooks that could change what it gives."""
    global_hooks = getattr(torch.nn.modules.module, "_global_forward_hooks", {})
    return (
        type(module) is nn.ReLU
        and not module._forward_hooks
        and not module._forward_pre_hooks
        and not global_hooks
    )


def _unsummed(kept: dict[str, Any]) -> bool:
    """Whether a layer's positive sum was left to a ReLU that did not take its output."""
    return any(
        isinstance(part, _Reduced)
        and isinstance(part.parts[0], ImageSums)
        and part.parts[0].positive_all is None
        for part in kept.values()
    )


# ---------------------------------------------------------------------------------- regions


def _fmt_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True)
class RegionShapes:
    """A region as the user gave it: boxes, ellipses and/or a mask PNG, in image pixels."""

    boxes: tuple[tuple[float, float, float, float], ...] = ()
    ellipses: tuple[tuple[float, float, float, float], ...] = ()
    mask: Path | None = None
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.boxes or self.ellipses or self.mask or self.polygons)

    def rasterise(self, shape: tuple[int, int], what: str = "region") -> BoolMask:
        """The region as a bool mask of an image of ``shape``; shapes must lie in the image."""
        height, width = shape
        fix = (
            f"coordinates are pixels of the {width}×{height} image: "
            f"0 ≤ x ≤ {width}, 0 ≤ y ≤ {height}"
        )
        for x0, y0, x1, y1 in self.boxes:
            box = ",".join(f"{_fmt_number(v)}" for v in (x0, y0, x1, y1))
            if x1 <= x0 or y1 <= y0:
                raise ProbecheckError(
                    f"{what} box {box} is empty", fix="write x0,y0,x1,y1 with x1 > x0 and y1 > y0"
                )
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                raise ProbecheckError(f"{what} box {box} reaches outside the image", fix=fix)
        for cx, cy, rx, ry in self.ellipses:
            ellipse = ",".join(f"{_fmt_number(v)}" for v in (cx, cy, rx, ry))
            if rx <= 0 or ry <= 0:
                raise ProbecheckError(
                    f"{what} ellipse {ellipse} has a radius ≤ 0",
                    fix="write cx,cy,rx,ry, rx, ry > 0",
                )
            if cx - rx < 0 or cy - ry < 0 or cx + rx > width or cy + ry > height:
                raise ProbecheckError(
                    f"{what} ellipse {ellipse} reaches outside the image", fix=fix
                )
        mask = None
        if self.mask is not None:
            if not Path(self.mask).is_file():
                raise ProbecheckError(
                    f"{what} mask {self.mask} does not exist", fix="check the path"
                )
            mask = load_mask_png(self.mask)
            if mask.shape != (height, width):
                raise ProbecheckError(
                    f"{what} mask {self.mask} is {mask.shape[1]}×{mask.shape[0]} but the image "
                    f"is {width}×{height}",
                    fix="draw the mask on the image itself, at the same size",
                )
        for polygon in self.polygons:
            if any(not (0 <= x <= width and 0 <= y <= height) for x, y in polygon):
                raise ProbecheckError(f"{what} polygon reaches outside the image", fix=fix)
        raster = rasterise(
            shape, boxes=self.boxes, ellipses=self.ellipses, polygons=self.polygons, mask=mask
        )
        return _check_mask(raster, shape, what)

    def as_spec(self, relative_to: Path) -> dict[str, Any]:
        """The region in the spec language; a mask path is written relative to the spec."""
        spec: dict[str, Any] = {}
        if self.boxes:
            spec["boxes"] = [[_fmt_number(v) for v in box] for box in self.boxes]
        if self.ellipses:
            spec["ellipses"] = [[_fmt_number(v) for v in e] for e in self.ellipses]
        if self.polygons:
            spec["polygons"] = [
                [[_fmt_number(v) for v in point] for point in polygon] for polygon in self.polygons
            ]
        if self.mask is not None:
            spec["mask"] = _relative(self.mask, relative_to)
        return spec


# ------------------------------------------------------------------------------------ YAML


@dataclass(frozen=True)
class FindInputs:
    """What a search was run on, as paths and shapes: everything a spec needs to repeat it."""

    image: Path
    region: RegionShapes
    altered: Path | None = None
    mask_with: str | None = None
    control: RegionShapes | None = None
    control_altered: Path | None = None
    region_name: str = "region"
    control_name: str = "control"
    model: dict[str, Any] = field(
        default_factory=lambda: {"arch": "squeezenet1_0", "weights": "deep-compression"}
    )


def floor2(value: float) -> float:
    """Round down to 2 decimals; the 1e-9 keeps 0.8 × 0.7 at 0.56, not 0.55 by float error.

    Only used on 0.8 × a measured number, so the result stays well below the number itself.
    """
    return math.floor(value * 100 + 1e-9) / 100


def ceil2(value: float) -> float:
    """Round up to 2 decimals; the 1e-9 keeps 0.1 from becoming 0.11 by float error."""
    return math.ceil(value * 100 - 1e-9) / 100


def drop_thresholds(drop: float, control_drop: float | None) -> tuple[float, float | None]:
    """(at_least, control_at_most) with margin: 0.8 × drop, and 2 × control or control + 0.1.

    A control drop below 0 (the channel got stronger) counts as 0, so the limit stays ≥ 0.1.
    """
    at_least = floor2(0.8 * drop)
    if control_drop is None or math.isnan(control_drop):
        return at_least, None
    control = max(control_drop, 0.0)
    return at_least, ceil2(max(2 * control, control + 0.1))


def ratio_threshold(ratio: float) -> float | None:
    """ratio_at_least for a selective check: 0.8 × ratio, at most MAX_RATIO; None where the
    channel is not selective (ratio ≤ 1.5)."""
    if math.isnan(ratio) or ratio <= SELECTIVE_MIN_RATIO:
        return None
    return MAX_RATIO if math.isinf(ratio) else min(floor2(0.8 * ratio), MAX_RATIO)


def _relative(path: Path, relative_to: Path) -> str:
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(relative_to))).as_posix()


def _name(text: str) -> str:
    """A spec name (letters, digits, '_', '.', '-') made from a file stem or layer."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _image_names(inputs: FindInputs) -> dict[str, Path]:
    """A readable, unique name (the file stem) for each image the claim uses."""
    names: dict[str, Path] = {}
    for path in (inputs.image, inputs.altered, inputs.control_altered):
        if path is None or path in names.values():
            continue
        name, n = _name(Path(path).stem), 2
        while f"{name}" in names:
            name = f"{_name(Path(path).stem)}_{n}"
            n += 1
        names[name] = Path(path)
    return names


def _claim(
    best: ChannelScore, inputs: FindInputs, names: dict[str, str], index_base: int
) -> dict[str, Any]:
    """The claim as (key, value) lines, in the order a person reads them."""
    label = best.channel + index_base
    control = inputs.control is not None
    at_least, control_at_most = drop_thresholds(best.drop, best.control_drop if control else None)
    if at_least <= 0:
        raise ProbecheckError(
            f"the best channel ({best.layer} {label}) drops only {best.drop:.3g}: "
            "there is no drop claim worth writing",
            fix="try another layer, a larger region, or another way of removing it",
        )
    drop: dict[str, Any] = {"image": names["image"]}
    if inputs.altered is not None:
        drop["altered"] = names["altered"]
    else:
        drop["mask_with"] = inputs.mask_with
    drop |= {"region": inputs.region_name, "at_least": at_least}
    if control:
        drop["control"] = inputs.control_name
        if inputs.control_altered is not None:
            drop["control_altered"] = names["control_altered"]
        drop["control_at_most"] = control_at_most
    claim: dict[str, Any] = {
        "id": _name(f"{best.layer}-{label}-{inputs.region_name}"),
        "about": f"{best.layer} channel {label} responds to the {inputs.region_name} region",
        "layer": best.layer,
        "channels": [label],
        "drop": drop,
    }
    ratio = ratio_threshold(best.selectivity)
    if ratio is not None:
        claim["selective"] = {
            "image": names["image"],
            "region": inputs.region_name,
            "ratio_at_least": ratio,
        }
    return claim


def claim_yaml(
    best: ChannelScore,
    inputs: FindInputs,
    *,
    index_base: int = 0,
    relative_to: Path | None = None,
) -> str:
    """A spec with one claim about ``best``, thresholds set with margin below its numbers.

    Image and mask paths are written relative to ``relative_to`` (default: the current
    directory), which is where the spec file must be saved for them to resolve.
    """
    base = Path.cwd() if relative_to is None else Path(relative_to)
    images = _image_names(inputs)
    by_path = {path: name for name, path in images.items()}
    names = {"image": by_path[Path(inputs.image)]}
    if inputs.altered is not None:
        names["altered"] = by_path[Path(inputs.altered)]
    if inputs.control_altered is not None:
        names["control_altered"] = by_path[Path(inputs.control_altered)]
    claim = _claim(best, inputs, names, index_base)
    regions = {inputs.region_name: inputs.region.as_spec(base)}
    if inputs.control is not None:
        regions[inputs.control_name] = inputs.control.as_spec(base)
    control = "" if math.isnan(best.control_drop) else f", control drop {best.control_drop:.3g}"
    comments = [
        f"probecheck find: {best.layer} channel {best.channel + index_base}: "
        f"drop {best.drop:.3g}{control}, selectivity {best.selectivity:.3g}",
        "thresholds sit below these numbers, with margin; save this file in "
        f"{base} and run: pytest --probe-specs <file>",
    ]
    top = {
        "model": inputs.model,
        "index_base": index_base,
        "images": {name: _relative(path, base) for name, path in images.items()},
        "regions": regions,
    }
    text, _ = checked_spec_text(comments, top, [((), claim)], base, "the spec find printed")
    return text
