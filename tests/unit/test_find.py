"""probecheck.find: ranking channels by drop / control drop / selectivity, and the claim it writes.

The ranking must measure exactly what the checks measure (a claim written from it passes), find
the known eye channel of fire6-relu_squeeze1x1 (15) and not the channel that reacts to any
inpainting (35), and search every layer in one forward pass.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from probecheck.errors import ProbecheckError
from probecheck.find import (
    MAX_RATIO,
    ChannelScore,
    FindInputs,
    LayerNumbers,
    Ranking,
    RegionShapes,
    Support,
    claim_yaml,
    default_layers,
    drop_thresholds,
    layer_numbers,
    rank_channels,
    ratio_threshold,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
FACE = FIXTURES / "astronaut_face.png"
NO_EYES = FIXTURES / "astronaut_face_eyes_removed.png"
NO_CHEEKS = FIXTURES / "astronaut_face_cheeks_removed.png"
REGIONS = json.loads((FIXTURES / "regions.json").read_text())
EYES = RegionShapes(boxes=tuple(tuple(b) for b in REGIONS["eyes"]["boxes"]))
CHEEKS = RegionShapes(boxes=tuple(tuple(b) for b in REGIONS["cheeks"]["boxes"]))
LAYER = "fire6-relu_squeeze1x1"


@pytest.fixture(scope="module")
def probe(cli_probe):
    """The process-wide Probe on the real weights (the CLI shares it; conftest's)."""
    return cli_probe


@pytest.fixture(scope="module")
def random_probe():
    """Seeded random weights: enough for input checks, needs no weights file."""
    from probecheck.probe import shared_probe

    return shared_probe("squeezenet1_0", "random")


def _score(**values) -> ChannelScore:
    base = dict(
        layer="l",
        channel=0,
        drop=0.5,
        control_drop=0.0,
        selectivity=1.0,
        mean_in=1.0,
        peak=2.0,
        score=0.5,
        silent=False,
    )
    return ChannelScore(**(base | values))


# --- thresholds and ordering (no network) -----------------------------------------------------


def test_drop_thresholds_leave_margin_below_the_measured_numbers():
    assert drop_thresholds(0.9619, 0.0407) == (0.76, 0.15)  # 0.8 × drop down; 2 × control up
    assert drop_thresholds(0.7, 0.2) == (0.56, 0.4)  # no float error: 0.8 × 0.7 is 0.56
    assert drop_thresholds(1.0, 0.0) == (0.8, 0.1)  # control + 0.1 where 2 × control is tiny
    assert drop_thresholds(0.5, -0.7) == (0.4, 0.1)  # a control that rose counts as 0
    assert drop_thresholds(0.6, None) == (0.48, None)


def test_ratio_threshold_only_for_selective_channels_and_capped():
    assert ratio_threshold(2.006) == 1.6
    assert ratio_threshold(1.5) is None
    assert ratio_threshold(float("nan")) is None
    assert ratio_threshold(598.0) == MAX_RATIO
    assert ratio_threshold(float("inf")) == MAX_RATIO


def test_sort_key_puts_silent_and_faint_last_and_breaks_ties_by_selectivity():
    rows = [
        _score(channel=0, silent=True, score=-math.inf),
        _score(channel=1, faint=True, score=1.0),
        _score(channel=2, score=1.0, selectivity=3.0),
        _score(channel=3, score=1.0, selectivity=9.0),
        _score(channel=4, score=0.2, selectivity=float("nan")),
    ]
    assert [r.channel for r in sorted(rows, key=ChannelScore.sort_key)] == [3, 2, 4, 1, 0]


def _numbers(drop, control, selectivity, mean_in, peak, silent) -> LayerNumbers:
    as_array = lambda values: np.array(values, dtype=np.float64)  # noqa: E731
    return LayerNumbers(
        mean_in=as_array(mean_in),
        peak=as_array(peak),
        drop=as_array(drop),
        silent=np.array(silent, dtype=bool),
        control_drop=None if control is None else as_array(control),
        selectivity=as_array(selectivity),
    )


def test_the_ranking_sorts_arrays_as_sort_key_sorts_records():
    nan, inf = float("nan"), float("inf")
    layers = [
        _numbers(  # ties at drop ≥ 1 broken by selectivity; nan selectivity after any number
            drop=[1.0, 1.4, 0.3, nan, 0.9, 1.0],
            control=[0.0, 0.0, -0.2, 0.0, 0.0, 0.0],
            selectivity=[2.0, 9.0, nan, 0.0, inf, nan],
            mean_in=[1.0, 1.0, 1.0, 0.0, 0.01, 1.0],
            peak=[2.0, 2.0, 2.0, 1.0, 2.0, 2.0],
            silent=[False, False, False, True, False, False],
        ),
        _numbers(
            drop=[0.95, 1.0, -0.5],
            control=[0.9, 0.0, 0.0],
            selectivity=[1.0, 2.0, 1.0],
            mean_in=[1.0, 1.0, 1.0],
            peak=[1.0, 1.0, 1.0],
            silent=[False, False, False],
        ),
    ]
    ranking = Ranking.build(["a", "b"], layers)
    records = [
        ChannelScore(name, c, *values)
        for name, n in zip(["a", "b"], layers, strict=True)
        for c, values in enumerate(
            zip(
                n.drop.tolist(),
                n.control_drop.tolist(),
                n.selectivity.tolist(),
                n.mean_in.tolist(),
                n.peak.tolist(),
                ranking_scores(n).tolist(),
                n.silent.tolist(),
                n.faint.tolist(),
                strict=True,
            )
        )
    ]
    expected = [(r.layer, r.channel) for r in sorted(records, key=ChannelScore.sort_key)]
    assert [(r.layer, r.channel) for r in ranking] == expected
    assert [(r.layer, r.channel) for r in ranking[:3]] == [("a", 1), ("a", 0), ("b", 1)]
    assert ranking.silent_count == 1 and ranking.faint_count == 1  # a 4: 0.01 < 5% of 2
    assert [(r.layer, r.channel) for r in ranking.top(2)] == expected[:2]
    assert ranking.best() == ranking[0]
    assert ranking.index(ranking[-1]) == len(ranking) - 1  # found though its drop is nan


def ranking_scores(numbers: LayerNumbers) -> np.ndarray:
    """The score by its formula, written out: min(drop, 1) − |control drop|, silent −inf."""
    score = np.minimum(numbers.drop, 1.0) - np.abs(numbers.control_drop)
    return np.where(numbers.silent | np.isnan(score), -np.inf, score)


def test_layer_numbers_are_the_metrics_numbers():
    from probecheck import metrics
    from probecheck.regions import area_fractions

    rng = np.random.default_rng(7)
    maps = rng.normal(size=(6, 9, 11)).astype(np.float32)
    maps[1] = -np.abs(maps[1])  # never fires: silent
    maps[2] = 0.0
    maps[2, 2:5, 3:6] = 1.5  # fires only inside the region: selectivity inf
    altered = (maps * rng.uniform(0, 1, size=maps.shape)).astype(np.float32)
    touched = (maps + rng.normal(scale=0.1, size=maps.shape)).astype(np.float32)
    mask = np.zeros((90, 110), bool)
    mask[20:50, 30:60] = True
    cheeks = np.zeros((90, 110), bool)
    cheeks[60:80, 5:25] = True
    got = layer_numbers(
        maps, altered, Support.of(mask, (9, 11)), touched, Support.of(cheeks, (9, 11))
    )
    w, wc = area_fractions(mask, (9, 11)), area_fractions(cheeks, (9, 11))
    peak = metrics.channel_peaks(maps)
    main = metrics.region_drop(maps, altered, w, peak)
    control = metrics.region_drop(maps, touched, wc, peak)
    np.testing.assert_allclose(got.peak, peak, rtol=1e-7)
    np.testing.assert_allclose(got.mean_in, main.mean_in, rtol=1e-12)
    np.testing.assert_allclose(got.drop, main.drop, rtol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(got.silent, main.silent)
    np.testing.assert_allclose(got.control_drop, control.drop_or_zero, rtol=1e-9)
    expected = metrics.selectivity_ratio(maps, w)
    np.testing.assert_allclose(got.selectivity, expected, rtol=1e-5)
    assert got.selectivity[2] == np.inf and got.silent[1] and got.selectivity[1] == 0.0
    everywhere = layer_numbers(maps, altered, Support.of(np.ones((90, 110), bool), (9, 11)))
    assert np.isnan(everywhere.selectivity[0])  # no outside: as metrics.selectivity_ratio


def test_region_shapes_rasterise_and_refuse_shapes_outside_the_image(tmp_path):
    mask = EYES.rasterise((256, 256))
    assert mask.sum() == 46 * 27 + 55 * 27
    with pytest.raises(ProbecheckError, match="reaches outside") as info:
        RegionShapes(boxes=((300, 10, 320, 40),)).rasterise((256, 256))
    assert "256×256" in str(info.value.fix)
    with pytest.raises(ProbecheckError, match="empty"):
        RegionShapes(boxes=((20, 10, 10, 40),)).rasterise((256, 256))
    with pytest.raises(ProbecheckError, match="outside"):
        RegionShapes(ellipses=((250, 100, 20, 10),)).rasterise((256, 256))
    with pytest.raises(ProbecheckError, match="does not exist"):
        RegionShapes(mask=tmp_path / "missing.png").rasterise((256, 256))


def test_region_shapes_write_mask_paths_relative_to_the_spec(tmp_path):
    from PIL import Image

    painted = np.zeros((256, 256, 3), np.uint8)
    painted[10:20, 30:50] = 255
    path = tmp_path / "masks" / "m.png"
    path.parent.mkdir()
    Image.fromarray(painted).save(path)
    shapes = RegionShapes(boxes=((1, 2, 3, 4.5),), mask=path)
    assert shapes.rasterise((256, 256)).sum() == 10 * 20 + 3 * 2  # box: rows 2..4, columns 1..2
    assert shapes.as_spec(tmp_path / "specs") == {
        "boxes": [[1, 2, 3, 4.5]],
        "mask": "../masks/m.png",
    }


# --- input errors (random weights: they fail before any number matters) ------------------------


def test_altered_image_with_a_control_needs_its_control_pair(random_probe):
    with pytest.raises(ProbecheckError, match="control region needs its own") as info:
        rank_channels(
            random_probe,
            FACE,
            EYES.rasterise((256, 256)),
            altered=NO_EYES,
            control_mask=CHEEKS.rasterise((256, 256)),
            layers=[LAYER],
        )
    assert "--control-altered" in str(info.value.fix)
    assert "--mask-with" in str(info.value.fix)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either an altered image or a masking method"),
        ({"altered": NO_EYES, "mask_with": "blur"}, "either an altered image"),
        ({"mask_with": "smudge"}, "unknown masking method"),
        ({"altered": FIXTURES / "edge.png"}, "altered image is 227×227"),
        ({"mask_with": "gray", "layers": ["fire6-relu_squeez1x1"]}, "no layer named"),
    ],
)
def test_bad_inputs_are_user_errors(random_probe, kwargs, message):
    with pytest.raises(ProbecheckError, match=message):
        rank_channels(random_probe, FACE, EYES.rasterise((256, 256)), **kwargs)


