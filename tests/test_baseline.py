"""Baselines on hand-made results: what counts as a regression is arithmetic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from probecheck.errors import ProbecheckError
from probecheck.report.baseline import (
    Tolerance,
    baseline_key,
    compare,
    load_baseline,
    parse_tolerance,
    update_baseline,
)
from probecheck.results import CaseResult, ChannelResult, CheckResult, ClaimResult

TOL = Tolerance(0.05)


def result(
    spec: Path,
    drops: dict[int, float],
    control: float = 0.1,
    *,
    claim_id: str = "eye",
    passed: bool = True,
    require: str = "all",
    image: str = "face",
) -> ClaimResult:
    """A drop claim on channels ``drops`` (label → drop), one case."""
    channels = [
        ChannelResult(c, c, passed, {"drop": d, "mean_in": 3.0 + d, "control_drop": control})
        for c, d in drops.items()
    ]
    combined = {"drop": min(drops.values()), "control_drop": control}
    case = CaseResult({"image": image, "region": "eyes"}, channels, combined, passed)
    thresholds = {"at_least": 0.5, "control_at_most": 0.3}
    check = CheckResult("drop", require, thresholds, [case], passed)
    return ClaimResult(
        str(spec), claim_id, "fire6", "features.8", list(drops), require, [check], passed
    )


def test_key_is_relative_to_the_baseline_file(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "face.yaml"
    key = baseline_key(result(spec, {15: 0.9}), tmp_path / "base.json")
    assert key == "specs/face.yaml::eye"


def test_missing_file_is_an_empty_baseline(tmp_path: Path) -> None:
    assert load_baseline(tmp_path / "none.json")["claims"] == {}


@pytest.mark.parametrize(
    "text", ["{not json", '{"claims": []}', "[]", '{"probecheck_baseline": 1, "claims": {}}']
)
def test_unreadable_or_old_baseline_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "base.json"
    path.write_text(text)
    with pytest.raises(ProbecheckError, match=r"base\.json"):
        load_baseline(path)


def test_every_channel_is_compared_with_an_absolute_tolerance(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {14: 0.9, 15: 0.8})])
    document = load_baseline(path)
    assert compare(result(spec, {14: 0.86, 15: 0.76}), document, path, TOL).regressions == []
    assert compare(result(spec, {14: 0.99, 15: 0.9}, 0.0), document, path, TOL).regressions == []
    # channel 14 alone falls by 0.1: named with its claim, check, case and metric
    (line,) = compare(result(spec, {14: 0.8, 15: 0.8}), document, path, TOL).regressions
    assert line == (
        "eye: drop, case face, region eyes, channel 14: "
        "drop regressed from 0.9 to 0.8 (tolerance 0.05)"
    )
    # a lower-is-better number rising counts too, once per channel that reports it
    found = compare(result(spec, {14: 0.9, 15: 0.8}, 0.2), document, path, TOL).regressions
    assert [line.split(": ", 1)[1] for line in found] == [
        "drop, case face, region eyes, channel 14: "
        "control_drop regressed from 0.1 to 0.2 (tolerance 0.05)",
        "drop, case face, region eyes, channel 15: "
        "control_drop regressed from 0.1 to 0.2 (tolerance 0.05)",
    ]
    assert compare(result(spec, {14: math.nan, 15: 0.8}), document, path, TOL).regressions
    wide = Tolerance(0.05, {"drop": 0.2, "control_drop": 0.2})
    assert compare(result(spec, {14: 0.75, 15: 0.8}, 0.25), document, path, wide).regressions == []


def test_raw_activations_are_recorded_but_not_compared(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: 0.9})])
    document = load_baseline(path)
    recorded = document["claims"]["face.yaml::eye"]["checks"]["drop"]["cases"][0]
    assert recorded["channels"]["15"]["mean_in"] == pytest.approx(3.9)
    changed = result(spec, {15: 0.9})
    changed.checks[0].cases[0].channels[0].values["mean_in"] = 100.0
    assert compare(changed, document, path, TOL).regressions == []


def test_mean_and_any_compare_the_combined_value(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {14: 0.9, 15: 0.8}, require="any")])
    document = load_baseline(path)
    # under any, one channel falling is not against the claim; the combined value is
    now = result(spec, {14: 0.9, 15: 0.2}, require="any")
    now.checks[0].cases[0].combined["drop"] = 0.9
    assert compare(now, document, path, TOL).regressions == []
    now.checks[0].cases[0].combined["drop"] = 0.7
    (line,) = compare(now, document, path, TOL).regressions
    assert "channels 14, 15 (any): drop regressed from 0.8 to 0.7" in line


def test_unrecorded_claims_and_cases_pass_with_a_note(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: 0.9})])
    document = load_baseline(path)
    found = compare(result(spec, {15: 0.1}, claim_id="new"), document, path, TOL)
    assert found.regressions == []
    assert found.notes == [
        "no baseline entry for face.yaml::new: not compared "
        "(record it with --probe-baseline-update)"
    ]
    found = compare(result(spec, {15: 0.1}, image="cat"), document, path, TOL)
    assert found.regressions == []
    assert found.notes == ["eye: drop, case cat, region eyes: no baseline entry, not compared"]


def test_update_merges_sorts_and_skips_failing_claims(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    _, count, total = update_baseline(
        path, [result(spec, {15: 0.9}, claim_id="b"), result(spec, {15: 0.8}, claim_id="a")]
    )
    assert (count, total) == (2, 2)
    _, count, total = update_baseline(
        path,
        [
            result(spec, {15: 0.7}, claim_id="b"),
            result(spec, {15: 0.1}, claim_id="c", passed=False),
        ],
    )
    assert (count, total) == (1, 2)
    text = path.read_text()
    claims = json.loads(text)["claims"]
    assert list(claims) == ["face.yaml::a", "face.yaml::b"]  # sorted; c failed, not recorded
    drop = claims["face.yaml::b"]["checks"]["drop"]["cases"][0]["channels"]["15"]["drop"]
    assert drop == 0.7
    assert claims["face.yaml::a"]["checks"]["drop"]["cases"][0]["combined"]["drop"] == 0.8
    assert text.startswith('{\n  "claims": {\n')  # indented, one number a line: small diffs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.05", Tolerance(0.05)),
        ("0.1,ratio=0.3", Tolerance(0.1, {"ratio": 0.3})),
        ("ratio=0.3", Tolerance(0.05, {"ratio": 0.3})),
    ],
)
def test_tolerance_is_a_default_and_per_metric_overrides(text: str, expected: Tolerance) -> None:
    assert parse_tolerance(text) == expected


@pytest.mark.parametrize("text", ["-1", "lots", "speed=0.1", "nan"])
def test_bad_tolerance_is_a_clear_error(text: str) -> None:
    with pytest.raises(ProbecheckError, match="--probe-baseline-tolerance"):
        parse_tolerance(text)


def test_an_infinite_baseline_still_regresses_and_a_corrupt_one_is_named(tmp_path: Path) -> None:
    """A ratio recorded as inf (a channel firing only inside) that falls to a finite number has
    regressed; a number hand-edited into a string is a clear error, not a crash."""
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: math.inf})])
    document = load_baseline(path)
    assert compare(result(spec, {15: math.inf}), document, path, TOL).regressions == []
    (line,) = compare(result(spec, {15: 2.1}), document, path, TOL).regressions
    assert "drop regressed from inf to 2.1" in line
    text = path.read_text()
    path.write_text(text.replace('"drop": "inf"', '"drop": "lots"', 1))
    with pytest.raises(ProbecheckError, match="records drop as 'lots', not a number"):
        compare(result(spec, {15: 2.1}), load_baseline(path), path, TOL)
