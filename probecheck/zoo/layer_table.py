"""An architecture's layers without its weights: module paths, aliases and output shapes.

The network is built on torch's meta device (no memory, no weights read, no download) and run
once on a meta tensor with hooks, so a spec's layer names and channel numbers can be checked when
it is collected, in milliseconds, before any real network is loaded. Cached per architecture.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from probecheck.zoo import names
from probecheck.zoo.archs import aliases_for
from probecheck.zoo.builders import build_architecture
from probecheck.zoo.forward import hooked_forward

__all__ = ["LayerTable", "layer_table"]

TRACE_SIZE = 224
"""Input side of the meta forward; channel counts do not depend on it."""


@dataclass(frozen=True)
class LayerTable:
    """Every module of an architecture and the shape of its output (None where not traced)."""

    arch: str
    shapes: dict[str, tuple[int, ...] | None]
    aliases: dict[str, str]

    def resolve(self, layer: str) -> str:
        """The module path ``layer`` names (LayerNotFoundError naming close ones if none)."""
        return names.resolve(layer, list(self.shapes), self.aliases)

    def layer(self, layer: str) -> names.Layer:
        """``layer`` resolved: module path, alias and width (channels, where traced)."""
        widths = {path: shape[0] if shape else None for path, shape in self.shapes.items()}
        return names.resolve_layer(layer, list(self.shapes), self.aliases, widths)

    def closest(self, layer: str) -> list[str]:
        """The names closest to a layer name that matches none, best first."""
        return names.closest(layer, list(self.shapes), self.aliases, n=3)

    def shape(self, path: str) -> tuple[int, ...] | None:
        """The output shape (no batch dimension) of the module at ``path``, if traced."""
        return self.shapes.get(path)


def _trace(model: nn.Module) -> dict[str, tuple[int, ...] | None]:
    """Output shapes of every module on one meta forward; None for all if the trace fails."""
    modules = {path: module for path, module in model.named_modules() if path}
    blank = torch.empty(1, 3, TRACE_SIZE, TRACE_SIZE, device="meta")
    try:
        shapes = hooked_forward(
            model,
            blank,
            modules,
            keep=lambda out: tuple(out.shape[1:]),
            truncate=False,
            strict=False,
        )
    except Exception:  # an op without a meta kernel: names are still known, shapes are not
        return dict.fromkeys(modules)
    return {path: shapes.get(path) for path in modules}


@functools.lru_cache(maxsize=16)
def layer_table(arch: str) -> LayerTable:
    """The layer table of ``arch``; ProbecheckError for an unknown architecture."""
    with torch.device("meta"):
        model = build_architecture(arch)
    model.eval()
    return LayerTable(arch, _trace(model), aliases_for(model))
