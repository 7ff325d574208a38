"""Claims are selected by their node ids, as pytest users select tests: given to pytest beside
``--probe-specs``, or as the ``--probe-specs`` path itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"

SPEC = f"""
model: {{arch: squeezenet1_0, weights: deep-compression}}
images:
  face: {FIXTURES / "astronaut_face.png"}
  face_no_eyes: {FIXTURES / "astronaut_face_eyes_removed.png"}
regions:
  eyes: {{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}
claims:
  - id: eyes
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop: {{image: face, altered: face_no_eyes, region: eyes, at_least: 0.7}}
  - id: not-eyes
    layer: fire6-relu_squeeze1x1
    channels: [0]
    drop: {{image: face, altered: face_no_eyes, region: eyes, at_least: 0.7}}
"""


@pytest.fixture
def specs(claims_dir: Path) -> Path:
    (claims_dir / "face.yaml").write_text(SPEC)
    (claims_dir / "other.yaml").write_text(SPEC)
    return claims_dir


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q", *args)
    return [line for line in result.outlines if "::" in line]


@pytest.mark.parametrize(
    "args",
    [
        ["specs/face.yaml::eyes", "--probe-specs", "specs/"],
        ["--probe-specs", "specs/face.yaml::eyes"],
        ["--probe-specs", "specs/face.yaml::eyes", "specs/other.yaml::not-eyes"],
    ],
    ids=["node-id-beside-the-option", "node-id-as-the-option", "two-node-ids"],
)
def test_a_node_id_selects_that_claim_alone(
    pytester: pytest.Pytester, specs: Path, args: list[str]
) -> None:
    expected = ["specs/face.yaml::eyes"]
    if "specs/other.yaml::not-eyes" in args:
        expected.append("specs/other.yaml::not-eyes")
    assert collected(pytester, *args) == expected


def test_a_spec_path_beside_the_option_narrows_it_to_that_file(
    pytester: pytest.Pytester, specs: Path
) -> None:
    found = collected(pytester, "specs/other.yaml", "--probe-specs", "specs/")
    assert found == ["specs/other.yaml::eyes", "specs/other.yaml::not-eyes"]


def test_test_paths_beside_the_option_still_add_every_spec(
    pytester: pytest.Pytester, specs: Path
) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    found = collected(pytester, "test_plain.py", "--probe-specs", "specs/")
    assert len(found) == 5 and "test_plain.py::test_plain" in found


def test_the_selected_claim_alone_runs_and_is_reported(
    pytester: pytest.Pytester, specs: Path
) -> None:
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--probe-specs", "specs/face.yaml::eyes", "--probe-report", "r"
    )
    result.assert_outcomes(passed=1)
    claims = json.loads((pytester.path / "r" / "results.json").read_text())["claims"]
    assert [c["claim_id"] for c in claims] == ["eyes"]
