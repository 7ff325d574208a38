"""Typed, validated objects for the YAML spec language.

The models are pydantic v2 with ``extra="forbid"`` so that a misspelt key is an error, never a
silently ignored claim. Rules that span several fields raise :class:`RuleError`, which carries the
location of the offending key relative to the model, so that the loader can point at its line.

After validation every check exposes ``cases`` (the top-level case fields are folded into a
one-element list and cleared) and every channel number is 0-based; the numbers as written stay
available as ``channel_labels`` / ``in_labels`` and are what ``model_dump`` gives back, so a dump
validates to the same spec again. No torch, no numpy here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_serializer,
    model_validator,
)

__all__ = [
    "CHECK_MODELS",
    "CHECK_NAMES",
    "Claim",
    "CompareCase",
    "CompareCheck",
    "DropCase",
    "DropCheck",
    "ImageSet",
    "ModelRef",
    "OcclusionCase",
    "OcclusionCheck",
    "Preprocess",
    "Region",
    "RuleError",
    "RuleErrors",
    "SelectiveCase",
    "SelectiveCheck",
    "Spec",
    "StrongestCase",
    "StrongestCheck",
]

Loc = tuple[str | int, ...]

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
MaskMethod = Literal["inpaint", "blur", "mean", "gray", "noise"]
MASK_METHODS: tuple[str, ...] = get_args(MaskMethod)
OcclusionFill = Literal["mean", "gray", "blur"]
OCCLUSION_FILLS: tuple[str, ...] = get_args(OcclusionFill)

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Channel = Annotated[int, Field(strict=True)]
Name = Annotated[str, Field(min_length=1)]
Box = Annotated[list[Number], Field(min_length=4, max_length=4)]
Ellipse = Annotated[list[Number], Field(min_length=4, max_length=4)]
Point = Annotated[list[Number], Field(min_length=2, max_length=2)]
Polygon = Annotated[list[Point], Field(min_length=3)]


class RuleError(ValueError):
    """A rule spanning several fields failed; ``loc`` is relative to the model that raised it."""

    def __init__(self, message: str, *, loc: Loc = (), fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = tuple(loc)
        self.fix = fix


class RuleErrors(ValueError):
    """Several rules failed at once (pydantic keeps one error per validator: this carries all)."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class _Model(BaseModel):
    """Shared config: unknown keys are errors; ``in_`` is ``in`` in YAML and dumps."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    #: a case's fields that name an image, a region or a set: field -> the section defining it
    _references: ClassVar[dict[str, str]] = {
        "image": "images",
        "altered": "images",
        "control_altered": "images",
        "region": "regions",
        "control": "regions",
        "set": "sets",
        "altered_set": "sets",
        "control_altered_set": "sets",
    }


def _resolve(base_dir: Path, written: str) -> Path:
    """``written`` made absolute against ``base_dir`` and normalised (symlinks kept)."""
    return Path(os.path.normpath(base_dir / Path(written).expanduser()))


def _suggest(name: str, known: Sequence[str]) -> str:
    """A "(did you mean 'x'?)" hint when a close match exists, else an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


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


# ------------------------------------------------------------------------------- cases, checks


ImageName = Annotated[Name, Field(description="A name under images:.", examples=["face"])]
SetName = Annotated[
    Name,
    Field(description="A name under sets:: every image of the set is a case.", examples=["faces"]),
]
SET_HELP = "A name under sets: in place of 'image': every image of the set is a case."
ALTERED_SET_HELP = (
    "A set of the same images with the region removed, paired by file name (with 'set')."
)
CONTROL_ALTERED_SET_HELP = "A set of the images with the control region removed (with 'set')."
RegionName = Annotated[Name, Field(description="A name under regions:.", examples=["eyes"])]

ALTERED_HELP = "The same image with the region removed (a name under images:)."
MASK_WITH_HELP = "Remove the region from 'image' by this method instead of a paired image."
CONTROL_HELP = "A second region where the drop must stay small."
CONTROL_ALTERED_HELP = "The image with the control region removed (only with 'altered')."
RANK_REGION_HELP = "Rank channels by their mean inside this region instead of their peak."


def _source_rules(case: Any) -> None:
    """A case reads one image or one set, never both."""
    if case.image is not None and case.set is not None:
        raise RuleError(
            "give either 'image' or 'set', not both",
            loc=("set",),
            fix="image: names one image; set: makes every image of a set a case",
        )


