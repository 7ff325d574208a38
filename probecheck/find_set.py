"""Find channels over a set of images, then confirm them on images they were not found on.

A channel picked as the best of thousands on one image pair is an anecdote: the selection
itself makes it look good there. Here the set is split, with a seed, into a discovery split
and a held-out confirmation split (augmented views of one picture stay together). Every
channel is ranked on the discovery split by its mean score; only the top K are measured on
the confirmation split, each tested one-sided (is the per-picture effect above 0? views of
one picture are averaged into one sample) with a one-sample t-test, and the K p-values are
corrected with Holm's method. A claim is printed only for a channel that held on the
confirmation split, with thresholds from its numbers there.

- **Effect** of a channel on one image: drop − control drop (a silent channel's drop counts
  as 0), what a population drop claim compares: the region must drop more than the control.
- **Score** (for ranking only): min(drop, 1) − |control drop|, ``find``'s score: a drop above
  1 (a pre-ReLU mean pushed below 0) is no better than silence, and a control that rises is
  as suspect as one that falls.
- **Why the t-test**: an exact sign-flip test's smallest p-value with n images is 2⁻ⁿ (0.06
  at 4 images, 0.03 at 5), which no corrected threshold can clear; the t-test can, when the
  effects are consistent. It assumes the mean effect is roughly normal over images. Where
  every image gives the same effect there is no variance to test with, and the exact sign
  test's 2⁻ⁿ stands in.
- **Why Holm** (not Benjamini–Hochberg): each printed claim becomes a test that gates CI, so
  the chance that *any* printed claim is false is what to bound (the family-wise error
  rate), not the expected share of false ones.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from probecheck.errors import ProbecheckError
from probecheck.find import (
    LayerNumbers,
    RegionShapes,
    _altered_images,
    ceil2,
    default_layers,
    floor2,
    forward_numbers,
)
from probecheck.probe import Probe
from probecheck.zoo.images import load_image

__all__ = [
    "Candidate",
    "SetFind",
    "SetImage",
    "SetNumbers",
    "Summary",
    "find_over_set",
    "holm",
    "measure_set",
    "one_sided_p",
    "per_picture",
    "picture_keys",
    "rank_set",
    "read_regions_file",
    "set_claim",
    "split_set",
    "verdict",
]

#: A set needs this many pictures (groups): two to discover on, two to confirm on.
MIN_GROUPS = 4
ImageCallback = Callable[[str, int, int, str], None]


# ------------------------------------------------------------------------------ statistics


def one_sided_p(effects: NDArray) -> NDArray[np.float64]:
    """Per column of (images, channels) effects: the p-value of "the mean effect is > 0".

    A one-sample t-test (``scipy.stats.ttest_1samp``, alternative="greater"). Where every
    image gives the same effect the t statistic is undefined: p is the exact sign test's,
    0.5ⁿ for a positive effect (all n above 0), and 1 otherwise. Fewer than two images: p
    is 1 (no test).
    """
    from scipy import stats

    values = np.asarray(effects, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, np.newaxis]
    if values.shape[0] < 2:
        return np.ones(values.shape[1])
    constant = np.ptp(values, axis=0) == 0
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal numbers: p stays valid
        p = stats.ttest_1samp(values, 0.0, axis=0, alternative="greater").pvalue
    p = np.where(constant, np.where(values[0] > 0, 0.5 ** values.shape[0], 1.0), p)
    return np.where(np.isnan(p), 1.0, p)


def holm(p_values: Sequence[float] | NDArray) -> NDArray[np.float64]:
    """Holm's step-down adjusted p-values (family-wise error), in the input's order.

    Sorted ascending, the i-th smallest (1-based) is multiplied by m − i + 1; the running
    maximum keeps the order; capped at 1.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled) if m else scaled
    return adjusted


def _interval(values: NDArray, confidence: float) -> tuple[float, float]:
    """The interval a population check puts around the mean (``stats.mean_interval``: the
    seeded expanded-percentile bootstrap), so thresholds set from it are what it compares."""
    from probecheck import stats as population

    interval = population.mean_interval(np.asarray(values, dtype=np.float64), confidence)
    return interval.low, interval.high


