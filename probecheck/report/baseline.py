"""Baselines: the numbers a trusted model measured, and the regressions of a candidate from them.

A claim can still hold its absolute threshold while its margin melts away: ``drop 0.96`` on the
trusted model, ``0.72`` on the retrained one, against ``at_least 0.7``. A baseline records the
trusted numbers (``--probe-baseline-update``) and later runs fail where a number moved against
the claim by more than its tolerance (``--probe-baseline FILE``).

The file is JSON keyed by ``spec path relative to the baseline file::claim id``; under each
claim, per check kind, a list of cases, each named by its inputs *as data* (the case's images,
regions and masking, the mapping the spec wrote) and holding, per channel index (0-based, so an
``index_base`` edit changes nothing), every number measured, with the model that measured it.
Nothing is matched by display text, so rewording a message never orphans an entry. Keys are
sorted and indented, so a re-recorded baseline reads as a small diff. Updating merges: claims
that were not run keep their numbers; entries of claims no longer in a spec that ran are dropped.

What is compared: the metrics :mod:`probecheck.metric_table` gives a direction, each with its
kind of tolerance — absolute for bounded numbers (drop, control drop, IoU), relative to the
recorded number for unbounded ones (ratio). Raw activations are recorded for the reader but move
with any retraining, so they are not held to the baseline. With ``require: all`` every claimed
channel is compared; with ``mean`` and ``any`` the combined value the claim is held to. A
``strongest: {in: …}`` check is categorical and left to its verdict.

Gaps are counted, never silent: a part of the run the baseline has no entry for (a new claim,
case or channel), and an entry that matches nothing in the run (a case edited or removed). Both
are notes, and failures under ``--probe-baseline-strict``, the setting for CI.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probecheck.atomic import write_atomic
from probecheck.errors import ProbecheckError
from probecheck.metric_table import METRICS, compared_metrics, saturation
from probecheck.results import (
    CaseResult,
    CheckResult,
    ClaimResult,
    fmt,
    number_from_json,
    to_jsonable,
)

FORMAT = 3
KINDS = ("abs", "rel")
_FIX = "point --probe-baseline at a file written by --probe-baseline-update"
_RERECORD = (
    "record it again on the trusted model: move the old file away and run with "
    "--probe-baseline FILE --probe-baseline-update"
)


@dataclass(frozen=True)
class Bound:
    """How far one metric may move against its claim: ``abs`` in its own units, or ``rel``, a
    fraction of the recorded number."""

    kind: str
    value: float

    def allowed(self, recorded: float) -> float:
        return self.value if self.kind == "abs" else self.value * abs(recorded)

    def __str__(self) -> str:
        if self.kind == "rel":
            return f"rel {fmt(self.value * 100)} %"
        return f"abs {fmt(self.value)}"


@dataclass(frozen=True)
class Tolerance:
    """Per-metric tolerances given on the command line; the others are the table's defaults."""

    per_metric: dict[str, Bound] = field(default_factory=dict)

    def of(self, metric: str, recorded: float = 0.0) -> Bound:
        """The bound of ``metric``: given, else the table's default for a number ``recorded``."""
        if metric in self.per_metric:
            return self.per_metric[metric]
        return Bound(*METRICS[metric].default(recorded))


def default_tolerances() -> str:
    """The defaults as the option writes them: ``drop=abs:0.05,…,ratio=rel:0.2``."""
    return ",".join(f"{n}={m.kind}:{fmt(m.tolerance)}" for n, m in compared_metrics().items())


def parse_tolerance(text: str | None) -> Tolerance:
    """``ratio=rel:0.1,drop=abs:0.05``: per metric, a kind and a number ≥ 0; '' for defaults."""
    per_metric: dict[str, Bound] = {}
    for part in (p.strip() for p in str(text or "").split(",")):
        if not part:
            continue
        name, _, bound = part.partition("=")
        kind, _, value = bound.partition(":")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if name.strip() not in compared_metrics() or kind.strip() not in KINDS:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise ProbecheckError(
                f"--probe-baseline-tolerance {text!r}: cannot read {part!r}",
                fix="give METRIC=abs:NUMBER (absolute) or METRIC=rel:NUMBER (a fraction of the "
                "recorded number), comma-separated, e.g. ratio=rel:0.1,drop=abs:0.05; metrics: "
                + ", ".join(compared_metrics())
                + f"; the defaults: {default_tolerances()}",
            )
        per_metric[name.strip()] = Bound(kind.strip(), number)
    return Tolerance(per_metric)


