"""probecheck.find_set: the split, the one-sided test and Holm's correction on hand-made numbers
with known answers; then find over a small set end to end (shifted and mirrored copies of the
fixture face: plumbing, not evidence)."""

from __future__ import annotations

import io
import json
import math
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from probecheck.errors import ProbecheckError
from probecheck.find_set import (
    Summary,
    holm,
    one_sided_p,
    read_regions_file,
    set_images,
    split_set,
    thresholds,
    verdict,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


# --- Holm ----------------------------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max
    # keeps the order: 0.02, 0.03, 0.06, 0.06
    got = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


def test_holm_caps_at_one_and_keeps_a_single_p():
    np.testing.assert_allclose(holm([0.5, 0.6, 0.01]), [1.0, 1.0, 0.03], rtol=1e-12)
    np.testing.assert_allclose(holm([0.2]), [0.2])
    assert holm([]).size == 0


# --- the one-sided test --------------------------------------------------------------------------


def test_one_sided_p_with_two_images_is_the_cauchy_tail():
    # effects 1 and 3: mean 2, standard error 1, t = 2 on 1 degree of freedom, whose
    # distribution is Cauchy: P(T > 2) = 1/2 − atan(2)/π
    assert one_sided_p(np.array([1.0, 3.0]))[0] == pytest.approx(0.5 - math.atan(2) / math.pi)


def test_one_sided_p_per_column_and_degenerate_cases():
    effects = np.array(
        [
            [1.0, 0.3, 0.0, -1.0],
            [3.0, 0.3, 0.0, -2.0],
        ]
    )
    p = one_sided_p(effects)
    assert p[0] == pytest.approx(0.5 - math.atan(2) / math.pi)
    assert p[1] == 0.25  # every image the same positive effect: the sign test's 0.5²
    assert p[2] == 1.0  # every image exactly 0: no evidence
    assert p[3] > 0.5  # an effect below 0 is not evidence of one above it
    assert one_sided_p(np.array([[0.9, 0.8]])).tolist() == [1.0, 1.0]  # one image: no test


def test_four_consistent_images_can_clear_a_corrected_threshold():
    # why a t-test: the exact sign-flip test cannot go below 2**-4 = 0.0625 with 4 images
    p = one_sided_p(np.array([0.50, 0.61, 0.55, 0.52]))[0]
    assert p < 0.05 / 10  # Holm over 10 channels, at its strictest


def test_the_test_keeps_its_level_under_the_null():
    rng = np.random.default_rng(11)
    effects = rng.normal(size=(6, 4000))  # 4000 channels with no effect, 6 images each
    rate = float((one_sided_p(effects) <= 0.05).mean())
    assert 0.035 <= rate <= 0.065


# --- the split -----------------------------------------------------------------------------------


NAMES = [f"{face}_{view}.png" for face in "abcdefgh" for view in ("plain", "flip", "dark")]


def test_the_split_is_seeded_disjoint_and_complete():
    discovery, confirmation = split_set(NAMES, seed=3)
    assert (discovery, confirmation) == split_set(NAMES, seed=3)
    assert sorted(discovery + confirmation) == list(range(len(NAMES)))
    assert not set(discovery) & set(confirmation)
    assert len(discovery) == len(confirmation) == 12  # 24 files, each its own picture
    others = [split_set(NAMES, seed=s)[1] for s in range(4, 8)]
    assert any(o != confirmation for o in others)


def test_views_of_one_picture_stay_in_one_split():
    discovery, confirmation = split_set(NAMES, seed=0, views_of=r"^([a-z])_")
    picture = lambda i: NAMES[i][0]  # noqa: E731
    assert not {picture(i) for i in discovery} & {picture(i) for i in confirmation}
    assert len(confirmation) == 12  # 4 of 8 pictures, 3 views each
    one_per_file = split_set(NAMES, seed=0)
    assert {picture(i) for i in one_per_file[0]} & {picture(i) for i in one_per_file[1]}


def test_the_split_keeps_two_pictures_on_each_side():
    discovery, confirmation = split_set(NAMES[:15], seed=1, confirm_fraction=0.1)
    assert len(confirmation) == 2 and len(discovery) == 13
    discovery, confirmation = split_set(NAMES[:4], seed=1, confirm_fraction=0.9)
    assert len(confirmation) == 2 and len(discovery) == 2


@pytest.mark.parametrize(
    ("names", "kwargs", "message"),
    [
        (NAMES[:3], {}, "3 picture"),
        (NAMES[:9], {"views_of": r"^([a-z])_"}, r"3 picture\(s\) \(9 images\)"),
        (NAMES, {"confirm_fraction": 1.0}, "between 0 and 1"),
    ],
)
def test_too_small_a_set_or_a_bad_fraction_is_a_user_error(names, kwargs, message):
    with pytest.raises(ProbecheckError, match=message):
        split_set(names, seed=0, **kwargs)


# --- thresholds ----------------------------------------------------------------------------------


def _summary(drop_low: float, control_high: float) -> Summary:
    return Summary(
        images=5,
        drop=0.9,
        control_drop=0.1,
        effect=0.8,
        fraction=1.0,
        drop_low=drop_low,
        control_high=control_high,
    )


def test_thresholds_sit_with_margin_beyond_the_held_out_interval():
    assert thresholds(_summary(0.7, 0.2)) == (0.56, 0.4)
    assert thresholds(_summary(0.7, -0.3)) == (0.56, 0.1)  # a control that rose counts as 0
    assert thresholds(_summary(0.5, math.nan)) == (0.4, None)
    assert thresholds(_summary(-0.1, 0.0))[0] <= 0  # no drop claim to write


def test_a_candidate_holds_only_where_every_rule_does():
    whole = _summary(0.7, 0.05)  # over every image: drop ≥ 0.7, control ≤ 0.05 (bounds)
    assert verdict(0.01, 0.05, 0.56, 0.4, whole) == ""
    assert verdict(0.06, 0.05, 0.56, 0.4, whole).startswith("adjusted p 0.06 > 0.05")
    assert "no threshold above 0" in verdict(0.01, 0.05, 0.0, 0.4, whole)
    assert "not a selective claim" in verdict(0.01, 0.05, 0.56, 0.56, whole)
    assert "drop's lower bound 0.7 is below 0.8" in verdict(0.01, 0.05, 0.8, 0.4, whole)
    noisy = _summary(0.7, 0.36)  # a discovery image's control drop widens the whole set's bound
    assert "control's upper bound 0.36 is above 0.1" in verdict(0.01, 0.05, 0.56, 0.1, noisy)
    assert verdict(0.01, 0.05, 0.56, None, _summary(0.7, math.nan)) == ""  # no control


# --- the set's files ------------------------------------------------------------------------------


def test_regions_file_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "regions.json"
    bad.write_text('{\n  "a.png": {"eyes": {"boxes": [[1, 2, 3, 4]]}},\n  oops\n}')
    with pytest.raises(ProbecheckError, match=r"regions\.json:3:\d+: invalid JSON"):
        read_regions_file(bad)
    with pytest.raises(ProbecheckError, match=r"none\.json: regions file not found"):
        read_regions_file(tmp_path / "none.json")
    bad.write_text('{"a.png": {"eyes": {"circles": [[1, 2, 3]]}}}')
    with pytest.raises(ProbecheckError, match="circles"):
        read_regions_file(bad)


def test_set_images_pair_by_file_name_and_name_what_is_missing(tmp_path):
    regions = {
        "a.png": {"eyes": _box(), "cheeks": _box()},
        "b.png": {"eyes": _box()},
    }
    paths = [tmp_path / "b.png", tmp_path / "a.png"]
    found = set_images(paths, read_regions_dict(regions, tmp_path), "eyes")
    assert [i.name for i in found] == ["a.png", "b.png"]
    with pytest.raises(ProbecheckError, match=r"gives b\.png no region 'cheeks'"):
        set_images(paths, read_regions_dict(regions, tmp_path), "eyes", "cheeks")
    with pytest.raises(ProbecheckError, match=r"no regions for c\.png"):
        set_images([tmp_path / "c.png"], read_regions_dict(regions, tmp_path), "eyes")
    with pytest.raises(ProbecheckError, match=r"altered set has no image named b\.png"):
        set_images(
            paths, read_regions_dict(regions, tmp_path), "eyes", altered=[tmp_path / "x/a.png"]
        )


def test_a_picture_under_two_names_or_two_files_of_one_name_are_errors(tmp_path):
    # either would put one picture in the discovery and the confirmation split at once (or
    # silently keep only one of two files): the held-out images must be other pictures
    regions = {name: {"eyes": _box()} for name in ("a.png", "b.png", "c.png")}
    read = read_regions_dict(regions, tmp_path)
    (tmp_path / "a.png").write_bytes(b"picture a")
    (tmp_path / "b.png").write_bytes(b"picture a")  # a copy under another name
    (tmp_path / "c.png").symlink_to(tmp_path / "a.png")  # a link under another name
    for twin in ("b.png", "c.png"):
        with pytest.raises(
            ProbecheckError, match=rf"images a\.png and {twin[0]}\.png .* one picture"
        ):
            set_images([tmp_path / "a.png", tmp_path / twin], read, "eyes")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(b"picture d")
    with pytest.raises(ProbecheckError, match=r"two images of the set are named a\.png"):
        set_images([tmp_path / "a.png", tmp_path / "other" / "a.png"], read, "eyes")
    listed_twice = set_images([tmp_path / "a.png", tmp_path / "a.png"], read, "eyes")
    assert [i.name for i in listed_twice] == ["a.png"]  # one path given twice: one image


def _box() -> dict:
    return {"boxes": [[1, 2, 30, 40]]}


def read_regions_dict(table: dict, directory: Path):
    path = directory / "regions.json"
    path.write_text(json.dumps(table))
    return read_regions_file(path)


# --- end to end, on the real weights --------------------------------------------------------------


def make_face_set(directory: Path, shifts=(-12, -6, 0, 6, 12, 18)) -> Path:
    """Shifted and mirrored copies of the fixture face, with their eye and cheek boxes."""
    from PIL import Image

    face = np.asarray(Image.open(FIXTURES / "astronaut_face.png").convert("RGB"))
    regions = json.loads((FIXTURES / "regions.json").read_text())
    directory.mkdir(parents=True, exist_ok=True)
    table = {}
    width = face.shape[1]
    for i, dx in enumerate(shifts):
        for flip in (False, True):
            image = np.roll(face, dx, axis=1)
            named = {
                name: [[x0 + dx, y0, x1 + dx, y1] for x0, y0, x1, y1 in regions[name]["boxes"]]
                for name in ("eyes", "cheeks")
            }
            if flip:
                image = image[:, ::-1]
                named = {
                    k: [[width - x1, y0, width - x0, y1] for x0, y0, x1, y1 in v]
                    for k, v in named.items()
                }
            name = f"face{i}_{'flip' if flip else 'plain'}.png"
            Image.fromarray(np.ascontiguousarray(image)).save(directory / name)
            table[name] = {k: {"boxes": v} for k, v in named.items()}
    (directory / "regions.json").write_text(json.dumps(table))
    return directory


LAYERS = ["fire6-relu_squeeze1x1", "fire7-relu_squeeze1x1"]


@pytest.fixture(scope="module")
def probe(cli_probe):
    """The process-wide Probe on the real weights (the one the CLI uses; conftest's)."""
    return cli_probe


@pytest.fixture(scope="module")
def face_set(tmp_path_factory) -> Path:
    return make_face_set(tmp_path_factory.mktemp("faces") / "faces")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def run_find(capsys, *args: object) -> tuple[int, str, str]:
    from probecheck.cli import main

    code = main(["find", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def set_args(directory: Path, *extra: object) -> list[object]:
    return [
        "--set",
        f"{directory}/*.png",
        "--regions",
        directory / "regions.json",
        "--region",
        "eyes",
        "--control",
        "cheeks",
        "--layer",
        *LAYERS,
        *extra,
    ]


@pytest.fixture(scope="module")
def found_on_face_set(probe, face_set: Path, tmp_path_factory) -> tuple[str, Path]:
    """One find over the face set (gray masks, views kept together, the top four tested): what
    it printed and the spec it wrote. Shared by the tests that read them: the search is the
    costly step, and its output is the same each time."""
    from probecheck.cli import main

    out_file = tmp_path_factory.mktemp("found") / "found.yaml"
    args = set_args(face_set, "--mask-with", "gray", "--views-of", r"^(face\d+)_", "--top", 4)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(stdout), redirect_stderr(stderr):
        patch.setenv("COLUMNS", "250")
        code = main(["find", *(str(a) for a in args), "--yaml-out", str(out_file)])
    assert code == 0, stderr.getvalue()
    return stdout.getvalue(), out_file


def test_find_over_a_set_reports_its_split_and_prints_only_held_claims(
    found_on_face_set: tuple[str, Path],
):
    import yaml

    stdout, out_file = found_on_face_set
    assert "12 images split with seed 0 into 6 for discovery and 6 held out" in stdout
    assert "ranked 96 channels of 2 layer(s) on discovery; tested 4 on confirmation" in stdout
    discovery = stdout.split("  discovery: ")[1].split("\n")[0].split(", ")
    confirmation = stdout.split("  confirmation: ")[1].split("\n")[0].split(", ")
    pictures = lambda names: {n.split("_")[0] for n in names}  # noqa: E731
    assert not pictures(discovery) & pictures(confirmation)  # views stayed together
    text = out_file.read_text()
    assert text == stdout[stdout.index("# probecheck find over the set") :]
    spec = yaml.safe_load(text)
    assert spec["sets"]["faces"]["regions"].endswith("faces/regions.json")
    held_rows = [line for line in stdout.splitlines() if re.search(r"│\s+yes\s+│$", line)]
    assert len(spec["claims"]) == len(held_rows) >= 1
    for claim in spec["claims"]:
        drop = claim["drop"]
        assert drop["set"] == "faces" and drop["mask_with"] == "gray"
        assert drop["region"] == "eyes" and drop["control"] == "cheeks"
        assert drop["at_least"] > 0 and drop["control_at_most"] >= 0.1
        assert drop["confidence"] == 0.95 and claim["layer"] in LAYERS


def test_find_over_a_set_says_plainly_when_nothing_held(probe, capsys, tmp_path):
    # the "altered" twins are the images with one corner pixel changed, far from the eyes and
    # cheeks: nothing drops, nothing can hold (however many images: six, two pictures a side
    # and more, keep the search cheap); the very same pixels would be refused
    from PIL import Image

    images = make_face_set(tmp_path / "faces", shifts=(-6, 0, 6))
    same = tmp_path / "same"
    same.mkdir()
    for png in images.glob("*.png"):
        rgb = np.array(Image.open(png).convert("RGB"))
        rgb[0, 0] = 255 - rgb[0, 0]
        Image.fromarray(rgb).save(same / png.name)
    code, stdout, err = run_find(
        capsys,
        *set_args(images, "--altered-set", f"{same}/*.png"),
        "--control-altered-set",
        f"{same}/*.png",
    )
    assert code == 0, err
    assert "No channel held on the held-out images" in stdout
    assert "claims:" not in stdout
    for png in images.glob("*.png"):  # twins with the very pixels of their images
        (same / png.name).write_bytes(png.read_bytes())
    code, stdout, err = run_find(
        capsys,
        *set_args(images, "--altered-set", f"{same}/*.png"),
        "--control-altered-set",
        f"{same}/*.png",
    )
    assert code == 2 and "removing the region changed no pixel" in err, err


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--mask-with", "gray", "--box", "1,2,3,4"], ["is for one image"]),
        ([], ["--mask-with or --altered-set"]),
        (["--mask-with", "gray", "--region", "nose"], ["no region 'nose'"]),
        (["--mask-with", "gray", "--confirm-fraction", "0"], ["between 0 and 1"]),
    ],
)
def test_find_over_a_set_bad_input_is_one_line(face_set, capsys, extra, needles):
    code, stdout, err = run_find(capsys, *set_args(face_set, *extra))
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    assert "claims:" not in stdout


# --- the real faces ------------------------------------------------------------------------------

FACES = FIXTURES / "faces"
PERSON = "^([a-z]+)"  # einstein and einstein_tongue, obama and obama_speaking: one person each


def faces_args(*extra: object) -> list[object]:
    return [
        "--set",
        f"{FACES}/*.png",
        "--regions",
        FACES / "regions.json",
        "--region",
        "eyes",
        "--control",
        "cheeks",
        "--mask-with",
        "inpaint",
        "--views-of",
        PERSON,
        *extra,
    ]


def rows_of(stdout: str, layer: str) -> dict[int, str]:
    """The table's rows of one layer, by channel: the rest of the row as printed."""
    found = {}
    for line in stdout.splitlines():
        match = re.match(rf"│\s*{re.escape(layer)}\s*│\s*(\d+)\s*│(.*)$", line)
        if match:
            found[int(match[1])] = match[2]
    return found


def test_the_old_eye_channel_is_tested_on_held_out_faces_and_not_claimed(probe, capsys):
    # fire6-relu_squeeze1x1 channel 15 was the best of 48 channels on one image pair; tested on
    # faces it was not found on (every channel of its layer is tested, Holm over 48), its
    # control drops with the eyes' drop, and no claim is printed for it
    import yaml

    layer = "fire6-relu_squeeze1x1"
    code, stdout, err = run_find(capsys, *faces_args("--layer", layer, "--top", 48))
    assert code == 0, err
    assert "ranked 48 channels of 1 layer(s) on discovery; tested 48 on confirmation" in stdout
    rows = rows_of(stdout, layer)
    assert len(rows) == 48
    assert re.search(r"│\s+no: [a-z ]+│$", rows[15].rstrip()), rows[15]
    if "claims:" in stdout:
        spec = yaml.safe_load(stdout[stdout.index("# probecheck find over the set") :])
        assert [15] not in [c["channels"] for c in spec["claims"]]
    else:
        assert "No channel held on the held-out images" in stdout


def test_find_over_the_faces_prints_claims_that_held_on_held_out_faces(probe, capsys):
    import yaml

    code, stdout, err = run_find(capsys, *faces_args())
    assert code == 0, err
    assert "11 images split with seed 0 into" in stdout
    assert "ranked 7952 channels of 52 layer(s) on discovery; tested 10 on confirmation" in stdout
    held = [line for line in stdout.splitlines() if re.search(r"│\s+yes\s+│$", line)]
    if not held:
        assert "No channel held on the held-out images" in stdout
        return
    spec = yaml.safe_load(stdout[stdout.index("# probecheck find over the set") :])
    assert len(spec["claims"]) == len(held)
    for claim, line in zip(spec["claims"], held, strict=True):
        assert f"│ {claim['layer']} " in line
        assert re.search(rf"│\s+{claim['channels'][0]}\s+│", line)
        assert claim["drop"]["control_at_most"] < claim["drop"]["at_least"]


def test_the_printed_spec_loads_as_a_population_claim(probe, found_on_face_set):
    from probecheck.spec import load_spec
    from probecheck.spec.models import Spec

    if "sets" not in Spec.model_fields:
        pytest.skip("the spec language has no sets: yet")
    _, out_file = found_on_face_set
    spec = load_spec(out_file)
    assert spec.claims
    from probecheck.checks import evaluate_claim

    for claim in spec.claims:
        assert claim.drop is not None and claim.drop.set_name == "faces"
        result = evaluate_claim(claim, spec, probe)  # over every image of the set, as printed
        assert result.passed, result.failure_message()


def test_find_reads_the_set_from_a_spec(probe, face_set, capsys, tmp_path):
    spec = tmp_path / "sets.yaml"
    spec.write_text(
        f"sets:\n  mine: {{images: {face_set}/*.png, regions: {face_set}/regions.json}}\n"
        "claims:\n  - {id: x, layer: conv1, channels: [0], "
        "drop: {set: mine, mask_with: gray, region: eyes, at_least: 0.1}}\n"
    )
    common = ["--region", "eyes", "--mask-with", "gray", "--layer", LAYERS[0], "--top", 2]
    code, stdout, err = run_find(capsys, "--spec", spec, "--set", "mine", *common)
    assert code == 0, err
    assert "set mine: 12 images split with seed 0" in stdout
    code, stdout, err = run_find(capsys, "--spec", spec, "--set", "theirs", *common)
    assert code == 2 and "has no set named 'theirs' (its sets: mine)" in err


# --- find's verdict is the written claim's verdict (measuring stubbed) --------------------------


class _Layers:
    """Stands in for a Probe: find over a set only resolves the layers it is given."""

    def resolve(self, name: str) -> str:
        return name


def _stub_measure(monkeypatch, drops: dict[str, list[float]], controls=None) -> None:
    """measure_set gives the drops (per image name, one number a channel) of layer ``L``."""
    import probecheck.find_set as find_set

    def measure(probe, images, layers, **kwargs):
        names = [image.name for image in images]
        drop = np.array([drops[n] for n in names], dtype=np.float64)
        control = None if controls is None else np.array([controls[n] for n in names], float)
        width = drop.shape[1]
        return find_set.SetNumbers(
            ("L",),
            np.zeros(width, dtype=np.intp),
            np.arange(width),
            drop,
            control,
            np.zeros(drop.shape, dtype=bool),
            np.ones(drop.shape),
        )

    monkeypatch.setattr(find_set, "measure_set", measure)


def _named(names) -> list:
    from probecheck.find import RegionShapes
    from probecheck.find_set import SetImage

    return [SetImage(n, Path(n), RegionShapes(boxes=((0, 0, 1, 1),))) for n in names]


def test_the_whole_set_is_judged_as_the_written_claim_judges_it(monkeypatch):
    """The bootstrap draws resample positions, so the interval depends on the images' order:
    find must judge the whole set in the order the spec's set holds it (by file name), not
    discovery first, or it prints a claim whose own check fails (here by 0.004)."""
    from probecheck import stats

    names = [f"face{i:02d}.png" for i in range(10)]
    values = [0.23, 0.54, 1.0, 0.61, 0.54, 0.23, 0.48, 0.62, 0.52, 0.67]
    _stub_measure(monkeypatch, {n: [v] for n, v in zip(names, values, strict=True)})
    from probecheck.find_set import find_over_set

    found = find_over_set(_Layers(), _named(names), mask_with="inpaint", layers=["L"], top=1)
    (candidate,) = found.candidates
    at_least, _ = thresholds(candidate.confirmation)
    as_written = stats.mean_interval(np.array(values)).low  # the set in file-name order
    assert candidate.p_adjusted <= 0.05 and at_least > 0
    assert candidate.held == (as_written >= at_least), (as_written, at_least, candidate.why_not)


def test_views_of_one_picture_are_one_sample_in_the_test(monkeypatch):
    """Five views of a picture are not five independent faces: the held-out test has as many
    samples as pictures. Two held-out pictures seen five times each are two samples (a t-test
    with 1 degree of freedom); counted as ten images, their nearly equal views made p ~1e-18."""
    pictures = ["ann", "bob", "cid", "dan"]
    names = [f"{p}_{v}.png" for p in pictures for v in range(5)]
    base = {"ann": 0.5, "bob": 0.1, "cid": 0.4, "dan": 0.05}
    jitter = np.linspace(-0.01, 0.01, 5)
    drops = {f"{p}_{v}.png": [base[p] + jitter[v]] for p in pictures for v in range(5)}
    _stub_measure(monkeypatch, drops)
    from probecheck.find_set import find_over_set

    found = find_over_set(
        _Layers(), _named(names), mask_with="inpaint", layers=["L"], top=1, views_of="^([a-z]+)_"
    )
    held_out = sorted({n.split("_")[0] for n in found.confirmation})
    assert len(held_out) == 2
    views = {p: [drops[n][0] for n in found.confirmation if n.startswith(p)] for p in held_out}
    means = [np.mean(v) for v in views.values()]
    (candidate,) = found.candidates
    assert candidate.p == pytest.approx(float(one_sided_p(np.array(means))[0]))
