"""A spec checked against the network it names: architecture, weights, layers and channels.

The spec layer knows no network; this check runs when a spec is collected, on the architecture
built without weights (:func:`probecheck.zoo.layer_table.layer_table`), so a misspelt layer or a
channel beyond a layer's width is a collection error at its line, not a failure at run time after
the weights were loaded. Every problem of the file is reported together. It imports torch only
where it must (a table not in the persistent cache, torchvision's weights names).
"""

from __future__ import annotations

from pathlib import Path

from probecheck.errors import ProbecheckError, SpecError
from probecheck.spec import Claim, Spec
from probecheck.spec.models import _suggest
from probecheck.zoo.layer_table import LayerTable, layer_table
from probecheck.zoo.weights import NAMED_WEIGHTS, registered
from probecheck.zoo.weights import looks_like_path as _looks_like_path

__all__ = ["check_against_network", "network_problems"]

Loc = tuple[str | int, ...]


class _Found:
    """Problems of one spec, each placed at its key (or at the option that overrode it)."""

    def __init__(self, spec: Spec, overridden: set[str]) -> None:
        self.spec = spec
        self.overridden = overridden
        self.problems: list[SpecError] = []

    def add(self, loc: Loc, message: str, fix: str | None) -> None:
        field = loc[-1] if loc[:1] == ("model",) else None
        if field in self.overridden:  # not the file's fault: name the option instead
            message += f" (given by --probe-{field})"
            self.problems.append(SpecError(message, path=self._shown(), fix=fix))
        elif self.spec.source is not None:
            self.problems.append(self.spec.source.error(loc, message, fix))
        else:
            self.problems.append(SpecError(message, path=self._shown(), key=str(loc), fix=fix))

    def _shown(self) -> str:
        return self.spec.source.shown if self.spec.source is not None else str(self.spec.path)


def _arch_table(arch: str, found: _Found) -> LayerTable | None:
    """The architecture's layer table, or None with the problem recorded."""
    try:
        return layer_table(arch)
    except ProbecheckError as error:
        found.add(("model", "arch"), error.message, error.fix)
    except Exception as error:  # a user factory that fails to build
        found.add(
            ("model", "arch"),
            f"the model factory {arch!r} failed: {type(error).__name__}: {error}",
            "check that the factory builds its network with no arguments",
        )
    return None


def _weights_problem(arch: str, weights: str) -> tuple[str, str] | None:
    """(message, fix) where ``weights`` cannot be loaded into ``arch``; no file is read."""
    factory = ":" in arch
    if weights == "random":
        return None
    entry = registered(weights)
    if entry is not None:
        if entry.fits(arch):
            return None
        return entry.misfit(arch), entry.fix() + ", or other weights"
    if _looks_like_path(weights):
        if not Path(weights).is_file():
            return (
                f"checkpoint {weights} not found",
                "checkpoint paths are relative to the spec file; or use "
                f"{', '.join(NAMED_WEIGHTS)} or a torchvision weights name (DEFAULT)",
            )
        return None
    if factory:
        return (
            f"unknown weights {weights!r} for the model factory {arch}",
            "give a checkpoint path or 'random' for a factory model",
        )
    import torchvision  # torchvision's own weights names: only for a name not known otherwise

    try:
        members = list(torchvision.models.get_model_weights(arch).__members__)
    except (ValueError, KeyError):
        members = []
    if weights.rpartition(".")[2] in members:
        return None
    options = [*NAMED_WEIGHTS, *members]
    return (
        f"unknown weights {weights!r} for {arch}{_suggest(weights, options)}",
        f"use one of: {', '.join(options)}, or a checkpoint path",
    )


