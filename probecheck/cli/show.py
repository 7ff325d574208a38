"""``probecheck show``: a layer's activations as a picture, the walkthrough's first look.

Without --channels it is MATLAB's ``imtile(mat2gray(act))``: every channel as one tile, numbered
(from --index-base) and drawn at the image's aspect ratio; a layer that goes negative (pre-ReLU)
is drawn blue-white-red about zero, with a colour bar either way. With
--channels (or --strongest) the chosen maps are resized beside the image, so one can see *where*
a channel fires. The one-line description names the strongest channel, a first lead for a claim.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from probecheck.errors import ProbecheckError

if TYPE_CHECKING:  # the CLI imports torch only when a command runs
    from rich.console import Console

    from probecheck.probe import Probe
    from probecheck.spec import Spec


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from probecheck.cli import model_arguments

    parser = subparsers.add_parser(
        "show",
        help="picture a layer's activations: all channels tiled, or chosen ones beside the image",
        description="Without --channels: the montage of every channel (imtile(mat2gray(act))). "
        "With --channels or --strongest: those channels' maps resized beside the image.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the image to run the network on")
    model_arguments(parser)
    parser.add_argument("--layer", required=True, help="module path or alias (conv1, fire6-...)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--channels", type=int, nargs="+", metavar="N", help="show these channels beside the image"
    )
    which.add_argument(
        "--strongest", action="store_true", help="show the channel with the largest activation"
    )
    index_base_argument(parser)
    parser.add_argument(
        "--grid", type=parse_grid, metavar="RxC", help="montage rows × columns (default ~square)"
    )
    parser.add_argument(
        "--tile-size",
        type=positive_int,
        metavar="PX",
        help="draw each channel of the montage PX pixels on its longer side, at the image's "
        "aspect ratio (default: the map's own size, at least 40)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="PNG", help="where to write (default <image stem>_<layer>.png)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def index_base_argument(parser: argparse.ArgumentParser) -> None:
    """--index-base: channel numbers count from 0 (default) or 1 (MATLAB), as in a spec."""
    parser.add_argument(
        "--index-base",
        type=int,
        choices=(0, 1),
        default=0,
        help="channel numbers count from 0 (default) or from 1 as in MATLAB",
    )


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ≥ 1")
    return value


def parse_grid(text: str) -> tuple[int, int]:
    """'8x12' → (8, 12): argparse reports a bad value as a usage error."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", text)
    if not match or 0 in (rows := int(match[1]), cols := int(match[2])):
        raise argparse.ArgumentTypeError(f"{text!r} is not ROWSxCOLS, e.g. 8x12")
    return rows, cols


def check_writable(path: Path, force: bool, option: str = "--out") -> Path:
    """Refuse to overwrite an existing file unless --force: pictures and specs are work."""
    if path.exists() and not force:
        raise ProbecheckError(
            f"{path} already exists",
            fix=f"pass --force to overwrite it, or choose another file with {option}",
        )
    if path.is_dir():
        raise ProbecheckError(f"{path} is a directory", fix=f"give a file name to {option}")
    return path


def load_probe(args: argparse.Namespace, console: Console, spec: Spec | None = None) -> Probe:
    """The network the options (over ``spec``'s model, if given) name, loaded once per process
    (tests and repeated calls share it)."""
    from probecheck.cli import model_request
    from probecheck.probe import shared_probe

    request = model_request(args, spec)
    with console.status(f"loading {request.arch} ({request.weights})"):
        return shared_probe(**request.load_arguments())


def channel_indices(labels: list[int], index_base: int, count: int, layer: str) -> list[int]:
    """0-based channels from numbers written in ``index_base``; out of range is an error."""
    bad = [n for n in labels if not index_base <= n < count + index_base]
    if bad:
        raise ProbecheckError(
            f"channel(s) {bad} out of range: {layer} has {count} channels "
            f"({index_base}..{count - 1 + index_base} with --index-base {index_base})",
            fix="check the channel numbers and --index-base",
        )
    return [n - index_base for n in labels]


def _default_out(image: Path, layer: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", layer)
    return Path(f"{image.stem}_{safe}.png")


def run(args: argparse.Namespace) -> int:
    from probecheck import metrics
    from probecheck.cli import make_console
    from probecheck.probe import require_channels
    from probecheck.render.montage import labelled_montage, maps_beside_image, save_png
    from probecheck.zoo.images import load_image

    if args.grid is not None and (args.channels or args.strongest):
        raise ProbecheckError(
            "--grid is for the montage of all channels",
            fix="drop --grid, or drop --channels/--strongest",
        )
    image = Path(args.image)
    rgb = load_image(image)
    out = check_writable(args.out or _default_out(image, args.layer), args.force)
    probe = load_probe(args, make_console(stderr=True))
    maps = require_channels(probe.activations(rgb, args.layer)[args.layer], args.layer)
    peaks = metrics.channel_peaks(maps)
    top = metrics.strongest(maps)
    base = args.index_base
    if args.strongest or args.channels:
        channels = (
            [top]
            if args.strongest
            else channel_indices(args.channels, base, maps.shape[0], args.layer)
        )
        labels = [image.name, *(f"channel {c + base} (peak {peaks[c]:.4g})" for c in channels)]
        picture = maps_beside_image(rgb, maps, channels, labels=labels)
        what = f"channel(s) {', '.join(str(c + base) for c in channels)} beside {image.name}"
    else:
        try:
            picture = labelled_montage(
                maps,
                base=base,
                aspect=rgb.shape[1] / rgb.shape[0],
                grid=args.grid,
                tile_size=args.tile_size,
            )
        except ValueError as error:
            raise ProbecheckError(str(error), fix="give a larger --grid, or none") from None
        what = f"montage of {maps.shape[0]} channels, numbered from {base}"
    written = save_png(picture, out)
    path = probe.resolve(args.layer)
    name = args.layer if path == args.layer else f"{args.layer} ({path})"
    shape = "×".join(str(n) for n in maps.shape)
    print(f"wrote {written} ({what}, {picture.shape[1]}×{picture.shape[0]} px)")
    print(f"{name}: {shape}; strongest channel {top + base} (peak {peaks[top]:.4g})")
    return 0
