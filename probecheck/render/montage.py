"""Activation pictures in the walkthrough's style: ``imtile(mat2gray(act))``, maps beside a photo.

Also the small drawing kit the claim tiles are built from: min-max scaling, a colormap, titled
panels, stacking and an atomic PNG writer. Pure numpy / scikit-image / Pillow; no torch.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
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
    "NEUTRAL",
    "RED",
    "WHITE",
    "MapScale",
    "band_height",
    "channel_montage",
    "colorbar",
    "colorize",
    "fit_panel",
    "hstack",
    "labelled_montage",
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
    {
        "✓": "ok",
        "✗": "X",
        "≥": ">=",
        "≤": "<=",
        "→": "->",
        "∈": "in",
        "×": "x",
        "—": "-",
        "–": "-",
        "−": "-",
    }
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


def wrap_line(line: Line, width: int, size: int = FONT_SIZE, *, mono: bool = False) -> list[Line]:
    """``line`` broken at spaces into lines at most ``width`` pixels wide (colours kept).

    A single word wider than ``width`` stays on a line of its own (:func:`text_band` then cuts it
    with '…'); continuation lines are indented by two spaces.
    """
    limit = width - 2 * BAND_PAD
    if text_width(line, size, mono=mono) <= limit:
        return [line]
    words: list[Segment] = []
    for text, rgb in _segments(line, BLACK):
        words += [(word, rgb) for word in re.findall(r"\S+\s*|\s+", text)]
    lines: list[list[Segment]] = [[]]
    for word, rgb in words:
        current = lines[-1]
        candidate = [*current, (word.rstrip(), rgb)]
        if current and text_width(candidate, size, mono=mono) > limit:
            lines.append([("  " + word.lstrip(), rgb)] if word.strip() else [])
        else:
            current.append((word, rgb))
    return [
        [(t.rstrip() if i == len(seg) - 1 else t, c) for i, (t, c) in enumerate(seg)]
        for seg in lines
        if seg
    ]


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
#: ColorBrewer's 'RdBu', blue for negative to red for positive; its middle anchor is the neutral
#: colour, so a map scaled symmetrically about zero (:class:`MapScale`) draws 0 as near-white.
_DIVERGING = np.array(
    [
        (5, 48, 97),
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
        (103, 0, 31),
    ],
    dtype=np.float64,
)
NEUTRAL: RGB = (247, 247, 247)  # the diverging map's colour for 0
COLORMAPS = ("inferno", "diverging", "gray")


def colorize(gray01: NDArray, *, colormap: str | None = "inferno") -> NDArray[np.uint8]:
    """Values in [0, 1] as RGB: 'inferno', 'diverging' (0.5 = neutral), or gray (``None``)."""
    gray = np.clip(np.nan_to_num(np.asarray(gray01, dtype=np.float64), nan=0.0), 0.0, 1.0)
    if colormap is None or colormap == "gray":
        return np.repeat((gray * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    table = {"inferno": _INFERNO, "diverging": _DIVERGING}.get(colormap)
    if table is None:
        raise ValueError(f"unknown colormap {colormap!r}; one of {', '.join(COLORMAPS)}")
    anchors = np.linspace(0.0, 1.0, len(table))
    rgb = [np.interp(gray, anchors, table[:, k]) for k in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


@dataclass(frozen=True)
class MapScale:
    """How activation values become colours, and what the colour bar says.

    Maps that go negative (pre-ReLU) are drawn with the diverging colormap over ``[-m, m]``,
    ``m`` their largest magnitude, so 0 is the neutral colour and the sign reads at a glance;
    non-negative maps use ``sequential`` over their own ``[lo, hi]``.
    """

    lo: float
    hi: float
    colormap: str = "inferno"

    @classmethod
    def of(cls, *maps: NDArray | None, sequential: str = "inferno") -> MapScale:
        """The scale shared by ``maps`` (missing ones skipped): diverging where any is negative."""
        values = [np.nan_to_num(np.asarray(m, dtype=np.float64)) for m in maps if m is not None]
        lo = min((float(v.min()) for v in values if v.size), default=0.0)
        hi = max((float(v.max()) for v in values if v.size), default=0.0)
        if lo < 0:
            top = max(-lo, hi)
            return cls(-top, top, "diverging")
        return cls(lo, hi, sequential)

    @property
    def diverging(self) -> bool:
        return self.colormap == "diverging"

    def unit(self, values: NDArray) -> NDArray[np.float64]:
        """``values`` on [0, 1] (0.5 = zero on a diverging scale, also where it is all zero)."""
        if self.diverging and not self.hi > self.lo:
            return np.full(np.shape(values), 0.5)
        return scale01(values, self.lo, self.hi)

    def rgb(self, values: NDArray) -> NDArray[np.uint8]:
        return colorize(self.unit(values), colormap=self.colormap)


def number(value: float) -> str:
    """A colour bar's tick: 3 significant digits, a true minus sign."""
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.4g}"
    return text.replace("-", "−")