def test_a_region_mask_of_another_size_is_refused(random_probe):
    with pytest.raises(ProbecheckError, match="region mask is 10×10"):
        rank_channels(random_probe, FACE, np.ones((10, 10), bool), mask_with="gray")


def test_a_removal_that_changed_no_pixel_is_refused(random_probe, tmp_path):
    # a face whose cheeks are painted gray: masking them with gray changes nothing, so their
    # control drop would be 0 for every channel, the best score a control can give
    from PIL import Image

    rgb = np.array(Image.open(FACE).convert("RGB"))
    cheeks = CHEEKS.rasterise(rgb.shape[:2])
    rgb[cheeks] = 128
    flat = tmp_path / "flat_cheeks.png"
    Image.fromarray(rgb).save(flat)
    eyes = EYES.rasterise(rgb.shape[:2])
    with pytest.raises(ProbecheckError, match="removing the control region changed no pixel"):
        rank_channels(random_probe, flat, eyes, mask_with="gray", control_mask=cheeks)
    with pytest.raises(ProbecheckError, match="removing the region changed no pixel"):
        rank_channels(random_probe, flat, cheeks, mask_with="gray", layers=[LAYER])
    with pytest.raises(ProbecheckError, match="removing the region changed no pixel"):
        rank_channels(random_probe, FACE, eyes, altered=FACE, layers=[LAYER])
    ranked = rank_channels(random_probe, flat, eyes, mask_with="noise", control_mask=cheeks)
    assert ranked  # noise does change the cheeks


