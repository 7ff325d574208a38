"""The files a spec names: images and masks exist and are images, and regions fit the images.

Only headers are read (Pillow opens files lazily: format, size and EXIF orientation), so a spec is
checked in milliseconds and a broken file is reported at collection, naming its key, instead of
failing each claim later. No pixel is decoded here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from probecheck.image_files import unreadable_reason
from probecheck.spec.kinds import AnyCheck
from probecheck.spec.models import Region, RuleError, _resolve, references

__all__ = ["image_problems", "region_problems"]

Checks = Sequence[tuple[tuple, AnyCheck]]
Size = tuple[int, int]  # (width, height) as the image is shown, EXIF orientation applied

EXIF_ORIENTATION = 0x0112
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)  # rotated by 90 or 270 degrees: width and height swap


def header_size(path: Path) -> Size:
    """Width and height from the file's header; OSError (or Pillow's error) if not an image."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a decompression-bomb warning is for whoever decodes it
        with Image.open(path) as img:
            width, height = img.size
            raw = img.info.get("exif")
            if raw:
                exif = Image.Exif()
                exif.load(raw)
                if exif.get(EXIF_ORIENTATION) in SWAPPING_ORIENTATIONS:
                    width, height = height, width
    return int(width), int(height)


def _file_problem(path: Path, what: str) -> str | None:
    """Why ``path`` cannot serve as an image, or None."""
    if not path.exists():
        return f"{what} file not found: {path}"
    if not path.is_file():
        return f"{what} is not a file: {path}"
    if not os.access(path, os.R_OK):
        return f"{what} file cannot be read (permissions): {path}"
    return None


def _read_size(path: Path, what: str) -> tuple[Size | None, str | None]:
    """(size, None) for a readable image, else (None, the reason)."""
    try:
        return header_size(path), None
    except Exception as error:  # Pillow raises many kinds for a file that is not an image
        return None, f"cannot read {what} {path}: {unreadable_reason(path, error)}"


def image_problems(
    images: Mapping[str, str], base_dir: Path
) -> tuple[list[RuleError], dict[str, Size]]:
    """Problems with the files under ``images:``, and the size of every readable one."""
    problems: list[RuleError] = []
    sizes: dict[str, Size] = {}
    fix = f"paths under images: are relative to the spec file's directory ({base_dir})"
    for name, written in images.items():
        path = _resolve(base_dir, written)
        loc = ("images", name)
        missing = _file_problem(path, "image")
        if missing is not None:
            problems.append(RuleError(missing, loc=loc, fix=f"{fix}; check '{written}'"))
            continue
        size, unreadable = _read_size(path, "image")
        if unreadable is not None:
            problems.append(RuleError(unreadable, loc=loc, fix="give a PNG or JPEG image"))
        elif size is not None:
            sizes[name] = size
    return problems, sizes


def _cases(checks: Checks) -> dict[tuple, dict[str, tuple[str, str]]]:
    """loc of each case -> the names it uses, by field: (section, name), e.g. ``altered`` ->
    ``("images", "face_no_eyes")``."""
    by_case: dict[tuple, dict[str, tuple[str, str]]] = {}
    for loc, kind, name in references(checks):
        by_case.setdefault(loc[:-1], {})[loc[-1]] = (kind, name)
    return by_case


def _used_with(checks: Checks) -> Iterator[tuple[str, str]]:
    """(region, image) for every region a case uses on an image."""
    for fields in _cases(checks).values():
        image = fields.get("image")
        for kind, name in fields.values():
            if image is not None and kind == "regions":
                yield name, image[1]


def _bounds(points: list[list[float]]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a polygon's points."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _shape_problems(name: str, region: Region, size: Size, image: str) -> Iterator[RuleError]:
    """Shapes of ``region`` that reach outside (boxes) or lie wholly outside the image."""
    width, height = size
    on = f"the {width}×{height} image '{image}'"
    fix = "shapes are in pixel coordinates of the image they are used with (x: column, y: row)"
    for k, (x0, y0, x1, y1) in enumerate(region.boxes or []):
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            box = ", ".join(f"{v:g}" for v in (x0, y0, x1, y1))
            yield RuleError(
                f"box [{box}] reaches outside {on}",
                loc=("regions", name, "boxes", k),
                fix=f"keep 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}; {fix}",
            )
    spans = [
        ("ellipses", k, (cx - rx, cy - ry, cx + rx, cy + ry))
        for k, (cx, cy, rx, ry) in enumerate(region.ellipses or [])
    ] + [
        (
            "polygons",
            k,
            _bounds(poly),
        )
        for k, poly in enumerate(region.polygons or [])
    ]
    for kind, k, (left, top, right, bottom) in spans:
        if right <= 0 or bottom <= 0 or left >= width or top >= height:
            yield RuleError(
                f"{kind[:-1]} {k} lies wholly outside {on}", loc=("regions", name, kind, k), fix=fix
            )


def _mask_problems(name: str, region: Region, size: Size, image: str) -> Iterator[RuleError]:
    """A mask file that is missing, not an image, or not the size of the image it masks."""
    path = region.mask_path
    if path is None or region.mask is None:
        return
    loc = ("regions", name, "mask")
    missing = _file_problem(path, "mask")
    if missing is not None:
        yield RuleError(missing, loc=loc, fix="mask paths are relative to the spec file")
        return
    mask_size, unreadable = _read_size(path, "mask")
    if unreadable is not None:
        yield RuleError(unreadable, loc=loc, fix="give a PNG whose non-zero pixels are inside")
    elif mask_size != size:
        yield RuleError(
            f"mask is {mask_size[0]}×{mask_size[1]} but the image '{image}' it is used with "
            f"is {size[0]}×{size[1]}",
            loc=loc,
            fix="draw the mask at the size of the image it is used with",
        )


def _pair_problems(checks: Checks, sizes: Mapping[str, Size]) -> Iterator[RuleError]:
    """An altered image of another size than the image it is compared with."""
    for case_loc, fields in _cases(checks).items():
        base = fields.get("image", ("", ""))[1]
        for field, (kind, other) in fields.items():
            if kind != "images" or field == "image":
                continue
            if base in sizes and other in sizes and sizes[base] != sizes[other]:
                (w, h), (ow, oh) = sizes[base], sizes[other]
                yield RuleError(
                    f"'{other}' is {ow}×{oh} but the image '{base}' it is compared with is {w}×{h}",
                    loc=(*case_loc, field),
                    fix="an altered image is the same photo with the region removed, "
                    "at the same size",
                )


def region_problems(
    regions: Mapping[str, Region], checks: Checks, sizes: Mapping[str, Size]
) -> list[RuleError]:
    """Regions that do not fit the images ``checks`` use them with; masks missing or wrong."""
    problems: list[RuleError] = list(_pair_problems(checks, sizes))
    seen: set[tuple[str, Size]] = set()
    for region_name, image in _used_with(checks):
        size = sizes.get(image)
        region = regions.get(region_name)
        if size is None or region is None or (region_name, size) in seen:
            continue
        seen.add((region_name, size))
        problems += _shape_problems(region_name, region, size, image)
        problems += _mask_problems(region_name, region, size, image)
    return problems