# ---------------------------------------------------------------------------------- the set


@dataclass(frozen=True)
class SetImage:
    """One image of a set, its regions, and how they are removed (paired images or none)."""

    name: str  # the file name: what pairs it with its altered twins and its regions
    path: Path
    region: RegionShapes
    control: RegionShapes | None = None
    altered: Path | None = None
    control_altered: Path | None = None


def read_regions_file(path: Path) -> dict[str, dict[str, RegionShapes]]:
    """``{"<file name>": {"<region>": {"boxes": [...], ...}}}`` as shapes, read by the spec
    layer's reader (a bad file is a SpecError at its line, with a fix)."""
    from probecheck.spec.annotations import read_regions_file as read_annotations

    def shapes(region: Any) -> RegionShapes:
        return RegionShapes(
            boxes=tuple(tuple(b) for b in region.boxes or ()),
            ellipses=tuple(tuple(e) for e in region.ellipses or ()),
            polygons=tuple(tuple(tuple(point) for point in p) for p in region.polygons or ()),
        )

    annotations = read_annotations(Path(path))
    return {
        file_name: {name: shapes(region) for name, region in named.items()}
        for file_name, named in annotations.regions.items()
    }


def _paired(paths: Sequence[Path], names: Sequence[str], what: str) -> dict[str, Path]:
    by_name = {Path(p).name: Path(p) for p in paths}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ProbecheckError(
            f"the {what} has no image named {missing[0]} ({len(missing)} missing)",
            fix=f"the {what} pairs by file name: give each image of the set its twin",
        )
    return by_name


def _distinct_files(paths: Sequence[Path]) -> dict[str, Path]:
    """``{file name: path}``, a path given twice kept once; an error for two files of one name
    or two names of one picture (the same bytes)."""
    import hashlib

    files: dict[str, Path] = {}
    for path in map(Path, paths):
        kept = files.setdefault(path.name, path)
        if kept != path and kept.resolve() != path.resolve():
            raise ProbecheckError(
                f"two images of the set are named {path.name}: {kept} and {path}",
                fix="regions and twins pair images by file name: rename one of them",
            )
    seen: dict[str, str] = {}
    for name, path in files.items():
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue  # reading the image says why, with its name
        first = seen.setdefault(digest, name)
        if first != name:
            raise ProbecheckError(
                f"images {first} and {name} of the set are one picture (the same bytes): it "
                "could be found on and confirmed on at once, and would count twice",
                fix=f"leave {name} (or {first}) out of the set",
            )
    return files


def set_images(
    paths: Sequence[Path],
    regions: dict[str, dict[str, RegionShapes]],
    region: str,
    control: str | None = None,
    *,
    altered: Sequence[Path] | None = None,
    control_altered: Sequence[Path] | None = None,
    regions_file: Path | str = "the regions file",
) -> list[SetImage]:
    """The set's images in file-name order, each with its regions and paired twins.

    Each picture must come once: two files of one name (regions and twins pair by name) or one
    picture under two names (a link, a copy) is an error, since the copy could land in the
    discovery and the confirmation split at once, and would count twice in either.
    """
    files = sorted(_distinct_files(paths).items())
    if not files:
        raise ProbecheckError("the set has no image", fix="check the glob or the paths")
    names = [name for name, _ in files]
    twins = _paired(altered, names, "altered set") if altered is not None else {}
    control_twins = (
        _paired(control_altered, names, "control-altered set") if control_altered else {}
    )
    found = []
    for name, path in files:
        own = regions.get(name)
        if own is None:
            raise ProbecheckError(
                f"{regions_file} has no regions for {name}", fix=f'add "{name}": {{...}} to it'
            )
        for wanted in filter(None, (region, control)):
            if wanted not in own:
                known = ", ".join(sorted(own)) or "none"
                raise ProbecheckError(
                    f"{regions_file} gives {name} no region {wanted!r} (it has: {known})",
                    fix=f"add {wanted!r} for {name}, or choose a region it has",
                )
        found.append(
            SetImage(
                name,
                path,
                own[region],
                own[control] if control else None,
                twins.get(name),
                control_twins.get(name),
            )
        )
    return found


