"""The baseline gate's session side, registered only with ``--probe-baseline FILE``: at the end of
the run, record the passing claims' numbers (``--probe-baseline-update``), or find the entries of
claims that are gone from their spec (a claim removed, a spec file deleted or renamed) — counted,
and failing the run under ``--probe-baseline-strict``. Each claim is held to the baseline as it
runs (:class:`probecheck.runner.BaselineGate`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from probecheck.plugin.session import Session, shown

if TYPE_CHECKING:
    from probecheck.results import ClaimResult


class BaselinePlugin:
    """Recording, and the stale entries of a compared run."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dropped = 0  # entries of claims gone from their spec, dropped while recording
        self.recorded: tuple[int, int] | None = None  # (this run's, the file's) when recording
        self.refused = ""  # why recording wrote nothing (another model's baseline)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = self.session
        if not state.results or hasattr(session.config, "workerinput"):
            return
        try:
            gate = state.read_gate()  # claims from probe.check, perhaps on xdist workers
        except pytest.UsageError:
            return  # the claims that needed it failed saying why
        if gate is None:
            return
        from probecheck.report.baseline import stale_claims, update_baseline

        known = _claim_ids_of(state.results)
        if gate.document is not None:  # a spec file deleted or renamed: all its entries
            known |= _vanished_specs(gate.document, gate.path, state.roots)
        if gate.updating:
            from probecheck.errors import ProbecheckError

            try:
                _, recorded, total, self.dropped = update_baseline(
                    gate.path, state.sorted_results(), known
                )
            except ProbecheckError as error:  # the file is left as it was
                self.refused = str(error)
                session.exitstatus = pytest.ExitCode.USAGE_ERROR
                return
            self.recorded = (recorded, total)
        elif gate.document is not None:
            state.stale_claims = stale_claims(gate.document, gate.path, known)
            if gate.strict and state.stale_claims and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        state, gate = self.session, self.session.gate
        if gate is None:  # nothing was held to the baseline: no claim ran
            return
        for key in state.stale_claims:
            verdict = "fails the run (--probe-baseline-strict)" if gate.strict else "a note"
            terminalreporter.write_line(
                f"baseline: the entry {key} matches no claim of its spec: {verdict}; "
                "fix: record the baseline again (--probe-baseline-update drops it)",
                red=gate.strict,
                yellow=not gate.strict,
            )
        if self.refused:
            terminalreporter.write_line(f"baseline: {self.refused}", red=True)
        if self.recorded is not None:  # never silently
            recorded, total = self.recorded
            skipped = len(state.results) - recorded
            not_recorded = f"; {skipped} failing claim(s) not recorded" if skipped else ""
            dropped = (
                f"; dropped {self.dropped} entr{'ies' if self.dropped != 1 else 'y'} of claims "
                "no longer in their spec"
                if self.dropped
                else ""
            )
            terminalreporter.write_line(
                f"baseline: recorded {recorded} passing claim(s) in "
                f"{shown(gate.path)} ({total} in the file){not_recorded}{dropped}"
            )


def _claim_ids_of(results: list[ClaimResult]) -> dict[str, set[str]]:
    """Every claim id of each spec the results came from, selected or not (specs re-read: under
    xdist the controller collected none)."""
    from probecheck.errors import ProbecheckError
    from probecheck.spec import load_spec

    known: dict[str, set[str]] = {}
    for spec in sorted({r.spec for r in results if r.spec}):
        try:
            known[spec] = {claim.id for claim in load_spec(spec).claims}
        except (ProbecheckError, OSError):
            continue  # changed under us: its entries are left as they are
    return known


def _vanished_specs(
    baseline: dict[str, Any], baseline_path: Path, roots: list[Path]
) -> dict[str, set[str]]:
    """Spec files the baseline has entries for that no longer exist under the session's spec
    roots (deleted or renamed): none of their claims is known any more, so every entry of theirs
    matches nothing — counted, and failed under --probe-baseline-strict."""
    base = Path(os.path.abspath(baseline_path)).parent
    gone: dict[str, set[str]] = {}
    for key in baseline.get("claims", {}):
        spec = Path(os.path.normpath(base / key.rpartition("::")[0]))
        under = any(spec == root or root in spec.parents for root in roots)
        if under and not spec.exists():
            gone[str(spec)] = set()
    return gone
