"""``probecheck occlusion``: slide a patch over the image; where does it move the region most?

For one channel of one layer, the mean over a region is measured with a patch covering each
position in turn (see :mod:`probecheck.occlusion`); the per-pixel map of the drops is drawn over
the image, and the summary says where it peaks and how it compares inside and outside the
region. The region is boxes on the command line or a region of a spec (``--spec``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from probecheck.errors import ProbecheckError
from probecheck.spec.kinds.occlusion import (  # the spec language's, no torch
    OCCLUSION_FILLS,
    default_stride,
)

if TYPE_CHECKING:  # the CLI imports torch only when a command runs
    import numpy as np
    from numpy.typing import NDArray

    from probecheck.spec import Spec


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from probecheck.cli import model_arguments
    from probecheck.cli.show import index_base_argument, positive_int

    parser = subparsers.add_parser(
        "occlusion",
        help="map where covering the image moves one channel's mean over a region",
        description="Slide a square patch over the network's input (stride, fill as given), "
        "measure the channel's area-weighted mean over the region at each position, and draw "
        "the per-pixel drop (Captum's Occlusion map) over the image.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the image to run the network on")
    model_arguments(parser)
    # unset unless given: with --spec, the spec's model: and preprocess: are used
    parser.set_defaults(arch=None, weights=None, seed=None)
    parser.add_argument("--layer", required=True, help="module path or alias (fire6-...)")
    parser.add_argument("--channel", required=True, type=int, metavar="N", help="the channel")
    index_base_argument(parser)
    parser.add_argument(
        "--region",
        required=True,
        nargs="+",
        action="extend",
        metavar="X0,Y0,X1,Y1|NAME",
        help="box(es) in image pixels (x1, y1 exclusive), or the name of a region of --spec",
    )
    parser.add_argument(
        "--spec",
        type=Path,
        metavar="YAML",
        help="the spec whose regions to use; its model: and preprocess: are used unless --arch, "
        "--weights or --seed say otherwise",
    )
    parser.add_argument(
        "--patch", type=positive_int, default=24, help="patch side, in input pixels (default 24)"
    )
    parser.add_argument(
        "--stride", type=positive_int, help="step between patches (default half the patch)"
    )
    parser.add_argument(
        "--fill", choices=OCCLUSION_FILLS, default="mean", help="what covers the patch"
    )
    parser.add_argument(
        "--out", type=Path, metavar="PNG", help="where to write (default <image>_occlusion.png)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


_BOX = re.compile(r"^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*$")


def _region(
    args: argparse.Namespace, shape: tuple[int, int], spec: Spec | None
) -> tuple[NDArray[np.bool_], str]:
    """The region as a mask of the image, and how to name it in the summary."""
    from probecheck.checks import SpecInputs
    from probecheck.find import RegionShapes

    boxes, names = [], []
    for text in args.region:
        match = _BOX.match(text)
        if match:
            boxes.append(tuple(float(v) for v in match.groups()))
        else:
            names.append(text)
    mask = None
    if boxes:
        mask = RegionShapes(boxes=tuple(boxes)).rasterise(shape, "region")  # type: ignore[arg-type]
    if names:
        if spec is None:
            raise ProbecheckError(
                f"--region {names[0]!r} is neither X0,Y0,X1,Y1 nor usable without --spec",
                fix="give boxes as X0,Y0,X1,Y1, or --spec FILE to use its named regions",
            )
        inputs = SpecInputs(spec)
        for name in names:
            if name not in spec.regions:
                known = ", ".join(spec.regions) or "none"
                raise ProbecheckError(
                    f"{args.spec} has no region {name!r}", fix=f"choose one of: {known}"
                )
            part = inputs.region(name, shape)
            mask = part if mask is None else mask | part
    assert mask is not None
    return mask, ", ".join([*names, *(",".join(f"{v:g}" for v in b) for b in boxes)])


def _default_out(image: Path, layer: str, channel: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", layer)
    return Path(f"{image.stem}_{safe}_{channel}_occlusion.png")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from probecheck import metrics
    from probecheck.cli import make_console
    from probecheck.cli.show import channel_indices, check_writable, load_probe
    from probecheck.occlusion import occlude
    from probecheck.probe import require_channels
    from probecheck.regions import area_fractions
    from probecheck.render.montage import save_png
    from probecheck.render.occlusion import occlusion_overlay
    from probecheck.zoo.images import load_image

    image = Path(args.image)
    rgb = load_image(image)
    out = check_writable(args.out or _default_out(image, args.layer, args.channel), args.force)
    spec = None
    if args.spec is not None:
        from probecheck.spec import load_spec

        spec = load_spec(args.spec)
    region, region_name = _region(args, rgb.shape[:2], spec)
    console = make_console(stderr=True)
    probe = load_probe(args, console, spec)
    maps = require_channels(probe.activations(rgb, args.layer)[args.layer], args.layer)
    channel = channel_indices([args.channel], args.index_base, maps.shape[0], args.layer)[0]
    stride = args.stride or default_stride(args.patch)
    with Progress(
        *Progress.get_default_columns()[:2],
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("occluding", total=None)

        def advance(count: int) -> None:
            progress.update(task, advance=count)

        height, width = probe.preprocessing.size
        total = (
            len(metrics.occlusion_starts(height, args.patch, min(stride, args.patch)))
            * len(metrics.occlusion_starts(width, args.patch, min(stride, args.patch)))
            if stride <= args.patch <= min(height, width)
            else None
        )
        progress.update(task, total=total)
        sweep = occlude(
            probe,
            rgb,
            args.layer,
            region,
            patch=args.patch,
            stride=stride,
            fill=args.fill,
            progress=advance,
        )
    sensitivity = sweep.sensitivity(channel)
    x, y = metrics.map_peak_in_image(sensitivity, rgb.shape)
    height, width = sweep.input_size
    inside = area_fractions(region, (height, width))
    mean_in, mean_out = metrics.region_means(sensitivity[np.newaxis], inside)
    picture = occlusion_overlay(rgb, sensitivity, region=region, peak=(x, y))
    written = save_png(picture, out)
    label = channel + args.index_base
    where = "inside" if region[y, x] else "outside"
    base = sweep.base[channel]
    print(f"wrote {written} (occlusion map of {args.layer} channel {label} over {image.name})")
    print(
        f"{sweep.positions} positions of a {args.patch}-px patch, stride {stride}, fill "
        f"{args.fill} on the {width}×{height} input: {sweep.positions - sweep.skipped} run in "
        f"{sweep.forwards} forward passes, {sweep.skipped} outside the receptive field (drop 0)"
    )
    print(f"region {region_name}: mean {base:.4g} with nothing covered")
    print(
        f"peak at x={x}, y={y} (image pixels), {where} the region: drop "
        f"{float(np.nanmax(sensitivity)):.4g}"
    )
    print(f"mean drop inside the region {float(mean_in[0]):.4g}, outside {float(mean_out[0]):.4g}")
    return 0
