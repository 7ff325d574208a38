"""The pytest plugin, run with pytest's own ``pytester`` on real specs and the real weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
SPECS = REPO / "specs"

HEADER = f"""
model: {{{{arch: squeezenet1_0, weights: deep-compression}}}}
index_base: {{base}}
images:
  face: {FIXTURES / "astronaut_face.png"}
  face_no_eyes: {FIXTURES / "astronaut_face_eyes_removed.png"}
  face_no_cheeks: {FIXTURES / "astronaut_face_cheeks_removed.png"}
regions:
  eyes:   {{{{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}}}
  cheeks: {{{{boxes: [[56, 114, 102, 141], [150, 114, 205, 141]]}}}}
claims:
"""


def eye_claim(
    claim_id: str, channels: list[int], *, require: str = "all", control: bool = True
) -> str:
    """A drop claim on the face's eyes (channels numbered in the file's index_base)."""
    lines = [
        f"  - id: {claim_id}",
        "    layer: fire6-relu_squeeze1x1",
        f"    channels: {channels}",
        f"    require: {require}",
        "    drop:",
        "      image: face",
        "      altered: face_no_eyes",
        "      region: eyes",
        "      at_least: 0.7",
    ]
    if control:
        lines += [
            "      control: cheeks",
            "      control_altered: face_no_cheeks",
            "      control_at_most: 0.25",
        ]
    return "\n".join(lines) + "\n"


def write_spec(directory: Path, name: str, claims: str, *, base: int = 0) -> Path:
    path = directory / name
    path.write_text(HEADER.format(base=base) + claims)
    return path


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def test_true_eye_channel_passes_and_control_bites(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    # channel 15 drops only where the eyes are removed (cheeks: 79 → 76); channel 25 drops
    # wherever anything is inpainted (cheeks: 83 → 7), so the control region must fail it
    write_spec(
        claims_dir, "face.yaml", eye_claim("eye-15", [15]) + eye_claim("any-removal-25", [25])
    )
    result = run(pytester, "--probe-specs", "specs", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*face.yaml::eye-15 PASSED*", "*face.yaml::any-removal-25 FAILED*"]
    )
    result.stdout.fnmatch_lines(
        ["*channel 25: drop *control_drop *fails*drops in the control region too*"]
    )


def test_same_claim_without_control_passes_the_any_removal_channel(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("no-control-25", [25], control=False))
    run(pytester, "--probe-specs", "specs").assert_outcomes(passed=1)


def test_failure_message_names_numbers_and_where_the_feature_went(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    # channel 0 is not an eye channel; the message must give its numbers and the channels that pass
    write_spec(claims_dir, "face.yaml", eye_claim("wrong-channel", [0]))
    result = run(pytester, "--probe-specs", "specs")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*drop FAILED (at_least 0.7, control_at_most 0.25)*",
            "*channel 0: drop *, mean_in *, control_drop * → fails*",
            "*channels of fire6-relu_squeeze1x1 that pass this check now: *15*",
        ]
    )


@pytest.mark.parametrize("base", [0, 1])
def test_index_base_addresses_the_same_channels(
    pytester: pytest.Pytester, claims_dir: Path, base: int
) -> None:
    write_spec(
        claims_dir,
        "face.yaml",
        eye_claim("eye", [15 + base]) + eye_claim("not-eye", [25 + base]),
        base=base,
    )
    result = run(pytester, "--probe-specs", "specs", "--probe-report", "report")
    result.assert_outcomes(passed=1, failed=1)
    data = json.loads((pytester.path / "report" / "results.json").read_text())
    labels = {
        c["claim_id"]: c["checks"][0]["cases"][0]["channels"][0]["label"] for c in data["claims"]
    }
    channels = {
        c["claim_id"]: c["checks"][0]["cases"][0]["channels"][0]["channel"] for c in data["claims"]
    }
    assert channels == {"eye": 15, "not-eye": 25}
    assert labels == {"eye": 15 + base, "not-eye": 25 + base}


@pytest.mark.parametrize(
    ("require", "outcome"),
    [("all", "failed"), ("any", "passed"), ("mean", "failed")],
)
def test_require_combines_channels_as_named(
    pytester: pytest.Pytester, claims_dir: Path, require: str, outcome: str
) -> None:
    # 15 passes (drop .96, control .04); 25 fails its control (.91): all fails, any passes, and
    # the mean control drop ((.04 + .91) / 2 ≈ .48) exceeds .25, so mean fails
    write_spec(claims_dir, "face.yaml", eye_claim("pair", [15, 25], require=require))
    run(pytester, "--probe-specs", "specs").assert_outcomes(**{outcome: 1})


def test_mean_passes_where_the_average_holds(pytester: pytest.Pytester, claims_dir: Path) -> None:
    # without a control, 15 (.96) and 14 (.98) average well above .7
    write_spec(claims_dir, "face.yaml", eye_claim("mean", [14, 15], require="mean", control=False))
    run(pytester, "--probe-specs", "specs").assert_outcomes(passed=1)


def test_random_weights_fail_every_drop_and_compare_claim_of_the_shipped_specs(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    # the randomisation sanity check: a real claim must not hold on an untrained network
    shutil.rmtree(claims_dir)
    shutil.copytree(SPECS, claims_dir)
    shutil.copytree(FIXTURES, pytester.path / "fixtures")
    drop_claims = []
    for spec in claims_dir.glob("*.yaml"):
        from probecheck.spec import load_spec

        drop_claims += [
            f"{spec.name}::{c.id}"
            for c in load_spec(spec).claims
            if c.drop is not None or c.compare is not None
        ]
    assert len(drop_claims) >= 5
    result = run(pytester, "--probe-specs", "specs", "--probe-weights", "random", "-rA")
    for nodeid in drop_claims:
        result.stdout.fnmatch_lines([f"FAILED specs/{nodeid}*"])


def test_shipped_specs_pass_on_the_real_weights(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    shutil.rmtree(claims_dir)
    shutil.copytree(SPECS, claims_dir)
    shutil.copytree(FIXTURES, pytester.path / "fixtures")
    result = run(pytester, "--probe-specs", "specs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 6 and "failed" not in outcomes, result.stdout.str()
    result.stdout.fnmatch_lines(["*forward passes*"])


def test_specs_alone_or_with_test_paths(pytester: pytest.Pytester, claims_dir: Path) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]))
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    pytester.makeini("[pytest]\ntestpaths = .\n")
    run(pytester, "--probe-specs", "specs").assert_outcomes(passed=1)  # the claims alone
    run(pytester, "test_plain.py", "--probe-specs", "specs").assert_outcomes(passed=2)
    run(pytester).assert_outcomes(passed=1)  # no specs asked for: the plain test only


def test_ini_option_probe_specs(pytester: pytest.Pytester, claims_dir: Path) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]))
    pytester.makeini("[pytest]\nprobe_specs = specs\n")
    run(pytester).assert_outcomes(passed=1)


def test_k_selects_claims_and_junitxml_names_them(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]) + eye_claim("other", [25]))
    result = run(pytester, "--probe-specs", "specs", "-k", "eye", "--junitxml", "out.xml")
    result.assert_outcomes(passed=1, deselected=1)
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="eye"' in xml and "other" not in xml


def test_failing_claim_writes_one_tile_and_passing_none(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]) + eye_claim("other", [25]))
    result = run(pytester, "--probe-specs", "specs", "--probe-report", "report")
    result.assert_outcomes(passed=1, failed=1)
    tiles = sorted(p.name for p in (pytester.path / "report").glob("*.png"))
    assert len(tiles) == 1 and "other" in tiles[0]
    result.stdout.fnmatch_lines(["*diagnostic tile: *other*.png*"])
    run(pytester, "--probe-specs", "specs", "--probe-report", "all", "--probe-diagnostics", "all")
    assert len(list((pytester.path / "all").glob("*.png"))) == 2


def test_results_json_holds_every_number_of_the_failure_message(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    from probecheck.report.results_json import read_results

    write_spec(claims_dir, "face.yaml", eye_claim("other", [25]))
    result = run(pytester, "--probe-specs", "specs", "--probe-report", "report")
    results = read_results(pytester.path / "report" / "results.json")
    assert [r.claim_id for r in results] == ["other"]
    message = results[0].failure_message()
    assert message in result.stdout.str()  # the same text, rebuilt from the JSON alone
    assert results[0].model["weights"] == "deep-compression"
    assert len(results[0].model["sha256"]) == 64


def test_bad_spec_is_a_clean_collection_error(pytester: pytest.Pytester, claims_dir: Path) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]).replace("at_least", "at_lest"))
    result = run(pytester, "--probe-specs", "specs")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*face.yaml:*: claims[[]eye[]].drop.at_lest: unknown key*", "*did you mean 'at_least'?*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_unknown_layer_is_a_collection_error_with_a_fix(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    write_spec(
        claims_dir,
        "face.yaml",
        eye_claim("eye", [15]).replace("fire6-relu_squeeze1x1", "fire6-relu_squeze1x1"),
    )
    result = run(pytester, "--probe-specs", "specs")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*face.yaml:13:5: claims[[]eye[]].layer: unknown layer 'fire6-relu_squeze1x1'"
            " — did you mean 'fire6-relu_squeeze1x1'?",
            "*fix: `probecheck layers --arch squeezenet1_0` lists every name*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_other_model_override(pytester: pytest.Pytester, claims_dir: Path) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]))
    result = run(
        pytester,
        "--probe-specs",
        "specs",
        "--probe-arch",
        "squeezenet1_1",
        "--probe-weights",
        "random",
    )
    result.assert_outcomes(failed=1)


def test_baseline_records_then_catches_a_melting_margin(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    write_spec(
        claims_dir, "face.yaml", eye_claim("eye", [15]) + eye_claim("eye14", [14], control=False)
    )
    recorded = run(
        pytester,
        "--probe-specs",
        "specs",
        "--probe-baseline",
        "base.json",
        "--probe-baseline-update",
    )
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(
        ["*baseline: recorded 2 passing claim(s) in base.json (2 in the file)*"]
    )
    document = json.loads((pytester.path / "base.json").read_text())
    assert sorted(document["claims"]) == ["specs/face.yaml::eye", "specs/face.yaml::eye14"]
    run(pytester, "--probe-specs", "specs", "--probe-baseline", "base.json").assert_outcomes(
        passed=2
    )

    # pretend the trusted model dropped by 1.2 on the eyes: today's .96 is a regression of .24,
    # beyond an absolute 0.05, although it still clears at_least 0.7
    case = document["claims"]["specs/face.yaml::eye"]["checks"]["drop"]["cases"][0]
    case["channels"]["15"]["drop"] = 1.2
    (pytester.path / "base.json").write_text(json.dumps(document))
    result = run(
        pytester,
        "--probe-specs",
        "specs",
        "--probe-baseline",
        "base.json",
        "--probe-baseline-tolerance",
        "drop=abs:0.05",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*regressed against the baseline:*",
            "*eye: drop, case face → face_no_eyes, region eyes, control cheeks, channel 15: "
            "drop regressed from 1.2 to 0.962 (-0.238, tolerance abs 0.05)",
        ]
    )
    result.stdout.fnmatch_lines(["*face::eye *FAIL*", "*regressed: drop, case face*"])
    loose = run(
        pytester,
        "--probe-specs",
        "specs",
        "--probe-baseline",
        "base.json",
        "--probe-baseline-tolerance",
        "drop=abs:0.3",
    )
    loose.assert_outcomes(passed=2)

    # updating with a subset keeps what the other claims recorded
    run(
        pytester,
        "--probe-specs",
        "specs",
        "-k",
        "eye14",
        "--probe-baseline",
        "base.json",
        "--probe-baseline-update",
    )
    kept = json.loads((pytester.path / "base.json").read_text())
    kept_case = kept["claims"]["specs/face.yaml::eye"]["checks"]["drop"]["cases"][0]
    assert kept_case["channels"]["15"]["drop"] == 1.2


def test_recording_over_another_models_baseline_is_refused(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    """--probe-baseline-update on a run of another model than the file's (a candidate, say)
    would mix two models' numbers: a usage error, the file as it was."""
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]))
    args = ("--probe-specs", "specs", "--probe-baseline", "base.json", "--probe-baseline-update")
    run(pytester, *args).assert_outcomes(passed=1)
    path = pytester.path / "base.json"
    document = json.loads(path.read_text())
    document["claims"]["specs/face.yaml::eye"]["model"]["sha256"] = "0" * 64  # another model's
    path.write_text(json.dumps(document))
    before = path.read_text()
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "another model" in output and "move the old file away" in output, output
    assert "Traceback" not in output
    assert path.read_text() == before


