"""The spec layer: YAML → validated objects, and errors that name file, line, key and a fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from probecheck.errors import SpecError
from probecheck.spec import (
    Claim,
    DropCase,
    DropCheck,
    ModelRef,
    SelectiveCheck,
    Spec,
    StrongestCheck,
    json_schema,
    load_spec,
)

EXAMPLE = """\
model: {arch: squeezenet1_0, weights: deep-compression}
index_base: 1
images:
  face: ../fixtures/face.png
  face_no_eyes: ../fixtures/face_no_eyes.png
  face_no_cheeks: ../fixtures/face_no_cheeks.png
regions:
  eyes:   {boxes: [[92, 62, 124, 82], [134, 62, 166, 82]]}
  cheeks: {boxes: [[92, 110, 124, 130], [134, 110, 166, 130]]}
  blob:   {ellipses: [[120, 90, 30, 20]], polygons: [[[0, 0], [10, 0], [5, 8]]]}
  painted: {mask: ../fixtures/mask.png}
claims:
  - id: fire6-eyes
    about: a fire6 squeeze channel responds to eyes
    layer: fire6-relu_squeeze1x1
    channels: [29]
    require: all
    drop:
      image: face
      altered: face_no_eyes
      region: eyes
      at_least: 0.5
      control: cheeks
      control_altered: face_no_cheeks
      control_at_most: 0.3
  - id: conv1-red
    layer: conv1
    channels: [12, 3]
    selective: {image: face, region: eyes, ratio_at_least: 2.0}
  - id: fire6-strongest
    layer: fire6-squeeze1x1
    strongest: {image: face, in: [36]}
