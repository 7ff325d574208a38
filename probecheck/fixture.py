"""Claims written in Python: the ``probe`` fixture and ``probe.check(...)``.

A test function states a claim as keyword arguments, in the words of the spec language::

    def test_eye_channel(probe):
        probe.check(
            layer="fire6-relu_squeeze1x1",
            channels=[15],
            images={"face": "fixtures/astronaut_face.png", "no_eyes": "fixtures/no_eyes.png"},
            regions={"eyes": {"boxes": [[61, 76, 107, 103]]}},
            drop={"image": "face", "altered": "no_eyes", "region": "eyes", "at_least": 0.7},
        )

There is one engine: the keywords become a spec (YAML text through the spec layer's parser, so
the same rules and messages apply), checked against the network's layers as a collected spec
is, measured by :func:`probecheck.checks.evaluate_claim`, compared with ``--probe-baseline``,
drawn as a tile and reported in the summary, ``results.json`` and the HTML report. A failing
claim fails the test with the failure text of the same claim in YAML. Relative image paths are
resolved against the test file's directory, as a spec's are against the spec's.

The network is the session's: the session-scoped ``probe_model`` fixture names it as a spec's
``model:`` would (the ini's ``probe_arch``/``probe_weights``, else the spec language's default:
SqueezeNet v1.0, deep-compression), and ``--probe-arch``/``--probe-weights``/``--probe-seed``/
``--probe-preprocess``/``--probe-device`` override it as they override a spec's. It is loaded
once per process and cached, with its activations, shared with the YAML claims of the session;
``probe`` itself is a light handle per test, so that claims are named after their test.

Registered by :mod:`probecheck.plugin`; importing it imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from probecheck.probe import Probe
    from probecheck.results import ClaimResult
    from probecheck.runner import RunSettings
    from probecheck.spec import Spec

#: On a test's call report: the JSON of every claim it checked (read by the plugin's session).
RESULTS_ATTR = "probecheck_results"
_RESULTS = pytest.StashKey[list[str]]()
_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")


class ClaimNotHeld(AssertionError):
    """A claim written in Python, measured and found not to hold; its text is the YAML claim's."""

    def __init__(self, text: str, result: ClaimResult, tile: Path | None) -> None:
        super().__init__(text)
        self.text = text
        self.result = result
        self.tile = tile


class InvalidClaim(Exception):
    """A claim written in Python that cannot be checked: what is wrong, and the fix."""


@dataclass(frozen=True)
class ProbeModel:
    """The network the session's Python claims run on, as a spec's ``model:`` names it."""

    arch: str
    weights: str
    seed: int

    def network(self, config: pytest.Config) -> Probe:
        """The loaded network (one per process and model, shared with the YAML claims)."""
        from probecheck.spec import ModelRef

        return _network(config, _ModelOnly(ModelRef(**self.spec_data()), config.rootpath))

    def spec_data(self) -> dict[str, Any]:
        return {"arch": self.arch, "weights": self.weights, "seed": self.seed}


@dataclass(frozen=True)
class _ModelOnly:
    """What the session's choice of network reads of a spec, for a network asked for alone."""

    model: Any
    base_dir: Path
    path: str = "the probe fixture"


