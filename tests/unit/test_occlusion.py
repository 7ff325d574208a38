"""Occlusion maps: the fast sweep equals a slow one-position-at-a-time reference, exactly.

The fast sweep skips patches outside the region cells' receptive field and runs the network on
an aligned crop; the reference runs the whole occluded image through the whole network, one
position at a time. They must agree on every layer kind (convolutions with padding, ceil-mode
pooling, Fire concatenation), with regions in the corners (crop edges on the image edges) and in
the middle (crop edges inside the image), and with patches clipped at the image's edges.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from probecheck import metrics  # noqa: E402
from probecheck.errors import ProbecheckError  # noqa: E402
from probecheck.masking import filled_image  # noqa: E402
from probecheck.occlusion import Axis, layer_geometry, occlude  # noqa: E402
from probecheck.probe import Probe  # noqa: E402
from probecheck.regions import area_fractions, rasterise  # noqa: E402
from probecheck.zoo.builders import Built  # noqa: E402
from probecheck.zoo.images import load_image  # noqa: E402

FACE = Path(__file__).resolve().parents[2] / "fixtures" / "astronaut_face.png"
EYES = [[61, 76, 107, 103], [147, 80, 202, 107]]


def reference_drops(
    probe: Probe,
    rgb: np.ndarray,
    layer: str,
    region: np.ndarray,
    patch: int,
    stride: int,
    fill: str,
) -> np.ndarray:
    """(C, ny, nx) drops, each position its own whole-image, whole-network forward."""
    height, width = probe.preprocessing.size
    scale = (rgb.shape[0] / height + rgb.shape[1] / width) / 2
    image, baseline = probe.prepare([rgb, filled_image(rgb, fill, size=patch * scale)]).split(1)
    module = dict(probe.model.named_modules())[probe.resolve(layer)]
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out.clone()))

    def means(x: torch.Tensor) -> np.ndarray:
        captured.clear()
        with torch.inference_mode():
            probe.model(x)
        maps = captured[0][0].double().numpy()
        return metrics.region_means(maps, area_fractions(region, maps.shape[1:]))[0]

    try:
        base = means(image)
        ys = metrics.occlusion_starts(height, patch, stride)
        xs = metrics.occlusion_starts(width, patch, stride)
        drops = np.zeros((len(base), len(ys), len(xs)))
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                occluded = image.clone()
                occluded[:, :, y : y + patch, x : x + patch] = baseline[
                    :, :, y : y + patch, x : x + patch
                ]
                drops[:, i, j] = base - means(occluded)
    finally:
        handle.remove()
    return drops


def assert_same(fast: np.ndarray, slow: np.ndarray) -> None:
    scale = np.abs(slow).max()
    assert scale > 0
    assert np.abs(fast - slow).max() <= 1e-4 * scale


@pytest.fixture(scope="module")
def small_probe(real_probe: Probe) -> Probe:
    """The real SqueezeNet on a 99×99 input: fully convolutional, so every layer up to fire9
    runs, and a whole sweep of full forwards stays cheap."""
    prep = replace(real_probe.preprocessing, size=(99, 99))
    return Probe(Built(real_probe.model, prep, real_probe.identity))


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return load_image(FACE)


REGIONS = {
    "top-left": [[0, 0, 40, 30]],
    "bottom-right": [[200, 220, 256, 256]],
    "middle": [[100, 110, 150, 140]],
}


CASES = [  # (layer, region): every kind of layer, regions on every edge and inside
    ("conv1", "top-left"),
    ("pool1", "bottom-right"),  # ceil-mode pooling at the image's end
    ("fire2-concat", "middle"),  # padded 3×3 branch concatenated with the 1×1
    ("fire6-relu_squeeze1x1", "bottom-right"),
    ("fire6-relu_squeeze1x1", "middle"),
    ("pool8", "top-left"),
    ("fire9-expand3x3", "middle"),
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a busy machine torch's pool stalls; the numbers are the same."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize(("layer", "region_name"), CASES)
def test_sweep_equals_one_position_at_a_time(
    small_probe: Probe, face: np.ndarray, layer: str, region_name: str
) -> None:
    region = rasterise(face.shape[:2], boxes=REGIONS[region_name])
    fast = occlude(small_probe, face, layer, region, patch=24, stride=20, fill="mean")
    assert fast.starts_y[-1] + fast.patch > 99  # the last patch is clipped at the edge
    slow = reference_drops(small_probe, face, layer, region, 24, 20, "mean")
    assert_same(fast.drops, slow)
    if layer == "fire9-expand3x3":  # its receptive field (155 px) spans the 99-px input
        assert fast.crop is None
    else:
        assert fast.crop is not None  # the shortcut ran, and held
    assert fast.incremental  # only each patch's cone was recomputed
    if region_name != "middle" or layer in ("conv1", "pool1"):
        assert fast.skipped > 0
    crops = occlude(
        small_probe, face, layer, region, patch=24, stride=20, fill="mean", incremental=False
    )
    assert not crops.incremental
    assert_same(crops.drops, slow)


@pytest.mark.slow
@pytest.mark.parametrize("fill", ["gray", "blur"])
def test_fills_equal_the_reference(small_probe: Probe, face: np.ndarray, fill: str) -> None:
    region = rasterise(face.shape[:2], boxes=EYES)
    fast = occlude(small_probe, face, "fire3-concat", region, patch=12, stride=12, fill=fill)
    assert_same(
        fast.drops, reference_drops(small_probe, face, "fire3-concat", region, 12, 12, fill)
    )


@pytest.mark.slow
def test_real_input_size_eyes(real_probe: Probe, face: np.ndarray) -> None:
    """The 227×227 input, the eye region, the eye channel's layer: the shortcuts skip and crop."""
    region = rasterise(face.shape[:2], boxes=EYES)
    layer = "fire6-relu_squeeze1x1"
    done: list[int] = []
    fast = occlude(real_probe, face, layer, region, patch=48, stride=45, progress=done.append)
    assert sum(done) == fast.positions
    slow = reference_drops(real_probe, face, layer, region, 48, 45, "mean")
    assert_same(fast.drops, slow)
    assert fast.skipped > 0
    y0, y1, x0, x1 = fast.crop
    assert (y1 - y0) * (x1 - x0) < 227 * 227 / 2
    assert y0 % 8 == 0 and x0 % 8 == 0  # aligned to fire6's jump


