"""What a run knows of a network without building it: its identity, preprocessing, device and
layer names, and the key they are stored under in the persistent cache.

Building a network means importing torch and decoding its weights, a second or more before the
first claim; a rerun whose activations are all in the persistent cache
(:mod:`probecheck.disk_cache`) needs none of it. A Probe made from a description
(:func:`probecheck.probe.shared_probe`) resolves layer names, keys its activations and reports
its model from the description alone, and builds the network on the first activation the cache
does not hold.

The description is stored once the network has been built, under :func:`description_key`: the
arch, the weights as written, the sha256 of the weights file's bytes (a registered file is checked
against its published sha256, a checkpoint hashed, :func:`probecheck.zoo.store.remembered_sha256`),
the seed, the preprocessing given or inherited, the device, the versions of torch and torchvision,
and the digest of the code that builds and names the network. Each part is computed without
torch. Where a part cannot be known without building (a user's factory, a checkpoint file that is
missing, a device still written ``auto``: ``shared_probe`` resolves it first) there is no key, and
the network is built as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probecheck import disk_cache
from probecheck.zoo.preprocess import Preprocessing
from probecheck.zoo.weights import looks_like_path, registered

__all__ = ["ModelDescription", "ModelIdentity", "description_key"]


@dataclass(frozen=True)
class ModelIdentity:
    """What was loaded, for reports: a model is known by arch, weights and their sha256."""

    arch: str
    weights: str
    sha256: str
    seed: int | None = None
    preprocessing: str = ""  # what the input is prepared with, and where that came from

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "weights": self.weights,
            "sha256": self.sha256,
            "seed": self.seed,
            "preprocessing": self.preprocessing,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIdentity:
        """Inverse of :meth:`to_dict`."""
        seed = data.get("seed")
        return cls(
            arch=str(data["arch"]),
            weights=str(data["weights"]),
            sha256=str(data["sha256"]),
            seed=None if seed is None else int(seed),
            preprocessing=str(data.get("preprocessing", "")),
        )


@dataclass(frozen=True)
class ModelDescription:
    """A built network as a run sees it before asking it anything: who it is, how its input is
    prepared, where it runs, and its module paths and aliases (in the network's own order)."""

    identity: ModelIdentity
    preprocessing: Preprocessing
    device: str
    paths: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...]  # (alias, module path), in the profile's order

    def to_record(self) -> dict[str, Any]:
        """Plain types for the persistent cache (pairs, not objects: JSON keys get sorted)."""
        return {
            "identity": self.identity.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "device": self.device,
            "paths": list(self.paths),
            "aliases": [list(pair) for pair in self.aliases],
        }

    @classmethod
    def from_record(cls, record: Any) -> ModelDescription | None:
        """Inverse of :meth:`to_record`; None for a record that is not one (damaged by hand)."""
        try:
            return cls(
                identity=ModelIdentity.from_dict(record["identity"]),
                preprocessing=Preprocessing.from_dict(record["preprocessing"]),
                device=str(record["device"]),
                paths=tuple(str(path) for path in record["paths"]),
                aliases=tuple((str(alias), str(path)) for alias, path in record["aliases"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _building_code() -> list[Any]:
    """The modules (by name, not imported) and files whose code decides a description."""
    zoo = Path(__file__).parent
    names = ("builders", "weights", "preprocess", "deep_compression", "store", "description")
    profiles = sorted((zoo / "archs").glob("*.py"))
    return [f"probecheck.zoo.{name}" for name in names] + ["probecheck.probe", *profiles]


def weights_part(arch: str, weights: str) -> str | None:
    """What identifies ``weights`` for ``arch`` without building: a registered file's sha256
    (the file checked against it, as loading does), a checkpoint's sha256, 'random', or a
    torchvision weights name; None where it cannot be known (a missing checkpoint)."""
    entry = registered(weights)
    if entry is not None:
        entry.fetch()  # a missing or altered file fails here as it would when loading
        return entry.sha256
    if weights == "random":
        return "random"
    if looks_like_path(weights):
        path = Path(weights)
        if not path.is_file():
            return None
        from probecheck.zoo.store import remembered_sha256

        return remembered_sha256(path)
    return f"torchvision {weights}"


def description_key(
    arch: str,
    weights: str,
    seed: int,
    device: str,
    preprocessing: Preprocessing | None,
    inherited: Preprocessing | None,
    source: str,
) -> dict[str, Any] | None:
    """The persistent cache's key for the description of this model; None where it cannot be
    known without building the network (a ``module:function`` factory, an unresolved ``auto``)."""
    if ":" in arch or device == "auto":
        return None
    part = weights_part(arch, weights)
    if part is None:
        return None
    from probecheck import __version__

    return {
        "kind": "model",
        "arch": arch,
        "weights": weights,
        "weights_sha256": part,
        "seed": seed,
        "device": device,
        "preprocessing": preprocessing.to_dict() if preprocessing is not None else None,
        "inherited": inherited.to_dict() if inherited is not None else None,
        "source": source,
        "torch": disk_cache.package_version("torch"),
        "torchvision": disk_cache.package_version("torchvision"),
        "probecheck": __version__,
        "code": disk_cache.code_digest(*_building_code()),
    }
