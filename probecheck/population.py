"""A check over an image set, judged on the population: per-image numbers, then the statistic.

Every image of the set is a case, measured as any case is. The check's numbers (drop, control
drop, ratio, IoU) are then summarised by their mean and a seeded bootstrap interval
(:mod:`probecheck.stats`); the check holds when the interval's lower bound clears an ``at_least``
threshold, its upper bound stays under an ``at_most`` one (``control_at_most``), and, where
``min_fraction`` is given, that share of the images holds the check alone. Verdicts that are
yes or no per image (the strongest channel, the occlusion map's peak in the region) hold when
every image holds them, or ``min_fraction`` of them.

The null: the claimed channels' effect (mean over images of drop minus control drop; the main
number of other checks) is ranked among every channel of the layer, and measured again on
random weights of the same architecture; ``rank_at_most`` and ``random_effect_at_most`` bound
them where given. Nothing here runs a network: the numbers come in as arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from probecheck import stats
from probecheck.metric_table import saturation
from probecheck.results import CaseResult, fmt, number_from_json

__all__ = [
    "MetricSummary",
    "NullResult",
    "Population",
    "null_result",
    "summarise",
]

WORST_SHOWN = 6

#: fewer finite numbers than this give no interval (one number has no spread to resample), so a
#: check over a set measured on fewer images fails, saying so, instead of passing on one image
MIN_IMAGES = 2


@dataclass
class MetricSummary:
    """One per-image number over the set: its mean, interval and the threshold it is held to."""

    mean: float
    lower: float
    upper: float
    n: int
    threshold: float
    higher_is_better: bool
    holds: bool

    @property
    def bound(self) -> float:
        """The interval's bound held to the threshold (lower for at_least, upper for at_most)."""
        return self.lower if self.higher_is_better else self.upper

    @property
    def interval(self) -> str:
        """``[0.55, 0.7]``, or ``no interval (n 1)`` where one number gives no spread to judge."""
        if self.n < MIN_IMAGES:
            return f"no interval (n {self.n})"
        return f"[{fmt(self.lower)}, {fmt(self.upper)}]"


@dataclass
class NullResult:
    """Where the claimed channels' effect stands among the layer's channels and on random
    weights."""

    effect: str  # what is ranked, in words
    channels: int  # channels of the layer ranked
    effect_mean: dict[str, float] = field(default_factory=dict)  # label -> mean effect
    rank: dict[str, int] = field(default_factory=dict)  # label -> 1 = largest effect
    random_effect: dict[str, float] | None = None  # label -> the same on random weights
    random_model: str = ""
    random_note: str = ""
    random_passes: int = 0  # forward passes the random weights took (not the model's own)
    rank_at_most: int | None = None
    random_effect_at_most: float | None = None
    holds: bool = True


