"""Checking one claim, as every shell does it: a YAML claim collected by pytest, a claim written in
Python with ``probe.check(...)``.

:func:`check_claim` loads the claim's network, measures the claim, holds it to the baseline (a
regression fails it), and decides whether it gets a tile (with the baseline model's maps beside a
regressed claim's). The shells only say where the claim comes from and how a verdict is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probecheck.checks import SpecInputs
    from probecheck.probe import Probe
    from probecheck.report.baseline import Tolerance
    from probecheck.results import ClaimResult
    from probecheck.spec import Claim, Spec
    from probecheck.zoo.request import ModelRequest

__all__ = ["BaselineGate", "Checked", "RunSettings", "check_claim", "error_result"]

#: which claims get a diagnostic tile
DIAGNOSTIC_MODES = ("failed", "all", "none")


@dataclass
class BaselineGate:
    """The baseline a run is held to (``--probe-baseline FILE``): read once, at the start.

    ``document`` is None only while recording a file that does not exist yet; while recording
    (``updating``) nothing is compared.
    """

    path: Path
    document: dict[str, Any] | None
    tolerance: Tolerance
    strict: bool = False
    updating: bool = False

    @property
    def compares(self) -> bool:
        return self.document is not None and not self.updating

    def hold(self, result: ClaimResult) -> None:
        """Put the regressions from the baseline on ``result``, and its gaps: as notes, or, under
        ``strict``, as regressions too (the baseline must cover the run exactly)."""
        if not self.compares:
            return
        from probecheck.report.baseline import compare

        found = compare(result, self.document, self.path, self.tolerance)  # type: ignore[arg-type]
        result.regressions = found.regressions
        result.baseline_gaps = {"unrecorded": len(found.unrecorded), "stale": len(found.stale)}
        gaps = found.unrecorded + found.stale
        if self.strict:
            result.regressions += [f"{gap} (--probe-baseline-strict)" for gap in gaps]
        else:
            result.notes = gaps

    def recorded_model(self, result: ClaimResult) -> dict[str, Any] | None:
        """The model the baseline's entry for ``result``'s claim was measured on, if it says."""
        from probecheck.report.baseline import baseline_key

        entry = (self.document or {}).get("claims", {}).get(baseline_key(result, self.path), {})
        model = entry.get("model") if isinstance(entry, dict) else None
        return model if isinstance(model, dict) else None


@dataclass
class RunSettings:
    """What a session decides for all its claims."""

    #: the network a spec runs on, under the session's options (``zoo.request.resolve_model``)
    model_for: Callable[[Spec], ModelRequest]
    report_dir: Path
    diagnostics: str = "failed"
    gate: BaselineGate | None = None


@dataclass
class Checked:
    """A claim checked: its result (also for an error), its tile, and the error if one stopped
    it (a ProbecheckError is the spec's or the user's: ``spec_error``)."""

    result: ClaimResult
    tile: Path | None = None
    error: BaseException | None = field(default=None, repr=False)

    @property
    def spec_error(self) -> bool:
        from probecheck.errors import ProbecheckError

        return isinstance(self.error, ProbecheckError)


def check_claim(
    claim: Claim,
    spec: Spec,
    inputs: SpecInputs,
    settings: RunSettings,
    *,
    tile_stem: str,
    prefetch: Callable[[Probe], None] | None = None,
) -> Checked:
    """Measure ``claim`` on its network, hold it to the baseline, draw its tile where the
    settings ask; ``prefetch(probe)`` runs the inputs it shares with other claims first.

    Never raises for the claim itself: an error comes back on :class:`Checked` with an error
    result, so that the shell records it before reporting it.
    """
    from probecheck.checks import evaluate_claim
    from probecheck.probe import shared_probe

    probe = None
    before = 0
    try:
        probe = shared_probe(**settings.model_for(spec).load_arguments())
        freeze_long_lived()
        before = probe.forward_passes
        if prefetch is not None:
            prefetch(probe)
        result = evaluate_claim(claim, spec, probe, inputs)
        result.forward_passes = probe.forward_passes - before  # the plan's included
        if settings.gate is not None:
            settings.gate.hold(result)
    except Exception as error:  # recorded for the summary and the JSON, then reported
        from probecheck.errors import ProbecheckError

        message = str(error) if isinstance(error, ProbecheckError) else repr(error)
        result = error_result(claim, spec, message)
        result.forward_passes = probe.forward_passes - before if probe is not None else 0
        return Checked(result, None, error)
    if result.regressions:
        result.passed = False
    tile = None
    if settings.diagnostics == "all" or (settings.diagnostics == "failed" and not result.passed):
        from probecheck.render.tiles import write_claim_tile

        baseline = _on_baseline_model(settings, claim, spec, inputs, result)
        tile = write_claim_tile(result, settings.report_dir, stem=tile_stem, baseline=baseline)
    return Checked(result, tile)


def error_result(claim: Claim, spec: Spec, message: str) -> ClaimResult:
    """The result of a claim that could not be measured: failed, with the error's message."""
    from probecheck.results import ClaimResult

    return ClaimResult(
        spec=str(spec.path or ""),
        claim_id=claim.id,
        layer=claim.layer,
        layer_path="",
        channels=claim.channel_labels,
        require=claim.require,
        checks=[],
        passed=False,
        about=claim.about or "",
        line=claim.line,
        error=message,
    )


