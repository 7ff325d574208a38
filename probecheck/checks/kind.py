"""What a check kind is: the one record the registry holds per kind, and the helpers kinds share.

A kind (drop, selective, strongest, occlusion, compare) is one module of this package that
declares a :class:`CheckKind`: its spec model, the inputs a case reads (for the plan), how a case
is measured, the numbers it holds to thresholds (:class:`probecheck.metric_table.Metric`), what
its population null ranks, any words of its own in the headline, and what its row of the
diagnostic tile shows (:mod:`probecheck.checks.tile`). Everything that once asked
"which kind is this?" by string asks the registry (:mod:`probecheck.checks.registry`) instead.

No torch here: the report and render layers read the declarations without loading a network.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from probecheck import metrics
from probecheck.checks.inputs import CaseInputs, InputKey
from probecheck.checks.tile import Row, default_row
from probecheck.metric_table import METRICS, Metric
from probecheck.results import CaseResult, ChannelResult, fmt

if TYPE_CHECKING:
    from probecheck.checks.spec_inputs import SpecInputs
    from probecheck.results import CaseEvidence, CheckResult
    from probecheck.spec import Claim

Floats = NDArray[np.float64]
T = TypeVar("T")


class Context(Protocol):
    """What a kind's ``measure`` reads: the claim's batch of activations and the spec's inputs."""

    claim: Claim
    inputs: SpecInputs
    #: each input variant's RGB image and its channel maps at the claim's layer
    rgb: dict[InputKey, NDArray[np.uint8]]
    maps: dict[InputKey, NDArray[np.float32]]
    #: the network (a Probe) and the layer, for kinds that run their own forwards (occlusion)
    probe: Any
    layer: str

    def measured(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        """Every-channel numbers shared with other claims of the same network and layer."""
        ...


@dataclass
class Measured:
    """One case measured: its result, and every channel's verdict and order (for the channels
    that would pass now, best first)."""

    result: CaseResult
    #: every channel of the layer: would it pass this case?
    ok: NDArray[np.bool_]
    #: every channel: higher is a better alternative (NaN, -inf: never)
    order: Floats


@dataclass(frozen=True)
class CheckKind:
    """One check kind, as the registry lists it."""

    #: its key under a claim in the YAML (``drop:``); its spec side is ``spec/kinds/<name>.py``
    name: str
    #: the numbers held to thresholds, in the order the headline and the table show them
    metric_names: tuple[str, ...]
    #: what a population check's null ranks and measures on random weights
    effect: str
    #: the input variants (images, masked images) a case reads
    inputs: Callable[[Any], CaseInputs]
    #: one case measured on every channel: ``measure(context, check, case, inputs)``
    measure: Callable[[Context, Any, Any, CaseInputs], Measured]
    #: the check's thresholds as results and baselines record them
    thresholds: Callable[[Any], dict[str, Any]]
    #: headline words of its own (strongest's ``strongest 22 ∈ [36]``), after the metrics'
    headline: Callable[[CheckResult, bool], list[str]] | None = None
    #: checks a case's inputs before any forward (images of one size)
    prepare: Callable[[SpecInputs, Any], None] | None = None
    #: how the tile scales the maps of a case (a sentence under its title)
    scaling: str = ""
    #: what a case's row of the tile shows (:mod:`probecheck.checks.tile`):
    #: ``tile_row(check, case, evidence, index_base)``; by default the image and the claimed
    #: channels' maps
    tile_row: Callable[[CheckResult, CaseResult, CaseEvidence, int], Row] = default_row
    #: the check's own settings that decide *how* a number is measured (an occlusion patch, an
    #: IoU quantile), not what it is held to: they join every case's inputs, so a baseline never
    #: compares numbers measured another way
    settings: Callable[[Any], dict[str, Any]] | None = None
    #: whether a case's effect is measured for every channel of the layer, whichever the claim
    #: names (then claims about other channels share the effects random weights give; every
    #: kind's is, tested); False for a kind that measures only the claimed channels
    effect_of_every_channel: bool = True

    @property
    def metrics(self) -> dict[str, Metric]:
        """The numbers held to thresholds, each with its direction and threshold key."""
        return {name: METRICS[name] for name in self.metric_names}

    @property
    def numeric(self) -> dict[str, Metric]:
        """The thresholded numbers a population summarises by an interval."""
        return {n: m for n, m in self.metrics.items() if not m.categorical}

    @property
    def has_verdicts(self) -> bool:
        """Whether a case's verdict is yes or no per image (held by every image, or by
        min_fraction of them), not only thresholded numbers."""
        return any(m.categorical for m in self.metrics.values())


# helpers the kinds share ------------------------------------------------------------------------


def inputs_of(case: Any) -> dict[str, str | None]:
    """The case's images and regions as the spec writes them (a set's image by file name)."""
    shown = getattr(case, "_shown", None)
    if shown is not None:
        return dict(shown)
    return {key: value for key, value in case.model_dump().items() if value is not None}


def combine(
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


def channel_results(
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
            reason="; ".join(reasons_of(reasons, c)),
        )
        for c in (claim.channels or [] if channels is None else channels)
    ]


def measured_case(
    case: Any,
    claim: Claim,
    ok: NDArray[np.bool_],
    columns: dict[str, Floats],
    reasons: dict[int, list[str]],
    combined: dict[str, float],
    passed: bool,
    evidence: Any,
    order: Floats,
) -> Measured:
    """A kind's case as the engine takes it: its result (inputs, the claimed channels' numbers
    and reasons, the combined values, the verdict, the evidence) and every channel's ok/order."""
    result = CaseResult(
        inputs_of(case),
        channel_results(claim, ok, columns, reasons),
        combined,
        bool(passed),
        evidence,
    )
    return Measured(result, ok, order)


#: The key under which :func:`because` keeps what it is told (no channel has this index).
_GIVEN = -1


def because(reasons: dict[int, list[str]], channels: Any, reason: Callable[[int], str]) -> None:
    """Add ``reason(c)`` to the reasons of each channel ``c`` in ``channels`` (a mask over the
    layer's channels, or channel indices).

    The text is written only for the channels a result reports (:func:`reasons_of`, from
    :func:`channel_results`): writing it for every channel of the layer cost more than the rest
    of a claim's measurement. ``channels`` is copied now; ``reason`` is called then.
    """
    chosen = np.array(channels, copy=True)
    reasons.setdefault(_GIVEN, []).append((chosen, reason))  # type: ignore[arg-type]


def reasons_of(reasons: dict[int, list[str]], channel: int) -> list[str]:
    """Every reason given to ``channel`` by :func:`because`, in the order given."""
    found = [text for text in reasons.get(channel, []) if isinstance(text, str)]
    for chosen, reason in reasons.get(_GIVEN, []):  # type: ignore[misc]
        named = bool(chosen[channel]) if chosen.dtype == bool else bool((chosen == channel).any())
        if named:
            found.append(reason(channel))
    return found


def quiet_reason(mean_in: Floats) -> Callable[[int], str]:
    """Silent, or for a pre-ReLU channel below zero, negative: a drop of either means nothing."""

    def reason(c: int) -> str:
        if mean_in[c] < 0:
            return f"negative in the region (mean_in {fmt(mean_in[c])}): a drop means nothing"
        return "silent in the region (mean_in ≤ 1e-6 of its peak)"

    return reason


def region_decides_nothing(share: float, iou_at_least: float | None, quantile: float) -> str | None:
    """Why a region covering ``share`` of its image (:meth:`SpecInputs.share`) makes a
    selectivity or occlusion check hold on any network, or None.

    A region covering the whole image holds every peak and leaves no outside. And a map's top
    ``1 - quantile`` share of the image overlaps a region of share ``f`` by at least
    ``f - quantile`` of the image, its union at most the image: every map reaches IoU
    ``f - quantile``, so a threshold at or below it cannot fail (ties aside).
    """
    if share >= 1:
        return (
            "the region covers the whole image: every peak lies in it and nothing is outside, "
            "so any network would pass; draw a region that leaves part of the image out"
        )
    if iou_at_least is not None and iou_at_least <= share - quantile:
        return (
            f"the region covers {fmt(100 * share)} % of the image: with quantile "
            f"{fmt(quantile)} every map's top overlaps it at IoU {fmt(share - quantile)} or more, "
            f"so iou_at_least {fmt(iou_at_least)} holds on any network; raise the quantile or "
            "the threshold, or draw a smaller region"
        )
    return None
