"""Hooked inference on the real model: the in-place ReLU trap, truncation, the cache, batching,
hook hygiene, and saving/loading checkpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import probecheck
from probecheck.errors import ProbecheckError
from probecheck.probe import Probe
from probecheck.zoo.builders import Built
from probecheck.zoo.preprocess import CAFFE_SQUEEZENET, IMAGENET

PRE, POST = "fire6-squeeze1x1", "fire6-relu_squeeze1x1"


def noise(seed: int, shape: tuple[int, int] = (120, 160)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def hook_counts(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    return {
        name: (len(module._forward_hooks), len(module._forward_pre_hooks))
        for name, module in model.named_modules()
    }


@pytest.fixture
def probe(real_probe: Probe) -> Iterator[Probe]:
    """The shared real model with an empty cache; checks that no test leaves a hook behind."""
    real_probe.clear_cache()
    before = hook_counts(real_probe.model)
    yield real_probe
    assert hook_counts(real_probe.model) == before, "a hook was left on the shared model"


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    from skimage import data

    return data.chelsea()


# --- pre-ReLU layers keep their negative values ---------------------------------------------------


@pytest.mark.parametrize(
    ("pre", "post"),
    [(PRE, POST), ("conv1", "relu_conv1"), ("fire2-expand3x3", "fire2-relu_expand3x3"),
     ("conv10", "relu_conv10")],
)  # fmt: skip
def test_pre_and_post_relu_in_one_call(probe: Probe, cat: np.ndarray, pre: str, post: str) -> None:
    """Both from one forward: a hook that kept a view would see the in-place ReLU's result."""
    out = probe.activations(cat, [pre, post])
    assert out[pre].min() < 0, f"{pre} shows no negative values"
    assert out[post].min() >= 0
    np.testing.assert_array_equal(out[post], np.maximum(out[pre], 0))


def test_pre_and_post_relu_in_separate_calls(probe: Probe, cat: np.ndarray) -> None:
    pre = probe.activations(cat, PRE)[PRE]
    post = probe.activations(cat, POST)[POST]
    assert (pre < 0).mean() > 0.05  # many negatives, not a rounding accident
    np.testing.assert_array_equal(post, np.maximum(pre, 0))


def test_pre_relu_survives_an_untruncated_forward(probe: Probe, cat: np.ndarray) -> None:
    """With nothing stopping the forward, the ReLU runs in place after the hook: the copy holds."""
    path = probe.resolve(PRE)
    (out,) = probe._forward([cat], [path], truncate=False)
    assert out[path].min() < 0


# --- truncation -----------------------------------------------------------------------------------


LAYERS = ["conv1", "fire2-concat", PRE, POST, "pool8", "conv10", "pool10"]


def test_truncated_forward_equals_full_forward(probe: Probe, cat: np.ndarray) -> None:
    rgbs = [cat, noise(1)]
    paths = [probe.resolve(layer) for layer in LAYERS]
    truncated = probe._forward(rgbs, paths, truncate=True)
    full = probe._forward(rgbs, paths, truncate=False)
    for t, f in zip(truncated, full, strict=True):
        assert t.keys() == f.keys() == set(paths)
        for path in paths:
            np.testing.assert_array_equal(t[path], f[path], err_msg=path)


@pytest.mark.parametrize("layer", ["conv1", PRE, "fire9-concat"])
def test_truncated_forward_equals_single_layer_forward(probe: Probe, layer: str) -> None:
    path = probe.resolve(layer)
    (alone,) = probe._forward([noise(2)], [path])
    (full,) = probe._forward([noise(2)], [path], truncate=False)
    np.testing.assert_array_equal(alone[path], full[path])


def test_truncation_stops_the_forward_early(probe: Probe) -> None:
    fired: list[str] = []
    conv10 = probe.model.get_submodule(probe.resolve("conv10"))
    handle = conv10.register_forward_hook(lambda *_: fired.append("conv10"))
    try:
        probe._forward([noise(3)], [probe.resolve("conv1")])
        assert fired == []
        probe.activations(noise(4), ["conv1", "fire5-concat"])  # public path, uncached image
        assert fired == []
        probe._forward([noise(3)], [probe.resolve("conv1")], truncate=False)
        assert fired == ["conv10"]
    finally:
        handle.remove()


