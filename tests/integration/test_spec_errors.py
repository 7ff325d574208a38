"""Spec errors as the user sees them: one per category, on the shipped face spec broken one way.

Each case edits ``specs/face.yaml`` and checks the problem as collection reports it (the loader,
then the check against the network): the message, the line it points at, the fix. The last tests
run pytest on a file with many problems and check the collection error lists them all, sorted,
with no traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probecheck.errors import SpecError
from probecheck.spec import load_spec
from probecheck.validate import check_against_network

REPO = Path(__file__).resolve().parents[2]
FACE = (REPO / "docs" / "single_pair_face.yaml").read_text(encoding="utf-8")

#: (category, case, the line the problem points at (a snippet of it; None: no line; a snippet
#: ending in a newline is the whole line), words of its message, edits (old, new) of face.yaml)
CASES: list[tuple[str, str, str | None, str, list[tuple[str, str]]]] = [
    ("empty file", "nothing", None, "the spec file is empty", [(FACE, "")]),
    ("empty file", "comments only", None, "the spec file is empty", [(FACE, "# to do\n\n")]),
    (
        "invalid YAML",
        "unclosed bracket",
        "    drop:\n",
        "invalid YAML: while parsing a flow sequence",
        [("channels: [15]", "channels: [15")],
    ),
    (
        "invalid YAML",
        "tab",
        "\t",
        "found a tab character",
        [("    layer: fire6-squeeze1x1", "\tlayer: fire6-squeeze1x1")],
    ),
    ("invalid YAML", "two documents", "---", "single document", [("claims:", "---\nclaims:")]),
    (
        "wrong top-level type",
        "list",
        "- a",
        "top level must be a mapping, got a list",
        [(FACE, "- a\n- b\n")],
    ),
    (
        "wrong top-level type",
        "number",
        "42",
        "top level must be a mapping, got 42",
        [(FACE, "42\n")],
    ),
    (
        "unknown or misspelt keys",
        "at_lest",
        "at_lest",
        "did you mean 'at_least'?",
        [("at_least: 0.7", "at_lest: 0.7")],
    ),
    (
        "unknown or misspelt keys",
        "layr",
        "layr",
        "'layr'",
        [("    layer: fire6-squeeze1x1", "    layr: fire6-squeeze1x1")],
    ),
    (
        "unknown or misspelt keys",
        "region key",
        "boxs",
        "did you mean 'boxes'?",
        [("  eyes:   {boxes:", "  eyes:   {boxs:")],
    ),
    (
        "wrong types and ranges",
        "channels text",
        "fifteen",
        "expected a whole number",
        [("channels: [15]", "channels: [fifteen]")],
    ),
    (
        "wrong types and ranges",
        "threshold text",
        "lots",
        "expected a number",
        [("at_least: 0.7", "at_least: lots")],
    ),
    (
        "wrong types and ranges",
        "not a number",
        ".nan",
        "finite number",
        [("at_least: 0.7", "at_least: .nan")],
    ),
    (
        "wrong types and ranges",
        "index_base 2",
        "index_base",
        "must be at most 1, got 2",
        [("index_base: 0", "index_base: 2")],
    ),
    (
        "wrong types and ranges",
        "quantile",
        "quantile",
        "must be less than 1",
        [("ratio_at_least: 1.5}", "iou_at_least: 0.2, quantile: 1.5}")],
    ),
    (
        "undefined image or region names",
        "region",
        "region: eye,",
        "'eye' is not defined under regions:",
        [("region: eyes, ratio", "region: eye, ratio")],
    ),
    (
        "undefined image or region names",
        "image",
        "image: fac,",
        "'fac' is not defined under images:",
        [("{image: face, region: eyes, ratio", "{image: fac, region: eyes, ratio")],
    ),
    (
        "missing or unreadable image files",
        "missing",
        "astronaut_fcae",
        "image file not found",
        [("astronaut_face.png", "astronaut_fcae.png")],
    ),
    (
        "missing or unreadable image files",
        "not an image",
        "README.md",
        "it is not an image file",
        [("astronaut_face.png", "README.md")],
    ),
    (
        "missing or unreadable image files",
        "a directory",
        "face: ../fixtures",
        "image is not a file",
        [("../fixtures/astronaut_face.png", "../fixtures")],
    ),
    (
        "regions outside the image or inverted",
        "box outside",
        "  eyes:   {",
        "box [147, 80, 302, 107] reaches outside the 256×256 image 'face'",
        [("[147, 80, 202, 107]", "[147, 80, 302, 107]")],
    ),
    (
        "regions outside the image or inverted",
        "box inverted",
        "  eyes:   {",
        "box [202, 80, 147, 107] is empty",
        [("[147, 80, 202, 107]", "[202, 80, 147, 107]")],
    ),
    (
        "regions outside the image or inverted",
        "ellipse outside",
        "  cheeks: {",
        "ellipse 0 lies wholly outside the 256×256 image 'face'",
        [
            (
                "{boxes: [[56, 114, 102, 141], [150, 114, 205, 141]]}",
                "{ellipses: [[400, 400, 20, 20]]}",
            )
        ],
    ),
    (
        "regions outside the image or inverted",
        "mask of another size",
        "  cheeks: {",
        "mask is 227×227 but the image 'face' it is used with is 256×256",
        [("{boxes: [[56, 114, 102, 141], [150, 114, 205, 141]]}", "{mask: ../fixtures/edge.png}")],
    ),
    (
        "duplicate claim ids",
        "id",
        "id: fire6-eyes",
        "duplicate claim id 'fire6-eyes' (also claims[0])",
        [("id: fire9-strongest", "id: fire6-eyes")],
    ),
    (
        "claim with no check",
        "no check",
        "id: fire9-strongest",
        "a claim needs at least one check",
        [("    strongest: {image: face, top_k: 1}\n", "")],
    ),
    (
        "unknown arch, weights, layer or mask method",
        "arch",
        "model:",
        "unknown architecture 'squeezenet1_2'",
        [("arch: squeezenet1_0", "arch: squeezenet1_2")],
    ),
    (
        "unknown arch, weights, layer or mask method",
        "weights",
        "model:",
        "unknown weights 'IMAGENET1K_V2' for squeezenet1_0 (did you mean 'IMAGENET1K_V1'?)",
        [("weights: deep-compression", "weights: IMAGENET1K_V2")],
    ),
    (
        "unknown arch, weights, layer or mask method",
        "weights of another arch",
        "model:",
        "deep-compression weights are SqueezeNet v1.0's and do not fit 'resnet18'",
        [("arch: squeezenet1_0", "arch: resnet18")],
    ),
    (
        "unknown arch, weights, layer or mask method",
        "layer",
        "fire9-relu_squeeze1x2",
        "unknown layer 'fire9-relu_squeeze1x2' — did you mean 'fire9-relu_squeeze1x1'?",
        [("layer: fire9-relu_squeeze1x1", "layer: fire9-relu_squeeze1x2")],
    ),
    (
        "unknown arch, weights, layer or mask method",
        "not a channel map",
        "layer: fc",
        "layer 'fc' gives activations of shape (1000,), not channel maps",
        [
            ("arch: squeezenet1_0, weights: deep-compression", "arch: resnet18, weights: random"),
            ("layer: fire9-relu_squeeze1x1", "layer: fc"),
        ],
    ),
    (
        "unknown arch, weights, layer or mask method",
        "mask method",
        "inpaints",
        "'inpaints' is not allowed",
        [("mask_with: inpaint", "mask_with: inpaints")],
    ),
    (
        "out-of-range channels",
        "index_base 0",
        "channels: [64]",
        "channel 64 is out of range: fire9-relu_squeeze1x1 has channels 0..63 (index_base 0)",
        [("channels: [63]", "channels: [64]")],
    ),
    (
        "out-of-range channels",
        "index_base 1",
        "channels: [49]",
        "channel 49 is out of range: fire6-relu_squeeze1x1 has channels 1..48 (index_base 1)",
        [
            ("index_base: 0", "index_base: 1"),
            ("channels: [15]", "channels: [49]"),
            ("in: [22]", "in: [23]"),
            ("channels: [63]", "channels: [64]"),
        ],
    ),
    (
        "out-of-range channels",
        "strongest in",
        "in: [48]",
        "channel 48 is out of range: fire6-relu_squeeze1x1 has channels 0..47",
        [("in: [22]", "in: [48]")],
    ),
    (
        "out-of-range channels",
        "top_k",
        "top_k",
        "top_k 65 is more than the 64 channels of fire9-relu_squeeze1x1",
        [("top_k: 1", "top_k: 65")],
    ),
    (
        "out-of-range channels",
        "top_k of every channel",
        "top_k",
        "top_k 64 takes in all 64 channels of fire9-relu_squeeze1x1: the claim could not fail",
        [("top_k: 1", "top_k: 64")],
    ),
    (
        "out-of-range channels",
        "in of every channel",
        "in: [0, 1",
        "in names all 48 channels of fire6-relu_squeeze1x1: the claim could not fail",
        [("in: [22]", f"in: {list(range(48))}")],
    ),
    (
        "out-of-range channels",
        "below index_base",
        "in: [0]",
        "channel 0 is below index_base 1",
        [
            ("index_base: 0", "index_base: 1"),
            ("in: [22]", "in: [0]"),
            ("channels: [63]", "channels: [64]"),
        ],
    ),
]

PARAMS = [
    pytest.param(line, words, edits, id=f"{category}: {name}")
    for category, name, line, words, edits in CASES
]


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    """tmp/specs beside a link to the real fixtures, as the shipped specs expect."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "fixtures").symlink_to(REPO / "fixtures", target_is_directory=True)
    return tmp_path / "specs"