@dataclass
class Population:
    """A check over a set, as a population: n, the statistic of each number, the fraction of
    images that hold the check alone, the worst images and the null."""

    set: str
    n: int
    confidence: float
    method: str
    seed: int
    metrics: dict[str, MetricSummary]
    fraction: float
    min_fraction: float | None
    worst: list[str]  # file names, worst first
    passed: bool
    reasons: list[str] = field(default_factory=list)
    null: NullResult | None = None

    def headline(self, *, ascii: bool = False) -> str:
        """``drop mean 0.62 [0.55, 0.7] ≥ 0.5 ✓, control mean 0.1 [0.05, 0.2] ≤ 0.2 ✓, 7/8
        images hold``: each interval's bound against its threshold, marked held or broken."""
        from probecheck.results import mark, relation

        parts = []
        for name, m in self.metrics.items():
            op = relation(m.higher_is_better, m.holds, ascii)
            short = "control" if name == "control_drop" else name
            parts.append(
                f"{short} mean {fmt(m.mean)} {m.interval} {op} "
                f"{fmt(m.threshold)} {mark(m.holds, ascii)}"
                if m.n >= MIN_IMAGES
                else f"{short} mean {fmt(m.mean)}, {m.interval} {mark(False, ascii)}"
            )
        held = round(self.fraction * self.n)
        images = f"{held}/{self.n} images hold"
        if self.min_fraction is not None:
            enough = self.fraction >= self.min_fraction
            images += f" (min {fmt(self.min_fraction)}) {mark(enough, ascii)}"
        parts.append(images)
        if self.null is not None and self.null.rank:
            ranks = ", ".join(f"{r}" for r in self.null.rank.values())
            parts.append(f"rank {ranks}/{self.null.channels}")
            if self.null.random_effect:
                randoms = ", ".join(fmt(v) for v in self.null.random_effect.values())
                parts.append(f"random weights {randoms}")
        return ", ".join(parts)

    def describe(self) -> list[str]:
        """Lines for a failure message: the statistic, the fraction, the null, the worst images."""
        level = f"{self.confidence:.0%}"
        lines = [
            f"over set {self.set}: n {self.n}, {level} {self.method} interval (seed {self.seed})"
        ]
        from probecheck.results import relation

        for name, m in self.metrics.items():
            op = relation(m.higher_is_better, m.holds, ascii=False)  # a true statement either way
            which = "lower" if m.higher_is_better else "upper"
            verdict = "holds" if m.holds else "FAILS"
            if m.n < MIN_IMAGES:
                lines.append(f"  {name}: mean {fmt(m.mean)}, {m.interval} {verdict}")
                continue
            lines.append(
                f"  {name}: mean {fmt(m.mean)} {m.interval}; {which} bound "
                f"{fmt(m.bound)} {op} {fmt(m.threshold)} {verdict}"
            )
        fraction = f"  images holding the check alone: {round(self.fraction * self.n)}/{self.n}"
        if self.min_fraction is not None:
            fraction += f" (min_fraction {fmt(self.min_fraction)})"
        lines.append(fraction)
        if self.null is not None:
            lines += _null_lines(self.null)
        if self.worst:
            lines.append("  worst images: " + ", ".join(self.worst))
        lines += [f"  → {reason}" for reason in self.reasons]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Population:
        metrics = {
            name: MetricSummary(
                **{
                    k: (number_from_json(v) if k in ("mean", "lower", "upper", "threshold") else v)
                    for k, v in m.items()
                }
            )
            for name, m in data.get("metrics", {}).items()
        }
        null = data.get("null")
        null_result = None
        if null is not None:
            null = dict(null)
            null["effect_mean"] = {
                k: number_from_json(v) for k, v in (null.get("effect_mean") or {}).items()
            }
            if null.get("random_effect") is not None:
                null["random_effect"] = {
                    k: number_from_json(v) for k, v in null["random_effect"].items()
                }
            null_result = NullResult(**null)
        return cls(**{**data, "metrics": metrics, "null": null_result})


def _null_lines(null: NullResult) -> list[str]:
    lines = []
    for label, mean in null.effect_mean.items():
        line = (
            f"  null: channel {label}'s effect ({null.effect}) {fmt(mean)} ranks "
            f"{null.rank.get(label)} of {null.channels} channels"
        )
        if null.random_effect is not None:
            line += f"; on random weights {fmt(null.random_effect.get(label, math.nan))}"
        lines.append(line)
    if null.random_effect is None and null.random_note:
        lines.append(f"  null on random weights: {null.random_note}")
    if null.rank_at_most is not None:
        lines.append(f"  rank_at_most {null.rank_at_most}")
    if null.random_effect_at_most is not None:
        lines.append(f"  random_effect_at_most {fmt(null.random_effect_at_most)}")
    return lines


# ------------------------------------------------------------------------------- summarising


def _margin(case: CaseResult, numeric: dict[str, tuple[str, bool]], thresholds: dict) -> float:
    """How far the case's worst number is past its threshold (negative: it fails there)."""
    margins = []
    for name, (key, higher) in numeric.items():
        threshold = thresholds.get(key)
        value = case.combined.get(name)
        if threshold is None or value is None:
            continue
        margin = value - threshold if higher else threshold - value
        margins.append(-math.inf if math.isnan(margin) else margin)
    return min(margins) if margins else (0.0 if case.passed else -1.0)


