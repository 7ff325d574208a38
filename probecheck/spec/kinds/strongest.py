"""``strongest``: the layer's strongest channel is one of ``in`` (or the claimed channels are among
its ``top_k``), by peak or by mean in a region.

With ``in`` the check names its own channels: a claim whose only check it is needs no
``channels``, and the ``in`` numbers are checked and counted from the file's index_base like them.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, PrivateAttr, field_serializer, model_validator

from probecheck.spec.base import Channel, RuleError, _Model
from probecheck.spec.kinds.base import (
    SET_HELP,
    ImageName,
    RegionName,
    SetName,
    SpecKind,
    _Check,
    _SourcedCase,
)

__all__ = ["KIND", "StrongestCase", "StrongestCheck"]

RANK_REGION_HELP = "Rank channels by their mean inside this region instead of their peak."


class StrongestCase(_SourcedCase):
    """One image (optionally a region to rank by region mean) for the strongest-channel check."""

    region: RegionName | None = Field(None, description=RANK_REGION_HELP)


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

    @property
    def uses_claim_channels(self) -> bool:
        """With ``in`` the check names its own channels; with ``top_k`` it ranks the claim's."""
        return self.in_ is None

    def channel_lists(self) -> dict[str, list[int]]:
        return {} if self.in_ is None else {"in": self.in_}

    def count_from(self, index_base: int) -> None:
        self._index_base = index_base
        if self.in_ is not None:
            self.in_ = [c - index_base for c in self.in_]


KIND = SpecKind(
    name="strongest",
    model=StrongestCheck,
    description="The layer's strongest channel is one of 'in' (or channels are in top_k).",
    example={"image": "face", "in": [36]},
)
