"""Timing helpers shared by the benchmark scripts (not part of the probecheck package).

Every benchmark times a probecheck path and a baseline *in the same run*, interleaved round by
round (the order rotates each round), so that load from other processes on a shared machine hits
both sides alike; the scripts report medians and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SPECS = ROOT / "specs"
WEIGHTS_ENV = "PROBECHECK_WEIGHTS_DIR"
#: Where an offline copy of the weights sits beside the checkout when PROBECHECK_WEIGHTS_DIR is
#: unset (docs/install.md: working offline).
DEFAULT_WEIGHTS_DIR = ROOT.parent / "shared" / "weights"


def use_offline_weights() -> None:
    """Point probecheck at ``../shared/weights`` when PROBECHECK_WEIGHTS_DIR is not set."""
    if not os.environ.get(WEIGHTS_ENV) and DEFAULT_WEIGHTS_DIR.is_dir():
        os.environ[WEIGHTS_ENV] = str(DEFAULT_WEIGHTS_DIR)


def parser(description: str, repeats: int, budget: float = 40.0) -> argparse.ArgumentParser:
    """The arguments every script takes: --repeats, --warmup and --threads."""
    args = argparse.ArgumentParser(description=description)
    args.add_argument(
        "--repeats", type=int, default=repeats, help=f"timed rounds (median; default {repeats})"
    )
    args.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    args.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)"
    )
    args.add_argument(
        "--budget",
        type=float,
        default=budget,
        help="seconds of timed rounds for the whole script, shared among its sections: a "
        "section runs no round that would overrun its share once it has its minimum of rounds "
        f"(default {budget:g})",
    )
    return args


def apply_threads(threads: int | None) -> int:
    """Set torch's intra-op threads if asked; return the number in use."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    # probecheck runs its forwards at PROBECHECK_THREADS (default 1): the same count as bare
    # torch here, or the ratios would compare thread counts, not code
    os.environ["PROBECHECK_THREADS"] = str(torch.get_num_threads())
    return torch.get_num_threads()


def environment() -> str:
    """One line about the machine and the libraries: benchmark numbers mean little without it."""
    import numpy
    import torch
    import torchvision

    load = "/".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, numpy {numpy.__version__}; "
        f"{os.cpu_count()} CPUs, torch.get_num_threads()={torch.get_num_threads()}, "
        f"load average {load}"
    )


def print_header(console: Any, name: str, threads: int, repeats: int) -> None:
    """The opening lines: machine, libraries, threads, and a warning when the CPUs are busy."""
    console.print(f"{name}: {environment()}", soft_wrap=True, markup=False)
    console.print(
        f"torch.get_num_threads() = {threads}; up to {repeats} timed rounds per section "
        "(fewer on a slow machine: see --budget), interleaved; medians shown",
        soft_wrap=True,
    )
    cpus = os.cpu_count() or 1
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > 0.75 * cpus:
        console.print(
            f"warning: load average {os.getloadavg()[0]:.1f} on {cpus} CPUs: other processes "
            "compete for the cores and absolute numbers are noisy; --threads 1 keeps torch's "
            "thread pool from stalling on busy cores",
            soft_wrap=True,
        )


