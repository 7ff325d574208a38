"""Hooked inference: the activations of any layers for any images, one forward pass each.

A forward pass serves every layer asked for, stops as soon as the last of them has fired, and
its results are cached per (image content, layer), so a spec that asks about the same face ten
times runs the network once. Hooks copy their output: torchvision's ReLUs run in place, and a
hook that kept a reference would report post-ReLU numbers for a pre-ReLU layer.

Importing this module costs no torch. A Probe made by :func:`shared_probe` while the persistent
cache is on (a pytest run) may start from the stored description of its network
(:mod:`probecheck.zoo.description`): then it builds the network, and imports torch, only when
an activation is not in the cache, so a rerun whose activations are all stored never does.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from probecheck import __version__, disk_cache
from probecheck.errors import ProbecheckError
from probecheck.zoo import names
from probecheck.zoo.description import ModelDescription, ModelIdentity, description_key
from probecheck.zoo.devices import resolve_device
from probecheck.zoo.images import ImageLike, image_digest, load_image
from probecheck.zoo.preprocess import Preprocessing

if TYPE_CHECKING:
    import torch
    from torch import nn

    from probecheck.zoo.builders import Built

DEFAULT_CACHE_BYTES = 1 << 30
#: On a CPU every image gets a forward of its own: batched, an image's numbers change in their
#: last bits with the batch's size (conv10 differs between batches of 1 and of 2+), and which
#: images share a batch depends on the cache and on how xdist spreads the specs. Alone, an
#: image's numbers depend on nothing but the image. (Batches were no faster on a CPU anyway.)
CPU_MAX_BATCH = 1
ACCELERATOR_MAX_BATCH = 64
#: torch's intra-op threads while probing: a fixed number, so the numbers do not depend on the
#: machine's cores (one thread and two give different last bits in fire6, fire9 and conv10).
THREADS_ENV = "PROBECHECK_THREADS"
DEFAULT_THREADS = 1


def probe_threads() -> int:
    """The thread count for forward passes: ``PROBECHECK_THREADS``, else 1."""
    given = os.environ.get(THREADS_ENV, "").strip()
    if not given:
        return DEFAULT_THREADS
    if not given.isdigit() or int(given) < 1:
        raise ProbecheckError(
            f"{THREADS_ENV}={given!r} is not a positive whole number",
            fix="set it to a thread count such as 1 (the default) or unset it",
        )
    return int(given)


def _describe(built: Built) -> ModelDescription:
    """The description of a built network (what :meth:`Probe.described` starts from)."""
    from probecheck.zoo.archs import aliases_for

    model = built.model
    first = next(model.parameters(), None)
    return ModelDescription(
        identity=built.identity,
        preprocessing=built.preprocessing,
        device=str(first.device) if first is not None else "cpu",
        paths=tuple(path for path, _ in model.named_modules() if path),
        aliases=tuple(aliases_for(model).items()),
    )


def _cpu_copy(output: torch.Tensor) -> torch.Tensor:
    """A copy on the CPU: the module's own output may be changed in place after the hook."""
    return output.detach().to("cpu", copy=True)


def _shape(output: torch.Tensor) -> tuple[int, ...]:
    return tuple(output.shape[1:])


@dataclass(frozen=True)
class LayerRow:
    """One row of the network table, as MATLAB's analyzeNetwork shows it."""

    path: str
    alias: str
    type: str
    output_shape: tuple[int, ...]
    channels: int | None
    parameters: int


