"""Which network a spec is checked on, and how its images are prepared: one answer for all.

A spec names a model (``model: {arch, weights, seed, preprocess}``); a command line may
override parts of it (``--probe-arch``/``--probe-weights``/``--probe-seed``/
``--probe-preprocess`` in pytest, ``--arch``/``--weights``/``--seed`` in the CLI).
:func:`resolve_model` applies the rules once, for the plugin, every CLI command and validation.

Preprocessing, first found wins: the preset given as an override; the spec's ``preprocess:``
block; the preprocessing a checkpoint records; for weights given as an override that record
none, the preprocessing of the spec's own model (the one they replace); else the weights' own
(torchvision's ImageNet convention where nothing is known).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probecheck.zoo.preprocess import Preprocessing, preset

if TYPE_CHECKING:
    from probecheck.spec.models import ModelRef

__all__ = ["ModelRequest", "Overrides", "resolve_model"]


@dataclass(frozen=True)
class Overrides:
    """What a command line says of the model, over the spec's: None where it says nothing."""

    arch: str | None = None
    weights: str | None = None
    seed: int | None = None
    #: a preset of :data:`probecheck.zoo.preprocess.PRESETS`
    preprocess: str | None = None
    device: str = "cpu"
    #: how the options are spelt in messages: ``--probe-`` (pytest) or ``--`` (the CLI)
    prefix: str = "--probe-"


@dataclass(frozen=True)
class ModelRequest:
    """A model to load: what :func:`probecheck.probe.shared_probe` and validation are given."""

    arch: str
    weights: str
    seed: int = 0
    device: str = "cpu"
    #: given explicitly (a preset or a spec's block): wins over the weights' own
    preprocessing: Preprocessing | None = None
    #: (arch, weights) of the spec's own model, whose preprocessing weights that record none
    #: inherit; read when the model is loaded, not when it is resolved
    inherit_from: tuple[str, str] | None = None
    #: where ``preprocessing`` or the inherited one comes from, for the model's identity
    source: str = ""
    #: the fields ("arch", "weights") an override gave, so problems name the option
    overridden: frozenset[str] = frozenset()
    prefix: str = "--probe-"

    def load_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``shared_probe``/``load`` for this request."""
        arguments: dict[str, Any] = {
            "arch": self.arch,
            "weights": self.weights,
            "seed": self.seed,
            "device": self.device,
        }
        if self.preprocessing is not None:
            arguments.update(preprocessing=self.preprocessing, source=self.source)
        elif self.inherit_from is not None:
            from probecheck.zoo.weights import weights_preprocessing

            inherited = weights_preprocessing(*self.inherit_from)
            arguments.update(inherited=inherited, source=self.source)
        return arguments


def _block_preprocessing(model: ModelRef) -> Preprocessing | None:
    block = model.preprocess
    if block is None:
        return None
    return Preprocessing(
        size=(block.size[0], block.size[1]),
        pixel_scale=block.pixel_scale,
        mean=(block.mean[0], block.mean[1], block.mean[2]),
        std=(block.std[0], block.std[1], block.std[2]),
        channel_order=block.channel_order,
    )


def _beside(base_dir: Path | None, weights: str) -> str:
    """A checkpoint named relative to the spec, as a path from here; other names unchanged."""
    if base_dir is not None and (base_dir / weights).is_file():
        return str(base_dir / weights)
    return weights


def resolve_model(
    model: ModelRef | None,
    overrides: Overrides | None = None,
    *,
    base_dir: Path | None = None,
    spec_path: Path | str | None = None,
) -> ModelRequest:
    """The model a spec's claims run on: its ``model:`` (None: the defaults, no spec) under
    ``overrides``. ``base_dir`` is the spec's directory (checkpoints are named relative to it);
    ``spec_path`` names the spec in the preprocessing's source."""
    given = overrides or Overrides()
    spec_given = model is not None
    if model is None:
        from probecheck.spec.models import ModelRef

        model = ModelRef()
    weights = given.weights or _beside(base_dir, model.weights)
    request = ModelRequest(
        arch=given.arch or model.arch,
        weights=weights,
        seed=given.seed if given.seed is not None else model.seed,
        device=given.device,
        overridden=frozenset(f for f in ("arch", "weights") if getattr(given, f)),
        prefix=given.prefix,
    )
    block = _block_preprocessing(model)
    if given.preprocess:
        return replace(
            request,
            preprocessing=preset(given.preprocess),
            source=f"{given.prefix}preprocess {given.preprocess}",
        )
    if block is not None:
        return replace(request, preprocessing=block, source=f"the preprocess: block of {spec_path}")
    if given.weights and spec_given:
        own = (model.arch, _beside(base_dir, model.weights))
        return replace(request, inherit_from=own, source=f"the spec's model ({model.weights})")
    return request
