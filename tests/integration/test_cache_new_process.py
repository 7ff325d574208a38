"""A warm rerun as a user or a CI job runs it: a new process, pytest's cache directory filled by
the run before. Its numbers are the cold run's bit for bit, it imports no torch and builds no
network, and a change of any part of a key (the weights file's bytes, the preprocessing, an
image's pixels) misses the cache and is measured again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
HEAVY = ("torch", "torchvision")

#: A plugin for the runs below: which heavy modules the run imported, written as it ends.
FLAG_PLUGIN = """
import json, os, sys

def pytest_unconfigure(config):
    with open(os.environ["PROBECHECK_TEST_IMPORTED"], "w") as handle:
        json.dump(sorted(m for m in {heavy!r} if m in sys.modules), handle)
"""

#: Every check kind, one claim over a set with its random-weights null, and validation of the
#: layers (at collection) — each path a claim takes through the cache.
EVERY_KIND = f"""
model: {{arch: squeezenet1_0, weights: deep-compression}}
index_base: 0
images:
  face: {FIXTURES}/astronaut_face.png
  face_no_eyes: {FIXTURES}/astronaut_face_eyes_removed.png
  face_no_cheeks: {FIXTURES}/astronaut_face_cheeks_removed.png
sets:
  few: {{images: [{FIXTURES}/faces/astronaut.png, {FIXTURES}/faces/einstein.png,
                  {FIXTURES}/faces/takeo.png],
        regions: {FIXTURES}/faces/regions.json}}
