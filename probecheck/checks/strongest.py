"""``strongest``: the layer's strongest channel is one of ``in`` (or the channels are top k)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from probecheck import metrics
from probecheck.checks.inputs import CaseInputs, image_key
from probecheck.checks.kind import (
    CheckKind,
    Context,
    Floats,
    Measured,
    because,
    channel_results,
    combine,
    inputs_of,
    measured_case,
)
from probecheck.checks.tile import (
    ChannelMap,
    Judged,
    Panel,
    Row,
    TextLine,
    Verdict,
    Words,
    image_group,
)
from probecheck.results import CaseEvidence, CaseResult, CheckResult, fmt, join, mark
from probecheck.spec import Claim


def case_inputs(case: Any) -> CaseInputs:
    return CaseInputs(image_key(case.image))


def thresholds(check: Any) -> dict[str, Any]:
    return {"in": check.in_labels} if check.in_ is not None else {"top_k": check.top_k}


def headline(check: CheckResult, ascii: bool) -> list[str]:
    """``strongest 22 ∉ [36] ✗``: with ``in``, the strongest channel of every case."""
    want = check.thresholds.get("in")
    if want is None:
        return []
    tops = [c.combined.get("strongest") for c in check.cases]
    held = all(top in want for top in tops)
    op = ("in" if held else "not in") if ascii else ("∈" if held else "∉")
    return [f"strongest {join(tops)} {op} {join(want)} {mark(held, ascii)}"]


def _ranks(A: NDArray[np.float32], w: Floats | None) -> tuple[NDArray[np.intp], Floats, Floats]:
    """Channels strongest first, each channel's rank (1 = strongest), and the scores ranked."""
    ranking = metrics.channel_ranking(A, w)
    rank = np.empty(len(ranking), dtype=np.float64)
    rank[ranking] = np.arange(1, len(ranking) + 1)
    score = metrics.channel_peaks(A) if w is None else metrics.region_means(A, w)[0]
    return ranking, rank, score


def measure(context: Context, check: Any, case: Any, plan: CaseInputs) -> Measured:
    """Every channel ranked by its peak (or its mean in the region)."""
    claim, inputs = context.claim, context.inputs
    A, rgb = context.maps[plan.image], context.rgb[plan.image]
    region = inputs.region(case.region, rgb.shape[:2]) if case.region is not None else None
    w = inputs.fractions(case.region, rgb.shape[:2], A.shape[1:]) if region is not None else None
    ranking, rank, score = context.measured(
        ("strongest", plan.image, case.region), lambda: _ranks(A, w)
    )
    score_name = "peak" if w is None else "region_mean"
    top = int(ranking[0])
    columns = {"rank": rank, score_name: score}
    beaten = _beaten_by(claim, top, score_name, score)
    evidence = CaseEvidence(image=rgb, maps=A, region=region, effect=score)
    if check.in_ is not None:
        ok = rank == 1
        passed = top in check.in_
        reasons: dict[int, list[str]] = {}
        if not passed:
            because(reasons, list(check.in_), beaten)
        channels = channel_results(claim, ok, columns, reasons, channels=list(check.in_))
        combined = {
            "strongest": float(claim.label(top)),
            f"strongest_{score_name}": float(score[top]),
        }
        result = CaseResult(inputs_of(case), channels, combined, bool(passed), evidence)
        return Measured(result, ok, -rank)
    ok = rank <= check.top_k
    combined, passed = combine(claim, ok, {"rank": (rank, False, check.top_k)})
    combined["strongest"] = float(claim.label(top))
    reasons = {}
    because(
        reasons,
        ~ok,
        lambda c: f"rank {fmt(rank[c])}, not among the top {check.top_k}: {beaten(c)}",
    )
    return measured_case(case, claim, ok, columns, reasons, combined, passed, evidence, -rank)


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


def tile_row(check: CheckResult, case: CaseResult, ev: CaseEvidence, index_base: int) -> Row:
    """The image, then the claimed channels' maps and the strongest one's, all at one scale (so
    their brightness compares), each with its score and rank."""
    score = "region_mean" if ev.region is not None else "peak"
    by = "mean in region" if ev.region is not None else "peak"
    image = image_group(case, f"strongest by {by}")
    top_label = case.combined.get("strongest", math.nan)
    top = int(top_label) - index_base if not math.isnan(top_label) else None
    claimed = [ch.channel for ch in case.channels]
    shown = list(claimed)
    if top is not None and top not in shown and 0 <= top < ev.maps.shape[0]:
        shown.append(top)
    scale = tuple(("image", i) for i in shown)
    top_k = check.thresholds.get("top_k")
    panels = []
    for ch in case.channels:
        rank = ch.values.get("rank", math.nan)
        rank_line: TextLine = (
            Judged("rank", rank, top_k, False)
            if top_k is not None
            else Verdict(f"rank {fmt(rank)} ", ch.passed)
        )
        lines: list[TextLine] = [
            (Words(f"ch {ch.label} · claimed"),),
            f"{by} {fmt(ch.values.get(score, math.nan))}",
            rank_line,
        ]
        panels.append(Panel(ChannelMap(ch.channel, "image", scale), lines))
    if top is not None and top not in claimed:
        strongest_value = case.combined.get(f"strongest_{score}", float(ev.maps[top].max()))
        lines = [
            (Words(f"strongest: ch {top + index_base}"),),
            f"{by} {fmt(strongest_value)}",
            "rank 1",
        ]
        panels.append(Panel(ChannelMap(top, "image", scale), lines))
    return [image, panels]


KIND = CheckKind(
    name="strongest",
    metric_names=("rank",),
    effect="peak or region mean",
    inputs=case_inputs,
    measure=measure,
    thresholds=thresholds,
    headline=headline,
    scaling="the maps of a case share one scale, so their brightness compares",
    tile_row=tile_row,
)
