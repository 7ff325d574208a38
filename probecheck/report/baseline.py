"""Baselines: the numbers a trusted model measured, and the regressions of a candidate from them.

A claim can still hold its absolute threshold while its margin melts away: ``drop 0.96`` on the
trusted model, ``0.72`` on the retrained one, against ``at_least 0.7``. A baseline records the
trusted numbers (``--probe-baseline-update``) and later runs fail where a number moved against
the claim by more than an absolute tolerance (``--probe-baseline FILE``).

The file is JSON keyed by ``spec path relative to the baseline file::claim id``; under each
claim, per check, per case (named by its images and regions) and per channel, every number
measured, with the model that measured it. Keys are sorted and indented, so a re-recorded
baseline reads as a small diff. Updating merges: claims that were not run keep their numbers.

What is compared: the numbers with a direction (``drop``, ``ratio``, ``iou``, the occlusion
check's ``peak_in`` higher is better;
``control_drop``, ``rank`` lower is better). Raw activations (``mean_in``, ``peak`` …) are
recorded for the reader but move with any retraining, so they are not held to the baseline.
With ``require: all`` every claimed channel is compared; with ``mean`` and ``any`` the combined
value the claim is held to. A ``strongest: {in: …}`` check is categorical and left to its verdict.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probecheck.atomic import write_atomic
from probecheck.errors import ProbecheckError
from probecheck.results import (
    CaseResult,
    CheckResult,
    ClaimResult,
    fmt,
    number_from_json,
    to_jsonable,
)

FORMAT = 2
#: metric → True where higher is better; metrics not listed are recorded, not compared.
DIRECTIONS = {
    "drop": True,
    "control_drop": False,
    "ratio": True,
    "iou": True,
    "rank": False,
    "peak_in": True,
}
DEFAULT_TOLERANCE = 0.05
_FIX = "point --probe-baseline at a file written by --probe-baseline-update"


@dataclass(frozen=True)
class Tolerance:
    """How far (absolute) a number may move against its claim: one default, per-metric overrides."""

    default: float = DEFAULT_TOLERANCE
    per_metric: dict[str, float] = field(default_factory=dict)

    def of(self, metric: str) -> float:
        return self.per_metric.get(metric, self.default)


def parse_tolerance(text: str) -> Tolerance:
    """``0.05`` or ``0.05,ratio=0.3,rank=2``: a default and optional per-metric tolerances."""
    default, per_metric = DEFAULT_TOLERANCE, {}
    for part in (p.strip() for p in str(text).split(",")):
        name, _, value = part.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or (name and name not in DIRECTIONS):
            raise ProbecheckError(
                f"--probe-baseline-tolerance {text!r}: cannot read {part!r}",
                fix="give a number ≥ 0 (0.05), optionally with per-metric ones: "
                "0.05,ratio=0.3 (metrics: " + ", ".join(DIRECTIONS) + ")",
            )
        if name:
            per_metric[name] = number
        else:
            default = number
    return Tolerance(default, per_metric)


@dataclass
class Comparison:
    """What comparing one claim with the baseline found: regressions, and notes on gaps."""

    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def baseline_key(result: ClaimResult, baseline_path: str | Path) -> str:
    """``specs/face.yaml::fire6-eyes``, with the spec path relative to the baseline's directory."""
    spec = Path(result.spec)
    base = Path(os.path.abspath(baseline_path)).parent
    try:
        shown = os.path.relpath(spec, base) if spec.is_absolute() else str(spec)
    except ValueError:  # another drive
        shown = str(spec)
    return f"{Path(shown).as_posix()}::{result.claim_id}"


def measured(result: ClaimResult) -> dict[str, Any]:
    """Per check, per case, per channel: every number of ``result``, as a baseline records it;
    a check over a set also records its population numbers (see :func:`population_entry`)."""
    found: dict[str, Any] = {}
    for check in result.checks:
        found[check.kind] = {"cases": [_case_entry(case) for case in check.cases]}
        if check.population is not None:
            found[check.kind]["population"] = population_entry(check)
    return found


def population_entry(check: CheckResult) -> dict[str, Any]:
    """The population numbers of a check over a set, keyed by what they were measured on:
    ``inputs`` as data (set, regions, masking) and, per number, mean / lower / upper, and the
    fraction of images that hold the check alone."""
    population = check.population
    inputs = {
        k: v for k, v in (check.cases[0].inputs if check.cases else {}).items() if k != "image"
    }
    return {
        "inputs": inputs,
        "n": population.n,
        "metrics": {
            name: {"mean": m.mean, "lower": m.lower, "upper": m.upper}
            for name, m in population.metrics.items()
        },
        "fraction": population.fraction,
    }


def _compare_population(
    result: ClaimResult, check: CheckResult, old: dict[str, Any], tolerance: Tolerance
) -> list[str]:
    """The population's bound held to each threshold (lower for higher-is-better numbers,
    upper otherwise), its mean, and its fraction, against the recorded ones."""
    now = population_entry(check)
    where = f"{result.claim_id}: {check.kind}, population over set {check.population.set}"
    if old.get("inputs") != now["inputs"]:
        return []  # measured on other inputs: the per-image entries say what is missing
    lines = []
    for metric, numbers in now["metrics"].items():
        higher = DIRECTIONS.get(metric)
        before = old.get("metrics", {}).get(metric)
        if higher is None or not isinstance(before, dict):
            continue
        bound = "lower" if higher else "upper"
        for part in (bound, "mean"):
            lines += _moved(
                f"{where}, {part} of",
                {metric: numbers[part]},
                {metric: before.get(part)},
                tolerance,
            )
    fell = isinstance(old.get("fraction"), (int, float)) and (
        now["fraction"] < old["fraction"] - tolerance.default
    )
    if fell:
        lines.append(
            f"{where}: the fraction of images holding fell from {fmt(old['fraction'])} to "
            f"{fmt(now['fraction'])}"
        )
    return lines


