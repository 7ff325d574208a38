"""Architecture profiles: what probecheck knows of an architecture beyond its module tree.

A profile recognises its networks (``matches``), offers the layer names their users know
(``aliases``: MATLAB's and Caffe's names beside torch's module paths) and derives the
receptive-field geometry of a layer (``geometry``, for the occlusion crop). Each module of this
package defines one ``PROFILE``; they are found by listing the package, so adding an
architecture is adding one file here. A network no profile matches still works: module paths
only, and occlusion runs whole images.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from probecheck.zoo.geometry import Geometry

__all__ = ["ArchProfile", "aliases_for", "geometry_for", "profile_for", "profiles"]


def _no_aliases(_model: nn.Module) -> dict[str, str]:
    return {}


def _no_geometry(_model: nn.Module, _path: str) -> Geometry | None:
    return None


@dataclass(frozen=True)
class ArchProfile:
    """One architecture family: how to recognise it, its layer names and its geometry."""

    name: str
    #: True for the networks this profile describes (checked on the module, built or on meta)
    matches: Callable[[nn.Module], bool]
    #: alias → module path, for a matching network
    aliases: Callable[[nn.Module], dict[str, str]] = _no_aliases
    #: (rows, cols) geometry of the layer at a module path; None where not derived
    geometry: Callable[[nn.Module, str], Geometry | None] = _no_geometry


@functools.cache
def profiles() -> tuple[ArchProfile, ...]:
    """Every profile of this package, in module name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        profile = getattr(module, "PROFILE", None)
        if not isinstance(profile, ArchProfile):
            raise TypeError(f"{module.__name__} defines no PROFILE (an ArchProfile)")
        found.append(profile)
    return tuple(found)


def profile_for(model: nn.Module) -> ArchProfile | None:
    """The first profile that matches ``model``, or None."""
    return next((p for p in profiles() if p.matches(model)), None)


def aliases_for(model: nn.Module) -> dict[str, str]:
    """alias → module path for ``model``; empty where no profile matches."""
    profile = profile_for(model)
    return profile.aliases(model) if profile is not None else {}


def geometry_for(model: nn.Module, path: str) -> Geometry | None:
    """The geometry of the layer at ``path``; None where no profile derives it."""
    profile = profile_for(model)
    return profile.geometry(model, path) if profile is not None else None