def picture_keys(names: Sequence[str], views_of: str | None) -> list[str]:
    """The picture each image shows: the first group (or the whole match) of ``views_of`` on
    the file stem; without it, or where it does not match, the stem (one picture a file)."""
    pattern = re.compile(views_of) if views_of else None
    keys: list[str] = []
    for name in names:
        stem = Path(name).stem
        match = pattern.search(stem) if pattern else None
        keys.append(stem if match is None else (match.group(1) if match.groups() else match[0]))
    return keys


def per_picture(values: NDArray, keys: Sequence[str]) -> NDArray[np.float64]:
    """The rows of ``values`` (images, ...) averaged per picture (``keys``, one an image), in
    the order of each picture's first image: views of one picture are one sample, not many."""
    first = list(dict.fromkeys(keys))
    rows = np.asarray(values, dtype=np.float64)
    return np.stack([rows[[k == key for k in keys]].mean(axis=0) for key in first])


def split_set(
    names: Sequence[str], *, seed: int, confirm_fraction: float = 0.5, views_of: str | None = None
) -> tuple[list[int], list[int]]:
    """Indices of (discovery, confirmation) images, drawn with ``seed``.

    Images are grouped first: by the first group (or the whole match) of the regular
    expression ``views_of`` on the file stem, so augmented views of one picture land in the
    same split; without it, each file is its own picture. Groups are shuffled with
    ``numpy.random.default_rng(seed)``; round(groups × confirm_fraction) of them, at least 2,
    confirm and the rest (at least 2) discover.
    """
    if not 0 < confirm_fraction < 1:
        raise ProbecheckError(
            f"the confirmation fraction {confirm_fraction} is not between 0 and 1",
            fix="e.g. --confirm-fraction 0.5",
        )
    keys = picture_keys(names, views_of)
    groups = sorted(set(keys))
    if len(groups) < MIN_GROUPS:
        raise ProbecheckError(
            f"the set has {len(groups)} picture(s) ({len(names)} images): too few to find "
            "on some and confirm on others",
            fix=f"give at least {MIN_GROUPS} pictures (views of one picture count once)",
        )
    order = np.random.default_rng(seed).permutation(len(groups))
    confirming = min(max(round(len(groups) * confirm_fraction), 2), len(groups) - 2)
    held_out = {groups[i] for i in order[:confirming]}
    discovery = [i for i, key in enumerate(keys) if key not in held_out]
    confirmation = [i for i, key in enumerate(keys) if key in held_out]
    return discovery, confirmation


# ------------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class SetNumbers:
    """Per image and channel (arrays of shape (images, channels)): the drop (0 where the
    channel is silent in the region), the control drop (None without a control), faintness
    and strength in the region."""

    layers: tuple[str, ...]
    layer_index: NDArray[np.intp]  # per channel column
    channel: NDArray[np.intp]
    drop: NDArray[np.float64]
    control_drop: NDArray[np.float64] | None
    faint: NDArray[np.bool_]
    strength: NDArray[np.float64]  # mean_in / peak (0 where silent): breaks ties in ranking

    @property
    def effect(self) -> NDArray[np.float64]:
        """drop − control drop per image and channel (the drop without a control)."""
        return self.drop if self.control_drop is None else self.drop - self.control_drop

    @property
    def score(self) -> NDArray[np.float64]:
        """min(drop, 1) − |control drop| per image and channel: what ranks channels."""
        capped = np.minimum(self.drop, 1.0)
        return capped if self.control_drop is None else capped - np.abs(self.control_drop)

    def columns(self, layer: str, channel: int) -> int:
        """The column of one channel."""
        hits = np.flatnonzero(
            (self.layer_index == self.layers.index(layer)) & (self.channel == channel)
        )
        return int(hits[0])