def _set_pairing_rules(case: Any) -> None:
    """Sets pair with sets, images with images."""
    if case.set is None:
        for name in ("altered_set", "control_altered_set"):
            if getattr(case, name) is not None:
                raise RuleError(
                    f"'{name}' without 'set'",
                    loc=(name,),
                    fix=f"use set: <name> with {name}:, or altered: with image:",
                )
        return
    for name in ("altered", "control_altered"):
        if getattr(case, name) is not None:
            raise RuleError(
                f"'{name}' names one image, but the case is over the set '{case.set}'",
                loc=(name,),
                fix=f"use {name}_set: <a set of the altered images, paired by file name>",
            )


def _drop_case_rules(case: Any) -> None:
    """The pairing rules of a drop case (shared by DropCase and DropCheck's inline fields)."""
    _source_rules(case)
    _set_pairing_rules(case)
    if case.set is not None:
        _drop_set_rules(case)
        return
    if case.altered is None and case.mask_with is None:
        raise RuleError(
            "a drop case needs 'altered' or 'mask_with'",
            fix="add altered: <image name> (the same image with the region removed) "
            f"or mask_with: one of {', '.join(MASK_METHODS)}",
        )
    if case.altered is not None and case.mask_with is not None:
        raise RuleError(
            "give either 'altered' or 'mask_with', not both",
            loc=("mask_with",),
            fix="keep altered: for a paired image, or mask_with: to mask the region of 'image'",
        )
    if case.control_altered is not None and case.control is None:
        raise RuleError(
            "'control_altered' without 'control'",
            loc=("control_altered",),
            fix="add control: <region name>, or remove control_altered",
        )
    if case.control_altered is not None and case.mask_with is not None:
        raise RuleError(
            "'control_altered' cannot be used with 'mask_with'",
            loc=("control_altered",),
            fix="remove control_altered: with mask_with the control region is masked the same way",
        )
    if case.control is not None and case.altered is not None and case.control_altered is None:
        raise RuleError(
            "'control' with a paired 'altered' image needs 'control_altered'",
            loc=("control",),
            fix="add control_altered: <image name> (the same image with the control region "
            "removed), or use mask_with instead of altered",
        )


def _drop_set_rules(case: Any) -> None:
    """The pairing rules of a drop case over a set: altered_set or mask_with."""
    if case.altered_set is None and case.mask_with is None:
        raise RuleError(
            "a drop case over a set needs 'altered_set' or 'mask_with'",
            fix="add mask_with: one of "
            f"{', '.join(MASK_METHODS)}, or altered_set: <set of the altered images>",
        )
    if case.altered_set is not None and case.mask_with is not None:
        raise RuleError(
            "give either 'altered_set' or 'mask_with', not both",
            loc=("mask_with",),
            fix="keep altered_set: for paired images, or mask_with: to mask each image",
        )
    if case.control_altered_set is not None and case.control is None:
        raise RuleError(
            "'control_altered_set' without 'control'",
            loc=("control_altered_set",),
            fix="add control: <region name>, or remove control_altered_set",
        )
    if case.control_altered_set is not None and case.mask_with is not None:
        raise RuleError(
            "'control_altered_set' cannot be used with 'mask_with'",
            loc=("control_altered_set",),
            fix="remove control_altered_set: with mask_with the control is masked the same way",
        )
    if case.control is not None and case.altered_set and not case.control_altered_set:
        raise RuleError(
            "'control' with 'altered_set' needs 'control_altered_set'",
            loc=("control",),
            fix="add control_altered_set: <set of the images with the control removed>, "
            "or use mask_with instead of altered_set",
        )


class DropCase(_Model):
    """One image (and its altered twin) on which a drop check is measured."""

    image: ImageName | None = None
    set: SetName | None = Field(None, description=SET_HELP)
    altered: ImageName | None = Field(None, description=ALTERED_HELP)
    altered_set: SetName | None = Field(None, description=ALTERED_SET_HELP)
    mask_with: MaskMethod | None = Field(None, description=MASK_WITH_HELP)
    region: RegionName
    control: RegionName | None = Field(None, description=CONTROL_HELP)
    control_altered: ImageName | None = Field(None, description=CONTROL_ALTERED_HELP)
    control_altered_set: SetName | None = Field(None, description=CONTROL_ALTERED_SET_HELP)

    _shown: dict[str, Any] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check_pairing(self) -> DropCase:
        _needs_source(self)
        _drop_case_rules(self)
        return self


