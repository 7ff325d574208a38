"""``probecheck show`` and ``probecheck find`` end to end on the fixtures and the real weights.

The CLI loads its network through ``shared_probe``, so the module fixture's Probe is the one the
commands use: the weights load once for the whole file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from probecheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
FACE = FIXTURES / "astronaut_face.png"
NO_EYES = FIXTURES / "astronaut_face_eyes_removed.png"
NO_CHEEKS = FIXTURES / "astronaut_face_cheeks_removed.png"
REGIONS = json.loads((FIXTURES / "regions.json").read_text())
LAYER = "fire6-relu_squeeze1x1"


def _boxes(name: str) -> list[str]:
    return [",".join(str(v) for v in box) for box in REGIONS[name]["boxes"]]


EYE_ARGS = ["--box", *_boxes("eyes"), "--region-name", "eyes"]
CHEEK_ARGS = ["--control-box", *_boxes("cheeks"), "--control-name", "cheeks"]


@pytest.fixture(scope="module")
def probe(cli_probe):
    """The process-wide Probe on the real weights (the one the CLI uses; conftest's)."""
    return cli_probe


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables as wide as they need (xdist workers report a narrow terminal)."""
    monkeypatch.setenv("COLUMNS", "200")


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_user_error(code: int, err: str, *needles: str) -> None:
    """Exit 2, one error line (and its fix), no traceback."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert lines[0].startswith("probecheck ") and ": error: " in lines[0], err
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].strip().startswith("fix: ")), err
    for needle in needles:
        assert needle in err, err


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def maps_of(probe, layer: str) -> np.ndarray:
    return probe.activations(FACE, layer)[layer]


# --- show -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_show_tiles_every_conv1_channel(probe, capsys, tmp_path):
    from probecheck.render.montage import labelled_montage

    out = tmp_path / "conv1.png"
    code, stdout, _ = run_cli(capsys, "show", FACE, "--layer", "conv1", "--out", out)
    assert code == 0
    picture = read_png(out)
    face = read_png(FACE)
    expected = labelled_montage(maps_of(probe, "conv1"), aspect=face.shape[1] / face.shape[0])
    np.testing.assert_array_equal(picture, expected)
    assert picture.shape[1] == 10 * 111 + 11 * 2  # 96 channels: a 10×10 grid of 111² maps
    assert 10 * 111 < picture.shape[0] < 10 * (111 + 14) + 100  # numbers above, colour bar below
    assert f"wrote {out}" in stdout and "montage of 96 channels, numbered from 0" in stdout
    peaks = maps_of(probe, "conv1").reshape(96, -1).max(axis=1)
    assert f"96×111×111; strongest channel {int(np.argmax(peaks))}" in stdout


@pytest.mark.slow
def test_show_grid_sets_rows_and_columns(probe, capsys, tmp_path):
    out = tmp_path / "grid.png"
    code, _, _ = run_cli(capsys, "show", FACE, "--layer", "conv1", "--grid", "8x12", "--out", out)
    assert code == 0
    height, width = read_png(out).shape[:2]
    assert 8 * 111 <= height < 8 * (111 + 14) + 100 and width == 12 * 111 + 13 * 2


def test_show_channels_beside_the_image(probe, capsys, tmp_path):
    from probecheck.render.montage import maps_beside_image

    out = tmp_path / "beside.png"
    code, stdout, _ = run_cli(
        capsys, "show", FACE, "--layer", LAYER, "--channels", 15, 35, "--out", out
    )
    assert code == 0
    expected = maps_beside_image(read_png(FACE), maps_of(probe, LAYER), [15, 35])
    assert read_png(out).shape == expected.shape
    assert read_png(out).shape[1] > 3 * 256  # the image and two maps, each at the image's size
    assert "channel(s) 15, 35 beside astronaut_face.png" in stdout


def test_show_strongest_picks_the_argmax_channel(probe, capsys, tmp_path):
    maps = maps_of(probe, LAYER)
    top = int(np.argmax(maps.reshape(maps.shape[0], -1).max(axis=1)))
    out = tmp_path / "strongest.png"
    code, stdout, _ = run_cli(capsys, "show", FACE, "--layer", LAYER, "--strongest", "--out", out)
    assert code == 0 and out.is_file()
    assert f"channel(s) {top} beside" in stdout
    assert f"strongest channel {top} " in stdout


