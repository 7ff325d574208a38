"""Unit tests for probecheck.regions: shapes → masks, masks → activation-grid fractions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import draw

from probecheck.regions import MaskBox, area_fractions, load_mask_png, outline, rasterise


def _cells(mask: np.ndarray) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(mask), strict=True)}


# --- rasterise -------------------------------------------------------------------------------


def test_box_is_column_row_with_exclusive_end() -> None:
    # [x0, y0, x1, y1] = [1, 2, 4, 4]: columns 1..3, rows 2..3
    mask = rasterise((5, 6), boxes=[[1, 2, 4, 4]])
    assert mask.dtype == bool and mask.shape == (5, 6)
    assert _cells(mask) == {(r, c) for r in (2, 3) for c in (1, 2, 3)}


def test_boxes_are_clipped_to_the_image() -> None:
    mask = rasterise((4, 4), boxes=[[-2, -2, 2, 2], [3, 3, 99, 99], [10, 10, 12, 12]])
    assert _cells(mask) == {(0, 0), (0, 1), (1, 0), (1, 1), (3, 3)}


def test_ellipse_matches_skimage_with_x_as_column() -> None:
    # [cx, cy, rx, ry] = [5, 4, 3, 1]: wide along columns, short along rows
    mask = rasterise((9, 11), ellipses=[[5, 4, 3, 1]])
    rr, cc = draw.ellipse(4, 5, 1, 3, shape=(9, 11))
    expected = np.zeros((9, 11), bool)
    expected[rr, cc] = True
    assert np.array_equal(mask, expected)
    rows, cols = np.nonzero(mask)
    assert mask[4, 5]
    assert np.ptp(cols) > np.ptp(rows)


def test_polygon_points_are_x_y() -> None:
    points = [[1, 1], [6, 1], [6, 3], [1, 3]]  # x (column) spans 1..6, y (row) spans 1..3
    mask = rasterise((8, 8), polygons=[points])
    rr, cc = draw.polygon([1, 1, 3, 3], [1, 6, 6, 1], shape=(8, 8))
    expected = np.zeros((8, 8), bool)
    expected[rr, cc] = True
    assert np.array_equal(mask, expected)
    rows, cols = np.nonzero(mask)
    assert rows.max() <= 3 and cols.max() >= 5


def test_shapes_and_mask_make_a_union() -> None:
    given = np.zeros((4, 4), np.uint8)
    given[3, 0] = 7  # any non-zero value is inside
    mask = rasterise((4, 4), boxes=[[0, 0, 1, 1]], mask=given)
    assert _cells(mask) == {(0, 0), (3, 0)}


def test_no_shapes_is_empty() -> None:
    assert not rasterise((3, 3)).any()


def test_mask_of_the_wrong_shape_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 4\)"):
        rasterise((4, 4), mask=np.ones((2, 3)))


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError):
        rasterise((4, 4), boxes=[[0, 0, 1]])
    with pytest.raises(ValueError):
        rasterise((4, 4), ellipses=[[1, 1, 0, 1]])
    with pytest.raises(ValueError):
        rasterise((4, 4), polygons=[[[0, 0], [1, 1]]])


# --- load_mask_png ---------------------------------------------------------------------------


def _save(tmp_path: Path, img: Image.Image, name: str) -> Path:
    path = tmp_path / name
    img.save(path)
    return path


def test_load_grayscale_mask(tmp_path: Path) -> None:
    arr = np.zeros((4, 5), np.uint8)
    arr[1, 2] = 255
    arr[3, 4] = 1
    got = load_mask_png(_save(tmp_path, Image.fromarray(arr, "L"), "m.png"))
    assert got.dtype == bool and _cells(got) == {(1, 2), (3, 4)}


def test_load_rgb_mask_any_channel(tmp_path: Path) -> None:
    arr = np.zeros((3, 3, 3), np.uint8)
    arr[0, 0, 2] = 10  # blue only
    arr[2, 1, 0] = 200  # red only
    got = load_mask_png(_save(tmp_path, Image.fromarray(arr, "RGB"), "m.png"))
    assert _cells(got) == {(0, 0), (2, 1)}


def test_load_rgba_ignores_alpha_when_colour_is_present(tmp_path: Path) -> None:
    arr = np.zeros((3, 3, 4), np.uint8)
    arr[..., 3] = 255
    arr[0, 1, 3] = 0  # a transparent pixel outside: alpha must not matter
    arr[1, 1, :3] = 255
    got = load_mask_png(_save(tmp_path, Image.fromarray(arr, "RGBA"), "m.png"))
    assert _cells(got) == {(1, 1)}


def test_load_alpha_only_mask(tmp_path: Path) -> None:
    arr = np.zeros((3, 4, 4), np.uint8)
    arr[2, 3, 3] = 255  # black everywhere; the region is drawn in alpha
    got = load_mask_png(_save(tmp_path, Image.fromarray(arr, "RGBA"), "m.png"))
    assert _cells(got) == {(2, 3)}
    la = np.zeros((3, 4, 2), np.uint8)
    la[0, 0, 1] = 128
    got = load_mask_png(_save(tmp_path, Image.fromarray(la, "LA"), "la.png"))
    assert _cells(got) == {(0, 0)}


def test_load_opaque_black_is_empty(tmp_path: Path) -> None:
    arr = np.zeros((3, 3, 4), np.uint8)
    arr[..., 3] = 255
    assert not load_mask_png(_save(tmp_path, Image.fromarray(arr, "RGBA"), "m.png")).any()


def test_load_bilevel_palette_and_16bit(tmp_path: Path) -> None:
    arr = np.zeros((4, 4), np.uint8)
    arr[1:3, 2] = 255
    expected = {(1, 2), (2, 2)}
    bilevel = Image.fromarray(arr, "L").convert("1")
    assert _cells(load_mask_png(_save(tmp_path, bilevel, "b.png"))) == expected
    palette = Image.fromarray(arr, "L").convert("P")
    assert _cells(load_mask_png(_save(tmp_path, palette, "p.png"))) == expected
    deep = Image.fromarray(arr.astype(np.uint16) * 257)  # 16-bit grayscale
    assert _cells(load_mask_png(_save(tmp_path, deep, "d.png"))) == expected


# --- area_fractions --------------------------------------------------------------------------


def test_fractions_integer_ratio() -> None:
    # 4×4 → 2×2: each cell is a 2×2 block of pixels (area 4).
    mask = np.zeros((4, 4), bool)
    mask[0:2, 0:2] = True  # fills cell (0, 0): 4/4
    mask[3, 3] = True  # one pixel of cell (1, 1): 1/4
    mask[0, 2] = mask[1, 3] = True  # two pixels of cell (0, 1): 2/4
    got = area_fractions(mask, (2, 2))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [[1.0, 0.5], [0.0, 0.25]], rtol=0, atol=1e-12)


def test_fractions_non_integer_ratio_by_hand() -> None:
    # 3×3 → 2×2: cells cover rows/cols [0, 1.5) and [1.5, 3); cell area 1.5 × 1.5 = 2.25.
    # pixel (0, 0) lies wholly in cell (0, 0): 1 / 2.25 = 4/9.
    # the centre pixel (1, 1) is split 0.5 × 0.5 = 0.25 into each cell: 0.25 / 2.25 = 1/9.
    mask = np.zeros((3, 3), bool)
    mask[0, 0] = mask[1, 1] = True
    got = area_fractions(mask, (2, 2))
    np.testing.assert_allclose(got, [[5 / 9, 1 / 9], [1 / 9, 1 / 9]], rtol=0, atol=1e-12)
    # pixel (0, 1) is split 1 × 0.5 between cells (0, 0) and (0, 1): 0.5 / 2.25 = 2/9 each
    edge = np.zeros((3, 3), bool)
    edge[0, 1] = True
    np.testing.assert_allclose(
        area_fractions(edge, (2, 2)), [[2 / 9, 2 / 9], [0, 0]], rtol=0, atol=1e-12
    )


def test_fractions_match_supersampling() -> None:
    # Repeating every pixel h×w times makes every cell an exact H×W block of sub-pixels.
    rng = np.random.default_rng(1)
    mask = rng.random((7, 5)) > 0.5
    grid = (3, 2)
    fine = np.kron(mask, np.ones(grid)).reshape(grid[0], 7, grid[1], 5)
    expected = fine.mean(axis=(1, 3))
    np.testing.assert_allclose(area_fractions(mask, grid), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "grid"), [((227, 227), (13, 13)), ((7, 5), (3, 2)), ((2, 2), (4, 4))]
)
def test_full_mask_gives_ones(shape: tuple[int, int], grid: tuple[int, int]) -> None:
    np.testing.assert_allclose(area_fractions(np.ones(shape, bool), grid), 1.0, rtol=0, atol=1e-12)


def test_fractions_conserve_area() -> None:
    # Σ fraction × cell area = mask area, with cell area = H·W / (h·w): mean(f) · H·W = area.
    rng = np.random.default_rng(0)
    mask = rng.random((227, 227)) > 0.7
    got = area_fractions(mask, (13, 13))
    assert got.mean() * mask.size == pytest.approx(mask.sum(), abs=1e-9)
    assert (got >= 0).all() and (got <= 1).all()


def test_fractions_finer_grid() -> None:
    # 2×2 → 4×4: pixel (0, 0) covers cells rows 0..1, cols 0..1 entirely
    mask = np.zeros((2, 2), bool)
    mask[0, 0] = True
    expected = np.zeros((4, 4))
    expected[:2, :2] = 1.0
    np.testing.assert_allclose(area_fractions(mask, (4, 4)), expected, rtol=0, atol=1e-12)


def test_fractions_of_a_small_region_equal_the_whole_image_product() -> None:
    # only the region's bounding box and the cells it touches are multiplied: same numbers
    from probecheck.regions import _overlap_matrix

    rng = np.random.default_rng(3)
    for _ in range(40):
        height, width = (int(n) for n in rng.integers(5, 260, 2))
        mask = np.zeros((height, width), bool)
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        mask[y : y + int(rng.integers(1, 40)), x : x + int(rng.integers(1, 40))] = True
        mask[int(rng.integers(0, height)), int(rng.integers(0, width))] = True
        grid = (int(rng.integers(1, 120)), int(rng.integers(1, 120)))
        ry, rx = _overlap_matrix(grid[0], height), _overlap_matrix(grid[1], width)
        whole = (ry @ mask.astype(np.float64) @ rx.T) / float(height * width)
        assert np.array_equal(area_fractions(mask, grid), whole)
    assert not area_fractions(np.zeros((9, 9), bool), (3, 3)).any()


def test_fractions_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        area_fractions(np.ones((2, 2, 3)), (1, 1))
    with pytest.raises(ValueError):
        area_fractions(np.ones((2, 2)), (0, 1))


# --- outline ---------------------------------------------------------------------------------


def test_outline_is_the_inner_ring() -> None:
    mask = np.zeros((9, 9), bool)
    mask[2:7, 2:7] = True  # 5×5 square: its ring has 25 − 9 = 16 pixels
    ring = outline(mask)
    assert ring.dtype == bool
    assert ring.sum() == 16
    assert not (ring & ~mask).any()
    assert not ring[4, 4]


def test_one_mask_box_gives_the_fractions_of_every_grid() -> None:
    """Reading the mask once (find meets several grids per forward pass) changes no bit."""
    rng = np.random.default_rng(3)
    mask = np.zeros((97, 130), bool)
    mask[rng.integers(0, 97, 40), rng.integers(0, 130, 40)] = True
    mask[20:45, 70:101] = True
    box = MaskBox.of(mask)
    for grid in [(1, 1), (13, 13), (27, 27), (55, 55), (111, 111), (97, 130), (200, 9)]:
        np.testing.assert_array_equal(box.fractions(grid), area_fractions(mask, grid))
        assert np.isclose(box.fractions(grid).sum(), mask.sum() / mask.size * grid[0] * grid[1])
    empty = MaskBox.of(np.zeros((5, 6), bool))
    np.testing.assert_array_equal(empty.fractions((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="2-D"):
        MaskBox.of(np.zeros((2, 2, 2), bool))