# --- the cache ------------------------------------------------------------------------------------


def test_second_request_is_served_from_the_cache(probe: Probe, tmp_path: Path) -> None:
    image = noise(5)
    first = probe.activations(image, [PRE, "conv1"])
    passes = probe.forward_passes
    again = probe.activations(image.copy(), [PRE, "conv1"])  # same content, another array
    assert probe.forward_passes == passes
    for layer in (PRE, "conv1"):
        np.testing.assert_array_equal(again[layer], first[layer])
    # the same content as a file path, as a PIL image, and under another name of the layer
    path = tmp_path / "image.png"
    Image.fromarray(image).save(path)
    np.testing.assert_array_equal(probe.activations(path, PRE)[PRE], first[PRE])
    np.testing.assert_array_equal(probe.activations(str(path), "features.8.squeeze")[
        "features.8.squeeze"], first[PRE])  # fmt: skip
    np.testing.assert_array_equal(probe.activations(Image.fromarray(image), "fire6/squeeze1x1")[
        "fire6/squeeze1x1"], first[PRE])  # fmt: skip
    assert probe.forward_passes == passes
    # a new layer of a cached image does need a forward; a new image does too
    probe.activations(image, "conv10")
    assert probe.forward_passes == passes + 1
    probe.activations(noise(6), PRE)
    assert probe.forward_passes == passes + 2


