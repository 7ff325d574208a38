"""SqueezeNet v1.0 and v1.1: the DeepScale/MATLAB layer names, and the Fire module's geometry.

MATLAB's ``squeezenet`` and the Caffe release name layers ``conv1``, ``fire6-relu_squeeze1x1``,
``pool10``…; torchvision names the same modules ``features.0``,
``features.8.squeeze_activation``, ``classifier.3``. Users bring names from papers and tutorials,
so both work (``fire6/squeeze1x1``, DeepScale's spelling, too: see :mod:`probecheck.zoo.names`).
"""

from __future__ import annotations

from torch import nn

from probecheck.zoo.archs import ArchProfile
from probecheck.zoo.geometry import INPUT, Geometry, sequential, union, window

#: features index of each fire module and pool, per SqueezeNet version (pools differ).
_FEATURES = {
    "1_0": {
        "pool1": 2, "fire2": 3, "fire3": 4, "fire4": 5, "pool4": 6, "fire5": 7,
        "fire6": 8, "fire7": 9, "fire8": 10, "pool8": 11, "fire9": 12,
    },
    "1_1": {
        "pool1": 2, "fire2": 3, "fire3": 4, "pool3": 5, "fire4": 6, "fire5": 7,
        "pool5": 8, "fire6": 9, "fire7": 10, "fire8": 11, "fire9": 12,
    },
}  # fmt: skip

_FIRE_PARTS = {
    "squeeze1x1": "squeeze",
    "relu_squeeze1x1": "squeeze_activation",
    "expand1x1": "expand1x1",
    "relu_expand1x1": "expand1x1_activation",
    "expand3x3": "expand3x3",
    "relu_expand3x3": "expand3x3_activation",
}


def version(model: nn.Module) -> str | None:
    """ "1_0" or "1_1" for torchvision SqueezeNets (told apart by conv1's width), else None."""
    from torchvision.models import SqueezeNet

    if not isinstance(model, SqueezeNet):
        return None
    first = model.features[0]
    return "1_0" if getattr(first, "out_channels", None) == 96 else "1_1"


def squeezenet_aliases(which: str) -> dict[str, str]:
    """Map each DeepScale/MATLAB name of SqueezeNet ``which`` ("1_0"/"1_1") to a module path."""
    aliases = {"conv1": "features.0", "relu_conv1": "features.1"}
    for name, index in _FEATURES[which].items():
        if name.startswith("pool"):
            aliases[name] = f"features.{index}"
            continue
        for part, attribute in _FIRE_PARTS.items():
            aliases[f"{name}-{part}"] = f"features.{index}.{attribute}"
        aliases[f"{name}-concat"] = f"features.{index}"
    aliases.update(
        {"drop9": "classifier.0", "conv10": "classifier.1", "relu_conv10": "classifier.2",
         "pool10": "classifier.3"}
    )  # fmt: skip
    return aliases


def _through(module: nn.Module, geometry: Geometry, inner: list[str]) -> Geometry | None:
    """Geometry after ``module``: a Fire's squeeze, either expand branch, or both concatenated."""
    from torchvision.models.squeezenet import Fire

    if not isinstance(module, Fire):
        return sequential(module, geometry, inner, _through)
    squeezed = window(module.squeeze, geometry)
    branch = inner[0] if inner else ""
    if branch.startswith("squeeze"):
        return squeezed
    one = window(module.expand1x1, squeezed)
    three = window(module.expand3x3, squeezed)
    if branch.startswith("expand1x1"):
        return one
    if branch.startswith("expand3x3"):
        return three
    return None if branch else union(one, three)


def features_geometry(model: nn.Module, path: str, through=None) -> Geometry | None:
    """Geometry of a layer inside ``features`` of a network whose forward begins with
    ``features(x)`` (SqueezeNet, VGG, AlexNet); None after it (the classifier flattens)."""
    parts = path.split(".")
    if parts[0] != "features":
        return None
    return (through or _through)(model.features, INPUT, parts[1:])


PROFILE = ArchProfile(
    name="squeezenet",
    matches=lambda model: version(model) is not None,
    aliases=lambda model: squeezenet_aliases(version(model) or "1_0"),
    geometry=features_geometry,
)
