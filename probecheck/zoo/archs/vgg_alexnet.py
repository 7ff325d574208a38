"""VGG and AlexNet: no names of their own, but a geometry for every layer of ``features``."""

from __future__ import annotations

from torch import nn

from probecheck.zoo.archs import ArchProfile
from probecheck.zoo.archs.squeezenet import features_geometry
from probecheck.zoo.geometry import Geometry, sequential


def _matches(model: nn.Module) -> bool:
    from torchvision.models import VGG, AlexNet

    return isinstance(model, (VGG, AlexNet))


def _through(module: nn.Module, geometry: Geometry, inner: list[str]) -> Geometry | None:
    return sequential(module, geometry, inner, _through)


PROFILE = ArchProfile(
    name="vgg_alexnet",
    matches=_matches,
    geometry=lambda model, path: features_geometry(model, path, _through),
)
