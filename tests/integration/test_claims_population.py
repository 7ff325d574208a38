"""Population claims on the real network over the shipped faces (fixtures/faces).

The old single-image eye claim (fire6-relu_squeeze1x1 channel 15, eyes against cheeks, masked by
inpainting) fails its control over the faces; a channel found on a seeded discovery half of the
faces holds on the other half it was not found on; on random weights every population drop
claim fails; every shipped claim over the faces is one that find confirmed on held-out faces.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "fixtures" / "faces"
SPECS = ROOT / "specs"

pytestmark = pytest.mark.skipif(
    not (FACES / "regions.json").is_file(), reason="fixtures/faces (with regions.json) not built"
)

SPLIT_SEED = 13
"""Seed of the discovery / confirmation split of the faces (fixed before any result was seen)."""
AT_LEAST, CONTROL_AT_MOST = 0.5, 0.25
"""The thresholds of the found claim, fixed before the search."""
SEARCHED = [f"fire{i}-relu_squeeze1x1" for i in range(2, 10)] + [
    f"fire{i}-relu_expand3x3" for i in (6, 7, 8, 9)
]


def _faces() -> list[str]:
    return sorted(p.name for p in FACES.glob("*.png"))


def _split() -> tuple[list[str], list[str]]:
    order = [str(n) for n in np.random.default_rng(SPLIT_SEED).permutation(_faces())]
    half = len(order) // 2
    return sorted(order[:half]), sorted(order[half:])


def _drop_spec(path: Path, images: list[str], claims: list[dict]) -> Path:
    body = {
        "sets": {
            "faces": {
                "images": [str(FACES / name) for name in images],
                "regions": str(FACES / "regions.json"),
            }
        },
        "claims": claims,
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _drop_claim(claim_id: str, layer: str, channel: int, at_least: float, control: float) -> dict:
    return {
        "id": claim_id,
        "layer": layer,
        "channels": [channel],
        "drop": {
            "set": "faces",
            "mask_with": "inpaint",
            "region": "eyes",
            "control": "cheeks",
            "at_least": at_least,
            "control_at_most": control,
        },
    }


def _evaluate(spec_path: Path, probe):
    from probecheck.checks import SpecInputs, evaluate_claim
    from probecheck.plan import claim_needs, prefetch
    from probecheck.spec import load_spec

    spec = load_spec(spec_path)
    inputs = SpecInputs(spec)
    prefetch(probe, claim_needs(spec.claims), inputs.variant)
    return [evaluate_claim(claim, spec, probe, inputs) for claim in spec.claims]


def test_the_old_eye_claim_fails_its_control_over_the_faces(real_probe, tmp_path: Path) -> None:
    old = _drop_claim("fire6-eyes", "fire6-relu_squeeze1x1", 15, 0.7, 0.25)
    (result,) = _evaluate(_drop_spec(tmp_path / "old.yaml", _faces(), [old]), real_probe)
    population = result.checks[0].population
    assert population.n == len(_faces()) >= 8
    assert not result.passed
    assert not population.metrics["control_drop"].holds, population.describe()
    assert population.null is not None and population.null.channels == 48


def test_the_documented_channel_15_spec_fails_over_the_faces(real_probe) -> None:
    # docs/find-then-confirm.md runs this spec to show the single-pair claim was an artefact
    (result,) = _evaluate(ROOT / "docs" / "channel15_over_faces.yaml", real_probe)
    population = result.checks[0].population
    assert (result.layer, result.channels) == ("fire6-relu_squeeze1x1", [15])
    assert population.n == len(_faces()) and not result.passed
    assert not population.metrics["control_drop"].holds, population.describe()


def _discover(probe, tmp_path: Path, discovery: list[str]) -> tuple[str, int]:
    """The channel of the searched layers whose eye drop most surely clears AT_LEAST while its
    cheek drop most surely stays under CONTROL_AT_MOST, on the discovery faces only: the largest
    smaller margin of the two interval bounds, ties broken by the eye drop's lower bound."""
    from probecheck import metrics
    from probecheck.regions import area_fractions
    from probecheck.stats import mean_intervals

    # thresholds that only let the spec load: the numbers are read from the evidence below
    claims = [_drop_claim(f"l{i}", layer, 0, 0.01, 0.99) for i, layer in enumerate(SEARCHED)]
    spec = _drop_spec(tmp_path / "discovery.yaml", discovery, claims)
    best: tuple[float, float, str, int] = (-np.inf, -np.inf, "", -1)
    for result in _evaluate(spec, probe):
        drops, controls = [], []
        for case in result.checks[0].cases:
            ev = case.evidence
            peak = metrics.channel_peaks(ev.maps)
            inside = area_fractions(ev.region, ev.maps.shape[1:])
            control = area_fractions(ev.control, ev.maps.shape[1:])
            drops.append(metrics.region_drop(ev.maps, ev.altered_maps, inside, peak).drop_or_zero)
            side = metrics.region_drop(ev.maps, ev.control_altered_maps, control, peak)
            controls.append(side.drop_or_zero)
        _, drop_low, _ = mean_intervals(np.stack(drops, axis=1))
        _, _, control_high = mean_intervals(np.stack(controls, axis=1))
        margin = np.minimum(drop_low - AT_LEAST, CONTROL_AT_MOST - control_high)
        channel = int(np.lexsort((drop_low, margin))[-1])
        best = max(best, (float(margin[channel]), float(drop_low[channel]), result.layer, channel))
    assert best[0] > 0, "no channel holds even on the discovery faces"
    return best[2], best[3]


