"""``probecheck schema``: the JSON Schema of the spec language, for editors to complete and check.

Point an editor's YAML support at it (e.g. ``# yaml-language-server: $schema=probecheck.json``).
Rules that span fields (altered xor mask_with, names defined under images:) are only checked by
``load_spec``; the schema knows the keys and their types.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema", help="print the JSON Schema of the spec language (for editors)"
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write it here instead")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def run(args: argparse.Namespace) -> int:
    from probecheck.cli.show import check_writable
    from probecheck.spec import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    check_writable(args.out, args.force)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote the spec schema to {args.out}")
    return 0
