"""Architecture profiles: found by listing zoo/archs/, and the ResNet-18 one as the proof that an
architecture is one file: MATLAB's names beside module paths, its geometry for occlusion.

ResNet-18 runs here on seeded random weights and on a checkpoint saved from them: torchvision's
pretrained ResNet-18 weights need a download, and no copy is kept offline. The expected table is
written by hand from MATLAB's ``resnet18`` layer names and the network's shapes at 224×224.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import probecheck
from probecheck.errors import LayerNotFoundError
from probecheck.zoo import archs
from probecheck.zoo.images import load_image

FACE = Path(__file__).resolve().parents[2] / "fixtures" / "astronaut_face.png"


def block(name: str, path: str, channels: int, hw: int) -> dict[str, tuple[str, str, tuple]]:
    """The names of one BasicBlock: MATLAB name → (module path, type, output shape)."""
    s = (channels, hw, hw)
    stage, letter = name[:-1], name[-1]
    return {
        f"res{name}_branch2a": (f"{path}.conv1", "Conv2d", s),
        f"bn{name}_branch2a": (f"{path}.bn1", "BatchNorm2d", s),
        f"res{name}_branch2a_relu": (f"{path}.relu", "ReLU", s),
        f"res{name}_branch2b": (f"{path}.conv2", "Conv2d", s),
        f"bn{name}_branch2b": (f"{path}.bn2", "BatchNorm2d", s),
        f"res{name}_relu": (path, "BasicBlock", s),
        **(
            {
                f"res{stage}a_branch1": (f"{path}.downsample.0", "Conv2d", s),
                f"bn{stage}a_branch1": (f"{path}.downsample.1", "BatchNorm2d", s),
            }
            if letter == "a" and stage != "2"
            else {}
        ),
    }


RESNET18 = {
    "conv1": ("conv1", "Conv2d", (64, 112, 112)),
    "bn_conv1": ("bn1", "BatchNorm2d", (64, 112, 112)),
    "conv1_relu": ("relu", "ReLU", (64, 112, 112)),
    "pool1": ("maxpool", "MaxPool2d", (64, 56, 56)),
    **block("2a", "layer1.0", 64, 56),
    **block("2b", "layer1.1", 64, 56),
    **block("3a", "layer2.0", 128, 28),
    **block("3b", "layer2.1", 128, 28),
    **block("4a", "layer3.0", 256, 14),
    **block("4b", "layer3.1", 256, 14),
    **block("5a", "layer4.0", 512, 7),
    **block("5b", "layer4.1", 512, 7),
    "pool5": ("avgpool", "AdaptiveAvgPool2d", (512, 1, 1)),
    "fc1000": ("fc", "Linear", (1000,)),
}


@pytest.fixture(scope="module")
def resnet():
    return probecheck.load("resnet18", "random", seed=5)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return load_image(FACE)


@pytest.fixture(scope="module")
def resnet_activations(resnet, face) -> dict[str, np.ndarray]:
    return resnet.activations(face, list(RESNET18))


# --- the profiles ---------------------------------------------------------------------------------


def test_every_module_of_the_package_is_a_profile() -> None:
    files = {p.stem for p in Path(archs.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert {p.name for p in archs.profiles()} == files
    assert {"squeezenet", "resnet18", "vgg_alexnet"} <= files


def test_a_network_no_profile_knows_has_paths_only() -> None:
    import torchvision

    with torch.device("meta"):
        resnet34 = torchvision.models.resnet34()
    assert archs.profile_for(resnet34) is None
    assert archs.aliases_for(resnet34) == {}
    assert archs.geometry_for(resnet34, "layer1.0") is None


# --- ResNet-18's names ----------------------------------------------------------------------------


def test_the_resnet18_alias_table_is_matlabs() -> None:
    from probecheck.zoo.archs.resnet18 import aliases

    assert aliases() == {name: path for name, (path, _, _) in RESNET18.items()}


@pytest.mark.parametrize("alias", list(RESNET18))
def test_alias_names_its_module_and_shape(resnet, resnet_activations, alias: str) -> None:
    path, kind, shape = RESNET18[alias]
    assert resnet.resolve(alias) == path
    assert resnet.resolve(path) == path  # module paths work beside the names
    assert resnet.alias(path) == alias
    assert type(resnet.model.get_submodule(path)).__name__ == kind
    assert resnet_activations[alias].shape == shape


def test_branch_relu_is_the_first_call_and_the_block_is_the_sum_after_its_relu(
    resnet, face
) -> None:
    """torchvision's BasicBlock calls one ReLU twice: the name is its first call."""
    model = resnet.model
    got = resnet.activations(face, ["res2a_branch2a_relu", "res2a_relu"])
    with torch.inference_mode():
        x = resnet.prepare([face])
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        first = model.layer1[0]
        branch = torch.relu(first.bn1(first.conv1(x)))
        total = torch.relu(first.bn2(first.conv2(branch)) + x)
    np.testing.assert_allclose(got["res2a_branch2a_relu"], branch[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["res2a_relu"], total[0].numpy(), rtol=1e-5, atol=1e-6)


def test_the_sum_before_its_relu_is_no_module_and_gets_close_names(resnet) -> None:
    with pytest.raises(LayerNotFoundError) as info:
        resnet.resolve("res3b")
    assert "res3b_relu" in str(info.value) or "res3b_branch2a" in str(info.value)


def test_names_survive_a_saved_checkpoint(resnet, face, tmp_path: Path) -> None:
    path = resnet.save(tmp_path / "resnet18.pt")
    loaded = probecheck.load("resnet18", str(path))
    assert loaded.identity.weights == str(path)
    assert loaded.aliases == resnet.aliases
    for layer in ("res3b_relu", "res4a_branch1"):
        np.testing.assert_array_equal(
            loaded.activations(face, layer)[layer], resnet.activations(face, layer)[layer]
        )


def test_the_layer_table_resolves_names_with_their_width() -> None:
    from probecheck.zoo.layer_table import layer_table

    table = layer_table("resnet18")
    layer = table.layer("res3b_relu")
    assert (layer.path, layer.alias, layer.width, str(layer)) == (
        "layer2.1",
        "res3b_relu",
        128,
        "res3b_relu",
    )
    assert table.layer("layer2.1").alias == "res3b_relu"


def test_a_spec_on_resnet18_is_checked_against_its_names(tmp_path: Path) -> None:
    from probecheck.errors import SpecError
    from probecheck.spec import load_spec
    from probecheck.validate import network_problems

    spec_file = tmp_path / "resnet.yaml"
    check = "selective: {image: face, region: eyes, ratio_at_least: 2}"
    claims = [("a", "res3b_relu", 127), ("b", "res3b_relu", 128), ("c", "res3b_rleu", 0)]
    spec_file.write_text(
        f"model: {{arch: resnet18, weights: random}}\nimages: {{face: {FACE}}}\n"
        "regions: {eyes: {boxes: [[61, 76, 107, 103]]}}\nclaims:\n"
        + "".join(
            f"  - {{id: {i}, layer: {layer}, channels: [{c}], {check}}}\n" for i, layer, c in claims
        )
    )
    spec = load_spec(spec_file)
    problems = network_problems(spec, "resnet18", "random")
    text = str(SpecError.gather(problems))
    assert len(problems) == 2
    assert "channel 128 is out of range: res3b_relu has channels 0..127" in text
    assert "did you mean 'res3b_relu'" in text


@pytest.mark.slow
def test_layers_command_lists_the_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from probecheck.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # a narrow terminal would cut the long names short
    assert main(["layers", "--arch", "resnet18", "--weights", "random"]) == 0
    out = capsys.readouterr().out
    assert "res3b_branch2a_relu" in out and "fc1000" in out and "layer2.1.relu" in out


# --- ResNet-18's geometry -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["res2a_branch2a_relu", "res3b_relu", "bn4a_branch1"])
def test_occlusion_crop_equals_whole_images(resnet, face, layer: str) -> None:
    from probecheck.occlusion import occlude

    region = np.zeros(face.shape[:2], dtype=bool)
    region[76:103, 61:107] = True
    fast = occlude(resnet, face, layer, region, patch=48, stride=48)
    slow = occlude(resnet, face, layer, region, patch=48, stride=48, use_geometry=False)
    assert fast.crop is not None and slow.crop is None
    assert fast.forwards < slow.forwards or fast.skipped > 0
    scale = float(np.abs(slow.drops).max())
    np.testing.assert_allclose(fast.drops, slow.drops, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(fast.base, slow.base, rtol=1e-5, atol=1e-6)


def test_geometry_by_hand() -> None:
    """conv1 7×7/2 pad 3; maxpool 3×3/2 pad 1; each 3×3 conv adds 2 steps of its input's jump."""
    import torchvision

    from probecheck.zoo.geometry import Axis

    with torch.device("meta"):
        model = torchvision.models.resnet18()
    geometry = archs.geometry_for
    assert geometry(model, "conv1") == (Axis(2, -3, 7),) * 2
    assert geometry(model, "maxpool") == (Axis(4, -5, 11),) * 2
    assert geometry(model, "layer1.0.relu") == (Axis(4, -9, 19),) * 2  # first call: after conv1
    assert geometry(model, "layer1.0") == (Axis(4, -13, 27),) * 2
    assert geometry(model, "layer2.0.downsample.0") == (Axis(8, -21, 43),) * 2
    assert geometry(model, "layer4.1") == (Axis(32, -217, 435),) * 2  # ResNet-18's 435 pixels
    assert geometry(model, "avgpool") is None and geometry(model, "fc") is None