def test_a_channel_found_on_half_the_faces_holds_on_the_other_half(
    real_probe, claims_dir: Path, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    discovery, confirmation = _split()
    assert not set(discovery) & set(confirmation) and len(confirmation) >= 4
    layer, channel = _discover(real_probe, tmp_path, discovery)
    found = _drop_claim("found-eyes", layer, channel, AT_LEAST, CONTROL_AT_MOST)
    _drop_spec(claims_dir / "confirm.yaml", confirmation, [found])
    run = pytester.runpytest(
        "--probe-specs", "specs", "--junitxml", "junit.xml", "-p", "no:cacheprovider"
    )
    run.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "probe-report" / "results.json").read_text())
    population = report["claims"][0]["checks"][0]["population"]
    assert population["n"] == len(confirmation) and population["passed"]
    assert population["metrics"]["drop"]["lower"] >= AT_LEAST
    junit = (pytester.path / "junit.xml").read_text()
    assert "drop.population.drop.lower" in junit and "drop.population.null.channel" in junit
    run = pytester.runpytest("--probe-specs", "specs", "--probe-weights", "random")
    run.assert_outcomes(failed=1)


def _shipped_population_drop_claims() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for claim in data.get("claims", []) if isinstance(data, dict) else []:
            drop = claim.get("drop") if isinstance(claim, dict) else None
            if isinstance(drop, dict) and "set" in drop:
                found.append((path, claim["id"]))
    return found


@pytest.mark.slow  # every shipped population claim over the faces, on a second network
def test_on_random_weights_every_population_drop_claim_fails(real_probe, tmp_path: Path) -> None:
    import probecheck

    random_probe = probecheck.load("squeezenet1_0", "random", seed=0)
    old = _drop_claim("fire6-eyes", "fire6-relu_squeeze1x1", 15, 0.7, 0.25)
    ours = _evaluate(_drop_spec(tmp_path / "old.yaml", _faces(), [old]), random_probe)
    shipped = []
    for path, claim_id in _shipped_population_drop_claims():
        from probecheck.checks import SpecInputs, evaluate_claim
        from probecheck.spec import load_spec

        spec = load_spec(path)
        shipped.append(evaluate_claim(spec.claim(claim_id), spec, random_probe, SpecInputs(spec)))
    results = ours + shipped
    assert all(r.checks[0].population is not None for r in results)
    passing = [r.claim_id for r in results if r.passed]
    assert passing == [], f"population drop claims that hold on random weights: {passing}"


