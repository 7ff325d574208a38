"""Reading a set's annotations: the regions JSON file and 68-point .pts landmark files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probecheck.errors import SpecError
from probecheck.spec.annotations import (
    landmark_region,
    read_pts,
    read_regions_file,
    shape_problems,
)


def _pts(points: list[tuple[float, float]], n_points: int | None = None) -> str:
    body = "\n".join(f"{x} {y}" for x, y in points)
    return f"version: 1\nn_points:  {n_points or len(points)}\n{{\n{body}\n}}\n"


# ------------------------------------------------------------------------------ regions JSON


def test_regions_file_reads_every_image_and_region(tmp_path: Path) -> None:
    path = tmp_path / "regions.json"
    path.write_text(
        json.dumps(
            {
                "a.png": {
                    "eyes": {"boxes": [[1, 2, 10, 12]]},
                    "cheeks": {"ellipses": [[5, 5, 2, 3]]},
                },
                "b.png": {"eyes": {"polygons": [[[0, 0], [4, 0], [2, 3]]]}},
            },
            indent=2,
        )
    )
    got = read_regions_file(path)
    assert set(got.regions) == {"a.png", "b.png"}
    assert got.regions["a.png"]["eyes"].boxes == [[1, 2, 10, 12]]
    assert got.regions["a.png"]["cheeks"].ellipses == [[5, 5, 2, 3]]
    assert set(got.regions["b.png"]) == {"eyes"}


def test_malformed_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "regions.json"
    path.write_text('{\n  "a.png": {\n    "eyes": {"boxes": [[1, 2, 3, 4]]},\n  }\n}\n')
    with pytest.raises(SpecError) as caught:
        read_regions_file(path)
    error = caught.value
    assert error.path == str(path) and error.line == 4
    assert "invalid JSON" in str(error) and "fix:" in str(error)


def test_bad_shape_in_regions_file_points_at_its_key(tmp_path: Path) -> None:
    path = tmp_path / "regions.json"
    path.write_text(
        '{\n  "a.png": {"eyes": {"boxes": [[1, 2, 3, 4]]}},\n'
        '  "b.png": {\n    "eyes": {"boxs": [[1, 2, 3, 4]]}\n  }\n}\n'
    )
    with pytest.raises(SpecError) as caught:
        read_regions_file(path)
    error = caught.value
    assert error.line == 4
    assert "b.png.eyes.boxs" in str(error) and "boxes" in str(error)


def test_empty_box_in_regions_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "regions.json"
    path.write_text('{"a.png": {"eyes": {"boxes": [[5, 5, 5, 9]]}}}')
    with pytest.raises(SpecError, match="empty"):
        read_regions_file(path)


@pytest.mark.parametrize(
    "text", ['["a.png"]', '{"a.png": [1, 2]}'], ids=["top-level list", "image not an object"]
)
def test_regions_file_of_the_wrong_structure(tmp_path: Path, text: str) -> None:
    path = tmp_path / "regions.json"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        read_regions_file(path)
    assert "fix:" in str(caught.value)


def test_missing_regions_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        read_regions_file(tmp_path / "nope.json")


def test_shapes_outside_the_image_are_found() -> None:
    from probecheck.spec.models import Region

    region = Region(boxes=[[0, 0, 10, 10], [90, 0, 120, 10]], ellipses=[[500, 500, 3, 3]])
    found = list(shape_problems(region, (100, 80), "a.png"))
    assert [loc for loc, _, _ in found] == [("boxes", 1), ("ellipses", 0)]
    assert "outside" in found[0][1]


# --------------------------------------------------------------------------------- .pts files


def test_pts_points_are_read_zero_based(tmp_path: Path) -> None:
    path = tmp_path / "a.pts"
    path.write_text(_pts([(1, 1), (10.5, 20.25), (3, 4)]))
    assert read_pts(path) == [(0.0, 0.0), (9.5, 19.25), (2.0, 3.0)]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("version: 1\nn_points: 3\n{\n1 2\n3 4\n}\n", 6, "n_points says 3 but 2"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 x\n}\n", 5, "expected a point"),
        ("version: 1\nn_points: 2\n1 2\n3 4\n", 3, "expected 'key: value'"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4\n", 5, "no '}'"),
        ("version: 1\n{\n1 2\n}\n", 1, "no 'n_points:'"),
        ("version: 1\nn_points: many\n{\n}\n", 2, "n_points must be"),
    ],
    ids=["count", "number", "no-brace", "unclosed", "no-count", "bad-count"],
)
def test_malformed_pts_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "a.pts"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        read_pts(path)
    assert caught.value.line == line
    assert words in str(caught.value) and "fix:" in str(caught.value)


def test_landmark_region_is_the_padded_box_clipped_to_the_image() -> None:
    points = [(10.0, 20.0), (30.0, 25.0), (20.0, 40.0), (95.0, 5.0)]
    got = landmark_region([0, 1, 2], 4, points, (100, 100))
    assert got.boxes == [[6.0, 16.0, 35.0, 45.0]]
    clipped = landmark_region([3], 10, points, (100, 100))
    assert clipped.boxes == [[85.0, 0.0, 100.0, 16.0]]


def test_landmark_number_beyond_the_file_raises_index_error() -> None:
    with pytest.raises(IndexError) as caught:
        landmark_region([0, 70], 0, [(1.0, 1.0)] * 68, (10, 10))
    assert caught.value.args == (70,)
