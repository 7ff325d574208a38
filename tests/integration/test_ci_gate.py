"""The CI gate: candidate checkpoints, baselines, xdist, JUnit, exit codes and docs/ci.

Sessions run through pytester on the real weights; the candidates are made once per test session
by docs/ci/make_candidate.py itself, so the checkpoints the rehearsal uses are the ones tested.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
CI = REPO / "docs" / "ci"


def eye_claim(claim_id: str = "eye", channel: int = 15) -> str:
    """The eye claim of specs/face.yaml (one case), with a selectivity check."""
    return f"""
  - id: {claim_id}
    layer: fire6-relu_squeeze1x1
    channels: [{channel}]
    drop: {{image: face, altered: face_no_eyes, region: eyes, at_least: 0.7,
           control: cheeks, control_altered: face_no_cheeks, control_at_most: 0.25}}
    selective: {{image: face, region: eyes, ratio_at_least: 1.5}}
"""


def strongest_claim(claim_id: str = "strongest") -> str:
    return f"""
  - id: {claim_id}
    layer: fire6-relu_squeeze1x1
    strongest: {{image: face, in: [22]}}
"""


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, CI / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


# --- fixtures: candidates made once, a pytester directory -----------------------------------------


@pytest.fixture(scope="module")
def candidates(
    heavy_modules: None, weights_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Checkpoints made by docs/ci/make_candidate.py: benign (fake int8), and the filter of this
    file's own eye claim (fire6 squeeze channel 15, on the one face) zeroed."""
    make = load_script("make_candidate")
    out = tmp_path_factory.mktemp("candidates")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
        made = {"benign": out / "benign.pt", "lost": out / "lost.pt"}
        assert make.main([str(made["benign"])]) == 0
        lost = ["--change", "none", "--zero", "fire6-squeeze1x1:15"]
        assert make.main([str(made["lost"]), *lost]) == 0
    return made


@pytest.fixture
def gate(claims_dir: Path) -> Path:
    """The specs directory of a pytester run on the real weights (conftest's claims_dir)."""
    return claims_dir


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def results_of(directory: Path) -> dict:
    return json.loads((directory / "results.json").read_text())


# --- a lost feature -------------------------------------------------------------------------------


def test_zeroed_eye_filter_fails_the_eye_claim_and_names_where_the_feature_went(
    pytester: pytest.Pytester,
    gate: Path,
    write_face_spec: Callable[..., Path],
    candidates: dict[str, Path],
) -> None:
    write_face_spec(gate / "face.yaml", eye_claim() + strongest_claim())
    assert run(pytester, "--probe-specs", "specs").ret == pytest.ExitCode.OK  # the real model
    lost = run(pytester, "--probe-specs", "specs", "--probe-weights", str(candidates["lost"]))
    lost.assert_outcomes(passed=1, failed=1)  # the eye claim; the strongest channel is intact
    lost.stdout.fnmatch_lines(["*channel 15: drop 0,*silent in the region*"])
    found = re.findall(
        r"channels of fire6-relu_squeeze1x1 that pass this check now: (.+)", lost.stdout.str()
    )
    if not found:  # no channel took over: the message must say so instead
        lost.stdout.fnmatch_lines(["*no channel of fire6-relu_squeeze1x1 passes this check now*"])
        return
    # the channels named do pass that check on the candidate, as claimed
    named = int(found[0].split(",")[0])
    write_face_spec(gate / "face.yaml", eye_claim("moved", named).split("    selective")[0])
    moved = run(
        pytester,
        "--probe-specs",
        "specs",
        "--probe-weights",
        str(candidates["lost"]),
        "-k",
        "moved",
    )
    moved.assert_outcomes(passed=1)


# --- baselines ------------------------------------------------------------------------------------


