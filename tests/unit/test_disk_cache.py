"""The persistent cache: a warm run gives bit-identical numbers, any change of a key misses, the
directory stays under its cap, concurrent writers never leave half a file, and pytest's own
cache switches (``--cache-clear``, ``-p no:cacheprovider``) behave as pytest users expect."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from probecheck import disk_cache
from probecheck.disk_cache import DiskCache, key_digest

ROOT = Path(__file__).resolve().parents[2]
FACE = ROOT / "fixtures" / "astronaut_face.png"
KEY = {"kind": "activation", "model": "ab" * 32, "image": "cd" * 32, "layer": "features.3"}


@pytest.fixture
def stored(tmp_path: Path):
    """A disk cache in tmp_path, active for the test and switched off after it."""
    cache = disk_cache.use(tmp_path / "cache", 1 << 30)
    yield cache
    disk_cache.use(None, 0)


# the store itself --------------------------------------------------------------------------------


def test_round_trip_is_bit_identical(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 1 << 20)
    array = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    assert cache.get(KEY) is None
    cache.put(KEY, array)
    back = cache.get(KEY)
    assert back is not None and back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()
    assert (cache.hits, cache.misses) == (1, 1)


@pytest.mark.parametrize("part", sorted(KEY))
def test_any_change_of_a_key_part_misses(tmp_path: Path, part: str) -> None:
    cache = DiskCache(tmp_path, 1 << 20)
    cache.put(KEY, np.ones(3, np.float32))
    assert cache.get({**KEY, part: KEY[part] + "x"}) is None
    assert cache.get({k: v for k, v in KEY.items() if k != part}) is None
    assert cache.get(dict(KEY)) is not None


def test_eviction_keeps_the_most_recently_used_under_the_cap(tmp_path: Path) -> None:
    import os

    entry = np.zeros(1000, np.float64)  # 8,128 bytes as .npy
    size = len(entry.tobytes()) + 128
    cache = DiskCache(tmp_path, 5 * size)
    keys = [{**KEY, "layer": str(i)} for i in range(5)]
    for age, key in enumerate(keys):
        cache.put(key, entry)
        path = tmp_path / f"{key_digest(key)}.npy"
        os.utime(path, (1000 + age, 1000 + age))  # written in order, a second apart
    assert cache.get(keys[0]) is not None  # read now: the most recent
    cache.put({**KEY, "layer": "new"}, entry)  # over the cap: evict down to 80% of it
    total = sum(p.stat().st_size for p in tmp_path.glob("*.npy"))
    assert total <= 0.8 * 5 * size
    assert cache.get(keys[0]) is not None  # recently read: kept
    assert cache.get({**KEY, "layer": "new"}) is not None  # just written: kept
    assert cache.get(keys[1]) is None  # the least recently used went first


def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, 1 << 20)
    cache.put(KEY, np.ones(3, np.float32))
    path = tmp_path / f"{key_digest(KEY)}.npy"
    path.write_bytes(path.read_bytes()[:20])
    assert cache.get(KEY) is None
    assert not path.exists()


WRITER = """
import sys, numpy as np
from probecheck.disk_cache import DiskCache
cache = DiskCache(sys.argv[1], 1 << 30)
key = {"kind": "race"}
array = np.arange(200_000, dtype=np.float32)
for _ in range(30):
    cache.put(key, array)
    got = cache.get(key)
    assert got is not None and np.array_equal(got, array), "a reader saw half a file"
"""


def test_two_workers_writing_the_same_key(tmp_path: Path) -> None:
    """As two xdist workers do: each writes and reads the same entry over and over."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    workers = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache")], env=env)
        for _ in range(2)
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        f"{key_digest({'kind': 'race'})}.npy"
    ]  # no temporary file left behind


def test_the_size_cap_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from probecheck.errors import ProbecheckError

    monkeypatch.setenv(disk_cache.SIZE_ENV, "3")
    assert disk_cache.max_bytes_from_env() == 3 << 20
    monkeypatch.setenv(disk_cache.SIZE_ENV, "0")
    assert disk_cache.use("somewhere") is None  # 0 MiB: nothing is cached on disk
    monkeypatch.setenv(disk_cache.SIZE_ENV, "lots")
    with pytest.raises(ProbecheckError, match=disk_cache.SIZE_ENV):
        disk_cache.max_bytes_from_env()


# what is stored: altered images and activations -------------------------------------------------


def test_masked_images_are_stored_by_image_region_and_method(stored: DiskCache) -> None:
    from probecheck.masking import mask_image
    from probecheck.zoo.images import load_image

    face = load_image(FACE)
    region = np.zeros(face.shape[:2], bool)
    region[70:100, 60:110] = True
    cold = mask_image(face, region, "inpaint")
    assert stored.misses == 1
    warm = mask_image(face, region, "inpaint")
    assert stored.hits == 1 and warm.tobytes() == cold.tobytes()
    other = region.copy()
    other[100, 60] = True  # one pixel more
    mask_image(face, other, "inpaint")
    mask_image(face, region, "blur")
    brighter = face.copy()
    brighter[0, 0] += 1
    mask_image(brighter, region, "inpaint")
    assert stored.hits == 1 and stored.misses == 4
    mask_image(face, region, "gray")  # cheaper than a file: not stored
    assert stored.hits + stored.misses == 5


torch = pytest.importorskip("torch")


