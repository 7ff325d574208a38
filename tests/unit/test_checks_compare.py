"""The ``compare`` kind: its spec rules, its arithmetic, and its claim on the real network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probecheck.checks.compare import ratio
from probecheck.spec.models import Claim, RuleError

FACE = Path(__file__).resolve().parents[2] / "docs" / "single_pair_face.yaml"


def compare_claim(**fields: object) -> Claim:
    return Claim.model_validate(
        {"id": "c", "layer": "fire6-relu_squeeze1x1", "channels": [15], "compare": fields}
    )


def test_compare_reads_image_other_region_and_ratio() -> None:
    claim = compare_claim(image="face", other="face_no_eyes", region="eyes", ratio_at_least=2)
    assert claim.compare is not None
    case = claim.compare.cases[0]
    assert (case.image, case.other, case.region) == ("face", "face_no_eyes", "eyes")
    assert list(claim.checks) == ["compare"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"image": "face", "region": "eyes", "ratio_at_least": 2}, "'other'"),
        ({"set": "faces", "other": "x", "region": "eyes", "ratio_at_least": 2}, "names one image"),
        ({"image": "face", "other_set": "s", "region": "eyes", "ratio_at_least": 2}, "without"),
        ({"image": "face", "other": "x", "region": "eyes"}, "ratio_at_least"),
    ],
)
def test_compare_rules(fields: dict, message: str) -> None:
    with pytest.raises((RuleError, ValueError), match=message):
        compare_claim(**fields)


def test_ratio_by_arithmetic() -> None:
    mean_in = np.array([4.0, 3.0, 0.0, 2.0])
    other = np.array([2.0, 0.0, 1.0, 4.0])
    quiet = np.array([False, False, True, False])
    assert ratio(mean_in, other, quiet).tolist() == [2.0, np.inf, 0.0, 0.5]


def test_the_eye_channel_compares_face_and_face_without_eyes_both_ways(real_probe) -> None:
    from probecheck.checks import SpecInputs, evaluate_claim
    from probecheck.spec import load_spec

    spec = load_spec(FACE)
    probe = real_probe
    shipped = spec.claim("fire6-compare-eyes")
    found = evaluate_claim(shipped, spec, probe, SpecInputs(spec))
    assert found.passed, found
    measured = found.checks[0].cases[0].combined["ratio"]
    assert measured > 2 * shipped.compare.ratio_at_least  # an honest margin
    swapped = compare_claim(image="face_no_eyes", other="face", region="eyes", ratio_at_least=1.5)
    back = evaluate_claim(swapped, spec, probe, SpecInputs(spec)).checks[0]
    assert not back.passed and back.cases[0].combined["ratio"] < 1
    assert "ratio" in back.cases[0].channels[0].reason
