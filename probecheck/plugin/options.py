"""The plugin's options and how they are read: once, at the start, a bad one a usage error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probecheck.runner import DIAGNOSTIC_MODES, BaselineGate
from probecheck.zoo.devices import device_name


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


def read_gate(config: pytest.Config) -> BaselineGate | None:
    """The baseline the run is held to (``--probe-baseline``), its tolerance parsed and the
    ``--probe-preprocess`` preset checked; a bad one is a usage error, found at the start."""
    from probecheck.errors import ProbecheckError
    from probecheck.report.baseline import load_baseline, parse_tolerance

    option = config.option
    try:
        tolerance = parse_tolerance(option.probe_baseline_tolerance)
        if option.probe_preprocess is not None:
            from probecheck.zoo.preprocess import preset

            preset(option.probe_preprocess)
        path = baseline_path(config)
        if path is None:
            return None
        document = load_baseline(path, missing_ok=option.probe_baseline_update)
    except ProbecheckError as error:
        raise pytest.UsageError(str(error)) from None
    return BaselineGate(
        path,
        document,
        tolerance,
        strict=option.probe_baseline_strict,
        updating=option.probe_baseline_update,
    )


def baseline_path(config: pytest.Config) -> Path | None:
    """``--probe-baseline FILE`` from where pytest was invoked."""
    written = config.option.probe_baseline
    return Path(config.invocation_params.dir, written) if written else None


def given_specs(config: pytest.Config) -> tuple[list[Path], list[str]]:
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


def roots_narrowed_by(args: list[str], roots: list[Path], invoked_in: Path) -> set[Path]:
    """The roots that a path or node id given to pytest lies in (or is): pytest collects what it
    names, so the whole root is not added beside it (``pytest specs/face.yaml::fire6-eyes
    --probe-specs specs/`` runs that one claim)."""
    narrowed = set()
    for arg in args:
        path = Path(invoked_in, str(arg).partition("::")[0]).resolve()
        narrowed.update(root for root in roots if path == root or root in path.parents)
    return narrowed


def keep_spec_files_on_one_worker(config: pytest.Config) -> None:
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
