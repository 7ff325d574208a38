"""The distribution of a population check: each image's numbers, the interval, the thresholds.

One strip per thresholded number (drop, control drop, ratio…): a dot per image (failing images'
dots red), the mean as a tick, the confidence interval as a thick bar, and the threshold as a
vertical line, all on one shared axis, so a reader sees whether the claim holds broadly or rests
on a few images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from probecheck.render.montage import BLACK, GRAY, GREEN, RED, WHITE, _font
from probecheck.results import CaseResult, fmt

__all__ = ["strip_plot"]

WIDTH = 560
ROW = 46
LEFT = 110
RIGHT = 24
AXIS = 30
BLUE = (0, 100, 210)


def _range(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    lo, hi = min(lo, 0.0), max(hi, 1.0) if hi <= 1.5 else hi
    pad = 0.04 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def strip_plot(population, cases: Sequence[CaseResult]) -> NDArray[np.uint8]:
    """A picture of ``population`` (probecheck.population.Population) over its ``cases``."""
    names = list(population.metrics)
    values = {n: [c.combined.get(n, math.nan) for c in cases] for n in names}
    every = [v for n in names for v in values[n]]
    every += [population.metrics[n].threshold for n in names]
    every += [b for n in names for b in (population.metrics[n].lower, population.metrics[n].upper)]
    lo, hi = _range(every)
    height = ROW * max(len(names), 1) + AXIS + 8
    image = Image.new("RGB", (WIDTH, height), WHITE)
    draw = ImageDraw.Draw(image)
    font, _ = _font(12, False)

    def x_of(value: float) -> float:
        return LEFT + (value - lo) / (hi - lo) * (WIDTH - LEFT - RIGHT)

    rng = np.random.default_rng(0)  # jitter only: the same picture every run
    for row, name in enumerate(names):
        metric = population.metrics[name]
        top = 4 + row * ROW
        middle = top + ROW // 2
        draw.text((4, middle - 14), name.replace("_", " "), fill=BLACK, font=font)
        draw.text((4, middle + 1), f"n {metric.n}", fill=GRAY, font=font)
        draw.line([(LEFT, middle), (WIDTH - RIGHT, middle)], fill=(225, 225, 225))
        threshold = x_of(metric.threshold)
        for y in range(top + 2, top + ROW - 2, 6):
            draw.line([(threshold, y), (threshold, y + 3)], fill=RED, width=2)
        if math.isfinite(metric.lower) and math.isfinite(metric.upper):
            bar = GREEN if metric.holds else RED
            draw.rectangle(
                [
                    x_of(metric.lower),
                    middle + 9,
                    max(x_of(metric.upper), x_of(metric.lower) + 1),
                    middle + 14,
                ],
                fill=bar,
            )
            mean = x_of(metric.mean)
            draw.line([(mean, middle + 5), (mean, middle + 18)], fill=BLACK, width=2)
        for case, value in zip(cases, values[name], strict=True):
            if not math.isfinite(value):
                continue
            x = x_of(value)
            y = middle - 6 + float(rng.uniform(-6, 6))
            colour = BLUE if case.passed else RED
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=colour, width=2)
    axis_y = height - AXIS + 4
    draw.line([(LEFT, axis_y), (WIDTH - RIGHT, axis_y)], fill=BLACK)
    for tick in np.linspace(lo, hi, 6):
        x = x_of(float(tick))
        draw.line([(x, axis_y), (x, axis_y + 4)], fill=BLACK)
        draw.text((x - 12, axis_y + 6), fmt(float(tick)), fill=BLACK, font=font)
    draw.text(
        (4, axis_y + 6),
        f"{population.confidence:.0%} CI",
        fill=GRAY,
        font=font,
    )
    return np.asarray(image)
