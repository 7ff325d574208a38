"""Collection and running: a YAML spec is a pytest file, each claim an item.

A file under a ``--probe-specs`` directory is a spec when its top-level keys are a spec's (or a
close misspelling of one); a claim runs through :func:`probecheck.runner.check_claim`, and its
result travels on the call report (as JSON from an xdist worker), so that the session sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from probecheck.plugin.session import KEY, shown

if TYPE_CHECKING:
    from probecheck.checks import SpecInputs
    from probecheck.probe import Probe
    from probecheck.results import ClaimResult
    from probecheck.spec import Claim, Spec

SPEC_SUFFIXES = (".yaml", ".yml")
#: on a claim's call report: its result as plain data (as JSON text from an xdist worker),
#: whether a spec error stopped it, its tile
RESULT_ATTR = "probecheck_result"
SPEC_ERROR_ATTR = "probecheck_spec_error"
TILE_ATTR = "probecheck_tile"


_TOP_LEVEL_KEY = re.compile(rb"""^(["']?)([A-Za-z_][\w.-]*)\1[ \t]*:(?:\s|$)""", re.MULTILINE)
_CLOSE = 0.8  # difflib ratio of a misspelling: claim/claims 0.91, images/imgaes 0.83


def looks_like_a_spec(path: Path) -> bool:
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


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = parent.config.stash.get(KEY, None)
    if state is not None and state.is_spec(file_path):
        return SpecFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell each spec file which of its claims were selected: its activation plan covers them."""
    state = session.config.stash.get(KEY, None)
    for item in session.items:
        if isinstance(item, ClaimItem):
            item.spec_file.selected.append(item.claim)
            if state is not None:
                state.collected_claims += 1
                if item.spec_file not in state.spec_files:
                    state.spec_files.append(item.spec_file)
    if state is not None:
        state.collected_claims += state.deselected_claims


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
    _prefetched: tuple[Probe, int] | None = None  # the probe the file's inputs ran on, its drops

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The claims selected for this session (after -k, --lf…), set once collection ends.
        self.selected: list[Claim] = []

    def collect(self) -> Iterator[ClaimItem]:
        from probecheck.disk_cache import use_pytest_cache
        from probecheck.runner import freeze_long_lived
        from probecheck.spec import load_spec
        from probecheck.validate import check_against_network

        use_pytest_cache(self.config)  # layer tables kept between runs: no torch to validate
        self._spec = load_spec(self.path)
        model = self.config.stash[KEY].model_for(self._spec)
        check_against_network(self._spec, model.arch, model.weights, overridden=model.overridden)
        freeze_long_lived()  # the spec, and torch where the layer table needed it: kept
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
        from probecheck.plan import prefetch

        if not hasattr(self.config, "workerinput"):  # all selected claims run here
            if self._prefetched is None:
                before = probe.cache_drops
                needs = self._with_shared_photos()
                prefetch(probe, needs, lambda key: key[0].inputs.variant(key[1]))
                self._prefetched = (probe, before)
            if self._prefetched == (probe, probe.cache_drops):
                return  # every selected claim's inputs ran, and none was dropped since
        prefetch_claim(item.claim, self.needs, probe, self.inputs)

    @property
    def needs(self) -> dict[tuple[str, ...], set[str]]:
        """The inputs the selected claims read, and the layers asked of each (made once)."""
        if self._needs is None:
            from probecheck.plan import claim_needs

            self._needs = claim_needs(self.selected)
        return self._needs

    def _with_shared_photos(self) -> dict[tuple[SpecFile, Any], set[str]]:
        """This file's inputs, and the layers that the session's other spec files on the same
        network ask of the same photos (told apart by their pixels): a photo two files read runs
        once, through every layer either asks, not once per file. Their other inputs wait for
        their own first claim, so the memory cache holds one file's inputs at a time."""
        from probecheck.zoo.images import image_digest

        needs: dict[tuple[SpecFile, Any], set[str]] = {(self, k): v for k, v in self.needs.items()}
        state = self.config.stash[KEY]
        try:
            mine = state.model_for(self.spec).load_arguments()
            photos = {image_digest(self.inputs.variant(k)) for k in self.needs if k[0] == "image"}
        except Exception:  # its claims report it
            return needs
        for other in state.spec_files:
            if other is self:
                continue
            try:
                if state.model_for(other.spec).load_arguments() != mine:
                    continue
                for key, layers in other.needs.items():
                    if key[0] == "image" and image_digest(other.inputs.variant(key)) in photos:
                        needs[(other, key)] = layers
            except Exception:  # its own claims report it
                continue
        return needs

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
        from probecheck.disk_cache import use_pytest_cache
        from probecheck.runner import check_claim

        use_pytest_cache(self.config)  # activations and altered images kept between runs
        spec_file = self.spec_file
        checked = check_claim(
            self.claim,
            spec_file.spec,
            spec_file.inputs,
            self.config.stash[KEY].settings,
            tile_stem=self._tile_stem(),
            prefetch=lambda probe: spec_file.prefetch(self, probe),
        )
        self.result, self.tile, self.spec_error = checked.result, checked.tile, checked.spec_error
        self._record_properties()
        if checked.error is not None:
            raise checked.error
        if not self.result.passed:
            raise ClaimFailed(self.result, self.tile)

    def _record_properties(self) -> None:
        """The measured numbers as JUnit properties (``--junitxml``), as record_property does."""
        from probecheck.report.junit import junit_properties

        assert self.result is not None
        tile = shown(self.tile) if self.tile is not None else None
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
                text += f"\n  diagnostic tile: {shown(excinfo.value.tile)}"
            return text
        if isinstance(excinfo.value, ProbecheckError):
            return f"{shown(self.path)}:{self.claim.line}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        about = f": {self.claim.about}" if self.claim.about else ""
        return self.path, max(self.claim.line - 1, 0), f"claim {self.claim.id}{about}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if not isinstance(item, ClaimItem) or call.when != "call" or item.result is None:
        return
    report = outcome.get_result()
    result = item.result.to_dict()
    if hasattr(item.config, "workerinput"):  # it travels to the xdist controller: as text
        setattr(report, RESULT_ATTR, json.dumps(result))
    else:  # read in this process: plain data (JSON types), never dumped and parsed again
        setattr(report, RESULT_ATTR, result)
    setattr(report, SPEC_ERROR_ATTR, item.spec_error)
    if item.tile is not None:
        setattr(report, TILE_ATTR, str(item.tile))
    if item.tile is not None and item.config.pluginmanager.hasplugin("html"):
        import base64

        from pytest_html import extras  # attach the tile: base64, so the report keeps a copy

        tile = base64.b64encode(item.tile.read_bytes()).decode("ascii")
        report.extras = [*getattr(report, "extras", []), extras.png(tile, name=item.tile.name)]
