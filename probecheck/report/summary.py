"""The table that ends a probecheck session: every claim, what it measured, and its verdict.

Rendered to a string (the pytest plugin writes it through its terminal writer, which knows
about ``-q`` and colour). Cells are rich ``Text``, never markup, so claim ids and phrases with
brackets (``strongest [22] ∈ [36]``) print as written.
"""

from __future__ import annotations

import io
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from probecheck.results import ClaimResult

__all__ = ["claim_name", "render_summary", "summary_line"]


def claim_name(result: ClaimResult) -> str:
    """``face::fire6-eyes``: the spec's stem and the claim id."""
    stem = Path(result.spec).stem if result.spec else "?"
    return f"{stem}::{result.claim_id}"


def _verdict(result: ClaimResult) -> Text:
    if result.error:
        return Text("ERROR", style="bold yellow")
    if result.passed:
        return Text("PASS", style="bold green")
    return Text("FAIL", style="bold red")


def _measured(result: ClaimResult, ascii: bool) -> Text:
    """One line per check, the failing ones in red; or the error's first line."""
    if result.error or not result.checks:
        return Text(result.measured(ascii=ascii))
    text = Text()
    for i, check in enumerate(result.checks):
        if i:
            text.append("\n")
        line = f"{check.kind}: {check.headline(ascii=ascii)}"
        text.append(line, style=None if check.passed else "red")
    prefix = f"{result.claim_id}: "  # the row names the claim already
    for line in result.regressions:
        text.append(f"\nregressed: {line.removeprefix(prefix)}", style="red")
    for line in result.notes:
        text.append(f"\nnote: {line}", style="yellow")
    return text


def _channels(result: ClaimResult) -> str:
    """The claimed channels; for a ``strongest: {in: …}`` claim, the channels it names."""
    if result.channels:
        return ", ".join(str(c) for c in result.channels)
    named = [c for check in result.checks for c in (check.thresholds.get("in") or [])]
    return ", ".join(str(c) for c in dict.fromkeys(named)) or "-"


def _table(results: list[ClaimResult], color: bool, ascii: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAVY if color else box.ASCII, header_style="bold")
    table.add_column("claim", no_wrap=True)
    table.add_column("layer", no_wrap=True)
    table.add_column("channels")
    table.add_column("measured vs required", overflow="fold", ratio=1)
    table.add_column("verdict", no_wrap=True)
    for result in results:
        table.add_row(
            Text(claim_name(result)),
            Text(result.layer),
            Text(_channels(result)),
            _measured(result, ascii),
            _verdict(result),
        )
    return table


def summary_line(
    results: list[ClaimResult],
    *,
    forward_passes: int,
    report_dir: str | None,
    occluded_passes: int = 0,
    baseline_gaps: tuple[int, int] | None = None,
    ascii: bool = False,
) -> Text:
    """``N claims: P passed, F failed · K forward passes · report: DIR``; occlusion sweeps'
    patched inputs are shown apart, since they are not distinct inputs of the specs.

    ``baseline_gaps`` (when compared with a baseline): the claims with something the baseline
    has no entry for, and the baseline's entries that match nothing in the run.
    """
    sep = " | " if ascii else " · "  # plain ASCII for CI logs
    errors = sum(1 for r in results if r.error)
    passed = sum(1 for r in results if r.passed and not r.error)
    failed = len(results) - passed - errors
    text = Text(f"{len(results)} claim{'s' if len(results) != 1 else ''}: ")
    text.append(f"{passed} passed", style="green" if passed else None)
    text.append(", ")
    text.append(f"{failed} failed", style="red" if failed else None)
    if errors:
        text.append(", ")
        text.append(f"{errors} error{'s' if errors != 1 else ''}", style="yellow")
    if baseline_gaps is not None:
        unrecorded, stale = baseline_gaps
        text.append(f"{sep}baseline: ")
        text.append(
            f"{unrecorded} claim{'s' if unrecorded != 1 else ''} with no entry",
            style="yellow" if unrecorded else None,
        )
        text.append(", ")
        text.append(
            f"{stale} entr{'ies' if stale != 1 else 'y'} matching nothing",
            style="yellow" if stale else None,
        )
    text.append(f"{sep}{forward_passes} forward passes")
    if occluded_passes:
        text.append(f" (+ {occluded_passes} patched inputs of occlusion sweeps)")
    if report_dir:
        text.append(f"{sep}report: {report_dir}")
    return text


def render_summary(
    results: list[ClaimResult],
    *,
    forward_passes: int,
    report_dir: str | None,
    occluded_passes: int = 0,
    width: int = 120,
    color: bool = True,
    quiet: bool = False,
    ascii: bool = False,
    baseline_gaps: tuple[int, int] | None = None,
) -> str:
    """The summary as text to print: the table (unless ``quiet``) and the closing line.

    With ``color=False`` the text holds no ANSI escape at all and the table uses ASCII boxes,
    for logs and terminals that show escapes literally; ``ascii`` (CI logs) writes the
    thresholds' relations and marks in plain ASCII (``>=``, ``[x]``).
    """
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    if results and not quiet:
        console.print(_table(results, color, ascii))
    console.print(
        summary_line(
            results,
            forward_passes=forward_passes,
            report_dir=report_dir,
            occluded_passes=occluded_passes,
            baseline_gaps=baseline_gaps,
            ascii=ascii,
        ),
        soft_wrap=True,
    )
    return buffer.getvalue()
