"""The weights registry: one entry is everything building, validation, the header's fingerprint
and a candidate's inherited preprocessing know about named weights.

A second entry is registered for a test (a random SqueezeNet v1.1 saved as an .npz file beside
its sha256) and every reader must find it through the registry alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probecheck.errors import ProbecheckError
from probecheck.zoo import builders, fingerprint, store, weights
from probecheck.zoo.preprocess import CAFFE_SQUEEZENET, Preprocessing
from probecheck.zoo.weights import REGISTRY, WeightsEntry, registered

ODD = Preprocessing((96, 96), 255.0, (1.0, 2.0, 3.0), (4.0, 5.0, 6.0))


def test_deep_compression_is_a_registry_entry() -> None:
    entry = registered("deep-compression")
    assert entry is not None and entry is REGISTRY["deep-compression"]
    assert entry.remote is store.DEEP_COMPRESSION and entry.sha256 == store.DEEP_COMPRESSION.sha256
    assert entry.preprocessing == CAFFE_SQUEEZENET
    assert entry.fits("squeezenet1_0") and not entry.fits("squeezenet1_1")
    assert entry.fits("mypackage.models:squeezenet")  # a factory is told at load
    assert "deep-compression" in weights.NAMED_WEIGHTS and "random" in weights.NAMED_WEIGHTS
    assert registered("DEFAULT") is None


@pytest.fixture
def tiny_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A registered entry 'tiny-test': a seeded random SqueezeNet v1.1, offline in tmp_path."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = builders.build_architecture("squeezenet1_1")
    arrays = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    url = "https://example.invalid/tiny.npz"
    remote = store.RemoteFile(path.name, url, store.sha256_of(path), path.stat().st_size)
    entry = WeightsEntry(
        name="tiny-test",
        remote=remote,
        decode=lambda p: dict(np.load(p)),
        preprocessing=ODD,
        archs=("squeezenet1_1",),
        whose="a test's SqueezeNet v1.1",
    )
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(tmp_path))
    return entry, arrays


def test_a_new_entry_is_built_with_its_preprocessing_and_sha(tiny_entry) -> None:
    entry, arrays = tiny_entry
    built = builders.build("squeezenet1_1", "tiny-test")
    state = built.model.state_dict()
    assert all(np.array_equal(state[k].numpy(), v) for k, v in arrays.items())
    assert built.preprocessing == ODD
    assert built.identity.sha256 == entry.sha256 and built.identity.weights == "tiny-test"
    assert "the weights' own" in built.identity.preprocessing


def test_a_new_entry_that_does_not_fit_names_its_archs(tiny_entry) -> None:
    with pytest.raises(ProbecheckError) as info:
        builders.build("squeezenet1_0", "tiny-test")
    assert "a test's SqueezeNet v1.1" in str(info.value)
    assert "arch: squeezenet1_1 with weights: tiny-test" in str(info.value)


def test_a_new_entry_is_known_to_validation_fingerprint_and_inheritance(tiny_entry) -> None:
    from probecheck.validate import _weights_problem

    entry, _ = tiny_entry
    assert _weights_problem("squeezenet1_1", "tiny-test") is None
    message, fix = _weights_problem("resnet18", "tiny-test")  # type: ignore[misc]
    assert "do not fit 'resnet18'" in message and "squeezenet1_1" in fix
    assert fingerprint.weights_sha256("tiny-test") == entry.sha256
    assert builders.weights_preprocessing("squeezenet1_1", "tiny-test") == ODD


def test_a_corrupted_entry_file_is_refused_by_its_sha(tiny_entry, tmp_path: Path) -> None:
    (tmp_path / "tiny.npz").write_bytes(b"not the file")
    with pytest.raises(ProbecheckError, match="sha256"):
        builders.build("squeezenet1_1", "tiny-test")
