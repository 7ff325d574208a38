"""The pytest plugin: ``pytest --probe-specs specs/`` collects each YAML spec as a file and each
claim as an item, so ``-k``, ``-x``, ``--lf``, ``-n`` and ``--junitxml`` work on claims.

Registered through the ``pytest11`` entry point. Importing it costs nothing heavy: the spec layer
is loaded when a spec is collected, torch only when a claim runs. Results travel from xdist
workers to the controller on the test reports, as JSON, so the summary and the report see all.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from probecheck.zoo.devices import device_name

if TYPE_CHECKING:
    from probecheck.checks import SpecInputs
    from probecheck.probe import Probe
    from probecheck.results import ClaimResult
    from probecheck.spec import Claim, Spec
    from probecheck.zoo.request import ModelRequest

SPEC_SUFFIXES = (".yaml", ".yml")
RESULT_ATTR = "probecheck_result"
SPEC_ERROR_ATTR = "probecheck_spec_error"
TILE_ATTR = "probecheck_tile"  # the tile's path, for the session's index.html (also from xdist)
DIAGNOSTIC_MODES = ("failed", "all", "none")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("probecheck", "interpretability claims (probecheck)")
    group.addoption(
        "--probe-specs",
        nargs="+",
        action="extend",
        default=None,
        metavar="PATH",
        help="YAML spec files or directories to check (alone, unless test paths are given too)",
    )
    group.addoption("--probe-arch", default=None, help="check every spec against this architecture")
    group.addoption(
        "--probe-weights",
        default=None,
        help="check every spec against these weights: deep-compression, random, DEFAULT, a file",
    )
    group.addoption("--probe-seed", type=int, default=None, help="seed for --probe-weights random")
    group.addoption(
        "--probe-preprocess",
        default=None,
        metavar="NAME",
        help="prepare images with this preset for every spec: caffe-squeezenet, imagenet "
        "(wins over a spec's preprocess: block and a checkpoint's own)",
    )
    group.addoption(
        "--probe-device",
        default="cpu",
        type=device_name,
        help="where the network runs: cpu (default), cuda, cuda:1, mps, or auto (cuda where "
        "available, else mps, else cpu)",
    )
    group.addoption(
        "--probe-report",
        default="probe-report",
        metavar="DIR",
        help="directory for diagnostic tiles, results.json and the HTML report index.html "
        "(default: probe-report/)",
    )
    group.addoption(
        "--probe-baseline",
        default=None,
        metavar="FILE",
        help="fail claims whose numbers got worse than those recorded in FILE",
    )
    group.addoption(
        "--probe-baseline-update",
        action="store_true",
        help="record this run's numbers of passing claims in the --probe-baseline FILE",
    )
    group.addoption(
        "--probe-baseline-tolerance",
        default="",
        metavar="METRIC=KIND:N,…",
        help="how far a number may move against its claim from the baseline, per metric: "
        "abs (absolute) or rel (a fraction of the recorded number), e.g. "
        "ratio=rel:0.1,drop=abs:0.05 (defaults: drops, IoU abs:0.05; ratio rel:0.2)",
    )
    group.addoption(
        "--probe-baseline-strict",
        action="store_true",
        help="fail where the baseline and the run do not cover each other: a claim, case or "
        "channel with no entry, an entry matching nothing (the setting for CI)",
    )
    group.addoption(
        "--probe-diagnostics",
        choices=DIAGNOSTIC_MODES,
        default="failed",
        help="which claims get a diagnostic tile: failed (default), all, none",
    )
    parser.addini("probe_specs", type="paths", help="spec files or directories checked by default")
    parser.addini("probe_arch", help="the architecture of the probe fixture's claims")
    parser.addini("probe_weights", help="the weights of the probe fixture's claims")


class _Session:
    """Per-process state: the spec roots, the results seen, and where reports go."""

    def __init__(self, config: pytest.Config, roots: list[Path]) -> None:
        self.config = config
        self.roots = roots
        self.results: list[ClaimResult] = []
        self.tiles: dict[tuple[str, str], str] = {}  # (spec, claim id) → its tile, for index.html
        option = config.option
        self.report_dir = Path(config.invocation_params.dir, option.probe_report)
        self.diagnostics: str = option.probe_diagnostics
        self.baseline_path = (
            Path(config.invocation_params.dir, option.probe_baseline)
            if option.probe_baseline
            else None
        )
        self.update_baseline: bool = option.probe_baseline_update
        self.strict: bool = option.probe_baseline_strict
        self.stale_claims: list[str] = []  # baseline entries of claims gone from their spec
        self.dropped = 0  # such entries dropped by --probe-baseline-update
        self.claims_meant = False  # the session was asked to check claims (set in configure)
        self.no_claims: str | None = None  # why no claim was checked, when none was
        self.collected_claims = 0
        self.deselected_claims = 0
        self.baseline: dict[str, Any] | None = None
        self.recorded: tuple[int, int] | None = None  # (this run's, the file's) when updating
        self.spec_errors = 0
        self.tolerance: Any = None
        if roots:
            self.tolerance, self.baseline = _read_baseline_options(config, self.baseline_path)

    def compare_with_baseline(self, result: ClaimResult) -> None:
        """Put the regressions from the baseline (and notes on its gaps) on ``result``."""
        if self.baseline is None or self.baseline_path is None or self.update_baseline:
            return
        from probecheck.report.baseline import compare

        found = compare(result, self.baseline, self.baseline_path, self.tolerance)
        result.regressions = found.regressions
        result.baseline_gaps = {"unrecorded": len(found.unrecorded), "stale": len(found.stale)}
        gaps = found.unrecorded + found.stale
        if self.strict:  # the gate holds the baseline to cover the run exactly
            result.regressions += [f"{gap} (--probe-baseline-strict)" for gap in gaps]
        else:
            result.notes = gaps

    def is_spec(self, path: Path) -> bool:
        """A YAML file named as a root, or one under a root directory that looks like a spec.

        Inside a directory, YAML files with no top-level key of a spec (CI configs, data) are not
        specs, so ``--probe-specs specs/ tests/`` does not trip over them; one with a spec's key
        or a close misspelling of one (``claim:``) is collected, and fails as it would when named
        directly, instead of being skipped in silence.
        """
        if path.suffix not in SPEC_SUFFIXES:
            return False
        resolved = path.resolve()
        if resolved in self.roots:
            return True
        inside = any(root in resolved.parents for root in self.roots)
        return inside and _looks_like_a_spec(resolved)

    def model_for(self, spec: Spec) -> ModelRequest:
        """The network ``spec`` is checked on and how its images are prepared: its own model
        under the session's options (:func:`probecheck.zoo.request.resolve_model`)."""
        from probecheck.zoo.request import Overrides, resolve_model

        option = self.config.option
        overrides = Overrides(
            arch=option.probe_arch,
            weights=option.probe_weights,
            seed=option.probe_seed,
            preprocess=option.probe_preprocess,
            device=option.probe_device,
        )
        return resolve_model(spec.model, overrides, base_dir=spec.base_dir, spec_path=spec.path)

    # hooks of this session (registered as a plugin in pytest_configure) ----------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather results, here or from xdist workers, where they arrive on the reports."""
        payload = getattr(report, RESULT_ATTR, None)
        if payload is not None and report.when == "call":
            from probecheck.results import ClaimResult

            self.results.append(ClaimResult.from_dict(json.loads(payload)))
            self.spec_errors += bool(getattr(report, SPEC_ERROR_ATTR, False))
            tile = getattr(report, TILE_ATTR, None)
            if tile:
                self.tiles[(self.results[-1].spec, self.results[-1].claim_id)] = tile
        if report.when == "call":  # claims checked from Python by the probe fixture
            from probecheck.fixture import results_of

            for result, tile in results_of(report):
                self.results.append(result)
                if tile:
                    self.tiles[(result.spec, result.claim_id)] = tile

    def forward_passes(self) -> int:
        return sum(result.forward_passes for result in self.results)

    def occluded_passes(self) -> int:
        return sum(result.occluded_passes for result in self.results)

    def sorted_results(self) -> list[ClaimResult]:
        """In spec and line order, whatever order xdist workers finished in."""
        return sorted(self.results, key=lambda r: (r.spec, r.line, r.claim_id))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not (self.roots or self.results) or hasattr(session.config, "workerinput"):
            return
        if self.baseline_path is not None and self.results:
            from probecheck.report.baseline import stale_claims, update_baseline

            known = _claim_ids_of(self.results)
            if self.baseline is not None:  # a spec file deleted or renamed: all its entries
                known |= _vanished_specs(self.baseline, self.baseline_path, self.roots)
            if self.update_baseline:
                _, recorded, total, self.dropped = update_baseline(
                    self.baseline_path, self.sorted_results(), known
                )
                self.recorded = (recorded, total)
            elif self.baseline is not None:
                self.stale_claims = stale_claims(self.baseline, self.baseline_path, known)
                if self.strict and self.stale_claims and session.exitstatus == 0:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._check_some_claim_ran(session)
        from probecheck.report.html import write_html_report
        from probecheck.report.results_json import write_results

        written = write_results(  # even with no results: an old file must not pass for this run's
            self.sorted_results(),
            self.report_dir / "results.json",
            forward_passes=self.forward_passes(),
            occluded_passes=self.occluded_passes(),
            models=_models_of(self.results),
        )
        compared = self.baseline is not None and not self.update_baseline
        write_html_report(  # index.html beside it, read from it
            written,
            tiles=self.tiles,
            baseline=self.baseline if compared else None,
            baseline_path=self.baseline_path if compared else None,
            tolerance=self.tolerance,
        )
        if self.spec_errors and session.exitstatus in (pytest.ExitCode.OK, 1):
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # 2, as for a spec that cannot load

    def _check_some_claim_ran(self, session: pytest.Session) -> None:
        """A session asked to check claims that checked none must not pass (exit 4, a usage
        error): an empty directory, a path with no spec, a ``-k`` that deselects every claim.

        Only where the claims were asked for: a ``-k`` with test paths next to the ini's
        ``probe_specs`` (which then join) is left alone when the specs did hold claims.
        """
        option = self.config.option
        if self.results or not self.claims_meant or option.collectonly:
            return
        if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # a collection error or a failure says more already
        shown = ", ".join(_shown(root) for root in self.roots)
        selection = bool(option.keyword or option.markexpr or getattr(option, "lf", False))
        if not option.probe_specs and selection:
            return  # the ini's specs, deselected by a selection meant for the tests
        if self.collected_claims > self.deselected_claims:
            return  # claims were selected, and stopped by something that reports itself
        if self.collected_claims:
            self.no_claims = (
                f"no claim checked: the selection (-k, -m, --lf …) deselected all "
                f"{self.deselected_claims} claim(s) of {shown}"
            )
            fix = "widen the selection, or drop --probe-specs to run tests alone"
        elif self.config.pluginmanager.hasplugin("dsession"):  # xdist: workers collected
            self.no_claims = f"no claim checked: {shown} holds no claim the selection kept"
            fix = "point --probe-specs at spec files or their directories; check -k/-m"
        else:
            self.no_claims = (
                f"no claim checked: {shown} holds no spec with claims (a .yaml/.yml file with a "
                "top-level claims: list)"
            )
            fix = "point --probe-specs at spec files or the directories holding them"
        self.no_claims += f"\n  fix: {fix}"
        session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected_claims += sum(isinstance(item, ClaimItem) for item in items)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """The candidate's identity on top of the log: arch, weights and their sha256."""
        if not self.roots:
            return []
        option = config.option
        if not (option.probe_arch or option.probe_weights):
            return ["probecheck: each spec's own model (listed after collection)"]
        from probecheck.zoo.fingerprint import describe_model

        weights = option.probe_weights or "each spec's own weights"
        arch = option.probe_arch or "(each spec's own)"
        seed = option.probe_seed if option.probe_seed is not None else 0
        lines = [f"probecheck model: {describe_model(arch, weights, seed)}"]
        return lines + _preprocess_header(option)

    def pytest_report_collectionfinish(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> list[str]:
        """Each spec's own model, where no override names one for all."""
        option = config.option
        if not self.roots or option.probe_arch or option.probe_weights:
            return []
        from probecheck.zoo.fingerprint import describe_model

        by_model: dict[str, list[str]] = {}
        for item in items:
            if isinstance(item, ClaimItem):
                spec = item.spec_file.spec
                line = describe_model(
                    spec.model.arch, spec.model.weights, spec.model.seed, spec.base_dir
                )
                names = by_model.setdefault(line, [])
                if _shown(item.path) not in names:
                    names.append(_shown(item.path))
        return [
            f"probecheck model: {line} ({', '.join(specs)})" for line, specs in by_model.items()
        ]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.no_claims is not None:
            terminalreporter.section("probecheck")
            terminalreporter.write_line(self.no_claims, red=True, bold=True)
        if self.results:
            from probecheck.report.summary import render_summary

            writer = terminalreporter._tw
            ci = bool(os.environ.get("CI"))
            color = bool(getattr(writer, "hasmarkup", False)) and not ci
            compared = self.baseline is not None and not self.update_baseline
            text = render_summary(
                self.sorted_results(),
                forward_passes=self.forward_passes(),
                occluded_passes=self.occluded_passes(),
                report_dir=_shown(self.report_dir),
                width=max(getattr(writer, "fullwidth", 120), 120),
                color=color,
                quiet=self.config.get_verbosity() < 0,
                ascii=ci,
                baseline_gaps=self._baseline_gaps() if compared else None,
            )
            terminalreporter.section("probecheck")
            terminalreporter.write(text if text.endswith("\n") else text + "\n")
        for key in self.stale_claims:
            verdict = "fails the run (--probe-baseline-strict)" if self.strict else "a note"
            terminalreporter.write_line(
                f"baseline: the entry {key} matches no claim of its spec: {verdict}; "
                "fix: record the baseline again (--probe-baseline-update drops it)",
                red=self.strict,
                yellow=not self.strict,
            )
        if self.recorded is not None and self.baseline_path is not None:  # never silently
            recorded, total = self.recorded
            skipped = len(self.results) - recorded
            not_recorded = f"; {skipped} failing claim(s) not recorded" if skipped else ""
            dropped = (
                f"; dropped {self.dropped} entr{'ies' if self.dropped != 1 else 'y'} of claims "
                "no longer in their spec"
                if self.dropped
                else ""
            )
            terminalreporter.write_line(
                f"baseline: recorded {recorded} passing claim(s) in "
                f"{_shown(self.baseline_path)} ({total} in the file){not_recorded}{dropped}"
            )

    def _baseline_gaps(self) -> tuple[int, int]:
        """Claims with something the baseline has no entry for; entries matching nothing."""
        unrecorded = sum(1 for r in self.results if r.baseline_gaps.get("unrecorded"))
        stale = sum(r.baseline_gaps.get("stale", 0) for r in self.results)
        return unrecorded, stale + len(self.stale_claims)


_KEY = pytest.StashKey[_Session]()
_TOP_LEVEL_KEY = re.compile(rb"""^(["']?)([A-Za-z_][\w.-]*)\1[ \t]*:(?:\s|$)""", re.MULTILINE)
_CLOSE = 0.8  # difflib ratio of a misspelling: claim/claims 0.91, images/imgaes 0.83


def _looks_like_a_spec(path: Path) -> bool:
    """A top-level key of a spec (``claims``, ``model``, ``images`` …) or a close misspelling
    of one (``claim``, ``Claims``, ``regoins``)."""
    import difflib

    from probecheck.spec.models import Spec

    try:
        text = path.read_bytes()
    except OSError:
        return True  # let collection report the unreadable file
    known = [info.alias or name for name, info in Spec.model_fields.items()]
    keys = [m.group(2).decode("ascii") for m in _TOP_LEVEL_KEY.finditer(text)]
    flow = _flow_mapping_keys(text)
    if flow is None:
        return True  # a flow mapping YAML cannot read: collection names the error
    for key in map(str.lower, keys + flow):
        if key in known or difflib.get_close_matches(key, known, n=1, cutoff=_CLOSE):
            return True
    return False


_DOCUMENT_START = re.compile(rb"\A(?:\s|#[^\n]*\n|%[^\n]*\n)*(?:---[ \t]*)?\s*")


def _flow_mapping_keys(text: bytes) -> list[str] | None:
    """The top-level keys of a document written as one flow mapping (``{claims: [...]}``,
    JSON-like, over one line or many), which no line-start key reveals; ``[]`` for a block
    document, ``None`` where such a document does not parse."""
    start = _DOCUMENT_START.match(text)
    if not text[start.end() if start else 0 :].startswith(b"{"):
        return []
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return [str(key) for key in document] if isinstance(document, dict) else []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "probe_claim: a probecheck claim from a YAML spec")
    given, selected = _given_specs(config)
    from_ini = [Path(p) for p in config.getini("probe_specs") or []]
    roots = [p.resolve() for p in (given or from_ini)]
    selected = selected if given else [str(p) for p in roots]
    if config.option.probe_baseline_update and not config.option.probe_baseline:
        raise pytest.UsageError("--probe-baseline-update needs --probe-baseline FILE to write to")
    state = _Session(config, roots)
    config.stash[_KEY] = state
    config.pluginmanager.register(state, "probecheck-session")
    from probecheck import fixture  # the probe fixture: claims written in Python

    config.pluginmanager.register(fixture, "probecheck-fixture")
    if not roots:
        return  # (xdist workers parse the original command line, so they decide alike)
    _keep_spec_files_on_one_worker(config)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if given and not explicit:
        config.args = selected  # `pytest --probe-specs specs/`: the claims alone
    elif given or not explicit:
        narrowed = _roots_narrowed_by(config.args, roots, config.invocation_params.dir)
        wanted = [arg for arg, root in zip(selected, roots, strict=True) if root not in narrowed]
        config.args += [arg for arg in wanted if arg not in config.args]
    state.claims_meant = bool(given) or not explicit


