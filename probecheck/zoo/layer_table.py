"""An architecture's layers without its weights: module paths, aliases and output shapes.

The network is built on torch's meta device (no memory, no weights read, no download) and run
once on a meta tensor with hooks, so a spec's layer names and channel numbers can be checked when
it is collected, in milliseconds, before any real network is loaded. Cached per architecture,
in this process and, for torchvision's architectures, in the persistent cache
(:mod:`probecheck.disk_cache`, keyed by the arch, the versions of torch and torchvision and the
code that traces it), so a rerun checks its specs without importing torch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probecheck import disk_cache
from probecheck.zoo import names

if TYPE_CHECKING:
    from torch import nn

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
    import torch

    from probecheck.zoo.forward import hooked_forward

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
    stored = disk_cache.active()
    key = _stored_key(arch) if stored is not None else None
    if stored is not None and key is not None:
        found = _from_record(arch, stored.get_record(key))
        if found is not None:
            return found
    table = _traced(arch)
    if stored is not None and key is not None:
        stored.put_record(key, _record(table))
    return table


def _traced(arch: str) -> LayerTable:
    import torch

    from probecheck.zoo.archs import aliases_for
    from probecheck.zoo.builders import build_architecture

    with torch.device("meta"):
        model = build_architecture(arch)
    model.eval()
    return LayerTable(arch, _trace(model), aliases_for(model))


def _stored_key(arch: str) -> dict[str, Any] | None:
    """The persistent cache's key of a torchvision architecture's table; None for a factory
    (``module:function``: user code, known only by running it)."""
    if ":" in arch:
        return None
    zoo = Path(__file__).parent
    code = disk_cache.code_digest(
        Path(__file__),
        zoo / "forward.py",
        zoo / "builders.py",
        *sorted((zoo / "archs").glob("*.py")),
    )
    return {
        "kind": "layer-table",
        "arch": arch,
        "trace_size": TRACE_SIZE,
        "torch": disk_cache.package_version("torch"),
        "torchvision": disk_cache.package_version("torchvision"),
        "code": code,
    }


def _record(table: LayerTable) -> dict[str, Any]:
    """Pairs in the network's order (JSON objects would come back sorted)."""
    return {
        "shapes": [
            [path, list(shape) if shape is not None else None]
            for path, shape in table.shapes.items()
        ],
        "aliases": [[alias, path] for alias, path in table.aliases.items()],
    }


def _from_record(arch: str, record: Any) -> LayerTable | None:
    try:
        shapes = {
            str(path): tuple(int(n) for n in shape) if shape is not None else None
            for path, shape in record["shapes"]
        }
        aliases = {str(alias): str(path) for alias, path in record["aliases"]}
    except (KeyError, TypeError, ValueError):
        return None
    return LayerTable(arch, shapes, aliases)