def collection_error(path: Path) -> SpecError:
    """The SpecError that collecting ``path`` raises (loading, then the network's names)."""
    with pytest.raises(SpecError) as info:
        spec = load_spec(path)
        check_against_network(spec, spec.model.arch, spec.model.weights)
    return info.value


def edit(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, snippet: str) -> int:
    """The last line holding ``snippet`` (a repeated id is reported where it is repeated);
    a snippet ending in a newline is the whole line."""
    lines = text.splitlines()
    if snippet.endswith("\n"):
        return lines.index(snippet[:-1]) + 1
    return [i for i, line in enumerate(lines, 1) if snippet in line][-1]


@pytest.mark.parametrize(("snippet", "words", "edits"), PARAMS)
def test_each_kind_of_spec_error(
    spec_dir: Path, snippet: str | None, words: str, edits: list[tuple[str, str]]
) -> None:
    text = edit(FACE, edits)
    path = spec_dir / "face.yaml"
    path.write_text(text, encoding="utf-8")
    error = collection_error(path)
    matching = [p for p in error.problems if words in str(p)]
    assert matching, f"{words!r} not in:\n{error}"
    problem = matching[0]
    assert problem.fix, problem
    assert str(problem).startswith(f"{path}:" if snippet else f"{path}: ")
    assert "Traceback" not in str(error)
    if snippet is not None:
        assert problem.line == line_of(text, snippet), str(problem)
        assert problem.column is not None and problem.column >= 1
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", str(problem))