def test_baseline_round_trip_regression_and_tolerance(
    pytester: pytest.Pytester,
    gate: Path,
    write_face_spec: Callable[..., Path],
    candidates: dict[str, Path],
) -> None:
    write_face_spec(gate / "face.yaml", eye_claim())
    base = ["--probe-baseline", "base.json"]
    recorded = run(pytester, "--probe-specs", "specs", *base, "--probe-baseline-update")
    recorded.stdout.fnmatch_lines(
        ["baseline: recorded 1 passing claim(s) in base.json (1 in the file)"]
    )
    document = json.loads((pytester.path / "base.json").read_text())
    assert document["claims"]["specs/face.yaml::eye"]["model"]["weights"] == "deep-compression"

    # the same model against its own numbers: passes
    same = run(pytester, "--probe-specs", "specs", *base, "--probe-report", "same")
    same.assert_outcomes(passed=1)
    trusted = results_of(pytester.path / "same")["claims"][0]

    # the perturbed (fake int8) candidate still clears every absolute threshold...
    plain = ["--probe-specs", "specs", "--probe-weights", str(candidates["benign"])]
    alone = run(pytester, *plain, "--probe-report", "alone")
    alone.assert_outcomes(passed=1)
    now = results_of(pytester.path / "alone")["claims"][0]
    ratio = [c["checks"][1]["cases"][0]["channels"][0]["values"]["ratio"] for c in (trusted, now)]
    fall = ratio[0] - ratio[1]
    assert fall > 0.05, "premise: the candidate's selectivity falls by more than the tolerance"

    # ...and within the default relative tolerance of a ratio; held to an absolute 0.05, it
    # regressed, and the message says both numbers, the change and the tolerance broken
    run(pytester, *plain, *base).assert_outcomes(passed=1)
    tight = ["--probe-baseline-tolerance", "ratio=abs:0.05"]
    gated = run(pytester, *plain, *base, *tight)
    gated.assert_outcomes(failed=1)
    gated.stdout.fnmatch_lines(
        [
            "*eye: selective, case face, region eyes, channel 15: ratio regressed from * to * "
            "(-0.*, tolerance abs 0.05)"
        ]
    )
    assert gated.ret == pytest.ExitCode.TESTS_FAILED
    # a tolerance wider than the fall lets it pass, absolute or relative
    wide = f"ratio=abs:{fall + 0.01:.3f}"
    run(pytester, *plain, *base, "--probe-baseline-tolerance", wide).assert_outcomes(passed=1)
    relative = f"ratio=rel:{(fall + 0.01) / ratio[0]:.3f}"
    run(pytester, *plain, *base, "--probe-baseline-tolerance", relative).assert_outcomes(passed=1)


def test_baseline_gaps_are_counted_and_fail_under_strict(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    write_face_spec(gate / "face.yaml", eye_claim() + strongest_claim("gone"))
    base = ["--probe-specs", "specs", "--probe-baseline", "b.json"]
    run(pytester, *base, "--probe-baseline-update").assert_outcomes(passed=2)
    # "gone" is removed from the spec, "new" added: one claim with no entry, one entry stale
    write_face_spec(gate / "face.yaml", eye_claim() + strongest_claim("new"))
    result = run(pytester, *base, "--probe-report", "r")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*note: no baseline entry for specs/face.yaml::new: not*",
            "*2 claims: 2 passed, 0 failed · baseline: 1 claim with no entry, 1 entry matching "
            "nothing*",
            "baseline: the entry specs/face.yaml::gone matches no claim of its spec: a note*",
        ]
    )
    data = results_of(pytester.path / "r")
    notes = {c["claim_id"]: c["notes"] for c in data["claims"]}
    assert notes["eye"] == [] and "no baseline entry" in notes["new"][0]
    assert data["noted"] == 1
    # strict: the claim with no entry fails, and so does the run for the stale entry
    strict = run(pytester, *base, "--probe-baseline-strict", "-k", "new")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*no baseline entry for specs/face.yaml::new*strict*"])
    stale = run(pytester, *base, "--probe-baseline-strict", "-k", "eye")
    stale.assert_outcomes(passed=1)
    assert stale.ret == pytest.ExitCode.TESTS_FAILED
    stale.stdout.fnmatch_lines(["*entry specs/face.yaml::gone*fails the run*"])
    # recording again drops the stale entry: strict and clean
    run(pytester, *base, "--probe-baseline-update").stdout.fnmatch_lines(
        ["*dropped 1 entry of claims no longer in their spec*"]
    )
    assert run(pytester, *base, "--probe-baseline-strict").ret == pytest.ExitCode.OK


def test_a_deleted_spec_file_leaves_stale_entries_that_strict_fails(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    """Deleting (or renaming) a whole spec file must not take its claims out of the gate
    silently: its baseline entries match nothing, and --probe-baseline-strict fails the run."""
    write_face_spec(gate / "face.yaml", strongest_claim())
    write_face_spec(gate / "more.yaml", strongest_claim("other"))
    base = ["--probe-specs", "specs", "--probe-baseline", "b.json"]
    run(pytester, *base, "--probe-baseline-update").assert_outcomes(passed=2)
    (gate / "more.yaml").unlink()
    noted = run(pytester, *base)
    assert noted.ret == pytest.ExitCode.OK
    noted.stdout.fnmatch_lines(["*1 entry matching nothing*"])
    strict = run(pytester, *base, "--probe-baseline-strict")
    strict.assert_outcomes(passed=1)
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["*entry specs/more.yaml::other*fails the run*"])
    # recording again drops them: strict and clean
    run(pytester, *base, "--probe-baseline-update").assert_outcomes(passed=1)
    assert run(pytester, *base, "--probe-baseline-strict").ret == pytest.ExitCode.OK


