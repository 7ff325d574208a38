"""The model zoo: layer names on both SqueezeNets, builders, random weights, images, preprocessing.

SqueezeNet v1.0 is the real deep-compression model (input 227); v1.1 is ``random`` (no download,
torchvision's ImageNet input of 224). The expected tables below are written out by hand from the
SqueezeNet paper's architecture, not derived from the package's alias table.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import probecheck
from probecheck.errors import LayerNotFoundError, ProbecheckError
from probecheck.zoo import builders
from probecheck.zoo.images import image_digest, load_image
from probecheck.zoo.preprocess import CAFFE_SQUEEZENET, IMAGENET, Preprocessing

# --- layer names ----------------------------------------------------------------------------------


def fire(n: int, squeeze: int, expand: int, hw: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The seven names of fire module ``n``: (module type, output shape)."""
    s, e = (squeeze, hw, hw), (expand, hw, hw)
    return {
        f"fire{n}-squeeze1x1": ("Conv2d", s),
        f"fire{n}-relu_squeeze1x1": ("ReLU", s),
        f"fire{n}-expand1x1": ("Conv2d", e),
        f"fire{n}-relu_expand1x1": ("ReLU", e),
        f"fire{n}-expand3x3": ("Conv2d", e),
        f"fire{n}-relu_expand3x3": ("ReLU", e),
        f"fire{n}-concat": ("Fire", (2 * expand, hw, hw)),
    }


def head(channels: int, hw: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {
        "drop9": ("Dropout", (channels, hw, hw)),
        "conv10": ("Conv2d", (1000, hw, hw)),
        "relu_conv10": ("ReLU", (1000, hw, hw)),
        "pool10": ("AdaptiveAvgPool2d", (1000, 1, 1)),
    }


#: v1.0 at 227×227: conv1 7×7/2 → 111, pools (3/2, ceil) after conv1, fire4 and fire8.
V1_0 = {
    "conv1": ("Conv2d", (96, 111, 111)),
    "relu_conv1": ("ReLU", (96, 111, 111)),
    "pool1": ("MaxPool2d", (96, 55, 55)),
    **fire(2, 16, 64, 55),
    **fire(3, 16, 64, 55),
    **fire(4, 32, 128, 55),
    "pool4": ("MaxPool2d", (256, 27, 27)),
    **fire(5, 32, 128, 27),
    **fire(6, 48, 192, 27),
    **fire(7, 48, 192, 27),
    **fire(8, 64, 256, 27),
    "pool8": ("MaxPool2d", (512, 13, 13)),
    **fire(9, 64, 256, 13),
    **head(512, 13),
}

#: v1.1 at 224×224: conv1 3×3/2 with 64 channels → 111, pools after conv1, fire3 and fire5.
V1_1 = {
    "conv1": ("Conv2d", (64, 111, 111)),
    "relu_conv1": ("ReLU", (64, 111, 111)),
    "pool1": ("MaxPool2d", (64, 55, 55)),
    **fire(2, 16, 64, 55),
    **fire(3, 16, 64, 55),
    "pool3": ("MaxPool2d", (128, 27, 27)),
    **fire(4, 32, 128, 27),
    **fire(5, 32, 128, 27),
    "pool5": ("MaxPool2d", (256, 13, 13)),
    **fire(6, 48, 192, 13),
    **fire(7, 48, 192, 13),
    **fire(8, 64, 256, 13),
    **fire(9, 64, 256, 13),
    **head(512, 13),
}

TABLES = {"1_0": V1_0, "1_1": V1_1}
IMAGE = np.random.default_rng(7).integers(0, 256, size=(150, 200, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def v1_1_probe():
    return probecheck.load("squeezenet1_1", "random")


@pytest.fixture(scope="module")
def probes(request: pytest.FixtureRequest) -> dict:
    """Probe and every alias's activation on IMAGE (one forward), per version, made on demand."""
    made: dict[str, tuple] = {}

    def get(version: str):
        if version not in made:
            probe = request.getfixturevalue("real_probe" if version == "1_0" else "v1_1_probe")
            made[version] = (probe, probe.activations(IMAGE, list(TABLES[version])))
        return made[version]

    return get  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("version", "alias"),
    [(version, alias) for version, table in TABLES.items() for alias in table],
)
def test_alias_resolves_to_module_type_and_shape(probes, version: str, alias: str) -> None:
    probe, activations = probes(version)
    kind, shape = TABLES[version][alias]
    path = probe.resolve(alias)
    assert type(probe.model.get_submodule(path)).__name__ == kind
    assert probe.alias(path) == alias
    assert activations[alias].shape == shape
    assert activations[alias].dtype == np.float32


@pytest.mark.parametrize("version", TABLES)
def test_alias_table_is_complete_and_layers_agree(probes, version: str) -> None:
    probe, _ = probes(version)
    assert set(probe.aliases) == set(TABLES[version])
    rows = {row.alias: row for row in probe.layers() if row.alias}
    for alias, (kind, shape) in TABLES[version].items():
        assert (rows[alias].type, rows[alias].output_shape) == (kind, shape), alias
        assert rows[alias].channels == shape[0]


def test_conv1_width_tells_the_versions_apart(probes) -> None:
    assert probes("1_0")[1]["conv1"].shape[0] == 96
    assert probes("1_1")[1]["conv1"].shape[0] == 64


@pytest.mark.parametrize(
    ("version", "missing"), [("1_0", "pool3"), ("1_0", "pool5"), ("1_1", "pool4"), ("1_1", "pool8")]
)
def test_pools_of_the_other_version_do_not_exist(probes, version: str, missing: str) -> None:
    probe, _ = probes(version)
    with pytest.raises(LayerNotFoundError):
        probe.resolve(missing)


@pytest.mark.parametrize("version", TABLES)
@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("fire6/squeeze1x1", "fire6-squeeze1x1"),
        ("fire6/relu_squeeze1x1", "fire6-relu_squeeze1x1"),
        (" fire9/expand3x3 ", "fire9-expand3x3"),
    ],
)
def test_deepscale_slash_names(probes, version: str, written: str, canonical: str) -> None:
    probe, activations = probes(version)
    assert probe.resolve(written) == probe.resolve(canonical)
    probe.activations(IMAGE, canonical)  # cached now, whatever else ran on this probe
    before = probe.forward_passes
    np.testing.assert_array_equal(
        probe.activations(IMAGE, written)[written], activations[canonical]
    )
    assert probe.forward_passes == before  # same module, same cache entry