regions:
  eyes:   {{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}
  cheeks: {{boxes: [[56, 114, 102, 141], [150, 114, 205, 141]]}}
claims:
  - id: drop-selective
    layer: fire6-relu_squeeze1x1
    channels: [15]
    drop:
      cases:
        - {{image: face, altered: face_no_eyes, region: eyes,
           control: cheeks, control_altered: face_no_cheeks}}
        - {{image: face, mask_with: inpaint, region: eyes, control: cheeks}}
      at_least: 0.7
      control_at_most: 0.25
    selective: {{image: face, region: eyes, ratio_at_least: 1.5}}
  - id: strongest
    layer: fire9-relu_squeeze1x1
    channels: [63]
    strongest: {{image: face, top_k: 1}}
  - id: occlusion
    layer: fire6-relu_squeeze1x1
    channels: [15]
    occlusion: {{image: face, region: eyes, patch: 32, stride: 32, fill: mean,
                peak_in_region: true}}
  - id: compare
    layer: fire6-relu_squeeze1x1
    channels: [15]
    compare: {{image: face, other: face_no_eyes, region: eyes, ratio_at_least: 2}}
  - id: over-a-set
    layer: fire7-relu_expand1x1
    channels: [124]
    drop: {{set: few, mask_with: gray, region: eyes, at_least: 0.1,
           random_effect_at_most: 0.99, rank_at_most: 100}}
"""


def _without_counts(value: object) -> object:
    """A results document less what a warm run must change: when it was written and the
    forward passes it ran (the null's random-weights passes sit deep down)."""
    counts = ("created", "forward_passes", "occluded_passes", "random_passes")
    if isinstance(value, dict):
        return {k: _without_counts(v) for k, v in value.items() if k not in counts}
    if isinstance(value, list):
        return [_without_counts(v) for v in value]
    return value


class Runs:
    """``pytest --probe-specs`` in new processes, sharing one pytest cache directory."""

    def __init__(self, directory: Path, weights_dir: Path) -> None:
        self.directory = directory
        (directory / "imported_flag.py").write_text(FLAG_PLUGIN.format(heavy=HEAVY))
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(directory)]),
            "PROBECHECK_WEIGHTS_DIR": str(weights_dir),
            "PROBECHECK_THREADS": "1",
            "PROBECHECK_TEST_IMPORTED": str(directory / "imported.json"),
        }
        self.count = 0

    def __call__(self, spec: Path, *extra: str) -> tuple[dict, list[str]]:
        """The run's results.json and the heavy modules it imported."""
        self.count += 1
        report = self.directory / f"report-{self.count}"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "imported_flag"]
        command += ["-o", f"cache_dir={self.directory / 'cache'}", "--probe-specs", str(spec)]
        command += ["--probe-report", str(report), *extra]
        done = subprocess.run(
            command, cwd=self.directory, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode in (0, 1), done.stdout + done.stderr
        imported = json.loads((self.directory / "imported.json").read_text())
        return json.loads((report / "results.json").read_text()), imported


@pytest.mark.slow
def test_a_warm_run_in_a_new_process_gives_the_same_numbers_without_torch(
    tmp_path: Path, weights_dir: Path
) -> None:
    spec = tmp_path / "every_kind.yaml"
    spec.write_text(EVERY_KIND)
    run = Runs(tmp_path, weights_dir)

    cold, cold_imported = run(spec, "--cache-clear")
    assert cold_imported == list(HEAVY)  # the flag sees torch where it is imported
    assert cold["forward_passes"] > 0 and cold["occluded_passes"] > 0
    assert {c["claim_id"] for c in cold["claims"]} == {
        "drop-selective",
        "strongest",
        "occlusion",
        "compare",
        "over-a-set",
    }
    assert all(not c.get("error") for c in cold["claims"]), cold["claims"]
    null = cold["claims"][-1]["checks"][0]["population"]["null"]
    assert null["random_passes"] > 0  # the random-weights null ran its own network

    warm, warm_imported = run(spec, "--probe-diagnostics", "all")  # tiles drawn too
    assert warm_imported == []  # no torch, no torchvision: no network was built
    assert warm["forward_passes"] == 0 and warm["occluded_passes"] == 0
    assert json.dumps(_without_counts(warm)) == json.dumps(_without_counts(cold))
    assert warm["models"] == cold["models"]  # the model's identity, sha256 included


@pytest.mark.slow
def test_a_changed_key_part_misses_the_cache_in_a_new_process(
    tmp_path: Path, weights_dir: Path, real_probe
) -> None:
    import copy

    import torch

    from probecheck.zoo.builders import save_checkpoint

    weights = tmp_path / "candidate.pt"
    real_probe.save(weights)
    image = tmp_path / "face.png"
    image.write_bytes((FIXTURES / "astronaut_face.png").read_bytes())
    spec = tmp_path / "small.yaml"

    def write_spec(mean: float) -> None:
        spec.write_text(
            f"""
model:
  arch: squeezenet1_0
  weights: candidate.pt
  preprocess: {{size: [227, 227], pixel_scale: 255, mean: [{mean}, 117, 104], std: [1, 1, 1]}}
images: {{face: face.png}}
regions: {{eyes: {{boxes: [[61, 76, 107, 103], [147, 80, 202, 107]]}}}}
claims:
  - id: eyes
    layer: fire2-relu_squeeze1x1
    channels: [3]
    drop: {{image: face, mask_with: gray, region: eyes, at_least: 0.01}}
    selective: {{image: face, region: eyes, ratio_at_least: 1.01}}
"""
        )

    def numbers(document: dict) -> str:
        return json.dumps(_without_counts(document["claims"]))

    write_spec(123.0)
    run = Runs(tmp_path, weights_dir)
    cold, _ = run(spec, "--cache-clear")
    assert cold["forward_passes"] > 0
    warm, imported = run(spec)
    assert (warm["forward_passes"], imported) == (0, [])
    assert numbers(warm) == numbers(cold)

    # the weights file's bytes: other weights in a file of the same size and modification time
    before = os.stat(weights)
    model = copy.deepcopy(real_probe.model)
    with torch.no_grad():
        model.get_submodule("features.0").weight.mul_(1.5)
    save_checkpoint(model, real_probe.preprocessing, weights)
    assert os.stat(weights).st_size == before.st_size
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    other_weights, imported = run(spec)
    assert other_weights["forward_passes"] > 0 and imported == list(HEAVY)
    assert numbers(other_weights) != numbers(cold)
    assert other_weights["models"][0]["sha256"] != cold["models"][0]["sha256"]

    # the preprocessing
    write_spec(124.0)
    other_preprocessing, _ = run(spec)
    assert other_preprocessing["forward_passes"] > 0
    assert numbers(other_preprocessing) != numbers(other_weights)

    # one pixel of the image
    pixels = np.array(Image.open(image).convert("RGB"))
    pixels[90, 80] = 255 - pixels[90, 80]
    Image.fromarray(pixels).save(image)
    other_image, _ = run(spec)
    assert other_image["forward_passes"] > 0
    assert numbers(other_image) != numbers(other_preprocessing)

    again, imported = run(spec)  # and the new entries serve the next run
    assert (again["forward_passes"], imported) == (0, [])
    assert numbers(again) == numbers(other_image)
