"""``probecheck layers``: the network as a table, as MATLAB's analyzeNetwork shows it."""

from __future__ import annotations

import argparse

from rich.table import Table


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from probecheck.cli import model_arguments

    parser = subparsers.add_parser("layers", help="print the network's layers, aliases and shapes")
    model_arguments(parser, weights_default=None)  # shapes need no weights
    parser.add_argument("--all", action="store_true", help="also list containers without an alias")


def run(args: argparse.Namespace) -> int:
    from probecheck.cli import make_console, model_request
    from probecheck.probe import load

    console = make_console()
    with console.status(f"loading {args.arch} ({args.weights or 'no weights'})"):
        if args.weights is None:  # the architecture alone: its usual input, nothing downloaded
            from probecheck.zoo.builders import usual_preprocessing

            usual = usual_preprocessing(args.arch)
            probe = load(
                args.arch, "random", seed=args.seed, device=args.device, preprocessing=usual
            )
        else:
            probe = load(**model_request(args).load_arguments())
        rows = probe.layers()
    weights = probe.identity.weights if args.weights else "none (the architecture alone)"
    size = "×".join(str(v) for v in probe.preprocessing.size)
    table = Table(title=f"{args.arch} · weights {weights} · input 3×{size}")
    table.add_column("module path", no_wrap=True)
    table.add_column("alias", no_wrap=True)
    table.add_column("type")
    for column in ("output shape", "channels", "parameters"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        if not args.all and row.type in ("Sequential",) and not row.alias:
            continue
        table.add_row(
            row.path,
            row.alias,
            row.type,
            "×".join(str(v) for v in row.output_shape),
            str(row.channels) if row.channels is not None else "",
            f"{row.parameters:,}",
        )
    console.print(table)
    total = sum(p.numel() for p in probe.model.parameters())
    console.print(
        f"{len(rows)} modules, {total:,} parameters; preprocessing {probe.preprocessing.describe()}"
    )
    return 0
