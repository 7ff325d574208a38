"""Claims evaluated end to end on a network whose activations are known by arithmetic.

The network is one 1×1 convolution with identity weights on 4×4 inputs, so the activation map of
channel c is the image's colour channel c (0..255, no normalisation); the images are 4×4 too, so
each pixel is one activation cell.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from probecheck.checks import _combine, evaluate_claim  # noqa: E402
from probecheck.errors import ProbecheckError  # noqa: E402
from probecheck.probe import Probe  # noqa: E402
from probecheck.spec import load_spec  # noqa: E402
from probecheck.zoo.builders import Built, ModelIdentity  # noqa: E402
from probecheck.zoo.preprocess import Preprocessing  # noqa: E402


@pytest.fixture(scope="module")
def identity_probe() -> Probe:
    conv = torch.nn.Conv2d(3, 3, kernel_size=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
    model = torch.nn.Sequential(conv)
    prep = Preprocessing(size=(4, 4), pixel_scale=255.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return Probe(Built(model, prep, ModelIdentity("identity", "hand-made", "0" * 64)))


def png(path: Path, red: list[list[int]], green: int = 0, blue: int = 0) -> str:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = red
    rgb[..., 1] = green
    rgb[..., 2] = blue
    Image.fromarray(rgb).save(path)
    return path.name


def spec_file(tmp_path: Path, claims: str) -> Path:
    # region "tl": the top-left 2×2 cells; "br": the bottom-right 2×2 cells
    png(
        tmp_path / "a.png",
        [[100, 100, 10, 10], [100, 100, 10, 10], [10, 10, 40, 40], [10, 10, 40, 40]],
    )
    png(
        tmp_path / "b.png", [[25, 25, 10, 10], [25, 25, 10, 10], [10, 10, 40, 40], [10, 10, 40, 40]]
    )
    png(
        tmp_path / "c.png",
        [[100, 100, 10, 10], [100, 100, 10, 10], [10, 10, 30, 30], [10, 10, 30, 30]],
    )
    text = f"""
model: {{arch: identity, weights: hand-made}}
images: {{a: a.png, b: b.png, c: c.png}}
regions:
  tl: {{boxes: [[0, 0, 2, 2]]}}
  br: {{boxes: [[2, 2, 4, 4]]}}