def _needs_source(case: Any) -> None:
    if case.image is None and case.set is None:
        raise RuleError(
            "missing required key 'image' (or 'set')",
            fix="add image: <name>, or set: <name> to make every image of a set a case",
        )


class _SourcedCase(_Model):
    """A case reading one image, or every image of a set."""

    image: ImageName | None = None
    set: SetName | None = Field(None, description=SET_HELP)

    _shown: dict[str, Any] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check_source(self) -> _SourcedCase:
        _needs_source(self)
        _source_rules(self)
        return self


class SelectiveCase(_SourcedCase):
    """One image and region on which selectivity is measured."""

    region: RegionName


class StrongestCase(_SourcedCase):
    """One image (optionally a region to rank by region mean) for the strongest-channel check."""

    region: RegionName | None = Field(None, description=RANK_REGION_HELP)


DEFAULT_CONFIDENCE = 0.95


class _Check(_Model):
    """A check whose case fields may be written inline or as a ``cases:`` list.

    Over a set (``set:``) the check is a claim about a population: its thresholds hold on the
    bounds of the mean's confidence interval, and the null thresholds may be given.
    """

    _case_type: ClassVar[type[_Model]]
    _required: ClassVar[tuple[str, ...]] = ("image", "region")

    confidence: Annotated[float, Field(strict=False, gt=0, lt=1)] | None = Field(
        None,
        description="Over a set: the two-sided confidence of the interval around the mean whose "
        "bound must clear the threshold (default 0.95).",
        examples=[0.95],
    )
    min_fraction: Annotated[float, Field(strict=False, ge=0, le=1)] | None = Field(
        None,
        description="Over a set: the least share of images on which the check holds alone.",
        examples=[0.8],
    )
    rank_at_most: Annotated[int, Field(strict=True, ge=1)] | None = Field(
        None,
        description="Over a set: the claimed channels' effect (mean drop minus control drop; "
        "the main number for other checks) ranks among the k largest of the layer.",
        examples=[3],
    )
    random_effect_at_most: Number | None = Field(
        None,
        description="Over a set: the same effect measured on random weights (same "
        "architecture, seeded) stays at most this.",
        examples=[0.1],
    )

    _set_case: Any = PrivateAttr(None)

    @property
    def set_case(self) -> Any:
        """The case over a set as written (before its images became cases), or None."""
        if self._set_case is not None:
            return self._set_case
        return next((c for c in self.cases if getattr(c, "set", None)), None)

    @property
    def set_name(self) -> str | None:
        """The set this check is over, or None for a check on single images."""
        case = self.set_case
        return None if case is None else case.set

    @property
    def level(self) -> float:
        """The interval's confidence (the default where none is given)."""
        return self.confidence if self.confidence is not None else DEFAULT_CONFIDENCE

    def _population_rules(self) -> None:
        population = ("confidence", "min_fraction", "rank_at_most", "random_effect_at_most")
        over_set = [c for c in self.cases if getattr(c, "set", None) is not None]
        if not over_set:
            for name in population:
                if getattr(self, name) is not None:
                    raise RuleError(
                        f"'{name}' is for checks over a set",
                        loc=(name,),
                        fix=f"write set: <name> in place of image:, or remove {name}",
                    )
            return
        if len(self.cases) > 1:
            raise RuleError(
                "a check over a set has one case",
                loc=("cases",),
                fix="write set: and its fields inline; check another set or image in another claim",
            )

    def _case_fields(self) -> tuple[str, ...]:
        return tuple(self._case_type.model_fields)

    def _normalise_cases(self) -> None:
        """Fold the inline case fields into ``cases`` so consumers only ever read ``cases``."""
        names = self._case_fields()
        given = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        cases_given = "cases" in self.model_fields_set
        if given and cases_given:
            raise RuleError(
                "give the case fields or 'cases:', not both",
                loc=("cases",),
                fix=f"move {', '.join(given)} into an entry of cases:, or remove cases:",
            )
        if cases_given:
            return
        for name in self._required:
            if name not in given and not (name == "image" and "set" in given):
                raise RuleError(
                    f"missing required key '{name}'",
                    fix=f"add {name}: <name>, or list the cases under cases:",
                )
        self.cases = [self._case_type.model_validate(given)]
        for name in names:
            setattr(self, name, None)

    def _normalise(self) -> None:
        self._normalise_cases()
        self._population_rules()

    def case_loc(self, index: int) -> Loc:
        """Where case ``index`` was written, relative to the check (for error messages)."""
        inline = set(self._case_fields()) & self.model_fields_set
        return () if inline else ("cases", index)


