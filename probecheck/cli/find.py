"""``probecheck find``: which channels go quiet when a region is removed? And a claim to paste.

Ranks the channels of one layer, or of every conv/ReLU layer, by drop, control drop and
selectivity (see :mod:`probecheck.find`), prints the best as a table, then a spec with one claim
for the best channel whose thresholds sit with margin below the measured numbers, so it passes.

With --altered (a paired image) and a control region, the control needs its own paired image
(--control-altered): the spec language has no way to pair the region but inpaint the control,
and a printed claim must be checkable as written. Use --mask-with to mask both the same way.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probecheck.errors import ProbecheckError
from probecheck.spec.kinds.drop import MASK_METHODS  # the spec language's, no scikit-image

if TYPE_CHECKING:  # the CLI imports torch only when a command runs
    from rich.console import Console
    from rich.table import Table

    from probecheck.find import FindInputs, Image8, Ranking, RegionShapes
    from probecheck.probe import Probe


def _numbers(count: int, what: str, form: str) -> Callable[[str], tuple[float, ...]]:
    """An argparse type for 'a,b,c,d' → a tuple of ``count`` numbers."""

    def parse(text: str) -> tuple[float, ...]:
        parts = [p for p in text.replace(" ", "").split(",") if p]
        try:
            values = tuple(float(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) != count or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not {form}, e.g. 61,76,107,103")
        return values

    parse.__name__ = what  # argparse names the type in its messages
    return parse


BOX = _numbers(4, "box", "x0,y0,x1,y1 (pixels, x1 and y1 exclusive)")
ELLIPSE = _numbers(4, "ellipse", "cx,cy,rx,ry (pixels)")


def _region_arguments(parser: argparse.ArgumentParser, prefix: str, what: str) -> None:
    parser.add_argument(
        f"--{prefix}box",
        type=BOX,
        nargs="+",
        action="extend",
        default=[],
        metavar="X0,Y0,X1,Y1",
        help=f"{what} box(es) in image pixels, x1 and y1 exclusive",
    )
    parser.add_argument(
        f"--{prefix}ellipse",
        type=ELLIPSE,
        nargs="+",
        action="extend",
        default=[],
        metavar="CX,CY,RX,RY",
        help=f"{what} ellipse(s) in image pixels",
    )
    parser.add_argument(
        f"--{prefix}mask", type=Path, metavar="PNG", help=f"{what} mask: non-zero pixels are inside"
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from probecheck.cli import model_arguments
    from probecheck.cli.find_set import set_arguments
    from probecheck.cli.show import index_base_argument

    parser = subparsers.add_parser(
        "find",
        help="rank channels by how much removing a region silences them; print a claim",
        description="Rank the channels of one layer (or of every conv/ReLU layer) by the drop "
        "of their mean inside the region when it is removed, the drop on a control region, and "
        "their selectivity; print the best and a ready-to-paste YAML spec for the best channel.",
        epilog="With --altered and a control region, give --control-altered too (the spec "
        "language pairs both regions or masks both); or use --mask-with for both. "
        "Over a set (--set): the channels are ranked on a discovery split of the set and the "
        "best tested on the held-out rest; a claim is printed only for those that held.",
    )
    parser.add_argument(
        "image", metavar="IMAGE", nargs="?", help="the image to run the network on (not with --set)"
    )
    model_arguments(parser)
    parser.add_argument(
        "--layer",
        nargs="+",
        action="extend",
        metavar="L",
        help="layer(s) to search (default: every conv and ReLU layer, in one forward pass)",
    )
    _region_arguments(parser, "", "region")
    parser.add_argument("--region-name", default="region", help="the region's name in the spec")
    removal = parser.add_mutually_exclusive_group()
    removal.add_argument(
        "--altered", type=Path, metavar="IMG", help="IMAGE with the region removed"
    )
    removal.add_argument(
        "--mask-with", choices=MASK_METHODS, help="remove the region (and control) by this method"
    )
    _region_arguments(parser, "control-", "control region")
    parser.add_argument("--control-name", default="control", help="the control's name in the spec")
    parser.add_argument(
        "--control-altered", type=Path, metavar="IMG", help="IMAGE with the control region removed"
    )
    parser.add_argument(
        "--top",
        type=int,
        default=10,
        metavar="N",
        help="rows to show (10); over a set, the channels carried to confirmation (10)",
    )
    index_base_argument(parser)
    parser.add_argument(
        "--spec-images-relative-to",
        type=Path,
        metavar="DIR",
        help="write image paths relative to DIR, where the spec will be saved "
        "(default: the directory of --yaml-out, else the current directory)",
    )
    parser.add_argument("--yaml-out", type=Path, metavar="FILE", help="also write the spec here")
    parser.add_argument("--force", action="store_true", help="overwrite --yaml-out if it exists")
    set_arguments(parser)


# ------------------------------------------------------------------------------------- inputs


def _shapes(args: argparse.Namespace, prefix: str) -> RegionShapes:
    from probecheck.find import RegionShapes

    get = lambda name: getattr(args, f"{prefix}{name}")  # noqa: E731
    return RegionShapes(boxes=tuple(get("box")), ellipses=tuple(get("ellipse")), mask=get("mask"))


def _model(args: argparse.Namespace) -> dict[str, Any]:
    weights = args.weights
    if os.path.isfile(weights):  # a checkpoint: the spec may be read from elsewhere
        weights = os.path.abspath(weights)
    model: dict[str, Any] = {"arch": args.arch, "weights": weights}
    if args.seed:
        model["seed"] = args.seed
    return model


def _inputs(args: argparse.Namespace) -> FindInputs:
    """The search's inputs from the arguments; every problem is a ProbecheckError with a fix."""
    from probecheck.find import FindInputs

    if args.image is None:
        raise ProbecheckError("no image given", fix="name an IMAGE, or a set of them with --set")
    if args.altered is None and args.mask_with is None:
        raise ProbecheckError(
            "the region's removal is not given",
            fix="add --altered IMG (IMAGE with the region removed) or --mask-with METHOD",
        )
    region = _shapes(args, "")
    if not region:
        raise ProbecheckError(
            "no region given", fix="add --box X0,Y0,X1,Y1, --ellipse CX,CY,RX,RY or --mask PNG"
        )
    control = _shapes(args, "control_")
    if args.control_altered is not None and not control:
        raise ProbecheckError(
            "--control-altered without a control region",
            fix="add --control-box, --control-ellipse or --control-mask",
        )
    if args.top < 1:
        raise ProbecheckError("--top must be at least 1", fix="e.g. --top 10")
    return FindInputs(
        image=Path(args.image),
        region=region,
        altered=args.altered,
        mask_with=args.mask_with,
        control=control or None,
        control_altered=args.control_altered,
        region_name=_spec_name(args.region_name, "--region-name"),
        control_name=_spec_name(args.control_name, "--control-name"),
        model=_model(args),
    )


