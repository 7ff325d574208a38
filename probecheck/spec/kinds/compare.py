"""``compare``: the channel's mean in the region is higher on one image than on another, by a
ratio (over a set, ``other_set`` pairs each image with the image of the same file name)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from probecheck.spec.base import Number, RuleError, _Model
from probecheck.spec.kinds.base import (
    SET_HELP,
    ImageName,
    RegionName,
    SetName,
    SpecKind,
    _Check,
    _source_rules,
    _SourcedCase,
)

__all__ = ["KIND", "CompareCase", "CompareCheck"]


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
        gt=1,
        description="Smallest mean_in(image) / mean_in(other) of max(A, 0) in the region, above "
        "1: a ratio of 1 holds for a channel as strong on 'other'.",
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


KIND = SpecKind(
    name="compare",
    model=CompareCheck,
    description="The channels' mean in the region is higher on one image than on another.",
    example={"image": "face", "other": "face_no_eyes", "region": "eyes", "ratio_at_least": 2},
)