@dataclass
class Comparison:
    """What comparing one claim with the baseline found: regressions, and the gaps both ways."""

    regressions: list[str] = field(default_factory=list)
    #: parts of the run the baseline has no entry for (not compared)
    unrecorded: list[str] = field(default_factory=list)
    #: entries of the baseline for this claim that match nothing in the run
    stale: list[str] = field(default_factory=list)


def baseline_key(result: ClaimResult, baseline_path: str | Path) -> str:
    """``specs/face.yaml::fire6-eyes``, with the spec path relative to the baseline's directory."""
    return f"{spec_key(result.spec, baseline_path)}::{result.claim_id}"


def spec_key(spec: str | Path, baseline_path: str | Path) -> str:
    """The spec's path as baseline keys write it: relative to the baseline's directory."""
    path = Path(spec)
    base = Path(os.path.abspath(baseline_path)).parent
    try:
        shown = os.path.relpath(path, base) if path.is_absolute() else str(path)
    except ValueError:  # another drive
        shown = str(path)
    return Path(shown).as_posix()


def case_identity(case: CaseResult | Mapping[str, Any]) -> str:
    """A case's stable identity: its inputs as canonical JSON (sorted keys), never its prose."""
    inputs = case.inputs if isinstance(case, CaseResult) else case.get("inputs")
    return json.dumps(to_jsonable(inputs), sort_keys=True, ensure_ascii=False)


def measured(result: ClaimResult) -> dict[str, Any]:
    """Per check, per case, per channel: every number of ``result``, as a baseline records it;
    a check over a set also records its population numbers (see :func:`population_entry`)."""
    found: dict[str, Any] = {}
    for check in result.checks:
        found[check.kind] = {"cases": [_case_entry(case) for case in check.cases]}
        if check.population is not None:
            found[check.kind]["population"] = population_entry(check)
    return found


FRACTION_TOLERANCE = 0.05
"""How far the share of a set's images holding a check may fall below the recorded share."""


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
        info = METRICS.get(metric)
        higher = None if info is None else info.higher_is_better
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
                check.thresholds,
            )
    fell = isinstance(old.get("fraction"), (int, float)) and (
        now["fraction"] < old["fraction"] - FRACTION_TOLERANCE
    )
    if fell:
        lines.append(
            f"{where}: the fraction of images holding fell from {fmt(old['fraction'])} to "
            f"{fmt(now['fraction'])}"
        )
    return lines


def _case_entry(case: CaseResult) -> dict[str, Any]:
    return {
        "inputs": dict(sorted(case.inputs.items())),
        "channels": {str(ch.channel): dict(ch.values) for ch in case.channels},
        "combined": dict(case.combined),
    }


def empty_baseline() -> dict[str, Any]:
    return {"probecheck_baseline": FORMAT, "claims": {}}


def load_baseline(path: str | Path, *, missing_ok: bool = False) -> dict[str, Any]:
    """The baseline document at ``path``. A file that does not exist is an error unless
    ``missing_ok`` (recording a new baseline), when it is an empty one."""
    target = Path(path)
    if not target.exists():
        if missing_ok:
            return empty_baseline()
        raise ProbecheckError(
            f"--probe-baseline {target}: no such file",
            fix="check the path; to record a new baseline on the trusted model, add "
            "--probe-baseline-update",
        )
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
            f"this probecheck reads format {FORMAT} (cases named by their inputs, channels by "
            "index), which older files cannot be converted to",
            fix=_RERECORD,
        )
    _check_shape(document, target)
    return document