# --- the real network ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eye_rows(probe) -> list[ChannelScore]:
    return rank_channels(
        probe,
        FACE,
        EYES.rasterise((256, 256)),
        altered=NO_EYES,
        control_mask=CHEEKS.rasterise((256, 256)),
        control_altered=NO_CHEEKS,
        layers=[LAYER],
    )


def test_the_eye_channel_ranks_first_and_the_inpainting_channel_does_not(eye_rows):
    assert len(eye_rows) == 48
    best = eye_rows[0]
    assert (best.layer, best.channel) == (LAYER, 15)
    assert best.drop == pytest.approx(0.96, abs=0.01)
    assert best.control_drop == pytest.approx(0.04, abs=0.01)
    ch35 = next(r for r in eye_rows if r.channel == 35)
    assert ch35.drop > 0.95 and ch35.control_drop > 0.95  # drops anywhere something is removed
    assert 35 not in [r.channel for r in eye_rows[:3]]


def _spec_from(text: str, directory: Path):
    from probecheck.spec import load_spec

    path = directory / "found.yaml"
    path.write_text(text)
    return load_spec(path)


def test_the_claim_written_for_the_best_channel_loads_and_passes(probe, eye_rows, tmp_path):
    from probecheck.checks import evaluate_claim

    inputs = FindInputs(
        image=FACE,
        region=EYES,
        altered=NO_EYES,
        control=CHEEKS,
        control_altered=NO_CHEEKS,
        region_name="eyes",
        control_name="cheeks",
    )
    spec = _spec_from(claim_yaml(eye_rows[0], inputs, relative_to=tmp_path), tmp_path)
    claim = spec.claims[0]
    assert (claim.layer, claim.channels) == (LAYER, [15])
    assert claim.drop.at_least == 0.76 and claim.drop.control_at_most == 0.15
    assert claim.selective.ratio_at_least == 1.6
    result = evaluate_claim(claim, spec, probe)
    assert result.passed, result.failure_message()