def _spec_name(name: str, option: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ProbecheckError(
            f"{option} {name!r} is not a usable spec name", fix="use letters, digits, '_', '.', '-'"
        )
    return name


# ------------------------------------------------------------------------------------- output


def _fmt(value: float) -> str:
    from probecheck.results import fmt

    return "—" if math.isnan(value) else fmt(value)


def _table(rows: Ranking, shown: int, layers: int, inputs: FindInputs, index_base: int) -> Table:
    from rich.table import Table

    from probecheck.find import FAINT_FRACTION, SCORE_FORMULA

    silent, faint = rows.silent_count, rows.faint_count
    how = (
        f"removed by {inputs.mask_with}"
        if inputs.mask_with
        else f"→ {Path(inputs.altered or '').name}"
    )
    table = Table(
        title=f"channels of {layers} layer(s) whose mean in '{inputs.region_name}' drops "
        f"most ({how})",
        caption=f"sorted by score = {SCORE_FORMULA}; left out: {silent} silent channel(s) "
        f"(mean_in ≤ 1e-6 of peak) and {faint} faint one(s) (mean_in < "
        f"{FAINT_FRACTION:.0%} of peak); selectivity = mean_in / mean_out of max(A, 0)",
    )
    table.add_column("layer", no_wrap=True)
    for column in ("channel", "score", "drop", "control drop", "selectivity", "mean_in", "peak"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in rows.top(shown):
        table.add_row(
            r.layer,
            str(r.channel + index_base),
            _fmt(r.score),
            _fmt(r.drop),
            _fmt(r.control_drop),
            _fmt(r.selectivity),
            _fmt(r.mean_in),
            _fmt(r.peak),
        )
    return table


def _rank(
    args: argparse.Namespace, probe: Probe, inputs: FindInputs, rgb: Image8, console: Console
) -> tuple[Ranking, int]:
    """Rasterise the regions, then rank with a progress bar over the layers."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from probecheck.find import default_layers, rank_channels

    shape = rgb.shape[:2]
    region = inputs.region.rasterise(shape, "region")
    control = inputs.control.rasterise(shape, "control") if inputs.control else None
    layers = args.layer or default_layers(probe)
    for layer in layers:
        probe.resolve(layer)  # an unknown layer fails before any work
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    extra = (MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, *extra, console=console, transient=True) as progress:
        task = progress.add_task("removing the region, one forward pass", total=None)

        def on_layer(done: int, total: int, layer: str) -> None:
            progress.update(task, total=total, completed=done, description=f"scored {layer}")

        rows = rank_channels(
            probe,
            rgb,
            region,
            altered=inputs.altered,
            mask_with=inputs.mask_with,
            control_mask=control,
            control_altered=inputs.control_altered,
            layers=layers,
            on_layer=on_layer,
        )
    return rows, len(layers)


def run(args: argparse.Namespace) -> int:
    from probecheck.atomic import write_atomic
    from probecheck.cli import make_console
    from probecheck.cli.show import check_writable, load_probe
    from probecheck.find import claim_yaml
    from probecheck.zoo.images import load_image

    if args.set:
        from probecheck.cli.find_set import run_over_set

        return run_over_set(args)
    inputs = _inputs(args)
    rgb = load_image(inputs.image)  # read once; a missing image fails before the network loads
    if args.yaml_out is not None:
        check_writable(args.yaml_out, args.force, "--yaml-out")
    relative_to = args.spec_images_relative_to or (
        args.yaml_out.parent if args.yaml_out is not None else Path.cwd()
    )
    err = make_console(stderr=True)
    probe = load_probe(args, err)
    rows, layers = _rank(args, probe, inputs, rgb, err)
    console = make_console()
    console.print(_table(rows, args.top, layers, inputs, args.index_base))
    best = rows.best()
    if best is None:
        raise ProbecheckError(
            "every channel is silent in the region", fix="try another layer or a larger region"
        )
    text = claim_yaml(best, inputs, index_base=args.index_base, relative_to=relative_to)
    warning = _anecdote(best.layer, best.channel + args.index_base, len(rows))
    err.print(f"warning: {warning}", soft_wrap=True, highlight=False, style="yellow")
    first, _, rest = text.partition("\n")  # the note under the spec's first comment line
    text = f"{first}\n" + "".join(f"# {line}\n" for line in _wrapped(warning)) + rest
    print()
    print(text, end="")
    if args.yaml_out is not None:
        write_atomic(args.yaml_out, text)
        err.print(f"wrote the spec to {args.yaml_out}", soft_wrap=True, highlight=False)
    return 0


def _anecdote(layer: str, label: int, ranked: int) -> str:
    """What a claim found on one image pair is: the best of many, picked where it is checked."""
    return (
        f"an anecdote, not evidence: {layer} channel {label} is the best of {ranked} channels "
        "on this one image pair, so it looks good here because it was picked here, and the "
        "claim, checked on the same pair, cannot fail for that; find it on part of a set of "
        "images and confirm it on the rest with probecheck find --set"
    )


def _wrapped(text: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, 96)
