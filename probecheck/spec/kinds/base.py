"""What every check kind's spec models share: the case and check bases, the source rules, and
:class:`SpecKind`, the record by which a kind's module declares itself to the spec language.

A kind's case model reads one image (``image``) or every image of a set (``set``); its check model
takes the case fields inline or as a ``cases:`` list, and over a set the population fields. No
torch, no numpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import Field, PrivateAttr, model_validator

from probecheck.spec.base import Loc, Name, Number, RuleError, _Model

__all__ = ["DEFAULT_CONFIDENCE", "SpecKind"]

ImageName = Annotated[Name, Field(description="A name under images:.", examples=["face"])]
SetName = Annotated[
    Name,
    Field(description="A name under sets:: every image of the set is a case.", examples=["faces"]),
]
SET_HELP = "A name under sets: in place of 'image': every image of the set is a case."
RegionName = Annotated[Name, Field(description="A name under regions:.", examples=["eyes"])]


def _source_rules(case: Any) -> None:
    """A case reads one image or one set, never both."""
    if case.image is not None and case.set is not None:
        raise RuleError(
            "give either 'image' or 'set', not both",
            loc=("set",),
            fix="image: names one image; set: makes every image of a set a case",
        )


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
    min_fraction: Annotated[float, Field(strict=False, gt=0, le=1)] | None = Field(
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

    # the channel numbers a check names itself (strongest's ``in``) -------------------------------

    @property
    def uses_claim_channels(self) -> bool:
        """Whether the check reads the claim's ``channels`` (a claim whose checks all name
        their own channels needs none)."""
        return True

    def channel_lists(self) -> dict[str, list[int]]:
        """Channel numbers the check names itself, by their key as written (``in``): checked
        like the claim's and made 0-based with them."""
        return {}

    def count_from(self, index_base: int) -> None:
        """Make the channel numbers of :meth:`channel_lists` 0-based (the file counts from
        ``index_base``); a check naming none has nothing to do."""


@dataclass(frozen=True)
class SpecKind:
    """A check kind as the spec language knows it: its key under a claim, the check model its
    value validates to, and what the claim's field says of it (the JSON Schema shows both)."""

    #: its key under a claim in the YAML (``drop:``), and the name of the measuring side's kind
    name: str
    #: the check model (a subclass of ``_Check``, with its case model as ``_case_type``)
    model: type[_Check]
    #: the claim field's description and example
    description: str
    example: dict[str, Any]

    def claim_field(self) -> tuple[Any, Any]:
        """The optional field of ``Claim`` that holds a check of this kind."""
        return self.model | None, Field(None, description=self.description, examples=[self.example])