def test_show_counts_channels_from_1_with_index_base_1(probe, capsys, tmp_path):
    out = tmp_path / "base1.png"
    code, stdout, _ = run_cli(
        capsys, "show", FACE, "--layer", LAYER, "--channels", 16, "--index-base", 1, "--out", out
    )
    assert code == 0 and "channel(s) 16 beside" in stdout
    code, _, err = run_cli(
        capsys, "show", FACE, "--layer", LAYER, "--channels", 0, "--index-base", 1, "--out", out,
        "--force",
    )  # fmt: skip
    assert_user_error(code, err, "out of range", "1..48")


@pytest.mark.slow
def test_show_writes_beside_the_current_directory_and_never_overwrites(
    probe, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run_cli(capsys, "show", FACE, "--layer", "conv1")
    default = tmp_path / "astronaut_face_conv1.png"
    assert code == 0 and default.is_file() and "astronaut_face_conv1.png" in stdout
    before = default.read_bytes()
    code, _, err = run_cli(capsys, "show", FACE, "--layer", LAYER, "--out", default)
    assert_user_error(code, err, "already exists", "--force")
    assert default.read_bytes() == before
    code, _, _ = run_cli(capsys, "show", FACE, "--layer", LAYER, "--out", default, "--force")
    assert code == 0 and default.read_bytes() != before


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["show", FIXTURES / "nope.png", "--layer", "conv1"], ["does not exist"]),
        (["show", FACE, "--layer", "fire6-relu_squeez1x1"], ["no layer named", "layers"]),
        (["show", FACE, "--layer", "conv1", "--channels", 96], ["out of range"]),
        (["show", FACE, "--layer", "conv1", "--grid", "2x3"], ["grid"]),
    ],
)
def test_show_bad_input_is_one_line_and_exit_2(probe, capsys, tmp_path, args, needles):
    code, _, err = run_cli(capsys, *args, "--out", tmp_path / "x.png")
    assert_user_error(code, err, *needles)
    assert not (tmp_path / "x.png").exists()


# --- find -----------------------------------------------------------------------------------------


def table_channels(stdout: str, layer: str) -> list[int]:
    """The channel column of the table's rows, top to bottom."""
    rows = re.findall(rf"│\s*{re.escape(layer)}\s*│\s*(\d+)\s*│", stdout)
    return [int(c) for c in rows]


def printed_yaml(stdout: str) -> str:
    start = stdout.index("# probecheck find:")
    return stdout[start:]


def passes(probe, spec_path: Path):
    from probecheck.checks import evaluate_claim
    from probecheck.spec import load_spec

    spec = load_spec(spec_path)
    assert len(spec.claims) == 1
    result = evaluate_claim(spec.claims[0], spec, probe)
    assert result.passed, result.failure_message()
    return spec


def test_find_ranks_the_eye_channel_first_and_prints_a_claim_that_passes(probe, capsys, tmp_path):
    code, stdout, _ = run_cli(
        capsys,
        "find", FACE, "--layer", LAYER, *EYE_ARGS, "--altered", NO_EYES,
        *CHEEK_ARGS, "--control-altered", NO_CHEEKS,
        "--spec-images-relative-to", tmp_path,
    )  # fmt: skip
    assert code == 0
    ranked = table_channels(stdout, LAYER)
    assert ranked[0] == 15 and 35 not in ranked[:3]
    assert "sorted by score = min(drop, 1) − |control drop|" in stdout
    spec_path = tmp_path / "eyes.yaml"
    spec_path.write_text(printed_yaml(stdout))
    spec = passes(probe, spec_path)
    claim = spec.claims[0]
    assert (claim.layer, claim.channels) == (LAYER, [15])
    assert claim.drop.at_least == 0.76 and claim.drop.control_at_most == 0.15
    assert spec.image_path(claim.drop.cases[0].altered) == NO_EYES


