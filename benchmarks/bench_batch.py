"""K images through one layer: one batched forward against K separate ones, and bare torch.

K = 1, 4, 8, 16 distinct images (crops and flips of the fixtures, as uint8 arrays, so no PNG
decoding is timed), timed in the same run, interleaved round by round:

- ``probe.activations_many(images, layer)``: one batched forward (cache cleared before each call);
- K separate ``probe.activations(image, layer)`` calls (cache cleared before each round);
- bare torch batched: ``probe.model`` on the same K images already preprocessed into one
  (K, 3, 227, 227) tensor, a full forward under ``torch.inference_mode()`` with one plain forward
  hook that ``.clone()``s the layer's output;
- bare torch K×single: the same, one image per forward.

The layer defaults to conv10 (the last convolution), so that probecheck's truncation gives it no
edge over the full forwards of the baseline. Run:
``python benchmarks/bench_batch.py [--layer L] [--repeats N] [--threads T]``.
"""

from __future__ import annotations

import sys

import _common
import numpy as np
from rich.console import Console
from rich.table import Table

SIZES = (1, 4, 8, 16)
SOURCES = ("astronaut.png", "astronaut_face.png", "edge.png", "astronaut_face_mouth_removed.png")


def distinct_images() -> list[np.ndarray]:
    """16 distinct RGB arrays: each of four fixtures whole, mirrored, and two flipped crops."""
    from probecheck.zoo.images import load_image

    images = []
    for name in SOURCES:
        rgb = load_image(_common.FIXTURES / name)
        h, w = rgb.shape[:2]
        images += [
            rgb,
            rgb[:, ::-1],
            rgb[: h * 3 // 4, : w * 3 // 4][::-1],
            rgb[h // 4 :, w // 4 :][:, ::-1],
        ]
    return [np.ascontiguousarray(image) for image in images]


def main() -> None:
    args = _common.parser(__doc__.splitlines()[0], repeats=5, budget=36.0)
    args.add_argument("--layer", default="conv10", help="layer to probe (default conv10)")
    args = args.parse_args()
    _common.use_offline_weights()
    threads = _common.apply_threads(args.threads)

    import torch

    import probecheck
    from probecheck.zoo.images import image_digest

    console = Console(width=140)
    _common.print_header(console, "bench_batch", threads, args.repeats)

    probe = probecheck.load()
    model = probe.model
    path = probe.resolve(args.layer)
    module = dict(model.named_modules())[path]
    images = distinct_images()
    assert len({image_digest(image) for image in images}) == len(images) >= max(SIZES)

    def bare(x: torch.Tensor):
        return _common.bare_forward(model, module, x)

    table = Table(title=f"K images → {args.layer} ({path}), median ms per call of all K")
    columns = (
        "K",
        "bare batched",
        "bare K×single",
        "activations_many",
        "ratio",
        "K×activations",
        "ratio",
        "batching win",
        "ms/image batched",
    )
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("rounds", justify="right")
    summary = []
    for k in SIZES:
        subset = images[:k]
        batch = probe.prepare(subset)
        singles = [probe.prepare([image]) for image in subset]
        bare_batched = bare(batch)
        bare_singles = [bare(x) for x in singles]
        for _ in range(args.warmup):  # warm the kernels for this batch shape
            bare_batched()
        times = _common.interleaved(
            {
                "bare": bare_batched,
                "bare_single": lambda fns=bare_singles: [fn() for fn in fns],
                "many": _common.Case(
                    lambda s=subset: probe.activations_many(s, args.layer), probe.clear_cache
                ),
                "separate": _common.Case(
                    lambda s=subset: [probe.activations(image, args.layer) for image in s],
                    probe.clear_cache,
                ),
            },
            args.repeats,
            warmup=0,
            budget_s=args.budget / len(SIZES),
            min_rounds=1,
        )
        base, single = _common.ms(times["bare"]), _common.ms(times["bare_single"])
        many, separate = _common.ms(times["many"]), _common.ms(times["separate"])
        table.add_row(
            str(k),
            _common.fmt_ms(base),
            _common.fmt_ms(single),
            _common.fmt_ms(many),
            _common.fmt_ratio(many / base),
            _common.fmt_ms(separate),
            _common.fmt_ratio(separate / base),
            _common.fmt_ratio(separate / many),
            _common.fmt_ms(many / k),
            str(_common.rounds(times)),
        )
        summary.append(
            f"K={k}: many/bare {many / base:.2f}×, separate/bare {separate / base:.2f}×, "
            f"separate/many {separate / many:.2f}×"
        )
    console.print(table)
    console.print(
        "ratio = probecheck / bare batched; batching win = K×activations / activations_many; "
        "bare K×single / bare batched shows what batching is worth to torch itself on this CPU",
        soft_wrap=True,
    )
    console.print(f"load average at the end: {_common.load_average()}")
    console.print("RATIOS " + "; ".join(summary), soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
