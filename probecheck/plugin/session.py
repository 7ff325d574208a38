"""The session's own state and reports: the spec roots, the results gathered (here or from xdist
workers), the summary table, ``results.json`` and ``index.html``, and the exit status when a run
asked to check claims checked none or hit a broken spec."""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from probecheck.runner import BaselineGate, RunSettings

if TYPE_CHECKING:
    from probecheck.results import ClaimResult
    from probecheck.spec import Spec
    from probecheck.zoo.request import ModelRequest


MODELS_KEPT = 256
"""Model requests remembered before those of specs no longer alive are dropped."""


class Session:
    """Per-process state: the spec roots, the results seen, and where reports go."""

    def __init__(self, config: pytest.Config, roots: list[Path], gate: BaselineGate | None) -> None:
        self.config = config
        self.roots = roots
        self.results: list[ClaimResult] = []
        #: each result's plain form as its report carried it (by ``id``): results.json reuses it
        self.written: dict[int, dict[str, Any]] = {}
        self.tiles: dict[tuple[str, str], str] = {}  # (spec, claim id) → its tile, for index.html
        option = config.option
        self.report_dir = Path(config.invocation_params.dir, option.probe_report)
        self.diagnostics: str = option.probe_diagnostics
        self.gate = gate
        #: the baseline's gaps beyond the claims run: entries of claims gone from their spec
        self.stale_claims: list[str] = []
        self.claims_meant = False  # the session was asked to check claims (set in configure)
        self.no_claims: str | None = None  # why no claim was checked, when none was
        self.collected_claims = 0
        self.deselected_claims = 0
        self.skipped_claims = 0  # a skip marker or pytest.skip: no result, so not checked
        self.spec_errors = 0
        #: spec files that did not load (collection errors), by node id
        self.broken_specs: set[str] = set()
        self.spec_files: list[Any] = []  # the spec files with selected claims, in run order
        #: each spec's model request, by ``id`` (with a weak reference to the spec, so that the
        #: specs ``probe.check`` makes call after call are not kept): asked for every claim
        self._models: dict[int, tuple[weakref.ref[Spec], ModelRequest]] = {}

    def read_gate(self) -> BaselineGate | None:
        """The baseline gate, read now where no spec root read it at the start (claims from
        ``probe.check`` only, or an xdist controller that ran none): a missing or unreadable
        baseline is a ``pytest.UsageError``."""
        if self.gate is None and not self.roots:
            from probecheck.plugin.options import read_gate

            self.gate = read_gate(self.config)
        return self.gate

    @property
    def settings(self) -> RunSettings:
        """What every claim of the session is checked with (``runner.check_claim``)."""
        return RunSettings(self.model_for, self.report_dir, self.diagnostics, self.gate)

    def is_spec(self, path: Path) -> bool:
        """A YAML file named as a root, or one under a root directory that looks like a spec.

        Inside a directory, YAML files with no top-level key of a spec (CI configs, data) are not
        specs, so ``--probe-specs specs/ tests/`` does not trip over them; one with a spec's key
        or a close misspelling of one (``claim:``) is collected, and fails as it would when named
        directly, instead of being skipped in silence.
        """
        from probecheck.plugin import collect

        if path.suffix not in collect.SPEC_SUFFIXES:
            return False
        resolved = path.resolve()
        if resolved in self.roots:
            return True
        inside = any(root in resolved.parents for root in self.roots)
        return inside and collect.looks_like_a_spec(resolved)

    def model_for(self, spec: Spec) -> ModelRequest:
        """The network ``spec`` is checked on and how its images are prepared: its own model
        under the session's options (:func:`probecheck.zoo.request.resolve_model`), resolved
        once per spec."""
        known = self._models.get(id(spec))
        if known is not None and known[0]() is spec:
            return known[1]
        from probecheck.zoo.request import Overrides, resolve_model

        option = self.config.option
        overrides = Overrides(
            arch=option.probe_arch,
            weights=option.probe_weights,
            seed=option.probe_seed,
            preprocess=option.probe_preprocess,
            device=option.probe_device,
        )
        request = resolve_model(spec.model, overrides, base_dir=spec.base_dir, spec_path=spec.path)
        if len(self._models) >= MODELS_KEPT:  # forget the specs that are gone
            self._models = {k: v for k, v in self._models.items() if v[0]() is not None}
        self._models[id(spec)] = (weakref.ref(spec), request)
        return request

    # hooks of this session (registered as a plugin in pytest_configure) ----------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather results, here or from xdist workers, where they arrive on the reports."""
        from probecheck.plugin import collect

        if report.skipped and "probe_claim" in report.keywords:
            self.skipped_claims += 1
        payload = getattr(report, collect.RESULT_ATTR, None)
        if payload is not None and report.when == "call":
            from probecheck.results import ClaimResult

            data = json.loads(payload) if isinstance(payload, str) else payload
            self.results.append(ClaimResult.from_dict(data))
            self.written[id(self.results[-1])] = data
            self.spec_errors += bool(getattr(report, collect.SPEC_ERROR_ATTR, False))
            tile = getattr(report, collect.TILE_ATTR, None)
            if tile:
                self.tiles[(self.results[-1].spec, self.results[-1].claim_id)] = tile
        if report.when == "call":  # claims checked from Python by the probe fixture
            from probecheck.fixture import RESULTS_ATTR, results_of

            if not getattr(report, RESULTS_ATTR, None):
                return  # a test that checked none: nothing to read (nor numpy to import)
            for result, tile in results_of(report):
                self.results.append(result)
                if tile:
                    self.tiles[(result.spec, result.claim_id)] = tile

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A spec file that does not load. Serially its collection error stops the run (exit 2)
        before any claim; under xdist (whose workers report it here) or with
        ``--continue-on-collection-errors`` the other specs' claims run, and the run must still
        exit 2, not 1 (or 0) from their verdicts."""
        if report.failed and self.is_spec(self.config.rootpath / report.nodeid.split("::")[0]):
            self.broken_specs.add(report.nodeid)

    def forward_passes(self) -> int:
        return sum(result.forward_passes for result in self.results)

    def occluded_passes(self) -> int:
        return sum(result.occluded_passes for result in self.results)

    def sorted_results(self) -> list[ClaimResult]:
        """In spec and line order, whatever order xdist workers finished in."""
        return sorted(self.results, key=lambda r: (r.spec, r.line, r.claim_id))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: what it collected goes to the controller
            workeroutput[_CLAIMS_COUNTED] = [self.collected_claims, self.deselected_claims]
            return
        if not (self.roots or self.results):
            return
        self._check_some_claim_ran(session)
        from probecheck.atomic import write_atomic
        from probecheck.report.html import write_html_report
        from probecheck.report.results_json import document_text, results_document

        results = self.sorted_results()
        document = results_document(
            results,
            forward_passes=self.forward_passes(),
            occluded_passes=self.occluded_passes(),
            models=_models_of(self.results),
            written=[self.written.get(id(result)) for result in results],
        )
        # even with no results: an old file must not pass for this run's
        write_atomic(self.report_dir / "results.json", document_text(document))
        compared = self.gate is not None and self.gate.compares
        write_html_report(  # index.html beside it: the same document
            self.report_dir / "index.html",
            document,
            results=results,
            tiles=self.tiles,
            baseline=self.gate.document if compared else None,  # type: ignore[union-attr]
            baseline_path=self.gate.path if compared else None,  # type: ignore[union-attr]
            tolerance=self.gate.tolerance if self.gate is not None else None,
        )
        broken = self.spec_errors or self.broken_specs
        if broken and session.exitstatus in (pytest.ExitCode.OK, 1):
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # 2, as for a spec that cannot load

    def _check_some_claim_ran(self, session: pytest.Session) -> None:
        """A session asked to check claims that checked none must not pass (exit 4, a usage
        error): an empty directory, a path with no spec, a ``-k`` that deselects every claim, a
        skip (marker or conftest hook) on every selected claim.

        Only where the claims were asked for: a ``-k`` with test paths next to the ini's
        ``probe_specs`` (which then join) is left alone when the specs did hold claims.
        """
        option = self.config.option
        if self.results or not self.claims_meant or option.collectonly:
            return
        if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # a collection error or a failure says more already
        roots = ", ".join(shown(root) for root in self.roots)
        selection = bool(option.keyword or option.markexpr or getattr(option, "lf", False))
        if not option.probe_specs and selection:
            return  # the ini's specs, deselected by a selection meant for the tests
        if self.skipped_claims:  # selected, and every one skipped: the gate checked nothing
            self.no_claims = (
                f"no claim checked: all {self.skipped_claims} selected claim(s) of {roots} were "
                "skipped"
            )
            fix = "remove the skip (a skip marker or a conftest hook), or drop --probe-specs"
        elif self.collected_claims > self.deselected_claims:
            return  # claims were selected, and stopped by something that reports itself
        elif self.collected_claims:
            self.no_claims = (
                f"no claim checked: the selection (-k, -m, --lf …) deselected all "
                f"{self.deselected_claims} claim(s) of {roots}"
            )
            fix = "widen the selection, or drop --probe-specs to run tests alone"
        elif self.config.pluginmanager.hasplugin("dsession"):  # xdist: workers collected
            self.no_claims = f"no claim checked: {roots} holds no claim the selection kept"
            fix = "point --probe-specs at spec files or their directories; check -k/-m"
        else:
            self.no_claims = (
                f"no claim checked: {roots} holds no spec with claims (a .yaml/.yml file with a "
                "top-level claims: list)"
            )
            fix = "point --probe-specs at spec files or the directories holding them"
        self.no_claims += f"\n  fix: {fix}"
        session.exitstatus = pytest.ExitCode.USAGE_ERROR

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """An xdist worker's claims collected and deselected: every worker collects them all,
        so the controller, which collects none, says what a serial run says when none is left."""
        counted = getattr(node, "workeroutput", {}).get(_CLAIMS_COUNTED)
        if counted:
            self.collected_claims = max(self.collected_claims, counted[0])
            self.deselected_claims = max(self.deselected_claims, counted[1])

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        from probecheck.plugin.collect import ClaimItem

        self.deselected_claims += sum(isinstance(item, ClaimItem) for item in items)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.no_claims is not None:
            terminalreporter.section("probecheck")
            terminalreporter.write_line(self.no_claims, red=True, bold=True)
        if self.results:
            from probecheck.report.summary import render_summary

            writer = terminalreporter._tw
            ci = bool(os.environ.get("CI"))
            color = bool(getattr(writer, "hasmarkup", False)) and not ci
            compared = self.gate is not None and self.gate.compares
            text = render_summary(
                self.sorted_results(),
                forward_passes=self.forward_passes(),
                occluded_passes=self.occluded_passes(),
                report_dir=shown(self.report_dir),
                width=max(getattr(writer, "fullwidth", 120), 120),
                color=color,
                quiet=self.config.get_verbosity() < 0,
                ascii=ci,
                baseline_gaps=self._baseline_gaps() if compared else None,
            )
            terminalreporter.section("probecheck")
            terminalreporter.write(text if text.endswith("\n") else text + "\n")

    def _baseline_gaps(self) -> tuple[int, int]:
        """Claims with something the baseline has no entry for; entries matching nothing."""
        unrecorded = sum(1 for r in self.results if r.baseline_gaps.get("unrecorded"))
        stale = sum(r.baseline_gaps.get("stale", 0) for r in self.results)
        return unrecorded, stale + len(self.stale_claims)


KEY = pytest.StashKey[Session]()
_CLAIMS_COUNTED = "probecheck_claims_counted"  # in an xdist worker's output: collected, deselected


def shown(path: Path) -> str:
    """A path relative to the current directory where that is shorter."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _models_of(results: list[ClaimResult]) -> list[dict[str, Any]]:
    """The distinct models the results were measured on, for the top of results.json."""
    seen: dict[str, dict[str, Any]] = {}
    for result in results:
        if result.model:
            seen.setdefault(json.dumps(result.model, sort_keys=True), result.model)
    return [seen[key] for key in sorted(seen)]
