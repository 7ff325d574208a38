"""Build a network and its weights from the names a user writes: ``arch`` and ``weights``.

``arch`` is a torchvision classification builder (``squeezenet1_0``, ``resnet18``…) or a factory
``package.module:function``. ``weights`` is a name in the weights registry (``deep-compression``,
:mod:`probecheck.zoo.weights`), a torchvision weights enum member
(``DEFAULT``, ``IMAGENET1K_V1``), a local checkpoint, or ``random`` (seeded).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

from probecheck.atomic import write_atomic
from probecheck.errors import ProbecheckError
from probecheck.zoo import store
from probecheck.zoo.description import ModelIdentity
from probecheck.zoo.preprocess import IMAGENET, Preprocessing
from probecheck.zoo.weights import (
    NAMED_WEIGHTS,
    REGISTRY,
    WeightsEntry,
    registered,
    weights_preprocessing,
)
from probecheck.zoo.weights import looks_like_path as _looks_like_path

__all__ = ["NAMED_WEIGHTS", "Built", "ModelIdentity", "build", "weights_preprocessing"]


@dataclass
class Built:
    """A network in eval mode with the preprocessing and category names of its weights."""

    model: nn.Module
    preprocessing: Preprocessing
    identity: ModelIdentity
    categories: list[str] = field(default_factory=list)
    #: ``weights`` (the entry names its own), ``checkpoint`` (recorded in the file) or
    #: ``default`` (nothing known: torchvision's ImageNet convention).
    preprocessing_from: str = "weights"


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
    arch: str = "squeezenet1_0",
    weights: str = "deep-compression",
    *,
    seed: int = 0,
    preprocessing: Preprocessing | None = None,
    inherited: Preprocessing | None = None,
    source: str = "",
) -> Built:
    """Build ``arch`` with ``weights``; the network is in eval mode on the CPU.

    Preprocessing, first found wins: ``preprocessing`` (given explicitly), the one a checkpoint
    records, ``inherited`` (for a checkpoint that records none: the preprocessing of the model
    it replaces), the weights entry's own. ``source`` says where a given or inherited one came
    from, for the model's identity.
    """
    entry = registered(weights)
    if entry is not None:
        built = _registered(arch, entry)
    elif weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_architecture(arch)
        identity = ModelIdentity(arch, weights, state_sha256(model), seed)
        built = Built(model, IMAGENET, identity, preprocessing_from="default")
    elif _looks_like_path(weights):
        built = _checkpoint(arch, Path(weights))
    else:
        built = _torchvision_weights(arch, weights)
    if preprocessing is not None:
        built.preprocessing, origin = preprocessing, source or "given"
    elif built.preprocessing_from == "checkpoint":
        origin = "recorded in the checkpoint"
    elif inherited is not None and built.preprocessing_from == "default":
        built.preprocessing, origin = inherited, source or "inherited"
    else:
        origin = "the weights' own" if built.preprocessing_from != "default" else "default"
    described = f"{built.preprocessing.describe()} ({origin})"
    built.identity = replace(built.identity, preprocessing=described)
    built.model.eval()
    if not built.categories:
        from torchvision.models._meta import _IMAGENET_CATEGORIES

        built.categories = list(_IMAGENET_CATEGORIES)
    return built


def usual_preprocessing(arch: str) -> Preprocessing:
    """The input ``arch`` is usually fed, known without loading any weights.

    For a table of layers, whose output shapes depend on the input size but not on the
    weights: an architecture that registered weights fit is fed as those are (SqueezeNet v1.0:
    deep-compression's Caffe 227×227); another torchvision builder as its DEFAULT weights
    (read from torchvision's metadata, nothing is downloaded); a factory by torchvision's
    ImageNet convention.
    """
    for entry in REGISTRY.values():
        if arch in entry.archs:
            return entry.preprocessing
    found = None if ":" in arch else weights_preprocessing(arch, "DEFAULT")
    return found or IMAGENET


def _registered(arch: str, entry: WeightsEntry) -> Built:
    """A registry entry's weights, fetched, checked and decoded, in ``arch``."""
    model = build_architecture(arch)
    arrays = entry.decode(entry.fetch())
    state = {name: torch.from_numpy(np.array(value)) for name, value in arrays.items()}
    summary = mismatch_summary(model.state_dict(), state)
    if summary:
        raise ProbecheckError(f"{entry.misfit(arch)}: {summary}", fix=entry.fix())
    model.load_state_dict(state, strict=True)
    return Built(model, entry.preprocessing, ModelIdentity(arch, entry.name, entry.sha256))


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
    filename = member.url.rsplit("/", 1)[-1]
    sha = member.url.rsplit("-", 1)[-1].split(".")[0]  # torchvision names files by a sha256 prefix
    offline = _offline_torchvision_file(filename, sha, member.url)
    try:
        state = member.get_state_dict(
            progress=False, check_hash=True, model_dir=str(offline.parent) if offline else None
        )
    except OSError as error:  # no network, no cached copy
        where = Path(torch.hub.get_dir()) / "checkpoints"
        raise ProbecheckError(
            f"cannot download torchvision weights {member}: {error}",
            fix=f"put {filename} (from {member.url}) in {where} (torch's cache; set TORCH_HOME "
            f"to use another: $TORCH_HOME/hub/checkpoints) or in a directory named by "
            f"{store.WEIGHTS_DIR_ENV}, or give a checkpoint path",
        ) from None
    model.load_state_dict(state)
    prep = enum_preprocessing(member)
    return Built(
        model, prep, ModelIdentity(arch, str(member), sha), list(member.meta.get("categories", []))
    )


def _offline_torchvision_file(filename: str, sha_prefix: str, url: str) -> Path | None:
    """``filename`` in the ``PROBECHECK_WEIGHTS_DIR`` directory, if there, checked against the
    sha256 prefix torchvision names its files by (torch checks only what it downloads)."""
    directory = os.environ.get(store.WEIGHTS_DIR_ENV)
    candidate = Path(directory).expanduser() / filename if directory else None
    if candidate is None or not candidate.is_file():
        return None
    if not store.sha256_of(candidate).startswith(sha_prefix):
        raise ProbecheckError(
            f"{candidate} is not the released {filename}: its sha256 does not start with "
            f"{sha_prefix}, as the release's does",
            fix=f"replace it with a good copy from {url}",
        )
    return candidate


def enum_preprocessing(member: Any) -> Preprocessing:
    """A torchvision weights member's transforms as a Preprocessing (whole image, no crop)."""
    transforms = member.transforms()
    crop = int(transforms.crop_size[0])
    return Preprocessing((crop, crop), 1.0, tuple(transforms.mean), tuple(transforms.std))  # type: ignore[arg-type]


def _checkpoint(arch: str, path: Path) -> Built:
    if not path.is_file():
        raise ProbecheckError(
            f"checkpoint {path} does not exist",
            fix="give a state_dict saved with torch.save, or "
            + "/".join([*NAMED_WEIGHTS, "DEFAULT"]),
        )
    try:  # weights_only: tensors and plain containers are built, nothing else is run
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch's messages run to paragraphs; say what the file is
        raise ProbecheckError(
            f"cannot load checkpoint {path}: {checkpoint_problem(path, error)}",
            fix="save a plain state_dict: torch.save(model.state_dict(), path); a file you do "
            "not trust must never be loaded with weights_only=False",
        ) from None
    prep, origin = IMAGENET, "default"
    if isinstance(loaded, dict) and "state_dict" in loaded:
        if "preprocessing" in loaded:
            prep, origin = Preprocessing.from_dict(loaded["preprocessing"]), "checkpoint"
        loaded = loaded["state_dict"]
    model = build_architecture(arch)
    _load_state(model, loaded, f"checkpoint {path} does not fit {arch}")
    identity = ModelIdentity(arch, str(path), store.sha256_of(path))
    return Built(model, prep, identity, preprocessing_from=origin)


#: first bytes → what a file that is not a torch.save archive or pickle most likely is
_NOT_CHECKPOINTS = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"{", "a JSON or text file"),
    (b"<", "an HTML or XML file (a download that returned a web page?)"),
    (b"\x93NUMPY", "a numpy .npy array"),
)
MISMATCH_SHOWN = 3