def _row(numbers: Sequence[LayerNumbers]) -> tuple[NDArray, NDArray | None, NDArray, NDArray]:
    drop = np.concatenate([np.where(n.silent, 0.0, n.drop) for n in numbers])
    control = (
        None
        if numbers[0].control_drop is None
        else np.concatenate([n.control_drop for n in numbers])  # type: ignore[misc]
    )
    faint = np.concatenate([n.faint & ~n.silent for n in numbers])
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = np.concatenate([np.where(n.silent, 0.0, n.mean_in / n.peak) for n in numbers])
    return drop, control, faint, strength


def measure_set(
    probe: Probe,
    images: Sequence[SetImage],
    layers: Sequence[str],
    *,
    mask_with: str | None,
    explicit: bool = False,
    on_image: ImageCallback | None = None,
    what: str = "",
) -> SetNumbers:
    """Every channel of ``layers`` on every image: one batched forward per image and its
    altered twins, scored in the forward (no map is kept)."""
    drops, controls, faints, strengths = [], [], [], []
    scored: list[str] = []
    for done, item in enumerate(images, start=1):
        rgb = load_image(item.path)
        region = item.region.rasterise(rgb.shape[:2], f"{item.name}: region")
        control = (
            item.control.rasterise(rgb.shape[:2], f"{item.name}: control")
            if item.control is not None
            else None
        )
        altered_rgb, control_rgb = _altered_images(
            rgb, region, item.altered, mask_with, control, item.control_altered, item.name
        )
        inputs = [rgb, altered_rgb] + ([control_rgb] if control_rgb is not None else [])
        scored, numbers = forward_numbers(
            probe, layers, inputs, region, control, explicit=explicit, selectivity=False
        )
        drop, control_drop, faint, strength = _row(numbers)
        drops.append(drop)
        controls.append(control_drop)
        faints.append(faint)
        strengths.append(strength)
        if on_image is not None:
            on_image(what, done, len(images), item.name)
    counts = [len(n.drop) for n in numbers]
    return SetNumbers(
        tuple(scored),
        np.repeat(np.arange(len(counts)), counts),
        np.concatenate([np.arange(c) for c in counts]),
        np.stack(drops),
        None if controls[0] is None else np.stack(controls),  # type: ignore[arg-type]
        np.stack(faints),
        np.stack(strengths),
    )


# --------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Summary:
    """A channel's numbers on one split: means over its images, and the intervals a
    population claim's thresholds are set from."""

    images: int
    drop: float
    control_drop: float  # nan without a control
    effect: float
    fraction: float  # share of images with effect > 0
    drop_low: float  # the lower bound of the drop's interval (stats.mean_interval)
    control_high: float  # the upper bound of the control drop's interval (nan without one)

    @classmethod
    def of(
        cls, numbers: SetNumbers, rows: Sequence[int], column: int, confidence: float
    ) -> Summary:
        drop = numbers.drop[rows, column]
        effect = numbers.effect[rows, column]
        control = None if numbers.control_drop is None else numbers.control_drop[rows, column]
        return cls(
            images=len(rows),
            drop=float(drop.mean()),
            control_drop=math.nan if control is None else float(control.mean()),
            effect=float(effect.mean()),
            fraction=float((effect > 0).mean()),
            drop_low=_interval(drop, confidence)[0],
            control_high=math.nan if control is None else _interval(control, confidence)[1],
        )


@dataclass(frozen=True)
class Candidate:
    """One channel carried from discovery to confirmation, and what it showed there."""

    layer: str
    channel: int
    discovery: Summary
    confirmation: Summary
    p: float  # one-sided t-test on the confirmation split
    p_adjusted: float  # Holm, over the channels tested
    held: bool
    at_least: float | None  # the claim's thresholds, from the confirmation numbers
    control_at_most: float | None
    why_not: str = ""


@dataclass(frozen=True)
class SetFind:
    """What ``find_over_set`` did and found."""

    discovery: list[str]  # file names
    confirmation: list[str]
    layers: int
    ranked: int  # channels ranked on the discovery split
    candidates: list[Candidate]  # the channels tested on the confirmation split, best first
    confidence: float

    @property
    def held(self) -> list[Candidate]:
        return [c for c in self.candidates if c.held]