def test_find_yaml_out_is_the_printed_spec_and_is_not_overwritten(probe, capsys, tmp_path):
    spec_path = tmp_path / "specs" / "found.yaml"
    args = [
        "find", FACE, "--layer", LAYER, *EYE_ARGS, "--altered", NO_EYES,
        *CHEEK_ARGS, "--control-altered", NO_CHEEKS, "--index-base", 1,
        "--yaml-out", spec_path,
    ]  # fmt: skip
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0 and f"wrote the spec to {spec_path}" in err
    text = spec_path.read_text()
    assert text == printed_yaml(stdout)
    spec = passes(probe, spec_path)  # the images resolve from the spec's own directory
    assert not any(Path(written).is_absolute() for written in spec.images.values())
    assert spec.index_base == 1 and spec.claims[0].channel_labels == [16]
    code, _, err = run_cli(capsys, *args)
    assert_user_error(code, err, "already exists", "--force")


def test_find_with_mask_with_inpaint(probe, capsys, tmp_path):
    code, stdout, _ = run_cli(
        capsys, "find", FACE, "--layer", LAYER, *EYE_ARGS, "--mask-with", "inpaint",
        *CHEEK_ARGS, "--spec-images-relative-to", tmp_path, "--top", 5,
    )  # fmt: skip
    assert code == 0
    assert len(table_channels(stdout, LAYER)) == 5
    assert "removed by inpaint" in stdout
    spec_path = tmp_path / "inpaint.yaml"
    spec_path.write_text(printed_yaml(stdout))
    spec = passes(probe, spec_path)
    assert spec.claims[0].drop.cases[0].mask_with == "inpaint"


def test_find_on_one_pair_says_its_claim_is_an_anecdote(probe, capsys, tmp_path):
    """The best of a layer's channels on one image pair looks good there because it was picked
    there: find says so, on stderr and in the spec it prints, and points to --set."""
    code, stdout, err = run_cli(
        capsys, "find", FACE, "--layer", LAYER, *EYE_ARGS, "--mask-with", "inpaint",
        *CHEEK_ARGS, "--spec-images-relative-to", tmp_path, "--top", 3,
    )  # fmt: skip
    assert code == 0
    for text in (err, printed_yaml(stdout)):
        flat = " ".join(text.replace("#", " ").split())
        assert "anecdote" in flat and "--set" in flat, text
        assert "best of 48 channels" in flat, text


def test_find_searches_every_layer_without_layer(probe, capsys, tmp_path):
    code, stdout, _ = run_cli(
        capsys, "find", FACE, *EYE_ARGS, "--mask-with", "gray", "--top", 3,
        "--spec-images-relative-to", tmp_path,
    )  # fmt: skip
    assert code == 0
    assert "channels of 52 layer(s)" in stdout
    spec_path = tmp_path / "any.yaml"
    spec_path.write_text(printed_yaml(stdout))
    passes(probe, spec_path)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--box", "300,10,320,40", "--mask-with", "blur"], ["reaches outside", "256×256"]),
        (["--box", "20,10,10,40", "--mask-with", "blur"], ["empty"]),
        (
            [*EYE_ARGS, "--altered", NO_EYES, *CHEEK_ARGS],
            ["control region needs its own", "--control-altered", "--mask-with inpaint"],
        ),
        ([*EYE_ARGS, "--mask-with", "gray", "--layer", "fire6-relu_squeez1x1"], ["layers"]),
        (["--mask-with", "gray"], ["no region given", "--box"]),
        ([*EYE_ARGS, "--altered", FIXTURES / "edge.png"], ["227×227"]),
    ],
)
def test_find_bad_input_is_one_line_and_exit_2(probe, capsys, args, needles):
    code, stdout, err = run_cli(capsys, "find", FACE, *args)
    assert_user_error(code, err, *needles)
    assert "# probecheck find" not in stdout


def test_find_on_a_missing_image(capsys):
    code, _, err = run_cli(capsys, "find", FIXTURES / "nope.png", *EYE_ARGS, "--mask-with", "gray")
    assert_user_error(code, err, "does not exist")


def test_find_offers_every_masking_method():
    from probecheck.cli import find
    from probecheck.masking import MASK_METHODS

    assert find.MASK_METHODS == MASK_METHODS


def test_show_tile_size_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["show", str(FIXTURES / "astronaut_face.png"), "--layer", "conv1", "--tile-size", "-3"]
        )
    assert exit_info.value.code == 2
    assert "whole number" in capsys.readouterr().err
