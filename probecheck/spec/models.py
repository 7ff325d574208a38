"""Typed, validated objects for the YAML spec language: what every spec and claim shares.

The model, the regions, the image sets, the claim and the spec are here, with the rules across a
whole file (unique ids, defined names, channel numbers); each check kind's case and check models
are a module of :mod:`probecheck.spec.kinds`, and ``Claim`` has one field per kind listed there.
The models are pydantic v2 with ``extra="forbid"`` so that a misspelt key is an error, never a
silently ignored claim. Rules that span several fields raise :class:`RuleError`, which carries the
location of the offending key relative to the model, so that the loader can point at its line.

After validation every check exposes ``cases`` (the top-level case fields are folded into a
one-element list and cleared) and every channel number is 0-based; the numbers as written stay
available as ``channel_labels`` / ``in_labels`` and are what ``model_dump`` gives back, so a dump
validates to the same spec again. No torch, no numpy here.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_serializer,
    model_validator,
)

from probecheck.spec.base import (
    Channel,
    Loc,
    Name,
    Number,
    RuleError,
    RuleErrors,
    _Model,
    _resolve,
    _suggest,
)
from probecheck.spec.kinds import CHECK_NAMES, SPEC_KINDS, AnyCheck
from probecheck.spec.kinds.drop import MASK_METHODS
from probecheck.spec.kinds.occlusion import OCCLUSION_FILLS

__all__ = [
    "MASK_METHODS",
    "OCCLUSION_FILLS",
    "Claim",
    "ImageSet",
    "ModelRef",
    "Preprocess",
    "Region",
    "RuleError",
    "RuleErrors",
    "Spec",
]

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"

Box = Annotated[list[Number], Field(min_length=4, max_length=4)]
Ellipse = Annotated[list[Number], Field(min_length=4, max_length=4)]
Point = Annotated[list[Number], Field(min_length=2, max_length=2)]
Polygon = Annotated[list[Point], Field(min_length=3)]


# --------------------------------------------------------------------------------------- model


class Preprocess(_Model):
    """How images become the network's input, where the weights do not say or say wrongly."""

    size: Annotated[
        list[Annotated[int, Field(strict=True, gt=0)]], Field(min_length=2, max_length=2)
    ] = Field(
        description="Input size [height, width]; the whole image is resized to it.",
        examples=[[227, 227]],
    )
    channel_order: Literal["rgb", "bgr"] = Field(
        "rgb",
        description="The order the network reads colour channels in; mean and std follow it.",
    )
    pixel_scale: Annotated[float, Field(strict=True, gt=0)] = Field(
        1.0, description="Pixels are scaled to 0..pixel_scale (1 or 255) before mean and std."
    )
    mean: Annotated[list[Number], Field(min_length=3, max_length=3)] = Field(
        description="Per channel, subtracted after scaling.", examples=[[123.0, 117.0, 104.0]]
    )
    std: Annotated[
        list[Annotated[float, Field(strict=True, gt=0)]], Field(min_length=3, max_length=3)
    ] = Field([1.0, 1.0, 1.0], description="Per channel, divided by after subtracting the mean.")


class ModelRef(_Model):
    """Which network the claims are about: an architecture and its weights."""

    arch: Name = Field(
        "squeezenet1_0",
        description="A torchvision classification builder (squeezenet1_0, resnet18, ...) "
        "or a factory 'package.module:function' returning an nn.Module.",
        examples=["squeezenet1_0"],
    )
    weights: Name = Field(
        "deep-compression",
        description="A zoo entry (deep-compression), a torchvision weights enum member "
        "(DEFAULT, IMAGENET1K_V1), a local state_dict checkpoint, or 'random'.",
        examples=["deep-compression", "DEFAULT", "random"],
    )
    seed: Channel = Field(0, description="Seed for weights: random.", examples=[0])
    preprocess: Preprocess | None = Field(
        None,
        description="Explicit preprocessing; it wins over what the weights or a checkpoint say.",
    )


