"""Weights that cannot be trusted are refused with the remedy: a truncated or altered named file
(checked on every load), a download that fails half-way (nothing left where it would be used),
a file that is no checkpoint or would run code, and a checkpoint of another architecture (a few
mismatched keys of each kind, not torch's wall of text). No network; every file under tmp_path."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch
import torchvision

from probecheck.errors import ProbecheckError, WeightsNotFoundError
from probecheck.zoo import builders, store

REMOTE = store.DEEP_COMPRESSION
FILENAME = REMOTE.filename


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Empty offline and cache directories, named by the environment; no network."""
    offline, cache = tmp_path / "offline", tmp_path / "cache"
    offline.mkdir()
    cache.mkdir()
    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(offline))
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(cache))

    def no_network(url: str, *args: object, **kwargs: object) -> object:
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(store.urllib.request, "urlopen", no_network)
    return offline, cache


@pytest.fixture(scope="module")
def real_bytes(weights_dir: Path) -> bytes:
    return (weights_dir / FILENAME).read_bytes()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


def altered(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01  # one bit of one weight
    return bytes(flipped)


def extended(data: bytes) -> bytes:
    return data + b"\x00" * 10


BAD_COPIES = {
    "truncated": (truncated, "it is truncated"),
    "one-bit-altered": (altered, "it was altered or damaged"),
    "extended": (extended, "it is another file"),
}


@pytest.mark.parametrize("where", ["cache", "offline"])
@pytest.mark.parametrize("kind", BAD_COPIES)
def test_a_bad_copy_is_refused_with_the_remedy(
    dirs: tuple[Path, Path], real_bytes: bytes, where: str, kind: str
) -> None:
    offline, cache = dirs
    spoil, reason = BAD_COPIES[kind]
    bad = (cache if where == "cache" else offline) / FILENAME
    bad.write_bytes(spoil(real_bytes))
    with pytest.raises(WeightsNotFoundError) as caught:
        builders.build("squeezenet1_0", "deep-compression")
    message, fix = str(caught.value), caught.value.fix or ""
    assert str(bad) in message and reason in message
    assert f"{len(spoil(real_bytes)):,} bytes" in message or kind == "one-bit-altered"
    assert REMOTE.sha256 in message
    assert REMOTE.url in fix
    if where == "cache":
        assert f"delete {bad}" in fix and store.WEIGHTS_DIR_ENV in fix
    else:
        assert f"unset {store.WEIGHTS_DIR_ENV}" in fix and str(cache) in fix
    assert bad.read_bytes() == spoil(real_bytes)  # reported, never replaced behind the user's back


def test_the_file_is_checked_on_every_load_not_only_on_download(
    dirs: tuple[Path, Path], real_bytes: bytes
) -> None:
    _, cache = dirs
    (cache / FILENAME).write_bytes(real_bytes)
    assert builders.build("squeezenet1_0", "deep-compression").identity.sha256 == REMOTE.sha256
    (cache / FILENAME).write_bytes(altered(real_bytes))  # edited in place after the first load
    with pytest.raises(WeightsNotFoundError, match="altered or damaged"):
        builders.build("squeezenet1_0", "deep-compression")


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, ConnectionResetError, OSError])
def test_a_failing_download_leaves_no_file_where_it_would_be_used(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, interruption: type
) -> None:
    _, cache = dirs

    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= 300_000:  # half-way through
                raise interruption("stopped half-way (test)")
            return super().read(size)

    monkeypatch.setattr(store.urllib.request, "urlopen", lambda *a, **k: Failing(b"x" * 675_763))
    with pytest.raises((interruption, WeightsNotFoundError)):
        store.fetch(REMOTE)
    assert list(cache.iterdir()) == []  # no partial file, no temporary file


# --- checkpoints ----------------------------------------------------------------------------------


