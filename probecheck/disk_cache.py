"""A persistent cache of arrays (activations, altered images) between runs, bounded in size.

Each entry is one ``.npy`` file (``.npz`` for several arrays, ``.json`` for a small record such
as a model's description or an architecture's layer table) named by the sha256 of its key: a
JSON object of everything the entry depends on. For activations: the model's sha256,
architecture, seed, preprocessing, device, thread count, library versions, the image's pixel
digest and the layer; for altered images: the pixels, the region's mask, the method and the
digest of the masking code; for occlusion sweeps and their scored maps: an activation's key plus
the region, patch, stride, fill and the digest of the code that computes them; for a model's
description (what a run needs to know of a network without building it): the arch, the sha256 of
the weights file's bytes, seed, preprocessing, device and versions. Any change of any part is
another file, so a stale entry is never read; it just ages out. Every key part is computed
without importing torch (library versions come from the installed packages' metadata), so a
run whose every entry is stored never imports it.

Files are written atomically (:mod:`probecheck.atomic`): two xdist workers writing the same key
write the same bytes, and the last ``os.replace`` wins; a reader sees a whole file or none.
The directory is kept under ``max_bytes`` (``PROBECHECK_CACHE_MB``, default
:data:`DEFAULT_MAX_MB` MiB): a read marks an entry recent (its mtime); when a write takes the
total over the cap, the least recently used entries are removed until the total is under
:data:`EVICT_TO` of it.

In a pytest run the cache lives in pytest's own cache directory (``.pytest_cache/d/probecheck``,
:func:`use_pytest_cache`), so ``--cache-clear`` empties it and ``-p no:cacheprovider`` turns it
off. Elsewhere (the CLI, the API) nothing is cached on disk unless :func:`use` is called.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probecheck.atomic import write_atomic

__all__ = [
    "DEFAULT_MAX_MB",
    "DiskCache",
    "active",
    "code_digest",
    "key_digest",
    "package_version",
    "release",
    "remember",
    "use",
    "use_pytest_cache",
]

DEFAULT_MAX_MB = 512
SIZE_ENV = "PROBECHECK_CACHE_MB"
#: After an eviction the directory holds at most this share of the cap, so a run that keeps
#: writing does not scan the directory on every write.
EVICT_TO = 0.8
#: Bumped whenever what an entry holds changes meaning.
FORMAT = 1
SUBDIR = "probecheck"
SUFFIXES = (".npy", ".npz", ".json")

_ACTIVE: DiskCache | None = None
_CONFIG: Any = None  # the pytest run the cache was set up for


def key_digest(key: dict[str, Any]) -> str:
    """sha256 of the key's canonical JSON: the entry's file name."""
    text = json.dumps({"format": FORMAT, **key}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class DiskCache:
    """``.npy`` files in ``directory``, at most ``max_bytes`` of them (least recently used go)."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._total: int | None = None  # bytes on disk as last counted, plus what we wrote
        self.hits = 0
        self.misses = 0

    def _path(self, key: dict[str, Any], suffix: str = ".npy") -> Path:
        return self.directory / f"{key_digest(key)}{suffix}"

    def get(self, key: dict[str, Any]) -> Any | None:
        """The array stored under ``key``, or None (also for an unreadable entry, removed)."""
        return self._read(self._path(key), lambda data: data)

    def get_arrays(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """The named arrays stored under ``key`` by :meth:`put_arrays`, or None."""
        return self._read(self._path(key, ".npz"), lambda data: {k: data[k] for k in data.files})

    def get_record(self, key: dict[str, Any]) -> Any | None:
        """The JSON record stored under ``key`` by :meth:`put_record`, or None."""
        return self._read(self._path(key, ".json"), json.load, numpy=False)

    def _read(self, path: Path, unpack: Any, *, numpy: bool = True) -> Any | None:
        if numpy:
            import numpy as np

            def load(handle: Any) -> Any:
                return unpack(np.load(handle, allow_pickle=False))

        else:
            load = unpack
        try:
            with open(path, "rb") as handle:
                value = load(handle)
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, EOFError, KeyError):  # damaged by hand or disk: forget it
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        with contextlib.suppress(OSError):  # (read-only cache: still usable)
            os.utime(path)  # recently used: evicted last
        self.hits += 1
        return value

    def put(self, key: dict[str, Any], array: Any) -> None:
        """Store ``array`` under ``key`` (atomically), then keep the directory under the cap."""
        import numpy as np

        self._write(self._path(key), lambda handle: np.save(handle, array, allow_pickle=False))

    def put_arrays(self, key: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Store several named arrays under ``key`` (one uncompressed ``.npz``)."""
        import numpy as np

        self._write(self._path(key, ".npz"), lambda handle: np.savez(handle, **arrays))

    def put_record(self, key: dict[str, Any], record: Any) -> None:
        """Store a small JSON-able ``record`` under ``key`` (one ``.json``)."""
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
        self._write(self._path(key, ".json"), text.encode())

    def _write(self, path: Path, save: Any) -> None:
        try:
            write_atomic(path, save)
        except OSError:  # a full or read-only disk costs the cache, never the run
            return
        if self._total is None:
            self._total = self._count()
        else:
            with contextlib.suppress(OSError):
                self._total += path.stat().st_size
        if self._total > self.max_bytes:
            self.evict(int(self.max_bytes * EVICT_TO))

    def _entries(self) -> list[tuple[float, int, Path]]:
        entries = []
        with os.scandir(self.directory) as scan:
            for entry in scan:
                if entry.name.endswith(SUFFIXES) and not entry.name.startswith("."):
                    try:
                        stat = entry.stat()
                    except FileNotFoundError:  # evicted by another worker meanwhile
                        continue
                    entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
        return entries

    def _count(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def evict(self, target: int) -> None:
        """Remove the least recently used entries until at most ``target`` bytes remain."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= target:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._total = total


def code_digest(*modules: Any) -> str:
    """sha256 of the modules' source files: a key part, so an edit to the code that computes
    an entry invalidates it. A module is given as itself, by its dotted name (found without
    importing it: a key made before a network is loaded must not import torch) or as the Path
    of its file."""
    return _code_digest(tuple(_source_file(module) for module in modules))


@functools.cache
def _module_file(name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(name)
    return spec.origin


def _source_file(module: Any) -> str:
    if isinstance(module, Path):
        return str(module)
    return _module_file(module) if isinstance(module, str) else module.__file__


@functools.cache
def package_version(name: str) -> str:
    """The installed version of package ``name`` (``torch``), found without importing it: its
    distribution's version and the digest of its ``version.py`` where it has one (torch's
    names its build: ``+cu130``, the CUDA version, the git commit); '' where not installed."""
    import importlib.util
    from importlib import metadata

    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = ""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return ""
    for location in spec.submodule_search_locations or ():
        stamp = Path(location) / "version.py"
        if stamp.is_file():
            version += " " + hashlib.sha256(stamp.read_bytes()).hexdigest()[:16]
            break
    return version


@functools.cache
def _code_digest(files: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()


def remember(key: dict[str, Any] | None, compute: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
    """``compute()`` (a tuple of arrays), read from the active cache when stored under ``key``
    and stored there otherwise; computed alone where there is no cache or no key."""
    stored = _ACTIVE
    if stored is None or key is None:
        return compute()
    found = stored.get_arrays(key)
    if found is not None:
        return tuple(found[str(i)] for i in range(len(found)))
    value = compute()
    stored.put_arrays(key, {str(i): array for i, array in enumerate(value)})
    return value


def max_bytes_from_env() -> int:
    """The size cap: ``PROBECHECK_CACHE_MB`` MiB, else :data:`DEFAULT_MAX_MB`."""
    from probecheck.errors import ProbecheckError

    given = os.environ.get(SIZE_ENV, "").strip()
    if not given:
        return DEFAULT_MAX_MB << 20
    if not given.isdigit():
        raise ProbecheckError(
            f"{SIZE_ENV}={given!r} is not a whole number of MiB",
            fix=f"set it to a size such as {DEFAULT_MAX_MB}, or 0 to cache nothing on disk",
        )
    return int(given) << 20


def use(directory: str | Path | None, max_bytes: int | None = None) -> DiskCache | None:
    """Cache in ``directory`` from now on in this process (None: cache nothing on disk)."""
    global _ACTIVE
    size = max_bytes_from_env() if max_bytes is None else max_bytes
    _ACTIVE = DiskCache(directory, size) if directory is not None and size > 0 else None
    return _ACTIVE


def active() -> DiskCache | None:
    """The cache in use, if any."""
    return _ACTIVE


def use_pytest_cache(config: Any) -> DiskCache | None:
    """Cache in pytest's cache directory for ``config``'s run (set up once per run); none when
    the cacheprovider plugin is off (``-p no:cacheprovider``)."""
    global _CONFIG
    if config is _CONFIG:
        return _ACTIVE
    _CONFIG = config
    cache = getattr(config, "cache", None)
    return use(cache.mkdir(SUBDIR) if cache is not None else None)


def release(config: Any) -> None:
    """The run ``config`` is over: cache nothing more on disk for it."""
    global _CONFIG
    if config is _CONFIG:
        _CONFIG = None
        use(None, 0)