def _channel_problems(
    claim: Claim, i: int, layer: str, channels: int, found: _Found, base: int
) -> None:
    """Channel numbers beyond the layer's width, in ``channels`` and ``strongest``; a
    ``top_k``, ``in`` or ``rank_at_most`` that takes in every channel (it could not fail)."""
    last = channels - 1 + base
    has = f"{layer} has channels {base}..{last} (index_base {base})"
    fix = f"choose channels from {base} to {last}; `probecheck layers` shows every layer's width"
    lists: list[tuple[Loc, list[int]]] = [(("claims", i, "channels"), claim.channels or [])]
    if claim.strongest is not None and claim.strongest.in_ is not None:
        lists.append((("claims", i, "strongest", "in"), claim.strongest.in_))
    for loc, numbers in lists:
        for j, channel in enumerate(numbers):
            if channel >= channels:
                found.add((*loc, j), f"channel {channel + base} is out of range: {has}", fix)
    top_k = claim.strongest.top_k if claim.strongest is not None else None
    if top_k is not None and top_k > channels:
        found.add(
            ("claims", i, "strongest", "top_k"),
            f"top_k {top_k} is more than the {channels} channels of {layer}",
            f"choose top_k from 1 to {channels}",
        )
    elif top_k is not None and top_k == channels:  # every channel is among the k strongest
        found.add(
            ("claims", i, "strongest", "top_k"),
            f"top_k {top_k} takes in all {channels} channels of {layer}: the claim could not fail",
            f"choose top_k from 1 to {channels - 1}",
        )
    named = claim.strongest.in_ if claim.strongest is not None else None
    if named is not None and set(range(channels)) <= set(named):  # the strongest is always in
        found.add(
            ("claims", i, "strongest", "in"),
            f"in names all {channels} channels of {layer}: the claim could not fail",
            "name only the channels the strongest one must be among",
        )
    for kind, check in claim.checks.items():
        rank = getattr(check, "rank_at_most", None)
        if rank is not None and rank >= channels:  # every channel ranks within it
            found.add(
                ("claims", i, kind, "rank_at_most"),
                f"rank_at_most {rank} takes in all {channels} channels of {layer}: the null "
                "could not fail",
                f"choose rank_at_most from 1 to {channels - 1}",
            )


def _claim_problems(claim: Claim, i: int, table: LayerTable, found: _Found, base: int) -> None:
    """The claim's layer exists and gives channel maps wide enough for its channels."""
    try:
        layer = table.layer(claim.layer)
    except ProbecheckError:
        close = table.closest(claim.layer)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        found.add(
            ("claims", i, "layer"),
            f"unknown layer '{claim.layer}'{hint}",
            f"`probecheck layers --arch {table.arch}` lists every name"
            + (f"; also close: {', '.join(close[1:])}" if len(close) > 1 else ""),
        )
        return
    shape = table.shape(layer.path)
    if shape is None:
        return  # not traced: the run will tell
    if len(shape) != 3:
        found.add(
            ("claims", i, "layer"),
            f"layer '{claim.layer}' gives activations of shape {shape}, not channel maps "
            "(channels, h, w)",
            "choose a convolutional layer (`probecheck layers` shows each output shape)",
        )
        return
    _channel_problems(claim, i, claim.layer, shape[0], found, base)


def network_problems(
    spec: Spec, arch: str, weights: str, *, overridden: set[str] | frozenset[str] = frozenset()
) -> list[SpecError]:
    """Every problem of ``spec`` against ``arch`` with ``weights``.

    ``overridden`` names the fields ("arch", "weights") given on the command line instead of
    by the file, so that their problems name the option, not a line of the file.
    """
    found = _Found(spec, set(overridden))
    table = _arch_table(arch, found)
    problem = _weights_problem(arch, weights) if table is not None else None
    if problem is not None:
        found.add(("model", "weights"), *problem)
    if table is not None:
        for i, claim in enumerate(spec.claims):
            _claim_problems(claim, i, table, found, spec.index_base)
    return found.problems


def check_against_network(
    spec: Spec, arch: str, weights: str, *, overridden: set[str] | frozenset[str] = frozenset()
) -> None:
    """Raise one SpecError listing every problem of ``spec`` against the network, if any."""
    problems = network_problems(spec, arch, weights, overridden=overridden)
    if problems:
        raise SpecError.gather(problems)
