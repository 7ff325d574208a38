"""The image-set fixtures are consistent: annotations parse, every image is annotated and every
annotation has its image, boxes lie inside their images, eyes never touch the cheek controls,
and landmark files are well-formed 68-point iBUG files whose eye boxes contain the eye points.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SETS = {
    "faces": ("eyes", "cheeks", "mouth"),
    "faces_views": ("eyes", "cheeks", "mouth"),
    "cats": ("eyes", "cheeks"),
    "hues": ("colour", "surround"),
}


def load_regions(name: str) -> dict:
    return json.loads((FIXTURES / name / "regions.json").read_text(encoding="utf-8"))


def boxes_overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def read_pts(path: Path) -> np.ndarray:
    lines = path.read_text(encoding="ascii").splitlines()
    assert lines[0] == "version: 1"
    assert lines[1].replace(" ", "") == "n_points:68"
    assert lines[2] == "{" and lines[-1] == "}"
    points = np.array([[float(v) for v in line.split()] for line in lines[3:-1]])
    assert points.shape == (68, 2)
    return points - 1.0  # the files are 1-based, as in 300-W


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_every_image_annotated_and_every_annotation_has_its_image(set_name: str) -> None:
    regions = load_regions(set_name)
    on_disk = {p.name for p in (FIXTURES / set_name).glob("*.png")}
    assert on_disk, f"no images in fixtures/{set_name}"
    assert set(regions) == on_disk


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_images_are_rgb_and_boxes_inside(set_name: str) -> None:
    for file_name, regions in load_regions(set_name).items():
        with Image.open(FIXTURES / set_name / file_name) as image:
            assert image.mode == "RGB", file_name
            width, height = image.size
        assert set(SETS[set_name]) <= set(regions), file_name
        for region_name, region in regions.items():
            assert set(region) == {"boxes"} and region["boxes"], (file_name, region_name)
            for x0, y0, x1, y1 in region["boxes"]:
                assert all(isinstance(v, int) for v in (x0, y0, x1, y1))
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (file_name, region_name)


@pytest.mark.parametrize("set_name", ["faces", "faces_views", "cats"])
def test_eyes_never_touch_the_controls(set_name: str) -> None:
    for file_name, regions in load_regions(set_name).items():
        eyes, cheeks = regions["eyes"]["boxes"], regions["cheeks"]["boxes"]
        assert len(eyes) == len(cheeks) == 2, file_name
        for eye in eyes:
            for other in cheeks + regions.get("mouth", {}).get("boxes", []):
                assert not boxes_overlap(eye, other), (file_name, eye, other)


def test_cheek_controls_remove_about_as_many_pixels_as_the_eyes() -> None:
    for set_name in ("faces", "cats"):
        for file_name, regions in load_regions(set_name).items():
            area = [sum((b[2] - b[0]) * (b[3] - b[1]) for b in regions[r]["boxes"]) for r in
                    ("eyes", "cheeks")]  # fmt: skip
            assert abs(area[0] - area[1]) <= 0.05 * area[0], (file_name, area)


def test_landmark_files_match_their_faces() -> None:
    pts_files = sorted((FIXTURES / "faces").glob("*.pts"))
    assert pts_files, "faces with 68-point landmarks ship a .pts beside the .png"
    regions = load_regions("faces")
    for path in pts_files:
        png = path.with_suffix(".png").name
        assert png in regions, path.name
        points = read_pts(path)
        with Image.open(FIXTURES / "faces" / png) as image:
            width, height = image.size
        eye_points = np.vstack([points[36:42], points[42:48]])
        assert (eye_points >= 0).all() and (eye_points[:, 0] < width).all()
        assert (eye_points[:, 1] < height).all()
        for eye in (points[36:42], points[42:48]):
            assert any(
                (eye[:, 0] >= b[0]).all()
                and (eye[:, 0] < b[2]).all()
                and (eye[:, 1] >= b[1]).all()
                and (eye[:, 1] < b[3]).all()
                for b in regions[png]["eyes"]["boxes"]
            ), path.name


def test_hues_cover_the_circle_and_red_is_red() -> None:
    names = sorted(load_regions("hues"))
    assert sum(n.startswith("hue_") for n in names) == 12
    with Image.open(FIXTURES / "hues" / "hue_000_red.png") as image:
        red = np.asarray(image, dtype=float)
    x0, y0, x1, y1 = load_regions("hues")["hue_000_red.png"]["colour"]["boxes"][0]
    r, g, b = red[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 60 and b < 60
