"""resolve_model: which model a spec runs on and how its images are prepared, for the plugin,
the CLI and validation alike (docs/ci.md, "Which preprocessing a candidate gets")."""

from __future__ import annotations

from pathlib import Path

import pytest

from probecheck.spec import load_spec
from probecheck.zoo.preprocess import CAFFE_SQUEEZENET, IMAGENET, Preprocessing
from probecheck.zoo.request import ModelRequest, Overrides, resolve_model

FACE = Path(__file__).resolve().parents[2] / "fixtures" / "astronaut_face.png"
BLOCK = "preprocess: {size: [160, 128], mean: [1, 2, 3], std: [4, 5, 6], channel_order: bgr}"
FROM_BLOCK = Preprocessing((160, 128), 1.0, (1.0, 2.0, 3.0), (4.0, 5.0, 6.0), "bgr")


def spec_with(tmp_path: Path, model: str):
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"model: {{{model}}}\nimages: {{face: {FACE}}}\n"
        "regions: {eyes: {boxes: [[61, 76, 107, 103]]}}\nclaims:\n"
        "  - {id: a, layer: conv1, channels: [0], "
        "selective: {image: face, region: eyes, ratio_at_least: 2}}\n"
    )
    return load_spec(path)


def resolve(spec, **overrides) -> ModelRequest:
    return resolve_model(
        spec.model, Overrides(**overrides), base_dir=spec.base_dir, spec_path=spec.path
    )


def test_the_spec_alone(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "arch: squeezenet1_1, weights: random, seed: 4")
    request = resolve(spec)
    assert (request.arch, request.weights, request.seed, request.device) == (
        "squeezenet1_1",
        "random",
        4,
        "cpu",
    )
    assert request.overridden == frozenset()
    assert request.load_arguments() == {
        "arch": "squeezenet1_1",
        "weights": "random",
        "seed": 4,
        "device": "cpu",
    }


def test_overrides_win_and_are_named(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "arch: squeezenet1_1, weights: random")
    request = resolve(spec, arch="resnet18", seed=9, device="cuda")
    assert (request.arch, request.weights, request.seed, request.device) == (
        "resnet18",
        "random",
        9,
        "cuda",
    )
    assert request.overridden == {"arch"}


def test_a_checkpoint_is_found_beside_the_spec_but_an_override_is_taken_as_written(
    tmp_path: Path,
) -> None:
    (tmp_path / "candidate.pt").write_bytes(b"")
    spec = spec_with(tmp_path, "weights: candidate.pt")
    assert resolve(spec).weights == str(tmp_path / "candidate.pt")
    assert resolve(spec, weights="candidate.pt").weights == "candidate.pt"


def test_the_preset_option_wins_over_everything(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, f"weights: random, {BLOCK}")
    arguments = resolve(spec, preprocess="caffe-squeezenet", weights="x.pt").load_arguments()
    assert arguments["preprocessing"] == CAFFE_SQUEEZENET
    assert arguments["source"] == "--probe-preprocess caffe-squeezenet"
    assert "inherited" not in arguments


def test_the_spec_block_wins_over_the_weights(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, f"weights: random, {BLOCK}")
    for request in (resolve(spec), resolve(spec, weights="other.pt")):
        arguments = request.load_arguments()
        assert arguments["preprocessing"] == FROM_BLOCK
        assert arguments["source"] == f"the preprocess: block of {spec.path}"


def test_overriding_weights_inherit_the_spec_models_preprocessing(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "arch: squeezenet1_0, weights: deep-compression")
    request = resolve(spec, weights="candidate.pt")
    assert request.inherit_from == ("squeezenet1_0", "deep-compression")
    arguments = request.load_arguments()
    assert arguments["inherited"] == CAFFE_SQUEEZENET  # the registry's, nothing loaded
    assert arguments["source"] == "the spec's model (deep-compression)"
    assert "preprocessing" not in arguments


def test_without_overrides_nothing_is_inherited(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "weights: random")
    arguments = resolve(spec).load_arguments()
    assert "inherited" not in arguments and "preprocessing" not in arguments


def test_no_spec_means_the_defaults_and_nothing_inherited() -> None:
    request = resolve_model(None, Overrides(weights="candidate.pt", prefix="--"))
    assert (request.arch, request.weights, request.seed) == (
        "squeezenet1_0",
        "candidate.pt",
        0,
    )
    assert request.inherit_from is None and request.overridden == {"weights"}
    assert resolve_model(None).weights == "deep-compression"


@pytest.mark.slow
def test_cli_occlusion_runs_the_specs_model_and_preprocessing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``probecheck occlusion --spec`` runs the spec's model: at its preprocess: block's size,
    unless --arch/--weights say otherwise (no pretrained weights needed: random)."""
    from probecheck.cli import main

    spec = spec_with(
        tmp_path,
        "arch: squeezenet1_1, weights: random, preprocess: {size: [96, 96], mean: [0, 0, 0]}",
    )
    argv = ["occlusion", str(FACE), "--layer", "conv1", "--channel", "0", "--region", "eyes"]
    argv += ["--spec", str(spec.path), "--patch", "48", "--stride", "48"]
    assert main([*argv, "--out", str(tmp_path / "a.png")]) == 0
    assert "on the 96×96 input" in capsys.readouterr().out
    assert IMAGENET.size != (96, 96)
    argv += ["--arch", "squeezenet1_0", "--out", str(tmp_path / "b.png")]
    assert main(argv) == 0  # the override's arch, the spec's block still prepares the input
    assert "on the 96×96 input" in capsys.readouterr().out