# -------------------------------------------------------------------------------------- region


class Region(_Model):
    """Pixel shapes in the coordinates of the images a region is used with; their union."""

    boxes: list[Box] | None = Field(
        None,
        description="Boxes [x0, y0, x1, y1]; x1 and y1 are exclusive.",
        examples=[[[92, 62, 124, 82]]],
    )
    ellipses: list[Ellipse] | None = Field(
        None,
        description="Ellipses [cx, cy, rx, ry] with rx, ry > 0.",
        examples=[[[120, 90, 30, 20]]],
    )
    polygons: list[Polygon] | None = Field(
        None,
        description="Polygons, each a list of at least 3 [x, y] points.",
        examples=[[[[10, 10], [60, 10], [35, 50]]]],
    )
    mask: Name | None = Field(
        None,
        description="A PNG relative to the spec file; non-zero pixels are inside.",
        examples=["../fixtures/mask.png"],
    )
    landmarks: (
        Annotated[list[Annotated[int, Field(strict=True, ge=0)]], Field(min_length=1)] | None
    ) = Field(
        None,
        description="For images of a set: 0-based numbers of 68-point landmarks (read from "
        "the image's <stem>.pts); the region is their bounding box grown by 'pad'. 36-41 and "
        "42-47 are the eyes.",
        examples=[[36, 37, 38, 39, 40, 41]],
    )
    pad: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="Pixels added on every side of the landmarks' box.", examples=[4]
    )

    _base_dir: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check_shapes(self) -> Region:
        if not (self.boxes or self.ellipses or self.polygons or self.mask or self.landmarks):
            raise RuleError(
                "a region needs at least one shape",
                fix="give boxes: [[x0, y0, x1, y1]], ellipses: [[cx, cy, rx, ry]], "
                "polygons: [[[x, y], [x, y], [x, y]]], mask: path/to/mask.png "
                "or landmarks: [36, 37, 38, 39, 40, 41]",
            )
        if self.pad is not None and not self.landmarks:
            raise RuleError(
                "'pad' without 'landmarks'",
                loc=("pad",),
                fix="add landmarks: [<point numbers>], or remove pad",
            )
        if self.landmarks and (self.boxes or self.ellipses or self.polygons or self.mask):
            raise RuleError(
                "a landmark region is placed per image; it takes no other shapes",
                loc=("landmarks",),
                fix="define the fixed shapes as another region",
            )
        for i, (x0, y0, x1, y1) in enumerate(self.boxes or []):
            if x1 <= x0 or y1 <= y0:
                raise RuleError(
                    f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] is empty",
                    loc=("boxes", i),
                    fix="write [x0, y0, x1, y1] with x1 > x0 and y1 > y0 (x1, y1 exclusive)",
                )
        for i, (_, _, rx, ry) in enumerate(self.ellipses or []):
            if rx <= 0 or ry <= 0:
                raise RuleError(
                    f"ellipse radii must be positive, got rx={rx:g}, ry={ry:g}",
                    loc=("ellipses", i),
                    fix="write [cx, cy, rx, ry] with rx > 0 and ry > 0",
                )
        return self

    @property
    def mask_path(self) -> Path | None:
        """The mask PNG as an absolute path (relative to the spec file), or None."""
        if self.mask is None:
            return None
        return _resolve(self._base_dir or Path.cwd(), self.mask)


# ---------------------------------------------------------------------------------- image sets


class ImageSet(_Model):
    """A population of images: every image is a case of the checks that name the set."""

    images: Name | Annotated[list[Name], Field(min_length=1)] = Field(
        description="A glob, or a list of paths, relative to the spec file.",
        examples=["../fixtures/faces/*.png"],
    )
    regions: Name | None = Field(
        None,
        description='A JSON file, relative to the spec, of {"<file name>": {<region>: shapes}}: '
        "each image's own regions.",
        examples=["../fixtures/faces/regions.json"],
    )
    landmarks: Name | None = Field(
        None,
        description="The directory, relative to the spec, of each image's <stem>.pts (68-point "
        "iBUG landmarks) for landmark regions; default: beside the images.",
        examples=["../fixtures/faces"],
    )