def test_mask_with_ranks_and_its_claim_passes_with_index_base_1(probe, tmp_path):
    from probecheck.checks import evaluate_claim

    rows = rank_channels(
        probe,
        FACE,
        EYES.rasterise((256, 256)),
        mask_with="inpaint",
        control_mask=CHEEKS.rasterise((256, 256)),
        layers=[LAYER, "fire6-squeeze1x1"],
    )
    assert {r.layer for r in rows} == {LAYER, "fire6-squeeze1x1"}
    inputs = FindInputs(image=FACE, region=EYES, mask_with="inpaint", control=CHEEKS)
    text = claim_yaml(rows[0], inputs, index_base=1, relative_to=tmp_path)
    spec = _spec_from(text, tmp_path)
    assert spec.index_base == 1 and spec.claims[0].channel_labels == [rows[0].channel + 1]
    assert spec.claims[0].drop.cases[0].mask_with == "inpaint"
    result = evaluate_claim(spec.claims[0], spec, probe)
    assert result.passed, result.failure_message()


def test_every_layer_is_searched_in_one_forward_pass_per_image(probe):
    probe.clear_cache()
    before = probe.forward_passes
    seen: list[str] = []
    rows = rank_channels(
        probe,
        FACE,
        EYES.rasterise((256, 256)),
        mask_with="gray",
        on_layer=lambda done, total, layer: seen.append(layer),
    )
    assert probe.forward_passes - before == 2  # the face and the face masked gray
    layers = default_layers(probe)
    assert seen == layers and "conv1" in layers and LAYER in layers
    assert {r.layer for r in rows} == set(layers)
    assert all(r.silent for r in rows[rows.index(next(r for r in rows if r.silent)) :])


