"""``occlusion``: sliding a patch over the image moves the channel's region mean most inside the
region (the sweep itself is :mod:`probecheck.occlusion`; it runs its own forwards)."""

from __future__ import annotations

import hashlib
import math
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from probecheck import disk_cache, metrics
from probecheck import regions as regions_module
from probecheck.checks.inputs import CaseInputs, image_key
from probecheck.checks.kind import (
    CheckKind,
    Context,
    Floats,
    Measured,
    because,
    combine,
    measured_case,
    quiet_reason,
    region_decides_nothing,
)
from probecheck.checks.tile import (
    ChannelMap,
    Judged,
    OcclusionMap,
    Panel,
    Row,
    TextLine,
    Verdict,
    channel_head,
    image_group,
)
from probecheck.regions import area_fractions
from probecheck.results import CaseEvidence, CaseResult, CheckResult, fmt

_MAP_CHUNK = 64  # channels whose per-pixel occlusion maps are held at once


def case_inputs(case: Any) -> CaseInputs:
    """Its image (the sweep's patched inputs are not planned: the sweep runs them)."""
    return CaseInputs(image_key(case.image))


def thresholds(check: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if check.peak_in_region:
        found["peak_in_region"] = True
    if check.iou_at_least is not None:
        found |= {"iou_at_least": check.iou_at_least, "quantile": check.quantile}
    return found | settings(check)


def settings(check: Any) -> dict[str, Any]:
    """What shapes the map: another patch, stride, fill or quantile measures another number."""
    found: dict[str, Any] = {"patch": check.patch, "stride": check.step, "fill": check.fill}
    if check.iou_at_least is not None:
        found["quantile"] = check.quantile
    return found


def measure(context: Context, check: Any, case: Any, plan: CaseInputs) -> Measured:
    """The sweep measures every channel at once: the maps of all of them are scored."""
    from probecheck.occlusion import occlude  # torch: only where a sweep runs

    claim, inputs = context.claim, context.inputs
    A, rgb = context.maps[plan.image], context.rgb[plan.image]
    assert context.probe is not None
    region = inputs.region(case.region, rgb.shape[:2])
    probe, layer = context.probe, context.layer
    sweep_key = (plan.image, case.region, check.patch, check.step, check.fill)
    sweep = context.measured(  # a sweep is hundreds of forwards: claims that repeat it share it
        ("occlusion", *sweep_key),
        lambda: occlude(
            probe, rgb, layer, region, patch=check.patch, stride=check.step, fill=check.fill
        ),
    )
    peak_in, peak_x, peak_y, map_in, map_out, iou = context.measured(
        ("occlusion-maps", *sweep_key, check.quantile if check.iou_at_least is not None else None),
        lambda: disk_cache.remember(  # and so do reruns, from the disk cache where there is one
            _numbers_key(sweep, region, A.shape[0], check),
            lambda: _occlusion_numbers(sweep, region, rgb.shape[:2], A.shape[0], check),
        ),
    )
    quiet = metrics.silent(sweep.base, metrics.channel_peaks(A))
    columns = {"base": sweep.base, "map_in": map_in, "map_out": map_out}
    values: dict[str, tuple[Floats, bool, float]] = {}
    ok = ~quiet
    reasons: dict[int, list[str]] = {}
    because(reasons, quiet, quiet_reason(sweep.base))
    vacuous = region_decides_nothing(
        inputs.share(case.region, rgb.shape[:2]), check.iou_at_least, check.quantile
    )
    if vacuous is not None:  # numbers any network reaches are no numbers: nan fails every mode
        peak_in, iou = np.full_like(peak_in, np.nan), np.full_like(iou, np.nan)
        ok = np.zeros_like(ok)
        because(reasons, ~quiet, lambda c: vacuous)
    if check.peak_in_region:
        peak_in = np.where(quiet, 0.0, peak_in)
        values["peak_in"] = (peak_in, True, 1.0)
        columns["peak_in"] = peak_in
        ok &= peak_in >= 1
        outside = ~quiet & (peak_in < 1)
        because(reasons, outside, lambda c: "the map peaks outside the region")
    if check.iou_at_least is not None:
        iou = np.where(quiet, 0.0, iou)
        values["iou"] = (iou, True, float(check.iou_at_least))
        columns["iou"] = iou
        ok &= iou >= check.iou_at_least
        low = ~quiet & (iou < check.iou_at_least)
        because(reasons, low, lambda c: f"iou {fmt(iou[c])} < {fmt(check.iou_at_least)}")
    columns |= {"peak_x": peak_x, "peak_y": peak_y}
    combined, passed = combine(claim, ok, values)
    evidence = CaseEvidence(
        image=rgb,
        maps=A,
        region=region,
        occlusion=sweep,
        effect=np.where(quiet, np.nan, map_in - map_out),
    )
    order = np.where(quiet, -np.inf, map_in - map_out)  # alternatives: most focused first
    return measured_case(case, claim, ok, columns, reasons, combined, passed, evidence, order)


def _numbers_key(
    sweep: Any, region: NDArray[np.bool_], channels: int, check: Any
) -> dict[str, Any] | None:
    """Everything the scored maps depend on, for the disk cache; None for a sweep with no key."""
    if not sweep.key:
        return None
    mask = hashlib.sha256(str(region.shape).encode() + np.packbits(region).tobytes())
    quantile = check.quantile if check.iou_at_least is not None else None
    code = disk_cache.code_digest(sys.modules[__name__], metrics, regions_module)
    return {"kind": "occlusion-numbers", "sweep": sweep.key, "region": mask.hexdigest()} | {
        "channels": channels,
        "quantile": quantile,
        "code": code,
    }


def _occlusion_numbers(
    sweep: Any,
    region: NDArray[np.bool_],
    shape: tuple[int, int],
    channels: int,
    check: Any,
) -> tuple[Floats, Floats, Floats, Floats, Floats, Floats]:
    """Every channel's map scored: where it peaks, its mean in and out of the region, its IoU."""
    height, width = sweep.input_size
    inside = area_fractions(region, (height, width))
    peak_in, peak_x, peak_y = np.zeros(channels), np.zeros(channels), np.zeros(channels)
    map_in, map_out, iou = np.zeros(channels), np.zeros(channels), np.zeros(channels)
    for start in range(0, channels, _MAP_CHUNK):
        chunk = list(range(start, min(start + _MAP_CHUNK, channels)))
        maps = sweep.sensitivity(chunk)
        map_in[chunk], map_out[chunk] = metrics.region_means(maps, inside)
        if check.iou_at_least is not None:
            iou[chunk] = metrics.iou_all(maps, region, check.quantile)
        for c, single in zip(chunk, maps, strict=True):
            x, y = metrics.map_peak_in_image(single, shape)
            peak_x[c], peak_y[c], peak_in[c] = x, y, float(region[y, x])
    return peak_in, peak_x, peak_y, map_in, map_out, iou


def tile_row(check: CheckResult, case: CaseResult, ev: CaseEvidence, index_base: int) -> Row:
    """The image with the sweep's patch, then per channel its occlusion map (its activation map
    where the sweep is not kept), the map's means in and out of the region, its verdicts."""
    t = check.thresholds
    sweep = f"patch {t.get('patch')}/{t.get('stride')} px, {t.get('fill')}"
    groups = [image_group(case, sweep)]
    for ch in case.channels:
        v = ch.values
        verdicts: list[TextLine] = []
        if t.get("peak_in_region"):
            inside = v.get("peak_in", math.nan) >= 1
            verdicts.append(Verdict("peak in region " if inside else "peak outside ", inside))
        if t.get("iou_at_least") is not None:
            verdicts.append(Judged("iou", v.get("iou", math.nan), t.get("iou_at_least"), True))
        lines: list[TextLine] = [
            channel_head(ch, " · occlusion map"),
            f"drop in {fmt(v.get('map_in', math.nan))} · out {fmt(v.get('map_out', math.nan))}",
            *verdicts,
        ]
        if ev.occlusion is None or not 0 <= ch.channel < ev.occlusion.drops.shape[0]:
            groups.append([Panel(ChannelMap(ch.channel), lines)])
        else:
            groups.append([Panel(OcclusionMap(ch.channel), lines)])
    return groups


KIND = CheckKind(
    name="occlusion",
    metric_names=("peak_in", "iou"),
    effect="map_in - map_out",
    inputs=case_inputs,
    measure=measure,
    thresholds=thresholds,
    settings=settings,
    scaling="each map: the drop of the region mean when a patch covers each pixel, "
    "scaled to its own largest drop",
    tile_row=tile_row,
)