claims:
{claims}"""
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def run_claim(identity_probe: Probe, tmp_path: Path, claim: str):
    spec = load_spec(spec_file(tmp_path, claim))
    return evaluate_claim(spec.claims[0], spec, identity_probe)


def test_drop_with_control_by_arithmetic(identity_probe: Probe, tmp_path: Path) -> None:
    # red in tl: 100 → 25, drop (100 − 25) / 100 = 0.75; control br: 40 → 30, drop 10 / 40 = 0.25
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: red, layer: '0', channels: [0], drop: {image: a, altered: b, region: tl,"
        " at_least: 0.7, control: br, control_altered: c, control_at_most: 0.3}}",
    )
    (channel,) = result.checks[0].cases[0].channels
    assert channel.values["drop"] == pytest.approx(0.75)
    assert channel.values["mean_in"] == pytest.approx(100) and channel.values[
        "mean_in_altered"
    ] == pytest.approx(25)
    assert channel.values["control_drop"] == pytest.approx(0.25)
    assert result.passed


def test_control_over_its_limit_fails_with_the_reason(
    identity_probe: Probe, tmp_path: Path
) -> None:
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: red, layer: '0', channels: [0], drop: {image: a, altered: b, region: tl,"
        " at_least: 0.7, control: br, control_altered: c, control_at_most: 0.2}}",
    )
    assert not result.passed
    assert "control region too" in result.checks[0].cases[0].channels[0].reason


def test_drop_thresholds_that_decide_nothing_on_non_negative_maps_are_errors(
    identity_probe: Probe, tmp_path: Path
) -> None:
    # the identity network's maps are pixels (never below 0): a drop is at most 1 there, so a
    # control_at_most of 1 would hold whatever the channel did on the control region
    claim = (
        "  - {id: red, layer: '0', channels: [0], drop: {image: a, altered: b, region: tl,"
        " at_least: 0.7, control: br, control_altered: c, control_at_most: LIMIT}}"
    )
    with pytest.raises(ProbecheckError, match="control_at_most 1 could not fail on 0"):
        run_claim(identity_probe, tmp_path, claim.replace("LIMIT", "1"))
    assert run_claim(identity_probe, tmp_path, claim.replace("LIMIT", "0.99")).passed
    # and an at_least above 1 could never hold there
    above = claim.replace("LIMIT", "0.3").replace("at_least: 0.7", "at_least: 1.2")
    with pytest.raises(ProbecheckError, match=r"drop at_least 1\.2 could never hold on 0"):
        run_claim(identity_probe, tmp_path, above)


def test_a_control_whose_removal_changed_no_pixel_fails_with_the_reason(
    identity_probe: Probe, tmp_path: Path
) -> None:
    # every pixel gray but the red of tl: masking br with gray changes nothing, so its drop of 0
    # is no evidence that the channel ignores br; masking tl changes red 200 → 128 (drop 0.36)
    red = [[200, 200, 128, 128], [200, 200, 128, 128], [128] * 4, [128] * 4]
    png(tmp_path / "g.png", red, green=128, blue=128)
    claim = (
        "  - {id: red, layer: '0', channels: [0], drop: {image: g, mask_with: MASK, region: tl,"
        " at_least: 0.3, control: br, control_at_most: 0.2}}"
    )
    path = spec_file(tmp_path, claim.replace("MASK", "gray"))
    path.write_text(path.read_text().replace("c: c.png}", "c: c.png, g: g.png}"))
    spec = load_spec(path)
    result = evaluate_claim(spec.claims[0], spec, identity_probe)
    (case,) = result.checks[0].cases
    assert not result.passed and math.isnan(case.channels[0].values["control_drop"])
    assert "changed no pixel" in case.channels[0].reason
    assert case.channels[0].values["drop"] == pytest.approx((200 - 128) / 200)
    # noise does change br: the same claim is then judged on its numbers
    path.write_text(path.read_text().replace("gray", "noise"))
    spec = load_spec(path)
    (case,) = evaluate_claim(spec.claims[0], spec, identity_probe).checks[0].cases
    assert not math.isnan(case.channels[0].values["control_drop"])
    assert "changed no pixel" not in case.channels[0].reason


def test_silent_channel_fails_with_that_reason(identity_probe: Probe, tmp_path: Path) -> None:
    # green is 0 everywhere: silent in the region, even against the smallest threshold
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: green, layer: '0', channels: [1],"
        " drop: {image: a, altered: b, region: tl, at_least: 0.001}}",
    )
    assert not result.passed
    assert "silent" in result.checks[0].cases[0].channels[0].reason


def test_selective_ratio_by_arithmetic(identity_probe: Probe, tmp_path: Path) -> None:
    # red in tl: mean_in 100; outside: (8 × 10 + 4 × 40) / 12 = 20 → ratio 5
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: sel, layer: '0', channels: [0],"
        " selective: {image: a, region: tl, ratio_at_least: 4.9}}",
    )
    assert result.checks[0].cases[0].channels[0].values["ratio"] == pytest.approx(5.0)
    assert result.passed


def test_strongest_by_peak_and_by_region(identity_probe: Probe, tmp_path: Path) -> None:
    # with green 0 and blue 0, red (0) has the largest peak
    result = run_claim(
        identity_probe, tmp_path, "  - {id: s, layer: '0', strongest: {image: a, in: [0]}}"
    )
    assert result.passed and result.checks[0].cases[0].combined["strongest"] == 0


def test_alternatives_name_the_channel_that_passes(identity_probe: Probe, tmp_path: Path) -> None:
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: wrong, layer: '0', channels: [2],"
        " drop: {image: a, altered: b, region: tl, at_least: 0.7}}",
    )
    assert not result.passed and result.checks[0].alternatives == [0]


@pytest.mark.parametrize(
    ("require", "passed", "combined_drop"),
    [("all", False, 0.2), ("any", True, 0.9), ("mean", True, 0.55)],
)
def test_combine_channels(require: str, passed: bool, combined_drop: float) -> None:
    from types import SimpleNamespace

    claim = SimpleNamespace(channels=[0, 1], require=require)  # the two fields _combine reads
    drops = np.array([0.9, 0.2, 0.0])
    ok = drops >= 0.5
    combined, verdict = _combine(claim, ok, {"drop": (drops, True, 0.5)})  # type: ignore[arg-type]
    # all: the worst drop (0.2) and a failing channel; any: the best (0.9); mean: (0.9 + 0.2) / 2
    assert verdict is passed
    assert combined["drop"] == pytest.approx(combined_drop)


def test_any_reports_one_channels_numbers_never_a_mix() -> None:
    from types import SimpleNamespace

    # channel 0 passes (drop .8, control .1); channel 1 drops more (.95) but fails its control (.9):
    # `any` passes on channel 0 and reports channel 0's drop and control, not .95 with .1
    claim = SimpleNamespace(channels=[0, 1], require="any")
    drop, control = np.array([0.8, 0.95]), np.array([0.1, 0.9])
    ok = (drop >= 0.5) & (control <= 0.3)
    combined, verdict = _combine(
        claim,  # type: ignore[arg-type]
        ok,
        {"drop": (drop, True, 0.5), "control_drop": (control, False, 0.3)},
    )
    assert verdict is True
    assert combined == {"drop": pytest.approx(0.8), "control_drop": pytest.approx(0.1)}


# --- failure text that is true of the channel ---------------------------------------------------


def test_every_reason_is_given_and_a_weak_control_reacts_to_the_removal(
    identity_probe: Probe, tmp_path: Path
) -> None:
    # red: tl 100 → 25 (drop 0.75 < 0.8); control br 40 → 30 (0.25 > 0.2), and 40 is 40 % of
    # the region's 100: weak there, so the control drop is a reaction to the removal
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: red, layer: '0', channels: [0], drop: {image: a, altered: b, region: tl,"
        " at_least: 0.8, control: br, control_altered: c, control_at_most: 0.2}}",
    )
    reason = result.checks[0].cases[0].channels[0].reason
    assert reason.startswith("too small a drop (0.75 < 0.8); ")
    assert "where it is weak (mean 40 % of that in the region" in reason
    assert reason.endswith("it reacts to the removal, not to the region")


def test_a_channel_active_in_the_control_region_responds_to_it_too(
    identity_probe: Probe, tmp_path: Path
) -> None:
    # region br (40 → 30 in c: drop 0.25 ≥ 0.2); control tl, where red is 100 (250 % of 40) and
    # falls to 25 in b: it responds to the control region, it does not merely react to removal
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: red, layer: '0', channels: [0], drop: {image: a, altered: c, region: br,"
        " at_least: 0.2, control: tl, control_altered: b, control_at_most: 0.2}}",
    )
    reason = result.checks[0].cases[0].channels[0].reason
    assert reason == (
        "responds to the control region too (its mean there is 250 % of that in the region; "
        "control drop 0.75 > 0.2)"
    )
    assert "reacts to the removal" not in reason


def test_a_negative_pre_relu_channel_is_negative_not_silent(tmp_path: Path) -> None:
    conv = torch.nn.Conv2d(3, 3, kernel_size=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(-torch.eye(3).reshape(3, 3, 1, 1))  # channel c = −colour c
    prep = Preprocessing(size=(4, 4), pixel_scale=255.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    probe = Probe(Built(torch.nn.Sequential(conv), prep, ModelIdentity("neg", "hand", "0" * 64)))
    result = run_claim(
        probe,
        tmp_path,
        "  - {id: red, layer: '0', channels: [0],"
        " drop: {image: a, altered: b, region: tl, at_least: 0.5}}",
    )
    reason = result.checks[0].cases[0].channels[0].reason
    assert reason.startswith("negative in the region (mean_in -100)")
    assert "silent" not in reason


def test_a_strongest_failure_names_the_strongest_channel_and_by_how_much(
    identity_probe: Probe, tmp_path: Path
) -> None:
    def run_on_green(claim: str):
        spec = load_spec(spec_file(tmp_path, claim))
        png(tmp_path / "a.png", [[100] * 4] * 4, green=30)  # red 100 everywhere, green 30
        return evaluate_claim(spec.claims[0], spec, identity_probe)

    result = run_on_green("  - {id: s, layer: '0', strongest: {image: a, in: [1]}}")
    assert not result.passed
    (channel,) = result.checks[0].cases[0].channels
    assert channel.reason == "channel 0 is strongest instead (peak 100 against 30: 70 more, 3.33×)"
    ranked = run_on_green("  - {id: s, layer: '0', channels: [1], strongest: {image: a, top_k: 1}}")
    assert ranked.checks[0].cases[0].channels[0].reason == (
        "rank 2, not among the top 1: channel 0 is strongest instead "
        "(peak 100 against 30: 70 more, 3.33×)"
    )


def test_an_iou_measured_at_another_quantile_is_another_case() -> None:
    """The quantile shapes a selective IoU: it joins the case's identity; a ratio ignores it."""
    from probecheck.checks import selective
    from probecheck.spec import SelectiveCheck

    iou = SelectiveCheck.model_validate(
        {"image": "face", "region": "eyes", "iou_at_least": 0.3, "quantile": 0.8}
    )
    ratio = SelectiveCheck.model_validate({"image": "face", "region": "eyes", "ratio_at_least": 2})
    assert selective.settings(iou) == {"quantile": 0.8}
    assert selective.settings(ratio) == {}


