"""``occlusion``: sliding a patch over the image moves the channel's region mean most inside the
region (the sensitivity map's peak lies in it, or its top quantile overlaps it)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

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

__all__ = ["KIND", "OCCLUSION_FILLS", "OcclusionCase", "OcclusionCheck"]

OcclusionFill = Literal["mean", "gray", "blur"]
OCCLUSION_FILLS: tuple[str, ...] = get_args(OcclusionFill)


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
        return self.stride if self.stride is not None else default_stride(self.patch)


def default_stride(patch: int) -> int:
    """Half the patch, so neighbouring patches overlap by half: the occlusion check's default
    and `probecheck occlusion`'s."""
    return max(1, patch // 2)


KIND = SpecKind(
    name="occlusion",
    model=OcclusionCheck,
    description="Sliding a patch over the image moves the channels' region mean most "
    "inside the region.",
    example={"image": "face", "region": "eyes", "patch": 24, "peak_in_region": True},
)
