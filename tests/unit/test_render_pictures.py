"""Pictures at the pixel: numbered montage tiles, aspect ratio, colour maps and bars, wrapping,
zoomed insets, bounded widths and the baseline's maps beside the candidate's.

Small hand-made arrays throughout; the plugin test at the end runs the real network (skipped
without the weights).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from probecheck.render import grid, montage, tiles
from probecheck.render.montage import (
    BAND_PAD,
    NEUTRAL,
    MapScale,
    colorbar,
    colorbar_height,
    colorize,
    labelled_montage,
    text_width,
    wrap_line,
)
from probecheck.render.tiles import claim_tile
from probecheck.results import CaseEvidence, CaseResult, ChannelResult, CheckResult, ClaimResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LABEL_ROWS = montage.LABEL_SIZE + 3


def _count(picture: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int((picture == np.array(rgb, np.uint8)).all(axis=-1).sum())


# montage: numbered tiles at the image's aspect ------------------------------------------------


@pytest.mark.parametrize("base", [0, 1])
def test_montage_tiles_carry_their_channel_number_in_the_index_base(base: int) -> None:
    maps = np.random.default_rng(0).random((4, 8, 8))
    out = labelled_montage(maps, base=base, tile_size=40, padding=2)
    for channel in range(4):
        row, col = divmod(channel, 2)
        top, left = 2 + row * (LABEL_ROWS + 40 + 2), 2 + col * (40 + 2)
        strip = out[top : top + LABEL_ROWS, left : left + 40]
        assert (strip.min(axis=-1) < 100).any(), "a dark number is drawn above the tile"
        assert np.array_equal(strip, montage._label(str(channel + base), 40))
    other = labelled_montage(maps, base=1 - base, tile_size=40, padding=2)
    assert not np.array_equal(out[2 : 2 + LABEL_ROWS], other[2 : 2 + LABEL_ROWS])


@pytest.mark.parametrize(("aspect", "rows", "cols"), [(2.0, 20, 40), (0.5, 40, 20), (1.0, 40, 40)])
def test_montage_keeps_the_images_aspect_ratio(aspect: float, rows: int, cols: int) -> None:
    """Square maps of a 2:1 photo are drawn 2:1 again (the network saw the photo squashed)."""
    maps = np.random.default_rng(1).random((4, 10, 10))
    out = labelled_montage(maps, aspect=aspect, tile_size=40, padding=2)
    assert out.shape[1] == 2 * cols + 3 * 2
    separator = np.array(montage.SEPARATOR, np.uint8)
    grid_height = 2 * (LABEL_ROWS + rows) + 3 * 2
    assert (out[grid_height - 1, : 2 * cols] == separator).all()  # the grid's last line
    first_map = out[2 + LABEL_ROWS : 2 + LABEL_ROWS + rows, 2 : 2 + cols]
    assert not (first_map == separator).all(axis=-1).any()


def test_small_maps_grow_so_their_number_fits() -> None:
    out = labelled_montage(np.ones((1, 13, 13)), padding=0)
    assert out.shape[1] == montage.MIN_LABELLED_TILE


# colour maps and colour bars --------------------------------------------------------------------


def test_diverging_scale_maps_zero_to_the_neutral_colour() -> None:
    scale = MapScale.of(np.array([[-2.0, 0.0, 0.5]]))
    assert scale.diverging and (scale.lo, scale.hi) == (-2.0, 2.0)
    low, zero, high = scale.rgb(np.array([-2.0, 0.0, 2.0]))
    assert tuple(zero) == NEUTRAL
    assert low[2] > low[0] and high[0] > high[2]  # blue below zero, red above
    assert tuple(colorize(np.array(0.5), colormap="diverging")) == NEUTRAL


def test_non_negative_maps_keep_a_sequential_scale() -> None:
    scale = MapScale.of(np.array([0.0, 3.0]), np.array([1.0, 5.0]))
    assert not scale.diverging and (scale.lo, scale.hi) == (0.0, 5.0)
    assert MapScale.of(np.zeros(3), sequential="gray").colormap == "gray"


def test_pre_relu_montage_draws_zero_neutral_and_has_a_colour_bar() -> None:
    maps = np.zeros((1, 4, 4))
    maps[0, 0, 0], maps[0, 3, 3] = -1.0, 2.0
    out = labelled_montage(maps, tile_size=40, padding=0)
    tile = out[LABEL_ROWS : LABEL_ROWS + 40, :40]
    assert tuple(tile[20, 20]) == NEUTRAL
    ramp = colorize(np.linspace(0, 1, 40 - 2 * BAND_PAD), colormap="diverging")
    assert any(np.array_equal(row[BAND_PAD : 40 - BAND_PAD], ramp) for row in out[40:])


def test_colour_bar_is_the_ramp_with_its_ticks_under_it() -> None:
    scale = MapScale(-3.0, 3.0, "diverging")
    bar = colorbar(scale, 120)
    assert bar.shape == (colorbar_height(), 120, 3)
    assert np.array_equal(bar[0], colorize(np.linspace(0, 1, 120), colormap="diverging"))
    ticks = bar[8:]
    assert (ticks.min(axis=-1) < 200).any(axis=0)[:20].any()  # "−3" at the left
    assert (ticks.min(axis=-1) < 200).any(axis=0)[50:70].any()  # "0" in the middle


def _evidence(size: tuple[int, int] = (64, 64), box: tuple[int, int, int, int] = (10, 10, 30, 20)):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    region = np.zeros(size, bool)
    x0, y0, x1, y1 = box
    region[y0:y1, x0:x1] = True
    maps = rng.normal(size=(6, 9, 9)).astype(np.float32)
    return CaseEvidence(image=image, maps=maps, region=region)


def _selective(evidence: CaseEvidence, about: str = "", channel: int = 3) -> ClaimResult:
    values = {"mean_in": 1.0, "mean_out": 2.0, "ratio": 0.5}
    case = CaseResult(
        {"image": "face", "region": "eyes"},
        [ChannelResult(channel, channel, False, values)],
        {"ratio": 0.5},
        False,
        evidence,
    )
    check = CheckResult("selective", "all", {"ratio_at_least": 2.0}, [case], False, [1])
    return ClaimResult(
        "s.yaml", "eyes", "fire6", "features.8", [channel], "all", [check], False, about=about
    )


def test_tile_maps_of_a_pre_relu_layer_are_diverging_with_a_colour_bar() -> None:
    evidence = _evidence()
    activation = np.zeros((9, 9))
    activation[0, 0], activation[8, 8] = -1.0, 1.0
    drawn = tiles._map(activation, evidence)
    panel = tiles._panel_shape(64, 64)
    assert drawn.shape[0] == panel[0] + 2 + colorbar_height()
    assert tuple(drawn[panel[0] // 2, 5]) == NEUTRAL
    ramp = colorize(np.linspace(0, 1, panel[1]), colormap="diverging")
    assert np.array_equal(drawn[panel[0] + 2], ramp)


def test_tile_maps_of_a_post_relu_layer_get_a_colour_bar_too() -> None:
    evidence = _evidence()
    drawn = tiles._map(np.abs(evidence.maps[0]), evidence)
    panel = tiles._panel_shape(64, 64)
    assert np.array_equal(drawn[panel[0] + 2], colorize(np.linspace(0, 1, panel[1])))


# bounded widths: wrapping, wide photos, long rows -----------------------------------------------


def test_wrap_line_keeps_every_line_within_the_width_and_every_word() -> None:
    text = "a channel that responds to the eyes and only to them " * 8
    lines = wrap_line([("about: ", (0, 0, 0)), (text, (9, 9, 9))], 300)
    assert len(lines) > 3
    assert all(text_width(line) <= 300 - 2 * BAND_PAD for line in lines)
    words = " ".join("".join(t for t, _ in line) for line in lines).split()
    assert words == ["about:", *text.split()]


def test_long_about_wraps_instead_of_widening_the_tile() -> None:
    short = claim_tile(_selective(_evidence(), about="eyes"))
    long = claim_tile(_selective(_evidence(), about="a very long description " * 60))
    assert long.shape[1] == short.shape[1]
    assert long.shape[0] > short.shape[0] + 3 * montage.FONT_SIZE
    text_only = _selective(None, about="word " * 500)  # type: ignore[arg-type]
    assert claim_tile(text_only).shape[1] <= tiles.MAX_TEXT_WIDTH + 2 * 4 + 2 * tiles.MARGIN


def test_wide_photos_are_capped_but_never_squashed_to_slivers() -> None:
    assert tiles._panel_shape(100, 100) == (tiles.PANEL_HEIGHT, tiles.PANEL_HEIGHT)
    rows, cols = tiles._panel_shape(100, 300)
    assert cols == tiles.MAX_PANEL_WIDTH and abs(cols / rows - 3) < 0.05
    rows, cols = tiles._panel_shape(100, 2000)  # a 20:1 strip
    assert rows == tiles.MIN_PANEL_HEIGHT and cols == 20 * rows


def test_rows_continue_on_a_second_line_past_the_maximum_width() -> None:
    panel = tiles._Panel(np.zeros((50, 500, 3), np.uint8), ["x"])
    row = tiles._row([[panel], [panel], [panel], [panel], [panel]])
    assert row.shape[1] <= tiles.MAX_ROW_WIDTH
    assert row.shape[0] > 2 * 50


# zoomed inset for small regions ------------------------------------------------------------------


def test_small_region_gets_a_zoomed_inset_and_a_large_one_does_not() -> None:
    eyes = _evidence((512, 512), (200, 240, 224, 254))  # 24×14 px eyes on a 512 px photo
    case = _selective(eyes).checks[0].cases[0]
    inset = tiles._inset_panel(case, eyes)
    assert inset is not None
    outlined = (inset.picture == np.array(tiles.REGION_RGB, np.uint8)).all(axis=-1)
    _, xs = np.nonzero(outlined)
    assert xs.max() - xs.min() >= tiles.INSET_BELOW  # the region is large in the inset
    photo = tiles._photo(eyes.image, eyes)
    _, xs = np.nonzero((photo == np.array(tiles.REGION_RGB, np.uint8)).all(axis=-1))
    assert xs.max() - xs.min() < tiles.INSET_BELOW  # and small on the photo's panel
    large = _evidence((512, 512), (100, 100, 400, 300))
    assert tiles._inset_panel(_selective(large).checks[0].cases[0], large) is None
    with_inset, without = claim_tile(_selective(eyes)), claim_tile(_selective(large))
    assert with_inset.shape[1] > without.shape[1]


# the baseline's maps and the regressed numbers ---------------------------------------------------


def test_regressed_numbers_are_listed_and_baseline_maps_drawn_beside() -> None:
    plain = _selective(_evidence())
    regressed = _selective(_evidence())
    regressed.regressions = ["eyes: selective, case face, channel 3: ratio regressed from 4 to 0.5"]
    listed = claim_tile(regressed)
    assert listed.shape[0] > claim_tile(plain).shape[0]
    assert _count(listed, tiles.BASELINE_TEXT) == 0  # no baseline maps were given

    trusted = _selective(_evidence())
    trusted.checks[0].cases[0].channels[0].values["ratio"] = 4.0
    beside = claim_tile(regressed, baseline=trusted)
    assert beside.shape[1] > listed.shape[1]
    assert _count(beside, tiles.BASELINE_TEXT) > 0  # "baseline model · ch 3", "ratio 4 → 0.5"


def test_baseline_without_evidence_or_other_cases_draws_no_maps() -> None:
    regressed = _selective(_evidence())
    other = _selective(_evidence())
    other.checks[0].cases[0].inputs = {"image": "another", "region": "eyes"}
    assert _count(claim_tile(regressed, baseline=other), tiles.BASELINE_TEXT) == 0


# the plugin: a regressed claim's tile on the real network ---------------------------------------

SPEC = f"""
model: {{arch: squeezenet1_0, weights: deep-compression}}
images:
  face: {FIXTURES / "astronaut_face.png"}
