"""Baselines on hand-made results: what counts as a regression is arithmetic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from probecheck.errors import ProbecheckError
from probecheck.metric_table import METRICS, compared_metrics
from probecheck.report.baseline import (
    Bound,
    Tolerance,
    baseline_key,
    compare,
    load_baseline,
    parse_tolerance,
    update_baseline,
)
from probecheck.results import CaseResult, ChannelResult, CheckResult, ClaimResult

TOL = Tolerance()  # the table's defaults: drop and control_drop abs 0.05


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


def test_missing_file_is_an_error_unless_recording(tmp_path: Path) -> None:
    with pytest.raises(ProbecheckError, match=r"none\.json: no such file") as error:
        load_baseline(tmp_path / "none.json")
    assert "--probe-baseline-update" in str(error.value)
    assert load_baseline(tmp_path / "none.json", missing_ok=True)["claims"] == {}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"claims": []}',
        "[]",
        '{"probecheck_baseline": 1, "claims": {}}',
        '{"probecheck_baseline": 3, "claims": {"a::x": {"checks": {"drop": {"cases": [{}]}}}}}',
    ],
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
        "drop regressed from 0.9 to 0.8 (-0.1, tolerance abs 0.05)"
    )
    # a lower-is-better number rising counts too, once per channel that reports it
    found = compare(result(spec, {14: 0.9, 15: 0.8}, 0.2), document, path, TOL).regressions
    assert [line.split(": ", 1)[1] for line in found] == [
        "drop, case face, region eyes, channel 14: "
        "control_drop regressed from 0.1 to 0.2 (+0.1, tolerance abs 0.05)",
        "drop, case face, region eyes, channel 15: "
        "control_drop regressed from 0.1 to 0.2 (+0.1, tolerance abs 0.05)",
    ]
    assert compare(result(spec, {14: math.nan, 15: 0.8}), document, path, TOL).regressions
    wide = Tolerance({"drop": Bound("abs", 0.2), "control_drop": Bound("abs", 0.2)})
    assert compare(result(spec, {14: 0.75, 15: 0.8}, 0.25), document, path, wide).regressions == []


def test_raw_activations_are_recorded_but_not_compared(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: 0.9})])
    document = load_baseline(path)
    recorded = document["claims"]["face.yaml::eye"]["checks"]["drop"]["cases"][0]
    assert recorded["inputs"] == {"image": "face", "region": "eyes"}  # data, not prose
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


def test_gaps_both_ways_are_reported_not_compared(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: 0.9})])
    document = load_baseline(path)
    found = compare(result(spec, {15: 0.1}, claim_id="new"), document, path, TOL)
    assert found.regressions == [] and found.stale == []
    assert found.unrecorded == [
        "no baseline entry for face.yaml::new: not compared "
        "(record it with --probe-baseline-update)"
    ]
    # a case whose inputs changed: the run's case is unrecorded, the recorded one is stale
    found = compare(result(spec, {15: 0.1}, image="cat"), document, path, TOL)
    assert found.regressions == []
    assert found.unrecorded == ["eye: drop, case cat, region eyes: no baseline entry, not compared"]
    assert found.stale == [
        "eye: the baseline's drop case (image face, region eyes) matches no case of this run"
    ]
    # a channel claimed now that was not then, and one claimed then that is not now
    found = compare(result(spec, {14: 0.9}), document, path, TOL)
    assert found.unrecorded == ["eye: drop, case face, region eyes, channel 14: no baseline entry"]
    assert found.stale == [
        "eye: drop, case face, region eyes: the baseline's channel index 15 matches no claimed "
        "channel"
    ]


def test_a_reworded_description_still_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries are matched by the case's inputs as data: a new wording of describe() (the text
    people read) changes no match."""
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: 0.9})])
    monkeypatch.setattr(CaseResult, "describe", lambda self: f"reworded {sorted(self.inputs)}")
    document = load_baseline(path)
    found = compare(result(spec, {15: 0.5}), document, path, TOL)
    assert found.unrecorded == [] and found.stale == []
    (line,) = found.regressions
    assert "reworded ['image', 'region'], channel 15: drop regressed from 0.9 to 0.5" in line
    # the order the inputs were written in does not matter either
    swapped = result(spec, {15: 0.9})
    swapped.checks[0].cases[0].inputs = {"region": "eyes", "image": "face"}
    assert compare(swapped, document, path, TOL) == compare(
        result(spec, {15: 0.9}), document, path, TOL
    )