def _whole_set(
    found: SetNumbers,
    column: int,
    held_out: SetNumbers,
    held_column: int,
    confidence: float,
    order: NDArray[np.intp],
) -> Summary:
    """A channel's numbers over every image of the set: what the printed claim will see.

    ``order`` puts the discovery images, then the held-out ones, back in the set's order (by
    file name, as a spec's set holds them): the bootstrap resamples positions, so the interval
    depends on the order, and judged in another one a claim could hold here and fail as written.
    """
    drop = np.concatenate([found.drop[:, column], held_out.drop[:, held_column]])[order]
    control = None
    if found.control_drop is not None and held_out.control_drop is not None:
        control = np.concatenate(
            [found.control_drop[:, column], held_out.control_drop[:, held_column]]
        )[order]
    effect = drop if control is None else drop - control
    return Summary(
        images=drop.size,
        drop=float(drop.mean()),
        control_drop=math.nan if control is None else float(control.mean()),
        effect=float(effect.mean()),
        fraction=float((effect > 0).mean()),
        drop_low=_interval(drop, confidence)[0],
        control_high=math.nan if control is None else _interval(control, confidence)[1],
    )


def verdict(
    adjusted_p: float,
    alpha: float,
    at_least: float,
    control_at_most: float | None,
    whole: Summary,
) -> str:
    """Why a candidate did not hold ("" where it held): its Holm-adjusted p above ``alpha``,
    no drop threshold above 0, a control threshold that reaches the drop's, or a claim that,
    as written, fails over the whole set (``whole``: every image's numbers)."""
    if adjusted_p > alpha:
        return f"adjusted p {adjusted_p:.3g} > {alpha:.3g}"
    if at_least <= 0:
        return "the drop's lower bound on confirmation leaves no threshold above 0"
    if control_at_most is not None and control_at_most >= at_least:
        return (
            f"the control may drop as much as the region ({control_at_most:.3g} ≥ "
            f"{at_least:.3g}): not a selective claim"
        )
    if whole.drop_low < at_least:
        return (
            f"over the whole set the drop's lower bound {whole.drop_low:.3g} is below "
            f"{at_least:.3g}: the claim as written would fail"
        )
    if control_at_most is not None and whole.control_high > control_at_most:
        return (
            f"over the whole set the control's upper bound {whole.control_high:.3g} is "
            f"above {control_at_most:.3g}: the claim as written would fail"
        )
    return ""


def thresholds(summary: Summary) -> tuple[float, float | None]:
    """(at_least, control_at_most) with margin from a split's numbers: 0.8 × the drop's lower
    bound, down; the control's upper bound (at least 0) doubled or + 0.1, up."""
    at_least = floor2(0.8 * summary.drop_low)
    if math.isnan(summary.control_high):
        return at_least, None
    high = max(summary.control_high, 0.0)
    return at_least, ceil2(max(2 * high, high + 0.1))


def rank_set(numbers: SetNumbers) -> NDArray[np.intp]:
    """Channel columns, best first: by mean score over the images; ties (e.g. a score of 1
    on every image) to the channel stronger in the region (mean mean_in / peak); channels
    faint in the region (mean_in < 5% of peak) on most images last."""
    effect = numbers.score.mean(axis=0)
    mostly_faint = numbers.faint.mean(axis=0) > 0.5
    strength = numbers.strength.mean(axis=0)
    return np.lexsort((-strength, -effect, mostly_faint))