@pytest.mark.parametrize(
    ("version", "path", "alias"),
    [
        ("1_0", "features.8.squeeze_activation", "fire6-relu_squeeze1x1"),
        ("1_0", "features.8", "fire6-concat"),
        ("1_0", "classifier.3", "pool10"),
        ("1_1", "features.9.squeeze", "fire6-squeeze1x1"),
        ("1_1", "features.5", "pool3"),
    ],
)
def test_module_paths_address_layers(probes, version: str, path: str, alias: str) -> None:
    probe, _ = probes(version)
    assert probe.resolve(path) == path
    assert probe.resolve(alias) == path
    assert probe.alias(path) == alias


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("fire6-relu_squeze1x1", "fire6-relu_squeeze1x1"),
        ("fire6/relu_squeze1x1", "fire6-relu_squeeze1x1"),
        ("conv_1", "conv1"),
        ("features.9.squeez", "features.9.squeeze"),
    ],
)
def test_unknown_layer_suggests_close_names(v1_1_probe, typo: str, suggestion: str) -> None:
    with pytest.raises(LayerNotFoundError) as caught:
        v1_1_probe.resolve(typo)
    assert typo in str(caught.value)
    assert f"'{suggestion}'" in str(caught.value.fix)
    assert "probecheck layers" in str(caught.value.fix)


def test_unknown_layer_in_activations_raises_before_any_forward(v1_1_probe) -> None:
    before = v1_1_probe.forward_passes
    with pytest.raises(LayerNotFoundError, match="fire6-relu_squeze1x1"):
        v1_1_probe.activations(IMAGE, ["conv1", "fire6-relu_squeze1x1"])
    assert v1_1_probe.forward_passes == before


def test_unrelated_name_still_explains(v1_1_probe) -> None:
    with pytest.raises(LayerNotFoundError) as caught:
        v1_1_probe.resolve("zzzzzzzzzzzz")
    assert "did you mean" not in str(caught.value)
    assert "probecheck layers" in str(caught.value)


