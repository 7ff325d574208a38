"""``selective``: the channel responds inside the region much more than outside it (a ratio of
means, or the IoU of its thresholded map with the region)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from probecheck.spec.base import Number, RuleError, _Model
from probecheck.spec.kinds.base import (
    SET_HELP,
    ImageName,
    RegionName,
    SetName,
    SpecKind,
    _Check,
    _SourcedCase,
)

__all__ = ["KIND", "SelectiveCase", "SelectiveCheck"]


class SelectiveCase(_SourcedCase):
    """One image and region on which selectivity is measured."""

    region: RegionName


class SelectiveCheck(_Check):
    """The channel is much stronger inside the region than outside it."""

    _case_type: ClassVar[type[_Model]] = SelectiveCase

    ratio_at_least: Number | None = Field(
        None,
        gt=1,
        description="Smallest mean_in / mean_out of max(A, 0), above 1: a ratio of 1 holds for "
        "a channel as strong outside the region as inside.",
        examples=[2.0],
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


KIND = SpecKind(
    name="selective",
    model=SelectiveCheck,
    description="The channels respond inside the region much more than outside it.",
    example={"image": "face", "region": "eyes", "ratio_at_least": 2.0},
)
