"""Sets in the spec language: a check over a set gets one case per image; bad sets are errors
at their line, with a fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from PIL import Image

from probecheck.errors import SpecError
from probecheck.spec import json_schema, load_spec

EYES = {"boxes": [[10, 10, 30, 20]]}
CHEEKS = {"boxes": [[10, 25, 30, 35]]}


def _faces(tmp_path: Path, names=("b.png", "a.png"), regions: dict | None = None) -> Path:
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in names:
        Image.new("RGB", (64, 48), (120, 90, 80)).save(folder / name)
    if regions is None:
        regions = {name: {"eyes": EYES, "cheeks": CHEEKS} for name in names}
    (folder / "regions.json").write_text(json.dumps(regions, indent=2))
    return folder


def _spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(body))
    return path


CLAIM = """
sets:
  faces: {images: faces/*.png, regions: faces/regions.json}
claims:
  - id: pop
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop: {set: faces, mask_with: inpaint, region: eyes, control: cheeks,
           at_least: 0.5, control_at_most: 0.2, min_fraction: 0.8}
"""


def _error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value


def test_a_set_becomes_one_case_per_image_in_file_name_order(tmp_path: Path) -> None:
    _faces(tmp_path)
    spec = load_spec(_spec(tmp_path, CLAIM))
    check = spec.claims[0].drop
    assert check.set_name == "faces" and check.min_fraction == 0.8 and check.level == 0.95
    shown = [case._shown for case in check.cases]
    assert [s["image"] for s in shown] == ["a.png", "b.png"]
    assert shown[0] == {
        "set": "faces",
        "image": "a.png",
        "mask_with": "inpaint",
        "region": "eyes",
        "control": "cheeks",
    }
    first = check.cases[0]
    assert spec.image_path(first.image) == tmp_path / "faces" / "a.png"
    assert spec.regions[first.region].boxes == EYES["boxes"]


def test_images_as_a_list_and_regions_from_the_spec(tmp_path: Path) -> None:
    _faces(tmp_path, regions={})
    spec = load_spec(
        _spec(
            tmp_path,
            """
            sets:
              faces: {images: [faces/a.png, faces/b.png]}
            regions:
              eyes: {boxes: [[10, 10, 30, 20]]}
            claims:
              - {id: s, layer: conv1, channels: [0],
                 selective: {set: faces, region: eyes, ratio_at_least: 1.5, confidence: 0.9}}
            """,
        )
    )
    check = spec.claims[0].selective
    assert len(check.cases) == 2 and check.level == 0.9


def test_landmark_regions_are_placed_from_each_images_pts(tmp_path: Path) -> None:
    folder = _faces(tmp_path, regions={})
    points = "\n".join(f"{10 + k % 20} {5 + k // 20}" for k in range(68))
    for name in ("a", "b"):
        (folder / f"{name}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{points}\n}}\n")
    spec = load_spec(
        _spec(
            tmp_path,
            """
            sets:
              faces: {images: faces/*.png}
            regions:
              eye: {landmarks: [0, 1, 2], pad: 2}
            claims:
              - {id: s, layer: conv1, channels: [0],
                 selective: {set: faces, region: eye, ratio_at_least: 1.5}}
            """,
        )
    )
    region = spec.regions[spec.claims[0].selective.cases[0].region]
    # points (9, 4), (10, 4), (11, 4) 0-based; padded by 2, x1 and y1 exclusive
    assert region.boxes == [[7.0, 2.0, 14.0, 7.0]]


def test_undefined_set_is_named_with_a_suggestion(tmp_path: Path) -> None:
    _faces(tmp_path)
    error = _error(_spec(tmp_path, CLAIM.replace("set: faces", "set: facse")))
    assert error.line == 8 and "did you mean 'faces'" in str(error)


def test_no_image_matching_the_glob(tmp_path: Path) -> None:
    _faces(tmp_path)
    error = _error(_spec(tmp_path, CLAIM.replace("faces/*.png", "faces/*.jpg")))
    assert error.line == 3 and "no file matches" in str(error)


def test_unknown_region_for_a_set(tmp_path: Path) -> None:
    _faces(tmp_path)
    error = _error(_spec(tmp_path, CLAIM.replace("region: eyes", "region: eyse")))
    assert error.line == 8 and "'eyse'" in str(error) and "did you mean 'eyes'" in str(error)


def test_regions_file_naming_an_image_the_set_lacks(tmp_path: Path) -> None:
    regions = {n: {"eyes": EYES, "cheeks": CHEEKS} for n in ("a.png", "b.png", "c.png")}
    _faces(tmp_path, regions=regions)
    error = _error(_spec(tmp_path, CLAIM))
    assert error.path.endswith("regions.json")
    assert "'c.png' is not an image of set 'faces'" in str(error)


def test_regions_file_may_serve_a_subset_of_its_folder(tmp_path: Path) -> None:
    _faces(tmp_path, names=("a.png", "b.png", "c.png"))
    spec = load_spec(_spec(tmp_path, CLAIM.replace("faces/*.png", "[faces/a.png, faces/c.png]")))
    assert [c._shown["image"] for c in spec.claims[0].drop.cases] == ["a.png", "c.png"]


def test_shape_outside_its_image_points_into_the_regions_file(tmp_path: Path) -> None:
    regions = {
        "a.png": {"eyes": {"boxes": [[10, 10, 90, 20]]}, "cheeks": CHEEKS},
        "b.png": {"eyes": EYES, "cheeks": CHEEKS},
    }
    _faces(tmp_path, regions=regions)
    error = _error(_spec(tmp_path, CLAIM))
    assert error.path.endswith("regions.json") and error.line == 5  # the box itself
    assert "outside the 64×48 image 'a.png'" in str(error)


def test_malformed_regions_json(tmp_path: Path) -> None:
    folder = _faces(tmp_path)
    (folder / "regions.json").write_text('{"a.png": {"eyes": {"boxes": [[1, 2, 3, 4]]},}}')
    error = _error(_spec(tmp_path, CLAIM))
    assert "invalid JSON" in str(error) and error.line == 1


def test_missing_pts_file_for_a_landmark_region(tmp_path: Path) -> None:
    _faces(tmp_path, regions={})
    body = """
    sets:
      faces: {images: faces/*.png}
    regions:
      eye: {landmarks: [36, 37], pad: 2}
    claims:
      - {id: s, layer: conv1, channels: [0],
         selective: {set: faces, region: eye, ratio_at_least: 1.5}}
    """
    error = _error(_spec(tmp_path, body))
    assert error.line == 5 and "has no landmark file" in str(error) and "a.pts" in str(error)


def test_malformed_pts_file(tmp_path: Path) -> None:
    folder = _faces(tmp_path, regions={})
    for name in ("a", "b"):
        (folder / f"{name}.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    body = """
    sets:
      faces: {images: faces/*.png}
    regions:
      eye: {landmarks: [36], pad: 2}
    claims:
      - {id: s, layer: conv1, channels: [0],
         selective: {set: faces, region: eye, ratio_at_least: 1.5}}
    """
    error = _error(_spec(tmp_path, body))
    assert error.path.endswith(".pts") and error.line == 5 and "n_points says 68" in str(error)


def test_landmark_region_on_a_single_image_is_an_error(tmp_path: Path) -> None:
    _faces(tmp_path)
    body = """
    images: {a: faces/a.png}
    regions:
      eye: {landmarks: [36], pad: 2}
    claims:
      - {id: s, layer: conv1, channels: [0],
         selective: {image: a, region: eye, ratio_at_least: 1.5}}
    """
    assert "only images of a set have" in str(_error(_spec(tmp_path, body)))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("min_fraction: 0.8}", "min_fraction: 0.8, image: x}"),
        ("set: faces, mask_with: inpaint", "set: faces, altered: x"),
    ],
)
def test_set_and_image_fields_do_not_mix(tmp_path: Path, change: str, words: str) -> None:
    _faces(tmp_path)
    error = _error(_spec(tmp_path, CLAIM.replace(change, words)))
    assert "fix:" in str(error)


def test_population_fields_need_a_set(tmp_path: Path) -> None:
    _faces(tmp_path)
    body = """
    images: {a: faces/a.png}
    regions: {eyes: {boxes: [[10, 10, 30, 20]]}}
    claims:
      - {id: s, layer: conv1, channels: [0],
         selective: {image: a, region: eyes, ratio_at_least: 1.5, rank_at_most: 3}}
    """
    error = _error(_spec(tmp_path, body))
    assert "'rank_at_most' is for checks over a set" in str(error)


def test_altered_set_pairs_by_file_name(tmp_path: Path) -> None:
    _faces(tmp_path)
    other = tmp_path / "masked"
    other.mkdir()
    Image.new("RGB", (64, 48)).save(other / "a.png")
    body = """
    sets:
      faces: {images: faces/*.png, regions: faces/regions.json}
      masked: {images: masked/*.png}
    claims:
      - {id: s, layer: conv1, channels: [0],
         drop: {set: faces, altered_set: masked, region: eyes, at_least: 0.5}}
    """
    error = _error(_spec(tmp_path, body))
    assert "'b.png' of set 'faces' has no image of that name in set 'masked'" in str(error)
    Image.new("RGB", (64, 48)).save(other / "b.png")
    spec = load_spec(tmp_path / "spec.yaml")
    cases = spec.claims[0].drop.cases
    assert spec.image_path(cases[1].altered) == other / "b.png"
    assert cases[1]._shown["altered_set"] == "masked"


def test_checks_with_a_set_case_written_alike_get_the_same_cases(tmp_path: Path) -> None:
    _faces(tmp_path)
    other = {**yaml.safe_load(CLAIM)["claims"][0], "id": "other", "channels": [16]}
    other["drop"] = {**other["drop"], "at_least": 0.6}  # thresholds are not the case
    body = yaml.safe_load(CLAIM)
    body["claims"].append(other)
    spec = load_spec(_spec(tmp_path, yaml.safe_dump(body)))
    first, second = (claim.drop.cases for claim in spec.claims)
    assert [c._shown for c in first] == [c._shown for c in second]
    assert [c.model_dump() for c in first] == [c.model_dump() for c in second]
    assert first is not second  # each check owns its list


def test_a_problem_of_a_set_case_written_alike_is_told_at_each_claim(tmp_path: Path) -> None:
    _faces(tmp_path)
    (tmp_path / "masked").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "masked" / "a.png")
    body = """
    sets:
      faces: {images: faces/*.png, regions: faces/regions.json}
      masked: {images: masked/*.png}
    claims:
      - {id: s, layer: conv1, channels: [0],
         drop: {set: faces, altered_set: masked, region: eyes, at_least: 0.5}}
      - {id: t, layer: conv1, channels: [1],
         drop: {set: faces, altered_set: masked, region: eyes, at_least: 0.5}}
    """
    error = _error(_spec(tmp_path, body))
    lines = [p.line for p in error.problems if "has no image of that name" in p.message]
    assert len(lines) == 2 and lines[0] != lines[1], str(error)


def test_schema_describes_sets_and_set_cases() -> None:
    schema = json.dumps(json_schema())
    for word in (
        "sets",
        "altered_set",
        "min_fraction",
        "rank_at_most",
        "random_effect_at_most",
        "landmarks",
    ):
        assert f'"{word}"' in schema


def test_min_fraction_zero_is_refused_it_would_let_no_image_hold(tmp_path: Path) -> None:
    """A yes-or-no check over a set holds on min_fraction of its images: 0 passes with none."""
    _faces(tmp_path)
    body = CLAIM.replace(
        "drop: {set: faces, mask_with: inpaint, region: eyes, control: cheeks,\n"
        "           at_least: 0.5, control_at_most: 0.2, min_fraction: 0.8}",
        "strongest: {set: faces, in: [15], min_fraction: 0}",
    )
    assert "min_fraction: 0}" in body
    error = _error(_spec(tmp_path, body))
    assert "min_fraction" in str(error) and "greater than 0" in str(error)


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_one_file_under_two_names_in_a_set_is_an_error(tmp_path: Path, link: str) -> None:
    """A link would count one photo twice: a larger n, a narrower interval, nothing measured."""
    folder = _faces(tmp_path, names=("a.png", "b.png"))
    twin = folder / "c.png"
    getattr(twin, "symlink_to" if link == "symlink" else "hardlink_to")(folder / "a.png")
    regions = json.loads((folder / "regions.json").read_text())
    regions["c.png"] = regions["a.png"]
    (folder / "regions.json").write_text(json.dumps(regions))
    error = _error(_spec(tmp_path, CLAIM))
    assert "'a.png' and 'c.png' of set 'faces' are one file" in str(error)
    assert "fix:" in str(error)