def find_over_set(
    probe: Probe,
    images: Sequence[SetImage],
    *,
    mask_with: str | None = None,
    layers: Sequence[str] | None = None,
    top: int = 10,
    seed: int = 0,
    confirm_fraction: float = 0.5,
    views_of: str | None = None,
    confidence: float = 0.95,
    on_image: ImageCallback | None = None,
) -> SetFind:
    """Rank every channel on a discovery split; test the ``top`` on the held-out split.

    Ranking on the discovery images: ``rank_set``. A candidate *holds* where its Holm-adjusted
    one-sided p-value on the confirmation split is at most 1 − ``confidence``, the drop
    threshold set from its confirmation numbers is above 0, the control's threshold is below
    the drop's, and the claim as written passes over the whole set it names (the intervals
    of every image's numbers clear both thresholds).
    """
    if top < 1:
        raise ProbecheckError("at least one channel must be tested", fix="e.g. --top 10")
    if not 0.5 <= confidence < 1:
        raise ProbecheckError(
            f"confidence {confidence} is not in [0.5, 1)", fix="e.g. --confidence 0.95"
        )
    discovery, confirmation = split_set(
        [i.name for i in images], seed=seed, confirm_fraction=confirm_fraction, views_of=views_of
    )
    explicit = layers is not None
    names = list(layers) if layers is not None else default_layers(probe)
    for name in names:
        probe.resolve(name)
    found = measure_set(
        probe,
        [images[i] for i in discovery],
        names,
        mask_with=mask_with,
        explicit=explicit,
        on_image=on_image,
        what="discovery",
    )
    rows = list(range(len(discovery)))
    order = rank_set(found)[:top]
    chosen = [(found.layers[found.layer_index[c]], int(found.channel[c])) for c in order]
    wanted = [name for name in found.layers if any(layer == name for layer, _ in chosen)]
    held_out = measure_set(
        probe,
        [images[i] for i in confirmation],
        wanted,
        mask_with=mask_with,
        on_image=on_image,
        what="confirmation",
    )
    columns = [held_out.columns(layer, channel) for layer, channel in chosen]
    # one sample a picture: views of one picture held out together are not independent images
    pictures = picture_keys([images[i].name for i in confirmation], views_of)
    p = one_sided_p(per_picture(held_out.effect[:, columns], pictures))
    adjusted = holm(p)
    alpha = 1.0 - confidence
    candidates = []
    confirm_rows = list(range(len(confirmation)))
    set_order = np.argsort(np.array(discovery + confirmation), kind="stable")
    for k, (layer, channel) in enumerate(chosen):
        there = Summary.of(held_out, confirm_rows, columns[k], confidence)
        at_least, control_at_most = thresholds(there)
        whole = _whole_set(found, int(order[k]), held_out, columns[k], confidence, set_order)
        why_not = verdict(float(adjusted[k]), alpha, at_least, control_at_most, whole)
        candidates.append(
            Candidate(
                layer,
                channel,
                Summary.of(found, rows, int(order[k]), confidence),
                there,
                float(p[k]),
                float(adjusted[k]),
                not why_not,
                at_least if not why_not else None,
                control_at_most if not why_not else None,
                why_not,
            )
        )
    return SetFind(
        [images[i].name for i in discovery],
        [images[i].name for i in confirmation],
        len(found.layers),
        int(found.drop.shape[1]),
        candidates,
        confidence,
    )


# ------------------------------------------------------------------------------------ claim


def set_claim(
    candidate: Candidate,
    *,
    set_name: str,
    region: str,
    control: str | None,
    mask_with: str | None,
    altered_set: str | None = None,
    control_altered_set: str | None = None,
    confidence: float = 0.95,
    index_base: int = 0,
) -> dict[str, Any]:
    """A population drop claim for a candidate that held, in the spec language's keys."""
    if not candidate.held or candidate.at_least is None:
        raise ValueError("only a candidate that held on confirmation gets a claim")
    label = candidate.channel + index_base
    drop: dict[str, Any] = {"set": set_name}
    if altered_set is not None:
        drop["altered_set"] = altered_set
    else:
        drop["mask_with"] = mask_with
    drop |= {"region": region, "at_least": candidate.at_least}
    if control is not None:
        drop["control"] = control
        if control_altered_set is not None:
            drop["control_altered_set"] = control_altered_set
        drop["control_at_most"] = candidate.control_at_most
    drop["confidence"] = confidence
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{candidate.layer}-{label}-{region}-{set_name}")
    return {
        "id": name,
        "about": f"{candidate.layer} channel {label} responds to the {region} region across "
        f"the {set_name} set (found on a discovery split, confirmed on held-out images)",
        "layer": candidate.layer,
        "channels": [label],
        "drop": drop,
    }
