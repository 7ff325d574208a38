"""Check and time probecheck on an accelerator: same verdicts and numbers as on the CPU, and
batched activations against bare torch on the same device.

    python benchmarks/device_check.py [--device cuda]

Prints, for every claim of specs/*.yaml, the verdict on the CPU and on the device and the largest
relative difference of the measured numbers; then, for K images, ``activations_many`` (one batched
forward) against bare torch batched on the device (forward + clone hook, synchronised), and
against K single-image calls, as ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import _common
import numpy as np
import torch

from probecheck.checks import SpecInputs, evaluate_claim
from probecheck.probe import load
from probecheck.spec import load_spec
from probecheck.zoo.images import load_image

ROOT = Path(__file__).resolve().parents[1]


def claim_numbers(result) -> list[float]:
    return [
        value
        for check in result.checks
        for case in check.cases
        for channel in case.channels
        for value in channel.values.values()
    ]


def compare_specs(device: str) -> bool:
    cpu, dev = load(device="cpu"), load(device=device)
    same = True
    print(f"{'claim':34} {'cpu':5} {device:5} max relative difference")
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = load_spec(path)
        inputs = SpecInputs(spec)
        for claim in spec.claims:
            a = evaluate_claim(claim, spec, cpu, inputs)
            b = evaluate_claim(claim, spec, dev, inputs)
            diffs = [
                abs(x - y) / max(abs(x), 1e-6)
                for x, y in zip(claim_numbers(a), claim_numbers(b), strict=True)
                if math.isfinite(x) and math.isfinite(y)
            ]
            same &= a.passed == b.passed
            verdict = lambda r: "PASS" if r.passed else "FAIL"  # noqa: E731
            print(
                f"{path.stem + '::' + claim.id:34} {verdict(a):5} {verdict(b):5} {max(diffs):.2e}"
            )
    return same


def timed(fn, device: str, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_batches(device: str, layer: str = "conv10") -> None:
    probe = load(device=device)
    face = load_image(ROOT / "fixtures" / "astronaut_face.png")
    module = dict(probe.model.named_modules())[probe.resolve(layer)]
    print(f"\nK images → {layer} on {device}: median ms (ratio to bare torch batched)")
    print(f"{'K':>4} {'bare batched':>13} {'activations_many':>17} {'K × activations':>16}")
    for k in (1, 8, 32, 64):
        rng = np.random.default_rng(k)
        images = [np.roll(face, int(s), axis=1) for s in rng.integers(1, 200, k)]
        bare_ms = timed(_common.bare_forward(probe.model, module, probe.prepare(images)), device)
        many_ms = timed(
            lambda images=images: fresh(probe).activations_many(images, [layer]), device
        )
        single_ms = timed(
            lambda images=images: [fresh(probe).activations(i, layer) for i in images], device, 3
        )
        print(
            f"{k:>4} {bare_ms:>13.1f} {many_ms:>10.1f} ({many_ms / bare_ms:.2f}×)"
            f" {single_ms:>9.1f} ({single_ms / bare_ms:.2f}×)"
        )


def fresh(probe):
    """The probe with its cache emptied, so every call runs the network."""
    probe.clear_cache()
    return probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"torch {torch.__version__}, device {args.device} ({name})")
    same = compare_specs(args.device)
    bench_batches(args.device)
    print(f"\nverdicts identical on cpu and {args.device}: {same}")


if __name__ == "__main__":
    main()