# --- builders and random weights ------------------------------------------------------------------


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_random_is_reproducible_by_seed() -> None:
    first = probecheck.load("squeezenet1_0", "random", seed=0)
    again = probecheck.load("squeezenet1_0", "random", seed=0)
    other = probecheck.load("squeezenet1_0", "random", seed=1)
    assert states_equal(first.model, again.model)
    assert not states_equal(first.model, other.model)
    assert first.identity.sha256 == again.identity.sha256 != other.identity.sha256
    assert (first.identity.weights, first.identity.seed, other.identity.seed) == ("random", 0, 1)
    assert first.preprocessing == IMAGENET
    assert not first.model.training


def test_random_differs_from_the_real_weights(real_probe) -> None:
    random = probecheck.load("squeezenet1_0", "random")
    assert random.model.state_dict().keys() == real_probe.model.state_dict().keys()
    real, rand = real_probe.model.state_dict(), random.model.state_dict()
    assert all(not torch.equal(real[k], rand[k]) for k in real if k.endswith("weight"))


def test_random_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    expected = torch.rand(5)
    torch.set_rng_state(state)
    probecheck.load("squeezenet1_1", "random", seed=99)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.rand(5), expected)


def test_deep_compression_does_not_fit_v1_1(weights_dir) -> None:
    with pytest.raises(ProbecheckError, match="do not fit") as caught:
        builders.build("squeezenet1_1", "deep-compression")
    assert "squeezenet1_0" in str(caught.value.fix)


@pytest.mark.parametrize(
    ("arch", "weights", "needle"),
    [
        ("squeezenet10", "random", "squeezenet1_0"),  # close builder names suggested
        ("no_such_package_xyz:make", "random", "cannot import"),
        ("squeezenet1_0", "nonsense", "unknown weights"),
        ("squeezenet1_0", "/no/such/checkpoint.pt", "does not exist"),
    ],
)
def test_bad_model_names_are_user_errors(arch: str, weights: str, needle: str) -> None:
    with pytest.raises(ProbecheckError) as caught:
        builders.build(arch, weights)
    assert needle in str(caught.value)