def test_entries_of_removed_claims_are_dropped_when_recording(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: 0.9}, claim_id=c) for c in ("a", "b")])
    other = tmp_path / "other.yaml"
    update_baseline(path, [result(other, {15: 0.9}, claim_id="a")])
    _, recorded, total, dropped = update_baseline(
        path, [result(spec, {15: 0.9}, claim_id="a")], {str(spec): {"a"}}
    )
    assert (recorded, total, dropped) == (1, 2, 1)  # face.yaml::b gone; other.yaml untouched
    assert sorted(load_baseline(path)["claims"]) == ["face.yaml::a", "other.yaml::a"]


def test_update_merges_sorts_and_skips_failing_claims(tmp_path: Path) -> None:
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    _, count, total, _ = update_baseline(
        path, [result(spec, {15: 0.9}, claim_id="b"), result(spec, {15: 0.8}, claim_id="a")]
    )
    assert (count, total) == (2, 2)
    _, count, total, _ = update_baseline(
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
        ("", Tolerance()),
        ("ratio=rel:0.3", Tolerance({"ratio": Bound("rel", 0.3)})),
        (
            "drop=abs:0.1, ratio=abs:5",
            Tolerance({"drop": Bound("abs", 0.1), "ratio": Bound("abs", 5.0)}),
        ),
    ],
)
def test_tolerance_is_set_per_metric_with_its_kind(text: str, expected: Tolerance) -> None:
    assert parse_tolerance(text) == expected


@pytest.mark.parametrize(
    "text", ["-1", "0.05", "lots", "speed=abs:0.1", "drop=0.1", "drop=pct:1", "ratio=rel:nan"]
)
def test_bad_tolerance_is_a_clear_error(text: str) -> None:
    """A bare number is refused: its kind (absolute or relative) must be said."""
    with pytest.raises(ProbecheckError, match="--probe-baseline-tolerance") as error:
        parse_tolerance(text)
    assert "ratio=rel:0.1,drop=abs:0.05" in str(error.value)


def test_bounded_metrics_are_absolute_and_unbounded_ones_relative() -> None:
    """The defaults come from the one metric table: fractions absolute, ratios relative."""
    tolerance = Tolerance()
    for name in ("drop", "control_drop", "iou"):
        assert METRICS[name].bounded and tolerance.of(name).kind == "abs"
    assert not METRICS["ratio"].bounded and tolerance.of("ratio") == Bound("rel", 0.2)
    # a drop beyond 1 (pre-ReLU, the altered mean negative) scales: held relative there
    assert tolerance.of("drop", 0.96) == Bound("abs", 0.05)
    assert tolerance.of("drop", 1.95) == Bound("rel", 0.2)
    assert set(compared_metrics()) >= {"drop", "control_drop", "ratio", "iou", "peak_in", "rank"}


