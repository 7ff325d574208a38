"""What a case's tile row shows, as data (checks/tile.py and each kind's ``tile_row``): the
pictures and their words, before anything is drawn."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from probecheck.checks import registry
from probecheck.checks.tile import (
    ChannelMap,
    Inset,
    Judged,
    OcclusionMap,
    Panel,
    Photo,
    Verdict,
    Words,
    alternative_panels,
    baseline_groups,
    default_row,
    pictured_channels,
)
from probecheck.results import CaseEvidence, CaseResult, ChannelResult, CheckResult


def _evidence(paired: bool = False, sweep: bool = False) -> CaseEvidence:
    rng = np.random.default_rng(0)
    maps = rng.random((8, 5, 5)).astype(np.float32)
    region = np.zeros((32, 32), bool)
    region[4:12, 4:20] = True
    return CaseEvidence(
        image=np.zeros((32, 32, 3), np.uint8),
        maps=maps,
        region=region,
        altered=np.zeros((32, 32, 3), np.uint8) if paired else None,
        altered_maps=maps / 2 if paired else None,
        occlusion=SimpleNamespace(drops=np.zeros((8, 2, 2))) if sweep else None,
    )


def _case(evidence: CaseEvidence, passed: bool = False, **values: float) -> CaseResult:
    inputs = {"image": "face", "region": "eyes"}
    if evidence.altered is not None:
        inputs["other"] = "face_no_eyes"
    channel = ChannelResult(2, 3, passed, dict(values))
    return CaseResult(inputs, [channel], {}, passed, evidence)


def _check(kind: str, case: CaseResult, thresholds: dict, alternatives=()) -> CheckResult:
    return CheckResult(kind, "all", thresholds, [case], case.passed, list(alternatives))


def test_the_default_row_is_the_image_then_each_claimed_channels_map() -> None:
    case = _case(_evidence(), rank=2.0)
    groups = default_row(_check("brighter", case, {}), case, case.evidence, 1)
    assert [[type(p.picture) for p in group] for group in groups] == [[Photo, Inset], [ChannelMap]]
    assert groups[1][0].picture == ChannelMap(2)
    assert groups[1][0].lines == ["ch 3", "rank 2"]
    assert pictured_channels(groups) == {2}


def test_compare_shows_both_images_and_judges_the_ratio_on_the_other() -> None:
    case = _case(_evidence(paired=True), ratio=1.2, mean_in=2.0, mean_in_other=1.0)
    check = _check("compare", case, {"ratio_at_least": 2.0})
    groups = registry.kind("compare").tile_row(check, case, case.evidence, 1)
    assert [p.picture for p in groups[0]] == [Photo("image"), Inset(), Photo("altered")]
    on_image, on_other = groups[1]
    joint = (("image", 2), ("altered", 2))
    assert on_image.picture == ChannelMap(2, "image", joint)
    assert on_other.picture == ChannelMap(2, "altered", joint)
    assert on_image.lines[0] == (Words("ch 3", "fail"),)
    assert Judged("ratio", 1.2, 2.0, True) in on_other.lines


def test_strongest_scales_the_claimed_and_the_strongest_channel_together() -> None:
    ev = CaseEvidence(image=np.zeros((32, 32, 3), np.uint8), maps=np.ones((8, 5, 5)))
    claimed = ChannelResult(2, 3, False, {"rank": 4.0, "peak": 1.0})
    case = CaseResult({"image": "face"}, [claimed], {"strongest": 6.0}, False, ev)
    groups = registry.kind("strongest").tile_row(
        _check("strongest", case, {"in": [3]}), case, ev, 1
    )
    claimed, strongest = groups[1]
    joint = (("image", 2), ("image", 5))
    assert (claimed.picture, strongest.picture) == (
        ChannelMap(2, "image", joint),
        ChannelMap(5, "image", joint),
    )
    assert strongest.lines[0] == (Words("strongest: ch 6"),)
    assert claimed.lines[2] == Verdict("rank 4 ", False)
    assert pictured_channels(groups) == {2, 5}


def test_occlusion_draws_the_sweep_where_it_is_kept_and_the_map_otherwise() -> None:
    thresholds = {"peak_in_region": True, "patch": 24, "stride": 12, "fill": "mean"}
    for sweep, picture in ((True, OcclusionMap(2)), (False, ChannelMap(2))):
        case = _case(_evidence(sweep=sweep), peak_in=0.0)
        groups = registry.kind("occlusion").tile_row(
            _check("occlusion", case, thresholds), case, case.evidence, 1
        )
        assert groups[0][0].lines[-1] == "patch 24/12 px, mean"
        assert groups[1] == [
            Panel(picture, [(Words("ch 3 · occlusion map", "fail"),), "drop in nan · out nan",
                            Verdict("peak outside ", False)])
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("evidence", "pictures"),
    [
        (_evidence(), [ChannelMap(4)]),
        (_evidence(sweep=True), [OcclusionMap(4)]),
        (
            _evidence(paired=True),
            [
                ChannelMap(4, "image", (("image", 4), ("altered", 4))),
                ChannelMap(4, "altered", (("image", 4), ("altered", 4))),
            ],
        ),
    ],
)
def test_alternatives_are_pictured_as_the_evidence_allows(evidence, pictures) -> None:
    case = _case(evidence)
    check = _check("any", case, {}, alternatives=[3, 5, 99, 7, 8])
    panels = alternative_panels(check, case, 1, shown={3})
    # 3 is shown already, 99 is beyond the layer; at most three are looked at
    assert [p.picture for p in panels] == pictures
    assert panels[0].lines[0] == (Words("would pass: ch 5", "pass"),)
    passing = _case(evidence, passed=True)
    assert alternative_panels(_check("any", passing, {}, [5]), passing, 1, set()) == []


def test_the_baseline_models_maps_share_one_scale_per_channel() -> None:
    now = _case(_evidence(paired=True), ratio=0.5)
    then = _case(_evidence(paired=True), ratio=4.0)
    (group,) = baseline_groups(now, then)
    joint = (("image", 2), ("altered", 2))
    assert [p.picture for p in group] == [
        ChannelMap(2, "image", joint),
        ChannelMap(2, "altered", joint),
    ]
    assert group[0].lines[0] == (Words("baseline model · ch 3", "baseline"),)
    assert (Words("ratio 4 ", "baseline"), Words("→ 0.5", "fail")) in group[0].lines
    then.evidence = None
    assert baseline_groups(now, then) == []


@pytest.mark.parametrize("variant", ["plain", "paired", "sweep"])
@pytest.mark.parametrize("name", list(registry.KINDS))
def test_every_kind_declares_only_maps_its_evidence_has(name: str, variant: str) -> None:
    """Whatever the evidence holds (a paired image or not, a sweep or not), every image and map
    a kind's row names is in it."""
    ev = _evidence(paired=variant == "paired", sweep=variant == "sweep")
    case = _case(ev)
    groups = registry.kind(name).tile_row(_check(name, case, {}), case, ev, 1)
    fields = {"image": "maps", "altered": "altered_maps", "control_altered": "control_altered_maps"}
    for panel in (p for group in groups for p in group):
        picture = panel.picture
        if isinstance(picture, ChannelMap):
            for source, channel in (*picture.scale, (picture.on, picture.channel)):
                assert getattr(ev, fields[source]) is not None
                assert 0 <= channel < ev.maps.shape[0]
        if isinstance(picture, Photo):
            assert getattr(ev, picture.of) is not None
        if isinstance(picture, OcclusionMap):
            assert ev.occlusion is not None