class ClaimChecker:
    """``probe`` in a test: ``probe.check(...)`` states a claim and checks it at once."""

    def __init__(self, item: pytest.Item, model: ProbeModel) -> None:
        self._item = item
        self._model = model
        self._checked = 0

    @property
    def model(self) -> ProbeModel:
        """The arch, weights and seed the claims of this session run on."""
        return self._model

    @property
    def network(self) -> Probe:
        """The loaded :class:`~probecheck.probe.Probe`: activations, layers, predictions."""
        return self._model.network(self._item.config)

    def check(
        self,
        *,
        layer: str,
        channels: Sequence[int] | None = None,
        drop: Mapping[str, Any] | None = None,
        selective: Mapping[str, Any] | None = None,
        strongest: Mapping[str, Any] | None = None,
        occlusion: Mapping[str, Any] | None = None,
        compare: Mapping[str, Any] | None = None,
        images: Mapping[str, str | Path] | None = None,
        regions: Mapping[str, Any] | None = None,
        sets: Mapping[str, Any] | None = None,
        spec: str | Path | None = None,
        require: str = "all",
        about: str | None = None,
        id: str | None = None,
        index_base: int = 0,
    ) -> ClaimResult:
        """Check one claim (the keys of a spec's claim, with its images and regions) and return
        its result; raise :class:`ClaimNotHeld` (an AssertionError) when it does not hold.

        ``spec`` names a YAML spec file whose images, regions and sets the claim may use (those
        given here are added, and win on a shared name); its model and claims are not used.
        """
        __tracebackhide__ = True
        self._checked += 1
        claim: dict[str, Any] = {"id": id or self._default_id(), "layer": layer}
        if about is not None:
            claim["about"] = about
        if channels is not None:
            claim["channels"] = list(channels)
        claim["require"] = require
        written = {
            "drop": drop,
            "selective": selective,
            "strongest": strongest,
            "occlusion": occlusion,
            "compare": compare,
        }
        claim.update({key: value for key, value in written.items() if value is not None})
        line = sys._getframe(1).f_lineno
        lent = _names_of_spec(self._item, spec, line) if spec is not None else {}
        data: dict[str, Any] = {"model": self._model.spec_data(), "index_base": index_base}
        for key, given in (("images", images), ("regions", regions), ("sets", sets)):
            named = {**lent.get(key, {}), **dict(given or {})}
            if named or key != "sets":
                data[key] = named
        data["claims"] = [claim]
        return check_claim(self._item, data, line)

    def _default_id(self) -> str:
        """The test's name (``test_eyes``, ``test_eyes-15`` for ``[15]``), numbered from the
        second claim of a test on."""
        name = _ID_CHARACTERS.sub("-", self._item.name).strip("-.") or "claim"
        return name if self._checked == 1 else f"{name}-{self._checked}"


def check_claim(item: pytest.Item, data: dict[str, Any], line: int) -> ClaimResult:
    """Build the spec ``data`` for the test ``item``, check its one claim, record the result."""
    __tracebackhide__ = True
    from probecheck.checks import SpecInputs, prefetch_claim
    from probecheck.errors import ProbecheckError
    from probecheck.plan import claim_needs
    from probecheck.plugin.session import shown
    from probecheck.runner import check_claim as run_claim
    from probecheck.runner import error_result

    where = f"{shown(item.path)}:{line}"
    spec = _spec_from(item.config, data, item.path, where)
    claim = spec.claims[0]
    claim._line = line
    inputs = SpecInputs(spec)
    try:
        settings = _settings(item.config)
    except ProbecheckError as error:
        _record(item, error_result(claim, spec, str(error)))
        raise InvalidClaim(f"{where}: {error}") from None
    checked = run_claim(
        claim,
        spec,
        inputs,
        settings,
        tile_stem=_tile_stem(item),
        prefetch=lambda probe: prefetch_claim(claim, claim_needs([claim]), probe, inputs),
    )
    result, tile = checked.result, checked.tile
    _record(item, result, tile)
    if isinstance(checked.error, ProbecheckError):
        raise InvalidClaim(f"{where}: {checked.error}") from None
    if checked.error is not None:
        raise checked.error
    if not result.passed:
        text = result.failure_message()
        if tile is not None:
            text += f"\n  diagnostic tile: {shown(tile)}"
        raise ClaimNotHeld(f"{text}\n  checked at {where}", result, tile)
    return result


def _names_of_spec(item: pytest.Item, written: str | Path, line: int) -> dict[str, dict[str, Any]]:
    """The images, regions and sets of a YAML spec, with paths made absolute (a relative
    ``written`` is resolved against the test file's directory)."""
    from probecheck.errors import ProbecheckError
    from probecheck.plugin.session import shown
    from probecheck.spec import load_spec

    path = Path(item.path.parent, written)
    where = f"{shown(item.path)}:{line}: probe.check(spec=…)"
    if not path.is_file():
        raise InvalidClaim(
            f"{where}: spec file {shown(path)} not found\n  fix: a relative spec= starts at "
            f"the test file's directory, {shown(item.path.parent) or '.'}"
        )
    try:
        spec = load_spec(path)
    except ProbecheckError as error:
        raise InvalidClaim(f"{where}: {error}") from None
    images = {name: str(path) for name, path in spec.image_paths.items()}
    regions = {}
    for name, region in spec.regions.items():
        shapes = region.model_dump(mode="json", exclude_none=True)
        if region.mask_path is not None:
            shapes["mask"] = str(region.mask_path)
        regions[name] = shapes
    sets = {}
    for name, image_set in spec.sets.items():
        fields = image_set.model_dump(mode="json", exclude_none=True)
        for key, value in fields.items():  # every field of a set is a path or a glob
            absolute = [os.path.join(spec.base_dir, v) for v in _listed(value)]
            fields[key] = absolute if isinstance(value, list) else absolute[0]
        sets[name] = fields
    return {"images": images, "regions": regions, "sets": sets}


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _spec_from(config: pytest.Config, data: dict[str, Any], test_file: Path, where: str) -> Spec:
    """The spec layer's Spec of ``data``, validated as a spec file is, and checked against the
    network's layers; problems are named by key (``drop.region``), at the call's line."""
    import yaml

    from probecheck.errors import SpecError
    from probecheck.plugin.session import KEY
    from probecheck.spec.loader import parse_spec
    from probecheck.validate import check_against_network

    try:
        text = yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as error:
        raise InvalidClaim(f"{where}: probe.check: a value is not plain data: {error}") from None
    try:
        spec = parse_spec(text, test_file, where)
        model = config.stash[KEY].model_for(spec)  # as a collected spec is checked
        check_against_network(spec, model.arch, model.weights, overridden=model.overridden)
    except SpecError as error:
        raise InvalidClaim(_problems_text(error, where)) from None
    return spec


