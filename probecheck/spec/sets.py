"""Image sets: a check written over a set becomes one case per image of the set.

``sets: {faces: {images: ../fixtures/faces/*.png, regions: ../fixtures/faces/regions.json}}``
names the images (a glob or a list, relative to the spec) and their regions. After the spec
validates, every check written with ``set:`` gets one case per image, in file-name order: the
image and its regions are added to the spec under names of their own (``faces:a.png`` and
``faces:a.png:eyes``), so the engine reads them as it reads any image and region, and the case
remembers the names as written (``case._shown``) for reports. A region comes from the set's
regions file where it names one for the image, else from the spec's ``regions:`` (landmark
regions are placed on each image from its ``<stem>.pts``).

Every problem (no image found, one file under two names (a link), a regions file that names an
image the set lacks, a region unknown for an image, a shape outside its image, a missing or
malformed ``.pts``) is a SpecError at the line of the file that wrote it, with a fix.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probecheck.errors import SpecError
from probecheck.spec.annotations import (
    SetAnnotations,
    Size,
    landmark_region,
    missing_image_problem,
    read_pts,
    read_regions_file,
    shape_problems,
)
from probecheck.spec.files import _file_problem, _read_size
from probecheck.spec.models import Region, Spec, _resolve, _suggest, claim_checks
from probecheck.spec.source import Loc, SourceMap

__all__ = ["expand_sets", "image_name", "region_name"]

GLOB_CHARS = frozenset("*?[")


def image_name(set_name: str, file: str) -> str:
    """The name an image of a set has among the spec's images."""
    return f"{set_name}:{file}"


def region_name(set_name: str, file: str, region: str) -> str:
    """The name a region of one image of a set has among the spec's regions."""
    return f"{set_name}:{file}:{region}"


@dataclass
class _Set:
    """One set as read: its images by file name, their sizes, and its regions file."""

    name: str
    paths: dict[str, Path] = field(default_factory=dict)  # file name -> path, sorted by name
    sizes: dict[str, Size] = field(default_factory=dict)
    annotations: SetAnnotations | None = None
    landmark_dir: Path | None = None
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _read_images(spec: Spec, name: str, source: SourceMap, problems: list[SpecError]) -> _Set:
    found = _Set(name)
    written = spec.sets[name].images
    base = spec.base_dir
    entries: Sequence[tuple[Loc, str]] = (
        [(("sets", name, "images"), written)]
        if isinstance(written, str)
        else [(("sets", name, "images", k), w) for k, w in enumerate(written)]
    )
    fix = f"paths are relative to the spec file's directory ({base})"
    files: dict[tuple[int, int], str] = {}  # (device, inode) -> the name it was first read as
    for loc, pattern in entries:
        if GLOB_CHARS & set(pattern):
            matches = sorted(glob.glob(str(_resolve(base, pattern))))
            if not matches:
                problems.append(source.error(loc, f"no file matches '{pattern}'", fix))
            paths = [Path(m) for m in matches if os.path.isfile(m)]
        else:
            paths = [_resolve(base, pattern)]
        for path in paths:
            missing = _file_problem(path, "image")
            if missing is not None:
                problems.append(source.error(loc, missing, f"{fix}; check '{pattern}'"))
                continue
            if path.name in found.paths and found.paths[path.name] != path:
                problems.append(
                    source.error(
                        loc,
                        f"two images of set '{name}' are named '{path.name}' "
                        f"({found.paths[path.name]} and {path})",
                        "images of a set are paired and annotated by file name: rename one",
                    )
                )
                continue
            stat = path.stat()
            first = files.setdefault((stat.st_dev, stat.st_ino), path.name)
            if first != path.name:
                problems.append(
                    source.error(
                        loc,
                        f"images '{first}' and '{path.name}' of set '{name}' are one file "
                        "(a link): the population would count that photo twice",
                        f"remove the link '{path}' or leave it out of the set's images",
                    )
                )
                continue
            size, unreadable = _read_size(path, "image")
            if unreadable is not None:
                problems.append(source.error(loc, unreadable, "give PNG or JPEG images"))
                continue
            found.paths[path.name] = path
            assert size is not None
            found.sizes[path.name] = size
    found.paths = dict(sorted(found.paths.items()))
    return found


