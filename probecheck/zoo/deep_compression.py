"""Decoder for the Deep Compression release of SqueezeNet v1.0 (``compressed_SqueezeNet.net``).

The file stores, for each of the 26 convolutions of torchvision's ``squeezenet1_0`` in
``named_modules()`` order, a 256-entry codebook, the biases, one uint8 code per non-zero weight
and 4-bit gaps between the positions of those weights. Decoding is pure numpy, so it can be
checked without torch; ``state_dict_arrays`` names the tensors as torchvision does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: (module path, weight shape [out, in, kh, kw]) of the 26 convolutions, in file order.
CONV_LAYERS: tuple[tuple[str, tuple[int, int, int, int]], ...] = (
    ("features.0", (96, 3, 7, 7)),
    *(
        (f"features.{index}.{part}", shape)
        for index, (squeeze_in, squeeze, expand) in {
            3: (96, 16, 64),
            4: (128, 16, 64),
            5: (128, 32, 128),
            7: (256, 32, 128),
            8: (256, 48, 192),
            9: (384, 48, 192),
            10: (384, 64, 256),
            12: (512, 64, 256),
        }.items()
        for part, shape in (
            ("squeeze", (squeeze, squeeze_in, 1, 1)),
            ("expand1x1", (expand, squeeze, 1, 1)),
            ("expand3x3", (expand, squeeze, 3, 3)),
        )
    ),
    ("classifier.1", (1000, 512, 1, 1)),
)

CODEBOOK_SIZE = 256


class DecodeError(ValueError):
    """The file does not have the layout of the Deep Compression SqueezeNet release."""


@dataclass(frozen=True)
class DecodedLayer:
    """One convolution as stored: dense weights and biases, float32."""

    name: str
    weight: NDArray[np.float32]
    bias: NDArray[np.float32]
    stored: int


def decode(data: bytes) -> list[DecodedLayer]:
    """Decode the whole file; raise DecodeError unless every byte is consumed exactly."""
    count = len(CONV_LAYERS)
    if len(data) < 4 * count:
        raise DecodeError(f"file is {len(data)} bytes, too short for the {count}-layer header")
    stored = np.frombuffer(data, dtype="<u4", count=count).astype(np.int64)
    offset = 4 * count
    layers = []
    for (name, shape), n in zip(CONV_LAYERS, stored, strict=True):
        layer, offset = _decode_layer(data, offset, name, shape, int(n))
        layers.append(layer)
    if offset != len(data):
        raise DecodeError(f"{len(data) - offset} bytes left over after the last layer")
    return layers


def _take(data: bytes, offset: int, dtype: str, count: int, what: str) -> tuple[np.ndarray, int]:
    size = np.dtype(dtype).itemsize * count
    if offset + size > len(data):
        raise DecodeError(f"file ends inside {what}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset), offset + size


def _decode_layer(
    data: bytes, offset: int, name: str, shape: tuple[int, int, int, int], n: int
) -> tuple[DecodedLayer, int]:
    codebook, offset = _take(data, offset, "<f4", CODEBOOK_SIZE, f"{name} codebook")
    bias, offset = _take(data, offset, "<f4", shape[0], f"{name} biases")
    codes, offset = _take(data, offset, "u1", n, f"{name} codes")
    packed, offset = _take(data, offset, "u1", (n + 1) // 2, f"{name} position gaps")
    gaps = np.empty(2 * len(packed), dtype=np.int64)
    gaps[0::2] = packed & 0x0F
    gaps[1::2] = packed >> 4
    positions = np.cumsum(gaps[:n] + 1) - 1
    size = int(np.prod(shape))
    if n and positions[-1] >= size:
        raise DecodeError(f"{name}: a stored weight lies past the end of the {shape} tensor")
    flat_codes = np.zeros(size, dtype=np.uint8)
    flat_codes[positions] = codes
    weight = codebook[flat_codes].reshape(shape).astype(np.float32)
    return DecodedLayer(name, weight, bias.astype(np.float32), n), offset


def state_dict_arrays(
    layers: list[DecodedLayer], *, rgb_input: bool = True
) -> dict[str, np.ndarray]:
    """Name the decoded tensors as torchvision's ``squeezenet1_0`` state_dict does.

    Caffe's conv1 expects BGR input; with ``rgb_input`` its input channels are flipped once so
    the model takes RGB like every other torchvision model.
    """
    arrays: dict[str, np.ndarray] = {}
    for layer in layers:
        weight = layer.weight
        if rgb_input and layer.name == CONV_LAYERS[0][0]:
            weight = np.ascontiguousarray(weight[:, ::-1])
        arrays[f"{layer.name}.weight"] = weight
        arrays[f"{layer.name}.bias"] = layer.bias
    return arrays


def read(path: str | Path) -> list[DecodedLayer]:
    """Decode the file at ``path``."""
    return decode(Path(path).read_bytes())
