"""Per-image annotations of an image set: a regions JSON file and 68-point landmark files.

A set's regions file maps each image's file name to its own named regions,
``{"<file name>": {"eyes": {"boxes": [...]}, "cheeks": {"ellipses": [...]}}}``, in the shapes of
``regions:`` (pixel coordinates of that image). Landmark files are the iBUG / 300-W ``.pts``
format (``version: 1``, ``n_points: 68``, then ``{`` one ``x y`` pair per line ``}``); their
coordinates count pixels from 1, as MATLAB does, and are read 0-based here (1 subtracted, as
menpo does). A spec-level landmark region (``{landmarks: [36, 37, 38, 39, 40, 41], pad: 4}``,
0-based point numbers as dlib and face_alignment number them) becomes, on each image, the box
around those points grown by ``pad`` pixels and clipped to the image.

Every problem is a SpecError at the file, line and key that wrote it, with a fix. Only the JSON
and the text are read here (no pixel); the sizes of the images come from their headers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from probecheck.errors import SpecError
from probecheck.spec.files import _shape_problems
from probecheck.spec.models import Region, _suggest
from probecheck.spec.reading import compose
from probecheck.spec.source import Loc, SourceMap

__all__ = [
    "SetAnnotations",
    "Size",
    "landmark_region",
    "missing_image_problem",
    "read_pts",
    "read_regions_file",
    "shape_problems",
]

Size = tuple[int, int]  # (width, height)
Point = tuple[float, float]

MAX_ANNOTATION_BYTES = 8 << 20
"""Largest regions or landmark file read (8 MiB: tens of thousands of images' regions)."""

PTS_FIX = (
    "write the iBUG .pts format: 'version: 1', 'n_points: 68', '{', one 'x y' pair per line, '}'"
)


@dataclass
class SetAnnotations:
    """The regions of every image of a set, as read from one regions file."""

    path: Path
    shown: str
    regions: dict[str, dict[str, Region]] = field(default_factory=dict)
    source: SourceMap | None = None

    def error(self, loc: Loc, message: str, fix: str | None) -> SpecError:
        """A SpecError at the key ``loc`` of the regions file (its first line if unknown)."""
        if self.source is not None:
            return self.source.error(loc, message, fix)
        key = ".".join(str(k) for k in loc) or None
        return SpecError(message, path=self.shown, line=1, key=key, fix=fix)


def _read_bounded(path: Path, shown: str, what: str, fix: str) -> str:
    """The text of an annotation file, or a SpecError naming it."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_ANNOTATION_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"{what} file not found", path=shown, fix=fix) from None
    except IsADirectoryError:
        raise SpecError(f"{what} path is a directory", path=shown, fix=fix) from None
    except OSError as error:
        raise SpecError(f"cannot read {what} file: {error.strerror}", path=shown) from None
    if len(raw) > MAX_ANNOTATION_BYTES:
        raise SpecError(
            f"{what} file is larger than {MAX_ANNOTATION_BYTES >> 20} MiB",
            path=shown,
            fix="split the set into smaller sets",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SpecError(
            f"{what} file is not UTF-8 text", path=shown, line=line, fix="save it as UTF-8"
        ) from None


# ------------------------------------------------------------------------------- regions JSON

REGIONS_FIX = (
    'write {"<image file name>": {"<region name>": {"boxes": [[x0, y0, x1, y1]]}}} '
    "(ellipses: [[cx, cy, rx, ry]] and polygons: [[[x, y], ...]] too)"
)


def _json_problem(error: json.JSONDecodeError, shown: str) -> SpecError:
    return SpecError(
        f"invalid JSON: {error.msg}",
        path=shown,
        line=error.lineno,
        column=error.colno,
        fix="check commas, brackets and quotes near this point (JSON has no trailing commas, "
        'no comments, and quotes names with ")',
    )


def _source(text: str, shown: str) -> SourceMap | None:
    """Line numbers for keys of the JSON text (JSON is YAML), or None where YAML disagrees."""
    try:
        return SourceMap(compose(text, shown), shown)
    except SpecError:
        return None


def read_regions_file(path: Path, shown: str | None = None) -> SetAnnotations:
    """Read a set's regions file; one SpecError with every problem of the file if it is bad."""
    shown = shown or str(path)
    text = _read_bounded(path, shown, "regions", "give the path of a regions JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _json_problem(error, shown) from None
    found = SetAnnotations(path=path, shown=shown, source=_source(text, shown))
    if not isinstance(data, dict):
        raise found.error((), "the top level must be an object of image file names", REGIONS_FIX)
    problems: list[SpecError] = []
    for image, regions in data.items():
        if not isinstance(regions, dict):
            problems.append(
                found.error((image,), f"'{image}' must map region names to shapes", REGIONS_FIX)
            )
            continue
        found.regions[image] = {}
        for name, value in regions.items():
            try:
                region = Region.model_validate(value)
            except ValidationError as error:
                problems += _region_errors(found, (image, name), error)
                continue
            if region.mask is not None:
                problems.append(
                    found.error(
                        (image, name, "mask"),
                        "a regions file gives shapes, not mask files",
                        "draw the region as boxes, ellipses or polygons",
                    )
                )
                continue
            found.regions[image][name] = region
    if problems:
        raise SpecError.gather(problems)
    return found


def _region_errors(found: SetAnnotations, at: Loc, error: ValidationError) -> list[SpecError]:
    """Pydantic's errors for one region of the file, in words, at their keys."""
    from probecheck.spec.messages import describe

    described = describe([{**dict(e), "loc": ("regions", "_", *e["loc"])} for e in error.errors()])
    return [found.error((*at, *loc[2:]), message, fix) for loc, message, fix in described]


# --------------------------------------------------------------------------------- .pts files

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POINT = re.compile(rf"^\s*({_NUMBER})\s+({_NUMBER})\s*$")
_HEADER = re.compile(r"^\s*([A-Za-z_]+)\s*:\s*(\S+)\s*$")


def read_pts(path: Path, shown: str | None = None) -> list[Point]:
    """The points of an iBUG ``.pts`` file, 0-based ``(x, y)``; SpecError at the bad line."""
    shown = shown or str(path)
    text = _read_bounded(path, shown, "landmark", "put <image stem>.pts beside the image")
    lines = text.splitlines()

    def bad(number: int, message: str) -> SpecError:
        return SpecError(message, path=shown, line=number, fix=PTS_FIX)

    expected: int | None = None
    body: int | None = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == "{":
            body = number
            break
        header = _HEADER.match(stripped)
        if header is None:
            raise bad(number, f"expected 'key: value' or '{{', got '{stripped[:40]}'")
        key, value = header.groups()
        if key == "n_points":
            if not value.isdigit() or int(value) == 0:
                raise bad(number, f"n_points must be a positive whole number, got '{value}'")
            expected = int(value)
    if body is None:
        raise bad(max(len(lines), 1), "no '{' opens the list of points")
    if expected is None:
        raise bad(1, "no 'n_points:' line in the header")
    points: list[Point] = []
    for number in range(body + 1, len(lines) + 1):
        stripped = lines[number - 1].strip()
        if not stripped:
            continue
        if stripped == "}":
            if len(points) != expected:
                raise bad(number, f"n_points says {expected} but {len(points)} points are listed")
            return points
        match = _POINT.match(stripped)
        if match is None:
            raise bad(number, f"expected a point 'x y', got '{stripped[:40]}'")
        x, y = float(match.group(1)), float(match.group(2))
        if not (math.isfinite(x) and math.isfinite(y)):
            raise bad(number, "a point's coordinates must be finite numbers")
        points.append((x - 1.0, y - 1.0))
    raise bad(len(lines), "no '}' closes the list of points")


def landmark_region(
    landmarks: Sequence[int], pad: float, points: Sequence[Point], size: Size
) -> Region:
    """The box around the ``landmarks`` of ``points``, grown by ``pad``, clipped to the image.

    IndexError names the first landmark number the file does not have; ValueError says the
    points lie outside the image.
    """
    missing = [k for k in landmarks if k >= len(points)]
    if missing:
        raise IndexError(missing[0])
    chosen = [points[k] for k in landmarks]
    width, height = size
    x0 = max(0.0, min(x for x, _ in chosen) - pad)
    y0 = max(0.0, min(y for _, y in chosen) - pad)
    x1 = min(float(width), max(x for x, _ in chosen) + pad + 1)  # +1: x1 is exclusive
    y1 = min(float(height), max(y for _, y in chosen) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the landmarks lie outside the image")
    return Region(boxes=[[x0, y0, x1, y1]])


# ---------------------------------------------------------------------------- fit to the image


def shape_problems(region: Region, size: Size, image: str) -> Iterator[tuple[Loc, str, str]]:
    """(loc within the region, message, fix) for shapes that do not fit a ``size`` image.

    A box must lie inside the image; an ellipse or polygon must at least touch it.
    """
    for error in _shape_problems("_", region, size, image):
        yield error.loc[2:], error.message, error.fix or ""


def missing_image_problem(
    annotations: SetAnnotations, image: str, known: Sequence[str], set_name: str
) -> SpecError:
    """A regions-file entry for a file that is not an image of the set."""
    return annotations.error(
        (image,),
        f"'{image}' is not an image of set '{set_name}' and no such file lies beside it"
        f"{_suggest(image, list(known))}",
        "name images by their file name (as the set's images: finds them), or remove the entry",
    )
