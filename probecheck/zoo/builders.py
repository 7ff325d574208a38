"""Build a network and its weights from the names a user writes: ``arch`` and ``weights``.

``arch`` is a torchvision classification builder (``squeezenet1_0``, ``resnet18``…) or a factory
``package.module:function``. ``weights`` is ``deep-compression``, a torchvision weights enum member
(``DEFAULT``, ``IMAGENET1K_V1``), a local checkpoint, or ``random`` (seeded).
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

from probecheck.atomic import write_atomic
from probecheck.errors import ProbecheckError
from probecheck.zoo import deep_compression, store
from probecheck.zoo.preprocess import CAFFE_SQUEEZENET, IMAGENET, Preprocessing

NAMED_WEIGHTS = ("deep-compression", "random")


@dataclass(frozen=True)
class ModelIdentity:
    """What was loaded, for reports: a model is known by arch, weights and their sha256."""

    arch: str
    weights: str
    sha256: str
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "weights": self.weights,
            "sha256": self.sha256,
            "seed": self.seed,
        }


@dataclass
class Built:
    """A network in eval mode with the preprocessing and category names of its weights."""

    model: nn.Module
    preprocessing: Preprocessing
    identity: ModelIdentity
    categories: list[str] = field(default_factory=list)


def classification_builders() -> list[str]:
    """Names of torchvision's classification model builders."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def build_architecture(arch: str) -> nn.Module:
    """An untrained module from a torchvision builder name or a ``module:function`` factory."""
    if ":" in arch:
        module_name, _, function_name = arch.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as error:
            raise ProbecheckError(
                f"cannot import the model factory {arch!r}: {error}",
                fix="write it as package.module:function, importable from the current directory",
            ) from None
        model = factory()
        if not isinstance(model, nn.Module):
            raise ProbecheckError(f"{arch} returned {type(model).__name__}, not a torch nn.Module")
        return model
    builders = classification_builders()
    if arch not in builders:
        import difflib

        close = difflib.get_close_matches(arch, builders, n=3)
        raise ProbecheckError(
            f"unknown architecture {arch!r}",
            fix=(f"did you mean {', '.join(close)}? " if close else "")
            + "use a torchvision classification builder name or package.module:function",
        )
    return torchvision.models.get_model(arch, weights=None)


def state_sha256(model: nn.Module) -> str:
    """sha256 over the names and bytes of a state_dict: identifies weights with no file."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build(
    arch: str = "squeezenet1_0", weights: str = "deep-compression", *, seed: int = 0
) -> Built:
    """Build ``arch`` with ``weights``; the network is in eval mode on the CPU."""
    if weights == "deep-compression":
        built = _deep_compression(arch)
    elif weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_architecture(arch)
        built = Built(model, IMAGENET, ModelIdentity(arch, weights, state_sha256(model), seed))
    elif _looks_like_path(weights):
        built = _checkpoint(arch, Path(weights))
    else:
        built = _torchvision_weights(arch, weights)
    built.model.eval()
    if not built.categories:
        from torchvision.models._meta import _IMAGENET_CATEGORIES

        built.categories = list(_IMAGENET_CATEGORIES)
    return built


def _looks_like_path(weights: str) -> bool:
    return (
        Path(weights).suffix in (".pt", ".pth", ".ckpt", ".bin")
        or "/" in weights
        or Path(weights).is_file()
    )


def _deep_compression(arch: str) -> Built:
    model = build_architecture(arch)
    path = store.fetch(store.DEEP_COMPRESSION)
    arrays = deep_compression.state_dict_arrays(deep_compression.read(path))
    state = {name: torch.from_numpy(np.array(value)) for name, value in arrays.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ProbecheckError(
            f"the deep-compression weights are SqueezeNet v1.0's and do not fit {arch!r}: "
            f"{str(error).splitlines()[0]}",
            fix="use arch: squeezenet1_0 with weights: deep-compression",
        ) from None
    sha = store.DEEP_COMPRESSION.sha256
    return Built(model, CAFFE_SQUEEZENET, ModelIdentity(arch, "deep-compression", sha))


def _torchvision_weights(arch: str, name: str) -> Built:
    if ":" in arch:
        raise ProbecheckError(
            f"weights {name!r} is a torchvision weights name, but {arch} is a user factory",
            fix="give a checkpoint path or 'random' for a factory model",
        )
    try:
        enum = torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        raise ProbecheckError(f"torchvision has no weights for {arch!r}") from None
    member_name = name.rpartition(".")[2]
    if member_name not in enum.__members__:
        raise ProbecheckError(
            f"unknown weights {name!r} for {arch}",
            fix="use one of: "
            + ", ".join([*NAMED_WEIGHTS, *enum.__members__])
            + ", or a checkpoint path",
        )
    member = enum[member_name]
    model = build_architecture(arch)
    try:
        model.load_state_dict(member.get_state_dict(progress=False, check_hash=True))
    except OSError as error:  # no network, no cached copy
        raise ProbecheckError(
            f"cannot download torchvision weights {member}: {error}",
            fix="put the file in $TORCH_HOME/hub/checkpoints or give a checkpoint path",
        ) from None
    transforms = member.transforms()
    crop = int(transforms.crop_size[0])
    prep = Preprocessing((crop, crop), 1.0, tuple(transforms.mean), tuple(transforms.std))  # type: ignore[arg-type]
    sha = member.url.rsplit("-", 1)[-1].split(".")[0]  # torchvision names files by a sha256 prefix
    return Built(
        model, prep, ModelIdentity(arch, str(member), sha), list(member.meta.get("categories", []))
    )


def _checkpoint(arch: str, path: Path) -> Built:
    if not path.is_file():
        raise ProbecheckError(
            f"checkpoint {path} does not exist",
            fix="give a state_dict saved with torch.save, or deep-compression/random/DEFAULT",
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors vary widely; the message is what matters
        raise ProbecheckError(
            f"cannot load checkpoint {path} with weights_only=True: {error}",
            fix="save a plain state_dict: torch.save(model.state_dict(), path)",
        ) from None
    prep = IMAGENET
    if isinstance(loaded, dict) and "state_dict" in loaded:
        if "preprocessing" in loaded:
            prep = Preprocessing.from_dict(loaded["preprocessing"])
        loaded = loaded["state_dict"]
    model = build_architecture(arch)
    try:
        model.load_state_dict(loaded, strict=True)
    except (RuntimeError, TypeError) as error:
        raise ProbecheckError(
            f"checkpoint {path} does not fit {arch}: {str(error).splitlines()[0]}",
            fix="check that arch names the architecture the checkpoint was saved from",
        ) from None
    return Built(model, prep, ModelIdentity(arch, str(path), store.sha256_of(path)))


def save_checkpoint(built_model: nn.Module, preprocessing: Preprocessing, path: str | Path) -> Path:
    """Save a state_dict with its preprocessing, in a form ``weights_only=True`` loads back."""
    payload = {"state_dict": built_model.state_dict(), "preprocessing": preprocessing.to_dict()}
    return write_atomic(path, lambda handle: torch.save(payload, handle))
