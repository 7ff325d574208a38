"""Images from anywhere: bombs refused unread, EXIF orientation honoured, every pixel format
accepted as RGB, and a broken file a clear error that names it — for spec images, region masks
and the command line alike. Every file is written under tmp_path; no network is loaded."""

from __future__ import annotations

import pickle
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from probecheck.cli import main
from probecheck.errors import ProbecheckError
from probecheck.regions import load_mask_png
from probecheck.zoo.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, load_image, read_image_file

FACE = Path(__file__).resolve().parents[2] / "fixtures" / "astronaut_face.png"

# a 3×2 picture with a different colour in every pixel, so any flip or turn shows
PIXELS = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[255, 255, 0], [0, 255, 255], [255, 0, 255]]],
    dtype=np.uint8,
)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes that claim width × height gray pixels: a decompression bomb's header
    (the compressed rows that would follow are what makes it a bomb; it is refused before)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # a start of all-zero rows
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


# --- decompression bombs --------------------------------------------------------------------------

BOMBS = {
    "png-100000x100000": (lambda: png_claiming(100_000, 100_000), "10,000,000,000 pixels"),
    "png-8000x8000": (lambda: png_claiming(8000, 8000), "64,000,000 pixels"),
    "png-1x60000000": (lambda: png_claiming(1, 60_000_000), "60,000,000 pixels"),
}


@pytest.mark.parametrize("name", BOMBS)
def test_decompression_bomb_is_refused_unread(tmp_path: Path, name: str) -> None:
    make, pixels = BOMBS[name]
    path = tmp_path / "bomb.png"
    path.write_bytes(make())
    with pytest.raises(ProbecheckError) as caught:
        load_image(path)
    message = str(caught.value)
    assert str(path) in message and pixels in message
    assert f"{path.stat().st_size:,}-byte file" in message
    assert f"limit of {DEFAULT_MAX_PIXELS:,} pixels" in message
    assert caught.value.fix is not None and MAX_PIXELS_ENV in caught.value.fix


def test_the_limit_is_the_users_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(PIXELS).save(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "5")
    with pytest.raises(ProbecheckError, match=r"3×2 = 6 pixels .* limit of 5 pixels"):
        load_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "6")
    np.testing.assert_array_equal(load_image(path), PIXELS)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ProbecheckError, match="not a positive whole number"):
        load_image(path)


def test_pillows_own_bomb_error_gets_the_same_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_PIXELS_ENV, str(10**12))  # above Pillow's hard limit
    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming(100_000, 100_000))
    with pytest.raises(ProbecheckError, match=r"huge\.png is 10,000,000,000 pixels"):
        load_image(path)


def test_a_bomb_mask_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    path.write_bytes(png_claiming(20_000, 20_000))
    with pytest.raises(ProbecheckError, match=r"^mask .*mask\.png is 400,000,000 pixels"):
        load_mask_png(path)


# --- EXIF orientation -----------------------------------------------------------------------------

#: EXIF orientation → what a viewer shows, written out by hand from the EXIF standard
UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # turned 180°
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),  # transposed
    6: lambda a: np.rot90(a, -1),  # stored turned 90° anticlockwise: shown turned back
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # transverse
    8: lambda a: np.rot90(a, 1),
}


def save_with_orientation(array: np.ndarray, path: Path, orientation: int) -> None:
    image = Image.fromarray(array)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_is_honoured(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / f"turned{orientation}.png"
    save_with_orientation(PIXELS, path, orientation)
    np.testing.assert_array_equal(load_image(path), UPRIGHT[orientation](PIXELS))


def test_a_mask_is_turned_upright_like_its_image(tmp_path: Path) -> None:
    mask = np.zeros((2, 3), dtype=np.uint8)
    mask[0, 0] = 255  # top left, as stored
    save_with_orientation(mask, tmp_path / "mask.png", 6)
    inside = load_mask_png(tmp_path / "mask.png")
    assert inside.shape == (3, 2)
    assert inside[0, 1] and inside.sum() == 1  # top right, as shown


# --- pixel formats --------------------------------------------------------------------------------

RED = (200, 30, 60)


def red(mode: str, size: tuple[int, int] = (5, 4)) -> Image.Image:
    image = Image.new("RGB", size, RED)
    return image.quantize() if mode == "P" else image.convert(mode)  # quantize: no dithering


def palette_with_transparency() -> Image.Image:
    image = red("P")
    image.info["transparency"] = image.getpixel((0, 0))
    return image


def sixteen_bit(level: int) -> Image.Image:
    return Image.fromarray(np.full((4, 5), level, dtype=np.uint16))


#: name → (how the file is made, file suffix, the RGB every pixel must come out as, tolerance)
FORMATS: dict[str, tuple[Callable[[], Image.Image], str, tuple[int, int, int], int]] = {
    "rgb-png": (lambda: red("RGB"), ".png", RED, 0),
    "rgb-jpeg": (lambda: red("RGB"), ".jpg", RED, 6),
    "rgb-bmp": (lambda: red("RGB"), ".bmp", RED, 0),
    "rgb-tiff": (lambda: red("RGB"), ".tif", RED, 0),
    "rgb-webp-lossless": (lambda: red("RGB"), ".webp", RED, 0),
    "gray-png": (lambda: red("L"), ".png", (84,) * 3, 0),
    "gray-alpha-png": (lambda: red("LA"), ".png", (84,) * 3, 0),
    "rgba-opaque-png": (lambda: red("RGBA"), ".png", RED, 0),
    "rgba-transparent-png": (
        lambda: Image.new("RGBA", (5, 4), (*RED, 0)),
        ".png",
        (255, 255, 255),
        0,
    ),
    "palette-png": (lambda: red("P"), ".png", RED, 0),
    "palette-gif": (lambda: red("P"), ".gif", RED, 0),
    "palette-transparent-png": (palette_with_transparency, ".png", (255, 255, 255), 0),
    "cmyk-jpeg": (lambda: red("CMYK"), ".jpg", RED, 6),
    "cmyk-tiff": (lambda: red("CMYK"), ".tif", RED, 0),
    "16bit-gray-png": (lambda: sixteen_bit(40_000), ".png", (156,) * 3, 0),
    "16bit-dark-png": (lambda: sixteen_bit(200), ".png", (1,) * 3, 0),  # not read as 8-bit
    "16bit-gray-tiff": (lambda: sixteen_bit(40_000), ".tif", (156,) * 3, 0),
    "1bit-png": (lambda: Image.new("1", (5, 4), 1), ".png", (255,) * 3, 0),
}


@pytest.mark.parametrize("name", FORMATS)
def test_pixel_formats_become_rgb(tmp_path: Path, name: str) -> None:
    make, suffix, expected, tolerance = FORMATS[name]
    path = tmp_path / f"image{suffix}"
    image = make()
    image.save(path, **({"lossless": True} if suffix == ".webp" else {}))
    rgb = load_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 5, 3) and rgb.flags["C_CONTIGUOUS"]
    assert np.abs(rgb.astype(int) - expected).max() <= tolerance, (name, rgb[0, 0])