def test_a_missing_baseline_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    write_face_spec(gate / "face.yaml", strongest_claim())
    result = run(pytester, "--probe-specs", "specs", "--probe-baseline", "nothere.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--probe-baseline *nothere.json: no such file*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    # recording creates it
    update = ["--probe-baseline", "nothere.json", "--probe-baseline-update"]
    assert run(pytester, "--probe-specs", "specs", *update).ret == pytest.ExitCode.OK
    assert (pytester.path / "nothere.json").is_file()


def test_a_misspelt_spec_in_a_directory_fails_as_when_named(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    write_face_spec(gate / "face.yaml", strongest_claim())
    misspelt = write_face_spec(gate / "typo.yaml", strongest_claim("typo"))
    misspelt.write_text(misspelt.read_text().replace("\nclaims:", "\nclaim:"))
    (gate / "ci.yaml").write_text("jobs: {test: {runs: pytest}}\nname: ci\n")  # not a spec
    alone = run(pytester, "--probe-specs", "specs/typo.yaml")
    alone.stdout.fnmatch_lines(["*typo.yaml*unknown key 'claim'*", "*did you mean 'claims'*"])
    whole = run(pytester, "--probe-specs", "specs")
    assert whole.ret != pytest.ExitCode.OK
    whole.stdout.fnmatch_lines(["*typo.yaml*unknown key 'claim'*", "*did you mean 'claims'*"])
    whole.assert_outcomes(errors=1)  # typo.yaml; ci.yaml is left alone
    assert "ci.yaml" not in whole.stdout.str()


def test_a_flow_style_spec_in_a_directory_is_checked(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    """A spec written as one flow mapping (JSON-like) has no key at a line start: it is still
    collected from a directory, not skipped in silence; a flow-style CI file is left alone."""
    import yaml

    block = write_face_spec(gate / "face.yaml", strongest_claim())
    flow = gate / "flow.yaml"
    document = yaml.safe_load(block.read_text())
    document["claims"][0]["id"] = "in-flow"
    flow.write_text("# one flow mapping\n" + json.dumps(document, indent=2) + "\n")
    (gate / "ci.yaml").write_text("{jobs: {test: {runs: pytest}}, name: ci}\n")  # not a spec
    result = run(pytester, "--probe-specs", "specs", "-v")
    result.stdout.fnmatch_lines(["*flow.yaml::in-flow PASSED*"])
    assert "ci.yaml" not in result.stdout.str()
    flow.write_text(flow.read_text().replace('"claims"', '"claim"'))  # misspelt: fails, named
    broken = run(pytester, "--probe-specs", "specs")
    broken.stdout.fnmatch_lines(["*flow.yaml*unknown key 'claim'*"])
    assert broken.ret != pytest.ExitCode.OK


@pytest.mark.parametrize("case", ["empty directory", "no spec in it", "all deselected", "tests"])
def test_checking_no_claim_is_an_error(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path], case: str
) -> None:
    args = ["--probe-specs", "specs"]
    if case == "no spec in it":
        (gate / "ci.yaml").write_text("jobs: {test: {runs: pytest}}\n")
    elif case == "all deselected":
        write_face_spec(gate / "face.yaml", strongest_claim())
        args += ["-k", "nothing"]
    elif case == "tests":  # tests pass beside an empty specs directory: still no claim checked
        pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
        args = ["test_plain.py", *args]
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*no claim checked:*", "*fix: *"])


@pytest.mark.parametrize(
    "workers",
    [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist", marks=pytest.mark.slow)],
)
def test_every_claim_skipped_is_no_claim_checked(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path], workers: list[str]
) -> None:
    """A skip added to every claim (a conftest hook) leaves the gate checking nothing: exit 4,
    as when -k deselects them all, not 0."""
    write_face_spec(gate / "face.yaml", strongest_claim())
    pytester.makeconftest(
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.skip(reason='slow'))\n"
    )
    if workers:
        pytest.importorskip("xdist")
    result = run(pytester, "--probe-specs", "specs", *workers)
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*no claim checked: all 1 selected claim(s) of *were skipped*"])
    result.stdout.fnmatch_lines(["*fix: remove the skip*"])


def test_old_tolerance_option_is_gone(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    write_face_spec(gate / "face.yaml", strongest_claim())
    result = run(pytester, "--probe-specs", "specs", "--probe-tolerance", "0.1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    bad = run(pytester, "--probe-specs", "specs", "--probe-baseline-tolerance", "lots")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--probe-baseline-tolerance 'lots'*"])


# --- the gate as CI runs it, on the shipped specs -----------------------------------------------

#: the changes docs/ci/make_candidate.py's docs call benign, at their default sizes, and a few
#: seeded ones within the documented bounds (noise ≤ 1 %, pruning ≤ 10 %)
DOCUMENTED_BENIGN = {
    "quantise": ["--change", "quantise"],
    "prune": ["--change", "prune"],
    "perturb": ["--change", "perturb"],
}
SEEDED_BENIGN = {
    "noise 1% seed 11": ["--change", "perturb", "--size", "0.01", "--seed", "11"],
    "prune 7%": ["--change", "prune", "--size", "0.07"],
}


@pytest.fixture(scope="session")
def shipped_gate(
    heavy_modules: None, weights_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, dict[str, bool]]]:
    """The documented gate command (docs/ci/probecheck.yml) on specs/, run in this process once
    per candidate: benign ones, --lose-eyes, and one per shipped claim with its channels zeroed.
    Name → (exit code, ``spec::claim`` → passed)."""
    import pytest as runner

    tally = load_script("gate_tally")
    out = tmp_path_factory.mktemp("shipped-gate")
    specs = REPO / "specs"

    def gate(args: list[str]) -> int:
        return int(runner.main(["-p", "no:terminal", "-p", "no:cacheprovider", *args]))

    runs: dict[str, tuple[int, dict[str, bool]]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
        patch.chdir(REPO)
        candidates = {**DOCUMENTED_BENIGN, **SEEDED_BENIGN, "lose-eyes": ["--lose-eyes"]}
        for name, argv in candidates.items():
            runs[name] = tally.check_candidate(gate, specs, out, name, argv)
        for lost in tally.breaks(specs):
            runs[f"break:{'|'.join(lost.claims)}"] = tally.check_candidate(
                gate, specs, out, "zero", lost.argv
            )
    return runs


def shipped_claims() -> list[str]:
    """``spec::claim`` of every claim in specs/, whatever specs/ holds today."""
    from probecheck.spec import load_spec

    return [
        f"{path.name}::{claim.id}"
        for path in sorted((REPO / "specs").glob("*.y*ml"))
        for claim in load_spec(path).claims
    ]


@pytest.mark.slow  # shipped_gate runs the gate's pytest session once per candidate
@pytest.mark.parametrize("name", [*DOCUMENTED_BENIGN, *SEEDED_BENIGN])
def test_benign_candidates_pass_the_documented_gate(
    shipped_gate: dict[str, tuple[int, dict[str, bool]]], name: str
) -> None:
    code, verdicts = shipped_gate[name]
    assert code == 0, [claim for claim, ok in verdicts.items() if not ok]
    assert sorted(verdicts) == sorted(shipped_claims())


@pytest.mark.slow  # shipped_gate runs the gate's pytest session once per candidate
def test_lost_eyes_fail_the_documented_gate(
    shipped_gate: dict[str, tuple[int, dict[str, bool]]],
) -> None:
    code, verdicts = shipped_gate["lose-eyes"]
    assert code == pytest.ExitCode.TESTS_FAILED
    assert not verdicts["faces.yaml::eyes-across-faces"]  # the claim about the lost channel


@pytest.mark.slow  # shipped_gate runs the gate's pytest session once per candidate
@pytest.mark.parametrize("claim", shipped_claims())
def test_every_shipped_claim_catches_the_loss_of_its_channels(
    shipped_gate: dict[str, tuple[int, dict[str, bool]]], claim: str
) -> None:
    """A candidate with the claim's channels zeroed fails the gate, and the claim with it."""
    breaks = {name: run for name, run in shipped_gate.items() if name.startswith("break:")}
    (code, verdicts), *_ = [
        run for name, run in breaks.items() if claim in name.removeprefix("break:").split("|")
    ] or [(None, {})]
    if code is None:
        pytest.skip(f"{claim} names no channel of its own")
    assert code == pytest.ExitCode.TESTS_FAILED
    assert verdicts[claim] is False


# --- model identity and preprocessing -------------------------------------------------------------


def test_header_and_results_name_the_candidate_by_sha256(
    pytester: pytest.Pytester,
    gate: Path,
    write_face_spec: Callable[..., Path],
    candidates: dict[str, Path],
) -> None:
    write_face_spec(gate / "face.yaml", strongest_claim())
    sha = hashlib.sha256(candidates["benign"].read_bytes()).hexdigest()
    args = ["--probe-specs", "specs", "--probe-report", "r"]
    result = run(pytester, *args, "--probe-weights", str(candidates["benign"]))
    result.stdout.fnmatch_lines(
        [f"probecheck model: *weights {candidates['benign']}, sha256 {sha}"]
    )
    (model,) = results_of(pytester.path / "r")["models"]
    assert model["sha256"] == sha
    # a plain state_dict keeps the preprocessing of the spec's model (Caffe's, 227×227)
    assert model["preprocessing"].startswith("227×227, pixels 0..255")
    assert "(the spec's model (deep-compression))" in model["preprocessing"]
    # an option says otherwise
    run(
        pytester,
        *args,
        "--probe-weights",
        str(candidates["benign"]),
        "--probe-preprocess",
        "imagenet",
    )
    (model,) = results_of(pytester.path / "r")["models"]
    assert (
        model["preprocessing"].startswith("224×224")
        and "--probe-preprocess" in model["preprocessing"]
    )
    # no override: each spec's own model, listed after collection
    own = run(pytester, "--probe-specs", "specs")
    own.stdout.fnmatch_lines(
        ["probecheck model: arch squeezenet1_0, weights deep-compression, sha256 e4ab*"]
    )


def test_preprocessing_precedence(
    weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given > recorded in the checkpoint > inherited > the weights' default."""
    import torch

    from probecheck.zoo.builders import build, save_checkpoint, weights_preprocessing
    from probecheck.zoo.preprocess import CAFFE_SQUEEZENET, IMAGENET, Preprocessing

    monkeypatch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
    built = build("squeezenet1_0", "deep-compression")
    plain, recorded = tmp_path / "plain.pt", tmp_path / "recorded.pt"
    torch.save(built.model.state_dict(), plain)
    odd = Preprocessing((200, 200), 1.0, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bgr")
    save_checkpoint(built.model, odd, recorded)
    assert weights_preprocessing("squeezenet1_0", str(recorded)) == odd
    assert weights_preprocessing("squeezenet1_0", str(plain)) is None
    assert build("squeezenet1_0", str(plain)).preprocessing == IMAGENET
    assert (
        build("squeezenet1_0", str(plain), inherited=CAFFE_SQUEEZENET).preprocessing
        == CAFFE_SQUEEZENET
    )
    assert build("squeezenet1_0", str(recorded), inherited=CAFFE_SQUEEZENET).preprocessing == odd
    given = build("squeezenet1_0", str(recorded), preprocessing=IMAGENET, source="test")
    assert given.preprocessing == IMAGENET
    assert given.identity.preprocessing.endswith("(test)")


def test_bgr_channel_order_flips_the_input(real_probe, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import numpy as np

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    rgb = real_probe.prepare([image])
    monkeypatch.setattr(
        real_probe,
        "preprocessing",
        dataclasses.replace(real_probe.preprocessing, mean=(120.0,) * 3, channel_order="bgr"),
    )
    bgr = real_probe.prepare([image])
    monkeypatch.setattr(
        real_probe,
        "preprocessing",
        dataclasses.replace(real_probe.preprocessing, channel_order="rgb"),
    )
    assert np.allclose(bgr.numpy(), real_probe.prepare([image]).flip(1).numpy())
    assert not np.allclose(bgr.numpy(), rgb.numpy())


def test_spec_preprocess_block_is_validated_and_used(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    block = (
        "model: {arch: squeezenet1_0, weights: deep-compression,\n"
        "        preprocess: {size: [227, 227], pixel_scale: 255, mean: [123, 117, 104]}}"
    )
    write_face_spec(gate / "face.yaml", strongest_claim(), model=block)
    run(pytester, "--probe-specs", "specs", "--probe-report", "r").assert_outcomes(passed=1)
    (model,) = results_of(pytester.path / "r")["models"]
    assert "preprocess: block" in model["preprocessing"]
    write_face_spec(
        gate / "face.yaml", strongest_claim(), model=block.replace("[123, 117, 104]", "[1, 2]")
    )
    bad = run(pytester, "--probe-specs", "specs")
    assert bad.ret == pytest.ExitCode.INTERRUPTED
    bad.stdout.fnmatch_lines(["*face.yaml:*mean*"])


# --- JUnit, exit codes ----------------------------------------------------------------------------


def junit_cases(path: Path) -> dict[str, dict[str, str]]:
    root = ET.parse(path).getroot()
    return {
        case.get("name", ""): {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        for case in root.iter("testcase")
    }


def test_junit_holds_one_testcase_per_claim_with_its_numbers(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    write_face_spec(gate / "face.yaml", eye_claim() + eye_claim("not-eye", 25) + strongest_claim())
    run(pytester, "--probe-specs", "specs", "--probe-report", "r", "--junitxml", "out.xml")
    cases = junit_cases(pytester.path / "out.xml")
    assert sorted(cases) == ["eye", "not-eye", "strongest"]
    claims = {c["claim_id"]: c for c in results_of(pytester.path / "r")["claims"]}
    for name, properties in cases.items():
        claim = claims[name]
        assert properties["verdict"] == ("pass" if claim["passed"] else "fail")
        assert properties["model.sha256"] == claim["model"]["sha256"]
        for check in claim["checks"]:
            for index, case in enumerate(check["cases"], start=1):
                for channel in case["channels"]:
                    for metric, value in channel["values"].items():
                        key = f"{check['kind']}.case{index}.channel{channel['label']}.{metric}"
                        assert float(properties[key]) == pytest.approx(value, rel=1e-5, abs=1e-9)
    assert cases["not-eye"]["drop.passes_now"] or cases["not-eye"]["drop.passed"] == "true"


def test_exit_codes_are_pytests(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    write_face_spec(gate / "face.yaml", strongest_claim())
    assert run(pytester, "--probe-specs", "specs").ret == 0
    write_face_spec(gate / "face.yaml", strongest_claim().replace("in: [22]", "in: [21]"))
    assert run(pytester, "--probe-specs", "specs").ret == 1
    write_face_spec(gate / "face.yaml", strongest_claim().replace("in:", "inn:"))  # a spec error
    assert run(pytester, "--probe-specs", "specs").ret == 2
    # found only when the claim runs (a damaged image file), still an error in the spec's input
    face = (FIXTURES / "astronaut_face.png").read_bytes()
    (pytester.path / "cut.png").write_bytes(face[: len(face) // 2])
    cut = strongest_claim("cut").replace("image: face", "image: cut")
    spec = write_face_spec(gate / "face.yaml", strongest_claim() + cut)
    spec.write_text(
        spec.read_text().replace("images:", f"images:\n  cut: {pytester.path / 'cut.png'}")
    )
    result = run(pytester, "--probe-specs", "specs")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*cannot read image*cut.png*"])


# --- xdist ----------------------------------------------------------------------------------------


def verdicts_and_numbers(report: Path) -> tuple[dict[str, bool], dict[str, float]]:
    """A report's verdict per claim, and every measured number by claim, check, case, channel."""
    verdicts, numbers = {}, {}
    for claim in results_of(report)["claims"]:
        verdicts[claim["claim_id"]] = claim["passed"]
        for check in claim["checks"]:
            for i, case in enumerate(check["cases"]):
                for ch in case["channels"]:
                    for metric, value in ch["values"].items():
                        key = f"{claim['claim_id']}/{check['kind']}/{i}/{ch['label']}/{metric}"
                        numbers[key] = value
    return verdicts, numbers


def test_xdist_equals_serial_and_keeps_a_spec_on_one_worker(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    pytest.importorskip("xdist")
    write_face_spec(gate / "face.yaml", eye_claim() + eye_claim("not-eye", 25) + strongest_claim())
    write_face_spec(gate / "more.yaml", eye_claim("eye14", 14) + strongest_claim("again"))
    common = ["-p", "no:cacheprovider", "--probe-specs", "specs", "-v"]
    serial = run(pytester, *common[2:], "--probe-report", "serial", "--junitxml", "serial.xml")
    parallel = pytester.runpytest_subprocess(
        *common, "-n", "2", "--probe-report", "parallel", "--junitxml", "parallel.xml"
    )
    assert parallel.ret == serial.ret
    parallel.stdout.fnmatch_lines(["*scheduling tests via LoadFileScheduling*"])
    workers: dict[str, set[str]] = {}
    for worker, spec in re.findall(
        r"\[(gw\d)\] .*(?:PASSED|FAILED) (\S+\.yaml)::", parallel.stdout.str()
    ):
        workers.setdefault(spec, set()).add(worker)
    assert sorted(workers) == ["specs/face.yaml", "specs/more.yaml"]
    assert all(len(w) == 1 for w in workers.values()), workers
    # one summary on the controller, covering both workers
    parallel.stdout.fnmatch_lines(["*5 claims: * passed, * failed*"])
    assert len(re.findall(r"=+ probecheck =+", parallel.stdout.str())) == 1

    (verdicts, numbers), (verdicts_n, numbers_n) = (
        verdicts_and_numbers(pytester.path / name) for name in ("serial", "parallel")
    )
    assert verdicts == verdicts_n and len(verdicts) == 5
    assert numbers.keys() == numbers_n.keys()
    # same batches of the same images on one CPU: equal up to float32 summation order at most
    assert numbers_n == pytest.approx(numbers, rel=1e-6, abs=1e-9)
    assert (
        junit_cases(pytester.path / "serial.xml").keys()
        == junit_cases(pytester.path / "parallel.xml").keys()
    )
    # tiles of the two workers, one per failing claim, none overwritten by another
    assert sorted(p.name for p in (pytester.path / "parallel").glob("*.png")) == sorted(
        p.name for p in (pytester.path / "serial").glob("*.png")
    )


@pytest.mark.slow  # three sessions on two xdist workers
def test_xdist_records_and_holds_the_baseline_as_a_serial_run_does(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path]
) -> None:
    """Under -n 2 the controller alone records the baseline: the same file, byte for byte, as
    the serial run's, each passing claim once; with --probe-diagnostics all, index.html links
    every claim's tile. Held to it (a regression, a claim with no entry, a stale entry, under
    --probe-baseline-strict), the verdicts, results, summary line and exit status are the
    serial run's; and a -k that deselects every claim is exit 4 there too."""
    pytest.importorskip("xdist")
    write_face_spec(gate / "face.yaml", eye_claim() + strongest_claim())
    write_face_spec(gate / "more.yaml", strongest_claim("again") + eye_claim("fails", 25))
    base = ["--probe-specs", "specs", "--probe-baseline", "b.json"]
    record = [*base, "--probe-baseline-update", "--probe-diagnostics", "all"]
    run(pytester, *record, "--probe-report", "serial").assert_outcomes(passed=3, failed=1)
    serial_file = (pytester.path / "b.json").read_text()
    (pytester.path / "b.json").unlink()
    recorded = run(pytester, *record, "-n", "2", "--probe-report", "parallel")
    recorded.assert_outcomes(passed=3, failed=1)
    recorded.stdout.fnmatch_lines(
        ["baseline: recorded 3 passing claim(s) in b.json (3 in the file)*"]
    )
    assert (pytester.path / "b.json").read_text() == serial_file
    results = results_of(pytester.path / "parallel")["claims"]
    page = (pytester.path / "parallel" / "index.html").read_text()
    for claim in results:
        tile = f"{Path(claim['spec']).parent.name}.{Path(claim['spec']).stem}__{claim['claim_id']}"
        assert (pytester.path / "parallel" / f"{tile}.png").is_file()
        assert f"{tile}.png" in page, tile

    # the eye claim's ratio recorded far higher (a regression), "again" gone (a stale entry),
    # "new" added (no entry), and "fails" never recorded
    document = json.loads(serial_file)
    selective = document["claims"]["specs/face.yaml::eye"]["checks"]["selective"]
    selective["cases"][0]["channels"]["15"]["ratio"] *= 100
    (pytester.path / "b.json").write_text(json.dumps(document))
    write_face_spec(gate / "more.yaml", eye_claim("fails", 25) + strongest_claim("new"))
    held = [*base, "--probe-baseline-strict"]
    serial = run(pytester, *held, "--probe-report", "serial")
    parallel = run(pytester, *held, "-n", "2", "--probe-report", "parallel")
    serial.assert_outcomes(passed=1, failed=3)
    assert parallel.ret == serial.ret == pytest.ExitCode.TESTS_FAILED
    assert parallel.parseoutcomes() == serial.parseoutcomes()

    def summary(result: pytest.RunResult) -> str:  # the counts, not the forward passes
        found = re.search(r"(\d+ claims: .*?) · \d+ forward passes", result.stdout.str())
        assert found is not None
        return found.group(1)

    assert "1 entry matching nothing" in summary(serial)
    assert summary(parallel) == summary(serial)
    parallel.stdout.fnmatch_lines(["*entry specs/more.yaml::again*fails the run*"])

    def claims(report: str) -> list[dict]:  # numbers apart; in the document's order
        listed = results_of(pytester.path / report)["claims"]
        for claim in listed:
            del claim["forward_passes"], claim["checks"]
        return listed

    assert claims("parallel") == claims("serial")
    (verdicts, numbers), (verdicts_n, numbers_n) = (
        verdicts_and_numbers(pytester.path / name) for name in ("serial", "parallel")
    )
    assert verdicts_n == verdicts and numbers_n == pytest.approx(numbers, rel=1e-6, abs=1e-9)

    def no_claim(result: pytest.RunResult) -> list[str]:
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        lines = result.stdout.lines
        at = next(i for i, line in enumerate(lines) if line.startswith("no claim checked:"))
        return lines[at : at + 2]  # the reason, with the claims counted, and the fix

    nothing = no_claim(run(pytester, *base, "-k", "nothing"))
    assert nothing[0].endswith("deselected all 4 claim(s) of specs")
    assert no_claim(run(pytester, *base, "-n", "2", "-k", "nothing")) == nothing


@pytest.mark.parametrize(
    "how",
    [
        # serially, a collection error stops the run before any claim (exit 2: tested above);
        # these two go on to check the other specs' claims, and must still exit 2
        pytest.param(["--continue-on-collection-errors"], id="serial-continue"),
        pytest.param(["-n", "2"], id="xdist", marks=pytest.mark.slow),
    ],
)
def test_a_spec_that_does_not_load_exits_2_when_other_claims_run(
    pytester: pytest.Pytester, gate: Path, write_face_spec: Callable[..., Path], how: list[str]
) -> None:
    if "-n" in how:
        pytest.importorskip("xdist")
    write_face_spec(gate / "bad.yaml", strongest_claim().replace("in:", "inn:"))
    write_face_spec(gate / "fail.yaml", strongest_claim("fails").replace("in: [22]", "in: [21]"))
    result = run(pytester, "--probe-specs", "specs", "--probe-report", "r", *how)
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*bad.yaml*unknown key 'inn'*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED  # 2, as docs/plugin.md says
    assert [c["claim_id"] for c in results_of(pytester.path / "r")["claims"]] == ["fails"]


def _config(dist: str, args: list[str], *, distload: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        option=SimpleNamespace(dist=dist, distload=distload),
        invocation_params=SimpleNamespace(args=args),
        getini=lambda name: [],
    )


@pytest.mark.parametrize(
    ("dist", "args", "distload", "expected"),
    [
        ("load", ["-n", "2"], False, "loadfile"),  # -n alone: specs stay together
        ("load", ["-n", "2", "--dist", "load"], False, "load"),  # the user's choice stands
        ("load", ["-n2", "--dist=load"], False, "load"),
        ("load", ["-n", "2", "-d"], True, "load"),
        ("loadgroup", ["--dist", "loadgroup"], False, "loadgroup"),
        ("no", [], False, "no"),
    ],
)
def test_default_distribution_becomes_loadfile(
    dist: str, args: list[str], distload: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probecheck.plugin.options import keep_spec_files_on_one_worker

    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    config = _config(dist, args, distload=distload)
    keep_spec_files_on_one_worker(config)  # type: ignore[arg-type]
    assert config.option.dist == expected


# --- docs/ci stays in step with the package and specs/ --------------------------------------------


def test_committed_baseline_covers_exactly_the_shipped_claims() -> None:
    from probecheck.report.baseline import load_baseline
    from probecheck.spec import load_spec

    document = load_baseline(REPO / "specs" / "baseline.json")
    claims = {
        f"{path.name}::{claim.id}"
        for path in sorted((REPO / "specs").glob("*.yaml"))
        for claim in load_spec(path).claims
    }
    assert set(document["claims"]) == claims, "re-record: see docs/ci.md, The baseline"
    for entry in document["claims"].values():
        assert entry["model"]["weights"] == "deep-compression"


def test_workflow_and_rehearsal_run_the_same_gate() -> None:
    from probecheck.zoo import store

    workflow = yaml.safe_load((CI / "probecheck.yml").read_text())
    assert workflow["env"]["WEIGHTS_SHA256"] == store.DEEP_COMPRESSION.sha256
    gate_steps = workflow["jobs"]["gate"]["steps"]
    assert workflow["jobs"]["gate"]["needs"] == "candidate"
    (command,) = [s["run"] for s in gate_steps if "run" in s and s["run"].startswith("pytest ")]
    words = shlex.split(command)
    assert words[:3] == ["pytest", "--probe-specs", "specs/"]
    (upload,) = [s for s in gate_steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["if"] == "always()" and upload["with"]["path"] == "probe-report/"
    caches = [
        s
        for job in workflow["jobs"].values()
        for s in job["steps"]
        if "cache@" in s.get("uses", "")
    ]
    weights = [s for s in caches if s["with"]["path"] == "~/.cache/probecheck"]
    assert len(weights) == 2 and all("WEIGHTS_SHA256" in s["with"]["key"] for s in weights)
    # probecheck's own cache (activations, altered images, sweeps) in pytest's cache directory,
    # restored before the gate's pytest runs; its entries are keyed by content, so any latest
    # copy is safe to restore
    (stored,) = [s for s in caches if s not in weights]
    assert stored["with"]["path"] == ".pytest_cache/d/probecheck"
    assert stored["with"]["restore-keys"] and stored in gate_steps
    assert gate_steps.index(stored) < gate_steps.index(
        next(s for s in gate_steps if s.get("run", "").startswith("pytest "))
    )
    rehearsal = (CI / "rehearse.sh").read_text()
    gate_args = shlex.split(re.search(r"GATE_ARGS=\((.*?)\)", rehearsal, re.S).group(1))  # type: ignore[union-attr]
    # the rehearsal passes the same arguments; weights and report paths point into its temp dir
    workflow_args = [
        w for w in words[1:] if w not in ("candidate.pt", "probe-report", "probe-report/junit.xml")
    ]
    workflow_args = [
        w for w in workflow_args if w not in ("--probe-weights", "--probe-report", "--junitxml")
    ]
    assert gate_args == workflow_args
    for option in ("--probe-weights", "--probe-report", "--junitxml"):
        assert option in rehearsal
