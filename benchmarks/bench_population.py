"""A population drop claim over a set of N images (default 100), cold, vs bare torch forwards.

The set is made in a temporary directory from ``fixtures/faces`` by deterministic augmentation
(mirroring, small scales and shifts; the region boxes moved alike), so that its N images are
distinct. One claim (``drop`` with ``mask_with: inpaint``, a region and a control region) is
checked with ``probecheck.checks.evaluate_claim`` on a spec written beside the set, cold: a new
``SpecInputs`` (no masked image kept), the probe's activation cache cleared and no disk cache.

Baseline, same run: bare truncated torch forwards (stopped after the claim's layer, as the probe
runs them) of the claim's distinct inputs (the originals and the masked images, told apart by
pixel digest), preprocessed before timing, in the probe's batches. The claim's time is split into
masking (inpainting, ``mask_image``) and the rest (decoding, preprocessing, forwards, scoring);
the goal: ≤ 1.5× masking included, and masking below the bare forwards' time.
The null on random weights runs the same inputs through a second network, so it is timed apart
(the claim with ``null=False``; the null as ``evaluate_claim`` on the random-weights twin, masked
images already made) against bare forwards of the same inputs on that twin.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import _common

FACES = _common.FIXTURES / "faces"
LAYER = "fire7-relu_expand1x1"
SPEC = """\
model: {{arch: squeezenet1_0, weights: deep-compression}}
index_base: 0
sets:
  augmented: {{images: {images}, regions: {regions}}}
claims:
  - id: eyes-across-augmented-faces
    layer: {layer}
    channels: [124]
    drop:
      set: augmented
      mask_with: inpaint
      region: eyes
      control: cheeks
      at_least: 0.73
      control_at_most: 0.1
      confidence: 0.95
      random_effect_at_most: 0.3
"""
SCALES = (1.0, 0.94, 1.06, 0.9, 1.1)  # with mirroring: 10 views per face before shifts
GOAL = 1.5


def _augment(index: int) -> tuple[bool, float, int, int]:
    """The ``index``-th view of a face: (mirror, scale, x shift, y shift), all distinct."""
    mirror = index % 2 == 1
    scale = SCALES[(index // 2) % len(SCALES)]
    dx = 3 * ((index // 10) % 5) - 6 + (index % 3)
    dy = 2 * ((index // 10) % 4) - 3
    return mirror, scale, dx, dy


def _view(rgb: Any, mirror: bool, scale: float, dx: int, dy: int) -> Any:
    """``rgb`` mirrored (optionally), scaled about the origin by ``scale`` and shifted."""
    import numpy as np
    from PIL import Image

    height, width = rgb.shape[:2]
    source = np.ascontiguousarray(rgb[:, ::-1]) if mirror else rgb
    # output (x, y) reads input ((x - dx) / s, (y - dy) / s)
    data = (1 / scale, 0, -dx / scale, 0, 1 / scale, -dy / scale)
    image = Image.fromarray(source).transform(
        (width, height), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR
    )
    return np.asarray(image)


def _box(box: list[float], width: int, height: int, view: tuple[Any, ...]) -> list[int]:
    mirror, scale, dx, dy = view
    x0, y0, x1, y1 = box
    if mirror:
        x0, x1 = width - x1, width - x0
    moved = [x0 * scale + dx, y0 * scale + dy, x1 * scale + dx, y1 * scale + dy]
    return [
        max(0, min(width, round(moved[0]))),
        max(0, min(height, round(moved[1]))),
        max(0, min(width, round(moved[2]))),
        max(0, min(height, round(moved[3]))),
    ]


def write_set(directory: Path, count: int) -> Path:
    """``count`` distinct views of the fixture faces with their regions, and a spec: its path."""
    from PIL import Image

    from probecheck.zoo.images import load_image

    regions = json.loads((FACES / "regions.json").read_text())
    names = sorted(regions)
    faces = {name: load_image(FACES / name) for name in names}
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for i in range(count):
        name = names[i % len(names)]
        rgb = faces[name]
        height, width = rgb.shape[:2]
        view = _augment(i // len(names))
        target = f"{Path(name).stem}_{i:03d}.png"
        Image.fromarray(_view(rgb, *view)).save(directory / target)
        out[target] = {
            region: {"boxes": [_box(b, width, height, view) for b in shape["boxes"]]}
            for region, shape in regions[name].items()
        }
    (directory / "regions.json").write_text(json.dumps(out))
    spec = directory / "population.yaml"
    spec.write_text(
        SPEC.format(images=directory / "*.png", regions=directory / "regions.json", layer=LAYER)
    )
    return spec


def _bare(probe: Any, tensors: list[Any]) -> Any:
    """Bare truncated forwards of ``tensors`` on ``probe``'s network, as hand-written torch."""
    module = probe.model.get_submodule(probe.resolve(LAYER))
    runs = [_common.bare_truncated_forward(probe.model, module, x) for x in tensors]

    def run() -> None:
        for forward in runs:
            forward()

    return run