class _ActivationCache:
    """LRU of activation arrays keyed by (image digest, module path), bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        #: arrays dropped so far (evicted or cleared): unchanged, whatever was put is still here
        self.dropped = 0

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[str, str], value: np.ndarray) -> None:
        value.setflags(write=False)  # callers share the cached array: mutating it would poison it
        if key in self._items:
            self._bytes -= self._items.pop(key).nbytes
        self._items[key] = value
        self._bytes += value.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.nbytes
            self.dropped += 1

    def clear(self) -> None:
        self.dropped += len(self._items)
        self._items.clear()
        self._bytes = 0


class Probe:
    """A network ready to be asked about: activations, predictions and its layer table.

    Made from a built network (``Probe(built)``), or from its stored description and a way to
    build it (:meth:`described`): then ``model`` is built on first use.
    """

    def __init__(
        self,
        built: Built | None = None,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        description: ModelDescription | None = None,
        builder: Callable[[], Built] | None = None,
    ) -> None:
        self._model: nn.Module | None = None
        self._builder = builder
        self._categories: list[str] | None = None
        self._module_table: dict[str, nn.Module] | None = None
        if built is not None:
            self._take(built)
            description = _describe(built)
        assert description is not None, "a Probe needs a built network or its description"
        self._description = description
        self.preprocessing: Preprocessing = description.preprocessing
        self.identity: ModelIdentity = description.identity
        #: Images run through the network, one forward pass each, however they were batched.
        self.forward_passes = 0
        #: Calls of the network (a batch of images is one).
        self.batches = 0
        #: Patched copies (or crops) of an image run by occlusion sweeps: not distinct inputs,
        #: so counted apart from ``forward_passes``.
        self.occluded_passes = 0
        self._paths = list(description.paths)
        #: The names the architecture's profile offers beside module paths (alias → path).
        self.aliases: dict[str, str] = dict(description.aliases)
        self._alias_of = {path: alias for alias, path in self.aliases.items()}
        #: Where the network runs, as torch names it (``cpu``, ``cuda:0``): known without torch.
        self.device_name = description.device
        self._cache = _ActivationCache(cache_bytes)
        #: Images per forward pass: one on a CPU (see CPU_MAX_BATCH); an accelerator gains
        #: from large batches (benchmarks/device_check.py).
        cpu = self.device_name.split(":")[0] == "cpu"
        self.max_batch = CPU_MAX_BATCH if cpu else ACCELERATOR_MAX_BATCH
        #: torch's intra-op threads during forward passes (see DEFAULT_THREADS).
        self.threads = probe_threads()

    @classmethod
    def described(cls, description: ModelDescription, builder: Callable[[], Built]) -> Probe:
        """A Probe that knows its network by ``description`` and builds it with ``builder``
        (which imports torch) only when first asked to run it."""
        return cls(description=description, builder=builder)

    def _take(self, built: Built) -> None:
        self._model = built.model.eval()
        self._categories = built.categories
        self._module_table = None

    @property
    def model(self) -> nn.Module:
        """The network (built now, if this Probe started from its description)."""
        if self._model is None:
            assert self._builder is not None
            built = self._builder()
            found = _describe(built)
            if found != self._description:
                raise ProbecheckError(
                    f"the network {self.identity.arch} / {self.identity.weights} built now is not "
                    "the one the persistent cache describes (its weights' sha256, layers, "
                    "preprocessing or device differ): its stored entries cannot be trusted",
                    fix="run once with --cache-clear (pytest) to empty the cache",
                )
            self._take(built)
        return self._model

    @property
    def built(self) -> bool:
        """Whether the network is built (a Probe from a description builds it when first run)."""
        return self._model is not None

    @property
    def categories(self) -> list[str]:
        """The weights' category names (the network is built to read them)."""
        if self._categories is None:
            _ = self.model  # built: its categories are taken with it
        return self._categories or []

    @property
    def _modules(self) -> dict[str, nn.Module]:
        """Module path → module, the root left out (the network is built to list them)."""
        if self._module_table is None:
            table = dict(self.model.named_modules())
            table.pop("", None)
            self._module_table = table
        return self._module_table

    def description(self) -> ModelDescription:
        """What the persistent cache stores of this network (:mod:`probecheck.zoo.description`)."""
        return self._description

    def __repr__(self) -> str:
        return f"Probe({self.identity.arch}, weights={self.identity.weights!r})"

    # names ------------------------------------------------------------------------------------
    def resolve(self, layer: str) -> str:
        """The module path that ``layer`` (a module path or an alias) addresses."""
        return names.resolve(layer, self._paths, self.aliases)

    def layer(self, layer: str) -> names.Layer:
        """``layer`` resolved: its module path and alias (its width is known once it ran)."""
        path = self.resolve(layer)
        return names.Layer(layer, path, self.alias(path))

    def alias(self, path: str) -> str:
        """The profile's name of a module path (DeepScale/MATLAB), or '' where it has none."""
        return self._alias_of.get(path, "")

    # activations ------------------------------------------------------------------------------
    def activations(
        self, image: ImageLike, layers: str | Sequence[str]
    ) -> dict[str, NDArray[np.float32]]:
        """``{layer: array}`` for one image; arrays are (C, h, w) for convolutional layers."""
        return self.activations_many([image], layers)[0]

    def activations_many(
        self, images: Sequence[ImageLike], layers: str | Sequence[str]
    ) -> list[dict[str, NDArray[np.float32]]]:
        """Activations of ``layers`` for each image; images not cached share one batched forward."""
        requested = [layers] if isinstance(layers, str) else list(layers)
        paths = {layer: self.resolve(layer) for layer in requested}
        rgbs = [load_image(image) for image in images]
        digests = [image_digest(rgb) for rgb in rgbs]
        missing_images: dict[str, np.ndarray] = {}
        missing_paths: set[str] = set()
        for rgb, digest in zip(rgbs, digests, strict=True):
            for path in paths.values():
                if self._cache.get((digest, path)) is None:
                    missing_images[digest] = rgb
                    missing_paths.add(path)
        stored = disk_cache.active()
        if stored is not None and missing_images:
            missing_images, missing_paths = self._from_disk(stored, missing_images, paths)
        pending = list(missing_images.items())
        for start in range(0, len(pending), self.max_batch):
            chunk = pending[start : start + self.max_batch]
            outputs = self._forward([rgb for _, rgb in chunk], sorted(missing_paths))
            for (digest, _), output in zip(chunk, outputs, strict=True):
                for path, array in output.items():
                    self._cache.put((digest, path), array)
                    if stored is not None:
                        stored.put(self.activation_key(digest, path), array)
        results = []
        for digest in digests:
            result = {}
            for layer, path in paths.items():
                cached = self._cache.get((digest, path))
                if cached is None:  # evicted by a tiny cache between put and get
                    cached = self._forward([rgbs[digests.index(digest)]], [path])[0][path]
                result[layer] = cached
            results.append(result)
        return results

    def _from_disk(
        self, stored: disk_cache.DiskCache, images: dict[str, np.ndarray], paths: dict[str, str]
    ) -> tuple[dict[str, np.ndarray], set[str]]:
        """Fill the memory cache from the disk cache; the images and layers still missing."""
        still: dict[str, np.ndarray] = {}
        layers: set[str] = set()
        for digest, rgb in images.items():
            for path in paths.values():
                if self._cache.get((digest, path)) is not None:
                    continue
                array = stored.get(self.activation_key(digest, path))
                if array is not None:
                    self._cache.put((digest, path), array)
                else:
                    still[digest] = rgb
                    layers.add(path)
        return still, layers

    def activation_key(self, digest: str, path: str) -> dict[str, object]:
        """Everything an activation depends on: the disk cache's key (:mod:`disk_cache`); no
        part of it needs torch (versions are read from the installed packages' metadata)."""
        code = disk_cache.code_digest(sys.modules[__name__], "probecheck.zoo.forward")
        return {
            "kind": "activation",
            "code": code,
            "model": self.identity.sha256,
            "arch": self.identity.arch,
            "seed": self.identity.seed,
            "preprocessing": self.preprocessing.to_dict(),
            "device": self.device_name,
            "threads": self.threads,
            "max_batch": self.max_batch,
            "torch": disk_cache.package_version("torch"),
            "torchvision": disk_cache.package_version("torchvision"),
            "probecheck": __version__,
            "image": digest,
            "layer": path,
        }

    @property
    def device(self) -> torch.device:
        """Where the network's parameters live (``device_name`` says it without torch)."""
        import torch

        if self._model is None:
            return torch.device(self.device_name)
        return next(self._model.parameters(), torch.empty(0)).device

    def prepare(self, rgbs: Iterable[NDArray[np.uint8]]) -> torch.Tensor:
        """Resize whole images to the input size and normalise them: a (N, 3, H, W) batch.

        Images of one size are resized together, on the network's device (the uint8 pixels
        travel, not floats), so preparing a batch costs little next to its forward pass.
        """
        import torch
        import torch.nn.functional as F

        prep, device = self.preprocessing, self.device
        images = list(rgbs)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, rgb in enumerate(images):
            by_shape.setdefault(rgb.shape, []).append(index)
        one_size = len(by_shape) == 1  # the resized group is the batch: no copy into one
        batch = torch.empty((len(images), 3, *prep.size), device=device)
        for indices in by_shape.values():
            pixels = torch.from_numpy(np.stack([images[i] for i in indices])).to(device)
            # channels first in memory before resizing: the same numbers as resizing the
            # (N, H, W, 3) view, in about half the time
            x = pixels.permute(0, 3, 1, 2).contiguous().float()
            if tuple(x.shape[-2:]) != tuple(prep.size):
                x = F.interpolate(
                    x, size=prep.size, mode="bilinear", align_corners=False, antialias=True
                )
            if one_size:
                batch = x
            else:
                batch[indices] = x
        if prep.channel_order == "bgr":
            batch = batch.flip(1)
        mean = torch.tensor(prep.mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(prep.std, device=device).view(1, 3, 1, 1)
        return (batch * (prep.pixel_scale / 255.0) - mean) / std

    def _forward(
        self, rgbs: list[NDArray[np.uint8]], paths: list[str], *, truncate: bool = True
    ) -> list[dict[str, NDArray[np.float32]]]:
        """Prepare the images and run them as one batch, hooked at ``paths``."""
        self._fix_threads()
        return self.hooked_forward(self.prepare(rgbs), paths, truncate=truncate)

    def hooked_forward(
        self, batch: torch.Tensor, paths: list[str], *, truncate: bool = True
    ) -> list[dict[str, NDArray[np.float32]]]:
        """One forward of a prepared batch with hooks on the modules ``paths``, stopped once the
        last of them has run (unless not ``truncate``); per image, ``{path: array}``.

        Nothing is cached here; hooks are removed whatever happens.
        """
        from probecheck.zoo.forward import hooked_forward

        self._fix_threads()
        modules = {path: self._modules[path] for path in paths}
        captured = hooked_forward(self.model, batch, modules, keep=_cpu_copy, truncate=truncate)
        self.forward_passes += len(batch)
        self.batches += 1
        return [{path: captured[path][i].numpy() for path in paths} for i in range(len(batch))]

    def reduced_forward(
        self,
        batch: torch.Tensor,
        paths: list[str],
        keep: Callable[[str, torch.Tensor], Any],
        *,
        truncate: bool = True,
        inputs_from: dict[str, str | None] | None = None,
        strict: bool = True,
    ) -> dict[str, Any]:
        """One forward of a prepared batch; each module of ``paths`` hands its (batch) output
        to ``keep(path, output)`` as it is made, and only what that returns is kept:
        ``{path: kept}``. Without ``strict``, a module that does not run (an auxiliary head
        that runs only in training) is left out instead of being an error.

        For numbers that need a few values of each map (region means, peaks): no map is
        copied out, and each is read before the next layer can overwrite it in place (a ReLU
        after a convolution), so ``keep`` must not hold on to the output itself. Counted as
        ``len(batch)`` forward passes.

        ``inputs_from``: for each of its keys (paths), set before that module's ``keep`` is
        called: the path whose output the module received as its input, unchanged (the same
        tensor, with no in-place change since: ``tensor._version``), else None.
        """
        from probecheck.zoo.forward import hooked_forward

        self._fix_threads()
        modules = {path: self._modules[path] for path in paths}
        if inputs_from is None:
            kept = hooked_forward(
                self.model,
                batch,
                modules,
                keep=lambda path, output, _inputs: keep(path, output),
                truncate=truncate,
                strict=strict,
                named=True,
            )
        else:
            kept = _traced_forward(
                self.model, batch, modules, keep, truncate, inputs_from, strict=strict
            )
        self.forward_passes += len(batch)
        self.batches += 1
        return kept

    def _fix_threads(self) -> None:
        """Run torch at ``self.threads`` threads. Set, not restored: switching the OpenMP pool
        costs several milliseconds each way, more than a small forward pass."""
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    # predictions and the network table -----------------------------------------------------------
    def predict(self, image: ImageLike, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` ImageNet categories with their softmax scores."""
        import torch

        self._fix_threads()
        batch = self.prepare([load_image(image)])
        with torch.inference_mode():
            logits = self.model(batch).reshape(1, -1)
        self.forward_passes += 1
        self.batches += 1
        scores = torch.softmax(logits.double(), dim=1)[0]
        values, indices = torch.topk(scores, k=min(top, scores.numel()))
        labels = self.categories or [str(i) for i in range(scores.numel())]
        return [
            (labels[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def layers(self) -> list[LayerRow]:
        """Every module: alias, type, output shape at the input size, channels, parameters."""
        from probecheck.zoo.forward import hooked_forward

        blank = self.prepare([np.zeros((*self.preprocessing.size, 3), np.uint8)])
        shapes = hooked_forward(
            self.model, blank, self._modules, keep=_shape, truncate=False, strict=False
        )
        self.forward_passes += 1
        self.batches += 1
        rows = []
        for path, module in self._modules.items():
            shape = shapes.get(path, ())
            rows.append(
                LayerRow(
                    path=path,
                    alias=self.alias(path),
                    type=type(module).__name__,
                    output_shape=shape,
                    channels=shape[0] if len(shape) >= 1 else None,
                    parameters=sum(p.numel() for p in module.parameters()),
                )
            )
        return rows

    def save(self, path: str | Path) -> Path:
        """Save weights and preprocessing; ``load(arch, weights=path)`` reads them back."""
        from probecheck.zoo.builders import save_checkpoint

        return save_checkpoint(self.model, self.preprocessing, path)

    @property
    def cache_drops(self) -> int:
        """Activations dropped from the memory cache so far (evicted or cleared): while this
        stays the same, every activation computed since is still cached."""
        return self._cache.dropped

    def clear_cache(self) -> None:
        """Forget every cached activation."""
        self._cache.clear()


def load(
    arch: str = "squeezenet1_0",
    weights: str = "deep-compression",
    *,
    seed: int = 0,
    device: str = "cpu",
    preprocessing: Preprocessing | None = None,
    inherited: Preprocessing | None = None,
    source: str = "",
) -> Probe:
    """Load ``arch`` with ``weights`` on ``device`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``,
    ``auto``…) as a Probe.

    ``preprocessing`` replaces the weights' own; ``inherited`` is used for weights that name
    none (a plain state_dict); see :func:`probecheck.zoo.builders.build`.
    """
    return Probe(
        _build(
            arch,
            weights,
            seed=seed,
            device=resolve_device(device),
            preprocessing=preprocessing,
            inherited=inherited,
            source=source,
        )
    )


def _build(
    arch: str,
    weights: str,
    *,
    seed: int,
    device: str,
    preprocessing: Preprocessing | None,
    inherited: Preprocessing | None,
    source: str,
) -> Built:
    """The network built and moved to ``device`` (a name ``resolve_device`` gave)."""
    from probecheck.zoo.builders import build

    built = build(
        arch, weights, seed=seed, preprocessing=preprocessing, inherited=inherited, source=source
    )
    if device != "cpu":
        try:
            built.model.to(device)
        except (RuntimeError, AssertionError) as error:  # no such device, or no CUDA build
            raise ProbecheckError(
                f"cannot move the model to device {device!r}: {error}", fix="use --device cpu"
            ) from None
    return built


_LOADED: dict[tuple, Probe] = {}


def _file_state(weights: str) -> tuple[int, ...] | None:
    """Size, inode and times of a checkpoint file (None for other weights): a Probe shared in
    this process is built again when its file was rewritten."""
    try:
        stat = os.stat(weights)
    except (OSError, ValueError):
        return None
    return (stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns)


def shared_probe(
    arch: str,
    weights: str,
    seed: int = 0,
    device: str = "cpu",
    *,
    preprocessing: Preprocessing | None = None,
    inherited: Preprocessing | None = None,
    source: str = "",
) -> Probe:
    """One Probe per model and preprocessing in this process, sharing its activation cache.

    While a persistent cache is on (:func:`probecheck.disk_cache.use`), a model built once is
    described there (:mod:`probecheck.zoo.description`), and a later process starts its Probe
    from that description: the network is built only when an activation is not stored.
    """
    if device == "auto":
        device = resolve_device(device)
    key = (arch, weights, seed, device, preprocessing, inherited, source, _file_state(weights))
    if key not in _LOADED:
        arguments = {
            "seed": seed,
            "device": device,
            "preprocessing": preprocessing,
            "inherited": inherited,
            "source": source,
        }
        stored = disk_cache.active()
        where = (
            description_key(arch, weights, seed, device, preprocessing, inherited, source)
            if stored is not None
            else None
        )
        found = (
            ModelDescription.from_record(stored.get_record(where))
            if stored is not None and where is not None
            else None
        )
        if found is not None:
            _LOADED[key] = Probe.described(found, lambda: _build(arch, weights, **arguments))
        else:
            probe = Probe(_build(arch, weights, **arguments))
            if stored is not None and where is not None:
                stored.put_record(where, probe.description().to_record())
            _LOADED[key] = probe
    return _LOADED[key]


def _traced_forward(
    model: nn.Module,
    batch: torch.Tensor,
    modules: dict[str, nn.Module],
    keep: Callable[[str, torch.Tensor], Any],
    truncate: bool,
    inputs_from: dict[str, str | None],
    *,
    strict: bool = True,
) -> dict[str, Any]:
    """``reduced_forward`` that also fills ``inputs_from`` (see there)."""
    from probecheck.zoo.forward import hooked_forward

    # (path, a weak reference to its output, the output's version) of the latest module kept:
    # weak, so no output lives longer than the network itself keeps it
    last: list[Any] = [None]

    def tracked(path: str, output: torch.Tensor, inputs: tuple[Any, ...]) -> Any:
        if path in inputs_from:
            seen, source = last[0], None
            given = None if seen is None else seen[1]()
            if given is not None and inputs and inputs[0] is given:
                # unchanged since it was kept, but for this module's own in-place change
                own = 1 if output is given else 0
                source = seen[0] if given._version == seen[2] + own else None
            inputs_from[path] = source
        kept = keep(path, output)
        last[0] = (path, weakref.ref(output), output._version)
        return kept

    try:
        return hooked_forward(
            model,
            batch,
            modules,
            keep=tracked,
            truncate=truncate,
            strict=strict,
            named=True,
            versioned=True,
        )
    finally:
        last[0] = None


def require_channels(array: np.ndarray, layer: str) -> np.ndarray:
    """Check that a layer's activation is a (C, h, w) map, as the checks need."""
    if array.ndim != 3:
        raise ProbecheckError(
            f"layer {layer} gives activations of shape {array.shape}, not (channels, h, w)",
            fix="choose a convolutional layer",
        )
    return array
