"""Render: the montage, maps beside an image, atomic PNGs and the per-claim diagnostic tile.

Results are built by hand with small synthetic arrays, so these run in milliseconds; one test
draws a tile of a real failing claim on the real model (skipped without the weights).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from probecheck.checks import registry
from probecheck.checks.kind import CheckKind
from probecheck.checks.tile import ChannelMap, Judged, Panel, Photo
from probecheck.render import (
    channel_montage,
    claim_tile,
    maps_beside_image,
    save_png,
    tile_name,
    write_claim_tile,
)
from probecheck.render.montage import band_height, colorbar_height, colorize, scale01
from probecheck.results import CaseEvidence, CaseResult, ChannelResult, CheckResult, ClaimResult


def _evidence(size: int = 64, channels: int = 6) -> CaseEvidence:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    maps = rng.random((channels, 9, 9)).astype(np.float32)
    region = np.zeros((size, size), bool)
    region[10:20, 10:30] = True
    control = np.zeros((size, size), bool)
    control[40:50, 10:30] = True
    altered = image.copy()
    altered[region] = 128
    return CaseEvidence(
        image=image,
        maps=maps,
        region=region,
        control=control,
        altered=altered,
        altered_maps=maps * 0.5,
        control_altered=image.copy(),
        control_altered_maps=maps * 0.2,
    )


def _drop_result(
    spec: str = "/specs/face.yaml", claim_id: str = "fire6-eyes", evidence: bool = True
) -> ClaimResult:
    """A failing drop claim: channel 3 drops, but in the control region too."""
    values = {
        "drop": 0.5,
        "mean_in": 2.0,
        "mean_in_altered": 1.0,
        "control_drop": 0.8,
        "control_mean_in": 1.0,
        "control_mean_in_altered": 0.2,
    }
    case = CaseResult(
        inputs={
            "image": "face",
            "altered": "face_no_eyes",
            "region": "eyes",
            "control": "cheeks",
            "control_altered": "face_no_cheeks",
        },
        channels=[ChannelResult(3, 3, False, values, "drops in the control region too")],
        combined={"drop": 0.5, "control_drop": 0.8},
        passed=False,
        evidence=_evidence() if evidence else None,
    )
    check = CheckResult(
        "drop", "all", {"at_least": 0.4, "control_at_most": 0.3}, [case], False, [1, 4]
    )
    return ClaimResult(
        spec=spec,
        claim_id=claim_id,
        layer="fire6-relu_squeeze1x1",
        layer_path="features.8.squeeze_activation",
        channels=[3],
        require="all",
        checks=[check],
        passed=False,
        model={"arch": "squeezenet1_0", "weights": "deep-compression"},
    )


def _strongest_result() -> ClaimResult:
    case = CaseResult(
        inputs={"image": "face"},
        channels=[ChannelResult(2, 3, False, {"rank": 4.0, "peak": 0.9})],
        combined={"strongest": 6.0, "strongest_peak": 1.0},
        passed=False,
        evidence=CaseEvidence(image=_evidence().image, maps=_evidence().maps),
    )
    check = CheckResult("strongest", "all", {"in": [3]}, [case], False, [6])
    return ClaimResult("s.yaml", "top", "conv1", "features.0", [], "all", [check], False)


# montage ---------------------------------------------------------------------------------------


def test_montage_of_ten_channels_is_a_square_ish_grid() -> None:
    maps = np.random.default_rng(1).random((10, 7, 5))
    maps[4] = 3.0  # constant: drawn black, not a division by zero
    tiled = channel_montage(maps)
    assert tiled.dtype == np.uint8 and tiled.ndim == 3 and tiled.shape[2] == 3
    assert tiled.shape[:2] == (3 * (7 + 1) + 1, 4 * (5 + 1) + 1)  # 3 rows × 4 cols, 1-px lines
    constant_tile = tiled[1 + 1 * 8 : 1 + 1 * 8 + 7, 1 : 1 + 5]  # row 1, col 0 = channel 4
    assert (constant_tile == 0).all()


def test_montage_grid_given_and_too_small() -> None:
    maps = np.ones((6, 4, 4))
    assert channel_montage(maps, grid=(1, 6), padding=0).shape[:2] == (4, 24)
    with pytest.raises(ValueError, match="grid"):
        channel_montage(maps, grid=(2, 2))


def test_montage_scaled_over_the_whole_layer() -> None:
    maps = np.stack([np.zeros((3, 3)), np.full((3, 3), 1.0), np.full((3, 3), 2.0)])
    tiled = channel_montage(maps, grid=(1, 3), scale_each=False, padding=0)
    assert tiled[1, 1, 0] == 0 and tiled[1, 4, 0] == 128 and tiled[1, 7, 0] == 255


def test_scale01_and_colorize() -> None:
    assert (scale01(np.full((2, 2), 5.0)) == 0).all()
    assert scale01(np.array([1.0, 3.0])).tolist() == [0.0, 1.0]
    rgb = colorize(np.array([[0.0, 1.0]]))
    assert rgb.shape == (1, 2, 3) and rgb[0, 0].sum() < rgb[0, 1].sum()


def test_maps_beside_image_is_image_height_plus_title_band_and_colour_bar() -> None:
    image = np.zeros((50, 40, 3), np.uint8)
    maps = np.random.default_rng(2).random((5, 6, 6))
    out = maps_beside_image(image, maps, [0, 3])
    assert out.dtype == np.uint8
    assert out.shape[0] == 50 + band_height(1) + colorbar_height()
    assert out.shape[1] >= 3 * 40
    with pytest.raises(ValueError, match="labels"):
        maps_beside_image(image, maps, [0, 3], labels=["only one"])


def test_save_png_is_atomic_and_makes_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "x.png"
    written = save_png(np.zeros((4, 5, 3), np.uint8), target)
    assert written == target and Image.open(target).size == (5, 4)
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.png"]  # no temp file left


# tiles -----------------------------------------------------------------------------------------


def test_failing_tile_is_written_under_its_claim_name(tmp_path: Path) -> None:
    path = write_claim_tile(_drop_result(), tmp_path / "report")
    assert path == tmp_path / "report" / "face__fire6-eyes.png"
    with Image.open(path) as png:
        width, height = png.size
    # three photos and three maps (160 px each) plus two "would pass" pairs, in one row
    assert 1000 < width < 3000 and 250 < height < 800
    assert path.stat().st_size < 1_000_000


def test_tile_shows_the_failing_numbers_in_red() -> None:
    tile = claim_tile(_drop_result())
    red = (tile[..., 0] > 150) & (tile[..., 1] < 60) & (tile[..., 2] < 60)
    assert red.sum() > 50  # "FAILED", the control number, the reason


def test_tile_without_evidence_is_text_only() -> None:
    text_tile = claim_tile(_drop_result(evidence=False))
    picture_tile = claim_tile(_drop_result())
    assert text_tile.dtype == np.uint8 and text_tile.shape[2] == 3
    assert text_tile.shape[0] < picture_tile.shape[0] - 100  # no rows of pictures


def test_error_result_gives_a_text_tile() -> None:
    result = _drop_result(evidence=False)
    result.error = "layer fire9-nope not found"
    result.checks = []
    assert claim_tile(result).shape[0] < 300


def test_strongest_tile_draws_the_claimed_and_the_strongest_channel() -> None:
    tile = claim_tile(_strongest_result())
    assert tile.shape[0] > 160 and tile.shape[1] >= 3 * 160  # image, claimed ch 3, strongest ch 6


def test_same_claim_id_in_two_specs_gets_two_names() -> None:
    a = tile_name(_drop_result(spec="/x/face.yaml"))
    b = tile_name(_drop_result(spec="/x/eyes.yaml"))
    assert a != b


@pytest.mark.parametrize(
    ("spec", "claim_id"),
    [("/s/face.yaml", "a b"), ("/s/face.yaml", "a/b"), ("/s/fa ce.yaml", "x"), ("/s/.y.yaml", "x")],
)
def test_tile_names_are_sanitised(spec: str, claim_id: str) -> None:
    name = tile_name(_drop_result(spec=spec, claim_id=claim_id))
    assert re.fullmatch(r"[A-Za-z0-9_.-]+\.png", name) and not name.startswith(".")


def test_sanitising_never_merges_two_claims() -> None:
    names = {tile_name(_drop_result(claim_id=i)) for i in ("a b", "a_b", "a/b", "a__b")}
    assert len(names) == 4


# a kind's declared row: render draws what the kind declares, and names no kind ----------------


def _brighter(tile_row=None) -> CheckKind:
    """A kind render has never heard of, registered for a test."""
    extra = {} if tile_row is None else {"tile_row": tile_row}
    return CheckKind(
        name="brighter",
        metric_names=(),
        effect="mean_in",
        inputs=lambda case: None,
        measure=lambda *args: None,
        thresholds=lambda check: {},
        **extra,
    )


def _brighter_result(values: dict[str, float] | None = None) -> ClaimResult:
    evidence = CaseEvidence(
        image=_evidence().image, maps=_evidence().maps, region=_evidence().region
    )
    channels = [ChannelResult(c, c, True, values or {"mean_in": 1.5}) for c in (1, 2, 3)]
    case = CaseResult({"image": "face", "region": "eyes"}, channels, {}, True, evidence)
    check = CheckResult("brighter", "all", {}, [case], True)
    return ClaimResult("s.yaml", "b", "conv1", "features.0", [1, 2, 3], "all", [check], True)


def _red(tile: np.ndarray) -> int:
    return int(((tile[..., 0] > 150) & (tile[..., 1] < 60) & (tile[..., 2] < 60)).sum())


def test_a_kind_without_a_row_of_its_own_gets_the_image_and_its_maps(monkeypatch) -> None:
    monkeypatch.setitem(registry.KINDS, "brighter", _brighter())
    full = claim_tile(_brighter_result())
    monkeypatch.setitem(
        registry.KINDS, "brighter", _brighter(lambda *args: [[Panel(Photo(), ["face"])]])
    )
    image_only = claim_tile(_brighter_result())
    assert full.shape[1] > image_only.shape[1] + 150  # the claimed channels' maps beside it


def test_declared_numbers_are_drawn_in_the_colour_of_their_verdict(monkeypatch) -> None:
    def row(check, case, evidence, base):
        judged = Judged("mean_in", case.channels[0].values["mean_in"], 1.0, True)
        return [[Panel(ChannelMap(2), [judged])]]

    monkeypatch.setitem(registry.KINDS, "brighter", _brighter(row))
    assert _red(claim_tile(_brighter_result({"mean_in": 1.5}))) == 0
    assert _red(claim_tile(_brighter_result({"mean_in": 0.5}))) > 20  # "mean_in 0.5 < 1 ✗"


def test_render_names_no_check_kind() -> None:
    """What a kind's row shows is the kind's (checks/<kind>.py): render only draws panels."""
    import probecheck.render

    sources = Path(probecheck.render.__file__).parent.glob("*.py")
    text = "\n".join(path.read_text() for path in sources)
    named = [name for name in registry.KINDS if f'"{name}"' in text or f"'{name}'" in text]
    assert named == []


# one real result -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_failing_result(
    real_probe, write_face_spec: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
) -> ClaimResult:
    """Channel 35 drops with the eyes removed, but in the cheeks too: fails on the control."""
    from probecheck.checks import evaluate_claim
    from probecheck.spec import load_spec

    spec_path = write_face_spec(
        tmp_path_factory.mktemp("spec") / "face.yaml",
        """\
  - id: fire6-eyes
    layer: fire6-relu_squeeze1x1
    channels: [35]
    drop: {image: face, altered: face_no_eyes, region: eyes, at_least: 0.5,
            control: cheeks, control_altered: face_no_cheeks, control_at_most: 0.3}
