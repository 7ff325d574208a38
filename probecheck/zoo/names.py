"""Layer names: module paths, plus the DeepScale/MATLAB names of SqueezeNet v1.0 and v1.1.

MATLAB's ``squeezenet`` and the Caffe release name layers ``conv1``, ``fire6-relu_squeeze1x1``,
``pool10``…; torchvision names the same modules ``features.0``, ``features.8.squeeze_activation``,
``classifier.3``. Users bring names from papers and tutorials, so both work.
"""

from __future__ import annotations

import difflib

from probecheck.errors import LayerNotFoundError

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


def squeezenet_aliases(version: str) -> dict[str, str]:
    """Map each DeepScale/MATLAB name of SqueezeNet ``version`` ("1_0"/"1_1") to a module path."""
    aliases = {"conv1": "features.0", "relu_conv1": "features.1"}
    for name, index in _FEATURES[version].items():
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