def freeze_long_lived() -> None:
    """Move every object so far out of the garbage collector's sight (``gc.freeze``), once
    something that lives as long as the process was loaded: torch and its network (at a claim's
    check), a spec's claims and its network's layer table (at collection). With torch imported
    each full collection otherwise walks its ~1 M objects again (~0.1 s): pytest's own at the end
    of a run (``gc_collect_harder``), and the ones that collecting a few hundred claims triggers.
    A call costs nothing (the collector's lists are spliced); an unreachable cycle that exists at
    that moment is kept, never freed."""
    import gc

    gc.freeze()


def _on_baseline_model(
    settings: RunSettings, claim: Claim, spec: Spec, inputs: SpecInputs, result: ClaimResult
) -> ClaimResult | None:
    """The claim measured again on the model the baseline recorded, for the tile's side-by-side.

    Only for a claim that regressed, and only where that model is another one (its sha256
    differs) that loads here; otherwise None, with a note on ``result`` saying why its maps are
    not drawn (the regressed numbers are listed on the tile either way).
    """
    gate = settings.gate
    if not result.regressions or gate is None or gate.document is None:
        return None
    from probecheck.checks import evaluate_claim
    from probecheck.probe import shared_probe

    model = gate.recorded_model(result)
    if model is None or not model.get("arch") or not model.get("weights"):
        result.notes.append("the baseline records no model for this claim: its maps not drawn")
        return None
    if model.get("sha256") and model.get("sha256") == (result.model or {}).get("sha256"):
        return None  # the same weights: nothing to set beside the candidate's maps
    name = f"{model['arch']} / {model['weights']}"
    try:
        request = replace(  # the session's preprocessing for the spec, on the baseline's model
            settings.model_for(spec),
            arch=model["arch"],
            weights=str(model["weights"]),
            seed=int(model.get("seed") or 0),
        )
        probe = shared_probe(**request.load_arguments())
        if model.get("sha256") and probe.identity.sha256 != model["sha256"]:
            result.notes.append(
                f"the baseline's model {name} has other weights here than when it was "
                "recorded: its maps not drawn"
            )
            return None
        return evaluate_claim(claim, spec, probe, inputs)
    except Exception as error:  # a picture is not worth failing the run for; say why it is absent
        first = str(error).splitlines()[0] if str(error) else repr(error)
        result.notes.append(
            f"the baseline's model {name} did not load here ({first}): maps not drawn"
        )
        return None