def test_reduced_forward_hands_each_layer_its_own_output_before_relu_overwrites_it(probe):
    from probecheck.zoo.images import load_image

    names = ["conv1", "relu_conv1", LAYER]
    paths = [probe.resolve(n) for n in names]
    seen = probe.reduced_forward(
        probe.prepare([load_image(FACE)]),
        paths,
        lambda path, output: (path, tuple(output.shape[1:]), float(output.min())),
    )
    maps = probe.activations(FACE, names)
    for name, path in zip(names, paths, strict=True):
        assert seen[path][:2] == (path, maps[name].shape)
    assert seen[paths[0]][2] < 0 <= seen[paths[1]][2]  # conv1 seen pre-ReLU, its ReLU after


# --- numbers taken in the forward equal numbers taken from whole maps -------------------------


def _assert_same_numbers(got: LayerNumbers, expected: LayerNumbers) -> None:
    for field in ("mean_in", "peak", "drop", "silent", "control_drop", "selectivity"):
        a, b = getattr(got, field), getattr(expected, field)
        np.testing.assert_array_equal(a, b, err_msg=field)
        if a.dtype.kind == "f":  # the sign of a zero too
            np.testing.assert_array_equal(np.signbit(a), np.signbit(b), err_msg=field)


def _numbers_from_maps(probe, names, images, region, control):
    """Each layer's numbers from its whole maps (``Probe.hooked_forward`` copies), by
    ``layer_numbers``: no ReLU's numbers follow from another layer's, every map is summed."""
    from probecheck.find import Support

    paths = [probe.resolve(name) for name in names]
    maps = [probe.hooked_forward(probe.prepare([image]), paths)[0] for image in images]
    found = []
    for path in paths:
        grid = maps[0][path].shape[1:]
        found.append(
            layer_numbers(
                maps[0][path],
                maps[1][path],
                Support.of(region, grid),
                maps[2][path],
                Support.of(control, grid),
            )
        )
    return found


def test_every_layers_numbers_from_the_forward_are_those_of_its_whole_maps(probe):
    """A ReLU's numbers that follow from its convolution's, and a convolution's positive sum
    taken from its ReLU's map, are the numbers each map gives itself, to the last bit."""
    from probecheck.find import forward_numbers
    from probecheck.zoo.images import load_image

    face = load_image(FACE)
    region = EYES.rasterise(face.shape[:2])
    control = CHEEKS.rasterise(face.shape[:2])
    images = [face, load_image(NO_EYES), load_image(NO_CHEEKS)]
    names = default_layers(probe)
    scored, got = forward_numbers(probe, names, images, region, control, explicit=True)
    assert scored == names
    expected = _numbers_from_maps(probe, names, images, region, control)
    for a, b in zip(got, expected, strict=True):
        _assert_same_numbers(a, b)