def test_unreadable_baseline_is_a_usage_error(pytester: pytest.Pytester, claims_dir: Path) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]))
    (pytester.path / "base.json").write_text("{not json")
    for extra in ([], ["--probe-baseline-update"]):
        result = run(pytester, "--probe-specs", "specs", "--probe-baseline", "base.json", *extra)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*cannot read the baseline*base.json*"])
        assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert (pytester.path / "base.json").read_text() == "{not json"  # nothing overwritten


def test_yaml_without_claims_in_a_directory_is_not_a_spec(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]))
    (claims_dir / "ci-config.yaml").write_text("jobs: {test: {runs: pytest}}\n")
    run(pytester, "--probe-specs", "specs").assert_outcomes(passed=1)
    # named on its own, a YAML file is a spec, and a bad one says so
    result = run(pytester, "--probe-specs", "specs/ci-config.yaml")
    result.assert_outcomes(errors=1)


def test_results_json_is_rewritten_when_no_claim_runs(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]))
    run(pytester, "--probe-specs", "specs", "--probe-report", "report")
    run(pytester, "--probe-specs", "specs", "--probe-report", "report", "-k", "nothing")
    data = json.loads((pytester.path / "report" / "results.json").read_text())
    assert data["claims"] == []


def test_missing_mask_is_a_collection_error_naming_it(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    claim = eye_claim("eye", [15], control=False).replace("region: eyes", "region: painted")
    spec = write_spec(claims_dir, "face.yaml", claim)
    spec.write_text(spec.read_text().replace("regions:", "regions:\n  painted: {mask: nope.png}"))
    result = run(pytester, "--probe-specs", "specs", "--probe-report", "report")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*face.yaml:9:13: regions.painted.mask: mask file not found: *nope.png"]
    )
    assert "Traceback" not in result.stdout.str()
    data = json.loads((pytester.path / "report" / "results.json").read_text())
    assert data["claims"] == []  # nothing ran