class DropCheck(_Check):
    """Region-masked activation drop: removing the region must silence the channel there."""

    _case_type: ClassVar[type[_Model]] = DropCase

    at_least: Number = Field(
        gt=0,
        description="Smallest relative drop (mean_in(image) - mean_in(altered)) / mean_in(image).",
        examples=[0.5],
    )
    control_at_most: Number | None = Field(
        None, description="Largest drop allowed on the control region.", examples=[0.3]
    )
    cases: list[DropCase] = Field(
        default_factory=list,
        min_length=1,
        description="Several cases; the check holds where every case holds.",
    )
    image: ImageName | None = None
    set: SetName | None = Field(None, description=SET_HELP)
    altered: ImageName | None = Field(None, description=ALTERED_HELP)
    altered_set: SetName | None = Field(None, description=ALTERED_SET_HELP)
    mask_with: MaskMethod | None = Field(None, description=MASK_WITH_HELP)
    region: RegionName | None = None
    control: RegionName | None = Field(None, description=CONTROL_HELP)
    control_altered: ImageName | None = Field(None, description=CONTROL_ALTERED_HELP)
    control_altered_set: SetName | None = Field(None, description=CONTROL_ALTERED_SET_HELP)

    @model_validator(mode="after")
    def _validate(self) -> DropCheck:
        if any(getattr(self, n) is not None for n in self._case_fields()):
            _drop_case_rules(self)
        self._normalise()
        has_control = any(c.control is not None for c in self.cases)
        if has_control and self.control_at_most is None:
            raise RuleError(
                "missing required key 'control_at_most' (a control region is given)",
                fix="add control_at_most: <largest drop allowed on the control>, e.g. 0.3",
            )
        if not has_control and self.control_at_most is not None:
            raise RuleError(
                "'control_at_most' without a control region",
                loc=("control_at_most",),
                fix="add control: <region name>, or remove control_at_most",
            )
        return self


class SelectiveCheck(_Check):
    """The channel is much stronger inside the region than outside it."""

    _case_type: ClassVar[type[_Model]] = SelectiveCase

    ratio_at_least: Number | None = Field(
        None, gt=0, description="Smallest mean_in / mean_out of max(A, 0).", examples=[2.0]
    )
    iou_at_least: Number | None = Field(
        None,
        gt=0,
        le=1,
        description="Smallest IoU of the map thresholded at its quantile with the region.",
        examples=[0.2],
    )
    quantile: Number = Field(
        0.99, gt=0, lt=1, description="Threshold quantile for iou_at_least.", examples=[0.99]
    )
    cases: list[SelectiveCase] = Field(
        default_factory=list,
        min_length=1,
        description="Several cases; the check holds where every case holds.",
    )
    image: ImageName | None = None
    set: SetName | None = Field(None, description=SET_HELP)
    region: RegionName | None = None

    @model_validator(mode="after")
    def _validate(self) -> SelectiveCheck:
        if (self.ratio_at_least is None) == (self.iou_at_least is None):
            both = self.ratio_at_least is not None
            raise RuleError(
                "give exactly one of 'ratio_at_least' or 'iou_at_least'",
                loc=("iou_at_least",) if both else (),
                fix="remove one of them" if both else "add ratio_at_least: 2 or iou_at_least: 0.2",
            )
        self._normalise()
        return self


