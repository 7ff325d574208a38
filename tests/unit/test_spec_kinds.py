"""The check kinds of the spec language (spec/kinds/): one module each, listed once in SPEC_KINDS,
which gives Claim its fields, the schema its entries and the file rules a kind's own channels."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, get_args

import pytest
from pydantic import Field, ValidationError, model_validator

from probecheck.spec import json_schema, models
from probecheck.spec.base import Channel, _Model
from probecheck.spec.kinds import CHECK_MODELS, CHECK_NAMES, SPEC_KINDS
from probecheck.spec.kinds.base import RegionName, SpecKind, _Check, _SourcedCase


def test_every_kind_is_a_field_of_claim_in_the_order_checks_run() -> None:
    fields = models.Claim.model_fields
    assert list(fields)[-len(SPEC_KINDS) :] == list(CHECK_NAMES) == list(CHECK_MODELS)
    for kind in SPEC_KINDS:
        assert kind.model in get_args(fields[kind.name].annotation)
        assert fields[kind.name].description == kind.description
        assert fields[kind.name].examples == [kind.example]
        kind.model.model_validate(kind.example)  # the example the schema shows is valid


def test_the_schema_lists_each_kind_under_a_claim() -> None:
    claim = json_schema()["$defs"]["Claim"]
    assert claim["description"].startswith("One assertion about some channels")
    for kind in SPEC_KINDS:
        assert claim["properties"][kind.name]["description"] == kind.description
        assert kind.model.__name__ in json_schema()["$defs"]


# a kind added by one module: the toy "brighter" check, with channels of its own ---------------


class BrighterCase(_SourcedCase):
    region: RegionName


class BrighterCheck(_Check):
    """The channels in ``than`` are weaker in the region than the claimed ones."""

    _case_type: ClassVar[type[_Model]] = BrighterCase
    than: Annotated[list[Channel], Field(min_length=1)]
    cases: list[BrighterCase] = Field(default_factory=list, min_length=1)
    image: str | None = None
    set: str | None = None
    region: str | None = None

    @model_validator(mode="after")
    def _validate(self) -> BrighterCheck:
        self._normalise()
        return self

    def channel_lists(self) -> dict[str, list[int]]:
        return {"than": self.than}

    def count_from(self, index_base: int) -> None:
        self.than = [c - index_base for c in self.than]


BRIGHTER = SpecKind(
    name="brighter",
    model=BrighterCheck,
    description="The claimed channels are brighter in the region than others.",
    example={"image": "face", "region": "eyes", "than": [3]},
)


@pytest.fixture
def with_brighter(monkeypatch: pytest.MonkeyPatch) -> type[Any]:
    """Claim and the file rules as they are with the toy kind listed after the others."""
    kinds = (*SPEC_KINDS, BRIGHTER)
    monkeypatch.setattr(models, "SPEC_KINDS", kinds)
    monkeypatch.setattr(models, "CHECK_NAMES", tuple(k.name for k in kinds))
    claim = models._claim_model()
    monkeypatch.setattr(models, "Claim", claim)
    return claim


def test_a_kind_listed_is_a_claim_field_with_its_rules_and_own_channels(with_brighter) -> None:
    Claim = with_brighter
    assert "brighter" in Claim.model_json_schema()["properties"]
    raw = {"id": "c", "layer": "conv1", "channels": [1], "brighter": BRIGHTER.example}
    claim = Claim.model_validate(raw)
    assert list(claim.checks) == ["brighter"]
    assert claim.brighter.cases[0].region == "eyes"

    assert models.file_rule_problems([(0, claim)], {"face"}, {"eyes"}, index_base=1) == []
    raw["brighter"] = {**BRIGHTER.example, "than": [0]}
    low = models.file_rule_problems(
        [(0, Claim.model_validate(raw))], {"face"}, {"eyes"}, index_base=1
    )
    assert [(p.loc, p.message) for p in low] == [
        (("claims", 0, "brighter", "than", 0), "channel 0 is below index_base 1")
    ]
    with pytest.raises(ValidationError, match="missing required key 'image'"):
        Claim.model_validate({**raw, "brighter": {"region": "eyes", "than": [3]}})


def test_channel_lists_are_made_zero_based_with_the_claims(with_brighter) -> None:
    raw = {"id": "c", "layer": "conv1", "channels": [2], "brighter": BRIGHTER.example}
    claim = with_brighter.model_validate(raw)
    models.Spec.model_construct(index_base=1, claims=[claim])._to_zero_based()
    assert claim.channels == [1] and claim.brighter.than == [2]
    assert claim.channel_labels == [2]


def test_only_checks_that_name_their_own_channels_spare_the_claims() -> None:
    """strongest with ``in`` names its channels; with ``top_k`` it ranks the claim's."""
    base = {"id": "c", "layer": "conv1"}
    named = models.Claim.model_validate({**base, "strongest": {"image": "face", "in": [3]}})
    assert named.channels is None
    assert named.strongest.channel_lists() == {"in": [3]}
    with pytest.raises(ValidationError, match="missing required key 'channels'"):
        models.Claim.model_validate({**base, "strongest": {"image": "face", "top_k": 3}})
    with pytest.raises(ValidationError, match="missing required key 'channels'"):
        models.Claim.model_validate(
            {
                **base,
                "strongest": {"image": "face", "in": [3]},
                "selective": {"image": "face", "region": "eyes", "ratio_at_least": 2},
            }
        )


# thresholds a check cannot fail, or cannot pass, are refused at their line --------------------


@pytest.mark.parametrize(
    ("kind", "fields", "key", "bound"),
    [
        # a ratio of 1 or less holds for a channel as strong outside (or on other) as inside
        ("selective", {"region": "eyes", "ratio_at_least": 1}, "ratio_at_least", {"gt": 1}),
        ("selective", {"region": "eyes", "ratio_at_least": 0.5}, "ratio_at_least", {"gt": 1}),
        (
            "compare",
            {"other": "b", "region": "eyes", "ratio_at_least": 1},
            "ratio_at_least",
            {"gt": 1},
        ),
        (
            "compare",
            {"other": "b", "region": "eyes", "ratio_at_least": 0.2},
            "ratio_at_least",
            {"gt": 1},
        ),
    ],
)
def test_a_threshold_that_decides_nothing_is_refused_at_its_key(
    kind: str, fields: dict[str, Any], key: str, bound: dict[str, float]
) -> None:
    with pytest.raises(ValidationError) as raised:
        CHECK_MODELS[kind].model_validate({"image": "a", **fields})
    (error,) = raised.value.errors()
    assert error["loc"] == (key,) and error["ctx"] == bound, error
    # the user reads why at the key's line: the field's description says it
    assert "1" in (CHECK_MODELS[kind].model_fields[key].description or "")


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("selective", {"region": "eyes", "ratio_at_least": 1.01}),
        ("compare", {"other": "b", "region": "eyes", "ratio_at_least": 1.5}),
    ],
)
def test_thresholds_just_inside_their_range_are_read(kind: str, fields: dict[str, Any]) -> None:
    CHECK_MODELS[kind].model_validate({"image": "a", **fields})