def _read_set(spec: Spec, name: str, source: SourceMap, problems: list[SpecError]) -> _Set:
    found = _read_images(spec, name, source, problems)
    defined = spec.sets[name]
    if defined.landmarks is not None:
        found.landmark_dir = _resolve(spec.base_dir, defined.landmarks)
    if defined.regions is None:
        return found
    path = _resolve(spec.base_dir, defined.regions)
    try:
        found.annotations = read_regions_file(path, _shown(path))
    except SpecError as error:
        problems += error.problems
        return found
    # a regions file may serve several sets (a split of one folder): an entry is an error only
    # where its file is neither in the set nor beside the regions file or the set's images
    folders = {path.parent} | {p.parent for p in found.paths.values()}
    for file in found.annotations.regions:
        elsewhere = any((folder / file).is_file() for folder in folders)
        if file not in found.paths and found.paths and not elsewhere:
            problems.append(missing_image_problem(found.annotations, file, list(found.paths), name))
    return found


def _shown(path: Path) -> str:
    """A path as a user reads it: relative to the current directory where it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _landmarks(found: _Set, file: str) -> list[tuple[float, float]]:
    """The points of ``file``'s ``.pts`` (SpecError if missing or malformed)."""
    if file not in found.points:
        image = found.paths[file]
        folder = found.landmark_dir or image.parent
        path = folder / f"{Path(file).stem}.pts"
        found.points[file] = read_pts(path, _shown(path))
    return found.points[file]


def _image_region(
    spec: Spec, found: _Set, file: str, name: str, at: Loc, source: SourceMap
) -> tuple[Region | None, list[SpecError]]:
    """The region ``name`` on image ``file`` of the set, or None and why not."""
    size = found.sizes[file]
    own = found.annotations.regions.get(file, {}) if found.annotations else {}
    if name in own:
        region = own[name]
        assert found.annotations is not None
        problems = [
            found.annotations.error((file, name, *loc), message, fix)
            for loc, message, fix in shape_problems(region, size, file)
        ]
        return region, problems
    if name not in spec.regions:
        every = found.annotations.regions.values() if found.annotations else []
        elsewhere = any(name in regions for regions in every)
        known = sorted(set(own) | set(spec.regions) | {n for r in every for n in r})
        shown = f"'{found.annotations.shown}'" if found.annotations else "the set's regions file"
        where = f"{shown} for '{file}'" if elsewhere else shown
        return None, [
            source.error(
                at,
                f"region '{name}' is defined neither in {where} nor under regions:"
                f"{_suggest(name, known)}",
                f"add '{name}' to the set's regions file for every image, or define it under "
                "regions: (landmarks: [...] places it on each image from its .pts file)",
            )
        ]
    region = spec.regions[name]
    if region.landmarks:
        pts = (found.landmark_dir or found.paths[file].parent) / f"{Path(file).stem}.pts"
        if not pts.is_file():
            return None, [
                source.error(
                    ("regions", name, "landmarks"),
                    f"image '{file}' of set '{found.name}' has no landmark file {_shown(pts)}",
                    f"put {pts.name} (68-point iBUG .pts) beside the image, or name its "
                    f"directory as landmarks: under sets: {found.name}",
                )
            ]
        try:
            points = _landmarks(found, file)
        except SpecError as error:
            return None, error.problems
        try:
            placed = landmark_region(region.landmarks, region.pad or 0.0, points, size)
        except IndexError as missing:
            return None, [
                source.error(
                    ("regions", name, "landmarks"),
                    f"landmark {missing.args[0]} is beyond the {len(points)} points of the "
                    f".pts file of '{file}'",
                    "landmark numbers count from 0 (the 68-point scheme: 0..67)",
                )
            ]
        except ValueError as error:
            return None, [source.error(("regions", name, "landmarks"), f"{file}: {error}", None)]
        placed._base_dir = spec.base_dir
        return placed, []
    problems = [
        source.error(("regions", name, *loc), f"{message} (of set '{found.name}')", fix)
        for loc, message, fix in shape_problems(region, size, file)
    ]
    return region, problems


