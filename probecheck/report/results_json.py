"""Every claim's result as one JSON document: for CI artifacts, baselines and later reports.

Written atomically, so an interrupted run or a parallel reader never sees half a file. Values
that JSON cannot hold (nan, ±inf) are encoded by :meth:`ClaimResult.to_dict` and decoded by
:meth:`ClaimResult.from_dict`, so the document is strict JSON that any tool can read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probecheck import __version__
from probecheck.atomic import write_atomic
from probecheck.results import ClaimResult

__all__ = ["document_text", "read_results", "results_document", "write_results"]


def results_document(
    results: list[ClaimResult],
    *,
    model: dict | None = None,
    models: list[dict] | None = None,
    forward_passes: int = 0,
    occluded_passes: int = 0,
    written: Sequence[dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The JSON-ready document: version, time, forward passes, every claim and the tallies.

    ``models`` are the identities (arch, weights, sha256, preprocessing) the claims ran on.
    ``written``: for each result, its :meth:`ClaimResult.to_dict` where the caller has it
    already (a call report carries it), or None; it is not made again.
    """
    document: dict[str, Any] = {
        "probecheck": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "forward_passes": int(forward_passes),
        "occluded_passes": int(occluded_passes),
    }
    if model is not None:
        document["model"] = model
    if models is not None:
        document["models"] = models
    given = written if written is not None else [None] * len(results)
    document["claims"] = [
        plain if plain is not None else result.to_dict()
        for result, plain in zip(results, given, strict=True)
    ]
    document["passed"] = sum(1 for r in results if r.passed)
    document["failed"] = sum(1 for r in results if not r.passed)
    document["errors"] = sum(1 for r in results if r.error)  # counted among "failed" too
    document["noted"] = sum(1 for r in results if r.notes)  # e.g. no baseline entry
    return document


def write_results(
    results: list[ClaimResult],
    path: str | Path,
    *,
    model: dict | None = None,
    models: list[dict] | None = None,
    forward_passes: int = 0,
    occluded_passes: int = 0,
) -> Path:
    """Write the results document to ``path`` atomically (temp file in the same dir, replace)."""
    document = results_document(
        results,
        model=model,
        models=models,
        forward_passes=forward_passes,
        occluded_passes=occluded_passes,
    )
    return write_atomic(path, document_text(document))


def document_text(document: dict[str, Any]) -> str:
    """The document as JSON text, one top-level key a line and **one claim a line**.

    A claim changed between two runs is one changed line in a diff, ``grep`` finds a claim
    whole, and each line is written by the json module's C encoder: ``indent=`` would switch to
    its pure-Python one, about six times slower on a suite of hundreds of claims.
    """

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    lines = []
    for key, value in document.items():
        if key == "claims" and value:
            claims = ",\n    ".join(dumps(claim) for claim in value)
            lines.append(f'  "claims": [\n    {claims}\n  ]')
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def read_results(path: str | Path) -> list[ClaimResult]:
    """The results of a document written by :func:`write_results` (without their evidence)."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not a probecheck results file: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("claims"), list):
        raise ValueError(f"{source}: not a probecheck results file (no 'claims' list)")
    return [ClaimResult.from_dict(claim) for claim in document["claims"]]