def summarise(
    kind: str,
    set_name: str,
    cases: Sequence[CaseResult],
    thresholds: dict[str, Any],
    *,
    confidence: float,
    min_fraction: float | None,
    seed: int = stats.DEFAULT_SEED,
) -> Population:
    """The population statistic of each thresholded number of ``cases`` and the verdict."""
    from probecheck.checks.registry import kind as registered_kind  # its kinds import us

    declared = registered_kind(kind)
    numeric = {
        name: (str(metric.threshold), bool(metric.higher_is_better))
        for name, metric in declared.numeric.items()
        if thresholds.get(str(metric.threshold)) is not None
    }
    metrics: dict[str, MetricSummary] = {}
    reasons: list[str] = []
    for name, (key, higher) in numeric.items():
        values = np.array([c.combined.get(name, math.nan) for c in cases], dtype=np.float64)
        threshold = float(thresholds[key])
        ceiling = saturation(name, threshold)
        if ceiling is not None:  # a ratio of inf (silent outside) is the best an image can give:
            values = np.where(values > ceiling, ceiling, values)  # counted at its saturation
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            metrics[name] = MetricSummary(
                math.nan, math.nan, math.nan, 0, threshold, higher, holds=False
            )
            reasons.append(f"{name}: no image gave a finite number")
            continue
        if finite.size < MIN_IMAGES:  # one number has no spread: no interval, no verdict
            metrics[name] = MetricSummary(
                float(finite.mean()), math.nan, math.nan, int(finite.size), threshold, higher, False
            )
            reasons.append(
                f"{name}: only {finite.size} image gave a number: no interval, so nothing is "
                f"established about the set (a claim over a set needs {MIN_IMAGES} images or more; "
                "for one image write 'image:' instead of 'set:')"
            )
            continue
        interval = stats.mean_interval(finite, confidence, seed=seed)
        bound = interval.low if higher else interval.high
        holds = bound >= threshold if higher else bound <= threshold
        metrics[name] = MetricSummary(
            interval.mean, interval.low, interval.high, interval.n, threshold, higher, holds
        )
        if not holds:
            side = "lower" if higher else "upper"
            op = "below" if higher else "above"
            reasons.append(
                f"{name}: the interval's {side} bound {fmt(bound)} is {op} {fmt(threshold)}"
            )
    fraction = stats.fraction([c.passed for c in cases])
    passed = all(m.holds for m in metrics.values())
    for name, m in metrics.items():
        if 0 < m.n < len(cases):  # the interval speaks for fewer images than the set holds
            passed = False
            reasons.append(
                f"{name}: {len(cases) - m.n} of {len(cases)} images gave no finite {name}, so "
                f"the claim is not measured on them (fix the region or drop those images)"
            )
    needed = min_fraction
    if needed is None and (declared.has_verdicts and not numeric):
        needed = 1.0  # a yes-or-no verdict with no statistic: every image must hold it
    if needed is not None and fraction < needed:
        passed = False
        reasons.append(
            f"{round(fraction * len(cases))} of {len(cases)} images hold the check alone, "
            f"fewer than {fmt(needed)} of them"
        )
    if not numeric and len(cases) < MIN_IMAGES:  # a yes-or-no verdict on one image: an anecdote
        passed = False
        reasons.append(
            f"only {len(cases)} image: nothing is established about the set (a claim over a set "
            f"needs {MIN_IMAGES} images or more; for one image write 'image:' instead of 'set:')"
        )
    order = sorted(range(len(cases)), key=lambda i: _margin(cases[i], numeric, thresholds))
    worst = [cases[i].inputs.get("image") or "?" for i in order[:WORST_SHOWN]]
    return Population(
        set=set_name,
        n=len(cases),
        confidence=confidence,
        method=stats.METHOD,
        seed=seed,
        metrics=metrics,
        fraction=fraction,
        min_fraction=min_fraction,
        worst=[str(w) for w in worst],
        passed=passed,
        reasons=reasons,
    )


