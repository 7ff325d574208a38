"""The Deep Compression decoder, checked against the real file and a second, independent decoder.

The independent decoder below reads the layout of ../shared/weights/README.md with ``struct`` and
plain loops over the nibble stream, takes the layer shapes from torchvision's own squeezenet1_0
(not from the package's table), and fills unreached positions with ``codebook[0]`` as the format
says, so it shares no code and no assumption with ``probecheck.zoo.deep_compression``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from probecheck.zoo import deep_compression
from probecheck.zoo.deep_compression import DecodeError

FILE_SIZE = 675_763
LAYER_COUNT = 26


# --- an independent decoder -----------------------------------------------------------------------


@dataclass
class RawLayer:
    name: str
    shape: tuple[int, ...]
    codebook: tuple[float, ...]
    bias: tuple[float, ...]
    weight: list[float]  # flat, C-order
    stored: int


def torchvision_conv_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """(module path, weight shape) of every Conv2d of torchvision's squeezenet1_0, in order."""
    import torchvision
    from torch import nn

    model = torchvision.models.squeezenet1_0(weights=None)
    return [
        (name, tuple(module.weight.shape))
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d)
    ]


def decode_with_struct(data: bytes) -> list[RawLayer]:
    """Decode the file byte by byte; assert that it is consumed exactly."""
    layout = torchvision_conv_shapes()
    counts = struct.unpack_from(f"<{len(layout)}I", data, 0)
    offset = 4 * len(layout)
    layers = []
    for (name, shape), n in zip(layout, counts, strict=True):
        codebook = struct.unpack_from("<256f", data, offset)
        offset += 256 * 4
        bias = struct.unpack_from(f"<{shape[0]}f", data, offset)
        offset += shape[0] * 4
        codes = data[offset : offset + n]
        offset += n
        gaps = data[offset : offset + (n + 1) // 2]
        offset += (n + 1) // 2
        weight = [codebook[0]] * math.prod(shape)  # every position not reached holds code 0
        position = -1
        for k in range(n):
            byte = gaps[k // 2]
            gap = byte & 0x0F if k % 2 == 0 else byte >> 4  # low nibble first
            position += gap + 1
            weight[position] = codebook[codes[k]]
        layers.append(RawLayer(name, shape, codebook, bias, weight, n))
    assert offset == len(data), f"{len(data) - offset} bytes not consumed"
    return layers


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights_bytes(weights_dir: Path) -> bytes:
    return (weights_dir / "compressed_SqueezeNet.net").read_bytes()


@pytest.fixture(scope="module")
def decoded(weights_bytes: bytes) -> list[deep_compression.DecodedLayer]:
    return deep_compression.decode(weights_bytes)


@pytest.fixture(scope="module")
def independent(weights_bytes: bytes) -> list[RawLayer]:
    return decode_with_struct(weights_bytes)


# --- the file is consumed exactly -----------------------------------------------------------------


def test_file_decodes_to_26_layers_consuming_every_byte(
    weights_bytes: bytes, decoded: list[deep_compression.DecodedLayer]
) -> None:
    assert len(weights_bytes) == FILE_SIZE
    assert len(decoded) == LAYER_COUNT
    # the sizes the layers account for add up to the file: nothing skipped, nothing left over
    offset = 4 * LAYER_COUNT
    for layer in decoded:
        n = layer.stored
        offset += 256 * 4 + layer.bias.size * 4 + n + (n + 1) // 2
    assert offset == len(weights_bytes)
    assert [layer.stored for layer in decoded] == list(struct.unpack_from("<26I", weights_bytes, 0))


@pytest.mark.parametrize(
    "cut",
    [1, 2, 1000, FILE_SIZE // 2, FILE_SIZE - 4 * LAYER_COUNT + 1, FILE_SIZE - 50],
    ids=lambda cut: f"keep-{FILE_SIZE - cut}",
)
def test_truncated_file_raises(weights_bytes: bytes, tmp_path: Path, cut: int) -> None:
    path = tmp_path / "truncated.net"
    path.write_bytes(weights_bytes[:-cut])
    with pytest.raises(DecodeError):
        deep_compression.read(path)


@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 4, b"trailing garbage"])
def test_extra_bytes_raise(weights_bytes: bytes, tmp_path: Path, extra: bytes) -> None:
    path = tmp_path / "extra.net"
    path.write_bytes(weights_bytes + extra)
    with pytest.raises(DecodeError, match="left over"):
        deep_compression.read(path)


@pytest.mark.parametrize("data", [b"", b"\x01\x02\x03"], ids=["empty", "three-bytes"])
def test_too_short_for_the_header_raises(data: bytes) -> None:
    with pytest.raises(DecodeError):
        deep_compression.decode(data)


def test_position_past_the_end_raises(weights_bytes: bytes) -> None:
    # make the first gap of conv1 wide, repeatedly: the positions now run past the tensor
    data = bytearray(weights_bytes)
    n = struct.unpack_from("<I", data, 0)[0]
    gaps_start = 4 * LAYER_COUNT + 256 * 4 + 96 * 4 + n
    data[gaps_start : gaps_start + (n + 1) // 2] = b"\xff" * ((n + 1) // 2)
    with pytest.raises(DecodeError, match="past the end"):
        deep_compression.decode(bytes(data))


# --- contents -------------------------------------------------------------------------------------


def test_codebook_zero_is_zero_in_every_layer(independent: list[RawLayer]) -> None:
    assert len(independent) == LAYER_COUNT
    assert [layer.codebook[0] for layer in independent] == [0.0] * LAYER_COUNT


def test_layers_follow_torchvision_squeezenet1_0(
    decoded: list[deep_compression.DecodedLayer],
) -> None:
    import torchvision

    expected = torchvision.models.squeezenet1_0(weights=None).state_dict()
    arrays = deep_compression.state_dict_arrays(decoded)
    assert list(arrays) == list(expected)  # same names, same order, nothing missing
    for name, tensor in expected.items():
        assert arrays[name].shape == tuple(tensor.shape), name
        assert arrays[name].dtype == np.float32, name
    assert [layer.name for layer in decoded] == [name for name, _ in torchvision_conv_shapes()]


@pytest.mark.parametrize("index", range(LAYER_COUNT))
def test_independent_decoder_agrees(
    decoded: list[deep_compression.DecodedLayer], independent: list[RawLayer], index: int
) -> None:
    mine, theirs = independent[index], decoded[index]
    assert theirs.name == mine.name
    assert theirs.stored == mine.stored
    weight = np.array(mine.weight, dtype=np.float64).reshape(mine.shape)
    np.testing.assert_allclose(theirs.weight, weight, rtol=0, atol=1e-5)
    np.testing.assert_allclose(theirs.bias, np.array(mine.bias), rtol=0, atol=1e-5)
    # pruning is real: the weights that were not stored are exactly zero
    assert np.count_nonzero(theirs.weight) <= mine.stored < theirs.weight.size


def test_loaded_model_holds_the_independent_decoding(
    real_probe, independent: list[RawLayer]
) -> None:
    """The model's tensors are the file's; conv1's input channels are flipped (BGR → RGB)."""
    state = real_probe.model.state_dict()
    for layer in independent:
        weight = np.array(layer.weight, dtype=np.float64).reshape(layer.shape)
        if layer.name == "features.0":
            weight = weight[:, ::-1]
        model_weight = state[f"{layer.name}.weight"].numpy()
        np.testing.assert_allclose(model_weight, weight, rtol=0, atol=1e-5, err_msg=layer.name)
        np.testing.assert_allclose(
            state[f"{layer.name}.bias"].numpy(), layer.bias, rtol=0, atol=1e-5, err_msg=layer.name
        )
    # the flip is not a no-op: conv1's B and R weights differ
    conv1 = np.array(independent[0].weight).reshape(independent[0].shape)
    assert not np.allclose(conv1[:, 0], conv1[:, 2])


def test_state_dict_arrays_without_rgb_flip_keeps_caffe_order(
    decoded: list[deep_compression.DecodedLayer],
) -> None:
    bgr = deep_compression.state_dict_arrays(decoded, rgb_input=False)["features.0.weight"]
    rgb = deep_compression.state_dict_arrays(decoded)["features.0.weight"]
    np.testing.assert_array_equal(bgr, decoded[0].weight)
    np.testing.assert_array_equal(rgb, bgr[:, ::-1])


# --- sanity: the decoded network classifies -------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "label"),
    [("chelsea", "Egyptian cat"), ("coffee", "espresso"), ("camera", "tripod")],
)
def test_top1_on_scikit_image_samples(real_probe, image: str, label: str) -> None:
    from skimage import data

    top = real_probe.predict(getattr(data, image)(), top=5)
    assert top[0][0] == label, top
    assert top[0][1] > 0.5, top
    assert sum(score for _, score in top) <= 1.0 + 1e-9