# ------------------------------------------------------------------------------------- claim


class _Claim(_Model):
    """The fields every claim has; ``Claim`` adds one optional field per check kind."""

    id: str = Field(
        pattern=NAME_PATTERN,
        description="Unique within the file; letters, digits, '_', '.', '-'.",
        examples=["fire6-eyes"],
    )
    about: str | None = Field(None, description="What the claim says, in words.")
    layer: Name = Field(
        description="A module path (features.8.squeeze_activation) or alias (fire6-squeeze1x1).",
        examples=["fire6-relu_squeeze1x1"],
    )
    channels: list[Channel] | None = Field(
        None,
        min_length=1,
        description="Channel numbers in the file's index_base. Required unless the only check "
        "is strongest with 'in'.",
        examples=[[29]],
    )
    require: Literal["all", "any", "mean"] = Field(
        "all", description="How per-channel results combine: all (default), any, or mean."
    )

    _line: int = PrivateAttr(0)
    _index_base: int = PrivateAttr(0)

    @model_validator(mode="after")
    def _validate(self) -> _Claim:
        if not self.checks:
            raise RuleError(
                "a claim needs at least one check",
                fix=f"add {', '.join(n + ':' for n in CHECK_NAMES[:-1])} or "
                f"{CHECK_NAMES[-1]}: to this claim",
            )
        needs_channels = any(c.uses_claim_channels for c in self.checks.values())
        if self.channels is None and needs_channels:
            raise RuleError(
                "missing required key 'channels'",
                fix="add channels: [<channel number>, ...]",
            )
        return self

    @property
    def checks(self) -> dict[str, AnyCheck]:
        """The checks this claim has, by name, in the order of ``CHECK_NAMES``."""
        found = {name: getattr(self, name) for name in CHECK_NAMES}
        return {name: check for name, check in found.items() if check is not None}

    @property
    def line(self) -> int:
        """The 1-based line of this claim in its spec file (0 when not loaded from a file)."""
        return self._line

    @property
    def index_base(self) -> int:
        """The index base of the file the claim came from."""
        return self._index_base

    @property
    def channel_labels(self) -> list[int]:
        """The channel numbers as written in the file (``channels`` are 0-based)."""
        return [self.label(c) for c in self.channels or []]

    def label(self, channel0: int) -> int:
        """A 0-based channel number as the file would write it."""
        return channel0 + self._index_base

    @field_serializer("channels")
    def _dump_channels(self, value: list[int] | None) -> list[int] | None:
        return None if value is None else self.channel_labels


def _claim_model() -> type[_Claim]:
    """``Claim``: the shared fields, then one optional field per check kind, in their order."""
    return create_model(
        "Claim",
        __base__=_Claim,
        __module__=__name__,
        __doc__="One assertion about some channels of one layer, checked by one or more checks.",
        **{kind.name: kind.claim_field() for kind in SPEC_KINDS},
    )


Claim = _claim_model()


# ------------------------------------------------------------------- rules across the whole file


def landmark_region_names(regions: Any) -> set[str]:
    """The names of ``regions`` (validated or raw) placed by landmarks."""
    if not isinstance(regions, dict):
        return set()
    found = set()
    for name, region in regions.items():
        landmarks = region.get("landmarks") if isinstance(region, dict) else None
        if isinstance(region, Region):
            landmarks = region.landmarks
        if landmarks:
            found.add(name)
    return found


def claim_checks(claims: Sequence[tuple[int, Claim]]) -> list[tuple[Loc, AnyCheck]]:
    """(loc, check) for every check of ``claims``: ``("claims", 3, "drop")``."""
    return [(("claims", i, n), check) for i, claim in claims for n, check in claim.checks.items()]