def test_uncached_images_share_one_batched_forward(
    probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    real_forward = probe._forward

    def counting_forward(rgbs, paths, **kwargs):
        batches.append(len(rgbs))
        return real_forward(rgbs, paths, **kwargs)

    monkeypatch.setattr(probe, "_forward", counting_forward)
    monkeypatch.setattr(probe, "max_batch", 8)  # as on an accelerator (a CPU runs images alone)
    a, b, c, d, e = (noise(seed) for seed in range(10, 15))
    passes, images = probe.batches, probe.forward_passes
    first = probe.activations_many([a, b, c], [PRE, "conv1"])
    assert (batches, probe.batches - passes) == ([3], 1)
    assert probe.forward_passes - images == 3  # a forward pass per image, batched or not
    # two of four are cached: only the other two go through, together, once
    second = probe.activations_many([a, d, b, e, d], [PRE, "conv1"])
    assert (batches, probe.batches - passes) == ([3, 2], 2)
    assert probe.forward_passes - images == 5
    np.testing.assert_array_equal(second[0][PRE], first[0][PRE])
    np.testing.assert_array_equal(second[2][PRE], first[1][PRE])
    np.testing.assert_array_equal(second[1][PRE], second[4][PRE])
    # everything cached: no forward at all
    probe.activations_many([e, c, a], "conv1")
    assert (batches, probe.batches - passes, probe.forward_passes - images) == ([3, 2], 2, 5)
    # batched results are each image's own
    probe.clear_cache()
    for image, batched in zip([a, b, c], first, strict=True):
        single = probe.activations(image, [PRE, "conv1"])
        for layer in (PRE, "conv1"):
            np.testing.assert_allclose(single[layer], batched[layer], rtol=1e-5, atol=1e-4)
    assert not np.allclose(first[0][PRE], first[1][PRE])


def test_returned_arrays_cannot_poison_the_cache(probe: Probe) -> None:
    image = noise(20)
    array = probe.activations(image, PRE)[PRE]
    original = array.copy()
    with contextlib.suppress(ValueError):  # read-only: the cache protects itself
        array[...] = 0.0
    np.testing.assert_array_equal(probe.activations(image, PRE)[PRE], original)


def test_tiny_cache_still_gives_right_answers(real_probe: Probe) -> None:
    built = Built(
        real_probe.model, real_probe.preprocessing, real_probe.identity, real_probe.categories
    )
    tiny = Probe(built, cache_bytes=1)
    image = noise(21)
    out = tiny.activations_many([image, noise(22)], ["conv1", PRE])
    reference = real_probe._forward([image], [tiny.resolve("conv1"), tiny.resolve(PRE)])[0]
    np.testing.assert_allclose(out[0]["conv1"], reference["features.0"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out[0][PRE], reference["features.8.squeeze"], rtol=1e-5, atol=1e-4)


def test_cache_drops_count_what_the_cache_no_longer_holds(real_probe: Probe) -> None:
    # a claim skips its own prefetch while nothing was dropped since its file's: this must move
    # whenever an activation computed before may be gone
    built = Built(
        real_probe.model, real_probe.preprocessing, real_probe.identity, real_probe.categories
    )
    roomy, tiny = Probe(built), Probe(built, cache_bytes=1)
    roomy.activations_many([noise(23), noise(24)], ["conv1", PRE])
    assert roomy.cache_drops == 0
    roomy.activations(noise(23), PRE)  # a hit drops nothing
    assert roomy.cache_drops == 0
    roomy.clear_cache()
    assert roomy.cache_drops == 4
    tiny.activations_many([noise(23), noise(24)], ["conv1", PRE])
    assert tiny.cache_drops == 3  # one array left: the last put


# --- hooks never outlive a forward ----------------------------------------------------------------


def test_hooks_are_removed_when_preparing_fails(
    probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_prepare(_rgbs):
        raise RuntimeError("prepare failed (test)")

    monkeypatch.setattr(probe, "prepare", broken_prepare)
    with pytest.raises(RuntimeError, match="prepare failed"):
        probe.activations(noise(30), ["conv1", PRE, "conv10"])
    for layer in ("conv1", PRE, "conv10"):
        assert not probe.model.get_submodule(probe.resolve(layer))._forward_hooks, layer


def test_hooks_are_removed_when_the_forward_fails(probe: Probe) -> None:
    image = noise(31)
    middle = probe.model.get_submodule(probe.resolve("fire4-concat"))

    def explode(*_):
        raise RuntimeError("a layer failed (test)")

    handle = middle.register_forward_pre_hook(explode)
    try:
        with pytest.raises(RuntimeError, match="a layer failed"):
            probe.activations(image, ["conv1", "conv10"])  # conv1 fired, conv10 never will
    finally:
        handle.remove()
    for layer in ("conv1", "conv10"):
        assert not probe.model.get_submodule(probe.resolve(layer))._forward_hooks, layer
    # nothing half-done was cached: the same request now runs and answers in full
    passes = probe.forward_passes
    out = probe.activations(image, ["conv1", "conv10"])
    assert probe.forward_passes == passes + 1
    assert out["conv10"].shape == (1000, 13, 13)


# --- predictions and the layer table --------------------------------------------------------------


def test_predict_is_a_sorted_distribution(probe: Probe, cat: np.ndarray) -> None:
    passes = probe.forward_passes
    top = probe.predict(cat, top=10)
    assert probe.forward_passes == passes + 1
    assert len(top) == 10 and len(probe.categories) == 1000
    scores = [score for _, score in top]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores) and sum(scores) <= 1.0 + 1e-9


def test_layer_table_counts_parameters(probe: Probe) -> None:
    rows = {row.path: row for row in probe.layers()}
    total = sum(p.numel() for p in probe.model.parameters())
    assert rows["features"].parameters + rows["classifier"].parameters == total
    assert rows["features.0"].parameters == 96 * 3 * 7 * 7 + 96
    assert rows["features.8.squeeze"].output_shape == (48, 27, 27)
    assert rows["features.8.squeeze"].alias == PRE


# --- checkpoints ----------------------------------------------------------------------------------


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def test_saved_model_loads_back_identically(probe: Probe, tmp_path: Path, cat: np.ndarray) -> None:
    path = probe.save(tmp_path / "m.pt")
    assert path == tmp_path / "m.pt"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left
    loaded = probecheck.load("squeezenet1_0", str(path))
    assert_same_state(loaded.model, probe.model)
    assert loaded.preprocessing == probe.preprocessing == CAFFE_SQUEEZENET
    assert loaded.identity.weights == str(path)
    assert loaded.aliases == probe.aliases
    layers = ["conv1", PRE, POST, "conv10"]
    mine, theirs = probe.activations(cat, layers), loaded.activations(cat, layers)
    for layer in layers:
        np.testing.assert_allclose(theirs[layer], mine[layer], rtol=1e-6, atol=1e-6)
    assert loaded.predict(cat, top=1)[0][0] == "Egyptian cat"


def test_plain_state_dict_loads(probe: Probe, tmp_path: Path) -> None:
    path = tmp_path / "plain.pth"
    torch.save(probe.model.state_dict(), path)
    loaded = probecheck.load("squeezenet1_0", str(path))
    assert_same_state(loaded.model, probe.model)
    assert loaded.preprocessing == IMAGENET  # a bare state_dict carries no preprocessing
    assert not loaded.model.training


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights\n")
    with pytest.raises(ProbecheckError, match="cannot load checkpoint") as caught:
        probecheck.load("squeezenet1_0", str(path))
    assert "state_dict" in str(caught.value.fix)


class NotWeights:
    pass


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (lambda: NotWeights(), "cannot load checkpoint"),  # refused by weights_only=True
        (lambda: torch.zeros(3), "does not fit"),
        (lambda: {"state_dict": {"x": torch.zeros(1)}}, "does not fit"),
        (lambda: probecheck.load("squeezenet1_1", "random").model.state_dict(), "does not fit"),
    ],
    ids=["pickled-object", "bare-tensor", "wrong-keys", "other-arch"],
)
def test_unusable_checkpoints_are_user_errors(tmp_path: Path, payload, needle: str) -> None:
    path = tmp_path / "bad.pt"
    torch.save(payload(), path)
    with pytest.raises(ProbecheckError, match=needle):
        probecheck.load("squeezenet1_0", str(path))


