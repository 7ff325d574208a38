"""``selective``: the channel responds inside the region much more than outside it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from probecheck import metrics
from probecheck.checks.inputs import CaseInputs, image_key
from probecheck.checks.kind import (
    CheckKind,
    Context,
    Measured,
    because,
    combine,
    measured_case,
    region_decides_nothing,
)
from probecheck.checks.tile import (
    ChannelMap,
    Judged,
    Panel,
    Row,
    TextLine,
    channel_head,
    image_group,
)
from probecheck.results import CaseEvidence, CaseResult, CheckResult, fmt


def case_inputs(case: Any) -> CaseInputs:
    return CaseInputs(image_key(case.image))


def thresholds(check: Any) -> dict[str, Any]:
    if check.ratio_at_least is not None:
        return {"ratio_at_least": check.ratio_at_least}
    return {"iou_at_least": check.iou_at_least, "quantile": check.quantile}


def settings(check: Any) -> dict[str, Any]:
    """The IoU's threshold quantile: another quantile measures another IoU."""
    return {"quantile": check.quantile} if check.iou_at_least is not None else {}


def measure(context: Context, check: Any, case: Any, plan: CaseInputs) -> Measured:
    """mean_in / mean_out of max(A, 0), or the IoU of the thresholded map with the region."""
    claim, inputs = context.claim, context.inputs
    A, rgb = context.maps[plan.image], context.rgb[plan.image]
    region = inputs.region(case.region, rgb.shape[:2])
    w = inputs.fractions(case.region, rgb.shape[:2], A.shape[1:])
    mean_in, mean_out = context.measured(
        ("positive_means", plan.image, case.region),
        lambda: metrics.region_means(np.maximum(A, 0), w),
    )
    flat = np.zeros(A.shape[0], dtype=bool)
    if check.ratio_at_least is not None:
        name, threshold = "ratio", check.ratio_at_least
        score = context.measured(
            ("ratio", plan.image, case.region), lambda: metrics.selectivity_ratio(A, w)
        )
    else:
        name, threshold = "iou", check.iou_at_least
        score = context.measured(
            ("iou", plan.image, case.region, check.quantile),
            lambda: metrics.iou_all(A, region, check.quantile),
        )
        flat = _flat(A)  # thresholding keeps every tie: its "top" would be the whole image
        score = np.where(flat, 0.0, score)
    vacuous = region_decides_nothing(
        inputs.share(case.region, rgb.shape[:2]), check.iou_at_least, check.quantile
    )
    if vacuous is not None:  # a number any network reaches is no number: nan fails every mode
        score = np.full(A.shape[0], np.nan)
    ok = score >= threshold
    columns = {name: score, "mean_in": mean_in, "mean_out": mean_out}
    combined, passed = combine(claim, ok, {name: (score, True, threshold)})
    reasons: dict[int, list[str]] = {}
    because(
        reasons,
        flat,
        lambda c: (
            f"its map is flat ({fmt(float(A[c].flat[0]))} everywhere): no part of it "
            "stands out, so it has no IoU with the region"
        ),
    )
    if vacuous is not None:
        because(reasons, np.ones_like(ok), lambda c: vacuous)
    because(
        reasons,
        ~ok & ~flat & (vacuous is None),
        lambda c: f"{name} {fmt(score[c])} < {fmt(threshold)}",
    )
    evidence = CaseEvidence(image=rgb, maps=A, region=region, effect=np.asarray(score, float))
    return measured_case(case, claim, ok, columns, reasons, combined, passed, evidence, score)


def _flat(A: Any) -> Any:
    """Channels whose map is one value everywhere (a channel that never fires, after a ReLU)."""
    stack = A.reshape(A.shape[0], -1)
    return stack.max(axis=1) == stack.min(axis=1)


def tile_row(check: CheckResult, case: CaseResult, ev: CaseEvidence, index_base: int) -> Row:
    """The image, then per channel its map (scaled on its own), the means in and outside the
    region and the ratio (or IoU) judged."""
    groups = [image_group(case)]
    if "ratio_at_least" in check.thresholds:
        name, key = "ratio", "ratio_at_least"
    else:
        name, key = "iou", "iou_at_least"
    for ch in case.channels:
        v = ch.values
        lines: list[TextLine] = [
            channel_head(ch),
            f"mean in region {fmt(v.get('mean_in', math.nan))}",
            f"mean outside {fmt(v.get('mean_out', math.nan))}",
            Judged(name, v.get(name, math.nan), check.thresholds.get(key), True),
        ]
        groups.append([Panel(ChannelMap(ch.channel), lines)])
    return groups


KIND = CheckKind(
    name="selective",
    metric_names=("ratio", "iou"),
    effect="ratio or iou",
    inputs=case_inputs,
    measure=measure,
    thresholds=thresholds,
    settings=settings,
    scaling="each map scaled on its own",
    tile_row=tile_row,
)
