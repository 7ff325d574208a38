"""Receptive-field geometry: which input pixels each cell of a layer's map sees.

An architecture profile derives a layer's geometry by walking its modules (sliding windows,
pointwise modules, parallel branches); the occlusion sweep reads it to crop the input to what a
region's cells see and to skip patches that cannot reach them. A layer whose geometry cannot be
derived gets None, and its callers fall back to whole images (slower, still exact).
Importing it costs no torch (a stored occlusion sweep is read without one); walking a network
does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

__all__ = ["INPUT", "Axis", "Geometry", "pointwise", "sequential", "union", "window"]


@dataclass(frozen=True)
class Axis:
    """One axis of a layer's geometry: cell ``o`` sees input pixels ``o·jump + start`` onward,
    ``size`` of them (``start`` < 0 where the receptive field reaches into padding)."""

    jump: int = 1
    start: int = 0
    size: int = 1

    def window(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> Axis:
        """The geometry after a sliding window (convolution or pooling) on this one."""
        return Axis(
            jump=self.jump * stride,
            start=self.start - padding * self.jump,
            size=self.size + (kernel - 1) * dilation * self.jump,
        )

    def union(self, other: Axis) -> Axis | None:
        """Two parallel branches joined (concatenated or added): they must step alike."""
        if other.jump != self.jump:
            return None
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        return Axis(self.jump, start, end - start)

    def span(self, cell: int) -> tuple[int, int]:
        """The input pixels [first, last] that cell ``cell`` sees (may reach past the image)."""
        first = cell * self.jump + self.start
        return first, first + self.size - 1


Geometry = tuple[Axis, Axis]
"""(rows, cols)."""

INPUT: Geometry = (Axis(), Axis())
"""The input's own geometry: each pixel sees itself."""


@functools.cache
def pointwise() -> tuple[type, ...]:
    """Modules that map each cell to itself: they leave the geometry as it is."""
    from torch import nn

    return (
        nn.ReLU,
        nn.ReLU6,
        nn.LeakyReLU,
        nn.ELU,
        nn.SiLU,
        nn.GELU,
        nn.Sigmoid,
        nn.Tanh,
        nn.Hardswish,
        nn.Dropout,
        nn.Dropout2d,
        nn.BatchNorm2d,
        nn.LocalResponseNorm,
        nn.Identity,
    )


def __getattr__(name: str) -> Any:
    if name == "POINTWISE":  # the tuple of module types, made when first asked for
        return pointwise()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value  # type: ignore[return-value]
    return None  # 'same'/'valid' padding strings and the like: not analysed


def window(module: nn.Module, geometry: Geometry | None) -> Geometry | None:
    """Conv2d, MaxPool2d or AvgPool2d applied to ``geometry``; None for anything else."""
    if geometry is None:
        return None
    from torch import nn

    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            return None
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        padding, dilation = _pair(module.padding), _pair(module.dilation)
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride if module.stride else module.kernel_size)
        padding = _pair(module.padding)
        dilation = _pair(getattr(module, "dilation", 1))
    else:
        return None
    if None in (kernel, stride, padding, dilation):
        return None
    return (
        geometry[0].window(kernel[0], stride[0], padding[0], dilation[0]),  # type: ignore[index]
        geometry[1].window(kernel[1], stride[1], padding[1], dilation[1]),  # type: ignore[index]
    )


def union(first: Geometry | None, second: Geometry | None) -> Geometry | None:
    """Two branches of one input joined cell by cell; None where they do not step alike."""
    if first is None or second is None:
        return None
    joined = (first[0].union(second[0]), first[1].union(second[1]))
    return None if None in joined else joined  # type: ignore[return-value]


Through = Callable[["nn.Module", Geometry, list[str]], "Geometry | None"]
"""``through(module, geometry, inner)``: the geometry after ``module`` (or its submodule at the
path ``inner``), for the blocks an architecture defines."""


def sequential(
    module: nn.Module, geometry: Geometry | None, inner: list[str], through: Through
) -> Geometry | None:
    """The geometry after ``module`` or after its submodule at the path ``inner``.

    ``through(module, geometry, inner)`` handles the blocks an architecture defines (a Fire, a
    BasicBlock); here are the generic cases: pointwise modules, sliding windows and
    ``nn.Sequential`` containers, whose children run in order.
    """
    if geometry is None:
        return None
    from torch import nn

    if isinstance(module, pointwise()):
        return None if inner else geometry
    if isinstance(module, nn.Sequential):
        children = list(module.named_children())
        names = [name for name, _ in children]
        stop = len(children)
        if inner:
            if inner[0] not in names:
                return None
            stop = names.index(inner[0])
        for _, child in children[:stop]:
            geometry = through(child, geometry, [])
            if geometry is None:
                return None
        return through(children[stop][1], geometry, inner[1:]) if inner else geometry
    if inner:
        return None
    return window(module, geometry)
