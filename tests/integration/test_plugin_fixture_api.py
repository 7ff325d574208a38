"""Claims written in Python with the ``probe`` fixture: the YAML claims' engine, numbers, failure
text and tile, run through pytest's own ``pytester`` on the real weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"

IMAGES = {
    "face": FIXTURES / "astronaut_face.png",
    "face_no_eyes": FIXTURES / "astronaut_face_eyes_removed.png",
    "face_no_cheeks": FIXTURES / "astronaut_face_cheeks_removed.png",
}
REGIONS = {
    "eyes": {"boxes": [[61, 76, 107, 103], [147, 80, 202, 107]]},
    "cheeks": {"boxes": [[56, 114, 102, 141], [150, 114, 205, 141]]},
}
DROP = {
    "image": "face",
    "altered": "face_no_eyes",
    "region": "eyes",
    "at_least": 0.7,
    "control": "cheeks",
    "control_altered": "face_no_cheeks",
    "control_at_most": 0.25,
}


def python_claim(name: str, channels: list[int], **extra: str) -> str:
    """A test module with one test that checks the eye claim on ``channels``."""
    images = {k: str(v) for k, v in IMAGES.items()}
    keywords = "".join(f", {k}={v!r}" for k, v in extra.items())
    return f"""
def test_{name}(probe):
    result = probe.check(
        layer="fire6-relu_squeeze1x1",
        channels={channels},
        images={images!r},
        regions={REGIONS!r},
        drop={DROP!r}{keywords},
    )
    assert result.passed
    assert probe.network.identity.arch == probe.model.arch == "squeezenet1_0"