def _check_shape(document: dict[str, Any], target: Path) -> None:
    """Every claim entry has checks, each a list of cases with inputs: named, not a crash later."""
    for key, entry in document["claims"].items():
        checks = entry.get("checks") if isinstance(entry, dict) else None
        ok = isinstance(checks, dict) and all(
            isinstance(c, dict)
            and isinstance(c.get("cases"), list)
            and all(isinstance(k, dict) and isinstance(k.get("inputs"), dict) for k in c["cases"])
            for c in checks.values()
        )
        if not ok:
            raise ProbecheckError(
                f"{target}: the entry {key!r} is not a claim's checks with cases and inputs",
                fix=_RERECORD,
            )


def update_baseline(
    path: str | Path,
    results: list[ClaimResult],
    known: Mapping[str, set[str]] | None = None,
) -> tuple[Path, int, int, int]:
    """Record the numbers of ``results`` that passed without error, keeping other claims.

    ``known`` maps each spec that ran to all its claim ids: entries of that spec's claims that no
    longer exist are dropped. Returns the path, how many claims this run recorded, how many the
    file holds, and how many entries were dropped.
    """
    document = load_baseline(path, missing_ok=True)
    recorded = 0
    for result in results:
        if result.passed and not result.error:
            document["claims"][baseline_key(result, path)] = {
                "model": result.model,
                "checks": to_jsonable(measured(result)),
            }
            recorded += 1
    dropped = stale_claims(document, path, known or {})
    for key in dropped:
        del document["claims"][key]
    document["probecheck_baseline"] = FORMAT
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return write_atomic(path, text + "\n"), recorded, len(document["claims"]), len(dropped)


def stale_claims(
    document: dict[str, Any], baseline_path: str | Path, known: Mapping[str, set[str]]
) -> list[str]:
    """Entries of the specs in ``known`` (spec path → all its claim ids) whose claim is gone."""
    prefixes = {spec_key(spec, baseline_path): ids for spec, ids in known.items()}
    gone = []
    for key in document["claims"]:
        spec, _, claim_id = key.rpartition("::")
        if spec in prefixes and claim_id not in prefixes[spec]:
            gone.append(key)
    return sorted(gone)


def compare(
    result: ClaimResult, document: dict[str, Any], baseline_path: str | Path, tolerance: Tolerance
) -> Comparison:
    """Every number of ``result`` that moved against its claim by more than ``tolerance``, and
    the gaps between the run and the baseline's entry for the claim."""
    found = Comparison()
    key = baseline_key(result, baseline_path)
    entry = document["claims"].get(key)
    if entry is None:
        found.unrecorded.append(
            f"no baseline entry for {key}: not compared (record it with --probe-baseline-update)"
        )
        return found
    recorded = entry.get("checks", {})
    matched: set[tuple[str, str]] = set()
    for check in result.checks:
        old_cases = {case_identity(c): c for c in recorded.get(check.kind, {}).get("cases", [])}
        over_set = check.population is not None
        for case in check.cases:
            where = f"{result.claim_id}: {check.kind}, case {case.describe()}"
            identity = case_identity(case)
            old = old_cases.get(identity)
            if old is None:
                if not over_set:
                    found.unrecorded.append(f"{where}: no baseline entry, not compared")
                continue
            matched.add((check.kind, identity))
            if not over_set:  # a claim over a set is about its population, not each image
                _compare_case(result, check, case, old, where, tolerance, found)
        recorded_population = recorded.get(check.kind, {}).get("population")
        if over_set and isinstance(recorded_population, dict):
            found.regressions += _compare_population(result, check, recorded_population, tolerance)
        elif over_set:
            found.unrecorded.append(
                f"{result.claim_id}: {check.kind}, population over set "
                f"{check.population.set}: no baseline entry, not compared"  # type: ignore[union-attr]
            )
    for kind, entry_check in sorted(recorded.items()):
        for old_case in entry_check.get("cases", []):
            if (kind, case_identity(old_case)) not in matched:
                inputs = ", ".join(f"{k} {v}" for k, v in sorted(old_case["inputs"].items()))
                found.stale.append(
                    f"{result.claim_id}: the baseline's {kind} case ({inputs}) matches no case "
                    "of this run"
                )
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
    from probecheck.checks.registry import kind as registered_kind

    held = [m.threshold for m in registered_kind(check.kind).metrics.values()]
    if not any(check.thresholds.get(str(key)) is not None for key in held):
        return  # no number held to a threshold (strongest: {in: …}): the verdict says it all
    if result.require == "all":
        old_channels = dict(old.get("channels", {}))
        for channel in case.channels:
            before = old_channels.pop(str(channel.channel), None)
            if before is None:
                found.unrecorded.append(f"{where}, channel {channel.label}: no baseline entry")
                continue
            found.regressions += _moved(
                f"{where}, channel {channel.label}",
                channel.values,
                before,
                tolerance,
                check.thresholds,
            )
        found.stale += [
            f"{where}: the baseline's channel index {index} matches no claimed channel"
            for index in sorted(old_channels)
        ]
    else:
        labels = ", ".join(str(c) for c in result.channels)
        found.regressions += _moved(
            f"{where}, channels {labels} ({result.require})",
            case.combined,
            old.get("combined", {}),
            tolerance,
            check.thresholds,
        )


