"""One diagnostic PNG per claim: why it passed or failed, readable without the code.

Per check and per case, one row, as the check's kind declares it (``tile_row``, in the panels of
:mod:`probecheck.checks.tile`): typically the image with its region (green) and control (blue)
outlined, the altered images, then for each claimed channel its activation map on every image of
the case — scaled jointly, so a drop shows as a darkening — each titled with the numbers held to
the thresholds, failing ones in red. Where a check fails and other channels of the layer would
pass, their maps follow ("would pass: ch N"): where did the feature go? This module only draws:
it names no kind.

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
from probecheck.checks.tile import (
    ChannelMap,
    Inset,
    Judged,
    OcclusionMap,
    Panel,
    Photo,
    Row,
    TextLine,
    Verdict,
    alternative_panels,
    baseline_groups,
    pictured_channels,
)
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
from probecheck.results import CaseEvidence, CaseResult, CheckResult, ClaimResult, fmt, relation

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
    """A panel drawn: its pixels and its lines in colours (a kind declares a
    :class:`probecheck.checks.tile.Panel`; :func:`_drawn` draws it)."""

    picture: NDArray[np.uint8]
    lines: list[Line] = field(default_factory=list)


def _verdict(ok: bool, yes: str = "✓", no: str = "✗") -> Segment:
    return (yes, GREEN) if ok else (no, RED)


def _judged(name: str, value: float, threshold: float | None, higher: bool) -> Line:
    """``drop 0.96 ≥ 0.5 ✓`` in green, or the failing comparison, as true, in red:
    ``drop 0.44 < 0.7 ✗``."""
    if threshold is None:
        return f"{name} {fmt(value)}"
    ok = not math.isnan(value) and (value >= threshold if higher else value <= threshold)
    op = relation(higher, ok, ascii=False)
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


def _occlusion_panel(ev: CaseEvidence, channel: int, lines: list[Line]) -> _Panel:
    """The channel's occlusion map over the image, region outlined, peak crossed."""
    sweep = ev.occlusion
    sensitivity = metrics.occlusion_map(
        sweep.drops[channel], sweep.starts_y, sweep.starts_x, sweep.patch, sweep.input_size
    )
    peak = metrics.map_peak_in_image(sensitivity, ev.image.shape)
    height, width = ev.image.shape[:2]
    picture = occlusion_overlay(ev.image, sensitivity, region=ev.region, peak=peak)
    shape = _panel_shape(height, width)
    top = float(np.nanmax(sensitivity)) if np.isfinite(sensitivity).any() else 0.0
    bar = _bar(MapScale(0.0, max(top, 0.0)), shape[1], ticks=("0", f"drop {tick(top)}"))
    return _Panel(vstack([_fit(picture, shape), bar], gap=2), lines)


# declared panels → pixels ----------------------------------------------------------------------

#: the colour of each tone of words (:class:`probecheck.checks.tile.Words`)
TONES = {
    "plain": BLACK,
    "pass": GREEN,
    "fail": RED,
    "region": REGION_TEXT,
    "control": CONTROL_TEXT,
    "baseline": BASELINE_TEXT,
    "muted": GRAY,
}
#: the evidence's maps of each image of a case
_MAPS = {"image": "maps", "altered": "altered_maps", "control_altered": "control_altered_maps"}


def _text(line: TextLine) -> Line:
    """A declared line of text in colours: a judged number or a verdict marked and coloured."""
    if isinstance(line, Judged):
        return _judged(line.name, line.value, line.threshold, line.higher_is_better)
    if isinstance(line, Verdict):
        return [(line.text, GREEN if line.ok else RED), _verdict(line.ok)]
    if isinstance(line, tuple):
        return [(words.text, TONES[words.tone]) for words in line]
    return line


def _maps(ev: CaseEvidence, source: str) -> NDArray:
    maps = getattr(ev, _MAPS[source])
    if maps is None:
        raise ValueError(f"a panel shows maps on the {source} image, but the case has none")
    return maps


def _drawn(panel: Panel, case: CaseResult, ev: CaseEvidence) -> _Panel | None:
    """A declared panel drawn from the case's evidence (None: an inset the region needs not)."""
    picture, lines = panel.picture, [_text(line) for line in panel.lines]
    if isinstance(picture, Inset):
        return _inset_panel(case, ev)
    if isinstance(picture, Photo):
        return _Panel(_photo(getattr(ev, picture.of), ev), lines)
    if isinstance(picture, OcclusionMap):
        return _occlusion_panel(ev, picture.channel, lines)
    if isinstance(picture, ChannelMap):
        values = _maps(ev, picture.on)[picture.channel]
        if not picture.scale:
            return _Panel(_map(values, ev), lines)
        lo, hi = _range(*(_maps(ev, source)[c] for source, c in picture.scale))
        return _Panel(_map(values, ev, lo, hi), lines)
    raise TypeError(f"no drawing for a panel of {type(picture).__name__}")


def _drawn_groups(groups: Row, case: CaseResult, ev: CaseEvidence) -> list[list[_Panel]]:
    drawn = [[_drawn(panel, case, ev) for panel in group] for group in groups]
    return [[panel for panel in group if panel is not None] for group in drawn]


def _case_row(
    check: CheckResult,
    case: CaseResult,
    base: int,
    claimed: set[int],
    baseline: CaseResult | None = None,
) -> NDArray:
    """The kind's row for the case, then the baseline model's maps (if given) and the maps of the
    channels that would pass now (those the row does not show already)."""
    ev = case.evidence
    assert ev is not None
    groups = registered_kind(check.kind).tile_row(check, case, ev, base)
    shown = set(claimed) | {c + base for c in pictured_channels(groups)}
    drawn = _drawn_groups(groups, case, ev)
    if baseline is not None and baseline.evidence is not None:
        drawn += _drawn_groups(baseline_groups(case, baseline), baseline, baseline.evidence)
    drawn += _drawn_groups([alternative_panels(check, case, base, shown)], case, ev)
    return _row(drawn)


# the baseline model's case beside the candidate's ----------------------------------------------


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
