"""How fast hostile spec files are refused, against loading the shipped face spec.

Timed in the same run, interleaved round by round: ``load_spec`` on ``specs/face.yaml`` (the
baseline: a valid spec, image headers read), bare ``yaml.safe_load`` of the same text, and the
refusal (a SpecError) of: an alias bomb ("billion laughs", 10**9 nodes from 300 bytes), a file
just over the byte limit, a file under it with too many nodes, lists nested 200 deep, and a
``!!python/object/apply`` payload. Each refusal must take well under a second.

Run: ``python benchmarks/bench_hostile_yaml.py [--repeats N]``.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import _common
import yaml
from rich.console import Console
from rich.table import Table

from probecheck.errors import SpecError
from probecheck.spec import load_spec
from probecheck.spec.reading import MAX_BYTES, MAX_NODES


def billion_laughs() -> str:
    lines = ['a0: &a0 "lol"']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\nclaims: *a9\n"


HOSTILE = {
    "billion laughs (10**9 nodes)": billion_laughs(),
    "over the byte limit": "claims:\n" + "  - {id: c, layer: conv1}\n" * (MAX_BYTES // 20),
    "too many nodes, under the byte limit": "claims: [" + ", ".join(["0"] * (MAX_NODES + 10)) + "]",
    "nested 200 deep": "claims: " + "[" * 200 + "]" * 200,
    "python tag": "claims: !!python/object/apply:os.system ['true']\n",
}


def refuse(path: Path) -> None:
    try:
        load_spec(path)
    except SpecError:
        return
    raise AssertionError(f"{path} was accepted")


def main() -> None:
    args = _common.parser(__doc__.splitlines()[0], repeats=7, budget=30).parse_args()
    console = Console(width=120)
    console.print(f"bench_hostile_yaml: load average {_common.load_average()}")
    face = _common.SPECS / "face.yaml"
    text = face.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "load_spec(specs/face.yaml) (baseline)": lambda: load_spec(face),
            "yaml.safe_load(specs/face.yaml)": lambda: yaml.safe_load(text),
        }
        for i, (name, hostile) in enumerate(HOSTILE.items()):
            path = Path(tmp) / f"hostile{i}.yaml"
            path.write_text(hostile)
            cases[f"refuse: {name} ({path.stat().st_size:,} bytes)"] = lambda p=path: refuse(p)
        times = _common.interleaved(cases, args.repeats, args.warmup, budget_s=args.budget)
    base = statistics.median(times["load_spec(specs/face.yaml) (baseline)"])
    table = Table(title="median over interleaved rounds")
    for column in ("case", "rounds", "median ms", "max ms", "× baseline"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        table.add_row(
            name,
            str(len(seconds)),
            f"{median * 1e3:.1f}",
            f"{max(seconds) * 1e3:.1f}",
            f"{median / base:.2f}",
        )
    console.print(table)
    console.print(f"load average at the end: {_common.load_average()}")


if __name__ == "__main__":
    main()