def _moved(
    where: str,
    now: dict[str, float],
    before: dict[str, Any],
    tolerance: Tolerance,
    thresholds: Mapping[str, Any] | None = None,
) -> list[str]:
    """The lines of every number that moved against its claim beyond ``tolerance``; numbers
    past their saturation (see :func:`probecheck.metric_table.saturation`) are compared clipped
    there, so a ratio that stays far beyond its threshold is never a regression, and a control
    drop below 0 (the control rose) is compared as 0 (see :func:`judge`)."""
    lines = []
    for metric in compared_metrics():
        if metric not in now or metric not in before:
            continue
        recorded = before[metric]
        if isinstance(recorded, bool) or not (
            recorded in (None, "inf", "-inf") or isinstance(recorded, (int, float))
        ):
            raise ProbecheckError(
                f"{where}: the baseline records {metric} as {recorded!r}, not a number", fix=_FIX
            )
        judged = judge(
            metric, number_from_json(recorded), float(now[metric]), tolerance, thresholds
        )
        if judged is None:
            continue
        old, new, bound, regressed = judged
        if regressed:
            was, now_shown = _distinct(old, new)
            lines.append(
                f"{where}: {metric} regressed from {was} to {now_shown} "
                f"({_change(old, new, bound.kind)}, tolerance {bound})"
            )
    return lines


def judge(
    metric: str,
    old: float,
    new: float,
    tolerance: Tolerance,
    thresholds: Mapping[str, Any] | None = None,
) -> tuple[float, float, Bound, bool] | None:
    """``metric`` recorded as ``old`` and measured now as ``new``, as a baseline compares them:
    (old, new) clipped at the metric's saturation and raised to its floor, the bound, and
    whether it regressed; None where the recorded number is nan (nothing to compare)."""
    info = METRICS[metric]
    if math.isnan(old):
        return None
    ceiling = saturation(metric, (thresholds or {}).get(str(info.threshold)))
    if ceiling is not None and not math.isnan(new):
        old, new = min(old, ceiling), min(new, ceiling)
    if info.floor is not None and not math.isnan(new):
        old, new = max(old, info.floor), max(new, info.floor)
    bound = tolerance.of(metric, old)
    worse = (old - new) if info.higher_is_better else (new - old)  # inf → finite: inf, worse
    regressed = math.isnan(new) or (math.isinf(worse) and worse > 0) or worse > bound.allowed(old)
    return old, new, bound, bool(regressed)


def _change(old: float, new: float, kind: str) -> str:
    """The move from ``old`` to ``new``, in the tolerance's terms: ``-0.162`` or ``-12.2 %``."""
    if math.isnan(new):
        return "now nan"
    if kind == "rel" and old != 0 and math.isfinite(old):
        return f"{(new - old) / abs(old) * 100:+.3g} %"
    if not math.isfinite(old) or not math.isfinite(new):
        return "from an infinite number" if not math.isfinite(old) else "to an infinite number"
    return f"{new - old:+.3g}"


def _distinct(old: float, new: float) -> tuple[str, str]:
    """Both numbers with as many digits as it takes to tell them apart (171.2 vs 171.1)."""
    for digits in (3, 4, 5, 6, 8):
        was, now = f"{old:.{digits}g}", f"{new:.{digits}g}"
        if was != now:
            break
    return (fmt(old), fmt(new)) if digits == 3 else (was, now)