def test_a_ratio_is_held_relative_to_its_size(tmp_path: Path) -> None:
    """171.2 → 162 is noise; 2.0 → 1.5 is not: the same tolerance judges both by scale."""
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"

    def ratio_claim(value: float, claim_id: str) -> ClaimResult:
        channel = ChannelResult(0, 0, True, {"ratio": value, "mean_in": 1.0})
        case = CaseResult({"image": "edge", "region": "edge"}, [channel], {"ratio": value}, True)
        threshold = 20.0 if claim_id == "edge" else 1.5  # as the shipped claims hold them
        check = CheckResult("selective", "all", {"ratio_at_least": threshold}, [case], True)
        return ClaimResult(str(spec), claim_id, "conv1", "features.0", [0], "all", [check], True)

    update_baseline(path, [ratio_claim(171.2, "edge"), ratio_claim(2.0, "eye")])
    document = load_baseline(path)
    assert compare(ratio_claim(170.8, "edge"), document, path, TOL).regressions == []
    assert compare(ratio_claim(162.0, "edge"), document, path, TOL).regressions == []
    (line,) = compare(ratio_claim(1.5, "eye"), document, path, TOL).regressions
    assert line.endswith("ratio regressed from 2 to 1.5 (-25 %, tolerance rel 20 %)")
    absolute = Tolerance({"ratio": Bound("abs", 0.25)})  # as users may still ask
    (line,) = compare(ratio_claim(170.8, "edge"), document, path, absolute).regressions
    assert line.endswith("ratio regressed from 171.2 to 170.8 (-0.4, tolerance abs 0.25)")


def test_an_infinite_baseline_still_regresses_and_a_corrupt_one_is_named(tmp_path: Path) -> None:
    """A ratio recorded as inf (a channel firing only inside) that falls to a finite number has
    regressed; a number hand-edited into a string is a clear error, not a crash."""
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: math.inf})])
    document = load_baseline(path)
    assert compare(result(spec, {15: math.inf}), document, path, TOL).regressions == []
    (line,) = compare(result(spec, {15: 2.1}), document, path, TOL).regressions
    assert "drop regressed from inf to 2.1 (from an infinite number" in line
    text = path.read_text()
    path.write_text(text.replace('"drop": "inf"', '"drop": "lots"', 1))
    with pytest.raises(ProbecheckError, match="records drop as 'lots', not a number"):
        compare(result(spec, {15: 2.1}), load_baseline(path), path, TOL)


def test_a_baseline_of_the_old_format_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Format 2 named cases by their display text; it cannot be matched by inputs, so it is
    refused (not migrated) with how to record it again."""
    path = tmp_path / "base.json"
    old = {"a.yaml::x": {"checks": {"drop": {"cases": [{"case": "face, region eyes"}]}}}}
    path.write_text(json.dumps({"probecheck_baseline": 2, "claims": old}))
    with pytest.raises(ProbecheckError, match="format 2") as error:
        load_baseline(path)
    assert "--probe-baseline-update" in str(error.value)


def test_a_ratio_far_beyond_its_threshold_is_compared_where_it_saturates(tmp_path: Path) -> None:
    """A ratio of 29,550 against a threshold of 5 means "the other image is silent": falling to
    21,900 is the noise of a near-zero denominator, not a regression. Clipped at 10 × the
    threshold (50), a fall below that ceiling still regresses."""
    spec, path = tmp_path / "colour.yaml", tmp_path / "base.json"

    def compare_claim(value: float) -> ClaimResult:
        channel = ChannelResult(66, 66, True, {"ratio": value, "mean_in": 556.0})
        case = CaseResult({"image": "red", "other": "blue"}, [channel], {"ratio": value}, True)
        check = CheckResult("compare", "all", {"ratio_at_least": 5.0}, [case], True)
        return ClaimResult(str(spec), "red", "relu_conv1", "features.1", [66], "all", [check], True)

    update_baseline(path, [compare_claim(29_550.0)])
    document = load_baseline(path)
    assert compare(compare_claim(21_900.0), document, path, TOL).regressions == []
    assert compare(compare_claim(math.inf), document, path, TOL).regressions == []
    (line,) = compare(compare_claim(30.0), document, path, TOL).regressions
    assert line.endswith("ratio regressed from 50 to 30 (-40 %, tolerance rel 20 %)")


def test_a_check_over_a_set_is_compared_as_a_population(tmp_path: Path) -> None:
    """One image's number may move (takeo's ratio 1.46 → 1.06) while the population holds: the
    baseline holds a set's check to its interval and mean, not to each image."""
    from probecheck.population import MetricSummary, Population

    spec, path = tmp_path / "faces.yaml", tmp_path / "base.json"

    def set_claim(takeo: float, lower: float) -> ClaimResult:
        cases = [
            CaseResult(
                {"image": name, "region": "eyes", "set": "faces"},
                [ChannelResult(124, 124, True, {"ratio": value})],
                {"ratio": value},
                True,
            )
            for name, value in (("takeo.png", takeo), ("biden.png", 15.0))
        ]
        summary = MetricSummary(8.0, lower, 12.0, 2, 2.0, True, lower >= 2.0)
        population = Population(
            "faces", 2, 0.95, "bootstrap", 0, {"ratio": summary}, 1.0, None, [], True
        )
        check = CheckResult("selective", "all", {"ratio_at_least": 2.0}, cases, True)
        check.population = population
        return ClaimResult(str(spec), "eyes", "fire7", "features.10", [124], "all", [check], True)

    update_baseline(path, [set_claim(1.46, 4.65)])
    document = load_baseline(path)
    found = compare(set_claim(1.06, 4.6), document, path, TOL)
    assert found.regressions == [] and found.unrecorded == [] and found.stale == []
    (line,) = compare(set_claim(1.46, 2.5), document, path, TOL).regressions
    assert "population over set faces, lower of: ratio regressed from 4.65 to 2.5" in line


