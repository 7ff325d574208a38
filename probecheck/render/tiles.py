"""One diagnostic PNG per claim: why it passed or failed, readable without the code.

Per check and per case, one row: the image with its region (green) and control (blue) outlined,
the altered images, then for each claimed channel its activation map on every image of the case —
scaled jointly, so a drop shows as a darkening — each titled with the numbers held to the
thresholds, failing ones in red. Where a check fails and other channels of the layer would pass,
their maps follow ("would pass: ch N"): where did the feature go?

Every map has its colour bar; a layer that goes negative (pre-ReLU) is drawn blue-white-red about
zero. A region too small to see gets a zoomed inset; text wraps and long rows continue below, so
the tile's width stays bounded. Given the claim measured on the baseline's model, its maps of the
claimed channels are drawn beside the candidate's.
"""

from __future__ import annotations

import hashlib
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from skimage.transform import resize

from probecheck import metrics
from probecheck.checks.registry import kind as registered_kind
from probecheck.metric_table import compared_metrics
from probecheck.regions import outline
from probecheck.render.montage import (
    BLACK,
    GRAY,
    GREEN,
    RED,
    WHITE,
    Line,
    MapScale,
    Segment,
    band_height,
    colorbar,
    hstack,
    save_png,
    text_band,
    text_width,
    vstack,
    wrap_line,
)
from probecheck.render.montage import number as tick
from probecheck.render.occlusion import occlusion_overlay
from probecheck.results import (
    CaseEvidence,
    CaseResult,
    ChannelResult,
    CheckResult,
    ClaimResult,
    fmt,
)

__all__ = ["claim_tile", "tile_name", "write_claim_tile"]

PANEL_HEIGHT = 160
MIN_PANEL_WIDTH = 150
MAX_PANEL_WIDTH = 320  # a wide photo's panel is this wide, and lower (but never below the next)
MIN_PANEL_HEIGHT = 80
MAX_ROW_WIDTH = 1600  # panels beyond it continue on a second line, so the tile stays readable
MIN_TILE_WIDTH = 480
MAX_TEXT_WIDTH = 1100  # text wraps at the pictures' width, or at this where there are none
INSET_BELOW = 24  # a region smaller than this (panel pixels, its longer side) gets a zoomed inset
INSET_CONTEXT = 1.0  # the inset shows the region and this many times its size around it
BASELINE_TEXT = (120, 60, 160)
MAX_ALTERNATIVE_PANELS = 3
TITLE_LINES = 3
REGION_RGB = (40, 230, 40)
CONTROL_RGB = (0, 170, 255)
REGION_TEXT = (0, 140, 0)
CONTROL_TEXT = (0, 100, 210)
MARGIN = 10


# file names ------------------------------------------------------------------------------------


def tile_name(result: ClaimResult, stem: str | None = None) -> str:
    """``<spec stem>__<claim id>.png``, sanitised to ``[A-Za-z0-9_.-]``.

    ``stem`` names the spec where its file name alone is not unique (the plugin passes the
    spec's path relative to the root directory, ``specs.face``). Where sanitising loses
    information (or the ``__`` joint would be ambiguous), a short hash of the spec path and claim
    id is appended, so distinct claims never share a file.
    """
    stem = stem or (Path(result.spec).stem if result.spec else "claim")
    raw = f"{stem}__{result.claim_id}"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", raw)
    lossy = name != raw or "__" in stem or "__" in result.claim_id or name.startswith(".")
    if lossy or len(name) > 150:
        digest = hashlib.sha1(f"{result.spec}::{result.claim_id}".encode()).hexdigest()[:8]
        name = f"{name[:150].lstrip('.') or 'claim'}-{digest}"
    return f"{name}.png"


def write_claim_tile(
    result: ClaimResult,
    directory: str | Path,
    *,
    stem: str | None = None,
    baseline: ClaimResult | None = None,
) -> Path:
    """Draw the claim's tile and write it atomically as ``directory / tile_name(result, stem)``.

    ``baseline``: the same claim measured on the baseline's model, with its evidence; its maps
    are drawn beside the candidate's (see :func:`claim_tile`).
    """
    return save_png(claim_tile(result, baseline), Path(directory) / tile_name(result, stem))


# panels and rows -------------------------------------------------------------------------------


@dataclass
class _Panel:
    picture: NDArray[np.uint8]
    lines: list[Line] = field(default_factory=list)


def _verdict(ok: bool, yes: str = "✓", no: str = "✗") -> Segment:
    return (yes, GREEN) if ok else (no, RED)