def references(checks: Sequence[tuple[Loc, AnyCheck]]) -> Iterator[tuple[Loc, str, str]]:
    """(loc, kind, name) for every image, region or set name used by a case of ``checks``.

    The regions of a case over a set are named ``set-regions``: the set's regions file may
    define them per image, so they are checked against it when the set is read.
    """
    for check_loc, check in checks:
        for j, case in enumerate(check.cases):
            over_set = getattr(case, "set", None) is not None
            for field, kind in type(case)._references.items():
                name = getattr(case, field, None)
                if name is not None:
                    kind = "set-regions" if over_set and kind == "regions" else kind
                    yield (*check_loc, *check.case_loc(j), field), kind, name


def _id_problems(ids: Sequence[tuple[int, str]]) -> Iterator[RuleError]:
    seen: dict[str, int] = {}
    for i, claim_id in ids:
        if claim_id in seen:
            yield RuleError(
                f"duplicate claim id '{claim_id}' (also claims[{seen[claim_id]}])",
                loc=("claims", i, "id"),
                fix="give every claim a unique id",
            )
        else:
            seen[claim_id] = i


def _reference_problems(
    checks: Sequence[tuple[Loc, AnyCheck]],
    images: Collection[str] | None,
    regions: Collection[str] | None,
    sets: Collection[str] | None = None,
    landmark_regions: Collection[str] = (),
) -> Iterator[RuleError]:
    """Names used by cases but not defined (a collection of None is not checked)."""
    for loc, kind, name in references(checks):
        if kind == "regions" and name in landmark_regions:
            yield RuleError(
                f"'{name}' is placed by landmarks, which only images of a set have",
                loc=loc,
                fix="use the region in a check over a set (set: <name>), or give it shapes",
            )
            continue
        known = {"images": images, "regions": regions, "sets": sets}.get(kind)
        if known is None or name in known:
            continue
        close = _suggest(name, list(known))
        if close:
            fix = f"use a name defined under {kind}:{close}, or add '{name}' under {kind}:"
        elif kind == "images":
            fix = f"add '{name}: path/to/image.png' under images: (relative to the spec file)"
        elif kind == "sets":
            fix = f"add '{name}: {{images: path/to/*.png}}' under sets:"
        else:
            fix = f"add '{name}: {{boxes: [[x0, y0, x1, y1]]}}' under regions:"
        yield RuleError(f"'{name}' is not defined under {kind}:", loc=loc, fix=fix)


def _channel_list_problems(numbers: list[int], loc: Loc, index_base: int) -> Iterator[RuleError]:
    seen: set[int] = set()
    for j, number in enumerate(numbers):
        if number < index_base:
            yield RuleError(
                f"channel {number} is below index_base {index_base}",
                loc=(*loc, j),
                fix="channels count from 1 in this file (index_base: 1)"
                if index_base
                else "channels must be >= 0 (or set index_base: 1 to count from 1)",
            )
        elif number in seen:
            yield RuleError(
                f"channel {number} is listed twice", loc=(*loc, j), fix="list each channel once"
            )
        seen.add(number)


def file_rule_problems(
    claims: Sequence[tuple[int, Claim]],
    images: Collection[str] | None,
    regions: Collection[str] | None,
    index_base: int,
    checks: Sequence[tuple[Loc, AnyCheck]] | None = None,
    ids: Sequence[tuple[int, str]] | None = None,
    sets: Collection[str] | None = None,
    landmark_regions: Collection[str] = (),
) -> list[RuleError]:
    """Every problem across the file: duplicate ids, undefined names, bad channel numbers.

    ``claims`` are (index, claim) pairs; ``checks`` (loc, check) and ``ids`` (index, id) pairs
    default to those of ``claims``: the loader passes the parts that validate on their own
    while another part of the file does not.
    """
    checks = claim_checks(claims) if checks is None else checks
    ids = [(i, claim.id) for i, claim in claims] if ids is None else ids
    problems = [
        *_id_problems(ids),
        *_reference_problems(checks, images, regions, sets, landmark_regions),
    ]
    for i, claim in claims:
        loc: Loc = ("claims", i, "channels")
        problems += _channel_list_problems(claim.channels or [], loc, index_base)
        for name, check in claim.checks.items():
            for key, numbers in check.channel_lists().items():
                problems += _channel_list_problems(numbers, ("claims", i, name, key), index_base)
    return problems


