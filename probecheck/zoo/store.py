"""Where the pretrained weights file comes from: an offline directory, the cache, or upstream.

Order: ``PROBECHECK_WEIGHTS_DIR`` (a directory the user names, e.g. on a machine with no
network), then the cache (``PROBECHECK_CACHE_DIR``, else the platform cache directory), then a
download from upstream into the cache, written atomically and checked against its sha256.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from probecheck import disk_cache
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


#: A file changed this recently may change again within the same timestamp tick, unseen by its
#: size and times: its digest is not remembered (git's "racily clean" rule).
SETTLED_NS = 2_000_000_000
_DIGESTS: dict[tuple[object, ...], str] = {}


def remembered_sha256(path: Path) -> str:
    """:func:`sha256_of`, remembered by the file's path, size, inode, modification and change
    times (in this process, and in the persistent cache where one is active), so a large
    checkpoint is hashed once, not on every run. Any write to the file changes its change time
    (which, unlike the modification time, no copy tool can set back); a file written in the
    last two seconds is hashed every time."""
    before = path.stat()
    stamp = (str(path.resolve()), before.st_size, before.st_ino)
    stamp += (before.st_mtime_ns, before.st_ctime_ns)
    if stamp in _DIGESTS:
        return _DIGESTS[stamp]
    key = {"kind": "file-sha256", "file": list(stamp)}
    stored = disk_cache.active()
    record = stored.get_record(key) if stored is not None else None
    if isinstance(record, dict) and isinstance(record.get("sha256"), str):
        _DIGESTS[stamp] = record["sha256"]
        return record["sha256"]
    digest = sha256_of(path)
    after = path.stat()
    unchanged = (after.st_size, after.st_mtime_ns, after.st_ctime_ns) == stamp[1:2] + stamp[3:]
    settled = time.time_ns() - max(before.st_mtime_ns, before.st_ctime_ns) > SETTLED_NS
    if unchanged and settled:
        _DIGESTS[stamp] = digest
        if stored is not None:
            stored.put_record(key, {"sha256": digest})
    return digest


def _checked(path: Path, remote: RemoteFile, *, offline: bool) -> Path:
    """``path`` if its bytes are the release's; otherwise the error that says how to get them.

    Run on every load, not only after a download: a file truncated by a full disk or edited
    in place is refused before a single weight is decoded. (Hashing the 676 kB file costs about
    a millisecond, so the digest is not cached.)
    """
    actual = sha256_of(path)
    if actual == remote.sha256:
        return path
    size = path.stat().st_size
    if size < remote.size:
        what = f"is {size:,} bytes, but the release is {remote.size:,}: it is truncated"
    elif size > remote.size:
        what = f"is {size:,} bytes, but the release is {remote.size:,}: it is another file"
    else:
        what = "has the release's size but other bytes: it was altered or damaged"
    if offline:
        fix = (
            f"replace it with a good copy (sha256 {remote.sha256[:12]}…, {remote.size:,} "
            f"bytes) from {remote.url}, or unset {WEIGHTS_DIR_ENV} to download one into the "
            f"cache {path_in_cache(remote).parent}"
        )
    else:
        fix = (
            f"delete {path}: the next run downloads a good copy from {remote.url}; with no "
            f"network, put a good copy (sha256 {remote.sha256[:12]}…) in a directory and set "
            f"{WEIGHTS_DIR_ENV} to it"
        )
    raise WeightsNotFoundError(
        f"{path} {what} (sha256 {actual}, expected {remote.sha256}); "
        f"it is not the released {remote.filename}",
        fix=fix,
    )


def path_in_cache(remote: RemoteFile) -> Path:
    """Where ``remote`` lives in the cache, downloaded or not."""
    return cache_dir() / remote.filename


def fetch(remote: RemoteFile, *, download: bool = True) -> Path:
    """Return a local, sha256-checked path to ``remote``; download it into the cache if needed."""
    offline = os.environ.get(WEIGHTS_DIR_ENV)
    if offline:
        candidate = Path(offline).expanduser() / remote.filename
        if candidate.is_file():
            return _checked(candidate, remote, offline=True)
    cached = path_in_cache(remote)
    if cached.is_file():
        return _checked(cached, remote, offline=False)
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