""",
    )
    spec = load_spec(spec_path)
    return evaluate_claim(spec.claims[0], spec, real_probe)


def test_real_failing_claim_tile(real_failing_result: ClaimResult, tmp_path: Path) -> None:
    assert not real_failing_result.passed
    path = write_claim_tile(real_failing_result, tmp_path)
    assert path.name == "face__fire6-eyes.png"
    with Image.open(path) as png:
        assert png.size[0] > 6 * 160 and png.size[1] > 300
    assert path.stat().st_size < 1_000_000


def test_a_judged_number_on_a_tile_states_a_true_relation() -> None:
    """``drop 0.44 < 0.7 ✗``, never ``drop 0.44 ≥ 0.7 ✗``: the words read true either way."""
    from probecheck.render.tiles import _judged

    def words(line: object) -> str:
        return "".join(part[0] for part in line)  # type: ignore[union-attr]

    assert words(_judged("drop", 0.44, 0.7, True)).startswith("drop 0.44 < 0.7")
    assert words(_judged("drop", 0.96, 0.7, True)).startswith("drop 0.96 ≥ 0.7")
    assert words(_judged("control", 0.3, 0.25, False)).startswith("control 0.3 > 0.25")
    assert words(_judged("control", 0.1, 0.25, False)).startswith("control 0.1 ≤ 0.25")
