"""``compare``: the channel's mean in the region is higher on one image than on another.

The number is ``mean_in(image) / mean_in(other)`` of ``max(A, 0)`` over the region (area
weighted at the activation grid, as every region mean): 2 means the channel fires twice as much
there on ``image``. A channel silent in the region on ``image`` (mean ≤ 1e-6 of its peak) has no
ratio worth the name: it scores 0 and fails. Silent on ``other`` only, the ratio is infinite.
Over a set, ``other_set`` pairs each image with the image of the same file name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from probecheck import metrics
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
)
from probecheck.checks.spec_inputs import (
    SpecInputs,
    require_altered_image,
    require_same_size_images,
)
from probecheck.checks.tile import (
    ChannelMap,
    Judged,
    Panel,
    Photo,
    Row,
    Source,
    TextLine,
    altered_name,
    channel_head,
    image_group,
)
from probecheck.results import CaseEvidence, CaseResult, CheckResult, fmt


def case_inputs(case: Any) -> CaseInputs:
    """The image and the image it is compared with (read, like a drop's, as ``altered``)."""
    return CaseInputs(image_key(case.image), image_key(case.other))


def prepare(inputs: SpecInputs, case: Any) -> None:
    """The region is in pixels of both images: one size, and two pictures, not one."""
    require_same_size_images(inputs, case.image, case.other)
    require_altered_image(
        inputs, case.image, case.other, "other", "name another picture of the region as other"
    )


def thresholds(check: Any) -> dict[str, Any]:
    return {"ratio_at_least": check.ratio_at_least}


def ratio(mean_in: Floats, mean_in_other: Floats, quiet: Floats) -> Floats:
    """``mean_in / mean_in_other`` per channel: 0 where quiet, inf where only ``other`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        found = np.where(mean_in_other > 0, mean_in / mean_in_other, np.inf)
    return np.where(quiet, 0.0, found)


def measure(context: Context, check: Any, case: Any, plan: CaseInputs) -> Measured:
    claim, inputs = context.claim, context.inputs
    assert plan.altered is not None
    A, B = context.maps[plan.image], context.maps[plan.altered]
    rgb = context.rgb[plan.image]
    region = inputs.region(case.region, rgb.shape[:2])
    w = inputs.fractions(case.region, rgb.shape[:2], A.shape[1:])
    mean_in = context.measured(
        ("positive_means", plan.image, case.region),
        lambda: metrics.region_means(np.maximum(A, 0), w),
    )[0]
    mean_in_other = context.measured(
        ("positive_means", plan.altered, case.region),
        lambda: metrics.region_means(np.maximum(B, 0), w),
    )[0]
    peak = context.measured(("peaks", plan.image), lambda: metrics.channel_peaks(A))
    quiet = metrics.silent(mean_in, peak)
    score = ratio(mean_in, mean_in_other, quiet)
    threshold = check.ratio_at_least
    ok = score >= threshold
    columns = {"ratio": score, "mean_in": mean_in, "mean_in_other": mean_in_other}
    combined, passed = combine(claim, ok, {"ratio": (score, True, threshold)})
    reasons: dict[int, list[str]] = {}
    because(reasons, quiet, quiet_reason(mean_in))
    because(
        reasons,
        ~quiet & ~ok,
        lambda c: (
            f"ratio {fmt(score[c])} < {fmt(threshold)} (mean in the region "
            f"{fmt(mean_in[c])} on {case.image}, {fmt(mean_in_other[c])} on {case.other})"
        ),
    )
    evidence = CaseEvidence(
        image=rgb,
        maps=A,
        region=region,
        altered=context.rgb[plan.altered],
        altered_maps=B,
        effect=np.where(quiet, np.nan, score),
    )
    return measured_case(
        case,
        claim,
        ok,
        columns,
        reasons,
        combined,
        passed,
        evidence,
        np.where(quiet, -np.inf, score),
    )


def tile_row(check: CheckResult, case: CaseResult, ev: CaseEvidence, index_base: int) -> Row:
    """The two images, then per channel its maps on both at one scale, the ratio judged."""
    other = altered_name(case)
    pictures = image_group(case)
    if ev.altered is not None:
        pictures.append(Panel(Photo("altered"), [other]))
    groups = [pictures]
    at_least = check.thresholds.get("ratio_at_least")
    sources: tuple[Source, ...] = (
        ("image", "altered") if ev.altered_maps is not None else ("image",)
    )
    for ch in case.channels:
        v, i = ch.values, ch.channel
        head = channel_head(ch)
        scale = tuple((source, i) for source in sources)
        lines: list[TextLine] = [
            head,
            f"on {case.inputs.get('image') or 'image'}",
            f"mean in region {fmt(v.get('mean_in', math.nan))}",
        ]
        group = [Panel(ChannelMap(i, "image", scale), lines)]
        if ev.altered_maps is not None:
            lines = [
                head,
                f"on {other}",
                f"mean in region {fmt(v.get('mean_in_other', math.nan))}",
                Judged("ratio", v.get("ratio", math.nan), at_least, True),
            ]
            group.append(Panel(ChannelMap(i, "altered", scale), lines))
        groups.append(group)
    return groups


KIND = CheckKind(
    name="compare",
    metric_names=("ratio",),
    effect="mean_in(image) / mean_in(other)",
    inputs=case_inputs,
    measure=measure,
    thresholds=thresholds,
    prepare=prepare,
    scaling="a channel's maps on the two images share one scale",
    tile_row=tile_row,
)