class StrongestCheck(_Check):
    """The layer's strongest channel is one of ``in`` (or the claimed channels are in its top k)."""

    _case_type: ClassVar[type[_Model]] = StrongestCase
    _required: ClassVar[tuple[str, ...]] = ("image",)

    in_: list[Channel] | None = Field(
        None,
        alias="in",
        min_length=1,
        description="Channels (in the file's index_base) one of which must be the strongest.",
        examples=[[36]],
    )
    top_k: Annotated[int, Field(strict=True, ge=1)] | None = Field(
        None, description="Every claimed channel is among the k strongest.", examples=[3]
    )
    cases: list[StrongestCase] = Field(
        default_factory=list,
        min_length=1,
        description="Several cases; the check holds where every case holds.",
    )
    image: ImageName | None = None
    set: SetName | None = Field(None, description=SET_HELP)
    region: RegionName | None = Field(None, description=RANK_REGION_HELP)

    _index_base: int = PrivateAttr(0)

    @model_validator(mode="after")
    def _validate(self) -> StrongestCheck:
        if (self.in_ is None) == (self.top_k is None):
            both = self.in_ is not None
            raise RuleError(
                "give exactly one of 'in' or 'top_k'",
                loc=("top_k",) if both else (),
                fix="remove one of them" if both else "add in: [<channel>] or top_k: 3",
            )
        self._normalise()
        return self

    @property
    def in_labels(self) -> list[int] | None:
        """The ``in`` channels as written in the file (in its index_base)."""
        return None if self.in_ is None else [c + self._index_base for c in self.in_]

    @field_serializer("in_")
    def _dump_in(self, value: list[int] | None) -> list[int] | None:
        return self.in_labels


class OcclusionCase(_SourcedCase):
    """One image and the region whose mean the occluding patch should move most."""

    region: RegionName


