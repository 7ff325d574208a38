"""``drop``: removing the region (a paired altered image, or masking) silences the channel there.

The case names the image and how the region is removed from it (``altered``, ``mask_with``), and
optionally a control region that must keep its activation (``control``, ``control_altered``);
over a set the paired images are sets (``altered_set``, ``control_altered_set``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, PrivateAttr, model_validator

from probecheck.spec.base import Number, RuleError, _Model
from probecheck.spec.kinds.base import (
    SET_HELP,
    ImageName,
    RegionName,
    SetName,
    SpecKind,
    _Check,
    _needs_source,
    _source_rules,
)

__all__ = ["KIND", "MASK_METHODS", "DropCase", "DropCheck"]

MaskMethod = Literal["inpaint", "blur", "mean", "gray", "noise"]
MASK_METHODS: tuple[str, ...] = get_args(MaskMethod)

ALTERED_SET_HELP = (
    "A set of the same images with the region removed, paired by file name (with 'set')."
)
CONTROL_ALTERED_SET_HELP = "A set of the images with the control region removed (with 'set')."
ALTERED_HELP = "The same image with the region removed (a name under images:)."
MASK_WITH_HELP = "Remove the region from 'image' by this method instead of a paired image."
CONTROL_HELP = "A second region where the drop must stay small."
CONTROL_ALTERED_HELP = "The image with the control region removed (only with 'altered')."


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


KIND = SpecKind(
    name="drop",
    model=DropCheck,
    description="Removing the region must silence the channels there.",
    example={"image": "face", "altered": "face_no_eyes", "region": "eyes", "at_least": 0.5},
)
