"""Unit tests for probecheck.masking: only the masked pixels change, and sensibly."""

from __future__ import annotations

import numpy as np
import pytest

from probecheck.masking import MASK_METHODS, mask_image


def _gradient(height: int = 32, width: int = 48) -> np.ndarray:
    """A smooth image: red grows with the column, green with the row, blue constant."""
    rows, cols = np.mgrid[0:height, 0:width]
    img = np.stack([cols * 4, rows * 6, np.full_like(rows, 100)], axis=-1)
    return img.astype(np.uint8)


def _hole(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[10:20, 15:30] = True
    return mask


@pytest.mark.parametrize("method", MASK_METHODS)
def test_only_masked_pixels_change_and_input_is_kept(method: str) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(24, 30, 3), dtype=np.uint8)
    before = image.copy()
    mask = np.zeros((24, 30), bool)
    mask[5:12, 8:20] = True
    out = mask_image(image, mask, method)
    assert out is not image and out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(image, before)
    assert np.array_equal(out[~mask], image[~mask])
    assert not np.array_equal(out[mask], image[mask])


def test_gray_fills_128() -> None:
    image = _gradient()
    mask = _hole(image.shape[:2])
    out = mask_image(image, mask, "gray")
    assert (out[mask] == 128).all()


def test_mean_is_the_whole_image_mean_colour() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, 2:] = (200, 100, 50)  # half black, half (200, 100, 50): mean (100, 50, 25)
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    out = mask_image(image, mask, "mean")
    assert tuple(out[0, 0]) == (100, 50, 25)


def test_noise_is_reproducible_by_seed() -> None:
    image = _gradient()
    mask = _hole(image.shape[:2])
    first = mask_image(image, mask, "noise", seed=7)
    again = mask_image(image, mask, "noise", seed=7)
    other = mask_image(image, mask, "noise", seed=8)
    assert np.array_equal(first, again)
    assert not np.array_equal(first[mask], other[mask])
    values = first[mask]
    assert values.min() < 30 and values.max() > 225  # spread over 0..255


def test_inpaint_recovers_a_smooth_gradient() -> None:
    # A linear gradient is biharmonic, so inpainting should restore it almost exactly.
    image = _gradient()
    mask = _hole(image.shape[:2])
    holed = image.copy()
    holed[mask] = 0  # the original content must not leak in: inpaint only sees the border
    out = mask_image(holed, mask, "inpaint")
    error = np.abs(out[mask].astype(int) - image[mask].astype(int))
    assert error.max() <= 3


def test_inpaint_at_the_image_corner() -> None:
    image = _gradient()
    mask = np.zeros(image.shape[:2], bool)
    mask[:5, :6] = True
    out = mask_image(image, mask, "inpaint")
    # with the image edge on two sides the hole is extrapolated, not interpolated: looser bound
    # (whole-image inpaint_biharmonic is off by the same 10 levels here)
    error = np.abs(out[mask].astype(int) - image[mask].astype(int))
    assert error.max() <= 12


def test_blur_smooths_the_region() -> None:
    rows, cols = np.mgrid[0:40, 0:40]
    checker = (((rows // 2) + (cols // 2)) % 2 * 255).astype(np.uint8)
    image = np.repeat(checker[..., None], 3, axis=-1)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    out = mask_image(image, mask, "blur")
    assert out[mask].astype(float).std() < 0.2 * image[mask].astype(float).std()
    flat = np.full((20, 20, 3), 77, np.uint8)  # blurring a constant image changes nothing
    assert np.array_equal(mask_image(flat, mask[:20, :20], "blur"), flat)


def test_empty_mask_returns_an_equal_copy() -> None:
    image = _gradient()
    out = mask_image(image, np.zeros(image.shape[:2], bool), "inpaint")
    assert out is not image and np.array_equal(out, image)


def test_unknown_method_lists_the_methods() -> None:
    image = _gradient()
    with pytest.raises(ValueError, match="inpaint, blur, mean, gray, noise"):
        mask_image(image, _hole(image.shape[:2]), "erase")


def test_bad_shapes_are_rejected() -> None:
    image = _gradient()
    with pytest.raises(ValueError, match="mask shape"):
        mask_image(image, np.zeros((3, 3), bool), "gray")
    with pytest.raises(ValueError, match="uint8"):
        mask_image(image.astype(float), _hole(image.shape[:2]), "gray")
