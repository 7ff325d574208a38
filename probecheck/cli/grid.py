"""``probecheck grid``: the image with a coordinate grid, to read region boxes off.

Regions in a spec are pixels of the image as it is (upright), whatever size the network resizes
it to; the grid is labelled in those pixels. ``--box`` draws boxes to check before writing them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from probecheck.cli.find import BOX
from probecheck.cli.show import check_writable, positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grid",
        help="draw a coordinate grid over an image, labelled in its own pixels, to read boxes off",
        description="The image with a grid labelled in its own pixel coordinates (x: column, "
        "y: row, from the top-left corner). Regions in a spec (boxes, ellipses, polygons) are "
        "written in these pixels, whatever its size and whatever size the network resizes it "
        "to. Small images are enlarged and large ones reduced for viewing; the labels stay in "
        "the image's pixels.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the image to draw the grid over")
    parser.add_argument(
        "--step",
        type=positive_int,
        metavar="PX",
        help="pixels between labelled grid lines (default: a round step giving ~10-16 lines)",
    )
    parser.add_argument(
        "--box",
        type=BOX,
        nargs="+",
        action="extend",
        default=[],
        metavar="X0,Y0,X1,Y1",
        help="draw these boxes (x1, y1 exclusive), as find's --box and a spec's boxes",
    )
    parser.add_argument(
        "--out", type=Path, metavar="PNG", help="where to write (default <image stem>_grid.png)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def run(args: argparse.Namespace) -> int:
    from probecheck.errors import ProbecheckError
    from probecheck.render.grid import coordinate_grid
    from probecheck.render.montage import save_png
    from probecheck.zoo.images import load_image

    image = Path(args.image)
    rgb = load_image(image)
    for x0, y0, x1, y1 in args.box:
        if not (x0 < x1 and y0 < y1):
            raise ProbecheckError(
                f"--box {x0:g},{y0:g},{x1:g},{y1:g} is empty",
                fix="give X0,Y0,X1,Y1 with X0 < X1 and Y0 < Y1 (x1, y1 exclusive)",
            )
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", image.stem)
    out = check_writable(args.out or Path(f"{safe}_grid.png"), args.force)
    picture = coordinate_grid(rgb, step=args.step, boxes=args.box, name=image.name)
    written = save_png(picture, out)
    height, width = rgb.shape[:2]
    print(f"wrote {written} (grid over {image.name}, {width}×{height} px; x: column, y: row)")
    return 0