def mean_effect(effects: Sequence[NDArray[np.float64]]) -> NDArray[np.float64]:
    """Every channel's mean per-image effect; non-finite per-image numbers left out."""
    stacked = np.stack([np.asarray(e, dtype=np.float64) for e in effects])
    finite = np.isfinite(stacked)
    total = np.where(finite, stacked, 0.0).sum(axis=0)
    count = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def ranks(means: NDArray[np.float64]) -> NDArray[np.intp]:
    """Each channel's rank by mean effect: 1 = largest; NaN ranks last; ties share the best."""
    key = np.nan_to_num(means, nan=-np.inf)
    return 1 + (key[None, :] > key[:, None]).sum(axis=1)


def null_result(
    kind: str,
    channels: Sequence[int],
    labels: Sequence[int],
    require: str,
    effects: Sequence[NDArray[np.float64]],
    random_effects: Sequence[NDArray[np.float64]] | None,
    *,
    rank_at_most: int | None,
    random_effect_at_most: float | None,
    random_model: str = "",
    random_note: str = "",
) -> NullResult:
    """The null of a population check: the claimed channels' mean effect, its rank in the
    layer, and the same effect on random weights, held to the optional thresholds."""
    means = mean_effect(effects)
    rank = ranks(means)
    names = [str(label) for label in labels]
    from probecheck.checks.registry import kind as registered_kind  # its kinds import us

    result = NullResult(
        effect=registered_kind(kind).effect,
        channels=int(means.size),
        effect_mean={n: float(means[c]) for n, c in zip(names, channels, strict=True)},
        rank={n: int(rank[c]) for n, c in zip(names, channels, strict=True)},
        random_model=random_model,
        random_note=random_note,
        rank_at_most=rank_at_most,
        random_effect_at_most=random_effect_at_most,
    )
    judged = _judged_labels(result.effect_mean, require)
    holds = True
    if rank_at_most is not None:
        holds &= all(result.rank[n] <= rank_at_most for n in judged)
    if random_effects:
        random_means = mean_effect(random_effects)
        measured = {n: float(random_means[c]) for n, c in zip(names, channels, strict=True)}
        silent = [n for n, v in measured.items() if math.isnan(v)]
        if silent:  # silent on every image: random weights show no effect at all, said so
            said = f"channel {', '.join(silent)} silent on every image on random weights: effect 0"
            result.random_note = f"{result.random_note}; {said}" if result.random_note else said
        result.random_effect = {n: 0.0 if math.isnan(v) else v for n, v in measured.items()}
        if random_effect_at_most is not None:
            holds &= all(result.random_effect[n] <= random_effect_at_most for n in judged)
    elif random_effect_at_most is not None:
        holds = False  # a threshold that could not be measured does not hold
    result.holds = bool(holds)
    return result


def _judged_labels(effect_mean: dict[str, float], require: str) -> list[str]:
    """The claimed channels the null is held on: all of them, or with ``require: any`` the one
    whose effect is largest, the channel that carries the claim (a second channel, silent
    everywhere, has effect 0 on random weights and would pass the null for any first one)."""
    if require != "any" or not effect_mean:
        return list(effect_mean)
    return [
        max(effect_mean, key=lambda n: -math.inf if math.isnan(effect_mean[n]) else effect_mean[n])
    ]


def with_null(population: Population, null: NullResult) -> Population:
    """``population`` with its null attached, its verdict and reasons updated."""
    population.null = null
    if not null.holds:
        population.passed = False
        if null.rank_at_most is not None and any(r > null.rank_at_most for r in null.rank.values()):
            ranks_text = ", ".join(f"{label}: {r}" for label, r in null.rank.items())
            population.reasons.append(
                f"null: the effect ranks {ranks_text} of {null.channels}, "
                f"not within rank_at_most {null.rank_at_most}"
            )
        if null.random_effect_at_most is not None:
            if null.random_effect is None:
                population.reasons.append(
                    f"null: random_effect_at_most given but no random weights: {null.random_note}"
                )
            elif any(v > null.random_effect_at_most for v in null.random_effect.values()):
                values = ", ".join(
                    f"{fmt(v)} (channel {label})"
                    for label, v in null.random_effect.items()
                    if v > null.random_effect_at_most
                )
                population.reasons.append(
                    f"null: on random weights the effect is {values}, above "
                    f"random_effect_at_most {fmt(null.random_effect_at_most)}"
                )
    return population
