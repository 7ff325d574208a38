"""Occlusion map of one channel's region mean: probecheck against Captum's ``Occlusion``.

Channel 15's mean over the ``eyes`` region of specs/face.yaml on the face fixture, in two cases:
(5a) fire6-relu_squeeze1x1 (the eye channel), a 24-px patch at stride 12 filled with the image's
mean colour (324 positions); (5b) the deeper fire8-relu_squeeze1x1, a 20-px gray patch at
stride 10 (484 positions), whose receptive field covers most positions. Both sides sweep the
same positions (Captum's: the last clipped at the edge) with the same fill, in the same run:

- probecheck: ``occlusion.occlude`` (receptive-field skipping, a crop of the input aligned to the
  layer's jump, only each patch's cone of cells recomputed, batched, inference mode), then
  ``Occlusion.sensitivity(15)``;
- Captum: ``captum.attr.Occlusion(forward).attribute(x, sliding_window_shapes=(3, p, p),
  strides=(3, s, s), baselines=<the preprocessed fill image>, perturbations_per_eval=k)``
  under ``torch.inference_mode()``, where ``forward`` is the hooked model returning the
  channel's area-weighted region mean (a full forward each); every k of ``PERTURBATIONS`` is
  tried and the fastest is kept.

Each line states both times, the ratio, the largest difference of the two per-pixel maps relative
to the largest value of Captum's map (must be ≤ 1e-4) and the goal (≥ 25× faster).
Run: ``python benchmarks/bench_occlusion.py`` (needs ``pip install captum``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import _common

EYES = [[61, 76, 107, 103], [147, 80, 202, 107]]  # the eyes region of specs/face.yaml
CHANNEL = 15  # fire6's eye channel; the deep case uses the same index of its own layer


@dataclass(frozen=True)
class Case:
    """One sweep both sides run: a layer, patch, stride and fill over the eyes region."""

    label: str
    layer: str
    patch: int
    stride: int
    fill: str


CASES = (
    Case("5a", "fire6-relu_squeeze1x1", 24, 12, "mean"),
    # deeper: the receptive field (~130 px) covers most positions, so few are skipped
    Case("5b", "fire8-relu_squeeze1x1", 20, 10, "gray"),
)
PERTURBATIONS = (16, 32, 64)
GOAL = 25.0
TOLERANCE = 1e-4


def figure_occlusion() -> str:
    """One line per case: probecheck's occlusion map against Captum's, timed together."""
    _common.use_offline_weights()
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        return "5. occlusion vs Captum: skipped (captum is not installed: pip install captum)"
    from probecheck.probe import load

    probe = load()
    return "\n".join(compare(probe, case) for case in CASES)


def compare(probe: Any, case: Case) -> str:
    """probecheck's sweep and Captum's Occlusion on ``case``, interleaved; the line to print."""
    import numpy as np
    import torch
    from captum.attr import Occlusion as CaptumOcclusion

    from probecheck.masking import filled_image
    from probecheck.occlusion import occlude
    from probecheck.regions import area_fractions, rasterise
    from probecheck.zoo.images import load_image

    rgb = load_image(_common.FIXTURES / "astronaut_face.png")
    region = rasterise(rgb.shape[:2], boxes=EYES)
    path = probe.resolve(case.layer)
    module = dict(probe.model.named_modules())[path]
    grid = probe.activations(rgb, case.layer)[case.layer].shape[1:]
    weights = torch.from_numpy(area_fractions(region, grid)).float()
    scale = rgb.shape[0] / probe.preprocessing.size[0]
    x, baseline = probe.prepare([rgb, filled_image(rgb, case.fill, size=case.patch * scale)]).split(
        1
    )

    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, output: captured.append(output.clone()))

    def forward(batch: torch.Tensor) -> torch.Tensor:
        """The hooked model: a full forward, then the channel's region mean per input."""
        captured.clear()
        probe.model(batch)
        maps = captured[0][:, CHANNEL]
        return (maps * weights).sum(dim=(1, 2)) / weights.sum()

    def ours() -> tuple[float, Any]:
        start = time.perf_counter()
        sweep = occlude(
            probe, rgb, case.layer, region, patch=case.patch, stride=case.stride, fill=case.fill
        )
        sensitivity = sweep.sensitivity(CHANNEL)
        return time.perf_counter() - start, (sweep, sensitivity)

    def captum(k: int) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        with torch.inference_mode():
            attribution = CaptumOcclusion(forward).attribute(
                x,
                sliding_window_shapes=(3, case.patch, case.patch),
                strides=(3, case.stride, case.stride),
                baselines=baseline,
                perturbations_per_eval=k,
            )
        return time.perf_counter() - start, attribution[0].double().numpy()

    try:
        ours()  # warm-up: first-call allocations
        ours_times, captum_times = [], {}
        maps: dict[int, np.ndarray] = {}
        for k in PERTURBATIONS:  # interleaved: each Captum run is followed by one of ours
            captum_times[k], maps[k] = captum(k)
            seconds, (sweep, sensitivity) = ours()
            ours_times.append(seconds)
    finally:
        handle.remove()
    best = min(captum_times, key=captum_times.__getitem__)
    reference = maps[best]
    spread = float(np.abs(reference - reference[0]).max())  # Captum's 3 colour planes agree
    difference = float(np.abs(sensitivity - reference[0]).max()) / float(np.abs(reference[0]).max())
    ours_s = statistics.median(ours_times)
    ratio = captum_times[best] / ours_s
    height, width = probe.preprocessing.size
    crop = (
        "whole input"
        if sweep.crop is None
        else (f"crop {sweep.crop[3] - sweep.crop[2]}×{sweep.crop[1] - sweep.crop[0]}")
    )
    how = "each patch's cone recomputed" if sweep.incremental else "whole crops"
    tried = ", ".join(f"{k}: {captum_times[k]:.1f} s" for k in PERTURBATIONS)
    verdict = "goal met" if ratio >= GOAL and difference <= TOLERANCE else "GOAL MISSED"
    return (
        f"{case.label}. occlusion map, {case.layer} ch {CHANNEL} mean over the eyes, "
        f"{case.patch}-px patch stride {case.stride} fill {case.fill}, {sweep.positions} "
        f"positions on {width}×{height}: probecheck {ours_s:.2f} s "
        f"({sweep.positions - sweep.skipped} run, {sweep.skipped} skipped outside the receptive "
        f"field, {crop}, {how}, {sweep.forwards} passes; median of {len(ours_times)}) vs Captum "
        f"Occlusion {captum_times[best]:.2f} s (best perturbations_per_eval={best}; tried "
        f"{tried}): {ratio:.1f}× faster (goal ≥ {GOAL:g}×); max relative map difference "
        f"{difference:.1e} (≤ {TOLERANCE:g}; Captum's colour planes differ by {spread:.0e}) — "
        f"{verdict}"
    )


if __name__ == "__main__":
    print(figure_occlusion())