def _shipped_claims_over_the_faces() -> list[tuple[str, dict]]:
    """``(spec::id, claim)`` of every shipped drop claim over a set of fixtures/faces."""
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        sets = data.get("sets", {}) if isinstance(data, dict) else {}
        for claim in data.get("claims", []) if isinstance(data, dict) else []:
            drop = claim.get("drop") if isinstance(claim, dict) else None
            if not (isinstance(drop, dict) and drop.get("set") in sets):
                continue
            images = (path.parent / sets[drop["set"]]["images"]).resolve()
            if images.parent == FACES.resolve():
                found.append((f"{path.stem}::{claim['id']}", claim))
    return found


def test_every_shipped_claim_over_the_faces_was_confirmed_on_faces_it_was_not_found_on(
    weights_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    # the procedure docs/find-then-confirm.md teaches: each shipped claim over the faces is one
    # that find prints (found on the discovery split, held on the held-out one), and its
    # thresholds are no stricter than the ones find sets from the held-out numbers
    from probecheck.cli import main

    monkeypatch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
    shipped = _shipped_claims_over_the_faces()
    assert len(shipped) >= 2
    for name, claim in shipped:
        drop, out = claim["drop"], tmp_path / f"{claim['id']}.yaml"
        args = ["find", "--set", f"{FACES}/*.png", "--regions", str(FACES / "regions.json")]
        args += ["--region", drop["region"], "--control", drop["control"]]
        args += ["--mask-with", drop["mask_with"], "--views-of", "^([a-z]+)"]
        args += ["--layer", claim["layer"], "--top", "10", "--yaml-out", str(out)]
        assert main(args) == 0, capsys.readouterr().err
        capsys.readouterr()
        printed = yaml.safe_load(out.read_text()) if out.is_file() else {}
        same = [
            c["drop"]
            for c in printed.get("claims", [])
            if (c["layer"], c["channels"]) == (claim["layer"], claim["channels"])
        ]
        assert same, f"{name}: find did not confirm {claim['layer']} {claim['channels']}"
        assert drop["at_least"] <= same[0]["at_least"], name
        assert drop["control_at_most"] >= same[0]["control_at_most"], name


def test_claims_about_other_channels_share_the_random_weights_measurement(
    real_probe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The null's effects on random weights are measured once for claims that differ only in
    their channels, and each claim's null is the one it gets when checked alone; another
    threshold is another measurement (it may refuse what the first accepts)."""
    from probecheck.checks import evaluate as evaluate_module

    calls: list[str] = []
    measure = evaluate_module._evaluate

    def counting(claim, spec, probe, *args, **kwargs):
        if probe is not real_probe:
            calls.append(claim.id)
        return measure(claim, spec, probe, *args, **kwargs)

    claims = [
        _drop_claim("fifteen", "fire6-relu_squeeze1x1", 15, 0.5, 0.25),
        _drop_claim("twenty-two", "fire6-relu_squeeze1x1", 22, 0.5, 0.25),
        {**_drop_claim("both", "fire6-relu_squeeze1x1", 15, 0.5, 0.25), "channels": [15, 22]},
        _drop_claim("other-threshold", "fire6-relu_squeeze1x1", 15, 0.6, 0.25),
    ]
    monkeypatch.setattr(evaluate_module, "_evaluate", counting)
    together = _evaluate(_drop_spec(tmp_path / "together.yaml", _faces(), claims), real_probe)
    assert calls == ["fifteen", "other-threshold"]
    monkeypatch.setattr(evaluate_module, "_evaluate", measure)
    for claim, shared in zip(claims, together, strict=True):
        alone_spec = _drop_spec(tmp_path / f"{claim['id']}.yaml", _faces(), [claim])
        (alone,) = _evaluate(alone_spec, real_probe)
        null, alone_null = shared.checks[0].population.null, alone.checks[0].population.null
        assert null.random_effect is not None and null.random_effect == alone_null.random_effect
        assert (null.random_model, null.random_note) == (
            alone_null.random_model,
            alone_null.random_note,
        )