def test_a_module_run_twice_is_recorded_at_its_first_call() -> None:
    # torchvision's ResNet BasicBlock calls its one ReLU twice; what a layer reports must not
    # depend on which other layers were asked for (that decides where the forward stops)
    import probecheck

    probe = probecheck.load("resnet18", "random")
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alone = probe.activations(image, "layer1.0.relu")["layer1.0.relu"]
    probe.clear_cache()
    with_deeper = probe.activations(image, ["layer1.0.relu", "layer4"])["layer1.0.relu"]
    np.testing.assert_array_equal(alone, with_deeper)


def test_batches_are_split_at_max_batch_with_the_same_numbers(
    probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [noise(seed) for seed in range(20, 25)]
    probe.clear_cache()
    whole = probe.activations_many(images, [PRE])
    probe.clear_cache()
    monkeypatch.setattr(probe, "max_batch", 2)
    passes, counted = probe.batches, probe.forward_passes
    split = probe.activations_many(images, [PRE])
    assert probe.batches - passes == 3  # 2 + 2 + 1
    assert probe.forward_passes - counted == 5
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_allclose(a[PRE], b[PRE], rtol=1e-5, atol=1e-3)


def test_images_of_several_sizes_prepare_into_one_batch(probe: Probe) -> None:
    small, large = noise(30)[:100, :80], noise(31)
    batch = probe.prepare([small, large, small])
    assert tuple(batch.shape) == (3, 3, *probe.preprocessing.size)
    torch = pytest.importorskip("torch")
    assert torch.equal(batch[0], batch[2])
    assert torch.equal(batch[1], probe.prepare([large])[0])


@pytest.mark.parametrize("shape", [(120, 160), (227, 227), (300, 211), (64, 90)])
def test_prepare_gives_the_numbers_of_resizing_the_pixels_as_laid_out(
    probe: Probe, shape: tuple[int, int]
) -> None:
    """Resizing channels-first memory is a speed-up only: the same bits as resizing the
    (N, H, W, 3) array's permuted view, one size or several in a batch."""
    F = pytest.importorskip("torch.nn.functional")
    prep = probe.preprocessing
    images = [noise(40 + i, shape) for i in range(3)]

    def reference(rgb: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(rgb[np.newaxis]).permute(0, 3, 1, 2).float()
        if tuple(x.shape[-2:]) != tuple(prep.size):
            x = F.interpolate(
                x, size=prep.size, mode="bilinear", align_corners=False, antialias=True
            )
        mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
        std = torch.tensor(prep.std).view(1, 3, 1, 1)
        return ((x * (prep.pixel_scale / 255.0) - mean) / std)[0]

    together = probe.prepare(images)
    mixed = probe.prepare([images[0], noise(50, (99, 77)), images[1]])
    for i, rgb in enumerate(images):
        assert torch.equal(together[i], reference(rgb))
    assert torch.equal(mixed[0], reference(images[0]))
    assert torch.equal(mixed[2], reference(images[1]))
