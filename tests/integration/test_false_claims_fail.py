"""False claims fail, for every check kind.

Each kind gets a claim of docs/single_pair_face.yaml that holds on the real pretrained SqueezeNet
(the positive control: every test first shows it passes, so the test can fail), then the same
claim made false three ways: on seeded random weights; on another channel of its layer (the one
the claim's own number ranks last on the real weights, chosen by the measurement, not by hand);
and, where it names a region, over the control region where the feature is not (eyes and cheeks
swapped). A check that passed any of these would pass claims that are not true.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from probecheck.spec.kinds import CHECK_NAMES

DOCS = Path(__file__).resolve().parents[2] / "docs"
SPEC = DOCS / "single_pair_face.yaml"
#: the seeds of the random-weights networks: fixed, one network each
RANDOM_SEEDS = tuple(range(10))


@dataclass(frozen=True)
class KindClaim:
    """A shipped claim, cut down to the check of one kind, and the number that judges it."""

    kind: str
    claim_id: str
    #: the check's own number for a channel, and whether higher is better
    metric: str
    higher_is_better: bool = True

    def __str__(self) -> str:
        return f"{self.kind}-{self.claim_id}"


CLAIMS = (
    KindClaim("drop", "fire6-eyes", "drop"),
    KindClaim("selective", "fire6-eyes", "ratio"),
    KindClaim("strongest", "fire6-strongest", "rank", higher_is_better=False),
    KindClaim("strongest", "fire9-strongest", "rank", higher_is_better=False),
    KindClaim("occlusion", "fire6-occluded-eyes", "iou"),
    KindClaim("compare", "fire6-compare-eyes", "ratio"),
)
WITH_REGION = tuple(c for c in CLAIMS if c.kind != "strongest")
#: Kinds whose one-image claims some seeded random network passes: such a claim is judged
#: against its thresholds alone, with no random-weights null (only claims over a set get one).
#: Strict, so the day the check refuses them every seed, these marks must go.
FOOLED_BY_RANDOM_WEIGHTS = {"drop", "selective", "occlusion", "compare"}


def on_random_weights(case: KindClaim):
    """The case, strictly expected to fail where its kind is fooled by random weights."""
    if case.kind not in FOOLED_BY_RANDOM_WEIGHTS:
        return case
    reason = f"a one-image {case.kind} claim has no random-weights null; a random network passes it"
    xfail = pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)
    return pytest.param(case, marks=xfail)


def shipped() -> dict[str, Any]:
    """The docs spec as data, its image paths made absolute so a copy loads from anywhere."""
    data = yaml.safe_load(SPEC.read_text())
    data["images"] = {k: str((SPEC.parent / v).resolve()) for k, v in data["images"].items()}
    return data


def claim_of(case: KindClaim) -> dict[str, Any]:
    """The shipped claim with its ``case.kind`` check alone."""
    (claim,) = [c for c in shipped()["claims"] if c["id"] == case.claim_id]
    for other in set(CHECK_NAMES) & set(claim) - {case.kind}:
        del claim[other]
    assert case.kind in claim, f"{case.claim_id} has no {case.kind} check"
    return claim


def evaluate(tmp_path: Path, claim: dict[str, Any], probe):
    from probecheck.checks import SpecInputs, evaluate_claim
    from probecheck.spec import load_spec

    path = tmp_path / f"{claim['id']}.yaml"
    path.write_text(yaml.safe_dump({**shipped(), "claims": [claim]}, sort_keys=False))
    spec = load_spec(path)
    return evaluate_claim(spec.claims[0], spec, probe, SpecInputs(spec))


def claimed_channels(claim: dict[str, Any]) -> list[int]:
    """The claimed channels: ``channels``, or strongest's ``in``."""
    return claim.get("channels") or claim["strongest"]["in"]


def with_channels(claim: dict[str, Any], channels: list[int]) -> dict[str, Any]:
    """The claim about ``channels`` in place of its own."""
    changed = copy.deepcopy(claim)
    if "channels" in changed:
        changed["channels"] = channels
    else:
        changed["strongest"]["in"] = channels
    return changed


def numbers(result, metric: str) -> dict[int, float]:
    """Each claimed channel's ``metric``, averaged over the check's cases."""
    (check,) = result.checks
    per_case = [{ch.label: ch.values[metric] for ch in case.channels} for case in check.cases]
    return {label: float(np.mean([case[label] for case in per_case])) for label in per_case[0]}


def holding(tmp_path: Path, case: KindClaim, probe) -> dict[str, Any]:
    """The claim, after showing it holds on the real weights (the positive control)."""
    claim = claim_of(case)
    result = evaluate(tmp_path, claim, probe)
    assert result.passed, result.failure_message()
    return claim