def _problems_text(error: Any, where: str) -> str:
    """Each problem of a SpecError by its key in the call (``drop.region``), with its fix."""
    problems = error.problems
    head = "a problem" if len(problems) == 1 else f"{len(problems)} problems"
    lines = [f"{where}: probe.check(...): {head}"]
    for problem in problems:
        key = re.sub(r"^claims\[[^\]]*\]\.?", "", problem.key or "")
        lines.append(f"  {key + ': ' if key else ''}{problem.detail}")
        if problem.fix:
            lines.append(f"    fix: {problem.fix.replace('the spec file', 'the test file')}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """Paths as text, tuples as lists, numpy scalars as numbers: what a YAML file would hold."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def _network(config: pytest.Config, spec: Spec | _ModelOnly) -> Probe:
    """The network ``spec`` runs on under the session's options, chosen as for YAML specs."""
    from probecheck.plugin.session import KEY
    from probecheck.probe import shared_probe

    state = config.stash[KEY]
    return shared_probe(**state.model_for(spec).load_arguments())


def _settings(config: pytest.Config) -> RunSettings:
    """The session's settings; its baseline is read here when no spec run read it."""
    from probecheck.plugin.session import KEY

    state = config.stash[KEY]
    try:
        state.read_gate()
    except pytest.UsageError as error:  # a missing or unreadable baseline: said once here
        from probecheck.errors import ProbecheckError

        raise ProbecheckError(str(error)) from None
    return state.settings


def _tile_stem(item: pytest.Item) -> str:
    """The test file's path from the root directory, ``tests.test_face``, as for specs."""
    path, root = item.path, item.config.rootpath
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    return ".".join(relative.with_suffix("").parts)


def _record(item: pytest.Item, result: ClaimResult, tile: Path | None = None) -> None:
    payload = {"result": result.to_dict(), "tile": str(tile) if tile is not None else None}
    item.stash.setdefault(_RESULTS, []).append(json.dumps(payload))


def results_of(report: pytest.TestReport) -> list[tuple[ClaimResult, str | None]]:
    """The claims a test checked, and their tiles, from its call report (also from xdist)."""
    from probecheck.results import ClaimResult

    found = []
    for written in getattr(report, RESULTS_ATTR, ()):
        payload = json.loads(written)
        found.append((ClaimResult.from_dict(payload["result"]), payload["tile"]))
    return found


# fixtures and hooks ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def probe_model(pytestconfig: pytest.Config) -> ProbeModel:
    """The model the session's Python claims name, as a spec's ``model:`` does: the ini's, else
    the spec language's default. ``--probe-arch``/``--probe-weights``/… override it as they
    override a spec's (a checkpoint keeps this model's preprocessing unless it records one)."""
    from probecheck.spec.models import ModelRef

    default = ModelRef()
    arch = pytestconfig.getini("probe_arch") or default.arch
    weights = pytestconfig.getini("probe_weights") or default.weights
    return ProbeModel(arch, weights, default.seed)


@pytest.fixture
def probe(request: pytest.FixtureRequest, probe_model: ProbeModel) -> ClaimChecker:
    """Check claims about the session's network from a test: ``probe.check(layer=…, …)``."""
    return ClaimChecker(request.node, probe_model)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """The claims a test checked travel on its call report; a failed claim reads as in YAML."""
    report = yield
    if call.when != "call":
        return report
    recorded = item.stash.get(_RESULTS, [])
    if recorded:
        setattr(report, RESULTS_ATTR, list(recorded))
    error = call.excinfo.value if call.excinfo is not None else None
    if isinstance(error, ClaimNotHeld | InvalidClaim) and report.failed:
        report.longrepr = str(error) if isinstance(error, InvalidClaim) else error.text
    return report
