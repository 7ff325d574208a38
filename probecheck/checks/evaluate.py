"""Check a claim of a spec on a probed network: gather inputs, one batched forward, the metrics.

Every check is computed for every channel of the layer at once (the metrics are vectorised), so
when a claimed channel fails, the channels that would pass now come for free, with no extra
forward pass. The numbers themselves come from :mod:`probecheck.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from probecheck.checks.inputs import CaseInputs, InputKey
from probecheck.checks.kind import CheckKind, Measured
from probecheck.checks.registry import kind as registered_kind
from probecheck.checks.spec_inputs import SpecInputs
from probecheck.errors import ProbecheckError
from probecheck.plan import claim_needs, prefetch
from probecheck.population import null_result, summarise, with_null
from probecheck.probe import Probe, require_channels, shared_probe
from probecheck.results import CaseResult, CheckResult, ClaimResult
from probecheck.spec import Claim, Spec

MAX_ALTERNATIVES = 10
NULL_SEED = 0
"""Seed of the random weights a population check's null is measured on."""

Floats = NDArray[np.float64]
T = TypeVar("T")


class _Batch:
    """Collects every input of a claim, then runs them through the network in one call; the
    context (:class:`probecheck.checks.kind.Context`) every kind's ``measure`` reads."""

    def __init__(self, claim: Claim, inputs: SpecInputs) -> None:
        self.claim = claim
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
        self.scope = (probe.identity, probe.device_name, probe.resolve(layer))
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
    return _evaluate(claim, spec, probe, inputs, null=null, population=True)


def _evaluate(
    claim: Claim,
    spec: Spec,
    probe: Probe,
    inputs: SpecInputs | None,
    *,
    null: bool,
    population: bool,
) -> ClaimResult:
    """:func:`evaluate_claim`; without ``population``, a check over a set is measured image by
    image but not summarised (the null on random weights reads only each image's effect)."""
    inputs = inputs or SpecInputs(spec)
    layer_path = probe.resolve(claim.layer)
    before, occluded_before = probe.forward_passes, probe.occluded_passes
    batch = _Batch(claim, inputs)
    kinds = [(registered_kind(name), check) for name, check in claim.checks.items()]
    plans = [(kind, check, _plan(kind, check, batch)) for kind, check in kinds]
    batch.run(probe, claim.layer)
    channel_count = next(iter(batch.maps.values())).shape[0]
    _check_channel_range(claim, spec, channel_count)
    checks = [_measure(kind, check, plan, batch, population) for kind, check, plan in plans]
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
        device=probe.device_name,
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
        random_effects = _random_effects(claim, spec, twin, inputs)
        passes = twin.forward_passes - before
        model = f"{twin.identity.arch}, random weights (seed {NULL_SEED})"
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


def _random_effects(
    claim: Claim, spec: Spec, twin: Probe, inputs: SpecInputs
) -> dict[str, list[Floats]]:
    """Each set check's per-image effect on random weights, every channel of the layer.

    Measured once for the claims of a spec that differ only in the channels they name (the
    claim's checks, their settings and images alike): each kind's effect is measured for every
    channel, so the numbers are the same (a kind that measures only the claimed channels keys
    them by the channels too). A claim that cannot be measured on random weights raises, and is
    not remembered: its message names the claim.
    """

    def measure() -> dict[str, list[Floats]]:
        measured = _evaluate(claim, spec, twin, inputs, null=False, population=False)
        return {
            result.kind: [c.evidence.effect for c in result.cases if c.evidence is not None]
            for result in measured.checks
            if claim.checks[result.kind].set_name is not None
        }

    every_channel = all(registered_kind(name).effect_of_every_channel for name in claim.checks)
    key = (
        "random effects",
        twin.identity,
        twin.device_name,
        twin.resolve(claim.layer),
        tuple((name, _written(check)) for name, check in claim.checks.items()),
        None if every_channel else tuple(claim.channels or ()),
    )
    return inputs.measured(key, measure)


def _written(check: Any) -> str:
    """A check as written: its settings and cases, or over a set its set case (which makes its
    cases, in this spec) instead of a case per image."""
    over = check.set_case
    if over is None:
        return check.model_dump_json()
    return check.model_dump_json(exclude={"cases"}) + over.model_dump_json()


def _check_channel_range(claim: Claim, spec: Spec, count: int) -> None:
    wanted = list(claim.channels or [])
    for check in claim.checks.values():
        wanted += [c for numbers in check.channel_lists().values() for c in numbers]
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


def _plan(kind: CheckKind, check: Any, batch: _Batch) -> list[CaseInputs]:
    plans = []
    for case in check.cases:
        if kind.prepare is not None:
            kind.prepare(batch.inputs, case)
        plans.append(batch.want(kind.inputs(case)))
    return plans


# measuring ---------------------------------------------------------------------------------------


def _measure(
    kind: CheckKind, check: Any, plans: list[CaseInputs], batch: _Batch, population_too: bool
) -> CheckResult:
    """Every case of ``check`` measured by its kind; over a set (unless not
    ``population_too``), the population's verdict."""
    claim = batch.claim
    cases: list[CaseResult] = []
    ok_everywhere: NDArray[np.bool_] | None = None
    order_score: Floats | None = None
    for case, plan in zip(check.cases, plans, strict=True):
        measured: Measured = kind.measure(batch, check, case, plan)
        if kind.settings is not None:
            measured.result.inputs = {**measured.result.inputs, **kind.settings(check)}
        cases.append(measured.result)
        ok = measured.ok
        ok_everywhere = ok if ok_everywhere is None else ok_everywhere & ok
        score = measured.order
        order_score = score if order_score is None else np.fmin(order_score, score)
    thresholds = kind.thresholds(check)
    population = None
    if check.set_name is not None and population_too:
        population = summarise(
            kind.name,
            check.set_name,
            cases,
            thresholds,
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
    thresholds = kind.thresholds(check)
    if population is not None:
        thresholds |= {
            name: getattr(check, name)
            for name in ("min_fraction", "rank_at_most", "random_effect_at_most")
            if getattr(check, name) is not None
        }
        thresholds["confidence"] = check.level
    return CheckResult(
        kind.name, claim.require, thresholds, cases, passed, alternatives, population
    )
