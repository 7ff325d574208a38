"""The ``probecheck`` command: thin shells over the library, one module per subcommand.

Each subcommand module has ``add_parser(subparsers)`` and ``run(args) -> int``. Errors the user
can fix print as one message with its fix, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console

from probecheck import __version__
from probecheck.errors import ProbecheckError
from probecheck.zoo.devices import device_name

if TYPE_CHECKING:
    from probecheck.spec import Spec
    from probecheck.zoo.request import ModelRequest

SUBCOMMANDS = ("layers", "show", "grid", "find", "occlusion", "schema")


def model_arguments(
    parser: argparse.ArgumentParser, *, weights_default: str | None = "deep-compression"
) -> None:
    """--arch/--weights/--seed, shared by every subcommand that loads a network.

    ``weights_default`` None: a subcommand that needs no weights (``layers``) uses the
    architecture alone unless ``--weights`` is given.
    """
    parser.add_argument(
        "--arch", default="squeezenet1_0", help="torchvision builder or package.module:function"
    )
    default = (
        f" (default: {weights_default})"
        if weights_default
        else " (default: none, the architecture alone)"
    )
    parser.add_argument(
        "--weights",
        default=weights_default,
        help="deep-compression, random, a torchvision weights name (DEFAULT) or a checkpoint path"
        + default,
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --weights random")
    parser.add_argument(
        "--device",
        default="cpu",
        type=device_name,
        help="where the network runs: cpu (default), cuda, cuda:1, mps, or auto (cuda where "
        "available, else mps, else cpu)",
    )


def model_request(args: argparse.Namespace, spec: Spec | None = None) -> ModelRequest:
    """The model the options name, over ``spec``'s own where a command reads a spec; the same
    rules as the plugin's (:func:`probecheck.zoo.request.resolve_model`)."""
    from probecheck.zoo.request import Overrides, resolve_model

    overrides = Overrides(
        arch=args.arch, weights=args.weights, seed=args.seed, device=args.device, prefix="--"
    )
    if spec is None:
        return resolve_model(None, overrides)
    return resolve_model(spec.model, overrides, base_dir=spec.base_dir, spec_path=spec.path)


def make_console(*, stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal, wide enough that tables are not truncated."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 140
    return console


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="probecheck", description="Interpretability assertions about convolutional networks."
    )
    parser.add_argument("--version", action="version", version=f"probecheck {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"probecheck.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"probecheck.cli.{name}":
                raise
            continue
        module.add_parser(subparsers)
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m probecheck``."""
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(modules[args.command].run(args) or 0)
    except ProbecheckError as error:
        print(f"probecheck {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