class RunsCode:
    """Unpickling this would run a shell command: weights_only=True must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class Custom:
    pass


def png_bytes() -> bytes:
    return (Path(__file__).resolve().parents[2] / "fixtures" / "edge.png").read_bytes()


def truncated_checkpoint(path: Path) -> None:
    torch.save(torchvision.models.squeezenet1_0().state_dict(), path)
    path.write_bytes(truncated(path.read_bytes()))


#: name → (how the file is written, words the message must hold)
NOT_CHECKPOINTS = {
    "png-named-pt": (lambda p: p.write_bytes(png_bytes()), "it is a PNG image, not a checkpoint"),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "html-error-page": (lambda p: p.write_text("<html>404</html>"), "HTML or XML"),
    "json": (lambda p: p.write_text('{"weights": []}'), "JSON or text"),
    "text": (lambda p: p.write_text("weights\n"), "it is not a torch checkpoint"),
    "truncated-archive": (truncated_checkpoint, "torch.save archive, but truncated or damaged"),
    "pickle-of-an-object": (
        lambda p: torch.save({"model": Custom()}, p),
        f"builds Python objects ({Custom.__module__}.Custom), which weights_only=True refuses",
    ),
    "plain-pickle-of-a-dict": (
        lambda p: p.write_bytes(pickle.dumps({"a": 1}, protocol=2)),
        "it is not a torch checkpoint",
    ),
    "tensor-values-missing": (lambda p: torch.save({"a": "text"}, p), "not a state_dict"),
    "bare-tensor": (lambda p: torch.save(torch.zeros(3), p), "it holds a Tensor, not a state_dict"),
}


@pytest.mark.parametrize("name", NOT_CHECKPOINTS)
def test_a_file_that_is_no_checkpoint_is_named(tmp_path: Path, name: str) -> None:
    write, needle = NOT_CHECKPOINTS[name]
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(ProbecheckError) as caught:
        builders.build("squeezenet1_0", str(path))
    message = str(caught.value)
    assert str(path) in message and needle in message, message
    assert "\n" not in caught.value.message and len(caught.value.message) < 400, message
    assert "torch.save(model.state_dict(), path)" in (caught.value.fix or "")


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    with pytest.raises(ProbecheckError) as caught:
        builders.build("squeezenet1_0", str(path))
    assert "system" in str(caught.value) and "weights_only=True refuses" in str(caught.value)
    assert "never be loaded with weights_only=False" in (caught.value.fix or "")
    assert not marker.exists()


def state_of(arch: str) -> dict[str, torch.Tensor]:
    return torchvision.models.get_model(arch, weights=None).state_dict()


#: checkpoint → (what it is given to, the summary's parts)
MISMATCHES = {
    "squeezenet1_1-into-1_0": (
        lambda: state_of("squeezenet1_1"),
        [
            "12 missing (features.5.squeeze.weight, features.5.squeeze.bias,",
            "12 unexpected (features.6.squeeze.weight,",
            "10 wrong shape (features.0.weight [64, 3, 3, 3] (expected [96, 3, 7, 7]),",
            "and 7 more)",
        ],
    ),
    "resnet18-into-squeezenet": (
        lambda: state_of("resnet18"),
        ["52 missing (features.0.weight,", "122 unexpected (conv1.weight,", ", and 119 more"],
    ),
    "one-key-short": (
        lambda: {k: v for k, v in state_of("squeezenet1_0").items() if k != "classifier.1.bias"},
        ["1 missing (classifier.1.bias)"],
    ),
    "one-key-extra": (
        lambda: {**state_of("squeezenet1_0"), "extra.weight": torch.zeros(1)},
        ["1 unexpected (extra.weight)"],
    ),
}


@pytest.mark.parametrize("name", MISMATCHES)
def test_a_checkpoint_of_another_arch_gets_a_short_key_list(tmp_path: Path, name: str) -> None:
    make, parts = MISMATCHES[name]
    path = tmp_path / "other.pt"
    torch.save(make(), path)
    with pytest.raises(ProbecheckError) as caught:
        builders.build("squeezenet1_0", str(path))
    message = caught.value.message
    assert message.startswith(f"checkpoint {path} does not fit squeezenet1_0: "), message
    for part in parts:
        assert part in message, message
    assert "\n" not in message and len(message) < 600, message


def test_a_dataparallel_checkpoint_gets_the_prefix_hint(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.pt"
    torch.save({f"module.{k}": v for k, v in state_of("squeezenet1_0").items()}, path)
    with pytest.raises(ProbecheckError, match=r"52 missing .* 52 unexpected") as caught:
        builders.build("squeezenet1_0", str(path))
    assert "model.module.state_dict()" in (caught.value.fix or "")


def test_checkpoints_load_with_weights_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "good.pt"
    torch.save(state_of("squeezenet1_0"), path)
    seen: list[object] = []
    real_load = torch.load

    def recording_load(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    builders.build("squeezenet1_0", str(path))
    assert seen == [True]
