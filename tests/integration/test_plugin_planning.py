"""Activation planning: a session runs each distinct input once, however many claims read it,
with the same numbers as claims checked one by one; under ``-k``, ``--lf`` and xdist too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

#: Eleven claims over three images; with the two gray-masked variants, five distinct inputs:
#: face, face_no_eyes, face_no_cheeks, face with gray eyes, face with gray cheeks.
CLAIMS = """\
  - id: paired-15
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop: {image: face, altered: face_no_eyes, region: eyes, at_least: 0.7,
            control: cheeks, control_altered: face_no_cheeks, control_at_most: 0.25}
  - id: paired-25
    layer: fire6-relu_squeeze1x1
    channels: [25]
    drop: {image: face, altered: face_no_eyes, region: eyes, at_least: 0.7,
            control: cheeks, control_altered: face_no_cheeks, control_at_most: 0.25}
  - id: gray-15
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop: {image: face, mask_with: gray, region: eyes, at_least: 0.5,
            control: cheeks, control_at_most: 0.3}
  - id: gray-14
    layer: fire6-relu_squeeze1x1
    channels: [14]
    drop: {image: face, mask_with: gray, region: eyes, at_least: 0.5}
  - id: cases-15
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop:
      cases:
        - {image: face, altered: face_no_eyes, region: eyes}
        - {image: face, mask_with: gray, region: eyes}
      at_least: 0.5
  - id: selective-15
    layer: fire6-relu_squeeze1x1
    channels: [15]
    selective: {image: face, region: eyes, ratio_at_least: 1.5}
  - id: pre-relu-15
    layer: fire6-squeeze1x1
    channels: [15]
    drop: {image: face, altered: face_no_eyes, region: eyes, at_least: 1.5}
  - id: fire9-strongest
    layer: fire9-relu_squeeze1x1
    channels: [63]
    strongest: {image: face, top_k: 1}
  - id: fire9-eyes
    layer: fire9-relu_squeeze1x1
    channels: [63]
    selective: {image: face, region: eyes, ratio_at_least: 1.01}
  - id: conv1-strongest
    layer: conv1
    strongest: {image: face, in: [0]}
  - id: conv1-cheeks
    layer: relu_conv1
    channels: [0, 1]
    require: any
    drop: {image: face, altered: face_no_cheeks, region: cheeks, at_least: 0.2}
"""
DISTINCT_INPUTS = 5


@pytest.fixture(scope="module")
def heavy_modules() -> None:
    """Imported ahead of the pytester fixture, which restores ``sys.modules`` after each run:
    numpy cannot be imported twice, and the shared network then outlives the runs."""
    import probecheck.checks
    import probecheck.render.tiles
    import probecheck.report.results_json
    import probecheck.report.summary  # noqa: F401


@pytest.fixture
def spec_dir(
    heavy_modules: None,
    pytester: pytest.Pytester,
    weights_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_face_spec: Callable[..., Path],
) -> Path:
    """A spec directory, and the session's shared network with nothing cached."""
    from probecheck.probe import shared_probe

    monkeypatch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.delenv("CI", raising=False)
    shared_probe("squeezenet1_0", "deep-compression").clear_cache()
    specs = pytester.path / "specs"
    specs.mkdir()
    write_face_spec(specs / "many.yaml", CLAIMS)
    return specs


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    from probecheck.probe import shared_probe

    shared_probe("squeezenet1_0", "deep-compression").clear_cache()
    result = pytester.runpytest(
        "--probe-specs", "specs", "--probe-report", "report", "--probe-diagnostics", "none", *args
    )
    return result, json.loads((pytester.path / "report" / "results.json").read_text())


def test_the_spec_needs_five_distinct_inputs(spec_dir: Path) -> None:
    from probecheck.checks import SpecInputs
    from probecheck.plan import claim_needs
    from probecheck.spec import load_spec
    from probecheck.zoo.images import image_digest

    spec = load_spec(spec_dir / "many.yaml")
    inputs = SpecInputs(spec)
    needs = claim_needs(spec.claims)
    assert len({image_digest(inputs.variant(key)) for key in needs}) == DISTINCT_INPUTS
    assert needs[("image", "face")] == {
        "fire6-relu_squeeze1x1",
        "fire6-squeeze1x1",
        "fire9-relu_squeeze1x1",
        "conv1",
        "relu_conv1",
    }
    assert needs[("masked", "face", "cheeks", "gray")] == {"fire6-relu_squeeze1x1"}


def test_forward_passes_equal_the_distinct_inputs(
    pytester: pytest.Pytester, spec_dir: Path
) -> None:
    result, data = run(pytester, "-p", "no:cacheprovider")
    assert len(data["claims"]) == 11
    assert data["forward_passes"] == DISTINCT_INPUTS
    result.stdout.fnmatch_lines([f"*11 claims:*· {DISTINCT_INPUTS} forward passes*"])