def test_user_factory(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zoo_factory_for_tests.py").write_text(
        "import torch\n"
        "def tiny():\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())\n"
        "def not_a_module():\n"
        "    return 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = probecheck.load("zoo_factory_for_tests:tiny", "random")
    assert probe.aliases == {}
    assert probe.activations(IMAGE, "0")["0"].shape == (4, 222, 222)
    with pytest.raises(ProbecheckError, match=r"not a torch nn\.Module"):
        builders.build("zoo_factory_for_tests:not_a_module", "random")


# --- images ---------------------------------------------------------------------------------------


def assert_rgb(array: np.ndarray, shape: tuple[int, int]) -> None:
    assert array.dtype == np.uint8
    assert array.shape == (*shape, 3)
    assert array.flags["C_CONTIGUOUS"]


def test_path_pil_and_array_agree(tmp_path) -> None:
    path = tmp_path / "image.png"
    Image.fromarray(IMAGE).save(path)
    from_path = load_image(path)
    assert_rgb(from_path, IMAGE.shape[:2])
    np.testing.assert_array_equal(from_path, IMAGE)
    np.testing.assert_array_equal(load_image(str(path)), IMAGE)
    np.testing.assert_array_equal(load_image(Image.fromarray(IMAGE)), IMAGE)
    np.testing.assert_array_equal(load_image(IMAGE), IMAGE)
    assert image_digest(from_path) == image_digest(IMAGE.copy())


def test_jpeg_path(tmp_path) -> None:
    path = tmp_path / "image.jpg"
    Image.new("RGB", (40, 30), (200, 30, 60)).save(path, quality=95)
    rgb = load_image(path)
    assert_rgb(rgb, (30, 40))
    assert np.abs(rgb.astype(int) - [200, 30, 60]).max() <= 4


GRAY = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (16, 1))


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("gray-array", lambda: GRAY, GRAY),
        ("gray-array-with-axis", lambda: GRAY[..., None], GRAY),
        ("gray-pil", lambda: Image.fromarray(GRAY, "L"), GRAY),
        ("gray-16bit-pil", lambda: Image.fromarray(GRAY.astype(np.uint16) * 257), GRAY),
        ("gray-16bit-array", lambda: GRAY.astype(np.uint16) * 257, GRAY),
        ("gray-int32-pil", lambda: Image.fromarray(GRAY.astype(np.int32) * 257, "I"), GRAY),
        ("float-0-1", lambda: GRAY / 255.0, GRAY),
        ("float32-0-1", lambda: (GRAY / 255.0).astype(np.float32), GRAY),
        ("float-0-255", lambda: GRAY.astype(np.float64), GRAY),
        ("float-pil", lambda: Image.fromarray(GRAY.astype(np.float32), "F"), GRAY),
        ("bool", lambda: GRAY > 127, np.where(GRAY > 127, 255, 0)),
        (
            "1-bit-pil",
            lambda: Image.fromarray(GRAY > 127).convert("1"),
            np.where(GRAY > 127, 255, 0),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_gray_kinds_become_uint8_rgb(name: str, make, expected: np.ndarray) -> None:
    rgb = load_image(make())
    assert_rgb(rgb, GRAY.shape)
    for channel in range(3):
        np.testing.assert_allclose(rgb[..., channel], expected, atol=1, err_msg=name)


def test_16bit_png_file(tmp_path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(GRAY.astype(np.uint16) * 257).save(path)
    with Image.open(path) as opened:
        assert opened.mode.startswith("I")
    np.testing.assert_allclose(load_image(path)[..., 1], GRAY, atol=1)


def test_dark_16bit_image_is_not_saturated() -> None:
    dark = np.full((4, 4), 1000, dtype=np.uint16)
    dark[0, 0] = 65535
    rgb = load_image(Image.fromarray(dark))
    assert rgb[0, 0, 0] == 255
    assert rgb[1, 1, 0] == round(1000 / 65535 * 255)


def test_palette_images() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([c for colour in colours for c in colour])
    rgb = load_image(image)
    assert_rgb(rgb, (2, 3))
    np.testing.assert_array_equal(rgb, np.array(colours)[indices])
    image.info["transparency"] = 1  # green becomes transparent: white on composite
    rgb = load_image(image)
    np.testing.assert_array_equal(rgb[0, 1], [255, 255, 255])
    np.testing.assert_array_equal(rgb[0, 0], [255, 0, 0])


def rgba(alpha: int) -> np.ndarray:
    array = np.zeros((4, 5, 4), dtype=np.uint8)
    array[..., 0] = 255  # red
    array[..., 3] = alpha
    return array


@pytest.mark.parametrize(
    ("alpha", "expected"), [(255, (255, 0, 0)), (0, (255, 255, 255)), (128, (255, 127, 127))]
)
@pytest.mark.parametrize("form", ["array", "pil", "float-array", "gray-alpha"])
def test_alpha_is_composited_on_white(
    form: str, alpha: int, expected: tuple[int, int, int]
) -> None:
    array = rgba(alpha)
    if form == "pil":
        given = Image.fromarray(array, "RGBA")
    elif form == "float-array":
        given = array / 255.0
    elif form == "gray-alpha":
        given = np.stack([np.zeros((4, 5), np.uint8), array[..., 3]], axis=-1)
        expected = (expected[1],) * 3  # black under alpha: 0 → white, 255 → black
    else:
        given = array
    rgb = load_image(given)
    assert_rgb(rgb, (4, 5))
    np.testing.assert_allclose(rgb.reshape(-1, 3), np.tile(expected, (20, 1)), atol=1)


def test_rgba_array_and_its_pil_image_agree() -> None:
    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, size=(8, 9, 4), dtype=np.uint8)
    array[..., 3] = rng.integers(0, 200, size=(8, 9))  # never opaque
    np.testing.assert_allclose(
        load_image(array).astype(int), load_image(Image.fromarray(array, "RGBA")), atol=1
    )


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4, 5)), np.zeros(10), np.zeros((2, 2, 2, 3)), np.zeros((2, 2), complex)]
)
def test_unusable_arrays_are_user_errors(bad: np.ndarray) -> None:
    with pytest.raises(ProbecheckError):
        load_image(bad)


