"""Activation pictures in the walkthrough's style: ``imtile(mat2gray(act))``, maps beside a photo.

Also the small drawing kit the claim tiles are built from: min-max scaling, a colormap, titled
panels, stacking and an atomic PNG writer. Pure numpy / scikit-image / Pillow; no torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from skimage.exposure import rescale_intensity
from skimage.transform import resize
from skimage.util import montage

from probecheck.atomic import write_atomic

__all__ = [
    "BLACK",
    "GRAY",
    "GREEN",
    "RED",
    "WHITE",
    "band_height",
    "channel_montage",
    "colorize",
    "fit_panel",
    "hstack",
    "maps_beside_image",
    "save_png",
    "scale01",
    "text_band",
    "titled",
    "vstack",
]

RGB = tuple[int, int, int]
Segment = tuple[str, RGB]
Line = str | Sequence[Segment]  # plain text, or runs of coloured text

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
GRAY: RGB = (110, 110, 110)
RED: RGB = (200, 0, 0)
GREEN: RGB = (0, 130, 0)
SEPARATOR: RGB = (70, 110, 170)  # between montage tiles: unlike any gray level of a map

FONT_SIZE = 13
LINE_GAP = 3
BAND_PAD = 4

# ASCII stand-ins for the few symbols Pillow's bundled default font has no glyph for.
_ASCII = str.maketrans(
    {"✓": "ok", "✗": "X", "≥": ">=", "≤": "<=", "→": "->", "∈": "in", "×": "x", "—": "-"}
)


@lru_cache(maxsize=8)
def _font(
    size: int, mono: bool = False
) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, bool]:
    """DejaVu where the system has it (it has ✓ ≥ →); else Pillow's own font, ASCII-only."""
    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(name, size), True
    except OSError:
        return ImageFont.load_default(size=size), False


def _text(text: str, unicode_ok: bool) -> str:
    return text if unicode_ok else text.translate(_ASCII)


def _segments(line: Line, color: RGB) -> list[Segment]:
    return [(line, color)] if isinstance(line, str) else list(line)


def band_height(lines: int = 1, size: int = FONT_SIZE) -> int:
    """Height in pixels of a white title band holding ``lines`` lines of text."""
    return 2 * BAND_PAD + lines * (size + LINE_GAP) if lines else 0


def text_width(line: Line, size: int = FONT_SIZE, *, mono: bool = False) -> int:
    """Width in pixels that ``line`` takes when drawn."""
    font, unicode_ok = _font(size, mono)
    return math.ceil(sum(font.getlength(_text(t, unicode_ok)) for t, _ in _segments(line, BLACK)))


def text_band(
    lines: Sequence[Line],
    width: int,
    *,
    size: int = FONT_SIZE,
    color: RGB = BLACK,
    mono: bool = False,
    height: int | None = None,
) -> NDArray[np.uint8]:
    """A white band with ``lines`` of text, cut with '…' where a line is wider than the band."""
    font, unicode_ok = _font(size, mono)
    band = Image.new("RGB", (max(width, 1), height or band_height(len(lines), size)), WHITE)
    draw = ImageDraw.Draw(band)
    for row, line in enumerate(lines):
        x, y = float(BAND_PAD), BAND_PAD + row * (size + LINE_GAP)
        limit = width - BAND_PAD
        for text, rgb in _segments(line, color):
            text = _text(text, unicode_ok)
            if x + font.getlength(text) > limit:
                while text and x + font.getlength(text + "…") > limit:
                    text = text[:-1]
                draw.text((x, y), text + "…", fill=rgb, font=font)
                break
            draw.text((x, y), text, fill=rgb, font=font)
            x += font.getlength(text)
    return np.asarray(band)


def titled(
    panel: NDArray[np.uint8], lines: Sequence[Line], *, size: int = FONT_SIZE
) -> NDArray[np.uint8]:
    """``panel`` under a white band with its title lines."""
    return np.vstack([text_band(lines, panel.shape[1], size=size), _rgb(panel)])


def scale01(
    array: NDArray, lo: float | None = None, hi: float | None = None
) -> NDArray[np.float64]:
    """``mat2gray``: min-max scaled to [0, 1] (or over [lo, hi]); a constant map is all black."""
    values = np.nan_to_num(np.asarray(array, dtype=np.float64), nan=0.0)
    lo = float(values.min()) if lo is None else lo
    hi = float(values.max()) if hi is None else hi
    if not hi > lo:
        return np.zeros_like(values)
    return rescale_intensity(values, in_range=(lo, hi), out_range=(0.0, 1.0))


# A few anchors of matplotlib's 'inferno' (perceptually uniform, dark = low, bright = high).
_INFERNO = np.array(
    [
        (0, 0, 4),
        (31, 12, 72),
        (85, 15, 109),
        (136, 34, 106),
        (186, 54, 85),
        (227, 89, 51),
        (249, 140, 10),
        (249, 201, 50),
        (252, 255, 164),
    ],
    dtype=np.float64,
)