"""


def yaml_claim(claim_id: str, channels: list[int]) -> str:
    images = "".join(f"  {k}: {v}\n" for k, v in IMAGES.items())
    regions = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in REGIONS.items())
    return (
        "model: {arch: squeezenet1_0, weights: deep-compression}\n"
        f"images:\n{images}regions:\n{regions}claims:\n"
        f"  - id: {claim_id}\n    layer: fire6-relu_squeeze1x1\n    channels: {channels}\n"
        f"    drop: {json.dumps(DROP)}\n"
    )


def call_line(pytester: pytest.Pytester, module: str = "test_face.py") -> int:
    """The line of the first ``probe.check(`` of a test module."""
    lines = (pytester.path / module).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if "probe.check(" in line)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--probe-report", "report", *args)


def failure_block(lines: list[str], claim_id: str) -> list[str]:
    """The failure text of ``claim_id``: from its ``claim …`` line to its diagnostic tile."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"claim {claim_id} ("))
    end = next(i for i in range(start, len(lines)) if "diagnostic tile:" in lines[i])
    return lines[start : end + 1]


def test_a_passing_claim_in_python_is_reported_with_its_numbers(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    pytester.makepyfile(test_face=python_claim("eyes", [15]))
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_face::test_eyes*fire6-relu_squeeze1x1*15*PASS*"])
    (claim,) = json.loads((pytester.path / "report" / "results.json").read_text())["claims"]
    assert claim["claim_id"] == "test_eyes" and claim["passed"]
    assert claim["spec"].endswith("test_face.py") and claim["line"] == call_line(pytester)
    (channel,) = claim["checks"][0]["cases"][0]["channels"]
    assert channel["label"] == 15 and channel["values"]["drop"] > 0.7


def test_a_failing_claim_fails_its_test_with_the_yaml_claims_text_and_tile(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    (claims_dir / "face.yaml").write_text(yaml_claim("test_cheek_channel", [25]))
    from_yaml = run(pytester, "--probe-specs", "specs")
    from_yaml.assert_outcomes(failed=1)
    expected = failure_block(from_yaml.outlines, "test_cheek_channel")

    pytester.makepyfile(test_face=python_claim("cheek_channel", [25]))
    from_python = run(pytester, "test_face.py")
    from_python.assert_outcomes(failed=1)
    found = failure_block(from_python.outlines, "test_cheek_channel")
    assert found[:-1] == expected[:-1]  # every number, threshold and verdict alike
    assert any("channel 25: drop" in line for line in found)
    tile = Path(found[-1].split("diagnostic tile: ")[1])
    assert (pytester.path / tile).is_file() and tile.name.startswith("test_face__")
    assert "Traceback" not in from_python.stdout.str()
    from_python.stdout.fnmatch_lines([f"*checked at test_face.py:{call_line(pytester)}"])


def test_the_session_options_choose_the_network(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    pytester.makepyfile(test_face=python_claim("eyes", [15]))
    run(pytester, "--probe-weights", "random").assert_outcomes(failed=1)
    pytester.makeini("[pytest]\nprobe_weights = random\n")
    run(pytester).assert_outcomes(failed=1)
    run(pytester, "--probe-weights", "deep-compression").assert_outcomes(passed=1)


def test_a_claim_that_cannot_be_checked_names_the_key_and_the_fix(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    module = python_claim("typo", [15]).replace("'region': 'eyes'", "'region': 'eye'")
    pytester.makepyfile(test_face=module)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert f"test_face.py:{call_line(pytester)}: probe.check(...): a problem" in text
    assert "drop.region: 'eye' is not defined under regions:" in text
    assert "fix: use a name defined under regions:" in text and "Traceback" not in text


def test_two_claims_in_one_test_get_their_own_ids(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    pytester.makepyfile(
        test_two=python_claim("both", [15])
        + "    probe.check(layer='fire6-relu_squeeze1x1', channels=[15], images="
        + repr({k: str(v) for k, v in IMAGES.items()})
        + f", regions={REGIONS!r}, drop={DROP!r})\n"
    )
    run(pytester, "test_two.py").assert_outcomes(passed=1)
    claims = json.loads((pytester.path / "report" / "results.json").read_text())["claims"]
    assert [c["claim_id"] for c in claims] == ["test_both", "test_both-2"]


def test_a_spec_files_images_and_regions_serve_a_python_claim(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    (claims_dir / "face.yaml").write_text(yaml_claim("from-yaml", [15]))
    pytester.makepyfile(
        test_shared=f"""
def test_eyes(probe):
    probe.check(spec="specs/face.yaml", layer="fire6-relu_squeeze1x1", channels=[15],
                drop={DROP!r})

def test_missing_spec(probe):
    probe.check(spec="specs/nope.yaml", layer="conv1", channels=[0], drop={DROP!r})
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    assert "probe.check(spec=…): " in text and "nope.yaml" in text and "Traceback" not in text


def test_a_population_claim_from_python_measures_what_the_yaml_one_does(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    faces = FIXTURES / "faces"
    (claims_dir / "pop.yaml").write_text(
        f"sets:\n  faces: {{images: {faces}/*.png, regions: {faces}/regions.json}}\n"
        "claims:\n  - id: pop\n    layer: fire6-relu_squeeze1x1\n    channels: [15]\n"
        "    selective: {set: faces, region: eyes, ratio_at_least: 1.2}\n"
    )
    pytester.makepyfile(
        test_pop="""
def test_pop(probe):
    probe.check(spec="specs/pop.yaml", layer="fire6-relu_squeeze1x1", channels=[15],
                selective={"set": "faces", "region": "eyes", "ratio_at_least": 1.2})
"""
    )
    run(pytester, "test_pop.py", "--probe-specs", "specs")
    claims = json.loads((pytester.path / "report" / "results.json").read_text())["claims"]
    by_id = {claim["claim_id"]: claim for claim in claims}
    assert set(by_id) == {"pop", "test_pop"}
    yaml_checks, python_checks = by_id["pop"]["checks"], by_id["test_pop"]["checks"]
    assert len(yaml_checks[0]["cases"]) == len(list(faces.glob("*.png")))
    assert numbers(python_checks) == numbers(yaml_checks)
    assert by_id["pop"]["passed"] == by_id["test_pop"]["passed"]


def numbers(value: object) -> object:
    """``value`` without its forward-pass counts: the first claim to need an input runs it."""
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items() if not k.endswith("_passes")}
    if isinstance(value, list):
        return [numbers(v) for v in value]
    return value


def test_every_check_kind_can_be_written_in_python() -> None:
    """probe.check takes a keyword for each registered kind: a new kind is not forgotten here."""
    import inspect

    from probecheck.fixture import ClaimChecker
    from probecheck.spec.models import CHECK_NAMES

    assert set(CHECK_NAMES) <= set(inspect.signature(ClaimChecker.check).parameters)


def test_a_compare_claim_in_python(pytester: pytest.Pytester, claims_dir: Path) -> None:
    """The channel is stronger on the eyes with the eyes there than with them removed."""
    images = {k: str(v) for k, v in IMAGES.items()}
    compare = {"image": "face", "other": "face_no_eyes", "region": "eyes", "ratio_at_least": 1.5}
    pytester.makepyfile(
        test_face=f"""
def test_eyes_there(probe):
    probe.check(layer="fire6-relu_squeeze1x1", channels=[15], images={images!r},
                regions={REGIONS!r}, compare={compare!r})

def test_eyes_removed(probe):
    probe.check(layer="fire6-relu_squeeze1x1", channels=[15], images={images!r},
                regions={REGIONS!r}, compare={{**{compare!r}, "image": "face_no_eyes",
                                                 "other": "face"}})
"""
    )
    run(pytester).assert_outcomes(passed=1, failed=1)


@pytest.mark.parametrize("update", [False, True])
def test_a_baseline_option_on_a_run_without_claims_changes_nothing(
    pytester: pytest.Pytester, update: bool
) -> None:
    """--probe-baseline in addopts, a job that runs plain tests: they pass, nothing is written."""
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    (pytester.path / "base.json").write_text('{"probecheck_baseline": 3, "claims": {}}')
    extra = ["--probe-baseline-update"] if update else []
    result = run(pytester, "--probe-baseline", "base.json", *extra)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK and "INTERNALERROR" not in result.stdout.str()


@pytest.mark.slow
def test_python_claims_checked_on_xdist_workers_are_recorded_in_the_baseline(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    pytester.makepyfile(test_face=python_claim("eyes", [15]))
    result = run(pytester, "-n", "2", "--probe-baseline", "base.json", "--probe-baseline-update")
    result.assert_outcomes(passed=1)
    recorded = json.loads((pytester.path / "base.json").read_text())["claims"]
    assert [key.rpartition("::")[2] for key in recorded] == ["test_eyes"]
