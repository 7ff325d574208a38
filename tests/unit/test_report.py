"""Report: the results JSON (round trip, strict JSON) and the session's summary table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from probecheck import __version__
from probecheck.report import read_results, render_summary, write_results
from probecheck.report.results_json import document_text
from probecheck.results import CaseResult, ChannelResult, CheckResult, ClaimResult


def _result(claim_id: str, drop: float, passed: bool, *, spec: str = "/s/face.yaml") -> ClaimResult:
    case = CaseResult(
        inputs={"image": "face", "altered": "face_no_eyes", "region": "eyes"},
        channels=[ChannelResult(4, 5, passed, {"drop": drop, "mean_in": math.inf})],
        combined={"drop": drop},
        passed=passed,
    )
    check = CheckResult("drop", "all", {"at_least": 0.5, "control_at_most": None}, [case], passed)
    return ClaimResult(
        spec, claim_id, "fire6-relu_squeeze1x1", "features.8.squeeze_activation", [5], "all",
        [check], passed, forward_passes=2,
    )  # fmt: skip


@pytest.fixture
def results() -> list[ClaimResult]:
    failing_nan = _result("fire6-silent", math.nan, False)
    failing_nan.checks[0].cases[0].channels[0].values["control_drop"] = -math.inf
    return [_result("fire6-eyes", 0.9, True), _result("fire6-weak", 0.1, False), failing_nan]


# JSON ------------------------------------------------------------------------------------------


def test_results_round_trip_with_nan_and_inf(results: list[ClaimResult], tmp_path: Path) -> None:
    path = write_results(results, tmp_path / "out" / "results.json", forward_passes=6)
    back = read_results(path)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in results]
    values = back[2].checks[0].cases[0].channels[0].values
    assert math.isnan(values["drop"]) and values["mean_in"] == math.inf
    assert values["control_drop"] == -math.inf


def test_results_document_is_strict_json(results: list[ClaimResult], tmp_path: Path) -> None:
    model = {"arch": "squeezenet1_0", "weights": "deep-compression"}
    path = write_results(results, tmp_path / "r.json", model=model, forward_passes=6)
    document = json.loads(
        path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")
    )
    assert document["probecheck"] == __version__
    assert document["forward_passes"] == 6 and document["model"] == model
    assert (document["passed"], document["failed"]) == (1, 2)
    assert len(document["claims"]) == 3 and "created" in document
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind


def test_results_text_holds_one_claim_a_line(results: list[ClaimResult], tmp_path: Path) -> None:
    # a claim that changed is one changed line in a diff; the text is the document exactly
    path = write_results(results, tmp_path / "r.json", forward_passes=6)
    text = path.read_text()
    document = json.loads(text)
    lines = text.splitlines()
    for claim in document["claims"]:
        line = next(line for line in lines if f'"claim_id": "{claim["claim_id"]}"' in line)
        assert json.loads(line.strip().rstrip(",")) == claim
    assert document_text(document) == text
    assert json.loads(document_text({**document, "claims": []}))["claims"] == []


def test_read_results_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a probecheck results file"):
        read_results(path)


# summary ---------------------------------------------------------------------------------------


def test_plain_summary_has_no_escapes_and_names_everything(results: list[ClaimResult]) -> None:
    text = render_summary(results, forward_passes=6, report_dir="probe-report", color=False)
    assert "\x1b" not in text
    for result in results:
        assert f"face::{result.claim_id}" in text
    assert results[1].measured().split(": ", 1)[1] in text  # "drop 0.1 ≥ 0.5"
    assert "PASS" in text and "FAIL" in text
    last = text.strip().splitlines()[-1]
    assert last == "3 claims: 1 passed, 2 failed · 6 forward passes · report: probe-report"


def test_coloured_summary_uses_ansi(results: list[ClaimResult]) -> None:
    text = render_summary(results, forward_passes=6, report_dir=None, color=True)
    assert "\x1b[" in text and "6 forward passes" in text


def test_quiet_summary_is_one_line(results: list[ClaimResult]) -> None:
    text = render_summary(results, forward_passes=6, report_dir=None, color=False, quiet=True)
    assert text.strip() == "3 claims: 1 passed, 2 failed · 6 forward passes"
    assert len(text.strip().splitlines()) == 1


def test_errors_are_counted_and_markup_is_not_interpreted() -> None:
    broken = _result("[bold]odd[/bold]", 0.0, False)
    broken.error = "layer fire9-nope not found"
    text = render_summary([broken], forward_passes=0, report_dir=None, color=False, width=200)
    assert "face::[bold]odd[/bold]" in text and "ERROR" in text
    assert "error: layer fire9-nope not found" in text
    assert (
        text.strip().splitlines()[-1] == "1 claim: 0 passed, 0 failed, 1 error · 0 forward passes"
    )


def test_occlusion_sweeps_are_counted_apart_from_the_forward_passes() -> None:
    """The forward passes are the specs' distinct inputs; a sweep's patched copies are not."""
    results = [_result("a", 0.9, True)]
    text = render_summary(results, forward_passes=8, report_dir=None, color=False, quiet=True)
    assert text.strip().endswith("8 forward passes") and "patched" not in text
    text = render_summary(
        results, forward_passes=8, occluded_passes=147, report_dir=None, color=False, quiet=True
    )
    assert "8 forward passes (+ 147 patched inputs of occlusion sweeps)" in text


def test_thresholds_are_marked_held_or_broken_as_true_statements() -> None:
    """``drop 0.665 ≥ 0.7`` is false; the summary says ``drop 0.665 < 0.7 ✗`` (ASCII under CI)."""
    channel = ChannelResult(15, 15, False, {"drop": 0.665, "control_drop": 0.662})
    combined = {"drop": 0.665, "control_drop": 0.662}
    case = CaseResult({"image": "face", "region": "eyes"}, [channel], combined, False)
    check = CheckResult("drop", "all", {"at_least": 0.7, "control_at_most": 0.25}, [case], False)
    assert check.headline() == "drop 0.665 < 0.7 ✗, control 0.662 > 0.25 ✗"
    assert check.headline(ascii=True) == "drop 0.665 < 0.7 [x], control 0.662 > 0.25 [x]"
    case.combined = {"drop": 0.8, "control_drop": 0.662}
    assert check.headline() == "drop 0.8 ≥ 0.7 ✓, control 0.662 > 0.25 ✗"
    result = ClaimResult("face.yaml", "eye", "fire6", "f", [15], "all", [check], False)
    text = render_summary([result], forward_passes=1, report_dir=None, color=False, ascii=True)
    assert "drop 0.8 >= 0.7 [ok], control 0.662 > 0.25 [x]" in text
    assert text.isascii()
