"""Where the weights come from: offline directory, cache, download (atomic, sha256-checked).

The network is never used: ``urllib.request.urlopen`` as seen by ``probecheck.zoo.store`` is
replaced in every test by a fake that serves bytes or raises. Every directory is under tmp_path.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from probecheck.errors import ProbecheckError, WeightsNotFoundError
from probecheck.zoo import store

REMOTE = store.DEEP_COMPRESSION
FILENAME = "compressed_SqueezeNet.net"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Empty offline and cache directories, named by the environment."""
    offline, cache = tmp_path / "offline", tmp_path / "cache"
    offline.mkdir()
    cache.mkdir()
    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(offline))
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(cache))
    return offline, cache


def serve(monkeypatch: pytest.MonkeyPatch, respond: Callable[[str], object]) -> list[str]:
    """Replace urlopen; return the list of URLs asked for."""
    asked: list[str] = []

    def fake_urlopen(url: str, *args: object, **kwargs: object) -> object:
        asked.append(url)
        return respond(url)

    monkeypatch.setattr(store.urllib.request, "urlopen", fake_urlopen)
    return asked


def offline_error(_url: str) -> object:
    raise OSError("network is unreachable (test)")


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


@pytest.fixture
def real_bytes(weights_dir: Path) -> bytes:
    return (weights_dir / FILENAME).read_bytes()


# --- nothing reachable ----------------------------------------------------------------------------


def test_no_weights_anywhere_gives_the_clear_error(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    offline, cache = dirs
    asked = serve(monkeypatch, offline_error)
    with pytest.raises(WeightsNotFoundError) as caught:
        store.fetch(REMOTE)
    message = str(caught.value)
    assert "PROBECHECK_WEIGHTS_DIR" in message
    assert FILENAME in message
    assert str(offline) in message and str(cache) in message  # where it looked
    assert "network is unreachable" in message  # why the download failed
    assert caught.value.fix and "PROBECHECK_WEIGHTS_DIR" in caught.value.fix
    assert asked == [REMOTE.url]
    assert files_in(cache) == [] and files_in(offline) == []  # no temporary file left behind


def test_no_weights_through_load(dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import probecheck

    serve(monkeypatch, offline_error)
    with pytest.raises(WeightsNotFoundError, match="PROBECHECK_WEIGHTS_DIR") as caught:
        probecheck.load("squeezenet1_0", "deep-compression")
    assert FILENAME in str(caught.value)
    assert isinstance(caught.value, ProbecheckError)


def test_unset_weights_dir_is_named_too(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(store.WEIGHTS_DIR_ENV)
    serve(monkeypatch, offline_error)
    with pytest.raises(WeightsNotFoundError, match=r"PROBECHECK_WEIGHTS_DIR \(not set\)"):
        store.fetch(REMOTE)


def test_download_switched_off(dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    asked = serve(monkeypatch, offline_error)
    with pytest.raises(WeightsNotFoundError, match="downloading is switched off"):
        store.fetch(REMOTE, download=False)
    assert asked == []


# --- wrong files are refused ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["offline", "cache"])
def test_wrong_file_is_refused(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    offline, cache = dirs
    bad = (offline if where == "offline" else cache) / FILENAME
    bad.write_bytes(b"this is not SqueezeNet")
    asked = serve(monkeypatch, offline_error)
    with pytest.raises(WeightsNotFoundError) as caught:
        store.fetch(REMOTE)
    message = str(caught.value)
    assert str(bad) in message
    assert hashlib.sha256(b"this is not SqueezeNet").hexdigest() in message
    assert REMOTE.sha256 in message
    assert asked == []  # a wrong file is reported, not silently replaced


# --- found offline or in the cache ----------------------------------------------------------------


def test_offline_dir_is_used_first(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, weights_dir: Path
) -> None:
    _, cache = dirs
    (cache / FILENAME).write_bytes(b"a stale, wrong copy that must not be looked at")
    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(weights_dir))
    asked = serve(monkeypatch, offline_error)
    assert store.fetch(REMOTE) == weights_dir / FILENAME
    assert asked == []


def test_cache_is_used_when_offline_dir_lacks_the_file(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, real_bytes: bytes
) -> None:
    _, cache = dirs
    (cache / FILENAME).write_bytes(real_bytes)
    asked = serve(monkeypatch, offline_error)
    assert store.fetch(REMOTE) == cache / FILENAME
    assert asked == []


def test_cache_dir_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(tmp_path / "my-cache"))
    assert store.cache_dir() == tmp_path / "my-cache"


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_CACHE_HOME is the Linux convention")
def test_default_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(store.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert store.cache_dir() == tmp_path / "probecheck"


# --- downloading ----------------------------------------------------------------------------------


def test_download_lands_in_the_cache_atomically(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, real_bytes: bytes
) -> None:
    _, cache = dirs
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(cache / "nested" / "dir"))  # created on demand
    target = cache / "nested" / "dir" / FILENAME
    seen_during_download: list[tuple[bool, list[str]]] = []

    class Response(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            seen_during_download.append((target.exists(), files_in(target.parent)))
            return super().read(size)

    asked = serve(monkeypatch, lambda _url: Response(real_bytes))
    assert store.fetch(REMOTE) == target
    assert asked == [REMOTE.url]
    assert target.read_bytes() == real_bytes
    assert files_in(cache) == [FILENAME]  # no temporary leftovers
    # while bytes were still arriving, the final name did not exist; a hidden temporary file did
    assert seen_during_download
    assert not any(exists for exists, _ in seen_during_download)
    assert all(len(names) == 1 and names[0].startswith(".") for _, names in seen_during_download)
    # and the next fetch is served from the cache, no network
    serve(monkeypatch, offline_error)
    assert store.fetch(REMOTE) == target


@pytest.mark.parametrize(
    "payload",
    [b"", b"<html>404 Not Found</html>", b"\x00" * 1000],
    ids=["empty", "html", "zeros"],
)
def test_download_with_wrong_sha256_leaves_nothing(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, payload: bytes
) -> None:
    _, cache = dirs
    serve(monkeypatch, lambda _url: io.BytesIO(payload))
    with pytest.raises(WeightsNotFoundError) as caught:
        store.fetch(REMOTE)
    assert "sha256" in str(caught.value)
    assert hashlib.sha256(payload).hexdigest() in str(caught.value)
    assert files_in(cache) == []


def test_download_interrupted_leaves_nothing(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cache = dirs

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("connection reset (test)")
            return super().read(size)

    serve(monkeypatch, lambda _url: Broken(b"x" * 200_000))
    with pytest.raises(WeightsNotFoundError, match="connection reset"):
        store.fetch(REMOTE)
    assert files_in(cache) == []


def test_download_then_load_the_model(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, real_bytes: bytes
) -> None:
    """The whole first-use path: nothing local, download to the cache, decode, build."""
    import probecheck

    _, cache = dirs
    serve(monkeypatch, lambda _url: io.BytesIO(real_bytes))
    probe = probecheck.load("squeezenet1_0", "deep-compression")
    assert probe.identity.sha256 == REMOTE.sha256
    assert files_in(cache) == [FILENAME]


def test_sha256_of_reads_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = bytes(range(256)) * 9000  # > 1 MiB: more than one chunk
    path.write_bytes(payload)
    assert store.sha256_of(path) == hashlib.sha256(payload).hexdigest()


def test_remote_matches_the_offline_copy(weights_dir: Path) -> None:
    assert (weights_dir / FILENAME).stat().st_size == REMOTE.size
    assert store.sha256_of(weights_dir / FILENAME) == REMOTE.sha256
