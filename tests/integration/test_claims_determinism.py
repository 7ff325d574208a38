"""The same numbers, bit for bit, whatever else is going on: torch's thread count, which images
share a forward pass, where an array lies in memory. Each test compares bits (array_equal, not
allclose); each would fail without the rule it checks (measured on this project's CPUs: one
thread and two differ in fire6, fire9 and conv10, and conv10 between batches of one and two)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probecheck import metrics
from probecheck.errors import ProbecheckError
from probecheck.masking import mask_image

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FACE = FIXTURES / "astronaut_face.png"
OTHERS = [FIXTURES / f"astronaut_face_{part}_removed.png" for part in ("eyes", "cheeks", "mouth")]
LAYERS = ["fire6-squeeze1x1", "conv10"]  # where threads, and batches, change the last bits


@pytest.fixture
def probe(real_probe):
    real_probe.clear_cache()
    yield real_probe
    real_probe.clear_cache()


def test_torch_thread_count_does_not_change_the_numbers(probe) -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)  # what a user, OMP_NUM_THREADS or a CI runner sets
            probe.clear_cache()
            runs.append(probe.activations(FACE, LAYERS))
    finally:
        torch.set_num_threads(before)
    for layer in LAYERS:
        for other in runs[1:]:
            np.testing.assert_array_equal(runs[0][layer], other[layer])


def test_an_image_gets_the_same_numbers_alone_or_with_others(probe) -> None:
    alone = probe.activations(FACE, LAYERS)
    probe.clear_cache()
    together = probe.activations_many([*OTHERS, FACE, OTHERS[0]], LAYERS)[len(OTHERS)]
    for layer in LAYERS:
        np.testing.assert_array_equal(alone[layer], together[layer])


def test_the_thread_count_is_the_users_to_choose(monkeypatch: pytest.MonkeyPatch) -> None:
    from probecheck.probe import THREADS_ENV, probe_threads

    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert probe_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "4")
    assert probe_threads() == 4
    monkeypatch.setenv(THREADS_ENV, "0")
    with pytest.raises(ProbecheckError, match="PROBECHECK_THREADS='0' is not a positive"):
        probe_threads()


def at_offset(array: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``array`` whose data start ``offset`` bytes past a 64-byte boundary."""
    buffer = np.empty(array.nbytes + 128, dtype=np.uint8)
    start = (-buffer.ctypes.data) % 64 + offset
    view = buffer[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
    view[...] = array
    return view


def test_metrics_sum_in_a_fixed_order_wherever_the_arrays_lie() -> None:
    # vectorised sums could take another path on another alignment; every result must agree
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((96, 111, 111)) * 100).astype(np.float32).astype(np.float64)
    w = rng.random((111, 111))
    results = set()
    for offset in range(0, 64, 8):
        a, weights = at_offset(A, offset), at_offset(w, offset)
        mean_in, mean_out = metrics.region_means(a, weights)
        ratio = metrics.selectivity_ratio(a, weights)
        results.add((mean_in.tobytes(), mean_out.tobytes(), ratio.tobytes()))
    assert len(results) == 1


def test_noise_masking_is_seeded() -> None:
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:20, 4:30] = True
    first, second = mask_image(image, mask, "noise"), mask_image(image, mask, "noise")
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, mask_image(image, mask, "noise", seed=1))
