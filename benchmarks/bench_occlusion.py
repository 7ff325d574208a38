"""Occlusion map of one channel's region mean: probecheck against Captum's ``Occlusion``.

The eye channel (fire6-relu_squeeze1x1, channel 15) on the face fixture, its mean over the
``eyes`` region of specs/face.yaml; a 24-px patch at stride 12 over the 227×227 input, filled
with the image's mean colour. Both sides sweep the same positions (Captum's: 18 per axis, the
last clipped at the edge, 324 in all) with the same fill, in the same run:

- probecheck: ``occlusion.occlude`` (receptive-field skipping, a crop of the input aligned to the
  layer's jump, batched, truncated after the layer, inference mode), then
  ``Occlusion.sensitivity(15)``;
- Captum: ``captum.attr.Occlusion(forward).attribute(x, sliding_window_shapes=(3, 24, 24),
  strides=(3, 12, 12), baselines=<the preprocessed mean-colour image>,
  perturbations_per_eval=k)``, where ``forward`` is the hooked model returning the channel's
  area-weighted region mean (a full forward each); every k of ``PERTURBATIONS`` is tried and the
  fastest is kept.

The line states both times, the ratio, the largest difference of the two per-pixel maps relative
to the largest value of Captum's map (must be ≤ 1e-4) and the goal (≥ 5× faster).
Run: ``python benchmarks/bench_occlusion.py`` (needs ``pip install captum``).
"""

from __future__ import annotations

import statistics
import time

import _common

LAYER = "fire6-relu_squeeze1x1"
CHANNEL = 15
EYES = [[61, 76, 107, 103], [147, 80, 202, 107]]  # the eyes region of specs/face.yaml
PATCH, STRIDE, FILL = 24, 12, "mean"
PERTURBATIONS = (16, 32, 64)
GOAL = 5.0
TOLERANCE = 1e-4


def figure_occlusion() -> str:
    """One line: probecheck's occlusion map against Captum's on the same sweep, timed together."""
    _common.use_offline_weights()
    import numpy as np
    import torch

    try:
        from captum.attr import Occlusion as CaptumOcclusion
    except ImportError:
        return "5. occlusion vs Captum: skipped (captum is not installed: pip install captum)"

    from probecheck.masking import filled_image
    from probecheck.occlusion import occlude
    from probecheck.probe import load
    from probecheck.regions import area_fractions, rasterise
    from probecheck.zoo.images import load_image

    probe = load()
    rgb = load_image(_common.FIXTURES / "astronaut_face.png")
    region = rasterise(rgb.shape[:2], boxes=EYES)
    path = probe.resolve(LAYER)
    module = dict(probe.model.named_modules())[path]
    grid = probe.activations(rgb, LAYER)[LAYER].shape[1:]
    weights = torch.from_numpy(area_fractions(region, grid)).float()
    scale = rgb.shape[0] / probe.preprocessing.size[0]
    x, baseline = probe.prepare([rgb, filled_image(rgb, FILL, size=PATCH * scale)]).split(1)

    captured: list[torch.Tensor] = []
    module.register_forward_hook(lambda _m, _i, output: captured.append(output.clone()))

    def forward(batch: torch.Tensor) -> torch.Tensor:
        """The hooked model: a full forward, then the channel's region mean per input."""
        captured.clear()
        probe.model(batch)
        maps = captured[0][:, CHANNEL]
        return (maps * weights).sum(dim=(1, 2)) / weights.sum()

    def ours() -> tuple[float, object]:
        start = time.perf_counter()
        sweep = occlude(probe, rgb, LAYER, region, patch=PATCH, stride=STRIDE, fill=FILL)
        sensitivity = sweep.sensitivity(CHANNEL)
        return time.perf_counter() - start, (sweep, sensitivity)

    def captum(k: int) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        attribution = CaptumOcclusion(forward).attribute(
            x,
            sliding_window_shapes=(3, PATCH, PATCH),
            strides=(3, STRIDE, STRIDE),
            baselines=baseline,
            perturbations_per_eval=k,
        )
        return time.perf_counter() - start, attribution[0].double().numpy()

    ours()  # warm-up: first-call allocations
    ours_times, captum_times = [], {}
    maps: dict[int, np.ndarray] = {}
    for k in PERTURBATIONS:  # interleaved: each Captum run is followed by one of ours
        captum_times[k], maps[k] = captum(k)
        seconds, (sweep, sensitivity) = ours()
        ours_times.append(seconds)
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
    tried = ", ".join(f"{k}: {captum_times[k]:.1f} s" for k in PERTURBATIONS)
    verdict = "goal met" if ratio >= GOAL and difference <= TOLERANCE else "GOAL MISSED"
    return (
        f"5. occlusion map, {LAYER} ch {CHANNEL} mean over the eyes, {PATCH}-px patch stride "
        f"{STRIDE} fill {FILL}, {sweep.positions} positions on {width}×{height}: probecheck "
        f"{ours_s:.2f} s ({sweep.positions - sweep.skipped} run, {sweep.skipped} skipped outside "
        f"the receptive field, {crop}, {sweep.forwards} forwards; median of "
        f"{len(ours_times)}) vs Captum Occlusion {captum_times[best]:.2f} s (best "
        f"perturbations_per_eval={best}; tried {tried}): {ratio:.1f}× faster (goal ≥ {GOAL:g}×); "
        f"max relative map difference {difference:.1e} (≤ {TOLERANCE:g}; Captum's colour planes "
        f"differ by {spread:.0e}) — {verdict}"
    )


if __name__ == "__main__":
    print(figure_occlusion())
