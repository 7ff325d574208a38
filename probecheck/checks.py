"""Check a claim of a spec on a probed network: gather inputs, one batched forward, the metrics.

Every check is computed for every channel of the layer at once (the metrics are vectorised), so
when a claimed channel fails, the channels that would pass now come for free, with no extra
forward pass. The numbers themselves come from :mod:`probecheck.metrics`.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from probecheck import disk_cache, metrics
from probecheck import regions as regions_module
from probecheck.errors import ProbecheckError
from probecheck.masking import mask_image
from probecheck.occlusion import Occlusion, occlude
from probecheck.plan import CaseInputs, InputKey, case_inputs, claim_needs, prefetch
from probecheck.population import null_result, summarise, with_null
from probecheck.probe import Probe, require_channels, shared_probe
from probecheck.regions import area_fractions, load_mask_png, rasterise
from probecheck.results import (
    CaseEvidence,
    CaseResult,
    ChannelResult,
    CheckResult,
    ClaimResult,
    fmt,
)
from probecheck.spec import Claim, DropCheck, SelectiveCheck, Spec, StrongestCheck
from probecheck.spec.models import OcclusionCheck
from probecheck.zoo.images import load_image, require_same_size

MAX_ALTERNATIVES = 10
NULL_SEED = 0
"""Seed of the random weights a population check's null is measured on."""
#: a channel whose mean in the control region (original image) is at least this fraction of its
#: mean in the claimed region responds to the control region too; below it, a large control drop
#: is a reaction to the removal itself
CONTROL_ACTIVE = 0.5

Floats = NDArray[np.float64]
T = TypeVar("T")


