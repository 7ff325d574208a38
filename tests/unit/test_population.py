"""The population verdict of a check over a set, from per-image numbers with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from probecheck.population import null_result, ranks, summarise, with_null
from probecheck.report.baseline import Tolerance, compare, measured, population_entry
from probecheck.report.junit import junit_properties
from probecheck.results import CaseResult, ChannelResult, CheckResult, ClaimResult


def _cases(drops: list[float], controls: list[float] | None = None) -> list[CaseResult]:
    cases = []
    for i, drop in enumerate(drops):
        combined = {"drop": drop}
        passed = drop >= 0.5
        if controls is not None:
            combined["control_drop"] = controls[i]
            passed &= controls[i] <= 0.2
        cases.append(CaseResult({"set": "faces", "image": f"{i}.png"}, [], combined, passed))
    return cases


DROP = {"at_least": 0.5, "control_at_most": 0.2}


def test_holds_when_the_lower_bound_clears_and_the_upper_bound_stays_under() -> None:
    cases = _cases([0.8, 0.85, 0.9, 0.82, 0.88], [0.05, 0.1, 0.0, 0.08, 0.02])
    got = summarise("drop", "faces", cases, DROP, confidence=0.95, min_fraction=None)
    assert got.passed and got.n == 5 and got.fraction == 1.0
    assert got.metrics["drop"].mean == pytest.approx(0.85)
    assert got.metrics["drop"].lower >= 0.5
    assert got.metrics["control_drop"].upper <= 0.2
    assert got.reasons == []


def test_a_mean_above_the_threshold_with_a_wide_interval_fails() -> None:
    # mean 0.6 clears 0.5, but five scattered images do not pin it above 0.5
    cases = _cases([0.1, 0.9, 0.3, 1.0, 0.7])
    got = summarise("drop", "faces", cases, {"at_least": 0.5}, confidence=0.95, min_fraction=None)
    assert got.metrics["drop"].mean == pytest.approx(0.6)
    assert got.metrics["drop"].lower < 0.5
    assert not got.passed
    assert "lower bound" in got.reasons[0]


def test_control_upper_bound_fails_the_claim() -> None:
    cases = _cases([0.9] * 6, [0.4, 0.5, 0.6, 0.45, 0.7, 0.55])
    got = summarise("drop", "faces", cases, DROP, confidence=0.95, min_fraction=None)
    assert got.metrics["drop"].holds and not got.metrics["control_drop"].holds
    assert not got.passed


def test_min_fraction_counts_images_that_hold_alone() -> None:
    cases = _cases([0.9, 0.95, 0.92, 0.4, 0.91])  # four of five hold alone
    thresholds = {"at_least": 0.5}
    held = summarise("drop", "faces", cases, thresholds, confidence=0.8, min_fraction=0.8)
    assert held.fraction == pytest.approx(0.8) and held.passed
    failed = summarise("drop", "faces", cases, thresholds, confidence=0.8, min_fraction=0.9)
    assert not failed.passed and "fewer than 0.9" in failed.reasons[-1]


def test_worst_images_come_first() -> None:
    cases = _cases([0.9, 0.3, 0.7, 0.1])
    got = summarise("drop", "faces", cases, {"at_least": 0.5}, confidence=0.95, min_fraction=None)
    assert got.worst[:2] == ["3.png", "1.png"]


def test_yes_or_no_verdicts_need_every_image_unless_min_fraction() -> None:
    cases = [
        CaseResult({"image": f"{i}.png"}, [], {"strongest": 3.0}, passed=i != 2) for i in range(5)
    ]
    every = summarise("strongest", "s", cases, {"in": [3]}, confidence=0.95, min_fraction=None)
    assert not every.passed and every.fraction == pytest.approx(0.8)
    most = summarise("strongest", "s", cases, {"in": [3]}, confidence=0.95, min_fraction=0.8)
    assert most.passed


def test_non_finite_image_numbers_are_left_out_of_the_interval_and_fail_the_set() -> None:
    cases = _cases([0.9, 0.92, math.nan, 0.95])
    got = summarise("drop", "faces", cases, {"at_least": 0.5}, confidence=0.95, min_fraction=None)
    assert got.metrics["drop"].n == 3
    assert any("1 of 4 images gave no finite drop" in r for r in got.reasons)
    assert not got.passed


@pytest.mark.parametrize("drops", [[0.99], [0.99, math.nan, math.nan]])
def test_one_number_gives_no_interval_and_fails_saying_so(drops: list[float]) -> None:
    """A set of one image (or one finite number) is an anecdote: no interval, no pass."""
    got = summarise(
        "drop", "faces", _cases(drops), {"at_least": 0.5}, confidence=0.95, min_fraction=None
    )
    assert not got.passed and not got.metrics["drop"].holds
    assert got.metrics["drop"].mean == pytest.approx(0.99) and got.metrics["drop"].n == 1
    assert any("no interval" in r and "'image:' instead of 'set:'" in r for r in got.reasons)
    assert "drop mean 0.99, no interval (n 1) ✗" in got.headline()
    assert "[" not in got.headline().split(",")[0]
    assert any("no interval (n 1) FAILS" in line for line in got.describe())


@pytest.mark.parametrize(
    ("kind", "thresholds", "combined"),
    [
        ("strongest", {"in": [3]}, {"strongest": 3.0}),
        ("occlusion", {"peak_in_region": True}, {"peak_in": 1.0}),
    ],
)
def test_a_yes_or_no_verdict_on_one_image_is_no_population_claim(
    kind: str, thresholds: dict, combined: dict
) -> None:
    one = [CaseResult({"image": "0.png"}, [], combined, passed=True)]
    got = summarise(kind, "s", one, thresholds, confidence=0.95, min_fraction=None)
    assert not got.passed
    assert any("only 1 image" in r and "'image:' instead of 'set:'" in r for r in got.reasons)
    two = [*one, CaseResult({"image": "1.png"}, [], combined, passed=True)]
    assert summarise(kind, "s", two, thresholds, confidence=0.95, min_fraction=None).passed


def test_two_numbers_already_give_an_interval() -> None:
    got = summarise(
        "drop", "faces", _cases([0.9, 0.95]), {"at_least": 0.5}, confidence=0.95, min_fraction=None
    )
    assert got.passed and got.metrics["drop"].lower == pytest.approx(0.9)


def test_ranks_one_is_largest_and_nan_last() -> None:
    assert list(ranks(np.array([0.2, 0.9, np.nan, 0.5]))) == [3, 1, 4, 2]


def test_null_ranks_the_effect_and_holds_it_to_the_thresholds() -> None:
    effects = [np.array([0.1, 0.8, 0.3]), np.array([0.2, 0.6, 0.5])]  # means 0.15, 0.7, 0.4
    random = [np.array([0.0, 0.3, 0.1]), np.array([0.0, 0.5, 0.1])]  # channel 1: 0.4
    got = null_result(
        "drop", [2], [2], "all", effects, random, rank_at_most=1, random_effect_at_most=0.5
    )
    assert got.rank == {"2": 2} and got.channels == 3
    assert got.effect_mean["2"] == pytest.approx(0.4)
    assert got.random_effect == {"2": pytest.approx(0.1)}
    assert not got.holds  # rank 2 > 1
    ok = null_result(
        "drop", [1], [1], "all", effects, random, rank_at_most=1, random_effect_at_most=0.3
    )
    assert ok.rank == {"1": 1} and not ok.holds  # 0.4 on random weights > 0.3
    population = summarise(
        "drop", "f", _cases([0.9, 0.9]), {"at_least": 0.5}, confidence=0.95, min_fraction=None
    )
    assert population.passed
    assert not with_null(population, ok).passed
    assert "random weights" in population.reasons[-1]


def test_unmeasured_random_threshold_does_not_hold() -> None:
    got = null_result(
        "drop",
        [0],
        [0],
        "all",
        [np.array([0.5, 0.1])],
        None,
        rank_at_most=None,
        random_effect_at_most=0.1,
        random_note="no weights",
    )
    assert not got.holds


def _claim(population_cases: list[CaseResult]) -> ClaimResult:
    population = summarise(
        "drop", "faces", population_cases, DROP, confidence=0.95, min_fraction=None
    )
    population.null = null_result(
        "drop",
        [0],
        [0],
        "all",
        [np.array([0.5, 0.1])] * 2,
        [np.array([0.05, 0.0])] * 2,
        rank_at_most=None,
        random_effect_at_most=None,
    )
    check = CheckResult(
        "drop", "all", dict(DROP), population_cases, population.passed, [], population
    )
    return ClaimResult(
        "spec.yaml", "pop", "fire6", "features.8", [0], "all", [check], population.passed
    )


def test_results_round_trip_through_json_with_the_population() -> None:
    result = _claim(_cases([0.8, 0.85, 0.9], [0.0, 0.1, 0.05]))
    back = ClaimResult.from_dict(result.to_dict())
    got, want = back.checks[0].population, result.checks[0].population
    assert got.metrics["drop"].lower == pytest.approx(want.metrics["drop"].lower)
    assert got.null.rank == want.null.rank and got.worst == want.worst
    assert "drop mean 0.85" in back.measured()
    assert "over set faces: n 3" in back.failure_message()


def test_a_result_read_back_writes_the_same_json_and_shares_nothing_with_it() -> None:
    import math

    from probecheck.results import ChannelResult

    result = _claim(_cases([0.8, 0.85, 0.9], [0.0, 0.1, 0.05]))
    numbers = {"drop": math.nan, "mean_in": math.inf, "mean_in_altered": -math.inf, "x": 0.25}
    result.checks[0].cases[0].channels = [ChannelResult(15, 15, False, numbers, "silent")]
    result.notes = ["a note"]
    written = result.to_dict()
    back = ClaimResult.from_dict(written)
    assert back.to_dict() == written
    values = back.checks[0].cases[0].channels[0].values
    assert math.isnan(values["drop"]) and values["mean_in"] == math.inf
    assert values["mean_in_altered"] == -math.inf and values["x"] == 0.25
    back.notes.append("another")
    back.checks[0].cases[0].inputs["image"] = "changed"
    back.checks[0].population.reasons.append("changed")
    assert written == result.to_dict()  # the plain form, kept for results.json, is untouched


def test_junit_properties_carry_the_population() -> None:
    props = dict(junit_properties(_claim(_cases([0.8, 0.85, 0.9], [0.0, 0.1, 0.05]))))
    assert props["drop.population.n"] == "3"
    assert float(props["drop.population.drop.mean"]) == pytest.approx(0.85)
    assert "drop.population.control_drop.upper" in props
    assert props["drop.population.null.channel0.rank"] == "1"


def test_baseline_records_population_numbers_and_finds_a_regression(tmp_path) -> None:
    trusted = _claim(_cases([0.8, 0.85, 0.9], [0.0, 0.1, 0.05]))
    entry = population_entry(trusted.checks[0])
    assert entry["inputs"] == {"set": "faces"}
    assert set(entry["metrics"]["drop"]) == {"mean", "lower", "upper"}
    document = {"claims": {"spec.yaml::pop": {"checks": measured(trusted)}}}
    base = tmp_path / "baseline.json"
    same = compare(trusted, document, base, Tolerance())
    assert same.regressions == []
    worse = _claim(_cases([0.6, 0.65, 0.7], [0.0, 0.1, 0.05]))
    lines = compare(worse, document, base, Tolerance()).regressions
    assert any("population over set faces, lower of: drop regressed" in line for line in lines)


def test_the_failure_text_states_only_true_relations() -> None:
    """A failing bound reads ``0.587 < 0.7 FAILS``, never the false ``0.587 ≥ 0.7 FAILS``."""
    from probecheck.population import MetricSummary, Population

    failing = MetricSummary(0.71, 0.587, 0.823, 11, 0.7, True, False)
    broken = MetricSummary(0.465, 0.245, 0.662, 11, 0.25, False, False)
    holding = MetricSummary(0.9, 0.8, 0.95, 11, 0.7, True, True)
    population = Population(
        "faces",
        11,
        0.95,
        "bootstrap",
        0,
        {"drop": failing, "control_drop": broken, "ratio": holding},
        0.3,
        None,
        [],
        False,
    )
    text = "\n".join(population.describe())
    assert "lower bound 0.587 < 0.7 FAILS" in text
    assert "upper bound 0.662 > 0.25 FAILS" in text
    assert "lower bound 0.8 ≥ 0.7 holds" in text


def test_an_infinite_ratio_counts_at_its_saturation_not_left_out() -> None:
    """A channel silent outside the region has ratio inf on that image: the best an image can
    give. It counts as 10 × the threshold (where ratios saturate), not as a missing number."""
    ratios = [math.inf, math.inf, 12.0, 30.0]
    cases = [
        CaseResult(
            {"image": f"{i}.png", "region": "eyes", "set": "s"},
            [ChannelResult(0, 0, True, {"ratio": r})],
            {"ratio": r},
            True,
        )
        for i, r in enumerate(ratios)
    ]
    got = summarise(
        "selective", "s", cases, {"ratio_at_least": 2.0}, confidence=0.95, min_fraction=None
    )
    ratio = got.metrics["ratio"]
    assert ratio.n == 4 and ratio.mean == pytest.approx((20 + 20 + 12 + 20) / 4)
    assert got.passed and not any("finite" in r for r in got.reasons)


def test_a_channel_silent_on_random_weights_shows_no_effect_there_and_says_so() -> None:
    """Silent on every image with random weights: its effect there is 0 (not nan), named."""
    effects = [np.array([0.9, 0.1]), np.array([0.8, 0.2])]
    random = [np.array([np.nan, 0.4]), np.array([np.nan, 0.6])]
    got = null_result(
        "drop", [0], [0], "all", effects, random, rank_at_most=None, random_effect_at_most=0.3
    )
    assert got.random_effect == {"0": 0.0} and got.holds
    assert "silent on every image on random weights" in got.random_note
    other = null_result(
        "drop", [1], [1], "all", effects, random, rank_at_most=None, random_effect_at_most=0.3
    )
    assert other.random_effect == {"1": pytest.approx(0.5)} and not other.holds


def test_images_with_no_finite_number_fail_the_set_instead_of_shrinking_it() -> None:
    """Two measurable images of ten must not pass a claim over the ten: the interval of the
    finite numbers speaks for two images, the headline for ten."""
    ratios = [5.0, 6.0] + [math.nan] * 8  # e.g. a region covering the whole map: no outside
    cases = [
        CaseResult({"image": f"{i}.png"}, [], {"ratio": r}, passed=r >= 2)
        for i, r in enumerate(ratios)
    ]
    got = summarise(
        "selective", "s", cases, {"ratio_at_least": 2.0}, confidence=0.95, min_fraction=None
    )
    assert not got.passed
    assert got.metrics["ratio"].n == 2 and got.metrics["ratio"].holds  # the interval itself holds
    assert any("8 of 10 images gave no finite ratio" in r for r in got.reasons)


def test_require_any_holds_the_null_on_the_channel_that_carries_the_effect() -> None:
    """With ``any``, a second claimed channel silent everywhere (effect 0 on random weights)
    must not pass the null for a first channel whose effect random weights show as well."""
    effects = [np.array([0.9, np.nan, 0.1]), np.array([0.8, np.nan, 0.2])]  # channel 1 silent
    random = [np.array([0.8, np.nan, 0.0]), np.array([0.7, np.nan, 0.0])]
    got = null_result(
        "drop", [0, 1], [0, 1], "any", effects, random, rank_at_most=1, random_effect_at_most=0.3
    )
    assert got.random_effect == {"0": pytest.approx(0.75), "1": 0.0}
    assert not got.holds  # channel 0 carries the effect, and random weights show 0.75 of it
    population = summarise(
        "drop", "f", _cases([0.9, 0.85]), {"at_least": 0.5}, confidence=0.95, min_fraction=None
    )
    assert not with_null(population, got).passed
    assert "random weights" in population.reasons[-1] and "0.75" in population.reasons[-1]
