"""``drop``: removing the region (a paired altered image, or masking) silences the channel there."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from probecheck import metrics
from probecheck.checks.inputs import CaseInputs, InputKey, image_key, masked_key
from probecheck.checks.kind import (
    CheckKind,
    Context,
    Floats,
    Measured,
    because,
    combine,
    inputs_of,
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
    control_altered_name,
    image_group,
    named,
)
from probecheck.errors import ProbecheckError
from probecheck.results import CaseEvidence, CaseResult, CheckResult, fmt

#: a channel whose mean in the control region (original image) is at least this fraction of its
#: mean in the claimed region responds to the control region too; below it, a large control drop
#: is a reaction to the removal itself
CONTROL_ACTIVE = 0.5


def case_inputs(case: Any) -> CaseInputs:
    """The image, and the image with the region (and the control) removed."""
    image = image_key(case.image)
    if case.altered is not None:
        control = case.control_altered
        return CaseInputs(image, image_key(case.altered), image_key(control) if control else None)
    return CaseInputs(
        image,
        masked_key(case.image, case.region, case.mask_with),
        masked_key(case.image, case.control, case.mask_with) if case.control else None,
    )


def prepare(inputs: SpecInputs, case: Any) -> None:
    """Paired images are the same photo altered: one size, and not the same pixels."""
    if case.altered is not None:
        require_same_size_images(inputs, case.image, case.altered)
        require_altered_image(
            inputs,
            case.image,
            case.altered,
            "altered",
            "name the image with the region removed as altered, or use mask_with",
        )
        if case.control_altered is not None:
            require_same_size_images(inputs, case.image, case.control_altered)
            require_altered_image(
                inputs,
                case.image,
                case.control_altered,
                "control_altered",
                "name the image with the control region removed as control_altered, or use "
                "mask_with",
            )


def thresholds(check: Any) -> dict[str, Any]:
    return {"at_least": check.at_least, "control_at_most": check.control_at_most}


def _require_thresholds_that_decide(
    context: Context, check: Any, image: InputKey, altered: InputKey, control: InputKey | None
) -> None:
    """A drop is at most 1 where the maps never go below 0 (a ReLU's): there an ``at_least``
    above 1 could never hold, and a ``control_at_most`` of 1 or more could never fail (the
    control would pass on no evidence). Looked at only for such thresholds: a pre-ReLU layer's
    drop can exceed 1, so the spec alone cannot tell."""
    claim = context.claim
    never_holds = check.at_least > 1
    never_fails = control is not None and check.control_at_most >= 1
    if not (never_holds or never_fails):
        return
    keys = [image, altered] if never_holds else [image]
    keys += [control] if never_fails and control is not None else []
    lowest = [
        context.measured(("lowest", key), lambda key=key: float(context.maps[key].min()))
        for key in keys
    ]
    if min(lowest) < 0:
        return
    where = f"{claim.layer}: its maps never go below 0, so a drop is at most 1"
    if never_holds:
        raise ProbecheckError(
            f"claim {claim.id}: drop at_least {fmt(check.at_least)} could never hold on {where}",
            fix="give at_least at most 1 (a drop of 1 silences the channel in the region)",
        )
    raise ProbecheckError(
        f"claim {claim.id}: control_at_most {fmt(check.control_at_most)} could not fail on {where}",
        fix="give control_at_most below 1 (the largest drop the control may show)",
    )


def measure(context: Context, check: Any, case: Any, plan: CaseInputs) -> Measured:
    """The relative drop of every channel's mean in the region, and in the control region."""
    claim, inputs = context.claim, context.inputs
    assert plan.altered is not None
    A, Aa = context.maps[plan.image], context.maps[plan.altered]
    _require_thresholds_that_decide(context, check, plan.image, plan.altered, plan.control_altered)
    rgb = context.rgb[plan.image]
    region = inputs.region(case.region, rgb.shape[:2])
    w = inputs.fractions(case.region, rgb.shape[:2], A.shape[1:])
    peak = context.measured(("peaks", plan.image), lambda: metrics.channel_peaks(A))
    main = context.measured(
        ("drop", plan.image, plan.altered, case.region),
        lambda: metrics.region_drop(A, Aa, w, peak),
    )
    quiet, drop = main.silent, main.drop_or_zero  # silent channels: drop 0, and that reason
    ok = ~quiet & (drop >= check.at_least)
    columns = {"drop": drop, "mean_in": main.mean_in, "mean_in_altered": main.mean_in_altered}
    values = {"drop": (drop, True, check.at_least)}
    control = None
    reasons: dict[int, list[str]] = {}
    because(reasons, quiet, quiet_reason(main.mean_in))
    because(
        reasons,
        ~quiet & ~(drop >= check.at_least),
        lambda c: f"too small a drop ({fmt(drop[c])} < {fmt(check.at_least)})",
    )
    if case.control is not None:
        assert plan.control_altered is not None
        control_altered = plan.control_altered
        control = inputs.region(case.control, rgb.shape[:2])
        wc = inputs.fractions(case.control, rgb.shape[:2], A.shape[1:])
        side = context.measured(
            ("drop", plan.image, control_altered, case.control),
            lambda: metrics.region_drop(A, context.maps[control_altered], wc, peak),
        )
        c_drop = side.drop_or_zero
        untouched = context.measured(
            ("same pixels", plan.image, control_altered),
            lambda: np.array_equal(rgb, context.rgb[control_altered]),
        )
        if untouched:  # nothing was removed: a control drop of 0 is no evidence, so no number
            c_drop = np.full(c_drop.shape, np.nan)
            because(reasons, np.ones(c_drop.shape, bool), lambda c: _untouched_reason(case))
        ok &= c_drop <= check.control_at_most
        columns |= {
            "control_drop": c_drop,
            "control_mean_in": side.mean_in,
            "control_mean_in_altered": side.mean_in_altered,
        }
        values["control_drop"] = (c_drop, False, check.control_at_most)
        because(
            reasons,
            c_drop > check.control_at_most,
            _control_reason(main.mean_in, side.mean_in, c_drop, check.control_at_most),
        )
    effect = drop - columns["control_drop"] if control is not None else drop.astype(np.float64)
    combined, passed = combine(claim, ok, values)
    evidence = CaseEvidence(
        image=rgb,
        maps=A,
        region=region,
        control=control,
        altered=context.rgb[plan.altered],
        altered_maps=Aa,
        control_altered=context.rgb[plan.control_altered]
        if plan.control_altered is not None
        else None,
        control_altered_maps=context.maps[plan.control_altered]
        if plan.control_altered is not None
        else None,
        effect=np.where(quiet, np.nan, effect),
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
        np.where(quiet, -np.inf, drop),
    )


def _untouched_reason(case: Any) -> str:
    """Why a control whose removal changed no pixel has no number."""
    control = inputs_of(case).get("control")  # as written (a set's image names its own)
    return (
        f"removing the control region {control} by {case.mask_with} changed no pixel of "
        "the image: a control that cannot drop holds on no evidence; choose another mask_with, "
        "or a control region with detail to remove"
    )


def _control_reason(
    mean_in: Floats, control_mean_in: Floats, c_drop: Floats, at_most: float
) -> Callable[[int], str]:
    """Why a channel's control drop is too large, in the words that are true of it: active in
    the control region on the original image, or weak there and knocked down by the removal."""

    def reason(c: int) -> str:
        share = control_mean_in[c] / mean_in[c] if mean_in[c] > 0 else math.inf
        dropped = f"control drop {fmt(c_drop[c])} > {fmt(at_most)}"
        if share >= CONTROL_ACTIVE:
            where = (
                f"its mean there is {fmt(100 * share)} % of that in the region"
                if math.isfinite(share)
                else f"mean {fmt(control_mean_in[c])} there, none in the region"
            )
            return f"responds to the control region too ({where}; {dropped})"
        return (
            f"drops in the control region too, where it is weak (mean {fmt(100 * share)} % of "
            f"that in the region; {dropped}): it reacts to the removal, not to the region"
        )

    return reason


def tile_row(check: CheckResult, case: CaseResult, ev: CaseEvidence, index_base: int) -> Row:
    """The image and its altered twins, then per channel its maps on each at one scale (a drop
    shows as a darkening), with the means in the regions and the drops judged."""
    inputs = case.inputs
    at_least = check.thresholds.get("at_least")
    at_most = check.thresholds.get("control_at_most")
    pictures = image_group(case)
    if ev.altered is not None:
        lines: list[TextLine] = [
            altered_name(case),
            named("altered: ", inputs.get("region"), "region"),
        ]
        pictures.append(Panel(Photo("altered"), lines))
    if ev.control_altered is not None:
        lines = [control_altered_name(case), named("altered: ", inputs.get("control"), "control")]
        pictures.append(Panel(Photo("control_altered"), lines))
    groups = [pictures]
    region, control = inputs.get("region") or "region", inputs.get("control") or "control"
    paired = {"altered": ev.altered_maps, "control_altered": ev.control_altered_maps}
    sources: list[Source] = ["image", *(source for source, m in paired.items() if m is not None)]
    for ch in case.channels:
        v, i = ch.values, ch.channel
        head = channel_head(ch)
        scale = tuple((source, i) for source in sources)
        own: list[TextLine] = [head, f"on {inputs.get('image') or 'image'}"]
        own.append(f"mean in {region} {fmt(v.get('mean_in', math.nan))}")
        if "control_mean_in" in v:
            own.append(f"mean in {control} {fmt(v['control_mean_in'])}")
        group = [Panel(ChannelMap(i, "image", scale), own)]
        drop_line = Judged("drop", v.get("drop", math.nan), at_least, True)
        control_line = (
            Judged("control", v["control_drop"], at_most, False) if "control_drop" in v else None
        )
        if ev.altered_maps is not None:
            lines = [
                head,
                f"on {altered_name(case)}",
                f"mean in {region} {fmt(v.get('mean_in_altered', math.nan))}",
                drop_line,
            ]
            if control_line is not None and ev.control_altered_maps is None:
                lines.append(control_line)
            group.append(Panel(ChannelMap(i, "altered", scale), lines))
        if ev.control_altered_maps is not None:
            lines = [
                head,
                f"on {control_altered_name(case)}",
                f"mean in {control} {fmt(v.get('control_mean_in_altered', math.nan))}",
            ]
            if control_line is not None:
                lines.append(control_line)
            group.append(Panel(ChannelMap(i, "control_altered", scale), lines))
        groups.append(group)
    return groups


KIND = CheckKind(
    name="drop",
    metric_names=("drop", "control_drop"),
    effect="drop - control_drop",
    inputs=case_inputs,
    measure=measure,
    thresholds=thresholds,
    prepare=prepare,
    scaling="a channel's maps share one scale across the images of its case",
    tile_row=tile_row,
)
