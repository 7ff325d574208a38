"""Tally the CI gate's verdicts on many candidates: benign changes must pass, lost channels fail.

    python docs/ci/gate_tally.py                 # 30 seeded benign candidates, every claim broken
    python docs/ci/gate_tally.py --benign 60 --seed 1

Each candidate is checked with the gate command of docs/ci/probecheck.yml (the same arguments,
the candidate and a temporary report directory put in), in this process. Benign candidates are
seeded changes a retraining stands for: noise of 0.2–1 % of each weight tensor's std, fake int8
quantisation, pruning of 1–10 % of each conv's smallest weights. Breaks: for every claim in the
specs, a candidate with that claim's channels zeroed (its ``channels``, or the channels a
``strongest: {in: …}`` names); the gate must fail and name that claim. It prints the tally:
blocked benign / total, missed breaks / total, and exits 1 if either is not 0.

The suite runs a few of each (tests/integration/test_ci_gate.py); this script runs dozens.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKFLOW = HERE / "probecheck.yml"

#: runs pytest with these arguments and returns its exit code
Runner = Callable[[list[str]], int]


@dataclass(frozen=True)
class Break:
    """A candidate with some channels of one conv zeroed, and the claims it must fail."""

    layer: str  # as the first claim writes it
    channels: tuple[int, ...]  # 0-based
    claims: tuple[str, ...]  # "faces.yaml::eyes-across-faces"

    @property
    def argv(self) -> list[str]:
        return ["--change", "none", "--zero", f"{self.layer}:{','.join(map(str, self.channels))}"]


@dataclass
class Tally:
    benign: int = 0
    blocked: list[str] = field(default_factory=list)
    breaks: int = 0
    missed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"blocked benign {len(self.blocked)} / {self.benign}, "
            f"missed breaks {len(self.missed)} / {self.breaks}"
        )


def load_make_candidate():
    spec = importlib.util.spec_from_file_location("make_candidate", HERE / "make_candidate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gate_args(specs: Path, candidate: Path, report: Path) -> list[str]:
    """The workflow's gate command as pytest arguments, with these paths put in."""
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (command,) = [
        step["run"]
        for step in workflow["jobs"]["gate"]["steps"]
        if str(step.get("run", "")).startswith("pytest ")
    ]
    swap = {
        "specs/": str(specs),
        "specs/baseline.json": str(specs / "baseline.json"),
        "candidate.pt": str(candidate),
        "probe-report": str(report),
        "probe-report/junit.xml": str(report / "junit.xml"),
    }
    return [swap.get(word, word) for word in shlex.split(command)[1:]]


def breaks(specs: Path) -> list[Break]:
    """For each claim in ``specs``, the channels whose loss it must catch, merged where claims
    share the channels of one conv (a ReLU layer and the conv before it)."""
    import probecheck
    from probecheck.spec import load_spec

    make = load_make_candidate()
    probe = probecheck.load("squeezenet1_0", "deep-compression")
    convs = {id(module): name for name, module in probe.model.named_modules()}
    found: dict[tuple[str, tuple[int, ...]], Break] = {}
    for path in sorted(specs.glob("*.y*ml")):
        spec = load_spec(path)
        for claim in spec.claims:
            channels = list(claim.channels or [])
            if claim.strongest is not None and claim.strongest.in_ is not None:
                channels += list(claim.strongest.in_)
            if not channels:
                continue
            conv = convs[id(make.producing_conv(probe, claim.layer))]
            key = (conv, tuple(sorted(set(channels))))
            name = f"{path.name}::{claim.id}"
            old = found.get(key)
            found[key] = Break(
                old.layer if old else claim.layer, key[1], (*old.claims, name) if old else (name,)
            )
    return list(found.values())


def benign(count: int, seed: int) -> Iterator[tuple[str, list[str]]]:
    """``count`` seeded benign changes: fake int8 once (it is deterministic), then noise and
    pruning by turns, at sizes drawn up to the documented defaults."""
    import random

    rng = random.Random(seed)
    if count > 0:
        yield "quantise", ["--change", "quantise"]
    for i in range(1, count):
        if i % 2:
            size, noise_seed = round(rng.uniform(0.002, 0.01), 4), rng.randrange(10_000)
            yield (
                f"perturb {size} seed {noise_seed}",
                ["--change", "perturb", "--size", str(size), "--seed", str(noise_seed)],
            )
        else:
            size = round(rng.uniform(0.01, 0.1), 3)
            yield f"prune {size}", ["--change", "prune", "--size", str(size)]


def verdicts(report: Path) -> dict[str, bool]:
    """``spec name::claim id`` → passed, from the run's results.json."""
    document = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return {f"{Path(c['spec']).name}::{c['claim_id']}": c["passed"] for c in document["claims"]}


def check_candidate(
    run: Runner, specs: Path, out: Path, name: str, argv: list[str]
) -> tuple[int, dict[str, bool]]:
    """Make the candidate ``argv`` describes and run the gate on it: exit code and verdicts."""
    make = load_make_candidate()
    slug = f"{len(list(out.glob('*.pt'))):03d}-" + "".join(
        ch if ch.isalnum() else "-" for ch in name
    )
    # a new file name for every candidate: a model is loaded once per path in a process
    candidate, report = out / f"{slug}.pt", out / f"{slug}-report"
    if make.main([str(candidate), *argv]) != 0:
        raise SystemExit(f"make_candidate.py {' '.join(argv)} failed")
    code = run(gate_args(specs, candidate, report))
    return code, verdicts(report) if (report / "results.json").exists() else {}


def tally(
    run: Runner, specs: Path, out: Path, *, count: int, seed: int, say: Callable[[str], None]
) -> Tally:
    found = Tally()
    for name, argv in benign(count, seed):
        code, seen = check_candidate(run, specs, out, name, argv)
        found.benign += 1
        failed = sorted(claim for claim, ok in seen.items() if not ok)
        if code != 0:
            found.blocked.append(f"{name}: exit {code}, failed {', '.join(failed) or '-'}")
        say(f"benign {name}: exit {code}" + (f", failed {', '.join(failed)}" if failed else ""))
    for lost in breaks(specs):
        name = f"zero {lost.layer} {list(lost.channels)}"
        code, seen = check_candidate(run, specs, out, name, lost.argv)
        for claim in lost.claims:
            found.breaks += 1
            if code == 0 or seen.get(claim, True):
                found.missed.append(f"{name}: {claim} not failed (exit {code})")
        say(f"break {name}: exit {code}, must fail {', '.join(lost.claims)}")
    return found


def _pytest_in_process(args: list[str]) -> int:
    import pytest

    return int(pytest.main(["-p", "no:terminal", "-p", "no:cacheprovider", *args]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benign", type=int, default=30, help="benign candidates (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the benign changes")
    parser.add_argument("--specs", type=Path, default=REPO / "specs", help="the specs directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="probecheck-tally-") as tmp:
        found = tally(
            _pytest_in_process,
            args.specs.resolve(),
            Path(tmp),
            count=args.benign,
            seed=args.seed,
            say=lambda line: print(line, file=sys.stderr, flush=True),
        )
    for line in found.blocked + found.missed:
        print(f"  {line}")
    print(f"gate tally: {found.line()}")
    return 0 if not (found.blocked or found.missed) else 1


if __name__ == "__main__":
    sys.exit(main())
