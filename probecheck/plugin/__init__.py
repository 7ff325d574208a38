"""The pytest plugin: ``pytest --probe-specs specs/`` collects each YAML spec as a file and each
claim as an item, so ``-k``, ``-x``, ``--lf``, ``-n`` and ``--junitxml`` work on claims.

Registered through the ``pytest11`` entry point. Importing it costs nothing heavy: the spec layer
is loaded when a spec is collected, torch only when a claim runs. One concern per module, in the
way of pytest's own plugins, each registered only where it has work:

- ``options``: the command-line and ini options, read once (a bad one is a usage error);
- ``collect``: which YAML files are specs, the spec file and claim items, a claim's run
  (:func:`probecheck.runner.check_claim`) and its result on the report (also from xdist);
- ``session``: the results gathered, the summary, ``results.json`` and ``index.html``, the exit
  status when no claim was checked;
- ``baseline``: recording the baseline, and its entries that match no claim
  (with ``--probe-baseline``);
- ``header``: the model every claim runs on, at the top of the log (with ``--probe-specs``);
- :mod:`probecheck.fixture`: claims written in Python, ``probe.check(...)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from probecheck.plugin.collect import (
    pytest_collect_file,
    pytest_collection_finish,
    pytest_runtest_makereport,
)
from probecheck.plugin.options import (
    given_specs,
    keep_spec_files_on_one_worker,
    pytest_addoption,
    read_gate,
    roots_narrowed_by,
)
from probecheck.plugin.session import KEY, Session

__all__ = [
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_collection_finish",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_unconfigure",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "probe_claim: a probecheck claim from a YAML spec")
    given, selected = given_specs(config)
    from_ini = [Path(p) for p in config.getini("probe_specs") or []]
    roots = [p.resolve() for p in (given or from_ini)]
    selected = selected if given else [str(p) for p in roots]
    if config.option.probe_baseline_update and not config.option.probe_baseline:
        raise pytest.UsageError("--probe-baseline-update needs --probe-baseline FILE to write to")
    state = Session(config, roots, read_gate(config) if roots else None)
    config.stash[KEY] = state
    config.pluginmanager.register(state, "probecheck-session")
    from probecheck import fixture  # the probe fixture: claims written in Python

    config.pluginmanager.register(fixture, "probecheck-fixture")
    if config.option.probe_baseline:
        from probecheck.plugin.baseline import BaselinePlugin

        config.pluginmanager.register(BaselinePlugin(state), "probecheck-baseline")
    if not roots:
        return  # (xdist workers parse the original command line, so they decide alike)
    from probecheck.plugin.header import ModelHeader

    config.pluginmanager.register(ModelHeader(), "probecheck-model-header")
    keep_spec_files_on_one_worker(config)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if given and not explicit:
        config.args = selected  # `pytest --probe-specs specs/`: the claims alone
    elif given or not explicit:
        narrowed = roots_narrowed_by(config.args, roots, config.invocation_params.dir)
        wanted = [arg for arg, root in zip(selected, roots, strict=True) if root not in narrowed]
        config.args += [arg for arg in wanted if arg not in config.args]
    state.claims_meant = bool(given) or not explicit


def pytest_unconfigure(config: pytest.Config) -> None:
    stored = sys.modules.get("probecheck.disk_cache")  # imported only if claims ran
    if stored is not None:
        stored.release(config)