# --- broken and non-image files -------------------------------------------------------------------


def face_bytes() -> bytes:
    return FACE.read_bytes()


def jpeg_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.open(FACE).save(buffer, format="JPEG")
    return buffer.getvalue()


def flipped_idat_byte() -> bytes:
    data = bytearray(face_bytes())
    data[data.index(b"IDAT") + 200] ^= 0xFF  # damaged image data (the CRC no longer matches)
    return bytes(data)


#: name → (the file's bytes, file name, a word the reason must contain)
BROKEN: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "empty": (lambda: b"", "empty.png", "not an image file"),
    "text-named-png": (lambda: b"eyes: [[1, 2, 3, 4]]\n", "notes.png", "not an image file"),
    "random-bytes": (lambda: np.random.default_rng(1).bytes(4096), "noise.jpg", "not an image"),
    "png-signature-only": (lambda: face_bytes()[:8], "sig.png", "starts as a PNG"),
    "png-header-only": (lambda: face_bytes()[:33], "head.png", "starts as a PNG"),
    "png-cut-in-half": (lambda: face_bytes()[: len(face_bytes()) // 2], "half.png", "truncated"),
    "png-damaged-data": (flipped_idat_byte, "damaged.png", "damaged"),
    "jpeg-cut-in-half": (lambda: jpeg_bytes()[: len(jpeg_bytes()) // 2], "half.jpg", "truncated"),
    "jpeg-header-only": (lambda: jpeg_bytes()[:200], "head.jpg", "truncated"),
    "pickle-named-png": (lambda: pickle.dumps({"a": 1}), "p.png", "not an image"),
}


def broken_file(tmp_path: Path, name: str) -> tuple[Path, str]:
    make, filename, reason = BROKEN[name]
    path = tmp_path / filename
    path.write_bytes(make())
    return path, reason


@pytest.mark.parametrize("name", BROKEN)
def test_broken_image_is_a_clear_error(tmp_path: Path, name: str) -> None:
    path, reason = broken_file(tmp_path, name)
    with pytest.raises(ProbecheckError) as caught:
        load_image(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read image {path}: "), message
    assert reason in message
    assert caught.value.fix and "PNG" in caught.value.fix


@pytest.mark.parametrize("name", BROKEN)
def test_broken_mask_is_a_clear_error(tmp_path: Path, name: str) -> None:
    path, reason = broken_file(tmp_path, name)
    with pytest.raises(ProbecheckError, match=rf"^cannot read mask {path}: .*{reason}"):
        load_mask_png(path)


def test_a_directory_or_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProbecheckError, match=rf"cannot read image {tmp_path}: it is a directory"):
        load_image(tmp_path)
    with pytest.raises(ProbecheckError, match=r"mask .*gone\.png does not exist"):
        read_image_file(tmp_path / "gone.png", what="mask")


@pytest.mark.parametrize("name", ["text-named-png", "png-cut-in-half"])
def test_broken_image_on_the_command_line_is_one_line(tmp_path: Path, capsys, name: str) -> None:
    path, reason = broken_file(tmp_path, name)
    for args in (
        ["show", path, "--layer", "conv1", "--out", tmp_path / "out.png"],
        ["find", path, "--box", "0,0,4,4", "--mask-with", "gray", "--layer", "conv1"],
    ):
        code = main([str(a) for a in args])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err, err
        assert f"cannot read image {path}: " in err and reason in err
        assert err.strip().splitlines()[-1].strip().startswith("fix: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing written