class _Tricky:
    """Toy networks whose ReLUs do not get their convolution's output as it left it."""

    @staticmethod
    def changed_in_place():
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = nn.Conv2d(3, 6, 5, stride=4)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(6, 4, 3)
                self.relu2 = nn.ReLU()

            def forward(self, x):
                x = self.conv(x)
                x.mul_(-1.0)  # the ReLU sees the map negated: nothing follows from conv's
                x = self.relu(x)
                y = self.conv2(x)
                return self.relu2(torch.tanh(y))  # listed after conv2, fed something else

        return Net()

    @staticmethod
    def listed_out_of_order():
        from torch import nn

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = nn.Conv2d(3, 6, 5, stride=4)
                self.relu = nn.ReLU()  # listed after conv, but runs after conv2
                self.conv2 = nn.Conv2d(6, 6, 3, padding=1)

            def forward(self, x):
                return self.relu(self.conv2(self.conv(x)))

        return Net()

    @staticmethod
    def exact_zeros():
        import torch
        from torch import nn

        class Net(nn.Module):
            """Exact zeros in the map (whose sign a ReLU keeps): its output is read, not
            derived."""

            def __init__(self) -> None:
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 5, stride=4, bias=False)
                with torch.no_grad():
                    self.conv.weight[:2] = -self.conv.weight[:2].abs()  # silent channels
                self.relu = nn.ReLU(inplace=True)

            def forward(self, x):
                x = x.clone()
                x[:, :, :, : x.shape[-1] // 2] = 0.0  # the left half: exact zeros in
                return self.relu(self.conv(x))

        return Net()


@pytest.mark.parametrize(
    "build", [_Tricky.changed_in_place, _Tricky.listed_out_of_order, _Tricky.exact_zeros]
)
def test_a_relu_fed_anything_but_its_layers_output_is_read_from_its_own_map(real_probe, build):
    import torch

    from probecheck.find import forward_numbers
    from probecheck.probe import Probe
    from probecheck.zoo.builders import Built
    from probecheck.zoo.images import load_image

    torch.manual_seed(0)
    model = build().eval()
    probe = Probe(Built(model, real_probe.preprocessing, real_probe.identity))
    face = load_image(FACE)
    region = EYES.rasterise(face.shape[:2])
    control = CHEEKS.rasterise(face.shape[:2])
    images = [face, load_image(NO_EYES), load_image(NO_CHEEKS)]
    names = [path for path, module in model.named_modules() if path]
    before = probe.forward_passes
    _, got = forward_numbers(probe, names, images, region, control, explicit=True)
    assert probe.forward_passes - before >= len(images)
    expected = _numbers_from_maps(probe, names, images, region, control)
    for a, b in zip(got, expected, strict=True):
        _assert_same_numbers(a, b)


def test_default_layers_that_never_run_are_left_out_and_named_ones_refused(real_probe):
    # an auxiliary head (GoogLeNet's, Inception's) runs only in training: find over every
    # layer scores the others; asked for by name, the head is an error that says why
    import torch
    from torch import nn

    from probecheck.find import default_layers, rank_channels
    from probecheck.probe import Probe
    from probecheck.zoo.builders import Built
    from probecheck.zoo.images import load_image

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 5, stride=4)
            self.relu = nn.ReLU()
            self.aux = nn.Conv2d(6, 2, 3)

        def forward(self, x):
            x = self.relu(self.conv(x))
            if self.training:
                return x, self.aux(x)
            return x

    torch.manual_seed(0)
    probe = Probe(Built(Net().eval(), real_probe.preprocessing, real_probe.identity))
    face = load_image(FACE)
    region = EYES.rasterise(face.shape[:2])
    assert default_layers(probe) == ["conv", "relu", "aux"]
    ranking = rank_channels(probe, face, region, altered=load_image(NO_EYES))
    assert ranking.layers == ("conv", "relu")
    with pytest.raises(ProbecheckError, match="aux never ran"):
        rank_channels(probe, face, region, altered=load_image(NO_EYES), layers=["aux"])