def _fields_naming(case: Any, section: str) -> list[str]:
    """The fields of ``case``'s model that name something under ``section`` (regions, sets)."""
    fields = type(case).model_fields
    return [f for f, kind in type(case)._references.items() if kind == section and f in fields]


def _paired_fields(case: Any) -> dict[str, str]:
    """A case's paired-set fields and the image field each fills per image: ``altered_set`` →
    ``altered`` (every ``<image field>_set`` but ``set`` itself)."""
    return {f: f.removesuffix("_set") for f in _fields_naming(case, "sets") if f != "set"}


def _expand_case(
    spec: Spec,
    sets: dict[str, _Set],
    case: Any,
    case_loc: Loc,
    source: SourceMap,
    problems: list[SpecError],
) -> list[Any]:
    """One case per image of the case's set, reading names the spec now defines."""
    found = sets[case.set]
    written = {k: v for k, v in case.model_dump().items() if v is not None}
    cases = []
    paired = _paired_fields(case)
    for file, path in found.paths.items():
        fields: dict[str, Any] = {k: v for k, v in written.items() if k not in paired}
        fields.pop("set")
        fields["image"] = image_name(found.name, file)
        spec.images[fields["image"]] = str(path)
        ok = True
        for field_name in _fields_naming(case, "regions"):
            name = written.get(field_name)
            if name is None:
                continue
            region, trouble = _image_region(
                spec, found, file, name, (*case_loc, field_name), source
            )
            problems += trouble
            if region is None or trouble:
                ok = False
                continue
            fields[field_name] = region_name(found.name, file, name)
            spec.regions[fields[field_name]] = region
        for set_field, image_field in paired.items():
            other = written.get(set_field)
            if other is None:
                continue
            twin = sets[other].paths.get(file)
            if twin is None:
                problems.append(
                    source.error(
                        (*case_loc, set_field),
                        f"'{file}' of set '{found.name}' has no image of that name in set "
                        f"'{other}'",
                        "a paired set holds the same file names, each image altered",
                    )
                )
                ok = False
                continue
            fields[image_field] = image_name(other, file)
            spec.images[fields[image_field]] = str(twin)
        if not ok:
            continue
        expanded = type(case).model_validate(fields)
        expanded._shown = {**written, "image": file}
        cases.append(expanded)
    return cases


def expand_sets(spec: Spec, source: SourceMap) -> list[SpecError]:
    """Give every check over a set one case per image; the problems found on the way."""
    problems: list[SpecError] = []
    checks = claim_checks(list(enumerate(spec.claims)))
    used = {
        name
        for _, check in checks
        for case in check.cases
        for name in (getattr(case, f) for f in _fields_naming(case, "sets"))
        if name is not None
    }
    sets = {name: _read_set(spec, name, source, problems) for name in sorted(used)}
    #: the cases of a set case written alike in several checks (other channels, other
    #: thresholds), made once: they are read, never changed, once made
    made: dict[tuple[type, str], list[Any]] = {}
    for loc, check in checks:
        case = next((c for c in check.cases if getattr(c, "set", None) is not None), None)
        if case is None:
            continue
        if not sets[case.set].paths:
            continue  # no image found: said already
        check._set_case = case
        written = (type(case), case.model_dump_json())
        if written in made:
            check.cases = list(made[written])
            continue
        before = len(problems)
        where = (*loc, *check.case_loc(0))
        check.cases = _expand_case(spec, sets, case, where, source, problems)
        if len(problems) == before:  # a problem is told at its own check's line: not shared
            made[written] = check.cases
    return problems
