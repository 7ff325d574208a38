"""Shared fixtures.

Sections: the pretrained weights and the model loaded from them (session-scoped: loading costs
seconds, mostly importing torch); the face spec that claims written in tests start from; pytester
runs on the real weights; the markers. Add new fixtures under a section of their own.

The tests are laid out in two directories, both served by this file: ``tests/unit/`` holds the
tests of one module, named after it (``test_zoo_weights.py`` for ``probecheck/zoo/weights.py``),
``tests/integration/`` the tests of a surface a user meets (the plugin, the CLI, the CI gate, the
docs' commands, claims on the real weights, the HTML report, packaging).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

# pytester's in-process runs forget the modules first imported inside them, and libyaml's C parser
# cannot be imported twice: a second run would mix two copies of yaml's node classes (nodes with no
# tag). Importing the spec reader here keeps one copy for every run.
import probecheck.spec.reading  # noqa: F401

WEIGHTS_FILE = "compressed_SqueezeNet.net"
WEIGHTS_ENV = "PROBECHECK_WEIGHTS_DIR"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


# --- pretrained weights and the real model --------------------------------------------------------


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The directory holding the real compressed_SqueezeNet.net; skip where there is none."""
    named = os.environ.get(WEIGHTS_ENV)
    if not named:
        pytest.skip(
            f"{WEIGHTS_ENV} is not set: point it at a directory holding {WEIGHTS_FILE} "
            f"(CI: {WEIGHTS_ENV}=../shared/weights) to run the tests that need the real weights"
        )
    directory = Path(named).expanduser().resolve()
    if not (directory / WEIGHTS_FILE).is_file():
        pytest.skip(f"{WEIGHTS_ENV}={named}, but there is no {WEIGHTS_FILE} in {directory}")
    return directory


@pytest.fixture(scope="session")
def real_probe(weights_dir: Path):
    """One Probe on squeezenet1_0 with the deep-compression weights, shared by the session.

    Tests may use it freely but must leave it as they found it (no hooks left on the model,
    no attributes replaced except through ``monkeypatch``).
    """
    import probecheck

    with pytest.MonkeyPatch.context() as patch:  # load from weights_dir, whatever a test set
        patch.setenv(WEIGHTS_ENV, str(weights_dir))
        return probecheck.load("squeezenet1_0", "deep-compression")


@pytest.fixture(scope="session")
def cli_probe(weights_dir: Path):
    """The process-wide Probe on the real weights that the CLI commands load
    (``probe.shared_probe``): tests that run ``probecheck show`` or ``find`` in process and
    measure beside them share its cache. The same rule as ``real_probe``: leave it as found."""
    from probecheck.probe import shared_probe

    return shared_probe("squeezenet1_0", "deep-compression")


# --- the face spec: one face, its eyes and cheeks removed, on the real weights ------------------

FACE_MODEL = "model: {arch: squeezenet1_0, weights: deep-compression}"

FACE_SPEC_HEADER = f"""
{FACE_MODEL}
images:
  face: {FIXTURES / "astronaut_face.png"}
  face_no_eyes: {FIXTURES / "astronaut_face_eyes_removed.png"}
  face_no_cheeks: {FIXTURES / "astronaut_face_cheeks_removed.png"}
regions:
  eyes:   {{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}
  cheeks: {{boxes: [[56, 114, 102, 141], [150, 114, 205, 141]]}}
claims:
"""


@pytest.fixture(scope="session")
def face_spec_header() -> str:
    """A spec up to ``claims:`` (the claims follow it): the deep-compression SqueezeNet, the
    astronaut's face with its eyes and with its cheeks removed (absolute paths, so a spec written
    anywhere finds them), and the ``eyes`` and ``cheeks`` boxes."""
    return FACE_SPEC_HEADER


@pytest.fixture(scope="session")
def write_face_spec(face_spec_header: str) -> Callable[..., Path]:
    """``write_face_spec(path, claims, model=None) -> path``: the face spec's header, then
    ``claims`` (YAML list items), written to ``path``; ``model`` replaces its ``model:`` line."""

    def write(path: Path, claims: str, model: str | None = None) -> Path:
        text = face_spec_header + claims
        if model is not None:
            text = text.replace(FACE_MODEL, model)
        path.write_text(text)
        return path

    return write


# --- pytester runs of specs on the real weights -----------------------------------------------


@pytest.fixture(scope="session")
def extensions_loaded_once() -> None:
    """Import numpy's and torch's C extensions before any pytester run: they cannot be loaded
    twice in one process, and pytester forgets the modules first imported inside a run.
    probecheck imports torch only when a network runs (a fully cached run never does), so
    without this the first run that needs it would import it, and a later one fail to."""
    import numpy.fft
    import numpy.random  # noqa: F401

    with contextlib.suppress(ImportError):  # a light install: no network runs anyway
        import torch  # noqa: F401
        import torchvision  # noqa: F401


@pytest.fixture
def pytester(extensions_loaded_once: None, pytester: pytest.Pytester) -> pytest.Pytester:
    """pytest's own ``pytester``, started once the C extensions are loaded."""
    return pytester


@pytest.fixture(scope="session")
def heavy_modules(weights_dir: Path) -> None:
    """Import numpy, torch and the checks before any pytester run starts.

    pytester restores ``sys.modules`` after each in-process run, and numpy cannot be imported
    twice in one process; imported here, ahead of the pytester fixture, they stay. The loaded
    model is then shared by every run, as it is across the claims of one session.
    """
    import probecheck.checks
    import probecheck.render.tiles
    import probecheck.report.junit
    import probecheck.report.results_json
    import probecheck.report.summary
    import probecheck.zoo.builders
    import probecheck.zoo.fingerprint  # noqa: F401


@pytest.fixture
def claims_dir(
    heavy_modules: None,
    pytester: pytest.Pytester,
    weights_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A pytester directory whose runs find the real weights (absolute path: pytester chdirs)."""
    monkeypatch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.delenv("CI", raising=False)
    specs = pytester.path / "specs"
    specs.mkdir()
    return specs


# --- markers: which tests need the real weights, which are slow ----------------------------------

#: Fixtures whose tests run whole pytest sessions (in process or as subprocesses): slow.
SLOW_FIXTURES = frozenset({"pytester"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests from the fixtures they use: ``weights`` where they need the real pretrained
    weights (``weights_dir``, and every fixture built on it), ``slow`` where they run pytest
    sessions. Tests slow for other reasons carry ``@pytest.mark.slow`` themselves.

    While editing, run ``pytest -m "not slow"``; the full suite before committing.
    """
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "weights_dir" in names:
            item.add_marker(pytest.mark.weights)
        if names & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
