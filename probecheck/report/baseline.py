"""Baselines: the numbers a trusted model measured, and the regressions of a candidate from them.

A claim can still hold its absolute threshold while its margin melts away: ``drop 0.96`` on the
trusted model, ``0.72`` on the retrained one, against ``at_least 0.7``. A baseline records the
trusted numbers (``--probe-baseline-update``) and later runs fail where a number got worse by
more than the tolerance (``--probe-baseline FILE``).

The file is JSON keyed by ``spec path relative to the baseline file::claim id``. Updating merges:
claims that were not run keep their recorded numbers.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from probecheck.atomic import write_atomic
from probecheck.errors import ProbecheckError
from probecheck.results import ClaimResult, fmt, number_from_json, to_jsonable

FORMAT = 1
#: value → True where higher is better; values not listed are not compared.
DIRECTIONS = {"drop": True, "control_drop": False, "ratio": True, "iou": True, "rank": False}
#: changes smaller than this (absolute) never count, so values near zero are not flagged by noise.
ABSOLUTE_FLOOR = 0.02


def baseline_key(result: ClaimResult, baseline_path: str | Path) -> str:
    """``specs/face.yaml::fire6-eyes``, with the spec path relative to the baseline's directory."""
    spec = Path(result.spec)
    base = Path(os.path.abspath(baseline_path)).parent
    try:
        shown = os.path.relpath(spec, base) if spec.is_absolute() else str(spec)
    except ValueError:  # another drive
        shown = str(spec)
    return f"{Path(shown).as_posix()}::{result.claim_id}"


def measured(result: ClaimResult) -> list[dict[str, Any]]:
    """Per check, the combined values of each case: what a baseline records."""
    return [
        {"kind": check.kind, "cases": [dict(case.combined) for case in check.cases]}
        for check in result.checks
    ]


def load_baseline(path: str | Path) -> dict[str, Any]:
    """The baseline document at ``path``; an empty one if the file does not exist yet."""
    target = Path(path)
    if not target.exists():
        return {"probecheck_baseline": FORMAT, "claims": {}}
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProbecheckError(
            f"cannot read the baseline {target}: {error}",
            fix="point --probe-baseline at a file written by --probe-baseline-update",
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("claims"), dict):
        raise ProbecheckError(
            f"{target} is not a probecheck baseline (no 'claims' mapping)",
            fix="point --probe-baseline at a file written by --probe-baseline-update",
        )
    return document


def update_baseline(path: str | Path, results: list[ClaimResult]) -> Path:
    """Record the numbers of ``results`` (which passed and had no error), keeping other claims."""
    document = load_baseline(path)
    for result in results:
        if result.passed and not result.error:
            document["claims"][baseline_key(result, path)] = {
                "model": result.model,
                "checks": to_jsonable(measured(result)),
            }
    document["probecheck_baseline"] = FORMAT
    document["claims"] = dict(sorted(document["claims"].items()))
    return write_atomic(
        path, json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


def regressions(
    result: ClaimResult, document: dict[str, Any], baseline_path: str | Path, tolerance: float
) -> list[str]:
    """What got worse than recorded by more than ``tolerance`` (relative), one line each."""
    entry = document["claims"].get(baseline_key(result, baseline_path))
    if entry is None:
        return []
    recorded = entry.get("checks", [])
    found = []
    for check, old_check in zip(measured(result), recorded, strict=False):
        if check["kind"] != old_check.get("kind"):
            continue
        for index, (now, recorded_case) in enumerate(
            zip(check["cases"], old_check.get("cases", []), strict=False)
        ):
            where = (
                f"{check['kind']} case {index + 1}" if len(check["cases"]) > 1 else check["kind"]
            )
            before = {key: number_from_json(value) for key, value in recorded_case.items()}
            found += _case_regressions(where, now, before, tolerance)
    return found


def _case_regressions(
    where: str, now: dict[str, float], before: dict[str, float], tolerance: float
) -> list[str]:
    lines = []
    in_mode = "strongest" in before and "strongest" in now and "rank" not in before
    if in_mode and now["strongest"] != before["strongest"]:
        was, got = fmt(before["strongest"]), fmt(now["strongest"])
        lines.append(f"{where}: strongest channel {got}, was {was}")
    for key, higher_is_better in DIRECTIONS.items():
        if key not in now or key not in before:
            continue
        old, new = float(before[key]), float(now[key])
        if math.isnan(old):
            continue
        worse = (old - new) if higher_is_better else (new - old)
        allowed = max(ABSOLUTE_FLOOR, tolerance * abs(old)) if math.isfinite(old) else math.inf
        if math.isnan(new) or worse > allowed:
            lines.append(
                f"{where}: {key} {fmt(new)}, was {fmt(old)} in the baseline "
                f"(allowed {'down' if higher_is_better else 'up'} to {fmt(allowed)})"
            )
    return lines