def test_a_control_that_rose_is_compared_as_no_drop(tmp_path: Path) -> None:
    """A control drop below 0 is the control rising: no better for "the control does not drop"
    than 0. From -0.3 to 0.03 the control still does not drop (blocking that blocked a harmless
    model); from -0.3 to 0.1 it now drops by a tenth, beyond the tolerance."""
    spec, path = tmp_path / "face.yaml", tmp_path / "base.json"
    update_baseline(path, [result(spec, {15: 0.9}, -0.3)])
    document = load_baseline(path)
    assert compare(result(spec, {15: 0.9}, 0.03), document, path, TOL).regressions == []
    assert compare(result(spec, {15: 0.9}, -0.9), document, path, TOL).regressions == []
    (line,) = compare(result(spec, {15: 0.9}, 0.1), document, path, TOL).regressions
    assert "control_drop regressed from 0 to 0.1 (+0.1, tolerance abs 0.05)" in line


def test_the_html_report_marks_regressed_what_the_gate_fails_and_nothing_else(
    tmp_path: Path,
) -> None:
    """The page's baseline table decides as the gate does: a saturated ratio that fell from
    29,550 to 21,900 and a control that rose are held, not shown as regressed."""
    from probecheck.report.html import render_html

    path = tmp_path / "base.json"
    spec = tmp_path / "face.yaml"

    def ratio_claim(value: float) -> ClaimResult:
        channel = ChannelResult(66, 66, True, {"ratio": value, "mean_in": 556.0})
        case = CaseResult({"image": "red", "other": "blue"}, [channel], {"ratio": value}, True)
        check = CheckResult("compare", "all", {"ratio_at_least": 5.0}, [case], True)
        return ClaimResult(str(spec), "red", "relu_conv1", "features.1", [66], "all", [check], True)

    update_baseline(path, [ratio_claim(29_550.0), result(spec, {15: 0.9}, -0.3)])
    document = load_baseline(path)
    now = [ratio_claim(21_900.0), result(spec, {15: 0.9}, 0.03)]
    assert all(compare(r, document, path, TOL).regressions == [] for r in now)
    page = render_html(
        {"claims": [r.to_dict() for r in now]}, baseline=document, baseline_path=path
    )
    assert "<td>held</td>" in page
    assert '<tr class="worse">' not in page and "<td>regressed</td>" not in page