def load_average() -> str:
    """The 1-minute load average, to print at the end of a run (others may share the CPUs)."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


@dataclass
class Case:
    """A callable to time, with an untimed ``setup`` run before each call (e.g. clear a cache)."""

    run: Callable[[], Any]
    setup: Callable[[], Any] | None = None


def interleaved(
    cases: dict[str, Case | Callable[[], Any]],
    repeats: int,
    warmup: int = 1,
    on_timed: Callable[[], Any] | None = None,
    budget_s: float | None = None,
    min_rounds: int = 3,
) -> dict[str, list[float]]:
    """Seconds per call of each case: every round runs each case once, in a rotating order.

    ``on_timed`` runs once, after the warm-up rounds and before the first timed one. With
    ``budget_s``, once ``min_rounds`` timed rounds are done, no round starts that would (judging
    by the last one) end past the budget, so a script keeps to its time on a slow or busy
    machine; callers print how many rounds ran (``rounds``).
    """
    normal = {name: c if isinstance(c, Case) else Case(c) for name, c in cases.items()}
    names = list(normal)
    times: dict[str, list[float]] = {name: [] for name in names}
    timed_since = last_round = 0.0
    for round_ in range(warmup + repeats):
        if round_ == warmup:
            if on_timed is not None:
                on_timed()
            timed_since = time.perf_counter()
        done = round_ - warmup
        if (
            budget_s is not None
            and done >= min_rounds
            and time.perf_counter() - timed_since + last_round > budget_s
        ):
            break  # the next round would overrun the budget
        round_start = time.perf_counter()
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            case = normal[name]
            if case.setup is not None:
                case.setup()
            start = time.perf_counter()
            case.run()
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
        last_round = time.perf_counter() - round_start
    return times


def rounds(times: dict[str, list[float]]) -> int:
    """How many timed rounds ``interleaved`` ran."""
    return min(len(t) for t in times.values())


def ms(seconds: list[float]) -> float:
    """Median of a list of durations, in milliseconds."""
    return statistics.median(seconds) * 1e3


def fmt_ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.3f}×" if value < 0.1 else f"{value:.2f}×"


@dataclass
class Tally:
    """Exclusive wall time per label of wrapped callables (nested calls are not counted twice)."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _stack: list[list[float]] = field(default_factory=list)

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append([0.0])  # time spent in nested wrapped calls
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                total = time.perf_counter() - start
                nested = self._stack.pop()[0]
                self.seconds[label] = self.seconds.get(label, 0.0) + total - nested
                self.calls[label] = self.calls.get(label, 0) + 1
                if self._stack:
                    self._stack[-1][0] += total

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def bare_forward(model: Any, module: Any, x: Any) -> Callable[[], Any]:
    """The baseline: a full forward of ``x`` under inference mode with one plain hook that clones
    ``module``'s output, as any hand-written torch code would (torch is imported by the caller)."""
    import torch

    captured: list[Any] = []

    def hook(_module: Any, _inputs: object, output: Any) -> None:
        captured.append(output.clone())

    def run() -> Any:
        captured.clear()
        handle = module.register_forward_hook(hook)
        try:
            with torch.inference_mode():
                model(x)
        finally:
            handle.remove()
        return captured[0]

    return run


def bare_truncated_forward(model: Any, module: Any, x: Any) -> Callable[[], Any]:
    """The baseline for one layer: a forward of ``x`` under inference mode that stops once
    ``module`` has run, with one plain hook that clones its output, as hand-written torch would."""
    import torch

    class Stop(Exception):
        pass

    captured: list[Any] = []

    def hook(_module: Any, _inputs: object, output: Any) -> None:
        captured.append(output.clone())
        raise Stop

    def run() -> Any:
        captured.clear()
        handle = module.register_forward_hook(hook)
        try:
            with torch.inference_mode():
                model(x)
        except Stop:
            pass
        finally:
            handle.remove()
        return captured[0]

    return run


def spread(seconds: list[float]) -> float:
    """The standard deviation of durations, in milliseconds: what counts as noise."""
    return statistics.stdev(seconds) * 1e3 if len(seconds) > 1 else 0.0


def bounding_function(fn: Callable[[], Any]) -> str:
    """The function with the most internal time while ``fn`` runs (cProfile), with its share."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(fn)
    stats = pstats.Stats(profiler)
    total = stats.total_tt or 1.0  # type: ignore[attr-defined]
    rows = stats.stats.items()  # type: ignore[attr-defined]
    (filename, line, name), (_, _, internal, _, _) = max(rows, key=lambda row: row[1][2])
    where = name if filename == "~" else f"{name} ({Path(filename).name}:{line})"
    return f"{where}, {internal / total:.0%} of the time"
