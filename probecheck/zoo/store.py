"""Where the pretrained weights file comes from: an offline directory, the cache, or upstream.

Order: ``PROBECHECK_WEIGHTS_DIR`` (a directory the user names, e.g. on a machine with no
network), then the cache (``PROBECHECK_CACHE_DIR``, else the platform cache directory), then a
download from upstream into the cache, written atomically and checked against its sha256.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from probecheck.atomic import write_atomic
from probecheck.errors import WeightsNotFoundError

WEIGHTS_DIR_ENV = "PROBECHECK_WEIGHTS_DIR"
CACHE_DIR_ENV = "PROBECHECK_CACHE_DIR"


@dataclass(frozen=True)
class RemoteFile:
    """A file published upstream, identified by name and sha256."""

    filename: str
    url: str
    sha256: str
    size: int


DEEP_COMPRESSION = RemoteFile(
    filename="compressed_SqueezeNet.net",
    url=(
        "https://github.com/songhan/SqueezeNet-Deep-Compression/raw/"
        "fb13faa2cf121ced9999f8a9d538ec6c56084733/compressed_SqueezeNet.net"
    ),
    sha256="e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261",
    size=675_763,
)


def cache_dir() -> Path:
    """The cache directory: ``PROBECHECK_CACHE_DIR`` or the platform's user cache."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "probecheck"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checked(path: Path, remote: RemoteFile) -> Path:
    actual = sha256_of(path)
    if actual != remote.sha256:
        raise WeightsNotFoundError(
            f"{path} has sha256 {actual}, expected {remote.sha256}: it is not the released "
            f"{remote.filename}",
            fix=f"replace it with the file from {remote.url}",
        )
    return path


def fetch(remote: RemoteFile, *, download: bool = True) -> Path:
    """Return a local, sha256-checked path to ``remote``; download it into the cache if needed."""
    offline = os.environ.get(WEIGHTS_DIR_ENV)
    if offline:
        candidate = Path(offline).expanduser() / remote.filename
        if candidate.is_file():
            return _checked(candidate, remote)
    cached = cache_dir() / remote.filename
    if cached.is_file():
        return _checked(cached, remote)
    problem = "downloading is switched off"
    if download:
        try:
            return _download(remote, cached)
        except OSError as error:
            problem = f"the download from {remote.url} failed ({error})"
    looked = [f"{WEIGHTS_DIR_ENV}={offline}" if offline else f"{WEIGHTS_DIR_ENV} (not set)"]
    looked.append(f"the cache {cached.parent}")
    raise WeightsNotFoundError(
        f"cannot find {remote.filename}: looked in {' and '.join(looked)}, and {problem}",
        fix=(
            f"put {remote.filename} (sha256 {remote.sha256[:12]}…) in a directory and set "
            f"{WEIGHTS_DIR_ENV} to it, or copy it into {cached.parent}"
        ),
    )


def _download(remote: RemoteFile, target: Path) -> Path:
    """Download into the cache atomically; a file with the wrong sha256 never lands there."""

    def fetch_into(handle: BinaryIO) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(remote.url, timeout=30) as response:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != remote.sha256:
            raise OSError(
                f"downloaded file has sha256 {digest.hexdigest()}, expected {remote.sha256}"
            )

    return write_atomic(target, fetch_into)
