"""Every claim of specs/*.yaml, and the model loading, against bare torch and numpy baselines.

Timed in the same run, interleaved round by round:

- specs: every claim of every ``specs/*.yaml`` through ``evaluate_claim`` with a shared probe
  (cache cleared at the start of each round) and one fresh ``SpecInputs`` per spec, as the pytest
  plugin does; against bare torch doing one full forward (batch of one, already preprocessed,
  under ``torch.inference_mode()``) for each distinct image the claims put through the network,
  and the same images as one batch. A breakdown says where probecheck's time goes (wrapped, per
  instance: ``probe._forward``, ``SpecInputs.image``, ``SpecInputs.masked``; the package is not
  changed), and a second pass with a warm cache shows what the cache saves;
- the decoder: ``deep_compression.read(path)`` against ``np.fromfile`` of the same file;
- model loading: ``probecheck.load()`` (sha256 check, decode, build, load_state_dict) against
  ``torchvision.models.squeezenet1_0()`` construction alone.

Run: ``python benchmarks/bench_specs.py [--repeats N] [--threads T]``.
"""

from __future__ import annotations

import statistics
import sys

import _common
import numpy as np
from rich.console import Console
from rich.table import Table


def main() -> None:
    args = _common.parser(__doc__.splitlines()[0], repeats=5).parse_args()
    _common.use_offline_weights()
    threads = _common.apply_threads(args.threads)

    import torch
    import torchvision

    import probecheck
    from probecheck.checks import SpecInputs, evaluate_claim
    from probecheck.checks import spec_inputs as checks
    from probecheck.probe import shared_probe
    from probecheck.spec import load_spec
    from probecheck.zoo import deep_compression, store
    from probecheck.zoo.images import image_digest

    console = Console(width=120)
    _common.print_header(console, "bench_specs", threads, args.repeats)

    spec_paths = sorted(_common.SPECS.glob("*.yaml"))
    specs = [load_spec(path) for path in spec_paths]
    models = {(s.model.arch, s.model.weights, s.model.seed) for s in specs}
    probes = {key: shared_probe(*key) for key in models}

    # count what the probes are asked to run, and where the time goes
    tally = _common.Tally()
    seen: dict[str, np.ndarray] = {}
    for probe in probes.values():
        forward = probe._forward

        def recording(rgbs, paths, *rest, _forward=forward, **kwargs):
            for rgb in rgbs:
                seen.setdefault(image_digest(rgb), rgb)
            return _forward(rgbs, paths, *rest, **kwargs)

        probe._forward = tally.wrap("network (_forward: prepare, forward, copy)", recording)

    # SpecInputs calls regions.area_fractions through its module global: wrap that name for the
    # timed rounds (restored below); the package's files are not touched
    area_fractions = checks.area_fractions
    checks.area_fractions = tally.wrap(
        "region area fractions (checks.area_fractions)", area_fractions
    )

    def fresh_inputs(spec) -> SpecInputs:
        inputs = SpecInputs(spec)
        inputs.image = tally.wrap("image loading (SpecInputs.image)", inputs.image)
        inputs.masked = tally.wrap("masking (SpecInputs.masked)", inputs.masked)
        return inputs

    def run_specs(clear: bool = True, inputs: list[SpecInputs] | None = None) -> int:
        if clear:
            for probe in probes.values():
                probe.clear_cache()
        before = sum(p.forward_passes for p in probes.values())
        inputs = inputs or [fresh_inputs(spec) for spec in specs]
        for spec, spec_inputs in zip(specs, inputs, strict=True):
            probe = probes[(spec.model.arch, spec.model.weights, spec.model.seed)]
            for claim in spec.claims:
                evaluate_claim(claim, spec, probe, spec_inputs)
        return sum(p.forward_passes for p in probes.values()) - before

    passes = run_specs()  # the first run finds the distinct images for the baseline
    claims = sum(len(spec.claims) for spec in specs)
    if len(probes) != 1:
        raise SystemExit("the specs name more than one model: this benchmark assumes one")
    probe = next(iter(probes.values()))
    model = probe.model
    singles = [probe.prepare([rgb]) for rgb in seen.values()]
    batch = probe.prepare(list(seen.values()))

    def bare_singles() -> None:
        with torch.inference_mode():
            for x in singles:
                model(x)

    def bare_batch() -> None:
        with torch.inference_mode():
            model(batch)

    times = _common.interleaved(
        {"specs": run_specs, "bare": bare_singles, "bare_batch": bare_batch},
        args.repeats,
        args.warmup,
        on_timed=tally.reset,
        budget_s=0.55 * args.budget,
    )
    cold_rounds = _common.rounds(times)
    total = _common.ms(times["specs"])
    base, base_batch = _common.ms(times["bare"]), _common.ms(times["bare_batch"])
    mean_total = statistics.mean(times["specs"]) * 1e3
    breakdown = {label: s * 1e3 / cold_rounds for label, s in tally.seconds.items()}
    warm_inputs = [fresh_inputs(spec) for spec in specs]
    run_specs(inputs=warm_inputs)  # fills the cache and the SpecInputs
    warm_passes = sum(p.forward_passes for p in probes.values())
    warm_times = _common.interleaved(
        {"warm": lambda: run_specs(clear=False, inputs=warm_inputs)},
        args.repeats,
        args.warmup,
        on_timed=tally.reset,
        budget_s=0.1 * args.budget,
    )
    warm_passes = sum(p.forward_passes for p in probes.values()) - warm_passes
    warm = _common.ms(warm_times["warm"])
    warm_breakdown = {
        label: s * 1e3 / _common.rounds(warm_times) for label, s in tally.seconds.items()
    }
    checks.area_fractions = area_fractions

    table = Table(
        title=f"{claims} claims of {len(specs)} specs ({', '.join(p.name for p in spec_paths)}), "
        f"median of {cold_rounds} rounds"
    )
    table.add_column("what")
    table.add_column("forward passes", justify="right")
    table.add_column("images", justify="right")
    table.add_column("median ms", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row(
        "probecheck: evaluate_claim on every claim, cold cache",
        str(passes),
        str(len(seen)),
        _common.fmt_ms(total),
        _common.fmt_ratio(total / base),
    )
    table.add_row(
        "bare torch: one full forward per distinct image",
        str(len(seen)),
        str(len(seen)),
        _common.fmt_ms(base),
        "1.00×",
    )
    table.add_row(
        "bare torch: the distinct images as one batch",
        "1",
        str(len(seen)),
        _common.fmt_ms(base_batch),
        _common.fmt_ratio(base_batch / base),
    )
    table.add_row(
        "probecheck again, warm cache and SpecInputs",
        str(warm_passes),
        "",
        _common.fmt_ms(warm),
        _common.fmt_ratio(warm / base),
    )
    table.add_section()
    table.add_row(
        "probecheck cold run, mean (not median) of the rounds",
        "",
        "",
        _common.fmt_ms(mean_total),
        "",
    )
    for label, value in sorted(breakdown.items(), key=lambda item: -item[1]):
        table.add_row(f"  of which {label}", "", "", _common.fmt_ms(value), "")
    rest = mean_total - sum(breakdown.values())
    table.add_row(
        "  of which the rest: metrics, results (mean total − above)",
        "",
        "",
        _common.fmt_ms(rest),
        "",
    )
    warm_fractions = warm_breakdown.get("region area fractions (checks.area_fractions)", 0.0)
    table.add_row(
        "warm run: of which region area fractions (mean)",
        "",
        "",
        _common.fmt_ms(warm_fractions),
        "",
    )
    console.print(table)

    # the decoder and model construction
    weights = store.fetch(store.DEEP_COMPRESSION)
    decode_times = _common.interleaved(
        {
            "read": lambda: deep_compression.read(weights),
            "fromfile": lambda: np.fromfile(weights, dtype=np.uint8),
        },
        max(args.repeats, 21),
        args.warmup,
        budget_s=0.1 * args.budget,
    )
    load_times = _common.interleaved(
        {
            "load": probecheck.load,
            "construct": torchvision.models.squeezenet1_0,
            "fetch": lambda: store.fetch(store.DEEP_COMPRESSION),
        },
        args.repeats,
        args.warmup,
        budget_s=0.15 * args.budget,
    )
    read, fromfile = _common.ms(decode_times["read"]), _common.ms(decode_times["fromfile"])
    load, construct = _common.ms(load_times["load"]), _common.ms(load_times["construct"])
    fetch = _common.ms(load_times["fetch"])
    model_table = Table(title=f"weights: {weights.name} ({weights.stat().st_size:,} bytes)")
    model_table.add_column("what")
    model_table.add_column("median ms", justify="right")
    model_table.add_column("baseline", justify="left")
    model_table.add_column("baseline ms", justify="right")
    model_table.add_column("ratio", justify="right")
    model_table.add_row(
        "deep_compression.read(path)",
        _common.fmt_ms(read),
        "np.fromfile(path, uint8)",
        _common.fmt_ms(fromfile),
        _common.fmt_ratio(read / fromfile),
    )
    model_table.add_row(
        "probecheck.load()",
        _common.fmt_ms(load),
        "torchvision squeezenet1_0()",
        _common.fmt_ms(construct),
        _common.fmt_ratio(load / construct),
    )
    model_table.add_row(
        "  of which store.fetch (sha256 check)",
        _common.fmt_ms(fetch),
        "",
        "",
        "",
    )
    console.print(model_table)
    console.print(f"load average at the end: {_common.load_average()}")
    console.print(
        f"RATIOS specs/bare-per-image {total / base:.2f}× ({passes} forward passes for "
        f"{len(seen)} distinct images, {claims} claims); specs/bare-one-batch "
        f"{total / base_batch:.2f}×; warm-cache rerun/bare {warm / base:.3f}×; "
        f"decode/np.fromfile {read / fromfile:.0f}×; "
        f"load()/squeezenet1_0() {load / construct:.2f}×",
        soft_wrap=True,
    )


if __name__ == "__main__":
    sys.exit(main())