"""

IMAGES = ("face.png", "face_no_eyes.png", "face_no_cheeks.png")


def write_spec(tmp_path: Path, text: str, name: str = "face.yaml") -> Path:
    """A spec at tmp_path/specs/<name>, with placeholder image files in tmp_path/fixtures."""
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir(exist_ok=True)
    for image in IMAGES:
        if not (fixtures / image).exists():  # real PNGs: the loader reads their headers
            Image.new("RGB", (256, 256)).save(fixtures / image)
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    path = specs / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def edited(old: str, new: str, text: str = EXAMPLE) -> str:
    """EXAMPLE with one exact snippet replaced (fails loudly if the snippet is not there)."""
    assert old in text, old
    return text.replace(old, new, 1)


def load_error(tmp_path: Path, text: str) -> SpecError:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing ``snippet``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if snippet in line]
    return hits[occurrence - 1]


# --------------------------------------------------------------------------------- valid specs


def test_example_loads(tmp_path: Path) -> None:
    path = write_spec(tmp_path, EXAMPLE)
    spec = load_spec(path)
    assert isinstance(spec, Spec)
    assert spec.path == path  # tmp_path is absolute
    assert spec.model == ModelRef(arch="squeezenet1_0", weights="deep-compression", seed=0)
    assert [c.id for c in spec.claims] == ["fire6-eyes", "conv1-red", "fire6-strongest"]

    eyes = spec.claim("fire6-eyes")
    assert isinstance(eyes, Claim)
    assert eyes.channels == [28]
    assert eyes.channel_labels == [29]
    assert eyes.require == "all"
    assert list(eyes.checks) == ["drop"]
    assert isinstance(eyes.drop, DropCheck)
    assert eyes.drop.at_least == 0.5
    assert eyes.drop.control_at_most == 0.3
    assert eyes.drop.cases == [
        DropCase(
            image="face",
            altered="face_no_eyes",
            region="eyes",
            control="cheeks",
            control_altered="face_no_cheeks",
        )
    ]

    red = spec.claim("conv1-red")
    assert red.channels == [11, 2]
    assert isinstance(red.selective, SelectiveCheck)
    assert red.selective.ratio_at_least == 2.0
    assert red.selective.iou_at_least is None
    assert [(c.image, c.region) for c in red.selective.cases] == [("face", "eyes")]


def test_paths_resolve_against_spec_directory(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, EXAMPLE))
    fixtures = tmp_path / "fixtures"
    assert spec.base_dir == tmp_path / "specs"
    assert spec.image_path("face") == fixtures / "face.png"
    assert spec.image_paths["face_no_eyes"] == fixtures / "face_no_eyes.png"
    assert spec.images["face"] == "../fixtures/face.png"  # kept as written
    assert spec.regions["painted"].mask == "../fixtures/mask.png"
    assert spec.regions["painted"].mask_path == fixtures / "mask.png"
    assert spec.regions["eyes"].mask_path is None


def test_regions_keep_all_shapes(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, EXAMPLE))
    assert spec.regions["eyes"].boxes == [[92, 62, 124, 82], [134, 62, 166, 82]]
    assert spec.regions["blob"].ellipses == [[120, 90, 30, 20]]
    assert spec.regions["blob"].polygons == [[[0, 0], [10, 0], [5, 8]]]


def test_defaults(tmp_path: Path) -> None:
    text = """\
    images: {face: ../fixtures/face.png}
    regions: {eyes: {boxes: [[0, 0, 4, 4]]}}
    claims:
      - id: c
        layer: conv1
        channels: [0]
        selective: {image: face, region: eyes, iou_at_least: 0.2}
    """
    spec = load_spec(write_spec(tmp_path, text))
    assert spec.model == ModelRef()
    assert (spec.model.arch, spec.model.weights, spec.model.seed) == (
        "squeezenet1_0",
        "deep-compression",
        0,
    )
    assert spec.index_base == 0
    claim = spec.claims[0]
    assert claim.require == "all"
    assert claim.about is None
    assert claim.drop is None and claim.strongest is None
    assert claim.selective is not None and claim.selective.quantile == 0.99
    assert claim.channels == [0] and claim.channel_labels == [0]


def test_index_base_0_and_1_give_the_same_channels(tmp_path: Path) -> None:
    one = load_spec(write_spec(tmp_path, EXAMPLE, "one.yaml"))
    zero_text = EXAMPLE.replace("index_base: 1", "index_base: 0")
    zero_text = zero_text.replace("channels: [29]", "channels: [28]")
    zero_text = zero_text.replace("channels: [12, 3]", "channels: [11, 2]")
    zero_text = zero_text.replace("in: [36]", "in: [35]")
    zero = load_spec(write_spec(tmp_path, zero_text, "zero.yaml"))
    for a, b in zip(one.claims, zero.claims, strict=True):
        assert a.channels == b.channels
    assert one.claims[2].strongest is not None and zero.claims[2].strongest is not None
    assert one.claims[2].strongest.in_ == zero.claims[2].strongest.in_ == [35]
    assert one.claims[0].channel_labels == [29]
    assert zero.claims[0].channel_labels == [28]
    assert one.label(28) == 29 and zero.label(28) == 28
    assert one.claims[1].label(2) == 3


def test_claim_lines(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, EXAMPLE))
    assert [c.line for c in spec.claims] == [
        line_of(EXAMPLE, "id: fire6-eyes"),
        line_of(EXAMPLE, "id: conv1-red"),
        line_of(EXAMPLE, "id: fire6-strongest"),
    ]


def test_strongest_in_alias(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, EXAMPLE))
    claim = spec.claim("fire6-strongest")
    assert claim.channels is None and claim.channel_labels == []
    check = claim.strongest
    assert isinstance(check, StrongestCheck)
    assert check.in_ == [35]
    assert check.in_labels == [36]
    assert check.top_k is None
    assert [(c.image, c.region) for c in check.cases] == [("face", None)]
    assert StrongestCheck.model_validate({"image": "face", "in": [1]}).in_ == [1]
    assert StrongestCheck(image="face", in_=[2]).in_ == [2]


def test_strongest_top_k_needs_channels(tmp_path: Path) -> None:
    text = edited("strongest: {image: face, in: [36]}", "strongest: {image: face, top_k: 3}")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-strongest]"
    assert "channels" in err.detail
    text = edited("layer: fire6-squeeze1x1", "layer: fire6-squeeze1x1\n    channels: [4]", text)
    claim = load_spec(write_spec(tmp_path, text)).claim("fire6-strongest")
    assert claim.strongest is not None and claim.strongest.top_k == 3
    assert claim.channels == [3]


def test_strongest_with_region_and_cases(tmp_path: Path) -> None:
    text = edited(
        "strongest: {image: face, in: [36]}",
        "strongest: {in: [36], cases: [{image: face, region: eyes}, {image: face_no_eyes}]}",
    )
    check = load_spec(write_spec(tmp_path, text)).claim("fire6-strongest").strongest
    assert check is not None
    assert [(c.image, c.region) for c in check.cases] == [("face", "eyes"), ("face_no_eyes", None)]


def test_drop_cases_normalised(tmp_path: Path) -> None:
    text = edited(
        """\
      image: face
      altered: face_no_eyes
      region: eyes
      at_least: 0.5
      control: cheeks
      control_altered: face_no_cheeks