class OcclusionCheck(_Check):
    """Slide a patch over the image: the channel's region mean must react most to the region.

    The sensitivity map averages, per pixel, the drops of the region mean under the patches
    covering it (Captum's Occlusion). Patch and stride are pixels of the network's input. With
    both peak_in_region and iou_at_least, both must hold.
    """

    _case_type: ClassVar[type[_Model]] = OcclusionCase

    patch: Annotated[int, Field(strict=True, ge=1)] = Field(
        24, description="Side of the square patch, in pixels of the network's input.", examples=[24]
    )
    stride: Annotated[int, Field(strict=True, ge=1)] | None = Field(
        None,
        description="Step between patch positions (at most the patch); default half the patch.",
        examples=[12],
    )
    fill: OcclusionFill = Field(
        "mean", description="What covers the patch: the image's mean colour, gray, or a blur."
    )
    peak_in_region: Literal[True] | None = Field(
        None, description="The map's peak lies inside the region.", examples=[True]
    )
    iou_at_least: Number | None = Field(
        None,
        gt=0,
        le=1,
        description="Smallest IoU of the map thresholded at its quantile with the region.",
        examples=[0.3],
    )
    quantile: Number = Field(
        0.9, gt=0, lt=1, description="Threshold quantile for iou_at_least.", examples=[0.9]
    )
    cases: list[OcclusionCase] = Field(
        default_factory=list,
        min_length=1,
        description="Several cases; the check holds where every case holds.",
    )
    image: ImageName | None = None
    set: SetName | None = Field(None, description=SET_HELP)
    region: RegionName | None = None

    @model_validator(mode="after")
    def _validate(self) -> OcclusionCheck:
        if self.peak_in_region is None and self.iou_at_least is None:
            raise RuleError(
                "give 'peak_in_region: true', 'iou_at_least', or both",
                fix="add peak_in_region: true or iou_at_least: 0.3",
            )
        if self.stride is not None and self.stride > self.patch:
            raise RuleError(
                f"stride {self.stride} is larger than the patch {self.patch}",
                loc=("stride",),
                fix="use a stride of at most the patch, so that every pixel is covered",
            )
        self._normalise()
        return self

    @property
    def step(self) -> int:
        """The stride, or half the patch where none is given."""
        return self.stride if self.stride is not None else max(1, self.patch // 2)


class CompareCase(_SourcedCase):
    """Two images (or two sets paired by file name) and the region whose mean is compared."""

    _references: ClassVar[dict[str, str]] = {
        "image": "images",
        "other": "images",
        "region": "regions",
        "set": "sets",
        "other_set": "sets",
    }

    other: ImageName | None = Field(
        None, description="The image the channel must be weaker on (a name under images:)."
    )
    other_set: SetName | None = Field(
        None, description="With 'set': the set of the other images, paired by file name."
    )
    region: RegionName

    @model_validator(mode="after")
    def _check_other(self) -> CompareCase:
        _compare_rules(self)
        return self


def _compare_rules(case: Any) -> None:
    """An image compares with an image, a set with a set (shared by the inline fields)."""
    if case.set is None and case.other_set is not None:
        raise RuleError(
            "'other_set' without 'set'",
            loc=("other_set",),
            fix="use set: <name> with other_set:, or other: with image:",
        )
    if case.set is not None and case.other is not None:
        raise RuleError(
            f"'other' names one image, but the case is over the set '{case.set}'",
            loc=("other",),
            fix="use other_set: <a set of the other images, paired by file name>",
        )
    if case.other is None and case.other_set is None:
        raise RuleError(
            "missing required key 'other'" if case.set is None else "missing 'other_set'",
            fix="add other: <image name> (the image the channel must be weaker on)"
            if case.set is None
            else "add other_set: <set of the other images, paired by file name>",
        )


class CompareCheck(_Check):
    """The channel's mean in the region is higher on 'image' than on 'other', by a ratio."""

    _case_type: ClassVar[type[_Model]] = CompareCase

    ratio_at_least: Number = Field(
        gt=0,
        description="Smallest mean_in(image) / mean_in(other) of max(A, 0) in the region.",
        examples=[1.5],
    )
    cases: list[CompareCase] = Field(
        default_factory=list,
        min_length=1,
        description="Several cases; the check holds where every case holds.",
    )
    image: ImageName | None = None
    set: SetName | None = Field(None, description=SET_HELP)
    other: ImageName | None = Field(None, description="The image the channel must be weaker on.")
    other_set: SetName | None = Field(
        None, description="With 'set': the set of the other images, paired by file name."
    )
    region: RegionName | None = None

    @model_validator(mode="after")
    def _validate(self) -> CompareCheck:
        if any(getattr(self, n) is not None for n in self._case_fields()):
            _source_rules(self)
            _compare_rules(self)
        self._normalise()
        return self


# ------------------------------------------------------------------------------------- claim

#: The check kinds of the spec language, in the order a claim's checks run: each a field of
#: ``Claim`` and its model (the measuring side is registered in :mod:`probecheck.checks`).
CHECK_MODELS: dict[str, type[_Check]] = {
    "drop": DropCheck,
    "selective": SelectiveCheck,
    "strongest": StrongestCheck,
    "occlusion": OcclusionCheck,
    "compare": CompareCheck,
}
CHECK_NAMES = tuple(CHECK_MODELS)
AnyCheck = DropCheck | SelectiveCheck | StrongestCheck | OcclusionCheck | CompareCheck


class Claim(_Model):
    """One assertion about some channels of one layer, checked by one or more checks."""

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
    drop: DropCheck | None = Field(
        None,
        description="Removing the region must silence the channels there.",
        examples=[{"image": "face", "altered": "face_no_eyes", "region": "eyes", "at_least": 0.5}],
    )
    selective: SelectiveCheck | None = Field(
        None,
        description="The channels respond inside the region much more than outside it.",
        examples=[{"image": "face", "region": "eyes", "ratio_at_least": 2.0}],
    )
    strongest: StrongestCheck | None = Field(
        None,
        description="The layer's strongest channel is one of 'in' (or channels are in top_k).",
        examples=[{"image": "face", "in": [36]}],
    )
    occlusion: OcclusionCheck | None = Field(
        None,
        description="Sliding a patch over the image moves the channels' region mean most "
        "inside the region.",
        examples=[{"image": "face", "region": "eyes", "patch": 24, "peak_in_region": True}],
    )
    compare: CompareCheck | None = Field(
        None,
        description="The channels' mean in the region is higher on one image than on another.",
        examples=[
            {"image": "face", "other": "face_no_eyes", "region": "eyes", "ratio_at_least": 2}
        ],
    )

    _line: int = PrivateAttr(0)
    _index_base: int = PrivateAttr(0)

    @model_validator(mode="after")
    def _validate(self) -> Claim:
        if not self.checks:
            raise RuleError(
                "a claim needs at least one check",
                fix=f"add {', '.join(n + ':' for n in CHECK_NAMES[:-1])} or "
                f"{CHECK_NAMES[-1]}: to this claim",
            )
        only_strongest_in = (
            list(self.checks) == ["strongest"]
            and self.strongest is not None
            and self.strongest.in_ is not None
        )
        if self.channels is None and not only_strongest_in:
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
        if claim.strongest is not None and claim.strongest.in_ is not None:
            loc = ("claims", i, "strongest", "in")
            problems += _channel_list_problems(claim.strongest.in_, loc, index_base)
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
            if claim.strongest is not None:
                claim.strongest._index_base = base
                if claim.strongest.in_ is not None:
                    claim.strongest.in_ = [c - base for c in claim.strongest.in_]

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
