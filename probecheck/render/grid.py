"""A coordinate grid over an image, labelled in the image's own pixels: read region boxes off it.

Regions in a spec are written in pixels of the image file as it is (upright), whatever size the
network resizes it to; the grid's labels are those pixels, however the picture is enlarged or
reduced for viewing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from probecheck.render.montage import (
    GRAY,
    WHITE,
    _font,
    _rgb,
    _text,
    text_band,
    vstack,
    wrap_line,
)

__all__ = ["coordinate_grid", "grid_step", "view_scale"]

LINE_RGB = (255, 230, 0)  # major lines: yellow, seen on most photos
MINOR_RGB = (0, 200, 255)
BOX_RGB = (40, 230, 40)
TARGET_SIDE = 800  # the picture's longer side is enlarged or reduced towards this
LABEL_SIZE = 12


def grid_step(extent: int, lines: int = 16) -> int:
    """A round step (1, 2, 5 × 10ⁿ pixels) giving at most ``lines`` lines over ``extent``."""
    raw = max(extent / max(lines, 1), 1.0)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def view_scale(height: int, width: int) -> float:
    """How much to enlarge (whole times, up to 8) or reduce the image for a readable grid."""
    side = max(height, width)
    if side < TARGET_SIDE:
        return float(min(8, max(1, TARGET_SIDE // side)))
    return TARGET_SIDE / side if side > 2 * TARGET_SIDE else 1.0


def coordinate_grid(
    image: NDArray[np.uint8],
    *,
    step: int | None = None,
    boxes: Sequence[Sequence[float]] = (),
    name: str = "image",
) -> NDArray[np.uint8]:
    """``image`` with a grid every ``step`` pixels (and a dotted one half-way), labelled in its
    own pixel coordinates along the top and left; ``boxes`` ([x0, y0, x1, y1], x1 and y1
    exclusive) drawn in green, so a box can be checked before it goes into a spec."""
    image = _rgb(image)
    height, width = image.shape[:2]
    step = step or grid_step(max(height, width))
    scale = view_scale(height, width)
    shown = Image.fromarray(image).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))),
        Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS,
    )
    font, unicode_ok = _font(LABEL_SIZE)
    left = math.ceil(font.getlength(str(height))) + 8
    top = LABEL_SIZE + 8
    canvas = Image.new("RGB", (shown.width + left + 4, shown.height + top + 4), WHITE)
    canvas.paste(shown, (left, top))
    draw = ImageDraw.Draw(canvas)
    half = step // 2
    for x in range(0, width + 1, half or step):
        at = left + min(round(x * scale), shown.width - 1)
        major = x % step == 0
        _line(draw, (at, top), (at, top + shown.height - 1), major)
        if major:
            label = _text(str(x), unicode_ok)
            length = font.getlength(label)
            x_text = min(max(at - length / 2, left), canvas.width - length)
            draw.text((x_text, 2), label, fill=GRAY, font=font)
    for y in range(0, height + 1, half or step):
        at = top + min(round(y * scale), shown.height - 1)
        major = y % step == 0
        _line(draw, (left, at), (left + shown.width - 1, at), major)
        if major:
            label = _text(str(y), unicode_ok)
            x_text = left - 4 - font.getlength(label)
            draw.text((x_text, at - LABEL_SIZE // 2 - 1), label, fill=GRAY, font=font)
    for x0, y0, x1, y1 in boxes:
        corners = [left + x0 * scale, top + y0 * scale, left + x1 * scale - 1, top + y1 * scale - 1]
        draw.rectangle(corners, outline=BOX_RGB, width=2)
    caption = (
        f"x → (column), y ↓ (row), in pixels of {name} ({width}×{height}, upright as a viewer "
        "shows it); "
        f"lines every {step} px. Spec regions are written in these pixels, whatever size the "
        "network resizes the image to."
    )
    picture = np.asarray(canvas)
    lines = wrap_line(caption, picture.shape[1], LABEL_SIZE)
    return vstack([picture, text_band(lines, picture.shape[1], size=LABEL_SIZE, color=GRAY)])


def _line(draw: ImageDraw.ImageDraw, start: tuple[int, int], end: tuple[int, int], major: bool):
    if major:
        draw.line([start, end], fill=LINE_RGB, width=1)
        return
    (x0, y0), (x1, y1) = start, end
    length = max(abs(x1 - x0), abs(y1 - y0))
    for k in range(0, length + 1, 6):  # dotted: 3 on, 3 off
        t0, t1 = k / max(length, 1), min(k + 2, length) / max(length, 1)
        a = (round(x0 + (x1 - x0) * t0), round(y0 + (y1 - y0) * t0))
        b = (round(x0 + (x1 - x0) * t1), round(y0 + (y1 - y0) * t1))
        draw.line([a, b], fill=MINOR_RGB, width=1)