def test_whole_images_without_geometry(small_probe: Probe, face: np.ndarray) -> None:
    region = rasterise(face.shape[:2], boxes=REGIONS["middle"])
    fast = occlude(small_probe, face, "fire4-concat", region, patch=16, stride=9)
    whole = occlude(
        small_probe, face, "fire4-concat", region, patch=16, stride=9, use_geometry=False
    )
    assert whole.crop is None and whole.skipped == 0
    assert_same(fast.drops, whole.drops)


@pytest.mark.slow
def test_a_wrong_geometry_is_caught_and_the_result_stays_exact(
    small_probe: Probe, face: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the analysis ever be wrong, the crop's cells differ from the full image's: the
    sweep notices and runs whole images."""
    import probecheck.occlusion as occlusion

    wrong = (Axis(jump=8, start=0, size=9), Axis(jump=8, start=0, size=9))
    monkeypatch.setattr(occlusion, "layer_geometry", lambda model, path: wrong)
    region = rasterise(face.shape[:2], boxes=REGIONS["middle"])
    done: list[int] = []
    fast = occlude(
        small_probe,
        face,
        "fire6-relu_squeeze1x1",
        region,
        patch=24,
        stride=20,
        progress=done.append,
    )
    assert fast.crop is None and fast.skipped == 0
    assert sum(done) == fast.positions  # the abandoned crop run reported nothing
    slow = reference_drops(small_probe, face, "fire6-relu_squeeze1x1", region, 24, 20, "mean")
    assert_same(fast.drops, slow)


def test_a_wrong_cone_program_is_caught_and_the_result_stays_exact(
    small_probe: Probe, face: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program that does not compute what the model computes (a ReLU left out) gives other
    unoccluded cells than the model: the sweep notices and runs whole crops instead."""
    import probecheck.cone as cone
    import probecheck.occlusion as occlusion

    def without_a_relu(model: torch.nn.Module, path: str) -> cone.Program | None:
        program = cone.build_program(model, path)
        assert program is not None
        relu = next(i for i, node in enumerate(program.nodes) if node.kind == "pointwise")
        program.nodes[relu].run = lambda tile: tile
        return program

    monkeypatch.setattr(occlusion, "build_program", without_a_relu)
    region = rasterise(face.shape[:2], boxes=REGIONS["middle"])
    fast = occlude(small_probe, face, "fire3-concat", region, patch=24, stride=20)
    assert not fast.incremental and fast.crop is not None
    slow = reference_drops(small_probe, face, "fire3-concat", region, 24, 20, "mean")
    assert_same(fast.drops, slow)


def test_cone_of_the_deep_layer_at_full_size(real_probe: Probe, face: np.ndarray) -> None:
    """fire8's squeeze on the 227×227 input, a gray patch: the benchmark's deep case, with a
    larger patch and stride so that the reference stays affordable."""
    region = rasterise(face.shape[:2], boxes=EYES)
    layer = "fire8-relu_squeeze1x1"
    fast = occlude(real_probe, face, layer, region, patch=36, stride=36, fill="gray")
    assert fast.incremental
    assert_same(fast.drops, reference_drops(real_probe, face, layer, region, 36, 36, "gray"))


@pytest.fixture(scope="module")
def alexnet_probe() -> Probe:
    """AlexNet's features with seeded random weights on a 99×99 input: another family (11×11
    stride-4 convolution padded by 2, pooling without ceil mode) through the same cone code."""
    from torchvision.models import alexnet

    from probecheck.zoo.builders import ModelIdentity
    from probecheck.zoo.preprocess import Preprocessing

    torch.manual_seed(0)
    model = alexnet(weights=None)
    model.classifier = torch.nn.Identity()  # the layers probed are all in features
    prep = Preprocessing(size=(99, 99), pixel_scale=1.0, mean=(0.5,) * 3, std=(0.25,) * 3)
    return Probe(Built(model.eval(), prep, ModelIdentity("alexnet", "seeded", "0" * 64)))


@pytest.mark.parametrize("layer", ["features.2", "features.7", "features.10"])
def test_cone_on_alexnet_equals_the_reference(
    alexnet_probe: Probe, face: np.ndarray, layer: str
) -> None:
    region = rasterise(face.shape[:2], boxes=REGIONS["bottom-right"])
    fast = occlude(alexnet_probe, face, layer, region, patch=14, stride=11, fill="gray")
    assert fast.incremental
    assert_same(fast.drops, reference_drops(alexnet_probe, face, layer, region, 14, 11, "gray"))


def test_geometry_of_squeezenet_layers(real_probe: Probe) -> None:
    """Receptive fields worked out by hand: conv1 7×7/2; pool1 3×3/2 on it; fire2's 3×3."""
    model = real_probe.model
    assert layer_geometry(model, "features.0") == (Axis(2, 0, 7),) * 2
    assert layer_geometry(model, "features.2") == (Axis(4, 0, 11),) * 2
    assert layer_geometry(model, "features.3.squeeze_activation") == (Axis(4, 0, 11),) * 2
    assert layer_geometry(model, "features.3.expand3x3") == (Axis(4, -4, 19),) * 2
    assert layer_geometry(model, "features.3") == (Axis(4, -4, 19),) * 2
    assert layer_geometry(model, "classifier.1") is None  # after the flatten: not analysed


def test_a_network_that_cannot_be_analysed_runs_whole_images(face: np.ndarray) -> None:
    """A hand-made network (not a known torchvision family): no geometry, still exact."""
    from probecheck.zoo.builders import ModelIdentity
    from probecheck.zoo.preprocess import Preprocessing

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2, ceil_mode=True)
    ).eval()
    prep = Preprocessing(size=(21, 21), pixel_scale=1.0, mean=(0.5,) * 3, std=(0.25,) * 3)
    probe = Probe(Built(model, prep, ModelIdentity("tiny", "seeded", "0" * 64)))
    region = rasterise(face.shape[:2], boxes=[[0, 0, 128, 128]])
    fast = occlude(probe, face, "2", region, patch=5, stride=4, fill="gray")
    assert fast.crop is None
    assert_same(fast.drops, reference_drops(probe, face, "2", region, 5, 4, "gray"))