def test_reasons_are_written_for_the_reported_channels_only() -> None:
    """A layer has hundreds of channels and a claim reports a few: ``because`` keeps a reason,
    and its text is written for the claimed channels alone, in the order the reasons were given
    (a mask and a list of channels alike)."""
    from types import SimpleNamespace

    from probecheck.checks.kind import because, channel_results

    written: list[int] = []

    def reason(label: str):
        def text(c: int) -> str:
            written.append(c)
            return f"{label} {c}"

        return text

    failing = np.zeros(500, bool)
    failing[[3, 7, 400]] = True
    reasons: dict[int, list[str]] = {}
    because(reasons, failing, reason("silent"))
    failing[:] = True  # changed after the call: the reasons keep what they were given
    because(reasons, [7, 9], reason("too small"))
    claim = SimpleNamespace(channels=[7, 8], label=lambda c: c)
    ok = ~np.isin(np.arange(500), [3, 7, 9, 400])
    rows = channel_results(claim, ok, {"drop": np.zeros(500)}, reasons)  # type: ignore[arg-type]
    assert [(r.channel, r.reason) for r in rows] == [(7, "silent 7; too small 7"), (8, "")]
    assert written == [7, 7]  # not 3, 400 or 9: no claimed row shows them


@pytest.mark.parametrize("twin", ["a", "copy_of_a"])
def test_a_paired_image_with_the_pixels_of_the_image_is_an_error(
    identity_probe: Probe, tmp_path: Path, twin: str
) -> None:
    """A control 'removed' from an unchanged copy never drops: the control would hold on
    nothing, so the claim is refused instead of passing."""
    path = spec_file(
        tmp_path,
        "  - {id: red, layer: '0', channels: [0], drop: {image: a, altered: b, region: tl,"
        f" at_least: 0.7, control: br, control_altered: {twin}, control_at_most: 0.01}}}}",
    )
    (tmp_path / "copy_of_a.png").write_bytes((tmp_path / "a.png").read_bytes())
    path.write_text(path.read_text().replace("c: c.png}", "c: c.png, copy_of_a: copy_of_a.png}"))
    spec = load_spec(path)
    with pytest.raises(ProbecheckError, match="same pixels as image 'a'") as caught:
        evaluate_claim(spec.claims[0], spec, identity_probe)
    assert caught.value.fix