def test_an_image_too_large_to_decode_is_named(spec_dir: Path) -> None:
    from PIL import Image

    huge = spec_dir / "huge.png"
    Image.new("1", (20_000, 20_000)).save(huge)  # 400 megapixels, 50 kB on disk
    path = spec_dir / "face.yaml"
    path.write_text(FACE.replace("../fixtures/astronaut_face.png", "huge.png"), encoding="utf-8")
    error = collection_error(path)
    assert f"cannot read image {huge}: Image size (400000000 pixels)" in str(error)
    assert error.problems[0].key == "images.face"


def test_the_shipped_specs_have_no_error() -> None:
    for path in sorted((REPO / "specs").glob("*.yaml")):
        spec = load_spec(path)
        check_against_network(spec, spec.model.arch, spec.model.weights)


# ------------------------------------------------------------------- all at once, via pytest

BROKEN = edit(
    FACE,
    [
        ("[147, 80, 202, 107]", "[147, 80, 302, 107]"),
        ("at_least: 0.7", "at_lest: 0.7"),
        ("region: eyes, ratio", "region: eye, ratio"),
        ("layer: fire6-squeeze1x1", "layer: fire6-squeeze1x2"),
        ("channels: [63]", "channels: [64]"),
        ("id: fire9-strongest", "id: fire6-strongest"),
    ],
)