def test_a_photo_two_spec_files_share_runs_once(
    pytester: pytest.Pytester, write_face_spec: Callable[..., Path]
) -> None:
    """Planning spans spec files on one network: the face, read at fire6 by one file and at
    fire9 by another, runs once through both layers, not once per file (the second file's
    deeper layer would otherwise need a second pass: the first was cut off after fire6)."""
    specs = pytester.path / "specs"
    specs.mkdir()
    claim = (
        "  - id: {id}\n    layer: {layer}\n    channels: [0]\n"
        "    strongest: {{image: face, top_k: 40}}\n"
    )
    write_face_spec(specs / "a.yaml", claim.format(id="shallow", layer="fire6-relu_squeeze1x1"))
    write_face_spec(specs / "b.yaml", claim.format(id="deep", layer="fire9-relu_squeeze1x1"))
    _, data = run(pytester, "-p", "no:cacheprovider")
    assert [c["claim_id"] for c in data["claims"]] == ["shallow", "deep"]
    assert not any(c["error"] for c in data["claims"])  # both measured, whatever their verdict
    assert data["forward_passes"] == 1


def test_planned_numbers_equal_claims_checked_alone(
    pytester: pytest.Pytester, spec_dir: Path
) -> None:
    from probecheck.checks import evaluate_claim
    from probecheck.probe import shared_probe
    from probecheck.spec import load_spec

    _, data = run(pytester, "-p", "no:cacheprovider")
    planned = {claim["claim_id"]: claim for claim in data["claims"]}
    spec = load_spec(spec_dir / "many.yaml")
    probe = shared_probe("squeezenet1_0", "deep-compression")
    verdicts = set()
    for claim in spec.claims:
        probe.clear_cache()
        alone = evaluate_claim(claim, spec, probe).to_dict()
        assert alone["checks"] == planned[claim.id]["checks"], claim.id
        verdicts.add(alone["passed"])
    assert verdicts == {True, False}  # the spec has passing and failing claims alike


def test_selected_claims_run_only_their_inputs(pytester: pytest.Pytester, spec_dir: Path) -> None:
    _, data = run(pytester, "-p", "no:cacheprovider", "-k", "fire9")
    assert [c["claim_id"] for c in data["claims"]] == ["fire9-strongest", "fire9-eyes"]
    assert data["forward_passes"] == 1  # the face, once, for both
    _, data = run(pytester, "-p", "no:cacheprovider", "-k", "pre-relu or gray-14")
    assert data["forward_passes"] == 3  # face, face_no_eyes, face with gray eyes


def test_last_failed_runs_the_failed_claims_inputs(
    pytester: pytest.Pytester, spec_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --lf needs pytest's cache; probecheck's own cache in it is off here, so that the rerun's
    # forward passes show what the plan ran (with it, the rerun reads them all from disk)
    monkeypatch.setenv("PROBECHECK_CACHE_MB", "0")
    _, first = run(pytester)
    failed = sorted(c["claim_id"] for c in first["claims"] if not c["passed"])
    assert failed
    _, again = run(pytester, "--lf")
    assert sorted(c["claim_id"] for c in again["claims"]) == failed
    assert 1 <= again["forward_passes"] <= DISTINCT_INPUTS
    assert {c["claim_id"]: c["checks"] for c in again["claims"]} == {
        c["claim_id"]: c["checks"] for c in first["claims"] if not c["passed"]
    }


def test_xdist_worker_runs_each_of_its_inputs_once(
    pytester: pytest.Pytester, spec_dir: Path
) -> None:
    pytest.importorskip("xdist")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "1",
        "--probe-specs", "specs", "--probe-report", "report", "--probe-diagnostics", "none",
    )  # fmt: skip
    data = json.loads((pytester.path / "report" / "results.json").read_text())
    assert len(data["claims"]) == 11
    assert data["forward_passes"] == DISTINCT_INPUTS
    result.stdout.fnmatch_lines([f"*· {DISTINCT_INPUTS} forward passes*"])


def test_a_check_kind_the_registry_does_not_know_fails_loudly() -> None:
    from probecheck.errors import ProbecheckError
    from probecheck.plan import claim_needs

    class Other:
        layer = "conv1"
        checks: ClassVar = {"sweep": object()}  # a kind no module of probecheck.checks declares

    with pytest.raises(ProbecheckError, match="'sweep' is not registered"):
        claim_needs([Other()])  # type: ignore[list-item]


def test_a_check_kind_the_registry_lacks_fails_loudly(monkeypatch) -> None:
    """No kind is silently left out of the plan: one the spec knows and the registry does not
    is an error naming the registry, not a claim that quietly runs its own forwards."""
    from probecheck.checks import registry
    from probecheck.errors import ProbecheckError
    from probecheck.plan import claim_needs
    from probecheck.spec import Claim

    claim = Claim.model_validate(
        {
            "id": "c",
            "layer": "features.3",
            "channels": [0],
            "selective": {"image": "face", "region": "eyes", "ratio_at_least": 2},
        }
    )
    assert claim_needs([claim]) == {("image", "face"): {"features.3"}}
    lacking = {name: kind for name, kind in registry.KINDS.items() if name != "selective"}
    monkeypatch.setattr(registry, "KINDS", lacking)  # the registry's own dict keeps its order
    with pytest.raises(ProbecheckError, match="'selective' is not registered"):
        claim_needs([claim])