def test_a_compare_with_the_image_itself_is_an_error(identity_probe: Probe, tmp_path: Path) -> None:
    """mean_in(a) / mean_in(a) is 1 whatever the network: at ratio_at_least 1 it always held."""
    spec = load_spec(
        spec_file(
            tmp_path,
            "  - {id: red, layer: '0', channels: [0],"
            " compare: {image: a, other: a, region: tl, ratio_at_least: 1.5}}",
        )
    )
    with pytest.raises(ProbecheckError, match="other 'a' has the same pixels as image 'a'"):
        evaluate_claim(spec.claims[0], spec, identity_probe)


def test_a_flat_channel_has_no_iou_with_a_region(identity_probe: Probe, tmp_path: Path) -> None:
    # green is 0 everywhere: no part of its map stands out, yet thresholding keeps every tie,
    # so its "hot" area was the whole image and its IoU the region's share (tl: 0.25)
    result = run_claim(
        identity_probe,
        tmp_path,
        "  - {id: flat, layer: '0', channels: [1],"
        " selective: {image: a, region: tl, iou_at_least: 0.2, quantile: 0.5}}",
    )
    assert not result.passed
    channel = result.checks[0].cases[0].channels[0]
    assert channel.values["iou"] == 0.0
    assert "flat" in channel.reason


@pytest.mark.parametrize(
    "check",
    [
        "occlusion: {image: a, region: all, patch: 2, stride: 1, peak_in_region: true}",
        "selective: {image: a, region: all, iou_at_least: 0.4, quantile: 0.5}",
    ],
)
def test_a_region_covering_the_whole_image_decides_nothing(
    identity_probe: Probe, tmp_path: Path, check: str
) -> None:
    # every peak lies in it, and every map's top half overlaps it at IoU 0.5: any network passes
    path = spec_file(tmp_path, f"  - {{id: all, layer: '0', channels: [0], {check}}}")
    path.write_text(
        path.read_text().replace("regions:\n", "regions:\n  all: {boxes: [[0, 0, 4, 4]]}\n")
    )
    spec = load_spec(path)
    result = evaluate_claim(spec.claims[0], spec, identity_probe)
    assert not result.passed
    assert "whole image" in result.checks[0].cases[0].channels[0].reason