def test_a_warm_probe_runs_no_forward_and_gives_the_same_bytes(
    real_probe, stored: DiskCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probecheck.probe import Probe
    from probecheck.zoo.builders import Built
    from probecheck.zoo.images import load_image

    face = load_image(FACE)
    layers = ["conv1", "fire6-relu_squeeze1x1"]

    def fresh(probe: Probe) -> Probe:
        return Probe(Built(probe.model, probe.preprocessing, probe.identity))

    cold_probe = fresh(real_probe)
    cold = cold_probe.activations(face, layers)
    assert cold_probe.forward_passes == 1
    warm_probe = fresh(real_probe)
    warm = warm_probe.activations(face, layers)
    assert warm_probe.forward_passes == 0
    assert all(warm[layer].tobytes() == cold[layer].tobytes() for layer in layers)

    misses = stored.misses
    changed = [
        replace(real_probe.preprocessing, mean=(0.5, 0.5, 0.5)),  # preprocessing
    ]
    for preprocessing in changed:
        probe = Probe(Built(real_probe.model, preprocessing, real_probe.identity))
        probe.activations(face, layers)
        assert probe.forward_passes == 1
    other_model = fresh(real_probe)
    other_model.identity = replace(real_probe.identity, sha256="0" * 64)  # other weights
    other_model.activations(face, layers)
    threads = fresh(real_probe)
    threads.threads = 2  # other last bits: not the same numbers
    threads.activations(face, ["conv1"])
    flipped = fresh(real_probe)
    flipped.activations(face[:, ::-1].copy(), ["conv1"])  # another image
    layer = fresh(real_probe)
    layer.activations(face, ["pool1"])  # another layer
    for probe in (other_model, threads, flipped, layer):
        assert probe.forward_passes == 1
    assert stored.misses == misses + 2 + 2 + 1 + 1 + 1


# a whole run, cold then warm ---------------------------------------------------------------------


def _without_counts(document: dict) -> dict:
    """The document less what a warm run must change: its time and the forward passes run."""
    counts = ("created", "forward_passes", "occluded_passes", "random_passes")

    def drop_counts(value: object) -> object:  # the null's random-weights passes sit deep down
        if isinstance(value, dict):
            return {k: drop_counts(v) for k, v in value.items() if k not in counts}
        if isinstance(value, list):
            return [drop_counts(v) for v in value]
        return value

    return drop_counts(document)  # type: ignore[return-value]


def _run(pytester: pytest.Pytester, report: str, *args: str) -> dict:
    from probecheck import probe as probe_module

    for loaded in probe_module._LOADED.values():  # a new process remembers nothing in memory
        loaded.clear_cache()
    result = pytester.runpytest(
        "-p", "no:randomly", "--probe-specs", "specs", "--probe-report", report, *args
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    return json.loads((pytester.path / report / "results.json").read_text())


def test_a_warm_run_of_the_specs_gives_identical_results(
    pytester: pytest.Pytester, claims_dir: Path
) -> None:
    for spec in [*(ROOT / "specs").glob("*.yaml"), ROOT / "docs" / "single_pair_face.yaml"]:
        (claims_dir / spec.name).write_text(spec.read_text())  # the last one has an occlusion
    (pytester.path / "fixtures").symlink_to(ROOT / "fixtures")
    stored = pytester.path / ".pytest_cache" / "d" / disk_cache.SUBDIR

    cold = _run(pytester, "cold")
    assert cold["forward_passes"] > 0 and any(stored.glob("*.npy"))
    warm = _run(pytester, "warm")
    assert warm["forward_passes"] == 0  # every activation came from the disk
    assert cold["occluded_passes"] > 0 and warm["occluded_passes"] == 0  # and the sweeps
    assert json.dumps(_without_counts(warm)) == json.dumps(_without_counts(cold))
    assert disk_cache.active() is None  # switched off with the run

    again = _run(pytester, "cleared", "--cache-clear")  # pytest's switch empties it
    assert again["forward_passes"] == cold["forward_passes"]
    assert again["occluded_passes"] == cold["occluded_passes"]
    assert json.dumps(_without_counts(again)) == json.dumps(_without_counts(cold))

    off = _run(pytester, "off", "-p", "no:cacheprovider")  # and this one turns it off
    assert off["forward_passes"] == cold["forward_passes"]


def test_occlusion_sweeps_are_stored_by_everything_they_depend_on(
    real_probe, stored: DiskCache
) -> None:
    from probecheck.occlusion import occlude
    from probecheck.probe import Probe
    from probecheck.regions import rasterise
    from probecheck.zoo.builders import Built
    from probecheck.zoo.images import load_image

    small = Probe(
        Built(
            real_probe.model, replace(real_probe.preprocessing, size=(99, 99)), real_probe.identity
        )
    )
    face = load_image(FACE)
    region = rasterise(face.shape[:2], boxes=[[100, 110, 150, 140]])
    args = {"patch": 24, "stride": 20, "fill": "mean"}
    cold = occlude(small, face, "fire3-concat", region, **args)
    passes = small.occluded_passes
    warm = occlude(small, face, "fire3-concat", region, **args)
    assert small.occluded_passes == passes  # nothing run
    assert (
        warm.drops.tobytes() == cold.drops.tobytes() and warm.base.tobytes() == cold.base.tobytes()
    )
    assert (warm.skipped, warm.forwards, warm.crop, warm.incremental, warm.key) == (
        cold.skipped,
        cold.forwards,
        cold.crop,
        cold.incremental,
        cold.key,
    )
    others = [
        ("fire3-concat", region, {**args, "patch": 25}),
        ("fire3-concat", region, {**args, "fill": "gray"}),
        ("fire3-concat", region, {**args, "incremental": False}),
        ("fire3-concat", rasterise(face.shape[:2], boxes=[[100, 110, 150, 150]]), args),
        ("fire2-concat", region, args),
    ]
    for layer, where, settings in others:
        before = small.occluded_passes
        other = occlude(small, face, layer, where, **settings)
        assert small.occluded_passes > before and other.key != cold.key
