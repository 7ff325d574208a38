"""Layer names: a module path, or an alias its architecture's profile offers
(:mod:`probecheck.zoo.archs`: ``fire6-relu_squeeze1x1`` for SqueezeNet, ``res3b_relu`` for
ResNet-18), resolved once into a :class:`Layer` that carries both and the layer's width.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from probecheck.errors import LayerNotFoundError


@dataclass(frozen=True)
class Layer:
    """A layer as resolved: the name written, the module path, its alias and its width."""

    written: str
    path: str
    alias: str = ""
    #: channels of its output where known (the layer table's trace), else None
    width: int | None = None

    def __str__(self) -> str:
        return self.written

    @property
    def label(self) -> str:
        """The alias where there is one, else the module path: how reports name the layer."""
        return self.alias or self.path


def normalise(name: str) -> str:
    """DeepScale writes ``fire6/squeeze1x1`` where MATLAB writes ``fire6-squeeze1x1``."""
    return name.strip().replace("/", "-")


def closest(name: str, module_paths: list[str], aliases: dict[str, str], n: int = 5) -> list[str]:
    """The names (aliases first, then module paths) closest to a name that matches none."""
    return difflib.get_close_matches(normalise(name), [*aliases, *module_paths], n=n, cutoff=0.5)


def resolve(name: str, module_paths: list[str], aliases: dict[str, str]) -> str:
    """The module path that ``name`` (path or alias) addresses; else raise naming close ones."""
    if name in module_paths:
        return name
    wanted = normalise(name)
    if wanted in aliases:
        return aliases[wanted]
    close = closest(name, module_paths, aliases)
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else None
    raise LayerNotFoundError(
        f"no layer named {name!r} in this network",
        fix=(hint + " " if hint else "") + "`probecheck layers` lists every name",
    )


def resolve_layer(
    name: str,
    module_paths: list[str],
    aliases: dict[str, str],
    widths: dict[str, int | None] | None = None,
) -> Layer:
    """``name`` resolved to a :class:`Layer` (LayerNotFoundError naming close ones if none)."""
    path = resolve(name, module_paths, aliases)
    alias = {p: a for a, p in aliases.items()}.get(path, "")
    return Layer(name, path, alias, (widths or {}).get(path))