""",
        """\
      at_least: 0.5
      cases:
        - {image: face, altered: face_no_eyes, region: eyes, control: cheeks,
           control_altered: face_no_cheeks}
        - {image: face_no_cheeks, mask_with: inpaint, region: eyes, control: cheeks}
""",
    )
    check = load_spec(write_spec(tmp_path, text)).claim("fire6-eyes").drop
    assert check is not None
    assert len(check.cases) == 2
    assert check.cases[1] == DropCase(
        image="face_no_cheeks", mask_with="inpaint", region="eyes", control="cheeks"
    )
    assert check.control_at_most == 0.3


def test_inline_case_fields_are_folded_into_cases(tmp_path: Path) -> None:
    check = load_spec(write_spec(tmp_path, EXAMPLE)).claim("fire6-eyes").drop
    assert check is not None and len(check.cases) == 1
    assert (check.image, check.altered, check.region, check.control) == (None,) * 4


def test_mask_with_and_control_without_pair(tmp_path: Path) -> None:
    text = edited("      altered: face_no_eyes\n", "      mask_with: blur\n")
    text = edited("      control_altered: face_no_cheeks\n", "", text)
    drop = load_spec(write_spec(tmp_path, text)).claim("fire6-eyes").drop
    assert drop is not None
    case = drop.cases[0]
    assert (case.mask_with, case.altered, case.control, case.control_altered) == (
        "blur",
        None,
        "cheeks",
        None,
    )


def test_model_dump_round_trips(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, EXAMPLE))
    dumped = spec.model_dump(exclude_none=True)
    assert dumped["claims"][0]["channels"] == [29]  # as written, in the file's index_base
    assert dumped["claims"][2]["strongest"]["in"] == [36]
    again = Spec.model_validate(json.loads(json.dumps(dumped)))
    assert [c.channels for c in again.claims] == [c.channels for c in spec.claims]
    assert again.claims[2].strongest == spec.claims[2].strongest


def test_model_seed_and_random_weights(tmp_path: Path) -> None:
    text = edited(
        "model: {arch: squeezenet1_0, weights: deep-compression}",
        "model: {arch: resnet18, weights: random, seed: 7}",
    )
    assert load_spec(write_spec(tmp_path, text)).model == ModelRef(
        arch="resnet18", weights="random", seed=7
    )


# ------------------------------------------------------------------------------ spec errors


def test_error_format_names_file_line_key_and_fix(tmp_path: Path) -> None:
    text = edited("      at_least: 0.5", "      at_lest: 0.5")
    err = load_error(tmp_path, text)
    line = line_of(text, "at_lest")
    assert err.path is not None and err.path.endswith("face.yaml")
    assert err.line == line
    assert err.key == "claims[fire6-eyes].drop.at_lest"
    assert err.column == 7  # of the key, 1-based
    assert str(err).startswith(f"{err.path}:{line}:7: claims[fire6-eyes].drop.at_lest: ")
    assert err.problems == [err]  # the missing 'at_least' it was meant to be is not repeated
    assert "unknown key 'at_lest'" in str(err)
    assert "\n  fix: " in str(err)
    assert err.fix is not None and "did you mean 'at_least'?" in err.fix
    assert "allowed keys are:" in err.fix


@pytest.mark.parametrize(
    ("old", "new", "key", "suggest"),
    [
        ("weights: deep-compression}", "weight: deep-compression}", "model.weight", "weights"),
        ("index_base: 1", "index_bse: 1", "index_bse", "index_base"),
        ("    require: all", "    requires: all", "claims[fire6-eyes].requires", "require"),
        ("{boxes: [[92, 62,", "{box: [[92, 62,", "regions.eyes.box", "boxes"),
        (
            "ratio_at_least: 2.0}",
            "ratio_atleast: 2.0}",
            "claims[conv1-red].selective.ratio_atleast",
            "ratio_at_least",
        ),
    ],
)
def test_unknown_keys_anywhere(tmp_path: Path, old: str, new: str, key: str, suggest: str) -> None:
    text = edited(old, new)
    err = load_error(tmp_path, text)
    assert err.key == key
    assert err.line == line_of(text, new.split(":")[0].strip(" {"))
    assert err.fix is not None and f"did you mean '{suggest}'?" in err.fix


def test_missing_required_key(tmp_path: Path) -> None:
    text = edited("    layer: conv1\n", "")
    err = load_error(tmp_path, text)
    assert err.key == "claims[conv1-red].layer"
    assert err.line == line_of(text, "id: conv1-red")
    assert "missing required key 'layer'" in err.detail
    assert err.fix is not None and err.fix.startswith("add layer:")


def test_missing_threshold(tmp_path: Path) -> None:
    text = edited("      at_least: 0.5\n", "")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop.at_least"
    assert "missing required key 'at_least'" in err.detail


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        (
            "      at_least: 0.5",
            "      at_least: lots",
            "claims[fire6-eyes].drop.at_least",
            "a number",
        ),
        (
            "      at_least: 0.5",
            "      at_least: true",
            "claims[fire6-eyes].drop.at_least",
            "a number",
        ),
        (
            "channels: [12, 3]",
            "channels: [12, x]",
            "claims[conv1-red].channels[1]",
            "a whole number",
        ),
        (
            "channels: [12, 3]",
            "channels: [12, 3.5]",
            "claims[conv1-red].channels[1]",
            "a whole number",
        ),
        ("channels: [29]", "channels: 29", "claims[fire6-eyes].channels", "a list"),
        ("    layer: conv1", "    layer: 12", "claims[conv1-red].layer", "text"),
        (
            "model: {arch: squeezenet1_0, weights: deep-compression}",
            "model: squeezenet1_0",
            "model",
            "a mapping",
        ),
        ("index_base: 1", "index_base: yes", "index_base", "a whole number"),
    ],
)
def test_wrong_types(tmp_path: Path, old: str, new: str, key: str, expected: str) -> None:
    text = edited(old, new)
    err = load_error(tmp_path, text)
    assert err.key == key
    assert err.line == line_of(text, new.strip())
    assert f"expected {expected}" in err.detail
    assert err.fix


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("index_base: 1", "index_base: 2", "index_base", "at most 1"),
        ("require: all", "require: al", "claims[fire6-eyes].require", "not allowed"),
        ("id: conv1-red", "id: conv1 red", "claims[1].id", "not allowed"),
        ("channels: [29]", "channels: []", "claims[fire6-eyes].channels", "at least 1 item"),
        ("[92, 62, 124, 82], [134", "[92, 62, 124], [134", "regions.eyes.boxes[0]", "at least 4"),
        ("[92, 62, 124, 82], [134", "[92, 62, 92, 82], [134", "regions.eyes.boxes[0]", "empty"),
        ("[[120, 90, 30, 20]]", "[[120, 90, 0, 20]]", "regions.blob.ellipses[0]", "positive"),
        (
            "[[[0, 0], [10, 0], [5, 8]]]",
            "[[[0, 0], [10, 0]]]",
            "regions.blob.polygons[0]",
            "at least 3",
        ),
        (
            "painted: {mask: ../fixtures/mask.png}",
            "painted: {}",
            "regions.painted",
            "at least one shape",
        ),
        ("channels: [12, 3]", "channels: [12, 12]", "claims[conv1-red].channels[1]", "twice"),
        (
            "channels: [12, 3]",
            "channels: [12, 0]",
            "claims[conv1-red].channels[1]",
            "below index_base 1",
        ),
        ("in: [36]", "in: [0]", "claims[fire6-strongest].strongest.in[0]", "below index_base"),
        (
            "in: [36]}",
            "in: [36], top_k: 2}",
            "claims[fire6-strongest].strongest.top_k",
            "exactly one of 'in' or 'top_k'",
        ),
        (
            "ratio_at_least: 2.0}",
            "ratio_at_least: 2.0, iou_at_least: 0.2}",
            "claims[conv1-red].selective.iou_at_least",
            "exactly one",
        ),
        (
            "ratio_at_least: 2.0}",
            "iou_at_least: 0.2, quantile: 1.5}",
            "claims[conv1-red].selective.quantile",
            "less than 1",
        ),
        # a drop of at least 0 holds for every channel that does not grow: a claim that
        # cannot fail is refused, not passed
        ("at_least: 0.5", "at_least: 0", "claims[fire6-eyes].drop.at_least", "greater than 0"),
        (
            "      altered: face_no_eyes",
            "      mask_with: blurr",
            "claims[fire6-eyes].drop.mask_with",
            "not allowed",
        ),
    ],
)
def test_bad_values(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    err = load_error(tmp_path, edited(old, new))
    assert err.key == key
    assert words in err.detail
    assert err.fix


def test_literal_suggests_close_value(tmp_path: Path) -> None:
    err = load_error(tmp_path, edited("      altered: face_no_eyes", "      mask_with: blurr"))
    assert err.fix is not None and "did you mean 'blur'?" in err.fix
    assert "inpaint, blur, mean, gray, noise" in err.fix


def test_claim_without_checks(tmp_path: Path) -> None:
    text = edited("    selective: {image: face, region: eyes, ratio_at_least: 2.0}\n", "")
    err = load_error(tmp_path, text)
    assert err.key == "claims[conv1-red]"
    assert err.line == line_of(text, "id: conv1-red")
    assert "at least one check" in err.detail


def test_undefined_region(tmp_path: Path) -> None:
    text = edited("region: eyes, ratio_at_least", "region: eye, ratio_at_least")
    err = load_error(tmp_path, text)
    assert err.key == "claims[conv1-red].selective.region"
    assert err.line == line_of(text, "region: eye,")
    assert "'eye' is not defined under regions:" in err.detail
    assert err.fix is not None and "did you mean 'eyes'?" in err.fix


def test_undefined_region_without_close_match(tmp_path: Path) -> None:
    err = load_error(tmp_path, edited("control: cheeks", "control: forehead"))
    assert err.key == "claims[fire6-eyes].drop.control"
    assert err.fix is not None and "add 'forehead: {boxes:" in err.fix
    assert "under regions:" in err.fix


def test_undefined_image(tmp_path: Path) -> None:
    text = edited("altered: face_no_eyes", "altered: face_without_eyes")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop.altered"
    assert err.line == line_of(text, "altered: face_without_eyes")
    assert "not defined under images:" in err.detail


def test_undefined_name_inside_cases(tmp_path: Path) -> None:
    text = edited(
        "strongest: {image: face, in: [36]}",
        "strongest:\n      in: [36]\n      cases:\n        - image: face\n        - image: nose",
    )
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-strongest].strongest.cases[1].image"
    assert err.line == line_of(text, "- image: nose")


def test_duplicate_claim_ids(tmp_path: Path) -> None:
    text = edited("id: conv1-red", "id: fire6-eyes")
    err = load_error(tmp_path, text)
    assert err.line == line_of(text, "id: fire6-eyes", occurrence=2)
    assert "duplicate claim id 'fire6-eyes'" in err.detail
    assert err.fix is not None and "unique" in err.fix


@pytest.mark.parametrize(
    ("old", "new", "key", "snippet"),
    [
        (
            "      at_least: 0.5",
            "      at_least: 0.5\n      at_least: 0.6",
            "claims[fire6-eyes].drop.at_least",
            "at_least:",
        ),
        ("  cheeks:", "  eyes: {boxes: [[0, 0, 1, 1]]}\n  cheeks:", "regions.eyes", "  eyes:"),
        ("claims:", "index_base: 0\nclaims:", "index_base", "index_base:"),
    ],
)
def test_duplicate_yaml_keys(tmp_path: Path, old: str, new: str, key: str, snippet: str) -> None:
    text = edited(old, new)
    err = load_error(tmp_path, text)
    assert err.key == key
    assert err.line == line_of(text, snippet, occurrence=2)
    assert "duplicate key" in err.detail
    assert f"first on line {line_of(text, snippet)}" in err.detail


def test_altered_and_mask_with_together(tmp_path: Path) -> None:
    text = edited(
        "      altered: face_no_eyes", "      altered: face_no_eyes\n      mask_with: blur"
    )
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop.mask_with"
    assert err.line == line_of(text, "mask_with: blur")
    assert "not both" in err.detail


def test_neither_altered_nor_mask_with(tmp_path: Path) -> None:
    text = edited("      altered: face_no_eyes\n", "")
    text = edited("      control_altered: face_no_cheeks\n", "", text)
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop"
    assert "'altered' or 'mask_with'" in err.detail


def test_control_without_control_altered_on_a_pair(tmp_path: Path) -> None:
    text = edited("      control_altered: face_no_cheeks\n", "")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop.control"
    assert err.line == line_of(text, "control: cheeks")
    assert "needs 'control_altered'" in err.detail


def test_control_altered_forbidden_with_mask_with(tmp_path: Path) -> None:
    text = edited("      altered: face_no_eyes", "      mask_with: gray")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop.control_altered"
    assert "mask_with" in err.detail


def test_control_at_most_missing(tmp_path: Path) -> None:
    text = edited("      control_at_most: 0.3\n", "")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop"
    assert err.line == line_of(text, "drop:")
    assert "control_at_most" in err.detail


def test_control_at_most_without_control(tmp_path: Path) -> None:
    text = edited("      control: cheeks\n      control_altered: face_no_cheeks\n", "")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop.control_at_most"
    assert err.line == line_of(text, "control_at_most")


def test_cases_and_inline_fields_together(tmp_path: Path) -> None:
    text = edited(
        "      at_least: 0.5",
        "      at_least: 0.5\n      cases: [{image: face, mask_with: blur, region: eyes}]",
    )
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-eyes].drop.cases"
    assert err.line == line_of(text, "cases:")
    assert "not both" in err.detail


def test_empty_cases_list(tmp_path: Path) -> None:
    text = edited("strongest: {image: face, in: [36]}", "strongest: {in: [36], cases: []}")
    err = load_error(tmp_path, text)
    assert err.key == "claims[fire6-strongest].strongest.cases"


def test_rule_inside_a_case(tmp_path: Path) -> None:
    text = edited(
        "selective: {image: face, region: eyes, ratio_at_least: 2.0}",
        "drop:\n      at_least: 0.5\n      cases:\n        - {image: face, region: eyes}",
    )
    err = load_error(tmp_path, text)
    assert err.key == "claims[conv1-red].drop.cases[0]"
    assert err.line == line_of(text, "- {image: face, region: eyes}")


def test_missing_image_file(tmp_path: Path) -> None:
    text = edited("face_no_cheeks: ../fixtures/face_no_cheeks.png", "face_no_cheeks: cheeks.png")
    err = load_error(tmp_path, text)
    assert err.key == "images.face_no_cheeks"
    assert err.line == line_of(text, "face_no_cheeks: cheeks.png")
    assert "not found" in err.detail
    assert str(tmp_path / "specs" / "cheeks.png") in err.detail
    assert err.fix is not None and "relative to the spec file" in err.fix


def test_masks_of_unused_regions_are_not_read(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, EXAMPLE))
    mask = spec.regions["painted"].mask_path
    assert mask is not None and not mask.exists()


# ----------------------------------------------------------------------- file and YAML errors


def test_yaml_syntax_error_line(tmp_path: Path) -> None:
    text = edited("    layer: conv1", "    layer: [conv1")
    err = load_error(tmp_path, text)
    assert "invalid YAML" in err.detail
    assert err.line in (line_of(text, "[conv1"), line_of(text, "[conv1") + 1)
    assert err.fix


def test_tabs(tmp_path: Path) -> None:
    err = load_error(tmp_path, edited("    layer: conv1", "\tlayer: conv1"))
    assert err.fix == "indent with spaces, not tabs"


@pytest.mark.parametrize("text", ["", "\n\n# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    err = load_error(tmp_path, text)
    assert "empty" in err.detail
    assert err.fix


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_not_a_mapping(tmp_path: Path, text: str) -> None:
    err = load_error(tmp_path, text)
    assert err.line == 1
    assert "top level must be a mapping" in err.detail


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found") as info:
        load_spec(tmp_path / "nope.yaml")
    assert info.value.fix


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="directory"):
        load_spec(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"images: {}\nclaims: \xff\xfe\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.line == 2
    assert "UTF-8" in str(info.value)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write_spec(tmp_path, EXAMPLE)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(load_spec(path).claims) == 3


@pytest.mark.parametrize(
    "text",
    [
        "claims: !!python/object/apply:os.system ['true']\n",
        "a: 1\n---\nb: 2\n",
        "claims:\n",
        "claims: [1, 2]\n",
        "claims: [{id: a, layer: l, channels: [0], drop: {}}]\n",
        "claims: [{id: a, layer: l, channels: [0], drop: [], selective: 3, strongest: null}]\n",
        "images: [a, b]\nclaims: []\n",
        "images: {1: a.png}\nclaims: []\n",
        "? [a, b]\n: 1\n",
        "regions: {r: {boxes: [[a, b, c, d]]}}\nclaims: []\n",
        "model: {arch: null}\nclaims: [{}]\n",
        "&a [*a]\n",
        "index_base: 1\nclaims: [{id: x, layer: l, strongest: {image: i, in: [0, 0]}}]\n",
    ],
)
def test_only_spec_errors_escape(tmp_path: Path, text: str) -> None:
    err = load_error(tmp_path, text)
    assert err.fix
    assert str(err).startswith(str(tmp_path))


# ------------------------------------------------------------------------------------ schema


def _object_schemas(node: Any) -> list[dict[str, Any]]:
    """Every sub-schema that declares properties."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_object_schemas(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_object_schemas(value))
    return found


def test_json_schema_shape() -> None:
    schema = json_schema()
    assert isinstance(schema, dict)
    json.dumps(schema)  # plain JSON
    assert schema["$schema"].startswith("https://json-schema.org/")
    objects = _object_schemas(schema)
    assert len(objects) >= 9  # spec, model, region, claim, 3 checks, 3 cases
    assert all(o.get("additionalProperties") is False for o in objects)
    assert all(o.get("description") for o in objects)
    strongest = schema["$defs"]["StrongestCheck"]["properties"]
    assert "in" in strongest and "in_" not in strongest
    assert "description" in schema["$defs"]["DropCheck"]["properties"]["at_least"]


def _shipped_specs() -> list[Path]:
    specs = Path(__file__).resolve().parents[2] / "specs"
    return sorted(specs.glob("**/*.yaml")) + sorted(specs.glob("**/*.yml"))


def test_json_schema_accepts_the_examples() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    documents = [yaml.safe_load(EXAMPLE)] + [
        yaml.safe_load(p.read_text(encoding="utf-8")) for p in _shipped_specs()
    ]
    for document in documents:
        jsonschema.validate(document, schema)
    bad = yaml.safe_load(EXAMPLE)
    bad["claims"][0]["drop"]["at_lest"] = 0.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
