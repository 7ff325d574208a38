"""Unit tests for probecheck.metrics on hand-made arrays whose answers follow by arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.transform import resize

from probecheck import metrics
from probecheck.metrics import (
    channel_peaks,
    channel_ranking,
    combine,
    combine_values,
    drop,
    iou,
    iou_all,
    region_means,
    selectivity_ratio,
    silent,
    strongest,
)

# --- region_means ----------------------------------------------------------------------------


def test_region_means_by_hand() -> None:
    A = np.array([[[2.0, 4.0], [6.0, 8.0]]])
    w = np.array([[1.0, 0.0], [0.0, 0.5]])
    mean_in, mean_out = region_means(A, w)
    # in:  (1·2 + 0.5·8) / (1 + 0.5) = 6 / 1.5 = 4
    # out: (0·2 + 1·4 + 1·6 + 0.5·8) / (0 + 1 + 1 + 0.5) = 14 / 2.5 = 5.6
    assert mean_in.shape == mean_out.shape == (1,)
    assert mean_in.dtype == np.float64
    assert mean_in[0] == pytest.approx(4.0, abs=1e-12)
    assert mean_out[0] == pytest.approx(5.6, abs=1e-12)


def test_region_means_per_channel() -> None:
    A = np.stack([np.full((2, 3), 1.0), np.arange(6.0).reshape(2, 3)])
    w = np.zeros((2, 3))
    w[0, 0] = 1.0  # the region is the single cell holding 1 and 0
    mean_in, mean_out = region_means(A.astype(np.float32), w)
    np.testing.assert_allclose(mean_in, [1.0, 0.0])
    np.testing.assert_allclose(mean_out, [1.0, (1 + 2 + 3 + 4 + 5) / 5])


def test_region_outside_the_map_raises() -> None:
    with pytest.raises(ValueError, match="does not overlap"):
        region_means(np.ones((1, 2, 2)), np.zeros((2, 2)))


def test_region_covering_the_map_has_no_outside() -> None:
    mean_in, mean_out = region_means(np.ones((2, 2, 2)), np.ones((2, 2)))
    np.testing.assert_allclose(mean_in, [1.0, 1.0])
    assert np.isnan(mean_out).all()


def test_region_means_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="weight map"):
        region_means(np.ones((1, 2, 2)), np.ones((3, 3)))


# --- drop, silent, peaks ---------------------------------------------------------------------


def test_drop_by_hand() -> None:
    # (4 − 1) / 4 = 0.75; (4 − 5) / 4 = −0.25 (a rise); base 0 → nan
    got = drop(np.array([4.0, 4.0, 0.0]), np.array([1.0, 5.0, 1.0]))
    np.testing.assert_allclose(got[:2], [0.75, -0.25])
    assert np.isnan(got[2])


def test_channel_peaks() -> None:
    A = np.array([[[1.0, 5.0], [2.0, 0.0]], [[-3.0, -1.0], [-2.0, -4.0]]])
    np.testing.assert_array_equal(channel_peaks(A), [5.0, -1.0])


def test_silent() -> None:
    # 0 ≤ 1e-6·1; 1e-7 ≤ 1e-6; 0.5 > 1e-6 fires; peak 0: never fires; negative mean_in: silent
    mean_in = np.array([0.0, 1e-7, 0.5, 0.1, -0.2])
    peak = np.array([1.0, 1.0, 1.0, 0.0, 3.0])
    np.testing.assert_array_equal(silent(mean_in, peak), [True, True, False, True, True])


# --- selectivity -----------------------------------------------------------------------------


def test_selectivity_ratio_by_hand() -> None:
    w = np.array([[1.0, 0.0], [0.0, 0.0]])  # the region is the top-left cell
    A = np.array(
        [
            [[4.0, 1.0], [1.0, 1.0]],  # in 4, out 1 → 4
            [[3.0, 0.0], [0.0, 0.0]],  # fires only inside → inf
            [[0.0, 0.0], [0.0, 0.0]],  # never fires → 0
            [[-5.0, 2.0], [2.0, 2.0]],  # max(A, 0): in 0, out 2 → 0
            [[6.0, -4.0], [2.0, 5.0]],  # max(A, 0): in 6, out (0 + 2 + 5) / 3 → 18/7
        ]
    )
    got = selectivity_ratio(A, w)
    assert got[0] == pytest.approx(4.0)
    assert got[1] == math.inf
    assert got[2] == 0.0
    assert got[3] == 0.0
    assert got[4] == pytest.approx(18 / 7)


def test_selectivity_of_a_full_region_is_nan() -> None:
    assert np.isnan(selectivity_ratio(np.ones((1, 2, 2)), np.ones((2, 2)))).all()


# --- iou -------------------------------------------------------------------------------------


def _square(size: int = 8, side: int = 4) -> np.ndarray:
    region = np.zeros((size, size), bool)
    region[:side, :side] = True
    return region


def test_iou_of_a_map_hot_exactly_on_the_region_is_one() -> None:
    region = _square()  # 16 of 64 pixels; map at image resolution, so no resampling
    assert iou(region.astype(float), region, 0.75) == pytest.approx(1.0)


def test_iou_after_upsampling() -> None:
    # [[1, 0], [0, 0]] upsampled ×2 bilinearly (edge) is outer([1, .75, .25, 0], same):
    # its top 4 of 16 values (1, .75, .75, .5625) are exactly the top-left 2×2 block.
    region = _square(4, 2)
    assert iou(np.array([[1.0, 0.0], [0.0, 0.0]]), region, 0.75) == pytest.approx(1.0)


def test_iou_partial_overlap_by_hand() -> None:
    region = _square()  # rows 0..3, cols 0..3
    hot = np.zeros((8, 8))
    hot[0:4, 2:6] = 1.0  # rows 0..3, cols 2..5: overlap 4×2 = 8, union 16 + 16 − 8 = 24
    assert iou(hot, region, 0.75) == pytest.approx(8 / 24)


def test_iou_ties_fall_back_to_greater_or_equal() -> None:
    # a flat map: nothing is strictly above the threshold, so every pixel is kept:
    # IoU = region / image = 16 / 64
    assert iou(np.full((8, 8), 2.0), _square(), 0.9) == pytest.approx(0.25)


def test_iou_all_matches_single_channel_resizes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    A = rng.random((7, 5, 6))
    region = np.zeros((20, 24), bool)
    region[3:12, 4:15] = True
    expected = []
    for channel in A:  # the reference: one resize per channel, as the docstring describes
        up = resize(channel, region.shape, order=1, mode="edge", anti_aliasing=False)
        hot = up > np.quantile(up, 0.8)
        expected.append((hot & region).sum() / (hot | region).sum())
    got = iou_all(A, region, 0.8)
    assert got.shape == (7,)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    monkeypatch.setattr(metrics, "_IOU_CHUNK_VALUES", 2 * region.size)  # chunks of 2 channels
    np.testing.assert_allclose(iou_all(A, region, 0.8), expected, rtol=0, atol=1e-12)


def test_iou_rejects_a_bad_quantile() -> None:
    with pytest.raises(ValueError, match="quantile"):
        iou(np.ones((2, 2)), _square(), 1.5)


# --- ranking ---------------------------------------------------------------------------------


def test_ranking_by_peak_keeps_ties_in_index_order() -> None:
    peaks = [3.0, 5.0, 5.0, 1.0]
    A = np.zeros((4, 2, 2))
    for c, p in enumerate(peaks):
        A[c, 1, 1] = p
    np.testing.assert_array_equal(channel_ranking(A), [1, 2, 0, 3])
    assert strongest(A) == 1


def test_ranking_by_region_mean() -> None:
    # channel 0 peaks outside the region, channel 1 is strongest inside it
    A = np.array([[[0.0, 9.0], [0.0, 0.0]], [[2.0, 0.0], [0.0, 0.0]]])
    w = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert strongest(A) == 0
    np.testing.assert_array_equal(channel_ranking(A, w), [1, 0])
    assert strongest(A, w) == 1


# --- combining -------------------------------------------------------------------------------


def test_combine_verdicts() -> None:
    assert combine(np.array([True, True]), "all")
    assert not combine(np.array([True, False]), "all")
    assert combine(np.array([True, False]), "any")
    assert not combine(np.array([False, False]), "any")
    with pytest.raises(ValueError, match="combine_values"):
        combine(np.array([True]), "mean")
    with pytest.raises(ValueError, match="all, any, mean"):
        combine(np.array([True]), "most")


def test_combine_values() -> None:
    values = [0.2, 0.8]
    assert combine_values(values, "mean") == pytest.approx(0.5)
    assert combine_values(values, "all") == pytest.approx(0.2)  # the worst of at_least values
    assert combine_values(values, "any") == pytest.approx(0.8)
    assert combine_values(values, "all", higher_is_better=False) == pytest.approx(0.8)
    assert combine_values(values, "any", higher_is_better=False) == pytest.approx(0.2)
    with_nan = [0.2, math.nan]  # a silent channel
    assert math.isnan(combine_values(with_nan, "mean"))
    assert math.isnan(combine_values(with_nan, "all"))
    assert combine_values(with_nan, "any") == pytest.approx(0.2)
    with pytest.raises(ValueError):
        combine_values([], "mean")


def test_region_drop_applies_the_silence_rule_once() -> None:
    # channel 0: region mean 4 → 1, drop 0.75; channel 1: region mean −2 (silent), drop shown as 0
    A = np.array([[[4.0, 0.0]], [[-2.0, 5.0]]])
    A_altered = np.array([[[1.0, 0.0]], [[-9.0, 5.0]]])
    w = np.array([[1.0, 0.0]])
    measured = metrics.region_drop(A, A_altered, w, metrics.channel_peaks(A))
    assert measured.mean_in.tolist() == [4.0, -2.0]
    assert measured.silent.tolist() == [False, True]
    assert measured.drop[0] == pytest.approx(0.75)
    assert measured.drop_or_zero.tolist() == [pytest.approx(0.75), 0.0]


def test_a_map_peak_lands_on_the_image_pixel_under_it() -> None:
    """A 4×4 map over an 8×12 image: map pixel (row 1, col 2) covers image rows 2–3 and
    columns 6–8; its centre (row 1.5, col 2.5) scales to (y 3, x 7)."""
    grid = np.zeros((4, 4))
    grid[1, 2] = 1.0
    assert metrics.map_peak_in_image(grid, (8, 12, 3)) == (7, 3)
    grid = np.zeros((4, 4))
    grid[3, 3] = 1.0  # the last map pixel stays inside the image
    assert metrics.map_peak_in_image(grid, (8, 12)) == (10, 7)