_FROZEN: list[bool] = []


def _freeze_once() -> None:
    """Once torch and the network are loaded, move every object so far out of the garbage
    collector's sight (``gc.freeze``): they live as long as the process, and pytest's full
    collections at the end of a run (``gc_collect_harder``) otherwise walk them all, ~0.5 s
    each with torch imported."""
    if not _FROZEN:
        import gc

        gc.freeze()
        _FROZEN.append(True)


def pytest_unconfigure(config: pytest.Config) -> None:
    stored = sys.modules.get("probecheck.disk_cache")  # imported only if claims ran
    if stored is not None:
        stored.release(config)


def _given_specs(config: pytest.Config) -> tuple[list[Path], list[str]]:
    """The ``--probe-specs`` paths, and what to collect for each: the path, or a node id.

    ``--probe-specs specs/face.yaml::fire6-eyes`` names one claim, as a test id does: its path
    is the root, the whole id is collected.
    """
    paths: list[Path] = []
    selected: list[str] = []
    for written in config.option.probe_specs or []:
        path, sep, rest = str(written).partition("::")
        absolute = Path(config.invocation_params.dir, path).resolve()
        paths.append(absolute)
        selected.append(f"{absolute}{sep}{rest}")
    return paths, selected


def _roots_narrowed_by(args: list[str], roots: list[Path], invoked_in: Path) -> set[Path]:
    """The roots that a path or node id given to pytest lies in (or is): pytest collects what it
    names, so the whole root is not added beside it (``pytest specs/face.yaml::fire6-eyes
    --probe-specs specs/`` runs that one claim)."""
    narrowed = set()
    for arg in args:
        path = Path(invoked_in, str(arg).partition("::")[0]).resolve()
        narrowed.update(root for root in roots if path == root or root in path.parents)
    return narrowed


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell each spec file which of its claims were selected: its activation plan covers them."""
    state = session.config.stash.get(_KEY, None)
    for item in session.items:
        if isinstance(item, ClaimItem):
            item.spec_file.selected.append(item.claim)
            if state is not None:
                state.collected_claims += 1
    if state is not None:
        state.collected_claims += state.deselected_claims


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = parent.config.stash.get(_KEY, None)
    if state is not None and state.is_spec(file_path):
        return SpecFile.from_parent(parent, path=file_path)
    return None


class ClaimFailed(Exception):
    """A claim measured and found not to hold."""

    def __init__(self, result: ClaimResult, tile: Path | None) -> None:
        super().__init__(result.claim_id)
        self.result = result
        self.tile = tile


class SpecFile(pytest.File):
    """One YAML spec; its claims are the items."""

    _spec: Spec | None = None
    _inputs: SpecInputs | None = None
    _needs: dict[tuple[str, ...], set[str]] | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The claims selected for this session (after -k, --lf…), set once collection ends.
        self.selected: list[Claim] = []

    def collect(self) -> Iterator[ClaimItem]:
        from probecheck.spec import load_spec
        from probecheck.validate import check_against_network

        self._spec = load_spec(self.path)
        model = self.config.stash[_KEY].model_for(self._spec)
        check_against_network(self._spec, model.arch, model.weights, overridden=model.overridden)
        for claim in self._spec.claims:
            yield ClaimItem.from_parent(self, name=claim.id, claim=claim)

    @property
    def spec(self) -> Spec:
        assert self._spec is not None
        return self._spec

    @property
    def inputs(self) -> SpecInputs:
        """Images and masks of this spec, made once for all its claims."""
        if self._inputs is None:
            from probecheck.checks import SpecInputs

            self._inputs = SpecInputs(self.spec)
        return self._inputs

    def prefetch(self, item: ClaimItem, probe: Probe) -> None:
        """Before ``item`` runs, run its inputs that are not cached yet, each once, through
        every layer that the claims of this file selected for the session ask of it.

        Outside xdist every selected claim runs in this process, so the first claim runs the
        inputs of all of them (batched where the probe batches); an xdist worker runs only the
        inputs of its claims.
        """
        from probecheck.checks import prefetch_claim
        from probecheck.plan import claim_needs, prefetch

        if self._needs is None:
            self._needs = claim_needs(self.selected)
            if not hasattr(self.config, "workerinput"):  # all selected claims run here
                prefetch(probe, self._needs, self.inputs.variant)
        prefetch_claim(item.claim, self._needs, probe, self.inputs)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        from probecheck.errors import ProbecheckError

        if isinstance(excinfo.value, ProbecheckError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # a collector's takes no style


class ClaimItem(pytest.Item):
    """One claim of a spec, checked on the real network when run."""

    def __init__(self, *, claim: Claim, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.claim = claim
        self.result: ClaimResult | None = None
        self.tile: Path | None = None
        self.add_marker("probe_claim")
        # with --dist loadgroup too, a spec's claims share a worker (and its activations)
        self.add_marker(pytest.mark.xdist_group(name=self.nodeid.split("::", 1)[0]))
        self.spec_error = False

    @property
    def spec_file(self) -> SpecFile:
        assert isinstance(self.parent, SpecFile)
        return self.parent

    def runtest(self) -> None:
        from probecheck.checks import evaluate_claim
        from probecheck.disk_cache import use_pytest_cache
        from probecheck.errors import ProbecheckError
        from probecheck.probe import shared_probe

        use_pytest_cache(self.config)  # activations and altered images kept between runs
        state = self.config.stash[_KEY]
        spec = self.spec_file.spec
        probe = None
        before = 0
        try:
            probe = shared_probe(**state.model_for(spec).load_arguments())
            _freeze_once()
            before = probe.forward_passes
            self.spec_file.prefetch(self, probe)
            self.result = evaluate_claim(self.claim, spec, probe, self.spec_file.inputs)
            self.result.forward_passes = probe.forward_passes - before  # the plan's included
            state.compare_with_baseline(self.result)
        except Exception as error:  # recorded for the summary and the JSON, then reported
            self.spec_error = isinstance(error, ProbecheckError)
            message = str(error) if self.spec_error else repr(error)
            self.result = _error_result(self.claim, spec, message)
            self.result.forward_passes = probe.forward_passes - before if probe else 0
            self._record_properties()
            raise
        if self.result.regressions:
            self.result.passed = False
        if state.diagnostics == "all" or (state.diagnostics == "failed" and not self.result.passed):
            from probecheck.render.tiles import write_claim_tile

            baseline = _on_baseline_model(
                state, self.claim, spec, self.spec_file.inputs, self.result
            )
            self.tile = write_claim_tile(
                self.result, state.report_dir, stem=self._tile_stem(), baseline=baseline
            )
        self._record_properties()
        if not self.result.passed:
            raise ClaimFailed(self.result, self.tile)

    def _record_properties(self) -> None:
        """The measured numbers as JUnit properties (``--junitxml``), as record_property does."""
        from probecheck.report.junit import junit_properties

        assert self.result is not None
        tile = _shown(self.tile) if self.tile is not None else None
        self.user_properties.extend(junit_properties(self.result, tile))

    def _tile_stem(self) -> str:
        """The spec's path from the root directory, ``specs.face``: unique within a session."""
        relative = (
            self.path.relative_to(self.config.rootpath)
            if self.path.is_relative_to(self.config.rootpath)
            else Path(self.path.name)
        )
        return ".".join(relative.with_suffix("").parts)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from probecheck.errors import ProbecheckError

        if isinstance(excinfo.value, ClaimFailed):
            text = excinfo.value.result.failure_message()
            if excinfo.value.tile is not None:
                text += f"\n  diagnostic tile: {_shown(excinfo.value.tile)}"
            return text
        if isinstance(excinfo.value, ProbecheckError):
            return f"{_shown(self.path)}:{self.claim.line}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        about = f": {self.claim.about}" if self.claim.about else ""
        return self.path, max(self.claim.line - 1, 0), f"claim {self.claim.id}{about}"