def _judged(name: str, value: float, threshold: float | None, higher: bool) -> Line:
    """``drop 0.96 ≥ 0.5 ✓`` in green, or the failing comparison in red."""
    if threshold is None:
        return f"{name} {fmt(value)}"
    ok = not math.isnan(value) and (value >= threshold if higher else value <= threshold)
    op = "≥" if higher else "≤"
    colour = GREEN if ok else RED
    return [(f"{name} {fmt(value)} {op} {fmt(threshold)} ", colour), _verdict(ok)]


def _named(prefix: str, name: str | None, colour: tuple[int, int, int]) -> Line:
    return [(prefix, BLACK), (name or "?", colour)]


def _mask_at(mask: NDArray[np.bool_], shape: tuple[int, int]) -> NDArray[np.bool_]:
    if mask.shape == shape:
        return mask
    return resize(mask.astype(np.float32), shape, order=0, anti_aliasing=False) > 0.5


def _outlined(picture: NDArray[np.uint8], evidence: CaseEvidence) -> NDArray[np.uint8]:
    """Region and control drawn as 2-px lines (find_boundaries' 'thick' mode) on ``picture``."""
    out = picture.copy()
    for mask, colour in ((evidence.control, CONTROL_RGB), (evidence.region, REGION_RGB)):
        if mask is not None:
            out[outline(_mask_at(mask, out.shape[:2]), mode="thick")] = colour
    return out


def _panel_shape(height: int, width: int) -> tuple[int, int]:
    """A picture's panel size: PANEL_HEIGHT high, aspect kept; a wide one narrower and lower.

    Wide photos are capped at MAX_PANEL_WIDTH but never lower than MIN_PANEL_HEIGHT, so a
    panorama does not stretch the tile nor shrink its thumbnails to slivers.
    """
    aspect = width / height
    if PANEL_HEIGHT * aspect <= MAX_PANEL_WIDTH:
        return PANEL_HEIGHT, max(1, round(PANEL_HEIGHT * aspect))
    rows = round(MAX_PANEL_WIDTH / aspect)
    if rows >= MIN_PANEL_HEIGHT:
        return rows, MAX_PANEL_WIDTH
    return MIN_PANEL_HEIGHT, round(MIN_PANEL_HEIGHT * aspect)


def _fit(image: NDArray[np.uint8], shape: tuple[int, int]) -> NDArray[np.uint8]:
    if image.shape[:2] == shape:
        return image
    out = resize(image, shape, order=1, anti_aliasing=True, preserve_range=True)
    return out.round().astype(np.uint8)


def _photo(image: NDArray[np.uint8], evidence: CaseEvidence) -> NDArray[np.uint8]:
    return _outlined(_fit(image, _panel_shape(*image.shape[:2])), evidence)


def _map(
    activation: NDArray, evidence: CaseEvidence, lo: float | None = None, hi: float | None = None
) -> NDArray[np.uint8]:
    """One channel's map over [lo, hi] (:func:`_scale`), resized to the image's panel, outlined,
    with its colour bar underneath."""
    scale = _scale(activation) if lo is None or hi is None else _scale_of(lo, hi)
    shape = _panel_shape(*evidence.image.shape[:2])
    values = np.nan_to_num(np.asarray(activation, dtype=np.float64))
    big = resize(values, shape, order=1, anti_aliasing=False, preserve_range=True)
    return vstack([_outlined(scale.rgb(big), evidence), _bar(scale, shape[1])], gap=2)


