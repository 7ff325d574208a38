"""The ``occlusion`` check: the spec language, its verdicts on the real weights, results, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probecheck.errors import SpecError
from probecheck.spec import json_schema, load_spec

ROOT = Path(__file__).resolve().parents[2]
FACE = ROOT / "fixtures" / "astronaut_face.png"

SPEC = """\
model: {{arch: squeezenet1_0, weights: {weights}}}
images:
  face: {face}
regions:
  eyes:   {{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}
  cheeks: {{boxes: [[56, 114, 102, 141], [150, 114, 205, 141]]}}
claims:
  - id: c
    layer: fire6-relu_squeeze1x1
    channels: [{channel}]
    occlusion: {occlusion}
"""
EYES_CLAIM = (
    "{image: face, region: eyes, patch: 24, stride: 12, fill: mean, "
    "peak_in_region: true, iou_at_least: 0.25, quantile: 0.9}"
)


def write_spec(
    tmp_path: Path, occlusion: str, channel: int = 15, weights: str = "deep-compression"
):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(weights=weights, face=FACE, channel=channel, occlusion=occlusion))
    return path


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a busy machine torch's pool stalls; the numbers are the same."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# the language ------------------------------------------------------------------------------------


def test_spec_reads_an_occlusion_check(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, "{image: face, region: eyes, peak_in_region: true}"))
    check = spec.claims[0].occlusion
    assert check is not None and check.patch == 24 and check.step == 12 and check.fill == "mean"
    assert [c.region for c in check.cases] == ["eyes"]
    assert "occlusion" in spec.claims[0].checks


@pytest.mark.parametrize(
    ("occlusion", "message"),
    [
        ("{image: face, region: eyes}", "peak_in_region"),
        ("{image: face, region: eyes, patch: 8, stride: 9, peak_in_region: true}", "stride 9"),
        ("{image: face, region: eyes, fill: noise, peak_in_region: true}", "fill"),
        ("{image: face, region: nose, peak_in_region: true}", "nose"),
        ("{image: face, region: eyes, peak_in_region: false}", "peak_in_region"),
    ],
)
def test_bad_occlusion_checks_are_spec_errors(tmp_path: Path, occlusion: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as error:
        load_spec(write_spec(tmp_path, occlusion))
    assert "spec.yaml:11" in str(error.value)  # the occlusion line


def test_schema_has_the_occlusion_check() -> None:
    schema = json.dumps(json_schema())
    assert "OcclusionCheck" in schema and "peak_in_region" in schema


# verdicts on the real weights -------------------------------------------------------------------


def evaluate(tmp_path: Path, occlusion: str, channel: int = 15, weights: str = "deep-compression"):
    from probecheck.checks import evaluate_claim
    from probecheck.probe import shared_probe

    spec = load_spec(write_spec(tmp_path, occlusion, channel, weights))
    return evaluate_claim(spec.claims[0], spec, shared_probe("squeezenet1_0", weights))


@pytest.mark.slow
@pytest.mark.usefixtures("weights_dir")
def test_the_shipped_eye_claim_holds(tmp_path: Path) -> None:
    from probecheck.checks import evaluate_claim
    from probecheck.probe import shared_probe

    spec = load_spec(ROOT / "docs" / "single_pair_face.yaml")
    claim = spec.claim("fire6-occluded-eyes")
    result = evaluate_claim(claim, spec, shared_probe("squeezenet1_0", "deep-compression"))
    assert result.passed, result.failure_message()
    values = result.checks[0].cases[0].channels[0].values
    assert values["peak_in"] == 1.0 and values["iou"] >= 0.25
    assert values["map_in"] > values["map_out"]
    assert "peak in region" in result.measured()
    data = json.loads(json.dumps(result.to_dict()))
    assert data["checks"][0]["cases"][0]["combined"]["iou"] == pytest.approx(values["iou"])

    from probecheck.render import write_claim_tile

    tile = write_claim_tile(result, tmp_path)
    assert tile.is_file() and tile.stat().st_size > 0


@pytest.mark.slow
@pytest.mark.usefixtures("weights_dir")
def test_the_eye_channel_over_the_cheeks_peaks_outside_them(tmp_path: Path) -> None:
    """A control region: the eye channel's activity over the cheeks comes from elsewhere."""
    result = evaluate(tmp_path, EYES_CLAIM.replace("eyes", "cheeks"))
    assert not result.passed
    channel = result.checks[0].cases[0].channels[0]
    assert channel.values["peak_in"] == 0.0
    assert "peaks outside the region" in channel.reason
    assert "peak outside the region" in result.measured()


@pytest.mark.slow
@pytest.mark.usefixtures("weights_dir")
def test_the_eye_claim_fails_on_random_weights(tmp_path: Path) -> None:
    result = evaluate(tmp_path, EYES_CLAIM, weights="random")
    assert not result.passed
    assert result.checks[0].cases[0].channels[0].values["iou"] < 0.25
    assert "iou" in result.failure_message()


@pytest.mark.usefixtures("weights_dir")
def test_a_baseline_never_compares_maps_of_another_patch(tmp_path: Path) -> None:
    """Patch, stride, fill and quantile decide what the map measures: a case swept another way
    is not the recorded case (unrecorded, and the old entry stale), never a regression."""
    from probecheck.report.baseline import Tolerance, baseline_key, compare, measured

    settings = {"patch": 96, "stride": 96, "fill": "gray", "quantile": 0.9}

    def swept(**changed: object):
        written = ", ".join(f"{k}: {v}" for k, v in (settings | changed).items())
        check = f"{{image: face, region: eyes, iou_at_least: 0.2, {written}}}"
        return evaluate(tmp_path, check, weights="random")

    first = swept()
    assert first.checks[0].cases[0].inputs == {"image": "face", "region": "eyes", **settings}
    path = tmp_path / "baseline.json"
    document = {"claims": {baseline_key(first, path): {"checks": measured(first)}}}
    assert compare(swept(), document, path, Tolerance()).stale == []
    for changed in ({"patch": 112}, {"stride": 64}, {"fill": "mean"}, {"quantile": 0.8}):
        found = compare(swept(**changed), document, path, Tolerance())
        assert found.regressions == [], changed
        assert len(found.stale) == 1 and len(found.unrecorded) == 1, changed


# the command line --------------------------------------------------------------------------------


@pytest.mark.usefixtures("weights_dir")
def test_cli_draws_the_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from probecheck.cli import main

    out = tmp_path / "map.png"
    argv = ["occlusion", str(FACE), "--layer", "fire6-relu_squeeze1x1", "--channel", "15"]
    argv += ["--region", "61,76,107,103", "147,80,202,107", "--patch", "48", "--stride", "40"]
    assert main([*argv, "--out", str(out)]) == 0
    assert Image.open(out).size == (256, 256)
    printed = capsys.readouterr().out
    assert "36 positions of a 48-px patch" in printed
    assert "inside the region" in printed and "peak at x=" in printed
    assert main([*argv, "--out", str(out)]) == 2  # never overwrites without --force
    assert "already exists" in capsys.readouterr().err


@pytest.mark.usefixtures("weights_dir")
def test_cli_takes_a_spec_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from probecheck.cli import main

    spec = write_spec(tmp_path, "{image: face, region: eyes, peak_in_region: true}")
    out = tmp_path / "map.png"
    argv = ["occlusion", str(FACE), "--layer", "conv1", "--channel", "0", "--region", "cheeks"]
    argv += ["--patch", "64", "--stride", "64", "--out", str(out)]
    assert main(argv) == 2
    assert "--spec" in capsys.readouterr().err
    assert main([*argv, "--spec", str(spec)]) == 0
    assert out.is_file() and "region cheeks" in capsys.readouterr().out
