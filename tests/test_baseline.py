"""Baselines on hand-made results: what counts as a regression is arithmetic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from probecheck.errors import ProbecheckError
from probecheck.report.baseline import (
    baseline_key,
    load_baseline,
    regressions,
    update_baseline,
)
from probecheck.results import CaseResult, CheckResult, ClaimResult


def result(
    spec: Path, drop: float, control: float, *, claim_id: str = "eye", passed: bool = True
) -> ClaimResult:
    case = CaseResult({"image": "face"}, [], {"drop": drop, "control_drop": control}, passed)
    check = CheckResult("drop", "all", {"at_least": 0.5, "control_at_most": 0.3}, [case], passed)
    return ClaimResult(str(spec), claim_id, "fire6", "features.8", [15], "all", [check], passed)


def test_key_is_relative_to_the_baseline_file(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "face.yaml"
    assert baseline_key(result(spec, 0.9, 0.1), tmp_path / "base.json") == "specs/face.yaml::eye"


def test_missing_file_is_an_empty_baseline(tmp_path: Path) -> None:
    assert load_baseline(tmp_path / "none.json")["claims"] == {}


@pytest.mark.parametrize("text", ["{not json", '{"claims": []}', "[]"])
def test_unreadable_baseline_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "base.json"
    path.write_text(text)
    with pytest.raises(ProbecheckError, match=r"base\.json"):
        load_baseline(path)


def test_regressions_respect_direction_and_tolerance(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, 0.9, 0.1)])
    document = load_baseline(path)
    # drop may fall by max(0.02, 10% of 0.9) = 0.09; control may rise by max(0.02, 0.01) = 0.02
    assert regressions(result(spec, 0.82, 0.1), document, path, 0.1) == []
    assert regressions(result(spec, 0.95, 0.05), document, path, 0.1) == []  # better is fine
    (line,) = regressions(result(spec, 0.80, 0.1), document, path, 0.1)
    assert "drop 0.8, was 0.9" in line
    (line,) = regressions(result(spec, 0.9, 0.13), document, path, 0.1)
    assert "control_drop 0.13, was 0.1" in line
    assert regressions(result(spec, math.nan, 0.1), document, path, 0.1)  # nan is never "fine"


def test_update_merges_and_skips_failing_claims(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(
        path, [result(spec, 0.9, 0.1, claim_id="a"), result(spec, 0.8, 0.1, claim_id="b")]
    )
    update_baseline(
        path,
        [result(spec, 0.7, 0.2, claim_id="a"), result(spec, 0.1, 0.9, claim_id="c", passed=False)],
    )
    claims = json.loads(path.read_text())["claims"]
    assert sorted(claims) == ["face.yaml::a", "face.yaml::b"]
    assert claims["face.yaml::a"]["checks"][0]["cases"][0]["drop"] == 0.7
    assert claims["face.yaml::b"]["checks"][0]["cases"][0]["drop"] == 0.8


def test_unrecorded_claim_has_no_regressions(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    assert regressions(result(spec, 0.1, 0.9), load_baseline(path), path, 0.1) == []