def test_missing_path_is_a_user_error(tmp_path) -> None:
    with pytest.raises(ProbecheckError, match="does not exist"):
        load_image(tmp_path / "nowhere.png")
    with pytest.raises(ProbecheckError, match="does not exist"):
        load_image(str(tmp_path / "nowhere.png"))


def test_non_image_file_is_a_user_error(tmp_path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ProbecheckError, match="cannot read image"):
        load_image(path)


# --- preprocessing --------------------------------------------------------------------------------


def test_deep_compression_preprocessing(real_probe) -> None:
    assert real_probe.preprocessing == CAFFE_SQUEEZENET
    assert CAFFE_SQUEEZENET.size == (227, 227)
    assert (CAFFE_SQUEEZENET.pixel_scale, CAFFE_SQUEEZENET.std) == (255.0, (1.0, 1.0, 1.0))
    # README's BGR means B 104, G 117, R 123, here in RGB order (conv1 is flipped at load)
    assert CAFFE_SQUEEZENET.mean == (123.0, 117.0, 104.0)


def test_deep_compression_input_is_0_255_minus_means(real_probe) -> None:
    rgb = np.random.default_rng(11).integers(0, 256, size=(227, 227, 3), dtype=np.uint8)
    batch = real_probe.prepare([rgb])
    assert tuple(batch.shape) == (1, 3, 227, 227)
    expected = rgb.transpose(2, 0, 1).astype(np.float32) - np.array([123, 117, 104])[:, None, None]
    np.testing.assert_allclose(batch[0].numpy(), expected, atol=1e-4)  # no resize at 227


def test_imagenet_preprocessing(v1_1_probe) -> None:
    rgb = np.full((224, 224, 3), (255, 128, 0), dtype=np.uint8)
    batch = v1_1_probe.prepare([rgb])
    assert tuple(batch.shape) == (1, 3, 224, 224)
    expected = (np.array([255, 128, 0]) / 255 - np.array(IMAGENET.mean)) / np.array(IMAGENET.std)
    np.testing.assert_allclose(batch[0, :, 100, 100].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("shape", [(300, 600), (600, 300), (50, 80)], ids=["wide", "tall", "small"])
def test_whole_image_is_resized_never_cropped(real_probe, shape: tuple[int, int]) -> None:
    """Red, green and blue bands at the four edges all reach the input tensor, in place."""
    h, w = shape
    rgb = np.full((h, w, 3), 128, dtype=np.uint8)
    rgb[:, : w // 10] = (255, 0, 0)  # left 10% red
    rgb[:, w - w // 10 :] = (0, 255, 0)  # right 10% green
    rgb[: h // 10] = (0, 0, 255)  # top 10% blue (over the corners)
    rgb[h - h // 10 :] = (0, 0, 255)  # bottom 10% blue
    x = real_probe.prepare([rgb])[0].numpy() + np.array([123, 117, 104])[:, None, None]
    assert x.shape == (3, 227, 227)
    middle = slice(40, 187)
    left, right = x[:, middle, :15].mean(axis=(1, 2)), x[:, middle, -15:].mean(axis=(1, 2))
    top, bottom = x[:, :15, middle].mean(axis=(1, 2)), x[:, -15:, middle].mean(axis=(1, 2))
    np.testing.assert_allclose(left, (255, 0, 0), atol=20)
    np.testing.assert_allclose(right, (0, 255, 0), atol=20)
    np.testing.assert_allclose(top, (0, 0, 255), atol=20)
    np.testing.assert_allclose(bottom, (0, 0, 255), atol=20)
    np.testing.assert_allclose(x[:, 113, 113], (128, 128, 128), atol=1)
    # the band keeps its share of the width: about 10% of 227 columns are red
    red_columns = int(((x[0, 113] > 200) & (x[1, 113] < 60)).sum())
    assert abs(red_columns - 22.7) <= 3


def test_preprocessing_round_trips_through_dict() -> None:
    for prep in (CAFFE_SQUEEZENET, IMAGENET):
        assert Preprocessing.from_dict(prep.to_dict()) == prep
    assert "227×227" in CAFFE_SQUEEZENET.describe()