def layer_width(tmp_path: Path, claim: dict[str, Any], probe) -> int:
    """How many channels the claim's layer has (its maps' first axis)."""
    return evaluate(tmp_path, claim, probe).checks[0].cases[0].evidence.maps.shape[0]


@pytest.mark.parametrize("case", CLAIMS, ids=str)
def test_the_claim_holds_on_the_real_weights(real_probe, tmp_path: Path, case: KindClaim) -> None:
    (check,) = evaluate(tmp_path, holding(tmp_path, case, real_probe), real_probe).checks
    assert check.kind == case.kind and check.passed


@pytest.mark.slow  # ten networks
@pytest.mark.parametrize("case", [on_random_weights(c) for c in CLAIMS], ids=str)
def test_the_claim_fails_on_random_weights(real_probe, tmp_path: Path, case: KindClaim) -> None:
    from probecheck.probe import shared_probe

    claim = holding(tmp_path, case, real_probe)
    held = {}
    for seed in RANDOM_SEEDS:
        result = evaluate(tmp_path, claim, shared_probe("squeezenet1_0", "random", seed=seed))
        if result.passed:
            held[seed] = result.measured()
    assert held == {}, f"{case} holds on random weights (seed: measured): {held}"


@pytest.mark.parametrize("case", CLAIMS, ids=str)
def test_the_claim_fails_on_the_layers_last_channel(
    real_probe, tmp_path: Path, case: KindClaim
) -> None:
    """The channel the claim's own number ranks last in the layer (ties: the lowest channel)."""
    claim = holding(tmp_path, case, real_probe)
    every_channel = with_channels(claim, list(range(layer_width(tmp_path, claim, real_probe))))
    every = numbers(evaluate(tmp_path, every_channel, real_probe), case.metric)
    own = claimed_channels(claim)
    others = {c: v for c, v in every.items() if c not in own}
    sign = 1 if case.higher_is_better else -1
    last = min(others, key=lambda c: (sign * others[c], c))
    result = evaluate(tmp_path, with_channels(claim, [last]), real_probe)
    assert not result.passed, f"{case} holds on channel {last}: {result.measured()}"


def swap_region(check: dict[str, Any]) -> dict[str, Any]:
    """A case over the control region: with a control, region and control (and their altered
    images) trade places; without one, the eyes become the cheeks."""
    swapped = dict(check)
    if "control" in check:
        swapped["region"], swapped["control"] = check["control"], check["region"]
        if "altered" in check or "control_altered" in check:
            swapped["altered"] = check.get("control_altered")
            swapped["control_altered"] = check.get("altered")
            swapped = {k: v for k, v in swapped.items() if v is not None}
    else:
        assert check["region"] == "eyes", check
        swapped["region"] = "cheeks"
    return swapped


@pytest.mark.parametrize("case", WITH_REGION, ids=str)
def test_the_claim_fails_over_the_control_region(
    real_probe, tmp_path: Path, case: KindClaim
) -> None:
    claim = holding(tmp_path, case, real_probe)
    check = claim[case.kind]
    if "cases" in check:
        check["cases"] = [swap_region(c) for c in check["cases"]]
    else:
        claim[case.kind] = swap_region(check)
    result = evaluate(tmp_path, claim, real_probe)
    assert not result.passed, f"{case} holds over the control region: {result.measured()}"


def test_every_kind_has_a_false_claim() -> None:
    assert {c.kind for c in CLAIMS} == set(CHECK_NAMES)


@pytest.mark.parametrize("case", CLAIMS, ids=str)
def test_an_effect_measured_for_every_channel_does_not_depend_on_the_claimed_one(
    real_probe, tmp_path: Path, case: KindClaim
) -> None:
    """Claims about other channels share the effects random weights give (the null over a set)
    where the kind says its effect is measured for every channel: it must then be the same
    whichever channel the claim names."""
    from probecheck.checks.registry import kind as registered_kind

    if not registered_kind(case.kind).effect_of_every_channel:
        pytest.skip(f"{case.kind} measures only the claimed channels: its nulls are not shared")
    claim = claim_of(case)
    own = claimed_channels(claim)
    other = [own[0] - 1 if own[0] else own[0] + 1]
    effects = [
        [c.evidence.effect for c in evaluate(tmp_path, changed, real_probe).checks[0].cases]
        for changed in (claim, with_channels(claim, other))
    ]
    for mine, theirs in zip(*effects, strict=True):
        np.testing.assert_array_equal(mine, theirs)
