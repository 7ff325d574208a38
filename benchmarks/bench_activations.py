"""Activations of one layer for one image: probecheck's paths against bare torch.

For each layer (conv1, fire6-relu_squeeze1x1, conv10) on the face fixture, timed in the same run,
interleaved round by round:

(a)  bare torch: ``probe.model`` on the same preprocessed tensor, a full forward under
     ``torch.inference_mode()`` with one plain forward hook that ``.clone()``s the layer's output;
(b)  ``probe.activations(path, layer)`` with the cache cleared before each call: loads and
     preprocesses the PNG, hashes it, runs the (truncated) forward, copies to numpy, caches;
(b') ``probe._forward([rgb], [path])`` on a preloaded RGB array: preprocessing + truncated forward;
(c)  the cached path: ``probe.activations`` a second time, given the file path (the PNG is still
     decoded and hashed to find the cache key) and given the array (c').

Then the truncation win: ``_forward`` up to conv1 with and without truncation, and a bare full
forward. Run: ``python benchmarks/bench_activations.py [--repeats N] [--threads T]``.
"""

from __future__ import annotations

import sys

import _common
from rich.console import Console
from rich.markup import escape
from rich.table import Table

LAYERS = ("conv1", "fire6-relu_squeeze1x1", "conv10")
FACE = _common.FIXTURES / "astronaut_face.png"


def main() -> None:
    args = _common.parser(__doc__.splitlines()[0], repeats=7).parse_args()
    _common.use_offline_weights()
    threads = _common.apply_threads(args.threads)

    import torch

    import probecheck
    from probecheck.zoo.images import image_digest, load_image

    console = Console(width=120)
    _common.print_header(console, "bench_activations", threads, args.repeats)

    probe = probecheck.load()
    model = probe.model
    modules = dict(model.named_modules())
    rgb = load_image(FACE)
    x = probe.prepare([rgb])  # the same preprocessed tensor probecheck builds

    def bare(module: torch.nn.Module):
        return _common.bare_forward(model, module, x)

    def warm(layer: str):
        return lambda: probe.activations(rgb, layer)

    table = Table(title=f"one layer, one image ({FACE.name}, 227×227 input), median ms")
    for column in ("layer", "probecheck path", "bare torch ms", "probecheck ms", "ratio"):
        table.add_column(
            column, justify="left" if column in ("layer", "probecheck path") else "right"
        )
    summary: list[str] = []
    for layer in LAYERS:
        path = probe.resolve(layer)
        cases = {
            "bare": bare(modules[path]),
            "uncached": _common.Case(
                lambda layer=layer: probe.activations(FACE, layer), probe.clear_cache
            ),
            "forward": lambda path=path: probe._forward([rgb], [path]),
            "cached": _common.Case(lambda layer=layer: probe.activations(FACE, layer), warm(layer)),
            "cached_array": _common.Case(
                lambda layer=layer: probe.activations(rgb, layer), warm(layer)
            ),
        }
        times = _common.interleaved(cases, args.repeats, args.warmup, budget_s=0.25 * args.budget)
        base = _common.ms(times["bare"])
        rows = [
            ("uncached", "(b) activations(path), cache cleared"),
            ("forward", "(b') _forward([rgb]) preloaded"),
            ("cached", "(c) activations(path), cached"),
            ("cached_array", "(c') activations(rgb), cached"),
        ]
        for i, (key, label) in enumerate(rows):
            value = _common.ms(times[key])
            table.add_row(
                f"{layer} ({path})"
                if i == 0
                else f"{_common.rounds(times)} rounds"
                if i == len(rows) - 1
                else "",
                escape(label),
                _common.fmt_ms(base) if i == 0 else "",
                _common.fmt_ms(value),
                _common.fmt_ratio(value / base),
            )
        table.add_section()
        summary.append(
            f"{layer} (b) {_common.fmt_ratio(_common.ms(times['uncached']) / base)} "
            f"(b') {_common.fmt_ratio(_common.ms(times['forward']) / base)} "
            f"(c) {_common.fmt_ratio(_common.ms(times['cached']) / base)}"
        )
    console.print(table)

    # the truncation win: the same _forward, with and without stopping after conv1
    conv1 = probe.resolve("conv1")

    def full_plain() -> None:
        with torch.inference_mode():
            model(x)

    times = _common.interleaved(
        {
            "truncated": lambda: probe._forward([rgb], [conv1]),
            "untruncated": lambda: probe._forward([rgb], [conv1], truncate=False),
            "full": full_plain,
        },
        args.repeats,
        args.warmup,
        budget_s=0.2 * args.budget,
    )
    truncated = _common.ms(times["truncated"])
    untruncated = _common.ms(times["untruncated"])
    full = _common.ms(times["full"])
    trunc = Table(title=f"truncation win: conv1 only, median ms of {_common.rounds(times)} rounds")
    trunc.add_column("what")
    trunc.add_column("ms", justify="right")
    trunc.add_column("× the truncated forward", justify="right")
    trunc.add_row("_forward(conv1), truncated after conv1", _common.fmt_ms(truncated), "1.00×")
    trunc.add_row(
        "_forward(conv1, truncate=False)",
        _common.fmt_ms(untruncated),
        _common.fmt_ratio(untruncated / truncated),
    )
    trunc.add_row(
        "bare torch full forward, no hook",
        _common.fmt_ms(full),
        _common.fmt_ratio(full / truncated),
    )
    console.print(trunc)

    # costs outside the network, paid by (b) and (c) for a path
    times = _common.interleaved(
        {
            "load_image": lambda: load_image(FACE),
            "image_digest": lambda: image_digest(rgb),
            "prepare": lambda: probe.prepare([rgb]),
        },
        max(args.repeats, 21),
        args.warmup,
        budget_s=0.05 * args.budget,
    )
    console.print(
        "outside the network, median ms: "
        + ", ".join(f"{name} {_common.fmt_ms(_common.ms(t))}" for name, t in times.items())
    )
    console.print(f"load average at the end: {_common.load_average()}")
    console.print(
        "RATIOS probecheck / bare torch full forward: "
        + "; ".join(summary)
        + f"; truncation win (untruncated / truncated conv1) {untruncated / truncated:.1f}×",
        soft_wrap=True,
    )


if __name__ == "__main__":
    sys.exit(main())