# the map formula -------------------------------------------------------------------------------


def test_occlusion_starts_follow_captum() -> None:
    starts = metrics.occlusion_starts(227, 24, 12)
    assert len(starts) == 18 and starts[-1] == 204  # ceil(203 / 12) + 1; the last one clipped
    assert metrics.occlusion_starts(10, 5, 5) == [0, 5]
    with pytest.raises(ValueError, match="stride"):
        metrics.occlusion_starts(10, 3, 4)


def test_map_formula_by_hand() -> None:
    """5×5 input, patch 3, stride 2: starts 0 and 2 on each axis, overlapping on row/col 2."""
    drops = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = metrics.occlusion_map(drops, [0, 2], [0, 2], 3, (5, 5))
    assert got[0, 0] == 1.0  # one patch covers it
    assert got[0, 2] == (1.0 + 2.0) / 2  # two patches
    assert got[2, 2] == (1 + 2 + 3 + 4) / 4  # all four
    assert got[4, 4] == 4.0
    assert got[4, 0] == 3.0


def test_map_formula_equals_captum_on_a_linear_model() -> None:
    """Captum's Occlusion on a linear function of a tiny input, against our formula."""
    captum = pytest.importorskip("captum.attr")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(1, 1, 7, 6)))
    base = torch.from_numpy(rng.normal(size=(1, 1, 7, 6)))
    weight = torch.from_numpy(rng.normal(size=(7, 6)))

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return (batch[:, 0] * weight).sum(dim=(1, 2))

    expected = captum.Occlusion(forward).attribute(
        x, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2), baselines=base
    )[0, 0]
    ys, xs = metrics.occlusion_starts(7, 3, 2), metrics.occlusion_starts(6, 3, 2)
    drops = np.zeros((len(ys), len(xs)))
    for i, y in enumerate(ys):
        for j, x0 in enumerate(xs):
            occluded = x.clone()
            occluded[..., y : y + 3, x0 : x0 + 3] = base[..., y : y + 3, x0 : x0 + 3]
            drops[i, j] = float(forward(x) - forward(occluded))
    ours = metrics.occlusion_map(drops, ys, xs, 3, (7, 6))
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_map_peak_is_inside_its_plateau() -> None:
    grid = np.zeros((6, 6))
    grid[1:4, 2:5] = 1.0
    assert metrics.map_peak(grid) == (2, 3)


def test_bad_patch_is_a_clear_error(small_probe: Probe, face: np.ndarray) -> None:
    region = rasterise(face.shape[:2], boxes=EYES)
    with pytest.raises(ProbecheckError, match="patch 8, stride 9") as error:
        occlude(small_probe, face, "conv1", region, patch=8, stride=9)
    assert "network input" in (error.value.fix or "")