# -------------------------------------------------------------------------------------- spec


class Spec(_Model):
    """A spec file: the model, fixture images, named regions and the claims to check."""

    model: ModelRef = Field(
        default_factory=ModelRef,
        description="The network under test.",
        examples=[{"arch": "squeezenet1_0", "weights": "deep-compression"}],
    )
    index_base: Annotated[int, Field(strict=True, ge=0, le=1)] = Field(
        0, description="1 if channel numbers in this file count from 1 (as in MATLAB), else 0."
    )
    images: dict[Name, Name] = Field(
        default_factory=dict,
        description="Image name -> path relative to this spec file.",
        examples=[{"face": "../fixtures/astronaut_face.png"}],
    )
    regions: dict[Name, Region] = Field(
        default_factory=dict,
        description="Region name -> shapes in image pixel coordinates.",
        examples=[{"eyes": {"boxes": [[92, 62, 124, 82]]}}],
    )
    sets: dict[Name, ImageSet] = Field(
        default_factory=dict,
        description="Set name -> images (and their regions): checks with set: are claims about "
        "the population.",
        examples=[
            {
                "faces": {
                    "images": "../fixtures/faces/*.png",
                    "regions": "../fixtures/faces/regions.json",
                }
            }
        ],
    )
    claims: list[Claim] = Field(
        min_length=1,
        description="The claims to check.",
        examples=[[{"id": "fire6-eyes", "layer": "fire6-relu_squeeze1x1", "channels": [29]}]],
    )

    _path: Path | None = PrivateAttr(None)
    _source: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _validate(self, info: ValidationInfo) -> Spec:
        problems = file_rule_problems(
            list(enumerate(self.claims)),
            set(self.images),
            set(self.regions),
            self.index_base,
            sets=set(self.sets),
            landmark_regions=landmark_region_names(self.regions),
        )
        if problems:
            raise RuleErrors(problems)
        self._to_zero_based()
        path = (info.context or {}).get("path")
        if path is not None:
            self._bind(Path(path))
        return self

    def _to_zero_based(self) -> None:
        """Make every channel number 0-based; remember the base to label them as written."""
        base = self.index_base
        for claim in self.claims:
            claim._index_base = base
            if claim.channels is not None:
                claim.channels = [c - base for c in claim.channels]
            for check in claim.checks.values():
                check.count_from(base)

    # -- paths

    def _bind(self, path: Path) -> None:
        """Record where the spec lives, so relative image and mask paths can be resolved."""
        self._path = Path(os.path.abspath(path))
        for region in self.regions.values():
            region._base_dir = self._path.parent

    @property
    def source(self) -> Any:
        """The file's SourceMap (key path -> line and column), None when not loaded from a file."""
        return self._source

    @property
    def path(self) -> Path | None:
        """The absolute path of the spec file (None when not loaded from a file)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the spec are resolved against."""
        return self._path.parent if self._path is not None else Path.cwd()

    def image_path(self, name: str) -> Path:
        """The absolute path of image ``name`` (KeyError if the spec defines no such image)."""
        return _resolve(self.base_dir, self.images[name])

    @property
    def image_paths(self) -> dict[str, Path]:
        """Every image name -> absolute path."""
        return {name: self.image_path(name) for name in self.images}

    def label(self, channel0: int) -> int:
        """A 0-based channel number as this file writes it."""
        return channel0 + self.index_base

    def claim(self, claim_id: str) -> Claim:
        """The claim with this id (KeyError if none)."""
        for claim in self.claims:
            if claim.id == claim_id:
                return claim
        raise KeyError(claim_id)