def test_every_problem_of_a_file_at_once(spec_dir: Path) -> None:
    path = spec_dir / "face.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    error = collection_error(path)
    found = [(p.line, p.key, p.detail) for p in error.problems]
    assert found == [
        (10, "regions.eyes.boxes[1]", "box [147, 80, 302, 107] reaches outside the 256×256 ima"
                                      "ge 'face'"),
        (24, "claims[fire6-eyes].drop.at_lest", "unknown key 'at_lest'"),
        (26, "claims[fire6-eyes].selective.region", "'eye' is not defined under regions:"),
        (39, "claims[3].id", "duplicate claim id 'fire6-strongest' (also claims[2])"),
    ]  # fmt: skip
    # once the file itself is sound, the network's names: every one of them too
    fixes = [("302, 107", "202, 107"), ("at_lest", "at_least"), ("eye, ratio", "eyes, ratio")]
    fixes.append(
        ("id: fire6-strongest\n    about: channel 63", "id: fire9-strongest\n    about: 6")
    )
    path.write_text(edit(BROKEN, fixes))
    error = collection_error(path)
    assert [(p.line, p.key) for p in error.problems] == [
        (30, "claims[fire6-eyes-pre-relu].layer"),
        (42, "claims[fire9-strongest].channels[0]"),
    ]  # fmt: skip


def test_collection_error_lists_them_without_traceback(
    pytester: pytest.Pytester, spec_dir: Path
) -> None:
    (spec_dir / "face.yaml").write_text(BROKEN, encoding="utf-8")
    result = pytester.runpytest("-p", "no:cacheprovider", "--probe-specs", str(spec_dir))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting*face.yaml*",
            "*face.yaml: 4 problems",
            "*face.yaml:10:40: regions.eyes.boxes[[]1[]]: box [[]147, 80, 302, 107[]] reaches "
            "outside the 256×256 image 'face'",
            "  fix: keep 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256; *",
            "*face.yaml:24:7: claims[[]fire6-eyes[]].drop.at_lest: unknown key 'at_lest'",
            "  fix: did you mean 'at_least'? *",
            "*face.yaml:26:30: claims[[]fire6-eyes[]].selective.region: 'eye' is not defined*",
            "  fix: use a name defined under regions: (did you mean 'eyes'?)*",
            "*face.yaml:39:5: claims[[]3[]].id: duplicate claim id 'fire6-strongest'*",
            "  fix: give every claim a unique id",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "probecheck/" not in result.stdout.str()  # no frames of the package's code


def test_a_rank_at_most_that_takes_in_every_channel_is_refused(spec_dir: Path) -> None:
    # the null's rank of the effect among the layer's channels is within the layer's width
    # whatever the network: rank_at_most of that width could not fail
    text = (
        "sets:\n"
        "  faces: {images: ../fixtures/faces/*.png, regions: ../fixtures/faces/regions.json}\n"
        "claims:\n"
        "  - id: eyes\n"
        "    layer: fire6-relu_squeeze1x1\n"
        "    channels: [15]\n"
        "    drop: {set: faces, mask_with: gray, region: eyes, at_least: 0.5,\n"
        "           rank_at_most: 48}\n"
    )
    path = spec_dir / "ranks.yaml"
    path.write_text(text, encoding="utf-8")
    error = collection_error(path)
    words = "rank_at_most 48 takes in all 48 channels of fire6-relu_squeeze1x1"
    problem = next(p for p in error.problems if words in str(p))
    assert problem.line == 8 and "choose rank_at_most from 1 to 47" in str(problem)
    path.write_text(text.replace("rank_at_most: 48", "rank_at_most: 47"), encoding="utf-8")
    spec = load_spec(path)
    check_against_network(spec, spec.model.arch, spec.model.weights)  # 47 can fail: read
