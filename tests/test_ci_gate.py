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
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CI = REPO / "docs" / "ci"

SPEC = f"""
model: {{arch: squeezenet1_0, weights: deep-compression}}
images:
  face: {FIXTURES / "astronaut_face.png"}
  face_no_eyes: {FIXTURES / "astronaut_face_eyes_removed.png"}
  face_no_cheeks: {FIXTURES / "astronaut_face_cheeks_removed.png"}
regions:
  eyes:   {{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}
  cheeks: {{boxes: [[56, 114, 102, 141], [150, 114, 205, 141]]}}
claims:
"""


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


def write_spec(directory: Path, name: str, claims: str, model: str = "") -> Path:
    path = directory / name
    text = SPEC + claims
    if model:
        text = text.replace("model: {arch: squeezenet1_0, weights: deep-compression}", model)
    path.write_text(text)
    return path


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, CI / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- fixtures: candidates made once, a pytester directory -----------------------------------------


@pytest.fixture(scope="module")
def candidates(
    heavy_modules: None, weights_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Checkpoints made by docs/ci/make_candidate.py: benign (fake int8) and lost eyes."""
    make = load_script("make_candidate")
    out = tmp_path_factory.mktemp("candidates")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
        made = {"benign": out / "benign.pt", "lost": out / "lost.pt"}
        assert make.main([str(made["benign"])]) == 0
        assert make.main([str(made["lost"]), "--change", "none", "--lose-eyes"]) == 0
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
    pytester: pytest.Pytester, gate: Path, candidates: dict[str, Path]
) -> None:
    write_spec(gate, "face.yaml", eye_claim() + strongest_claim())
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
    write_spec(gate, "face.yaml", eye_claim("moved", named).split("    selective")[0])
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
    pytester: pytest.Pytester, gate: Path, candidates: dict[str, Path]
) -> None:
    write_spec(gate, "face.yaml", eye_claim())
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

    # ...but against the baseline it regressed by more than the default 0.05
    gated = run(pytester, *plain, *base)
    gated.assert_outcomes(failed=1)
    gated.stdout.fnmatch_lines(
        [
            "*eye: selective, case face, region eyes, channel 15: ratio regressed from * to *"
            "(tolerance 0.05)"
        ]
    )
    assert gated.ret == pytest.ExitCode.TESTS_FAILED
    # a tolerance wider than the fall lets it pass, per metric or for all
    wide = f"0.05,ratio={fall + 0.01:.3f}"
    run(pytester, *plain, *base, "--probe-baseline-tolerance", wide).assert_outcomes(passed=1)
    run(
        pytester, *plain, *base, "--probe-baseline-tolerance", f"{fall + 0.01:.3f}"
    ).assert_outcomes(passed=1)


def test_claim_without_a_baseline_entry_passes_with_a_note(
    pytester: pytest.Pytester, gate: Path
) -> None:
    write_spec(gate, "face.yaml", eye_claim())
    run(pytester, "--probe-specs", "specs", "--probe-baseline", "b.json", "--probe-baseline-update")
    write_spec(gate, "face.yaml", eye_claim() + strongest_claim("new"))
    result = run(
        pytester, "--probe-specs", "specs", "--probe-baseline", "b.json", "--probe-report", "r"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*note: no baseline entry for specs/face.yaml::new: not*",
            "*2 claims: 2 passed, 0 failed, 1 with baseline notes*",
        ]
    )
    data = results_of(pytester.path / "r")
    notes = {c["claim_id"]: c["notes"] for c in data["claims"]}
    assert notes["eye"] == [] and "no baseline entry" in notes["new"][0]
    assert data["noted"] == 1


def test_old_tolerance_option_is_gone(pytester: pytest.Pytester, gate: Path) -> None:
    write_spec(gate, "face.yaml", strongest_claim())
    result = run(pytester, "--probe-specs", "specs", "--probe-tolerance", "0.1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    bad = run(pytester, "--probe-specs", "specs", "--probe-baseline-tolerance", "lots")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--probe-baseline-tolerance 'lots'*"])


# --- model identity and preprocessing -------------------------------------------------------------


def test_header_and_results_name_the_candidate_by_sha256(
    pytester: pytest.Pytester, gate: Path, candidates: dict[str, Path]
) -> None:
    write_spec(gate, "face.yaml", strongest_claim())
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


def test_spec_preprocess_block_is_validated_and_used(pytester: pytest.Pytester, gate: Path) -> None:
    block = (
        "model: {arch: squeezenet1_0, weights: deep-compression,\n"
        "        preprocess: {size: [227, 227], pixel_scale: 255, mean: [123, 117, 104]}}"
    )
    write_spec(gate, "face.yaml", strongest_claim(), model=block)
    run(pytester, "--probe-specs", "specs", "--probe-report", "r").assert_outcomes(passed=1)
    (model,) = results_of(pytester.path / "r")["models"]
    assert "preprocess: block" in model["preprocessing"]
    write_spec(
        gate, "face.yaml", strongest_claim(), model=block.replace("[123, 117, 104]", "[1, 2]")
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
    pytester: pytest.Pytester, gate: Path
) -> None:
    write_spec(gate, "face.yaml", eye_claim() + eye_claim("not-eye", 25) + strongest_claim())
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


def test_exit_codes_are_pytests(pytester: pytest.Pytester, gate: Path) -> None:
    write_spec(gate, "face.yaml", strongest_claim())
    assert run(pytester, "--probe-specs", "specs").ret == 0
    write_spec(gate, "face.yaml", strongest_claim().replace("in: [22]", "in: [21]"))
    assert run(pytester, "--probe-specs", "specs").ret == 1
    write_spec(gate, "face.yaml", strongest_claim().replace("in:", "inn:"))  # a spec error
    assert run(pytester, "--probe-specs", "specs").ret == 2
    # found only when the claim runs (a damaged image file), still an error in the spec's input
    face = (FIXTURES / "astronaut_face.png").read_bytes()
    (pytester.path / "cut.png").write_bytes(face[: len(face) // 2])
    cut = strongest_claim("cut").replace("image: face", "image: cut")
    spec = write_spec(gate, "face.yaml", strongest_claim() + cut)
    spec.write_text(
        spec.read_text().replace("images:", f"images:\n  cut: {pytester.path / 'cut.png'}")
    )
    result = run(pytester, "--probe-specs", "specs")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*cannot read image*cut.png*"])


# --- xdist ----------------------------------------------------------------------------------------


def test_xdist_equals_serial_and_keeps_a_spec_on_one_worker(
    pytester: pytest.Pytester, gate: Path
) -> None:
    pytest.importorskip("xdist")
    write_spec(gate, "face.yaml", eye_claim() + eye_claim("not-eye", 25) + strongest_claim())
    write_spec(gate, "more.yaml", eye_claim("eye14", 14) + strongest_claim("again"))
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

    def verdicts_and_numbers(name: str) -> tuple[dict[str, bool], dict[str, float]]:
        verdicts, numbers = {}, {}
        for claim in results_of(pytester.path / name)["claims"]:
            verdicts[claim["claim_id"]] = claim["passed"]
            for check in claim["checks"]:
                for i, case in enumerate(check["cases"]):
                    for ch in case["channels"]:
                        for metric, value in ch["values"].items():
                            key = f"{claim['claim_id']}/{check['kind']}/{i}/{ch['label']}/{metric}"
                            numbers[key] = value
        return verdicts, numbers

    (verdicts, numbers), (verdicts_n, numbers_n) = map(verdicts_and_numbers, ("serial", "parallel"))
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
    from probecheck.plugin import _keep_spec_files_on_one_worker

    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    config = _config(dist, args, distload=distload)
    _keep_spec_files_on_one_worker(config)  # type: ignore[arg-type]
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
    assert set(document["claims"]) == claims, "re-record: see README, Gate a retrained model in CI"
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
