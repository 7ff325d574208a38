"""A claim's numbers as JUnit properties: CI systems that read ``--junitxml`` show them.

pytest writes an item's ``user_properties`` into its ``<testcase>`` as ``<property>`` elements
(the ``record_property`` mechanism); xdist carries them from the workers. Names are stable
(``drop.case1.channel15.drop``), so a CI system can chart one number across runs.
"""

from __future__ import annotations

from typing import Any

from probecheck.results import ClaimResult

__all__ = ["junit_properties"]


def _number(value: float) -> str:
    return f"{value:.6g}"


def _population_properties(kind: str, population: Any) -> list[tuple[str, str]]:
    """``drop.population.drop.lower`` …: the statistic over a set, its fraction and its null."""
    prefix = f"{kind}.population"
    found = [
        (f"{prefix}.set", population.set),
        (f"{prefix}.n", str(population.n)),
        (f"{prefix}.confidence", _number(population.confidence)),
        (f"{prefix}.fraction", _number(population.fraction)),
        (f"{prefix}.worst", ", ".join(population.worst)),
    ]
    for name, metric in population.metrics.items():
        found += [
            (f"{prefix}.{name}.{part}", _number(getattr(metric, part)))
            for part in ("mean", "lower", "upper")
        ]
    null = population.null
    if null is not None:
        for label, rank in null.rank.items():
            found.append((f"{prefix}.null.channel{label}.rank", str(rank)))
            found.append((f"{prefix}.null.channel{label}.effect", _number(null.effect_mean[label])))
            if null.random_effect is not None:
                value = null.random_effect.get(label, float("nan"))
                found.append((f"{prefix}.null.channel{label}.random_effect", _number(value)))
    return found


def junit_properties(result: ClaimResult, tile: str | None = None) -> list[tuple[str, str]]:
    """(name, value) pairs: verdict, model, every measured number, regressions and notes."""
    verdict = "error" if result.error else ("pass" if result.passed else "fail")
    model = result.model or {}
    found = [("claim", result.claim_id), ("verdict", verdict)]
    found += [
        (f"model.{key}", str(model[key])) for key in ("arch", "weights", "sha256") if key in model
    ]
    if result.error:
        found.append(("error", result.error.splitlines()[0]))
    for check in result.checks:
        found.append((f"{check.kind}.passed", str(check.passed).lower()))
        for index, case in enumerate(check.cases, start=1):
            prefix = f"{check.kind}.case{index}"
            found.append((prefix, case.describe()))
            for channel in case.channels:
                found += [
                    (f"{prefix}.channel{channel.label}.{name}", _number(value))
                    for name, value in channel.values.items()
                ]
            found += [
                (f"{prefix}.combined.{name}", _number(value))
                for name, value in case.combined.items()
            ]
        if check.population is not None:
            found += _population_properties(check.kind, check.population)
        if not check.passed:
            found.append((f"{check.kind}.passes_now", ", ".join(map(str, check.alternatives))))
    found += [(f"regression.{i}", line) for i, line in enumerate(result.regressions, start=1)]
    found += [(f"note.{i}", line) for i, line in enumerate(result.notes, start=1)]
    if tile:
        found.append(("tile", tile))
    return found