def figure_population(args: Any, scratch: Path) -> str:
    """One line: the claim's cold time (masking apart) against bare torch, and the null apart."""
    from probecheck import masking
    from probecheck.checks import spec_inputs
    from probecheck.checks.evaluate import evaluate_claim, random_twin
    from probecheck.checks.spec_inputs import SpecInputs
    from probecheck.plan import claim_needs
    from probecheck.probe import shared_probe
    from probecheck.spec import load_spec
    from probecheck.zoo.images import image_digest

    os.environ["PROBECHECK_CACHE_MB"] = "0"
    from probecheck import disk_cache

    disk_cache.use(None)
    spec = load_spec(write_set(scratch / "population", args.images))
    claim = spec.claims[0]
    probe = shared_probe(spec.model.arch, spec.model.weights)
    twin = random_twin(probe)
    made = SpecInputs(spec)  # the inputs once, untimed: for the bare side and the null
    distinct = {}
    for key in claim_needs([claim]):
        rgb = made.variant(key)
        distinct.setdefault(image_digest(rgb), rgb)
    rgbs = list(distinct.values())
    step = probe.max_batch
    tensors = [probe.prepare(rgbs[i : i + step]) for i in range(0, len(rgbs), step)]

    tally = _common.Tally()
    original = spec_inputs.mask_image
    spec_inputs.mask_image = tally.wrap("masking", masking.mask_image)
    passes: dict[str, int] = {}
    masking_s: list[float] = []

    def claim_cold() -> None:
        result = evaluate_claim(claim, spec, probe, SpecInputs(spec), null=False)
        passes["claim"] = result.forward_passes
        masking_s.append(tally.seconds.get("masking", 0.0))

    def null() -> None:
        before = twin.forward_passes
        evaluate_claim(claim, spec, twin, made, null=False)
        passes["null"] = twin.forward_passes - before

    def clear() -> None:
        probe.clear_cache()
        tally.reset()

    cases = {
        "bare": _bare(probe, tensors),
        "claim": _common.Case(claim_cold, clear),
        "bare_null": _bare(twin, tensors),
        "null": _common.Case(null, twin.clear_cache),
    }
    try:
        times = _common.interleaved(
            cases, args.repeats, args.warmup, on_timed=masking_s.clear, budget_s=args.budget
        )
    finally:
        spec_inputs.mask_image = original
    base, ours = _common.ms(times["bare"]), _common.ms(times["claim"])
    masked_ms = _common.ms(masking_s)
    rest = ours - masked_ms
    ratio = ours / base
    null_base, null_ours = _common.ms(times["bare_null"]), _common.ms(times["null"])
    met = ratio <= GOAL and masked_ms < base
    both = (ours + null_ours) / (base + null_base)
    return (
        f"9. a population drop claim over {args.images} images (mask_with: inpaint, region and "
        f"control), cold: {_common.fmt_ms(ours)} ms (masking {_common.fmt_ms(masked_ms)} ms, "
        f"the rest {_common.fmt_ms(rest)} ms; {passes.get('claim', 0)} forward passes) / bare "
        f"truncated torch on its {len(rgbs)} distinct inputs {_common.fmt_ms(base)} ms = "
        f"{_common.fmt_ratio(ratio)}, without masking {_common.fmt_ratio(rest / base)} (goal ≤ "
        f"{GOAL:g}× masking included, and masking below the bare forwards' time: "
        f"{'meets the goal' if met else 'misses the goal'}; {len(times['bare'])} rounds); the "
        f"random-weights null, not in that ratio: {_common.fmt_ms(null_ours)} ms "
        f"({passes.get('null', 0)} forward passes) / bare {_common.fmt_ms(null_base)} ms = "
        f"{_common.fmt_ratio(null_ours / null_base)}; claim and null together / both bare "
        f"{_common.fmt_ratio(both)}"
    )


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--images", type=int, default=100, help="images in the augmented set (default 100)"
    )


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0], repeats=3, budget=120.0)
    add_arguments(parser)
    args = parser.parse_args()
    _common.use_offline_weights()
    if args.threads is not None:
        os.environ["PROBECHECK_THREADS"] = str(args.threads)
    from probecheck.probe import probe_threads

    threads = _common.apply_threads(probe_threads())
    print(f"bench_population.py: {_common.environment()}", flush=True)
    print(f"torch.get_num_threads() = {threads}; medians of interleaved rounds", flush=True)
    with tempfile.TemporaryDirectory(prefix="probecheck-bench-") as scratch:
        print(figure_population(args, Path(scratch)), flush=True)
    print(f"load average at the end: {_common.load_average()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