def _bar(scale: MapScale, width: int, ticks: Sequence[str] | None = None) -> NDArray[np.uint8]:
    return colorbar(scale, max(width, MIN_PANEL_WIDTH // 2), ticks=ticks)


def _scale_of(lo: float, hi: float) -> MapScale:
    """Inferno over [lo, hi]; diverging about zero where the range goes negative (pre-ReLU)."""
    if lo < 0:
        top = max(-lo, hi)
        return MapScale(-top, top, "diverging")
    return MapScale(lo, hi, "inferno")


def _range(*maps: NDArray | None) -> tuple[float, float]:
    values = [np.nan_to_num(np.asarray(m, dtype=np.float64)) for m in maps if m is not None]
    return min(float(v.min()) for v in values), max(float(v.max()) for v in values)


def _scale(*maps: NDArray | None) -> MapScale:
    return _scale_of(*_range(*maps))


def _render_panel(panel: _Panel, lines: int) -> NDArray[np.uint8]:
    picture = panel.picture
    width = max(picture.shape[1], MIN_PANEL_WIDTH)
    if picture.shape[1] < width:  # centre a narrow (portrait) picture under a readable title
        left = (width - picture.shape[1]) // 2
        picture = hstack([np.full((picture.shape[0], left, 3), 255, np.uint8), picture], gap=0)
    band = text_band(panel.lines, width, height=band_height(lines))
    return vstack([band, picture])


def _row(groups: Sequence[Sequence[_Panel]]) -> NDArray[np.uint8]:
    """Groups of panels (image, then one group per channel): close within, apart between.

    Groups that would run past MAX_ROW_WIDTH continue on another line (a group is never split).
    """
    lines = max((len(p.lines) for g in groups for p in g), default=0)
    rendered = [hstack([_render_panel(p, lines) for p in g], gap=4) for g in groups if g]
    rows: list[list[NDArray[np.uint8]]] = [[]]
    width = 0
    for group in rendered:
        if rows[-1] and width + 18 + group.shape[1] > MAX_ROW_WIDTH:
            rows.append([])
            width = 0
        width += (18 if rows[-1] else 0) + group.shape[1]
        rows[-1].append(group)
    return vstack([hstack(row, gap=18) for row in rows], gap=10)


# zoomed inset of a small region ----------------------------------------------------------------


def _inset_panel(case: CaseResult, ev: CaseEvidence) -> _Panel | None:
    """The photo around a region too small to see on its panel, enlarged, outlines drawn.

    A region whose longer side would be under INSET_BELOW panel pixels (24×14 px eyes on a
    512 px photo are 8×4 there) is shown again, cropped to it and INSET_CONTEXT times its size
    around it, at the panel's height.
    """
    if ev.region is None or not ev.region.any():
        return None
    height, width = ev.image.shape[:2]
    rows, cols = np.nonzero(ev.region)
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    panel_rows = _panel_shape(height, width)[0]
    if max(y1 - y0, x1 - x0) * panel_rows / height >= INSET_BELOW:
        return None
    pad_y = max(4, round((y1 - y0) * INSET_CONTEXT))
    pad_x = max(4, round((x1 - x0) * INSET_CONTEXT))
    top, bottom = max(0, y0 - pad_y), min(height, y1 + pad_y)
    left, right = max(0, x0 - pad_x), min(width, x1 + pad_x)
    crop = CaseEvidence(
        image=ev.image[top:bottom, left:right],
        maps=ev.maps,
        region=ev.region[top:bottom, left:right],
        control=None if ev.control is None else ev.control[top:bottom, left:right],
    )
    shape = _panel_shape(bottom - top, right - left)
    picture = _outlined(_fit(crop.image, shape), crop)
    zoom = shape[0] / (bottom - top) * height / panel_rows
    lines: list[Line] = [
        f"zoom ×{zoom:.0f}",
        _named("on ", case.inputs.get("region") or "region", REGION_TEXT),
        f"x {left}–{right}, y {top}–{bottom} px",
    ]
    return _Panel(picture, lines)


# channel labels ↔ map indices ------------------------------------------------------------------


def _index_base(result: ClaimResult) -> int:
    """Labels are 0- or 1-based as the spec said; any channel result tells which."""
    for check in result.checks:
        for case in check.cases:
            for ch in case.channels:
                return ch.label - ch.channel
    return 0


def _alternative_panels(
    check: CheckResult, case: CaseResult, base: int, shown: set[int]
) -> list[_Panel]:
    """Maps of the first channels that would pass this check now, not already in the row."""
    evidence = case.evidence
    if check.passed or case.passed or evidence is None:
        return []
    panels = []
    for label in check.alternatives[:MAX_ALTERNATIVE_PANELS]:
        index = label - base
        if label in shown or not 0 <= index < evidence.maps.shape[0]:
            continue
        lines: list[Line] = [
            [(f"would pass: ch {label}", GREEN)],
            f"on {case.inputs.get('image') or 'image'}",
        ]
        if evidence.occlusion is not None:
            panels.append(_occlusion_panel(evidence, index, lines))
        elif evidence.altered_maps is not None:
            lo, hi = _range(evidence.maps[index], evidence.altered_maps[index])
            panels.append(_Panel(_map(evidence.maps[index], evidence, lo, hi), lines))
            panels.append(
                _Panel(
                    _map(evidence.altered_maps[index], evidence, lo, hi),
                    [[(f"would pass: ch {label}", GREEN)], f"on {_altered_name(case)}"],
                )
            )
        else:
            panels.append(_Panel(_map(evidence.maps[index], evidence), lines))
    return panels


def _altered_name(case: CaseResult) -> str:
    inputs = case.inputs
    if inputs.get("altered") or inputs.get("other"):
        return str(inputs.get("altered") or inputs["other"])
    return f"{inputs.get('mask_with') or '?'}-masked {inputs.get('region') or ''}".strip()


def _control_altered_name(case: CaseResult) -> str:
    inputs = case.inputs
    if inputs.get("control_altered"):
        return str(inputs["control_altered"])
    return f"{inputs.get('mask_with') or '?'}-masked {inputs.get('control') or ''}".strip()


# rows per check kind ---------------------------------------------------------------------------


def _image_panel(case: CaseResult, evidence: CaseEvidence, extra: Line = "") -> _Panel:
    inputs = case.inputs
    lines: list[Line] = [inputs.get("image") or "image"]
    if inputs.get("region"):
        lines.append(_named("region ", inputs["region"], REGION_TEXT))
    if inputs.get("control"):
        lines.append(_named("control ", inputs["control"], CONTROL_TEXT))
    if extra:
        lines.append(extra)
    return _Panel(_photo(evidence.image, evidence), lines)


def _drop_groups(check: CheckResult, case: CaseResult, ev: CaseEvidence) -> list[list[_Panel]]:
    inputs = case.inputs
    at_least = check.thresholds.get("at_least")
    at_most = check.thresholds.get("control_at_most")
    pictures = [_image_panel(case, ev)]
    if ev.altered is not None:
        pictures.append(
            _Panel(
                _photo(ev.altered, ev),
                [_altered_name(case), _named("altered: ", inputs.get("region"), REGION_TEXT)],
            )
        )
    if ev.control_altered is not None:
        pictures.append(
            _Panel(
                _photo(ev.control_altered, ev),
                [
                    _control_altered_name(case),
                    _named("altered: ", inputs.get("control"), CONTROL_TEXT),
                ],
            )
        )
    groups = [pictures]
    region, control = inputs.get("region") or "region", inputs.get("control") or "control"
    for ch in case.channels:
        v, i = ch.values, ch.channel
        head: Segment = (f"ch {ch.label}", RED if not ch.passed else BLACK)
        maps = [ev.maps[i]]
        maps += [m[i] for m in (ev.altered_maps, ev.control_altered_maps) if m is not None]
        lo, hi = _range(*maps)
        own: list[Line] = [[head], f"on {inputs.get('image') or 'image'}"]
        own.append(f"mean in {region} {fmt(v.get('mean_in', math.nan))}")
        if "control_mean_in" in v:
            own.append(f"mean in {control} {fmt(v['control_mean_in'])}")
        group = [_Panel(_map(ev.maps[i], ev, lo, hi), own)]
        drop_line = _judged("drop", v.get("drop", math.nan), at_least, True)
        control_line = (
            _judged("control", v["control_drop"], at_most, False) if "control_drop" in v else None
        )
        if ev.altered_maps is not None:
            lines: list[Line] = [
                [head],
                f"on {_altered_name(case)}",
                f"mean in {region} {fmt(v.get('mean_in_altered', math.nan))}",
                drop_line,
            ]
            if control_line is not None and ev.control_altered_maps is None:
                lines.append(control_line)
            group.append(_Panel(_map(ev.altered_maps[i], ev, lo, hi), lines))
        if ev.control_altered_maps is not None:
            lines = [
                [head],
                f"on {_control_altered_name(case)}",
                f"mean in {control} {fmt(v.get('control_mean_in_altered', math.nan))}",
            ]
            if control_line is not None:
                lines.append(control_line)
            group.append(_Panel(_map(ev.control_altered_maps[i], ev, lo, hi), lines))
        groups.append(group)
    return groups


def _selective_groups(check: CheckResult, case: CaseResult, ev: CaseEvidence) -> list[list[_Panel]]:
    groups = [[_image_panel(case, ev)]]
    if "ratio_at_least" in check.thresholds:
        name, key = "ratio", "ratio_at_least"
    else:
        name, key = "iou", "iou_at_least"
    for ch in case.channels:
        v = ch.values
        lines: list[Line] = [
            [(f"ch {ch.label}", RED if not ch.passed else BLACK)],
            f"mean in region {fmt(v.get('mean_in', math.nan))}",
            f"mean outside {fmt(v.get('mean_out', math.nan))}",
            _judged(name, v.get(name, math.nan), check.thresholds.get(key), True),
        ]
        groups.append([_Panel(_map(ev.maps[ch.channel], ev), lines)])
    return groups


def _compare_groups(check: CheckResult, case: CaseResult, ev: CaseEvidence) -> list[list[_Panel]]:
    """The two images, then per channel its maps on both at one scale, the ratio judged."""
    other = _altered_name(case)
    pictures = [_image_panel(case, ev)]
    if ev.altered is not None:
        pictures.append(_Panel(_photo(ev.altered, ev), [other]))
    groups = [pictures]
    at_least = check.thresholds.get("ratio_at_least")
    for ch in case.channels:
        v, i = ch.values, ch.channel
        head: Segment = (f"ch {ch.label}", RED if not ch.passed else BLACK)
        maps = [ev.maps[i]] + ([ev.altered_maps[i]] if ev.altered_maps is not None else [])
        lo, hi = _range(*maps)
        group = [
            _Panel(
                _map(ev.maps[i], ev, lo, hi),
                [
                    [head],
                    f"on {case.inputs.get('image') or 'image'}",
                    f"mean in region {fmt(v.get('mean_in', math.nan))}",
                ],
            )
        ]
        if ev.altered_maps is not None:
            lines: list[Line] = [
                [head],
                f"on {other}",
                f"mean in region {fmt(v.get('mean_in_other', math.nan))}",
                _judged("ratio", v.get("ratio", math.nan), at_least, True),
            ]
            group.append(_Panel(_map(ev.altered_maps[i], ev, lo, hi), lines))
        groups.append(group)
    return groups


def _strongest_groups(
    check: CheckResult, case: CaseResult, ev: CaseEvidence, base: int
) -> list[list[_Panel]]:
    score = "region_mean" if ev.region is not None else "peak"
    by = "mean in region" if ev.region is not None else "peak"
    image = _image_panel(case, ev, f"strongest by {by}")
    top_label = case.combined.get("strongest", math.nan)
    top = int(top_label) - base if not math.isnan(top_label) else None
    shown = [ch.channel for ch in case.channels]
    if top is not None and top not in shown and 0 <= top < ev.maps.shape[0]:
        shown.append(top)
    lo, hi = _range(*(ev.maps[i] for i in shown))
    top_k = check.thresholds.get("top_k")
    panels = []
    for ch in case.channels:
        rank = ch.values.get("rank", math.nan)
        rank_line: Line = (
            _judged("rank", rank, top_k, False)
            if top_k is not None
            else [(f"rank {fmt(rank)} ", GREEN if ch.passed else RED), _verdict(ch.passed)]
        )
        lines: list[Line] = [
            [(f"ch {ch.label} · claimed", BLACK)],
            f"{by} {fmt(ch.values.get(score, math.nan))}",
            rank_line,
        ]
        panels.append(_Panel(_map(ev.maps[ch.channel], ev, lo, hi), lines))
    if top is not None and top not in [ch.channel for ch in case.channels]:
        strongest_value = case.combined.get(f"strongest_{score}", float(ev.maps[top].max()))
        lines = [
            [(f"strongest: ch {top + base}", BLACK)],
            f"{by} {fmt(strongest_value)}",
            "rank 1",
        ]
        panels.append(_Panel(_map(ev.maps[top], ev, lo, hi), lines))
    return [[image], panels]


def _occlusion_panel(ev: CaseEvidence, channel: int, lines: list[Line]) -> _Panel:
    """The channel's occlusion map over the image, region outlined, peak crossed."""
    sweep = ev.occlusion
    sensitivity = metrics.occlusion_map(
        sweep.drops[channel], sweep.starts_y, sweep.starts_x, sweep.patch, sweep.input_size
    )
    row, col = metrics.map_peak(sensitivity)
    height, width = ev.image.shape[:2]
    peak = (
        min(int((col + 0.5) * width / sweep.input_size[1]), width - 1),
        min(int((row + 0.5) * height / sweep.input_size[0]), height - 1),
    )
    picture = occlusion_overlay(ev.image, sensitivity, region=ev.region, peak=peak)
    shape = _panel_shape(height, width)
    top = float(np.nanmax(sensitivity)) if np.isfinite(sensitivity).any() else 0.0
    bar = _bar(MapScale(0.0, max(top, 0.0)), shape[1], ticks=("0", f"drop {tick(top)}"))
    return _Panel(vstack([_fit(picture, shape), bar], gap=2), lines)


def _occlusion_groups(check: CheckResult, case: CaseResult, ev: CaseEvidence) -> list[list[_Panel]]:
    t = check.thresholds
    sweep = f"patch {t.get('patch')}/{t.get('stride')} px, {t.get('fill')}"
    groups = [[_image_panel(case, ev, sweep)]]
    for ch in case.channels:
        v = ch.values
        verdicts: list[Line] = []
        if t.get("peak_in_region"):
            inside = v.get("peak_in", math.nan) >= 1
            verdicts.append(
                [
                    ("peak in region " if inside else "peak outside ", GREEN if inside else RED),
                    _verdict(inside),
                ]
            )
        if t.get("iou_at_least") is not None:
            verdicts.append(_judged("iou", v.get("iou", math.nan), t.get("iou_at_least"), True))
        lines: list[Line] = [
            [(f"ch {ch.label} · occlusion map", RED if not ch.passed else BLACK)],
            f"drop in {fmt(v.get('map_in', math.nan))} · out {fmt(v.get('map_out', math.nan))}",
            *verdicts,
        ]
        if ev.occlusion is None or not 0 <= ch.channel < ev.occlusion.drops.shape[0]:
            groups.append([_Panel(_map(ev.maps[ch.channel], ev), lines)])
        else:
            groups.append([_occlusion_panel(ev, ch.channel, lines)])
    return groups


def _generic_groups(case: CaseResult, ev: CaseEvidence) -> list[list[_Panel]]:
    groups = [[_image_panel(case, ev)]]
    for ch in case.channels:
        numbers = ", ".join(f"{k} {fmt(v)}" for k, v in ch.values.items())
        groups.append([_Panel(_map(ev.maps[ch.channel], ev), [f"ch {ch.label}", numbers])])
    return groups


def _case_row(
    check: CheckResult,
    case: CaseResult,
    base: int,
    claimed: set[int],
    baseline: CaseResult | None = None,
) -> NDArray:
    ev = case.evidence
    assert ev is not None
    if check.kind == "strongest":
        groups = _strongest_groups(check, case, ev, base)
    elif check.kind in _GROUPS:
        groups = _GROUPS[check.kind](check, case, ev)
    else:
        groups = _generic_groups(case, ev)
    inset = _inset_panel(case, ev)
    if inset is not None:
        groups[0].insert(1, inset)
    shown = set(claimed)
    if check.kind == "strongest" and not math.isnan(case.combined.get("strongest", math.nan)):
        shown.add(int(case.combined["strongest"]))
    if baseline is not None:
        groups += _baseline_groups(case, baseline)
    groups.append(_alternative_panels(check, case, base, shown))
    return _row(groups)


# the baseline model's maps beside the candidate's ----------------------------------------------

#: the kinds' own rows (a kind without one gets the image and the claimed channels' maps)
_GROUPS = {
    "drop": _drop_groups,
    "selective": _selective_groups,
    "occlusion": _occlusion_groups,
    "compare": _compare_groups,
}


def _then_and_now(then: ChannelResult, now: ChannelResult | None) -> list[Line]:
    """``drop 0.97 → 0.41``: the numbers a baseline holds a claim to, on its model and now."""
    lines: list[Line] = []
    for key, metric in compared_metrics().items():
        if key in then.values:
            current = fmt(now.values.get(key, math.nan)) if now is not None else "?"
            name = metric.short or key
            lines.append(
                [(f"{name} {fmt(then.values[key])} ", BASELINE_TEXT), (f"→ {current}", RED)]
            )
    return [[("baseline → now:", GRAY)], *lines] if lines else []


def _baseline_groups(case: CaseResult, baseline: CaseResult) -> list[list[_Panel]]:
    """Per claimed channel, its maps on the baseline's model (one scale per channel)."""
    ev = baseline.evidence
    if ev is None:
        return []
    now = {ch.channel: ch for ch in case.channels}
    named = [
        (ev.maps, case.inputs.get("image") or "image"),
        (ev.altered_maps, _altered_name(case)),
        (ev.control_altered_maps, _control_altered_name(case)),
    ]
    groups = []
    for ch in baseline.channels:
        head: Line = [(f"baseline model · ch {ch.label}", BASELINE_TEXT)]
        numbers = _then_and_now(ch, now.get(ch.channel))
        if ev.occlusion is not None and 0 <= ch.channel < ev.occlusion.drops.shape[0]:
            lines: list[Line] = [head, "occlusion map", *numbers]
            groups.append([_occlusion_panel(ev, ch.channel, lines)])
            continue
        maps = [(m[ch.channel], name) for m, name in named if m is not None]
        lo, hi = _range(*(m for m, _ in maps))
        group = []
        for k, (values, name) in enumerate(maps):
            lines = [head, f"on {name}", *(numbers if k == 0 else [])]
            group.append(_Panel(_map(values, ev, lo, hi), lines))
        groups.append(group)
    return groups


def _baseline_case(
    baseline: ClaimResult | None, check: CheckResult, position: int, case: CaseResult
) -> CaseResult | None:
    """The baseline's case of ``check`` (the ``position``-th check of its kind) on the same
    inputs, if it has evidence."""
    if baseline is None:
        return None
    same_kind = [c for c in baseline.checks if c.kind == check.kind]
    if position >= len(same_kind):
        return None
    for candidate in same_kind[position].cases:
        if candidate.describe() == case.describe() and candidate.evidence is not None:
            return candidate
    return None


# the whole tile --------------------------------------------------------------------------------


@dataclass
class _Text:
    lines: list[Line]
    size: int = 13
    mono: bool = False


Block = _Text | NDArray[np.uint8]


def _title(result: ClaimResult) -> list[Block]:
    spec = Path(result.spec).name if result.spec else "?"
    if result.error:
        verdict: Segment = ("ERROR", RED)
    else:
        verdict = ("PASSED", GREEN) if result.passed else ("FAILED", RED)
    channels = (
        f" · channels {', '.join(str(c) for c in result.channels)}" if result.channels else ""
    )
    head = [(f"{spec} · {result.claim_id} · {result.layer}{channels} · ", BLACK), verdict]
    blocks: list[Block] = [
        _Text([head], size=16),
        _Text([f"measured vs required: {result.measured()}"], size=14),
    ]
    about = [result.about] if result.about else []
    model = result.model or {}
    if model:
        about.append(f"model {model.get('arch', '?')} / {model.get('weights', '?')}")
    if result.layer_path and result.layer_path != result.layer:
        about.append(f"layer {result.layer_path}")
    if result.require != "all" and result.channels:
        about.append(f"require {result.require}")
    if about:
        blocks.append(_Text([[(" · ".join(about), GRAY)]]))
    if result.regressions:
        lines: list[Line] = [[("regressed against the baseline:", RED)]]
        lines += [[(f"  {line}", RED)] for line in result.regressions]
        blocks.append(_Text(lines))
    if result.notes:
        blocks.append(_Text([[(f"note: {note}", GRAY)] for note in result.notes]))
    return blocks


def _legend(result: ClaimResult) -> Line:
    """What the colours mean: the outlines present in this tile and the map colormap."""
    cases = [case for check in result.checks for case in check.cases]
    line: list[Segment] = []
    if any(c.evidence is not None and c.evidence.region is not None for c in cases):
        line += [("outlines: ", GRAY), ("region", REGION_TEXT)]
        if any(c.evidence is not None and c.evidence.control is not None for c in cases):
            line += [(", ", GRAY), ("control", CONTROL_TEXT)]
        line.append((" · ", GRAY))
    negative = any(c.evidence is not None and float(np.nanmin(c.evidence.maps)) < 0 for c in cases)
    if negative:  # a pre-ReLU layer: the sign is the point
        line.append(("maps: blue < 0 = white < red, symmetric about zero", GRAY))
    else:
        line.append(("maps: black = lowest, yellow = highest activation", GRAY))
    line.append(("; the colour bar under each gives its scale", GRAY))
    return line


def _case_header(result: ClaimResult, check: CheckResult, number: int, case: CaseResult) -> _Text:
    count = f" {number}/{len(check.cases)}" if len(check.cases) > 1 else ""
    verdict = ("holds", GREEN) if case.passed else ("FAILS", RED)
    lines: list[Line] = [[(f"case{count}: {case.describe()} — ", BLACK), verdict]]
    for ch in case.channels:
        if not ch.passed and ch.reason:
            lines.append([(f"   ch {ch.label}: {ch.reason}", RED)])
    if result.require == "mean" and case.combined:
        combined = ", ".join(f"{k} {fmt(v)}" for k, v in case.combined.items())
        lines.append(f"   mean over the claimed channels: {combined}")
    return _Text(lines)


def _alternatives_caption(result: ClaimResult, check: CheckResult) -> _Text:
    if check.alternatives:
        names = ", ".join(str(c) for c in check.alternatives)
        text = f"the feature moved? channels of {result.layer} that pass this check now: {names}"
        return _Text([[(text, GREEN)]])
    return _Text([[(f"no channel of {result.layer} passes this check now", RED)]])


def _check_blocks(
    result: ClaimResult, check: CheckResult, base: int, baseline: ClaimResult | None = None
) -> list[Block]:
    verdict = ("passed", GREEN) if check.passed else ("FAILED", RED)
    head: list[Segment] = [(f"{check.kind} check ", BLACK), verdict]
    head.append((f": {check.headline()}", BLACK))
    scaling = registered_kind(check.kind).scaling
    if scaling:
        head.append((f"   ({scaling})", GRAY))
    blocks: list[Block] = [_Text([head], 14)]
    same_kind = [c for c in result.checks if c.kind == check.kind]
    position = next(i for i, c in enumerate(same_kind) if c is check)
    claimed = set(result.channels)
    cases = check.cases
    if check.population is not None:
        blocks += _population_blocks(check)
        cases = check.shown_cases()
    for number, case in enumerate(cases, 1):
        blocks.append(_case_header(result, check, number, case))
        if case.evidence is not None:
            paired = _baseline_case(baseline, check, position, case)
            blocks.append(_case_row(check, case, base, claimed, paired))
    if not check.passed:
        blocks.append(_alternatives_caption(result, check))
    return blocks


def _population_blocks(check: CheckResult) -> list[Block]:
    """Over a set: the statistic in words, the per-image distribution, then the worst images."""
    from probecheck.render.population import strip_plot

    population = check.population
    lines: list[Line] = [
        [(line, RED if line.lstrip().startswith("→") else BLACK)] for line in population.describe()
    ]
    blocks: list[Block] = [_Text(lines)]
    if population.metrics:
        blocks.append(strip_plot(population, check.cases))
    shown = check.shown_cases()
    blocks.append(
        _Text([[(f"the {len(shown)} worst of {population.n} images, worst first:", GRAY)]])
    )
    return blocks


def _has_evidence(result: ClaimResult) -> bool:
    return any(case.evidence is not None for check in result.checks for case in check.cases)


def _wrapped(text: str, width: int = 140) -> list[str]:
    """Long message lines wrapped at ``width`` characters, keeping their indentation."""
    lines = []
    for line in text.splitlines():
        indent = " " * (len(line) - len(line.lstrip()))
        lines += textwrap.wrap(line, width, subsequent_indent=indent + "    ") or [""]
    return lines


def _text_only(result: ClaimResult) -> list[Block]:
    """No pictures to draw: the error, or the failure message, as text."""
    if result.error:
        return [_Text(list(_wrapped(result.failure_message())), mono=True)]
    note = _Text(
        [[("no images: this result carries no evidence (e.g. read back from JSON)", GRAY)]]
    )
    if result.passed:
        return [note]
    return [_Text(list(_wrapped(result.failure_message())), mono=True), note]


def _width(block: Block) -> int:
    if isinstance(block, _Text):
        return max(
            (text_width(line, block.size, mono=block.mono) for line in block.lines), default=0
        )
    return block.shape[1]


def _draw(block: Block, width: int) -> NDArray[np.uint8]:
    if isinstance(block, _Text):
        return text_band(block.lines, width, size=block.size, mono=block.mono)
    return block


def claim_tile(result: ClaimResult, baseline: ClaimResult | None = None) -> NDArray[np.uint8]:
    """The claim's diagnostic picture as uint8 RGB (see the module docstring for its layout).

    With ``baseline`` (the claim measured on the baseline's model, evidence kept), each case row
    shows that model's maps of the claimed channels beside the candidate's, their numbers then
    and now; the regressed numbers (``result.regressions``) are listed under the title either way.
    Text wraps at the pictures' width (or MAX_TEXT_WIDTH), so a long ``about:`` never widens it.
    """
    blocks = _title(result)
    if result.error or not _has_evidence(result):
        blocks += _text_only(result)
    else:
        blocks.append(_Text([_legend(result)]))
        base = _index_base(result)
        for check in result.checks:
            blocks.append(np.full((8, 1, 3), 255, np.uint8))
            blocks += _check_blocks(result, check, base, baseline)
    pictures = [b.shape[1] for b in blocks if not isinstance(b, _Text)]
    texts = [_width(b) for b in blocks if isinstance(b, _Text)]
    width = max(pictures) if max(pictures, default=0) > 1 else min(max(texts), MAX_TEXT_WIDTH)
    width = max(width + 2 * 4, MIN_TILE_WIDTH)
    body = vstack([_draw(_wrap(b, width), width) for b in blocks], gap=2)
    return _frame(body)


def _wrap(block: Block, width: int) -> Block:
    if not isinstance(block, _Text):
        return block
    lines = [
        part for line in block.lines for part in wrap_line(line, width, block.size, mono=block.mono)
    ]
    return _Text(lines, block.size, block.mono)


def _frame(body: NDArray[np.uint8]) -> NDArray[np.uint8]:
    height, width = body.shape[:2]
    out = np.empty((height + 2 * MARGIN, width + 2 * MARGIN, 3), np.uint8)
    out[...] = WHITE
    out[MARGIN : MARGIN + height, MARGIN : MARGIN + width] = body
    return out