def test_baseline_update_needs_a_file(pytester: pytest.Pytester, claims_dir: Path) -> None:
    result = run(pytester, "--probe-specs", "specs", "--probe-baseline-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--probe-baseline-update needs --probe-baseline FILE*"])


def test_xdist_workers_report_to_one_summary(pytester: pytest.Pytester, claims_dir: Path) -> None:
    pytest.importorskip("xdist")
    write_spec(claims_dir, "face.yaml", eye_claim("eye", [15]) + eye_claim("other", [25]))
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    pytester.makeini("[pytest]\ntestpaths = .\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--probe-specs", "specs", "--probe-report", "report"
    )
    result.assert_outcomes(passed=1, failed=1)  # the claims alone, in the workers too
    result.stdout.fnmatch_lines(
        ["*face::eye *PASS*", "*face::other *FAIL*", "*2 claims: 1 passed, 1 failed*"]
    )
    data = json.loads((pytester.path / "report" / "results.json").read_text())
    assert sorted(c["claim_id"] for c in data["claims"]) == ["eye", "other"]
    assert len(list((pytester.path / "report").glob("*.png"))) == 1


def test_same_spec_name_in_two_directories_gives_two_tiles(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    for sub in ("a", "b"):
        (claims_dir / sub).mkdir()
        write_spec(claims_dir / sub, "face.yaml", eye_claim("other", [25]))
    run(pytester, "--probe-specs", "specs", "--probe-report", "report").assert_outcomes(failed=2)
    tiles = sorted(p.name for p in (pytester.path / "report").glob("*.png"))
    assert tiles == ["specs.a.face__other.png", "specs.b.face__other.png"]


def test_pytest_html_report_carries_the_tile(pytester: pytest.Pytester, claims_dir: Path) -> None:
    pytest.importorskip("pytest_html")
    write_spec(claims_dir, "face.yaml", eye_claim("other", [25]))
    run(pytester, "--probe-specs", "specs", "--html", "out/report.html").assert_outcomes(failed=1)
    assets = list((pytester.path / "out" / "assets").glob("*.png"))
    assert len(assets) == 1
    assert (
        assets[0].read_bytes()
        == (pytester.path / "probe-report" / "specs.face__other.png").read_bytes()
    )