def checkpoint_problem(path: Path, error: Exception) -> str:
    """One line on why ``torch.load(path, weights_only=True)`` failed, from the file's bytes."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if not head:
        return "the file is empty"
    for magic, kind in _NOT_CHECKPOINTS:
        if head.startswith(magic):
            return f"it is {kind}, not a checkpoint"
    text = str(error)
    refused = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", text)
    if refused:
        return (
            f"it is a pickle that builds Python objects ({refused[1]}), which weights_only=True "
            "refuses to run"
        )
    archive, pickled = head.startswith(b"PK\x03\x04"), head.startswith(b"\x80")
    if (archive or pickled) and "Weights only load failed" in text:
        return "it is a pickle with contents weights_only=True refuses to build"
    if archive:
        first = text.split(". ")[0].splitlines()[0]
        return f"it is a torch.save archive, but truncated or damaged ({first})"
    if not pickled:
        return "it is not a torch checkpoint (neither a torch.save archive nor a pickle)"
    first = text.split(". ")[0].splitlines()[0] if text else "no message"
    return f"it is not a torch checkpoint ({type(error).__name__}: {first})"


def _load_state(model: nn.Module, state: object, what: str) -> None:
    """``model.load_state_dict(state)``, or an error listing a few mismatched keys of each kind."""
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ProbecheckError(
            f"{what}: it holds a {type(state).__name__}, not a state_dict (names → tensors)",
            fix="save a plain state_dict: torch.save(model.state_dict(), path)",
        )
    summary = mismatch_summary(model.state_dict(), state)
    if summary:
        prefixed = [k for k in state if k.startswith("module.")]
        hint = (
            "the keys start with 'module.' (saved from a DataParallel wrapper): save "
            "model.module.state_dict() instead; "
            if prefixed and len(prefixed) == len(state)
            else ""
        )
        raise ProbecheckError(
            f"{what}: {summary}",
            fix=hint + "check that arch names the architecture the weights were saved from",
        )
    model.load_state_dict(state, strict=True)


def mismatch_summary(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str:
    """A few keys of each kind of mismatch, with counts; '' where the state_dicts fit."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        f"{k} {list(given[k].shape)} (expected {list(expected[k].shape)})"
        for k in expected
        if k in given and given[k].shape != expected[k].shape
    ]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            shown = ", ".join(keys[:MISMATCH_SHOWN])
            more = f", and {len(keys) - MISMATCH_SHOWN} more" if len(keys) > MISMATCH_SHOWN else ""
            parts.append(f"{len(keys)} {label} ({shown}{more})")
    return "; ".join(parts)


def save_checkpoint(built_model: nn.Module, preprocessing: Preprocessing, path: str | Path) -> Path:
    """Save a state_dict with its preprocessing, in a form ``weights_only=True`` loads back."""
    payload = {"state_dict": built_model.state_dict(), "preprocessing": preprocessing.to_dict()}
    return write_atomic(path, lambda handle: torch.save(payload, handle))
