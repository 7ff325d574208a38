"""The weights registry: every pretrained weights file probecheck knows by name, in one place.

In the spirit of torchvision's ``Weights``/``WeightsEnum``: an entry says where its file comes
from and its sha256 (:mod:`probecheck.zoo.store` fetches and checks it), how to decode it into a
state_dict, the preprocessing it was trained with, and the architectures it fits. Building,
validation, the plugin's header and the preprocessing a candidate inherits all read the entry,
so a new weights file is one entry here. Importing this module costs no torch and no numpy;
nor does asking it the preprocessing of named or random weights (:func:`weights_preprocessing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from probecheck.zoo import store
from probecheck.zoo.preprocess import CAFFE_SQUEEZENET, IMAGENET, Preprocessing

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "NAMED_WEIGHTS",
    "REGISTRY",
    "WeightsEntry",
    "looks_like_path",
    "registered",
    "weights_preprocessing",
]


@dataclass(frozen=True)
class WeightsEntry:
    """Named weights: the file, how to decode it, its preprocessing and the archs it fits."""

    name: str
    remote: store.RemoteFile
    #: path of the fetched file → {state_dict key: array}; imports what it needs when called
    decode: Callable[[Path], dict[str, np.ndarray]]
    preprocessing: Preprocessing
    #: torchvision builder names whose state_dict the decoded weights fill exactly
    archs: tuple[str, ...]
    #: whose weights these are, for messages: "SqueezeNet v1.0's"
    whose: str

    @property
    def sha256(self) -> str:
        return self.remote.sha256

    def fits(self, arch: str) -> bool:
        """True for the architectures listed; a factory (``module:function``) is told at load."""
        return arch in self.archs or ":" in arch

    def misfit(self, arch: str) -> str:
        """The message for weights loaded into an architecture they do not fit."""
        return f"the {self.name} weights are {self.whose} and do not fit {arch!r}"

    def fix(self) -> str:
        return f"use arch: {self.archs[0]} with weights: {self.name}"

    def fetch(self) -> Path:
        """The local, sha256-checked file (downloaded into the cache where needed)."""
        return store.fetch(self.remote)


def _decode_deep_compression(path: Path) -> dict[str, np.ndarray]:
    from probecheck.zoo import deep_compression

    return deep_compression.state_dict_arrays(deep_compression.read(path))


DEEP_COMPRESSION = WeightsEntry(
    name="deep-compression",
    remote=store.DEEP_COMPRESSION,
    decode=_decode_deep_compression,
    preprocessing=CAFFE_SQUEEZENET,
    archs=("squeezenet1_0",),
    whose="SqueezeNet v1.0's",
)

#: name → entry, for every named weights file.
REGISTRY: dict[str, WeightsEntry] = {entry.name: entry for entry in (DEEP_COMPRESSION,)}

#: The weights names that are not torchvision's or a path: the registry's, and seeded random.
NAMED_WEIGHTS: tuple[str, ...] = (*REGISTRY, "random")


def registered(name: str) -> WeightsEntry | None:
    """The registry entry called ``name``, or None."""
    return REGISTRY.get(name)


def looks_like_path(weights: str) -> bool:
    """``weights`` names a checkpoint file (by suffix, a slash, or an existing file)."""
    return (
        Path(weights).suffix in (".pt", ".pth", ".ckpt", ".bin")
        or "/" in weights
        or Path(weights).is_file()
    )


def weights_preprocessing(arch: str, weights: str) -> Preprocessing | None:
    """The preprocessing ``weights`` come with, read without loading them; None where unknown.

    What a candidate checkpoint inherits from the model it replaces. Named and random weights
    are answered without torch; a checkpoint is opened (``torch.load``) and torchvision's
    weights are looked up in its metadata.
    """
    entry = registered(weights)
    if entry is not None:
        return entry.preprocessing
    if weights == "random":
        return IMAGENET
    if looks_like_path(weights):
        path = Path(weights)
        if not path.is_file():
            return None
        import torch

        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # the run that loads it reports the problem
            return None
        if isinstance(loaded, dict) and "preprocessing" in loaded:
            return Preprocessing.from_dict(loaded["preprocessing"])
        return None
    if ":" in arch:
        return None
    import torchvision

    from probecheck.zoo.builders import enum_preprocessing

    try:
        enum = torchvision.models.get_model_weights(arch)
        return enum_preprocessing(enum[weights.rpartition(".")[2]])
    except (ValueError, KeyError):
        return None