def colorbar(
    scale: MapScale,
    width: int,
    *,
    ticks: Sequence[str] | None = None,
    size: int = 11,
    bar: int = 8,
) -> NDArray[np.uint8]:
    """A horizontal colour bar ``width`` pixels wide with its ticks written under it.

    Ticks default to the scale's ends (and 0 in the middle of a diverging one); ``ticks`` names
    them instead (e.g. ``("−max", "0", "+max")`` where every map has a scale of its own).
    """
    width = max(width, 1)
    ramp = colorize(np.linspace(0.0, 1.0, width)[None, :].repeat(bar, 0), colormap=scale.colormap)
    if ticks is None:
        ticks = [number(scale.lo), number(scale.hi)]
        if scale.diverging:
            ticks.insert(1, "0")
    font, unicode_ok = _font(size)
    band = Image.new("RGB", (width, size + 3), WHITE)
    draw = ImageDraw.Draw(band)
    for k, tick in enumerate(ticks):
        text = _text(tick, unicode_ok)
        length = font.getlength(text)
        centre = k * (width - 1) / max(len(ticks) - 1, 1)
        x = min(max(centre - length / 2, 0.0), width - length)
        draw.text((x, 1), text, fill=GRAY, font=font)
    return np.vstack([ramp, np.asarray(band)])


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


LABEL_SIZE = 11
MIN_LABELLED_TILE = 40  # a labelled tile's longer side at least, so its number fits


def display_shape(
    map_shape: tuple[int, int], aspect: float | None = None, side: int | None = None
) -> tuple[int, int]:
    """(rows, cols) to draw a map at: ``side`` pixels on its longer side, ``aspect`` = width/height.

    The network sees the whole image resized to its (square) input, never cropped, so its maps
    are the image squashed; drawn at the image's aspect they line up with the photo again.
    """
    rows, cols = map_shape
    side = side or max(rows, cols)
    aspect = aspect or cols / rows
    if aspect >= 1:
        return max(1, round(side / aspect)), side
    return side, max(1, round(side * aspect))


def _resized(values: NDArray, shape: tuple[int, int]) -> NDArray[np.float64]:
    values = np.asarray(values, dtype=np.float64)
    if values.shape == shape:
        return values
    shrink = shape[0] < values.shape[0] or shape[1] < values.shape[1]
    return resize(values, shape, order=1, anti_aliasing=shrink, preserve_range=True)


def _label(text: str, width: int, size: int = LABEL_SIZE) -> NDArray[np.uint8]:
    """A white strip with ``text`` at its left: a montage tile's channel number."""
    font, unicode_ok = _font(size)
    strip = Image.new("RGB", (width, size + 3), WHITE)
    ImageDraw.Draw(strip).text((1, 1), _text(text, unicode_ok), fill=BLACK, font=font)
    return np.asarray(strip)


def _channel_scales(maps: NDArray, scale_each: bool, sequential: str) -> list[MapScale]:
    layer = MapScale.of(maps, sequential=sequential)
    if not scale_each:
        return [layer] * len(maps)
    if layer.diverging:  # every tile about its own zero: the sign stays readable
        tops = [float(np.abs(np.nan_to_num(m)).max()) for m in maps]
        return [MapScale(-top, top, "diverging") for top in tops]
    return [MapScale.of(m, sequential=sequential) for m in maps]