def _shown(path: Path) -> str:
    """A path relative to the current directory where that is shorter."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _error_result(claim: Claim, spec: Spec, message: str) -> ClaimResult:
    from probecheck.results import ClaimResult

    return ClaimResult(
        spec=str(spec.path or ""),
        claim_id=claim.id,
        layer=claim.layer,
        layer_path="",
        channels=claim.channel_labels,
        require=claim.require,
        checks=[],
        passed=False,
        about=claim.about or "",
        line=claim.line,
        error=message,
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if not isinstance(item, ClaimItem) or call.when != "call" or item.result is None:
        return
    report = outcome.get_result()
    setattr(report, RESULT_ATTR, json.dumps(item.result.to_dict()))
    setattr(report, SPEC_ERROR_ATTR, item.spec_error)
    if item.tile is not None:
        setattr(report, TILE_ATTR, str(item.tile))
    if item.tile is not None and item.config.pluginmanager.hasplugin("html"):
        import base64

        from pytest_html import extras  # attach the tile: base64, so the report keeps a copy

        tile = base64.b64encode(item.tile.read_bytes()).decode("ascii")
        report.extras = [*getattr(report, "extras", []), extras.png(tile, name=item.tile.name)]


# helpers of the session: options read once, kept apart from the hooks that use them ------------


def _read_baseline_options(
    config: pytest.Config, baseline_path: Path | None
) -> tuple[Any, dict[str, Any] | None]:
    """The tolerance and the baseline document; bad ones are usage errors, found at the start."""
    from probecheck.errors import ProbecheckError
    from probecheck.report.baseline import load_baseline, parse_tolerance

    try:
        tolerance = parse_tolerance(config.option.probe_baseline_tolerance)
        baseline = (
            load_baseline(baseline_path, missing_ok=config.option.probe_baseline_update)
            if baseline_path is not None
            else None
        )
        if config.option.probe_preprocess is not None:
            from probecheck.zoo.preprocess import preset

            preset(config.option.probe_preprocess)
    except ProbecheckError as error:
        raise pytest.UsageError(str(error)) from None
    return tolerance, baseline


def _on_baseline_model(state: Any, claim: Any, spec: Spec, inputs: Any, result: Any) -> Any:
    """The claim measured again on the model the baseline recorded, for the tile's side-by-side.

    Only for a claim that regressed, and only where that model is another one (its sha256
    differs) that loads here; otherwise None, with a note on ``result`` saying why its maps are
    not drawn (the regressed numbers are listed on the tile either way).
    """
    if not result.regressions or state.baseline is None or state.baseline_path is None:
        return None
    from probecheck.checks import evaluate_claim
    from probecheck.probe import shared_probe
    from probecheck.report.baseline import baseline_key

    entry = state.baseline.get("claims", {}).get(baseline_key(result, state.baseline_path), {})
    model = entry.get("model") if isinstance(entry, dict) else None
    if not isinstance(model, dict) or not model.get("arch") or not model.get("weights"):
        result.notes.append("the baseline records no model for this claim: its maps not drawn")
        return None
    if model.get("sha256") and model.get("sha256") == (result.model or {}).get("sha256"):
        return None  # the same weights: nothing to set beside the candidate's maps
    name = f"{model['arch']} / {model['weights']}"
    try:
        from dataclasses import replace

        request = replace(  # the session's preprocessing for the spec, on the baseline's model
            state.model_for(spec),
            arch=model["arch"],
            weights=str(model["weights"]),
            seed=int(model.get("seed") or 0),
        )
        probe = shared_probe(**request.load_arguments())
        if model.get("sha256") and probe.identity.sha256 != model["sha256"]:
            result.notes.append(
                f"the baseline's model {name} has other weights here than when it was "
                "recorded: its maps not drawn"
            )
            return None
        return evaluate_claim(claim, spec, probe, inputs)
    except Exception as error:  # a picture is not worth failing the run for; say why it is absent
        first = str(error).splitlines()[0] if str(error) else repr(error)
        result.notes.append(
            f"the baseline's model {name} did not load here ({first}): maps not drawn"
        )
        return None


def _preprocess_header(option: Any) -> list[str]:
    if option.probe_preprocess:
        return [f"probecheck preprocessing: {option.probe_preprocess} (--probe-preprocess)"]
    return [
        "probecheck preprocessing: a spec's preprocess: block, else the checkpoint's own, "
        "else that of the spec's model"
    ]


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


def _models_of(results: list[ClaimResult]) -> list[dict[str, Any]]:
    """The distinct models the results were measured on, for the top of results.json."""
    seen: dict[str, dict[str, Any]] = {}
    for result in results:
        if result.model:
            seen.setdefault(json.dumps(result.model, sort_keys=True), result.model)
    return [seen[key] for key in sorted(seen)]


def _keep_spec_files_on_one_worker(config: pytest.Config) -> None:
    """Under ``-n N``, send all claims of a spec file to one worker (``--dist loadfile``).

    xdist's default ``load`` spreads single items, so two workers would each run the forward
    passes of one spec. A ``--dist`` the user chose is left alone (``loadgroup`` also keeps a
    spec together: its claims carry an ``xdist_group`` mark).
    """
    if getattr(config.option, "dist", "no") != "load" or getattr(config.option, "distload", False):
        return
    written = [
        *config.invocation_params.args,
        *config.getini("addopts"),
        *os.environ.get("PYTEST_ADDOPTS", "").split(),
    ]
    if any(str(arg) == "--dist" or str(arg).startswith("--dist=") for arg in written):
        return
    config.option.dist = "loadfile"