regions:
  eyes: {{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}
claims:
  - id: eye
    layer: fire6-relu_squeeze1x1
    channels: [15]
    selective: {{image: face, region: eyes, ratio_at_least: 1.5}}
"""


def test_regressed_claim_tile_shows_the_baseline_models_maps(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    (claims_dir / "face.yaml").write_text(SPEC)
    run = ["-p", "no:cacheprovider", "--probe-specs", "specs", "--probe-baseline", "base.json"]
    pytester.runpytest(*run, "--probe-baseline-update").assert_outcomes(passed=1)
    candidate = [*run, "--probe-weights", "random"]
    pytester.runpytest(*candidate, "--probe-report", "gated").assert_outcomes(failed=1)
    tile = pytester.path / "gated" / "specs.face__eye.png"
    with Image.open(tile) as png:
        assert _count(np.asarray(png.convert("RGB")), tiles.BASELINE_TEXT) > 0

    document = json.loads((pytester.path / "base.json").read_text())
    document["claims"]["specs/face.yaml::eye"]["model"]["weights"] = "missing.pt"
    (pytester.path / "base.json").write_text(json.dumps(document))
    pytester.runpytest(*candidate, "--probe-report", "absent").assert_outcomes(failed=1)
    (result,) = json.loads((pytester.path / "absent" / "results.json").read_text())["claims"]
    assert any("did not load here" in note for note in result["notes"])
    with Image.open(pytester.path / "absent" / "specs.face__eye.png") as png:
        assert _count(np.asarray(png.convert("RGB")), tiles.BASELINE_TEXT) == 0


# the coordinate grid ------------------------------------------------------------------------------


@pytest.mark.parametrize(("extent", "step"), [(256, 20), (512, 50), (64, 5), (3000, 200)])
def test_grid_step_is_round_and_gives_a_readable_number_of_lines(extent: int, step: int) -> None:
    assert grid.grid_step(extent) == step
    assert extent / step <= 16


def test_grid_labels_are_the_images_own_pixels_at_any_viewing_scale() -> None:
    image = np.zeros((30, 50, 3), np.uint8)  # a small image: enlarged for viewing
    scale = grid.view_scale(30, 50)
    assert scale == 8.0
    out = grid.coordinate_grid(image, step=10, boxes=[[10, 10, 20, 20]])
    font_rows = grid.LABEL_SIZE + 8
    left = out.shape[1] - 4 - 50 * 8
    for x in (0, 10, 20, 30, 40, 50):  # a label above each line, where pixel x is drawn
        at = left + min(x * 8, 50 * 8 - 1)
        assert tuple(out[font_rows + 5, at]) == grid.LINE_RGB  # the line itself
        labels = out[:font_rows, max(at - 12, 0) : at + 12]
        assert (labels.min(axis=-1) < 200).any(), f"no label above x={x}"
    top_left = (font_rows + 10 * 8, left + 10 * 8)
    assert tuple(out[top_left[0] + 1, top_left[1] + 20]) == grid.BOX_RGB  # the box's top edge
    huge = grid.coordinate_grid(np.zeros((4000, 2000, 3), np.uint8))  # reduced for viewing
    assert huge.shape[0] < 1000


def test_grid_command_writes_and_never_overwrites(tmp_path: Path, capsys) -> None:
    from probecheck.cli import main

    out = tmp_path / "grid.png"
    face = str(FIXTURES / "astronaut_face.png")
    assert main(["grid", face, "--box", "61,76,107,103", "147,80,202,107", "--out", str(out)]) == 0
    assert "256×256 px" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(["grid", face, "--step", "10", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["grid", face, "--box", "5,5,5,9", "--out", str(tmp_path / "b.png")]) == 2
    assert "empty" in capsys.readouterr().err