@dataclass
class SpecInputs:
    """The images, region masks and masked images of one spec, each made once and reused."""

    spec: Spec
    _images: dict[str, NDArray[np.uint8]] = field(default_factory=dict)
    _masks: dict[tuple[str, tuple[int, int]], NDArray[np.bool_]] = field(default_factory=dict)
    _masked: dict[tuple[str, str, str], NDArray[np.uint8]] = field(default_factory=dict)
    _fractions: dict[tuple[str, tuple[int, int], tuple[int, int]], Floats] = field(
        default_factory=dict
    )
    _measured: dict[Hashable, Any] = field(default_factory=dict)

    def image(self, name: str) -> NDArray[np.uint8]:
        """The named image as uint8 RGB."""
        if name not in self._images:
            self._images[name] = _read_only(load_image(self.spec.image_path(name)))
        return self._images[name]

    def region(self, name: str, shape: tuple[int, int]) -> NDArray[np.bool_]:
        """The named region rasterised at an image's resolution."""
        key = (name, shape)
        if key not in self._masks:
            region = self.spec.regions[name]
            mask = load_mask_png(region.mask_path) if region.mask_path is not None else None
            try:
                raster = rasterise(
                    shape,
                    boxes=region.boxes or (),
                    ellipses=region.ellipses or (),
                    polygons=region.polygons or (),
                    mask=mask,
                )
            except ValueError as error:
                raise ProbecheckError(f"region {name!r}: {error}") from None
            height, width = shape
            for box in region.boxes or ():
                if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                    raise ProbecheckError(
                        f"region {name!r}: box {[round(v) for v in box]} reaches outside the "
                        f"{width}×{height} image",
                        fix="boxes are [x0, y0, x1, y1] in pixels of the image they are used with",
                    )
            if not raster.any():
                raise ProbecheckError(
                    f"region {name!r} covers no pixel of a {shape[1]}×{shape[0]} image",
                    fix="regions are in pixel coordinates of the image they are used with",
                )
            self._masks[key] = raster
        return self._masks[key]

    def fractions(self, name: str, shape: tuple[int, int], grid: tuple[int, int]) -> Floats:
        """The named region resized by area to an activation grid, made once per grid."""
        key = (name, shape, grid)
        if key not in self._fractions:
            self._fractions[key] = area_fractions(self.region(name, shape), grid)
        return self._fractions[key]

    def measured(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The every-channel numbers ``key`` names, computed once for all the claims that ask:
        claims about other channels of the same layer, images and regions read them again."""
        if key not in self._measured:
            self._measured[key] = compute()
        return self._measured[key]

    def variant(self, key: InputKey) -> NDArray[np.uint8]:
        """The input variant ``key`` names (see :mod:`probecheck.plan`)."""
        if key[0] == "masked":
            return self.masked(*key[1:])
        return self.image(key[1])

    def masked(self, image: str, region: str, method: str) -> NDArray[np.uint8]:
        """``image`` with ``region`` removed by ``method`` (inpaint, blur, mean, gray, noise)."""
        key = (image, region, method)
        if key not in self._masked:
            rgb = self.image(image)
            self._masked[key] = _read_only(
                mask_image(rgb, self.region(region, rgb.shape[:2]), method)
            )
        return self._masked[key]


def _read_only(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The spec's own copy, read-only: every claim reads it, so its digest is computed once
    (:func:`probecheck.zoo.images.image_digest`)."""
    owned = rgb if rgb.flags.owndata else rgb.copy()
    owned.setflags(write=False)
    return owned


def _same_size(inputs: SpecInputs, base: str, other: str) -> None:
    require_same_size(inputs.image(base), inputs.image(other), f"image {other!r}")


class _Batch:
    """Collects every input of a claim, then runs them through the network in one call."""

    def __init__(self, inputs: SpecInputs) -> None:
        self.inputs = inputs
        self._keys: dict[InputKey, None] = {}
        self.rgb: dict[InputKey, NDArray[np.uint8]] = {}
        self.maps: dict[InputKey, NDArray[np.float32]] = {}
        self.probe: Probe | None = None
        self.layer = ""
        self.scope: tuple[Hashable, ...] = ()

    def measured(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        """Numbers of this claim's network and layer, shared with other claims (see SpecInputs)."""
        return self.inputs.measured((*self.scope, *key), compute)

    def want(self, case: CaseInputs) -> CaseInputs:
        self._keys |= dict.fromkeys(case.variants())
        return case

    def run(self, probe: Probe, layer: str) -> None:
        self.probe, self.layer = probe, layer
        keys = list(self._keys)
        self.rgb = {key: self.inputs.variant(key) for key in keys}
        self.scope = (probe.identity, str(probe.device), probe.resolve(layer))
        outputs = probe.activations_many([self.rgb[k] for k in keys], [layer])
        self.maps = {
            key: require_channels(out[layer], layer) for key, out in zip(keys, outputs, strict=True)
        }


def evaluate_claim(
    claim: Claim, spec: Spec, probe: Probe, inputs: SpecInputs | None = None, *, null: bool = True
) -> ClaimResult:
    """Measure every check of ``claim`` on ``probe``; raise ProbecheckError for unusable input.

    A check over a set is judged on the population and, unless ``null`` is False, gets its
    null: the claimed channels' effect ranked in the layer and measured on random weights.
    """
    inputs = inputs or SpecInputs(spec)
    layer_path = probe.resolve(claim.layer)
    before, occluded_before = probe.forward_passes, probe.occluded_passes
    batch = _Batch(inputs)
    plans = [(name, check, _plan(name, check, batch)) for name, check in claim.checks.items()]
    batch.run(probe, claim.layer)
    channel_count = next(iter(batch.maps.values())).shape[0]
    _check_channel_range(claim, spec, channel_count)
    checks = [_measure(name, check, plan, claim, batch, inputs) for name, check, plan in plans]
    if null and any(c.population is not None for c in checks):
        _attach_nulls(claim, spec, probe, inputs, checks)
    return ClaimResult(
        spec=str(spec.path) if spec.path else "",
        claim_id=claim.id,
        layer=claim.layer,
        layer_path=layer_path,
        channels=claim.channel_labels,
        require=claim.require,
        checks=checks,
        passed=all(c.passed for c in checks),
        about=claim.about or "",
        line=claim.line,
        model=probe.identity.to_dict(),
        forward_passes=probe.forward_passes - before,
        occluded_passes=probe.occluded_passes - occluded_before,
    )


def random_twin(probe: Probe) -> Probe:
    """The same architecture and preprocessing with seeded random weights (shared per process)."""
    return shared_probe(
        probe.identity.arch,
        "random",
        seed=NULL_SEED,
        device=str(probe.device),
        preprocessing=probe.preprocessing,
    )


def _attach_nulls(
    claim: Claim, spec: Spec, probe: Probe, inputs: SpecInputs, checks: list[CheckResult]
) -> None:
    """Rank the claimed channels' effect in the layer, and measure it on random weights."""
    random_effects: dict[str, list[Floats]] = {}
    note, model, passes = "", "", 0
    try:
        twin = random_twin(probe)
        before = twin.forward_passes
        measured = evaluate_claim(claim, spec, twin, inputs, null=False)
        passes = twin.forward_passes - before
        model = f"{twin.identity.arch}, random weights (seed {NULL_SEED})"
        for result in measured.checks:
            if result.population is not None:
                random_effects[result.kind] = [
                    c.evidence.effect for c in result.cases if c.evidence is not None
                ]
    except ProbecheckError as error:
        note = f"not measured: {error.message}"
    for result in checks:
        if result.population is None:
            continue
        check = claim.checks[result.kind]
        effects = [c.evidence.effect for c in result.cases if c.evidence is not None]
        found = null_result(
            result.kind,
            list(claim.channels or []),
            claim.channel_labels,
            claim.require,
            effects,
            random_effects.get(result.kind),
            rank_at_most=check.rank_at_most,
            random_effect_at_most=check.random_effect_at_most,
            random_model=model,
            random_note=note,
        )
        found.random_passes = passes
        result.population = with_null(result.population, found)
        result.passed = result.population.passed


def _check_channel_range(claim: Claim, spec: Spec, count: int) -> None:
    wanted = list(claim.channels or [])
    if claim.strongest is not None and claim.strongest.in_ is not None:
        wanted += claim.strongest.in_
    bad = [spec.label(c) for c in wanted if c >= count]
    if bad:
        first, last = spec.label(0), spec.label(count - 1)
        raise ProbecheckError(
            f"claim {claim.id}: channel(s) {bad} out of range: {claim.layer} has {count} channels "
            f"({first}..{last} in this file's index_base {spec.index_base})",
            fix="check the channel numbers and index_base",
        )


# planning: which images each case needs ---------------------------------------------------------


def prefetch_claim(
    claim: Claim, planned: dict[InputKey, set[str]], probe: Probe, inputs: SpecInputs
) -> int:
    """Run the inputs ``claim`` reads that the probe has not cached yet, each through every layer
    that ``planned`` (:func:`probecheck.plan.claim_needs` of the session's claims) asks of it.

    Claims checked after this one then find their inputs cached at their layers, so no input
    runs twice, and a process runs only the inputs of the claims it checks (an xdist worker,
    a ``-k`` or ``--lf`` selection). Returns the forward passes.
    """
    needs = {key: planned.get(key, set()) | layers for key, layers in claim_needs([claim]).items()}
    return prefetch(probe, needs, inputs.variant)


def _plan(kind: str, check: Any, batch: _Batch) -> list[CaseInputs]:
    plans = []
    for case in check.cases:
        if kind == "drop" and case.altered is not None:
            _same_size(batch.inputs, case.image, case.altered)
            if case.control_altered is not None:
                _same_size(batch.inputs, case.image, case.control_altered)
        plans.append(batch.want(case_inputs(kind, case)))
    return plans


# measuring ---------------------------------------------------------------------------------------


def _measure(
    kind: str, check: Any, plans: list[CaseInputs], claim: Claim, batch: _Batch, inputs: SpecInputs
) -> CheckResult:
    measure = {
        "drop": _drop_case,
        "selective": _selective_case,
        "strongest": _strongest_case,
        "occlusion": _occlusion_case,
    }[kind]
    cases: list[CaseResult] = []
    ok_everywhere: NDArray[np.bool_] | None = None
    order_score: Floats | None = None
    for case, plan in zip(check.cases, plans, strict=True):
        result, ok, score = measure(check, case, plan, claim, batch, inputs)
        cases.append(result)
        ok_everywhere = ok if ok_everywhere is None else ok_everywhere & ok
        order_score = score if order_score is None else np.fmin(order_score, score)
    population = None
    if check.set_name is not None:
        population = summarise(
            kind,
            check.set_name,
            cases,
            _thresholds(kind, check, claim),
            confidence=check.level,
            min_fraction=check.min_fraction,
        )
    passed = all(c.passed for c in cases) if population is None else population.passed
    alternatives: list[int] = []
    if not passed and ok_everywhere is not None:
        claimed = set(claim.channels or [])
        candidates = [int(c) for c in np.flatnonzero(ok_everywhere) if int(c) not in claimed]
        candidates.sort(key=lambda c: -np.nan_to_num(order_score[c], nan=-np.inf))  # type: ignore[index]
        alternatives = [claim.label(c) for c in candidates[:MAX_ALTERNATIVES]]
    thresholds = _thresholds(kind, check, claim)
    if population is not None:
        thresholds |= {
            name: getattr(check, name)
            for name in ("min_fraction", "rank_at_most", "random_effect_at_most")
            if getattr(check, name) is not None
        }
        thresholds["confidence"] = check.level
    return CheckResult(kind, claim.require, thresholds, cases, passed, alternatives, population)


def _thresholds(kind: str, check: Any, claim: Claim) -> dict[str, Any]:
    if isinstance(check, DropCheck):
        return {"at_least": check.at_least, "control_at_most": check.control_at_most}
    if isinstance(check, SelectiveCheck):
        if check.ratio_at_least is not None:
            return {"ratio_at_least": check.ratio_at_least}
        return {"iou_at_least": check.iou_at_least, "quantile": check.quantile}
    if isinstance(check, OcclusionCheck):
        found: dict[str, Any] = {}
        if check.peak_in_region:
            found["peak_in_region"] = True
        if check.iou_at_least is not None:
            found |= {"iou_at_least": check.iou_at_least, "quantile": check.quantile}
        return found | {"patch": check.patch, "stride": check.step, "fill": check.fill}
    assert isinstance(check, StrongestCheck)
    return {"in": check.in_labels} if check.in_ is not None else {"top_k": check.top_k}


def _inputs_of(case: Any) -> dict[str, str | None]:
    """The case's images and regions as the spec writes them (a set's image by file name)."""
    shown = getattr(case, "_shown", None)
    if shown is not None:
        return dict(shown)
    return {key: value for key, value in case.model_dump().items() if value is not None}


def _combine(
    claim: Claim, ok: NDArray[np.bool_], values: dict[str, tuple[Floats, bool, float]]
) -> tuple[dict[str, float], bool]:
    """Combine the claimed channels' values and verdicts as ``require`` says.

    ``values`` maps a name to (per-channel vector, higher is better, threshold); the first is the
    check's main number. ``all``: every channel must pass, and each value is the worst over the
    channels. ``any``: one channel must pass, and the values are that channel's (the best passing
    one, else the best by the main number), never a mix of channels. ``mean``: the mean of each
    value is held to its threshold.
    """
    channels = np.asarray(claim.channels or [], dtype=np.intp)
    if claim.require == "any":
        main, higher, _ = next(iter(values.values()))
        key = np.nan_to_num(main[channels], nan=-np.inf if higher else np.inf)
        key = key if higher else -key
        candidates = channels[ok[channels]] if ok[channels].any() else channels
        best = candidates[np.argmax(key[np.isin(channels, candidates)])]
        return {name: float(vector[best]) for name, (vector, _, _) in values.items()}, bool(
            ok[channels].any()
        )
    combined = {
        name: metrics.combine_values(vector[channels], claim.require, higher_is_better=higher)
        for name, (vector, higher, _) in values.items()
    }
    if claim.require == "all":
        return combined, metrics.combine(ok[channels], "all")
    holds = [
        combined[name] >= threshold if higher else combined[name] <= threshold
        for name, (_, higher, threshold) in values.items()
    ]
    return combined, all(holds)


def _channel_results(
    claim: Claim,
    ok: NDArray[np.bool_],
    columns: dict[str, Floats],
    reasons: dict[int, list[str]],
    channels: list[int] | None = None,
) -> list[ChannelResult]:
    """Per claimed channel, its numbers and every reason it fails (not only the first)."""
    return [
        ChannelResult(
            channel=c,
            label=claim.label(c),
            passed=bool(ok[c]),
            values={name: float(vector[c]) for name, vector in columns.items()},
            reason="; ".join(reasons.get(c, [])),
        )
        for c in (claim.channels or [] if channels is None else channels)
    ]


def _because(reasons: dict[int, list[str]], channels: Any, reason: Callable[[int], str]) -> None:
    """Add ``reason(c)`` to the reasons of each channel ``c`` in ``channels``."""
    for c in np.flatnonzero(channels) if np.asarray(channels).dtype == bool else channels:
        reasons.setdefault(int(c), []).append(reason(int(c)))


def _quiet_reason(mean_in: Floats) -> Callable[[int], str]:
    """Silent, or for a pre-ReLU channel below zero, negative: a drop of either means nothing."""

    def reason(c: int) -> str:
        if mean_in[c] < 0:
            return f"negative in the region (mean_in {fmt(mean_in[c])}): a drop means nothing"
        return "silent in the region (mean_in ≤ 1e-6 of its peak)"

    return reason


def _drop_case(
    check: DropCheck, case: Any, plan: CaseInputs, claim: Claim, batch: _Batch, inputs: SpecInputs
) -> tuple[CaseResult, NDArray[np.bool_], Floats]:
    A, Aa = batch.maps[plan.image], batch.maps[plan.altered]
    rgb = batch.rgb[plan.image]
    region = inputs.region(case.region, rgb.shape[:2])
    w = inputs.fractions(case.region, rgb.shape[:2], A.shape[1:])
    peak = batch.measured(("peaks", plan.image), lambda: metrics.channel_peaks(A))
    main = batch.measured(
        ("drop", plan.image, plan.altered, case.region),
        lambda: metrics.region_drop(A, Aa, w, peak),
    )
    quiet, drop = main.silent, main.drop_or_zero  # silent channels: drop 0, and that reason
    ok = ~quiet & (drop >= check.at_least)
    columns = {"drop": drop, "mean_in": main.mean_in, "mean_in_altered": main.mean_in_altered}
    values = {"drop": (drop, True, check.at_least)}
    control = None
    reasons: dict[int, list[str]] = {}
    _because(reasons, quiet, _quiet_reason(main.mean_in))
    _because(
        reasons,
        ~quiet & ~(drop >= check.at_least),
        lambda c: f"too small a drop ({fmt(drop[c])} < {fmt(check.at_least)})",
    )
    if case.control is not None:
        control = inputs.region(case.control, rgb.shape[:2])
        wc = inputs.fractions(case.control, rgb.shape[:2], A.shape[1:])
        side = batch.measured(
            ("drop", plan.image, plan.control_altered, case.control),
            lambda: metrics.region_drop(A, batch.maps[plan.control_altered], wc, peak),
        )
        c_drop = side.drop_or_zero
        ok &= c_drop <= check.control_at_most
        columns |= {
            "control_drop": c_drop,
            "control_mean_in": side.mean_in,
            "control_mean_in_altered": side.mean_in_altered,
        }
        values["control_drop"] = (c_drop, False, check.control_at_most)
        _because(
            reasons,
            c_drop > check.control_at_most,
            _control_reason(main.mean_in, side.mean_in, c_drop, check.control_at_most),
        )
    effect = drop - columns["control_drop"] if control is not None else drop.astype(np.float64)
    combined, passed = _combine(claim, ok, values)
    evidence = CaseEvidence(
        image=rgb,
        maps=A,
        region=region,
        control=control,
        altered=batch.rgb[plan.altered],
        altered_maps=Aa,
        control_altered=batch.rgb[plan.control_altered]
        if plan.control_altered is not None
        else None,
        control_altered_maps=batch.maps[plan.control_altered]
        if plan.control_altered is not None
        else None,
        effect=np.where(quiet, np.nan, effect),
    )
    result = CaseResult(
        _inputs_of(case),
        _channel_results(claim, ok, columns, reasons),
        combined,
        bool(passed),
        evidence,
    )
    return result, ok, np.where(quiet, -np.inf, drop)


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


def _selective_case(
    check: SelectiveCheck,
    case: Any,
    plan: CaseInputs,
    claim: Claim,
    batch: _Batch,
    inputs: SpecInputs,
) -> tuple[CaseResult, NDArray[np.bool_], Floats]:
    A, rgb = batch.maps[plan.image], batch.rgb[plan.image]
    region = inputs.region(case.region, rgb.shape[:2])
    w = inputs.fractions(case.region, rgb.shape[:2], A.shape[1:])
    mean_in, mean_out = batch.measured(
        ("positive_means", plan.image, case.region),
        lambda: metrics.region_means(np.maximum(A, 0), w),
    )
    if check.ratio_at_least is not None:
        name, threshold = "ratio", check.ratio_at_least
        score = batch.measured(
            ("ratio", plan.image, case.region), lambda: metrics.selectivity_ratio(A, w)
        )
    else:
        name, threshold = "iou", check.iou_at_least
        score = batch.measured(
            ("iou", plan.image, case.region, check.quantile),
            lambda: metrics.iou_all(A, region, check.quantile),
        )
    ok = score >= threshold
    columns = {name: score, "mean_in": mean_in, "mean_out": mean_out}
    combined, passed = _combine(claim, ok, {name: (score, True, threshold)})
    reasons: dict[int, list[str]] = {}
    _because(reasons, ~ok, lambda c: f"{name} {fmt(score[c])} < {fmt(threshold)}")
    evidence = CaseEvidence(image=rgb, maps=A, region=region, effect=np.asarray(score, float))
    result = CaseResult(
        _inputs_of(case),
        _channel_results(claim, ok, columns, reasons),
        combined,
        bool(passed),
        evidence,
    )
    return result, ok, score


def _ranks(A: NDArray[np.float32], w: Floats | None) -> tuple[NDArray[np.intp], Floats, Floats]:
    """Channels strongest first, each channel's rank (1 = strongest), and the scores ranked."""
    ranking = metrics.channel_ranking(A, w)
    rank = np.empty(len(ranking), dtype=np.float64)
    rank[ranking] = np.arange(1, len(ranking) + 1)
    score = metrics.channel_peaks(A) if w is None else metrics.region_means(A, w)[0]
    return ranking, rank, score


def _strongest_case(
    check: StrongestCheck,
    case: Any,
    plan: CaseInputs,
    claim: Claim,
    batch: _Batch,
    inputs: SpecInputs,
) -> tuple[CaseResult, NDArray[np.bool_], Floats]:
    A, rgb = batch.maps[plan.image], batch.rgb[plan.image]
    region = inputs.region(case.region, rgb.shape[:2]) if case.region is not None else None
    w = inputs.fractions(case.region, rgb.shape[:2], A.shape[1:]) if region is not None else None
    ranking, rank, score = batch.measured(
        ("strongest", plan.image, case.region), lambda: _ranks(A, w)
    )
    score_name = "peak" if w is None else "region_mean"
    top = int(ranking[0])
    columns = {"rank": rank, score_name: score}
    beaten = _beaten_by(claim, top, score_name, score)
    if check.in_ is not None:
        ok = rank == 1
        passed = top in check.in_
        reasons: dict[int, list[str]] = {}
        if not passed:
            _because(reasons, list(check.in_), beaten)
        channels = _channel_results(claim, ok, columns, reasons, channels=list(check.in_))
        combined = {
            "strongest": float(claim.label(top)),
            f"strongest_{score_name}": float(score[top]),
        }
        evidence = CaseEvidence(image=rgb, maps=A, region=region, effect=score)
        return CaseResult(_inputs_of(case), channels, combined, bool(passed), evidence), ok, -rank
    ok = rank <= check.top_k
    combined, passed = _combine(claim, ok, {"rank": (rank, False, check.top_k)})
    combined["strongest"] = float(claim.label(top))
    reasons = {}
    _because(
        reasons,
        ~ok,
        lambda c: f"rank {fmt(rank[c])}, not among the top {check.top_k}: {beaten(c)}",
    )
    evidence = CaseEvidence(image=rgb, maps=A, region=region, effect=score)
    return (
        CaseResult(
            _inputs_of(case),
            _channel_results(claim, ok, columns, reasons),
            combined,
            bool(passed),
            evidence,
        ),
        ok,
        -rank,
    )


def _beaten_by(claim: Claim, top: int, score_name: str, score: Floats) -> Callable[[int], str]:
    """Which channel is strongest instead of ``c``, and by how much."""

    def reason(c: int) -> str:
        lead = score[top] - score[c]
        times = f", {fmt(score[top] / score[c])}×" if score[c] > 0 else ""
        return (
            f"channel {claim.label(top)} is strongest instead ({score_name} {fmt(score[top])} "
            f"against {fmt(score[c])}: {fmt(lead)} more{times})"
        )

    return reason


_MAP_CHUNK = 64  # channels whose per-pixel occlusion maps are held at once


def _occlusion_case(
    check: OcclusionCheck,
    case: Any,
    plan: CaseInputs,
    claim: Claim,
    batch: _Batch,
    inputs: SpecInputs,
) -> tuple[CaseResult, NDArray[np.bool_], Floats]:
    """The sweep measures every channel at once: the maps of all of them are scored."""
    A, rgb = batch.maps[plan.image], batch.rgb[plan.image]
    assert batch.probe is not None
    region = inputs.region(case.region, rgb.shape[:2])
    probe = batch.probe
    sweep_key = (plan.image, case.region, check.patch, check.step, check.fill)
    sweep = batch.measured(  # a sweep is hundreds of forwards: claims that repeat it share it
        ("occlusion", *sweep_key),
        lambda: occlude(
            probe, rgb, batch.layer, region, patch=check.patch, stride=check.step, fill=check.fill
        ),
    )
    peak_in, peak_x, peak_y, map_in, map_out, iou = batch.measured(
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
    _because(reasons, quiet, _quiet_reason(sweep.base))
    if check.peak_in_region:
        peak_in = np.where(quiet, 0.0, peak_in)
        values["peak_in"] = (peak_in, True, 1.0)
        columns["peak_in"] = peak_in
        ok &= peak_in >= 1
        _because(reasons, ~quiet & (peak_in < 1), lambda c: "the map peaks outside the region")
    if check.iou_at_least is not None:
        iou = np.where(quiet, 0.0, iou)
        values["iou"] = (iou, True, float(check.iou_at_least))
        columns["iou"] = iou
        ok &= iou >= check.iou_at_least
        low = ~quiet & (iou < check.iou_at_least)
        _because(reasons, low, lambda c: f"iou {fmt(iou[c])} < {fmt(check.iou_at_least)}")
    columns |= {"peak_x": peak_x, "peak_y": peak_y}
    combined, passed = _combine(claim, ok, values)
    evidence = CaseEvidence(
        image=rgb,
        maps=A,
        region=region,
        occlusion=sweep,
        effect=np.where(quiet, np.nan, map_in - map_out),
    )
    result = CaseResult(
        _inputs_of(case),
        _channel_results(claim, ok, columns, reasons),
        combined,
        bool(passed),
        evidence,
    )
    order = np.where(quiet, -np.inf, map_in - map_out)  # alternatives: most focused first
    return result, ok, order


def _numbers_key(
    sweep: Occlusion, region: NDArray[np.bool_], channels: int, check: OcclusionCheck
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
    sweep: Occlusion,
    region: NDArray[np.bool_],
    shape: tuple[int, int],
    channels: int,
    check: OcclusionCheck,
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
            row, col = metrics.map_peak(single)
            y = min(int((row + 0.5) * shape[0] / height), shape[0] - 1)
            x = min(int((col + 0.5) * shape[1] / width), shape[1] - 1)
            peak_x[c], peak_y[c], peak_in[c] = x, y, float(region[y, x])
    return peak_in, peak_x, peak_y, map_in, map_out, iou
