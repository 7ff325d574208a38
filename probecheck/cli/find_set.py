"""``probecheck find --set``: find channels on part of a set, confirm them on the rest.

The set is a glob of images with a regions file (``{"<file name>": {"eyes": {"boxes": ...}}}``);
the region is removed by ``--mask-with`` or by a paired ``--altered-set`` (by file name). The
set is split with ``--split-seed`` into discovery and confirmation images (views of one
picture together: ``--views-of``), every channel is ranked on discovery, the ``--top`` are
tested on confirmation (see :mod:`probecheck.find_set`), and a population claim is printed
only for those that held there.
"""

from __future__ import annotations

import argparse
import glob
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probecheck.errors import ProbecheckError

if TYPE_CHECKING:
    from rich.table import Table

    from probecheck.find_set import SetFind

GLOB_CHARS = frozenset("*?[")


def set_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of find over a set."""
    group = parser.add_argument_group(
        "over a set of images (find on a discovery split, confirm on the held-out rest)"
    )
    group.add_argument(
        "--set",
        nargs="+",
        action="extend",
        metavar="GLOB",
        help="the set's images: a glob (quoted) or paths, in place of IMAGE; with --spec, "
        "the name of a set under the spec's sets:",
    )
    group.add_argument(
        "--spec",
        type=Path,
        metavar="FILE",
        help="a spec whose sets: defines the set named by --set (its images and regions file)",
    )
    group.add_argument(
        "--regions",
        type=Path,
        metavar="JSON",
        help='each image\'s regions: {"<file name>": '
        '{"eyes": {"boxes": [[x0, y0, x1, y1]]}, "cheeks": {...}}}',
    )
    group.add_argument("--region", metavar="NAME", help="the region to remove (a regions key)")
    group.add_argument("--control", metavar="NAME", help="the control region (a regions key)")
    group.add_argument(
        "--altered-set",
        nargs="+",
        action="extend",
        metavar="GLOB",
        help="the images with the region removed, paired by file name (in place of --mask-with)",
    )
    group.add_argument(
        "--control-altered-set",
        nargs="+",
        action="extend",
        metavar="GLOB",
        help="the images with the control removed, paired by file name (with --altered-set)",
    )
    group.add_argument(
        "--set-name", metavar="NAME", help="the set's name in the claim (default: its folder)"
    )
    group.add_argument(
        "--split-seed", type=int, default=0, metavar="N", help="seed of the split (0)"
    )
    group.add_argument(
        "--confirm-fraction",
        type=float,
        default=0.5,
        metavar="F",
        help="share of the pictures held out to confirm on (0.5)",
    )
    group.add_argument(
        "--views-of",
        metavar="REGEX",
        help="group views of one picture into one split: the regex's first group (or match) "
        "on the file stem names the picture, e.g. '^([a-z]+)_' (default: one picture a file)",
    )
    group.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        metavar="C",
        help="the test's level (Holm-adjusted p ≤ 1 − C) and the claim's confidence (0.95)",
    )


def _expand(patterns: list[str], what: str) -> list[Path]:
    paths: list[Path] = []
    for pattern in patterns:
        if GLOB_CHARS & set(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise ProbecheckError(f"{what} {pattern!r} matches no file", fix="check the glob")
            paths += [Path(m) for m in matches]
        elif Path(pattern).is_file():
            paths.append(Path(pattern))
        else:
            raise ProbecheckError(f"{what}: {pattern} does not exist", fix="check the path")
    return paths


def _check_options(args: argparse.Namespace) -> None:
    single = {
        "IMAGE": args.image,
        "--altered": args.altered,
        "--control-altered": args.control_altered,
        "--box/--ellipse/--mask": args.box or args.ellipse or args.mask,
        "--control-box/--control-ellipse/--control-mask": args.control_box
        or args.control_ellipse
        or args.control_mask,
    }
    given = [name for name, value in single.items() if value]
    if given:
        raise ProbecheckError(
            f"{', '.join(given)} is for one image, not a set",
            fix="over a set, regions come from --regions and are named by --region/--control",
        )
    if args.regions is None or args.region is None:
        raise ProbecheckError(
            "a set needs its regions file and the region's name",
            fix="add --regions regions.json --region eyes (and --control cheeks)",
        )
    if (args.mask_with is None) == (args.altered_set is None):
        raise ProbecheckError(
            "give either --mask-with or --altered-set (not both, not neither)",
            fix="--mask-with inpaint removes each image's region; --altered-set GLOB pairs "
            "each image with its twin by file name",
        )
    if args.control_altered_set and (args.control is None or args.altered_set is None):
        raise ProbecheckError(
            "--control-altered-set needs --control and --altered-set",
            fix="add them, or drop --control-altered-set",
        )
    if args.control and args.altered_set and not args.control_altered_set:
        raise ProbecheckError(
            "with --altered-set, the control needs its own paired set",
            fix="add --control-altered-set GLOB, or use --mask-with for both regions",
        )


def _fmt(value: float) -> str:
    from probecheck.results import fmt

    return "—" if math.isnan(value) else fmt(value)


def _table(found: SetFind, index_base: int, control: bool) -> Table:
    from rich.table import Table

    table = Table(
        title=f"the top {len(found.candidates)} of {found.ranked} channels ranked on the "
        f"discovery split ({len(found.discovery)} images), tested on the confirmation split "
        f"({len(found.confirmation)} images)",
        caption="ranked by score = min(drop, 1) − |control drop|; effect = drop − control "
        "drop per image, mean over the split; "
        "holds = share of images with effect > 0; p: one-sided t-test of effect > 0 on "
        f"confirmation, Holm-adjusted over the {len(found.candidates)} tested; held: p ≤ "
        f"{1 - found.confidence:.2g}, and thresholds set from the confirmation numbers leave "
        "a drop above 0 (else 'no drop') and the control's below the drop's (else 'control'), "
        "and the claim as written passes over every image of the set (else 'whole set')",
    )
    table.add_column("layer", no_wrap=True)
    columns = ["channel", "disc. drop"]
    columns += ["disc. control"] if control else []
    columns += ["disc. effect", "conf. drop"]
    columns += ["conf. control"] if control else []
    columns += ["conf. effect", "holds", "p (Holm)", "held"]
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for c in found.candidates:
        row = [c.layer, str(c.channel + index_base), _fmt(c.discovery.drop)]
        row += [_fmt(c.discovery.control_drop)] if control else []
        row += [_fmt(c.discovery.effect), _fmt(c.confirmation.drop)]
        row += [_fmt(c.confirmation.control_drop)] if control else []
        row += [
            _fmt(c.confirmation.effect),
            f"{c.confirmation.fraction:.0%}",
            _fmt(c.p_adjusted),
            "yes" if c.held else f"no: {_short(c.why_not)}",
        ]
        table.add_row(*row)
    return table


def _short(why_not: str) -> str:
    """The reason a candidate did not hold, in a table cell."""
    if why_not.startswith("adjusted p"):
        return "p"
    if "whole set" in why_not:
        return "whole set"
    if "control" in why_not:
        return "control"
    return "no drop"


def _set_spec(
    args: argparse.Namespace, found: SetFind, set_name: str, relative_to: Path
) -> str | None:
    """The spec with a population claim per candidate that held; None where none held."""
    from probecheck.cli.find import _model
    from probecheck.find import _relative
    from probecheck.find_set import set_claim
    from probecheck.spec.writing import checked_spec_text

    if not found.held:
        return None

    def images(patterns: list[str]) -> Any:
        written = [_relative(Path(p), relative_to) for p in patterns]
        return written[0] if len(written) == 1 else written

    sets: dict[str, dict[str, Any]] = {
        set_name: {"images": images(args.set), "regions": _relative(args.regions, relative_to)}
    }
    altered_set = control_altered_set = None
    if args.altered_set:
        altered_set = f"{set_name}_altered"
        sets[altered_set] = {"images": images(args.altered_set)}
    if args.control_altered_set:
        control_altered_set = f"{set_name}_control_altered"
        sets[control_altered_set] = {"images": images(args.control_altered_set)}
    comments = [
        f"probecheck find over the set {set_name}: {found.ranked} channels ranked on "
        f"{len(found.discovery)} discovery images (split seed {args.split_seed}), "
        f"{len(found.candidates)} tested on {len(found.confirmation)} held-out images;",
        f"{len(found.held)} held there (Holm-adjusted one-sided p ≤ "
        f"{1 - found.confidence:.2g}); thresholds sit with margin below the held-out numbers.",
        f"save this file in {relative_to} and run: pytest --probe-specs <file>",
    ]
    top = {"model": _model(args), "index_base": args.index_base, "sets": sets}
    claims = []
    for candidate in found.held:
        c = candidate.confirmation
        control = "" if math.isnan(c.control_drop) else f", control drop {c.control_drop:.3g}"
        held = (
            f"held out: {c.images} images, drop {c.drop:.3g}{control}, holds on "
            f"{c.fraction:.0%}, adjusted p {candidate.p_adjusted:.3g}"
        )
        claim = set_claim(
            candidate,
            set_name=set_name,
            region=args.region,
            control=args.control,
            mask_with=args.mask_with,
            altered_set=altered_set,
            control_altered_set=control_altered_set,
            confidence=args.confidence,
            index_base=args.index_base,
        )
        claims.append(([held], claim))
    # through the spec layer, as if saved where its paths are written from: what is printed loads
    text, _ = checked_spec_text(comments, top, claims, relative_to, "the spec find printed")
    return text


def run_over_set(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from probecheck.atomic import write_atomic
    from probecheck.cli import make_console
    from probecheck.cli.show import check_writable, load_probe
    from probecheck.find_set import find_over_set, read_regions_file, set_images

    if args.spec is not None:
        _set_from_spec(args)
    _check_options(args)
    paths = _expand(args.set, "--set")
    images = set_images(
        paths,
        read_regions_file(args.regions),
        args.region,
        args.control,
        altered=_expand(args.altered_set, "--altered-set") if args.altered_set else None,
        control_altered=_expand(args.control_altered_set, "--control-altered-set")
        if args.control_altered_set
        else None,
        regions_file=args.regions,
    )
    set_name = args.set_name or _default_set_name(paths)
    if args.yaml_out is not None:
        check_writable(args.yaml_out, args.force, "--yaml-out")
    relative_to = args.spec_images_relative_to or (
        args.yaml_out.parent if args.yaml_out is not None else Path.cwd()
    )
    err = make_console(stderr=True)
    probe = load_probe(args, err)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("measuring", total=None)

        def on_image(what: str, done: int, total: int, name: str) -> None:
            progress.update(task, total=total, completed=done, description=f"{what}: {name}")

        found = find_over_set(
            probe,
            images,
            mask_with=args.mask_with,
            layers=args.layer,
            top=args.top,
            seed=args.split_seed,
            confirm_fraction=args.confirm_fraction,
            views_of=args.views_of,
            confidence=args.confidence,
            on_image=on_image,
        )
    console = make_console()
    console.print(
        f"set {set_name}: {len(images)} images split with seed {args.split_seed} into "
        f"{len(found.discovery)} for discovery and {len(found.confirmation)} held out for "
        f"confirmation",
        soft_wrap=True,
        highlight=False,
    )
    console.print(f"  discovery: {', '.join(found.discovery)}", soft_wrap=True, highlight=False)
    console.print(
        f"  confirmation: {', '.join(found.confirmation)}", soft_wrap=True, highlight=False
    )
    console.print(
        f"ranked {found.ranked} channels of {found.layers} layer(s) on discovery; tested "
        f"{len(found.candidates)} on confirmation",
        soft_wrap=True,
        highlight=False,
    )
    console.print(_table(found, args.index_base, args.control is not None))
    text = _set_spec(args, found, set_name, relative_to)
    if text is None:
        print()
        print(
            f"No channel held on the held-out images: none of the {len(found.candidates)} "
            "tested passed the corrected test, so no claim is printed. What ranks first on "
            "the discovery images alone is not evidence."
        )
        return 0
    print()
    print(text, end="")
    if args.yaml_out is not None:
        write_atomic(args.yaml_out, text)
        err.print(f"wrote the spec to {args.yaml_out}", soft_wrap=True, highlight=False)
    return 0


def _set_from_spec(args: argparse.Namespace) -> None:
    """--spec FILE --set NAME: the set's images and regions file, as the spec writes them."""
    from probecheck.spec import load_spec
    from probecheck.spec.models import _resolve

    spec = load_spec(args.spec)
    if len(args.set) != 1 or args.set[0] not in spec.sets:
        known = ", ".join(sorted(spec.sets)) or "none"
        raise ProbecheckError(
            f"{args.spec} has no set named {' '.join(args.set)!r} (its sets: {known})",
            fix="give --set the name of one set under the spec's sets:",
        )
    name, image_set = args.set[0], spec.sets[args.set[0]]
    if image_set.regions is None:
        raise ProbecheckError(
            f"set {name} of {args.spec} has no regions file",
            fix="give the set regions: <a regions JSON file>, or use --set GLOB --regions FILE",
        )
    if args.regions is not None:
        raise ProbecheckError(
            "--regions with --spec: the set's regions come from the spec",
            fix="drop --regions, or use --set GLOB --regions FILE without --spec",
        )
    written = [image_set.images] if isinstance(image_set.images, str) else image_set.images
    args.set = [str(_resolve(spec.base_dir, pattern)) for pattern in written]
    args.regions = _resolve(spec.base_dir, image_set.regions)
    args.set_name = args.set_name or name


def _default_set_name(paths: list[Path]) -> str:
    import re

    folder = Path(paths[0]).resolve().parent.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", folder).strip("_") or "images"