def colorize(gray01: NDArray, *, colormap: str | None = "inferno") -> NDArray[np.uint8]:
    """Values in [0, 1] as RGB: 'inferno'-like, or gray levels with ``colormap=None``."""
    gray = np.clip(np.asarray(gray01, dtype=np.float64), 0.0, 1.0)
    if colormap is None:
        return np.repeat((gray * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    if colormap != "inferno":
        raise ValueError(f"unknown colormap {colormap!r}; 'inferno' or None")
    anchors = np.linspace(0.0, 1.0, len(_INFERNO))
    rgb = [np.interp(gray, anchors, _INFERNO[:, k]) for k in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def _rgb(image: NDArray) -> NDArray[np.uint8]:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
    return image


def fit_panel(image: NDArray, height: int, *, order: int = 1) -> NDArray[np.uint8]:
    """``image`` resized to ``height`` rows, keeping its aspect (photos, colorised maps)."""
    image = _rgb(image)
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    if image.shape[:2] == (height, width):
        return image
    out = resize(image, (height, width), order=order, anti_aliasing=order > 0, preserve_range=True)
    return out.round().astype(np.uint8)


def _pad_to(image: NDArray[np.uint8], height: int, width: int, fill: RGB) -> NDArray[np.uint8]:
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[...] = fill
    out[: image.shape[0], : image.shape[1]] = image
    return out


def hstack(
    panels: Sequence[NDArray[np.uint8]], *, gap: int = 6, fill: RGB = WHITE
) -> NDArray[np.uint8]:
    """Panels side by side, top-aligned, ``gap`` pixels apart."""
    height = max(p.shape[0] for p in panels)
    parts: list[NDArray[np.uint8]] = []
    for i, panel in enumerate(panels):
        if i:
            parts.append(_pad_to(np.zeros((0, gap, 3), np.uint8), height, gap, fill))
        parts.append(_pad_to(_rgb(panel), height, panel.shape[1], fill))
    return np.hstack(parts)


def vstack(
    panels: Sequence[NDArray[np.uint8]], *, gap: int = 0, fill: RGB = WHITE
) -> NDArray[np.uint8]:
    """Panels one above the other, left-aligned, padded to the widest."""
    width = max(p.shape[1] for p in panels)
    parts: list[NDArray[np.uint8]] = []
    for i, panel in enumerate(panels):
        if i and gap:
            parts.append(_pad_to(np.zeros((gap, 0, 3), np.uint8), gap, width, fill))
        parts.append(_pad_to(_rgb(panel), panel.shape[0], width, fill))
    return np.vstack(parts)


def _auto_grid(count: int) -> tuple[int, int]:
    """~square, as ``imtile`` does: as many columns as the square root, rows as needed."""
    cols = max(1, math.ceil(math.sqrt(count)))
    return max(1, math.ceil(count / cols)), cols


def channel_montage(
    maps: NDArray,
    *,
    grid: tuple[int, int] | None = None,
    scale_each: bool = True,
    padding: int = 1,
    tile_size: int | None = None,
) -> NDArray[np.uint8]:
    """``imtile(mat2gray(act))``: every channel of a (C, h, w) layer output as one gray tile.

    With ``scale_each`` each channel is min-max scaled on its own (its pattern is what matters);
    otherwise over the whole layer, so that tiles compare in strength. Tiles are separated by
    ``padding``-pixel blue lines, which no gray level of a map can be mistaken for. With
    ``tile_size`` each map is resized to that many pixels square (small maps grow, a wide
    layer's montage stays a sensible size).
    """
    maps = np.asarray(maps)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(f"maps must be (C, h, w) with C ≥ 1, got shape {maps.shape}")
    if tile_size is not None:
        maps = resize(maps, (maps.shape[0], tile_size, tile_size), anti_aliasing=True)
    rows, cols = grid if grid is not None else _auto_grid(maps.shape[0])
    if rows * cols < maps.shape[0]:
        raise ValueError(f"a {rows}×{cols} grid holds fewer than {maps.shape[0]} channels")
    scaled = np.stack([scale01(m) for m in maps]) if scale_each else scale01(maps)
    tiles = np.repeat(scaled[..., None], 3, axis=-1)
    fill = tuple(c / 255 for c in SEPARATOR)
    tiled = montage(
        tiles, fill=fill, grid_shape=(rows, cols), padding_width=padding, channel_axis=-1
    )
    return (tiled * 255).round().astype(np.uint8)


def maps_beside_image(
    image: NDArray[np.uint8],
    maps: NDArray,
    channels: list[int],
    labels: list[str] | None = None,
) -> NDArray[np.uint8]:
    """The image and each chosen channel's map (min-max scaled, resized to the image), titled.

    The output is the image's height plus one title band (:func:`band_height`).
    """
    image = _rgb(image)
    maps = np.asarray(maps)
    if labels is None:
        labels = ["image", *(f"channel {c}" for c in channels)]
    if len(labels) != len(channels) + 1:
        raise ValueError("labels: one for the image, then one per channel")
    height, width = image.shape[:2]
    panels = [titled(image, [labels[0]])]
    for channel, label in zip(channels, labels[1:], strict=True):
        big = resize(scale01(maps[channel]), (height, width), order=1, anti_aliasing=False)
        panels.append(titled(colorize(big, colormap=None), [label]))
    return hstack(panels)


def save_png(array: NDArray, path: str | os.PathLike[str]) -> Path:
    """Write ``array`` as a PNG atomically: a half-written file never appears under ``path``.

    The temporary file sits in the target directory, so ``os.replace`` is a rename on one
    filesystem; parallel writers (xdist workers) never see each other's partial files.
    """
    image = Image.fromarray(_rgb(array))
    return write_atomic(path, lambda handle: image.save(handle, format="PNG", optimize=True))