def labelled_montage(
    maps: NDArray,
    *,
    base: int = 0,
    aspect: float | None = None,
    grid: tuple[int, int] | None = None,
    tile_size: int | None = None,
    scale_each: bool = True,
    sequential: str = "gray",
    padding: int = 2,
) -> NDArray[np.uint8]:
    """Every channel of a (C, h, w) layer as one tile, numbered, with a colour bar underneath.

    Each tile is titled with its channel number counted from ``base`` (0, or 1 as in MATLAB) and
    drawn at the image's ``aspect`` (width/height), ``tile_size`` pixels on its longer side (by
    default the map's own size, at least :data:`MIN_LABELLED_TILE`). A layer that goes negative
    (pre-ReLU) uses the diverging colormap centred on zero; otherwise ``sequential`` (gray, as
    ``mat2gray``). With ``scale_each`` each tile has its own range (its pattern is what
    matters), else the whole layer shares one, so tiles compare in strength.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(f"maps must be (C, h, w) with C ≥ 1, got shape {maps.shape}")
    rows, cols = grid if grid is not None else _auto_grid(maps.shape[0])
    if rows * cols < maps.shape[0]:
        raise ValueError(f"a {rows}×{cols} grid holds fewer than {maps.shape[0]} channels")
    side = tile_size or max(*maps.shape[1:], MIN_LABELLED_TILE)
    shape = display_shape(maps.shape[1:], aspect, side)
    scales = _channel_scales(maps, scale_each, sequential)
    tiles = [
        np.vstack([_label(str(c + base), shape[1]), scale.rgb(_resized(m, shape))])
        for c, (m, scale) in enumerate(zip(maps, scales, strict=True))
    ]
    fill = tuple(c / 255 for c in SEPARATOR)
    tiled = montage(
        np.stack(tiles).astype(np.float64) / 255,
        fill=fill,
        grid_shape=(rows, cols),
        padding_width=padding,
        channel_axis=-1,
    )
    picture = (tiled * 255).round().astype(np.uint8)
    return vstack([picture, _montage_key(scales[0], scale_each, base, picture.shape[1])], gap=4)


def _montage_key(scale: MapScale, scale_each: bool, base: int, width: int) -> NDArray[np.uint8]:
    """Under the montage: what the numbers count from, and the colour bar."""
    counted = "from 1 (MATLAB)" if base == 1 else f"from {base}"
    ticks: tuple[str, ...] | None = None
    if scale.diverging:
        colours = "blue < 0 = white < red"
        if scale_each:
            ticks, how = ("−max |value|", "0", "+max |value|"), "each tile about its own zero"
        else:
            how = "one scale for the layer"
    else:
        colours = "dark = low, bright = high"
        if scale_each:
            ticks, how = ("min", "max"), "each tile min-max scaled on its own"
        else:
            how = "one scale for the layer"
    text = f"channels numbered {counted} · {colours} · {how}"
    caption = wrap_line(text, width, LABEL_SIZE + 1)
    bar_width = min(width - 2 * BAND_PAD, 320)
    bar = hstack(
        [np.full((1, BAND_PAD, 3), 255, np.uint8), colorbar(scale, bar_width, ticks=ticks)], gap=0
    )
    return vstack([text_band(caption, width, size=LABEL_SIZE + 1), bar], gap=0)


def maps_beside_image(
    image: NDArray[np.uint8],
    maps: NDArray,
    channels: list[int],
    labels: list[str] | None = None,
) -> NDArray[np.uint8]:
    """The image and each chosen channel's map resized to the image, titled, with a colour bar.

    Each map has its own scale (:class:`MapScale`): diverging about zero where it goes negative,
    gray from its minimum to its maximum otherwise. The output is the image's height plus one
    title band (:func:`band_height`) plus the colour bar (:func:`colorbar_height`).
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
        scale = MapScale.of(maps[channel], sequential="gray")
        big = _resized(maps[channel], (height, width))
        drawn = np.vstack([titled(scale.rgb(big), [label]), colorbar(scale, width)])
        panels.append(drawn)
    return hstack(panels)


def colorbar_height(size: int = 11, bar: int = 8) -> int:
    """Height in pixels of :func:`colorbar`'s output."""
    return bar + size + 3


def save_png(array: NDArray, path: str | os.PathLike[str]) -> Path:
    """Write ``array`` as a PNG atomically: a half-written file never appears under ``path``.

    The temporary file sits in the target directory, so ``os.replace`` is a rename on one
    filesystem; parallel writers (xdist workers) never see each other's partial files.
    """
    image = Image.fromarray(_rgb(array))
    return write_atomic(path, lambda handle: image.save(handle, format="PNG", optimize=True))