def _case_entry(case: CaseResult) -> dict[str, Any]:
    return {
        "case": case.describe(),
        "channels": {str(ch.label): dict(ch.values) for ch in case.channels},
        "combined": dict(case.combined),
    }


def load_baseline(path: str | Path) -> dict[str, Any]:
    """The baseline document at ``path``; an empty one if the file does not exist yet."""
    target = Path(path)
    if not target.exists():
        return {"probecheck_baseline": FORMAT, "claims": {}}
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProbecheckError(f"cannot read the baseline {target}: {error}", fix=_FIX) from None
    if not isinstance(document, dict) or not isinstance(document.get("claims"), dict):
        raise ProbecheckError(
            f"{target} is not a probecheck baseline (no 'claims' mapping)", fix=_FIX
        )
    if document.get("probecheck_baseline") != FORMAT:
        raise ProbecheckError(
            f"{target} is a baseline of format {document.get('probecheck_baseline')!r}; "
            f"this probecheck reads format {FORMAT}",
            fix="record it again on the trusted model: move the old file away and run with "
            "--probe-baseline-update",
        )
    return document


def update_baseline(path: str | Path, results: list[ClaimResult]) -> tuple[Path, int, int]:
    """Record the numbers of ``results`` that passed without error, keeping other claims.

    Returns the path, how many claims this run recorded, and how many the file holds.
    """
    document = load_baseline(path)
    recorded = 0
    for result in results:
        if result.passed and not result.error:
            document["claims"][baseline_key(result, path)] = {
                "model": result.model,
                "checks": to_jsonable(measured(result)),
            }
            recorded += 1
    document["probecheck_baseline"] = FORMAT
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return write_atomic(path, text + "\n"), recorded, len(document["claims"])


def compare(
    result: ClaimResult, document: dict[str, Any], baseline_path: str | Path, tolerance: Tolerance
) -> Comparison:
    """Every number of ``result`` that moved against its claim by more than ``tolerance``."""
    found = Comparison()
    key = baseline_key(result, baseline_path)
    entry = document["claims"].get(key)
    if entry is None:
        found.notes.append(
            f"no baseline entry for {key}: not compared (record it with --probe-baseline-update)"
        )
        return found
    recorded = entry.get("checks", {})
    for check in result.checks:
        old_cases = {c.get("case"): c for c in recorded.get(check.kind, {}).get("cases", [])}
        for case in check.cases:
            where = f"{result.claim_id}: {check.kind}, case {case.describe()}"
            old = old_cases.get(case.describe())
            if old is None:
                found.notes.append(f"{where}: no baseline entry, not compared")
                continue
            _compare_case(result, check, case, old, where, tolerance, found)
        recorded_population = recorded.get(check.kind, {}).get("population")
        if check.population is not None and isinstance(recorded_population, dict):
            found.regressions += _compare_population(result, check, recorded_population, tolerance)
    return found


def _compare_case(
    result: ClaimResult,
    check: CheckResult,
    case: CaseResult,
    old: dict[str, Any],
    where: str,
    tolerance: Tolerance,
    found: Comparison,
) -> None:
    if check.kind == "strongest" and check.thresholds.get("in") is not None:
        return  # categorical: the verdict says it all
    if result.require == "all":
        for channel in case.channels:
            before = old.get("channels", {}).get(str(channel.label))
            if before is None:
                found.notes.append(f"{where}, channel {channel.label}: no baseline entry")
                continue
            found.regressions += _moved(
                f"{where}, channel {channel.label}", channel.values, before, tolerance
            )
    else:
        labels = ", ".join(str(c) for c in result.channels)
        found.regressions += _moved(
            f"{where}, channels {labels} ({result.require})",
            case.combined,
            old.get("combined", {}),
            tolerance,
        )


def _moved(
    where: str, now: dict[str, float], before: dict[str, Any], tolerance: Tolerance
) -> list[str]:
    lines = []
    for metric, higher_is_better in DIRECTIONS.items():
        if metric not in now or metric not in before:
            continue
        recorded = before[metric]
        if isinstance(recorded, bool) or not (
            recorded in (None, "inf", "-inf") or isinstance(recorded, (int, float))
        ):
            raise ProbecheckError(
                f"{where}: the baseline records {metric} as {recorded!r}, not a number", fix=_FIX
            )
        old, new = number_from_json(recorded), float(now[metric])
        if math.isnan(old):
            continue
        allowed = tolerance.of(metric)
        worse = (old - new) if higher_is_better else (new - old)  # inf → finite: inf, worse
        if math.isnan(new) or worse > allowed:
            was, now_shown = _distinct(old, new)
            lines.append(
                f"{where}: {metric} regressed from {was} to {now_shown} (tolerance {fmt(allowed)})"
            )
    return lines


def _distinct(old: float, new: float) -> tuple[str, str]:
    """Both numbers with as many digits as it takes to tell them apart (171.2 vs 171.1)."""
    for digits in (3, 4, 5, 6, 8):
        was, now = f"{old:.{digits}g}", f"{new:.{digits}g}"
        if was != now:
            break
    return (fmt(old), fmt(new)) if digits == 3 else (was, now)
