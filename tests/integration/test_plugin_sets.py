"""A spec with sets, run by the pytest plugin on the real weights: every image a case, one
forward pass per distinct input across claims and sets, the population in every report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
FACE = ROOT / "fixtures" / "astronaut_face.png"
EYES = [[61, 76, 107, 103], [147, 80, 202, 107]]
CHEEKS = [[56, 114, 102, 141], [150, 114, 205, 141]]


def _set(folder: Path) -> None:
    """The fixture face and its mirror image, with their eyes and cheeks."""
    folder.mkdir()
    face = Image.open(FACE).convert("RGB")
    face.save(folder / "a.png")
    face.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.png")
    width = face.size[0]

    def mirrored(boxes: list[list[int]]) -> list[list[int]]:
        return [[width - x1, y0, width - x0, y1] for x0, y0, x1, y1 in boxes]

    regions = {
        "a.png": {"eyes": {"boxes": EYES}, "cheeks": {"boxes": CHEEKS}},
        "b.png": {"eyes": {"boxes": mirrored(EYES)}, "cheeks": {"boxes": mirrored(CHEEKS)}},
    }
    (folder / "regions.json").write_text(json.dumps(regions, indent=2))


SPEC = f"""
images: {{face: {FACE}}}
regions: {{eyes: {{boxes: {EYES}}}, cheeks: {{boxes: {CHEEKS}}}}}
sets:
  faces: {{images: ../faces/*.png, regions: ../faces/regions.json}}
claims:
  - id: eyes-over-faces
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop: {{set: faces, mask_with: inpaint, region: eyes, control: cheeks,
           at_least: 0.5, control_at_most: 0.9, min_fraction: 0.5, rank_at_most: 47}}
  - id: selective-over-faces
    layer: fire7-relu_squeeze1x1
    channels: [0]
    selective: {{set: faces, region: eyes, ratio_at_least: 100}}
  - id: single-face
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop: {{image: face, mask_with: inpaint, region: eyes, at_least: 0.5}}
"""


def test_sets_run_in_the_plugin_with_one_forward_per_distinct_input(
    claims_dir: Path, pytester: pytest.Pytester
) -> None:
    _set(pytester.path / "faces")
    (claims_dir / "pop.yaml").write_text(SPEC)
    run = pytester.runpytest("--probe-specs", "specs", "--junitxml", "junit.xml")
    run.assert_outcomes(passed=2, failed=1)
    text = run.stdout.str()
    # a.png is the fixture face itself, so its masked eyes are the single-image claim's input:
    # two images, each with eyes and cheeks masked, are 6 distinct inputs for all three claims
    # (fewer run where an earlier run in this process left some cached); claim by claim, the
    # selective claim's two images at another layer and the single face would add 4
    passes = int(re.search(r"(\d+) forward passes", text).group(1))
    assert 0 < passes <= 6
    assert "drop mean" in text and "2/2 images hold" in text
    assert "over set faces: n 2" in text and "worst images:" in text
    report = json.loads((pytester.path / "probe-report" / "results.json").read_text())
    claims = {c["claim_id"]: c for c in report["claims"]}
    population = claims["eyes-over-faces"]["checks"][0]["population"]
    assert population["n"] == 2 and population["null"]["channels"] == 48
    assert population["null"]["random_effect"] is not None
    cases = claims["eyes-over-faces"]["checks"][0]["cases"]
    assert [c["inputs"]["image"] for c in cases] == ["a.png", "b.png"]
    assert claims["selective-over-faces"]["checks"][0]["population"]["passed"] is False
    assert (pytester.path / "probe-report" / "specs.pop__selective-over-faces.png").is_file()
