"""ResNet-18: MATLAB's layer names (``resnet18`` in the Deep Learning Toolbox, after the Caffe
ResNets), and the geometry of every layer up to ``layer4``.

MATLAB names a stage ``res2``…``res5`` (torchvision's ``layer1``…``layer4``) and its blocks
``a``, ``b``; in a block, ``res2a_branch2a`` → ``bn2a_branch2a`` → ``res2a_branch2a_relu`` →
``res2a_branch2b`` → ``bn2a_branch2b``, the shortcut ``res3a_branch1`` → ``bn3a_branch1``, the sum
``res2a`` and its ReLU ``res2a_relu``. torchvision's BasicBlock has one ReLU module called twice;
a hook reports its first call, so ``layer1.0.relu`` is ``res2a_branch2a_relu``, and the block's
own output is ``res2a_relu``. The sum before its ReLU (``res2a``) is no module's output, so it has
no alias. MATLAB's ``data``, ``prob`` and the output layer are not modules either.
"""

from __future__ import annotations

from torch import nn

from probecheck.zoo.archs import ArchProfile
from probecheck.zoo.geometry import INPUT, Geometry, sequential, union, window

#: the modules of ResNet's forward, in order, up to the last map with a geometry
_STEM = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
_BLOCKS = (2, 2, 2, 2)


def _matches(model: nn.Module) -> bool:
    from torchvision.models.resnet import BasicBlock, ResNet

    if not isinstance(model, ResNet):
        return False
    stages = [getattr(model, f"layer{i}") for i in range(1, 5)]
    return tuple(len(s) for s in stages) == _BLOCKS and isinstance(stages[0][0], BasicBlock)


def aliases(_model: nn.Module | None = None) -> dict[str, str]:
    """MATLAB's name → torchvision's module path, for every named layer that is a module."""
    names = {"conv1": "conv1", "bn_conv1": "bn1", "conv1_relu": "relu", "pool1": "maxpool"}
    for stage, blocks in enumerate(_BLOCKS, start=2):
        for index in range(blocks):
            block, path = f"{stage}{'ab'[index]}", f"layer{stage - 1}.{index}"
            names.update(
                {
                    f"res{block}_branch2a": f"{path}.conv1",
                    f"bn{block}_branch2a": f"{path}.bn1",
                    f"res{block}_branch2a_relu": f"{path}.relu",
                    f"res{block}_branch2b": f"{path}.conv2",
                    f"bn{block}_branch2b": f"{path}.bn2",
                    f"res{block}_relu": path,
                }
            )
            if stage > 2 and index == 0:
                names[f"res{block}_branch1"] = f"{path}.downsample.0"
                names[f"bn{block}_branch1"] = f"{path}.downsample.1"
    names.update({"pool5": "avgpool", "fc1000": "fc"})
    return names


def _block(block: nn.Module, geometry: Geometry, inner: list[str]) -> Geometry | None:
    """A BasicBlock: conv1 → bn1 → relu → conv2 → bn2, plus the shortcut, summed."""
    branch, rest = (inner[0], inner[1:]) if inner else ("", [])
    first = window(block.conv1, geometry)
    if branch in ("conv1", "bn1", "relu"):  # relu: its first call, after bn1
        return None if rest else first
    second = window(block.conv2, first)
    if branch in ("conv2", "bn2"):
        return None if rest else second
    if block.downsample is None:
        shortcut: Geometry | None = geometry
    else:
        shortcut = _through(block.downsample, geometry, rest if branch == "downsample" else [])
    if branch == "downsample":
        return shortcut
    return None if branch else union(second, shortcut)


def _through(module: nn.Module, geometry: Geometry, inner: list[str]) -> Geometry | None:
    from torchvision.models.resnet import BasicBlock

    if isinstance(module, BasicBlock):
        return _block(module, geometry, inner)
    return sequential(module, geometry, inner, _through)


def geometry(model: nn.Module, path: str) -> Geometry | None:
    """Geometry of a layer from ``conv1`` to ``layer4``; None for avgpool and fc (global)."""
    parts = path.split(".")
    if parts[0] not in _STEM:
        return None
    found: Geometry | None = INPUT
    for name in _STEM[: _STEM.index(parts[0])]:
        found = _through(getattr(model, name), found, []) if found is not None else None
    return _through(getattr(model, parts[0]), found, parts[1:]) if found is not None else None


PROFILE = ArchProfile(name="resnet18", matches=_matches, aliases=aliases, geometry=geometry)
