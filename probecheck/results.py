"""What a checked claim measured: every number, the threshold it was held to, and the verdict.

Results are plain dataclasses that round-trip through JSON (``to_dict``/``from_dict``), so a
result measured in an xdist worker reaches the session summary and the report intact. The arrays
behind a result (images, masks, activation maps) ride along in ``CaseResult.evidence`` for the
diagnostic tile and are never serialised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass
class CaseEvidence:
    """The arrays one case was measured on: enough to draw its diagnostic tile."""

    image: NDArray[np.uint8]
    maps: NDArray[np.float32]  # (C, h, w) activations of the whole layer on ``image``
    region: NDArray[np.bool_] | None = None  # at image resolution
    control: NDArray[np.bool_] | None = None
    altered: NDArray[np.uint8] | None = None
    altered_maps: NDArray[np.float32] | None = None
    control_altered: NDArray[np.uint8] | None = None
    control_altered_maps: NDArray[np.float32] | None = None
    #: an occlusion sweep (probecheck.occlusion.Occlusion): per-position drops of every channel
    occlusion: Any = None
    #: every channel's effect on this case (drop minus control drop; a check's main number),
    #: which a population check ranks channels by (its null)
    effect: NDArray[np.float64] | None = None


@dataclass
class ChannelResult:
    """One claimed channel in one case: its measured numbers and whether it passed."""

    channel: int  # 0-based
    label: int  # as the spec writes it (index_base)
    passed: bool
    values: dict[str, float] = field(default_factory=dict)
    reason: str = ""


@dataclass
class CaseResult:
    """One case of a check: per-channel results and the combined value held to the threshold."""

    inputs: dict[str, str | None]
    channels: list[ChannelResult]
    combined: dict[str, float]
    passed: bool
    evidence: CaseEvidence | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """``face → face_no_eyes, region eyes, control cheeks``: which images and regions."""
        i = self.inputs
        text = i.get("image") or "?"
        if i.get("altered"):
            text += f" → {i['altered']}"
        elif i.get("mask_with"):
            text += f" → {i['mask_with']}-masked"
        if i.get("region"):
            text += f", region {i['region']}"
        if i.get("control"):
            text += f", control {i['control']}"
        return text


@dataclass
class CheckResult:
    """One check (drop, selective, strongest) of a claim, over all its cases."""

    kind: str
    require: str
    thresholds: dict[str, Any]
    cases: list[CaseResult]
    passed: bool
    alternatives: list[int] = field(default_factory=list)  # labels of channels that pass now
    #: over an image set: the population statistic (probecheck.population.Population)
    population: Any = None

    def shown_cases(self) -> list[CaseResult]:
        """The cases a message lists: all of them, or over a set the worst images first."""
        if self.population is None:
            return self.cases
        by_image = {c.inputs.get("image"): c for c in self.cases}
        return [by_image[name] for name in self.population.worst if name in by_image]

    def headline(self, *, ascii: bool = False) -> str:
        """The worst case's combined numbers against the thresholds, each marked held or broken:
        ``drop 0.665 < 0.7 ✗, control 0.0438 ≤ 0.25 ✓`` (``ascii``: ``<``, ``<=``, ``[x]``).
        """
        if self.population is not None:
            return self.population.headline(ascii=ascii)
        if not self.cases:
            return self.kind
        from probecheck.checks.registry import kind as registered_kind  # its kinds import us

        kind = registered_kind(self.kind)
        parts = []
        for key, metric in kind.metrics.items():
            threshold_key = metric.threshold or ""
            if self.thresholds.get(threshold_key) is None:
                continue
            values = [c.combined[key] for c in self.cases if key in c.combined]
            if not values:
                continue
            higher = bool(metric.higher_is_better)
            worst = _worst(values, higher)
            threshold = self.thresholds[threshold_key]
            held = bool(worst >= threshold if higher else worst <= threshold)
            if metric.verdict is not None:
                parts.append(f"{metric.verdict[0 if held else 1]} {mark(held, ascii)}")
                continue
            op = relation(higher, held, ascii)
            name = metric.short or key
            parts.append(f"{name} {fmt(worst)} {op} {fmt(threshold)} {mark(held, ascii)}")
        if kind.headline is not None:
            parts += kind.headline(self, ascii)
        return ", ".join(parts) or self.kind


def relation(higher_is_better: bool, held: bool, ascii: bool) -> str:
    """The sign that makes ``measured SIGN threshold`` a true statement."""
    if higher_is_better:
        return (">=" if ascii else "≥") if held else "<"
    return ("<=" if ascii else "≤") if held else ">"


def mark(held: bool, ascii: bool) -> str:
    if ascii:
        return "[ok]" if held else "[x]"
    return "✓" if held else "✗"


def _worst(values: list[float], higher_is_better: bool) -> float:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if len(clean) < len(values):
        return math.nan
    return min(clean) if higher_is_better else max(clean)


def join(values: Any) -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"


def fmt(value: Any) -> str:
    """Numbers as a person reads them: 3 significant digits, nan and inf spelled out."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.4g}"
    return str(value)


@dataclass
class ClaimResult:
    """The verdict on one claim, with everything measured to reach it."""

    spec: str
    claim_id: str
    layer: str
    layer_path: str
    channels: list[int]  # labels, as the spec writes them
    require: str
    checks: list[CheckResult]
    passed: bool
    about: str = ""
    line: int = 0
    model: dict[str, Any] = field(default_factory=dict)
    forward_passes: int = 0
    occluded_passes: int = 0  # patched inputs an occlusion sweep ran, apart from forward_passes
    error: str = ""
    regressions: list[str] = field(default_factory=list)  # worse than the recorded baseline
    notes: list[str] = field(default_factory=list)  # e.g. no baseline entry: not compared
    #: against a baseline: ``unrecorded`` (parts of this claim it has no entry for) and ``stale``
    #: (its entries for this claim that match nothing measured), counted in the summary line
    baseline_gaps: dict[str, int] = field(default_factory=dict)

    def measured(self, *, ascii: bool = False) -> str:
        """Measured vs required for every check, e.g. ``drop 0.62 ≥ 0.5 ✓, control 0.4 > 0.3 ✗``."""
        if self.error:
            return f"error: {self.error.splitlines()[0]}"
        text = "; ".join(f"{c.kind}: {c.headline(ascii=ascii)}" for c in self.checks)
        if self.regressions:
            text += f"; regressed: {len(self.regressions)} value(s) worse than the baseline"
        return text

    def failure_message(self) -> str:
        """Per check, case and channel, what was measured against what was required."""
        if self.error:
            return f"{self.claim_id}: {self.error}"
        channels = f", channels {join(self.channels)}" if self.channels else ""
        lines = [f"claim {self.claim_id} ({self.layer}{channels}, require {self.require})"]
        for check in self.checks:
            mark = "passed" if check.passed else "FAILED"
            thresholds = ", ".join(
                f"{k} {join(v) if isinstance(v, list) else fmt(v)}"
                for k, v in check.thresholds.items()
                if v is not None
            )
            lines.append(f"  {check.kind} {mark} ({thresholds})")
            if check.population is not None:
                lines += [f"    {line}" for line in check.population.describe()]
                shown = check.shown_cases()
                if len(shown) < len(check.cases):
                    lines.append(f"    the {len(shown)} worst of {len(check.cases)} images:")
            for case in check.shown_cases():
                lines.append(f"    case {case.describe()}: {'ok' if case.passed else 'fails'}")
                for ch in case.channels:
                    numbers = ", ".join(f"{k} {fmt(v)}" for k, v in ch.values.items())
                    verdict = "ok" if ch.passed else "fails"
                    reason = f" — {ch.reason}" if ch.reason else ""
                    lines.append(f"      channel {ch.label}: {numbers} → {verdict}{reason}")
                if self.require == "mean" and case.combined:
                    combined = ", ".join(f"mean {k} {fmt(v)}" for k, v in case.combined.items())
                    lines.append(f"      combined: {combined}")
            if not check.passed:
                if check.alternatives:
                    lines.append(
                        f"    the feature moved? channels of {self.layer} that pass this check "
                        "now: " + ", ".join(str(c) for c in check.alternatives)
                    )
                else:
                    lines.append(f"    no channel of {self.layer} passes this check now")
        if self.regressions:
            lines.append("  regressed against the baseline:")
            lines += [f"    {line}" for line in self.regressions]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; nan and inf become None and the strings 'inf'/'-inf'.

        One walk over the fields (what ``dataclasses.asdict`` then :func:`to_jsonable` give,
        evidence left out), without ``asdict``'s deep copies: this runs for every claim.
        """
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClaimResult:
        """Inverse of :meth:`to_dict` (evidence is not kept); shares no list or dict with
        ``data``. Cases, the bulk of a claim over a set, are read field by field."""
        checks = []
        for check in data.get("checks", []):
            rest = _unjson({k: v for k, v in check.items() if k not in ("cases", "population")})
            population = check.get("population")
            if population is not None:
                from probecheck.population import Population

                population = Population.from_dict(_unjson(population))
            cases = [_case_from_json(case) for case in check["cases"]]
            checks.append(CheckResult(**rest, cases=cases, population=population))
        known = {f.name for f in fields(cls)} - {"checks"}
        top = _unjson({k: v for k, v in data.items() if k in known})
        return cls(**top, checks=checks)


def _case_from_json(case: dict[str, Any]) -> CaseResult:
    """A case of :meth:`ClaimResult.to_dict` read back: its numbers made floats again."""
    return CaseResult(
        inputs=dict(case["inputs"]),
        channels=[
            ChannelResult(**{**channel, "values": _numbers_from_json(channel["values"])})
            for channel in case["channels"]
        ],
        combined=_numbers_from_json(case["combined"]),
        passed=case["passed"],
    )


def _numbers_from_json(values: dict[str, Any]) -> dict[str, float]:
    return {name: number_from_json(value) for name, value in values.items()}


def _plain(value: Any) -> Any:
    """``to_jsonable(asdict(value))`` for results, a case's evidence left out."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most leaves: as they are
        return value
    if kind is float:  # the other most: finite, or written as to_jsonable writes it
        return value if -math.inf < value < math.inf else to_jsonable(value)
    names = _field_names(kind)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return to_jsonable(value)


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """The fields :func:`_plain` writes of a dataclass (a case's evidence left out); None for
    other types. Looked up once per class: ``to_dict`` runs for every claim."""
    if kind not in _FIELD_NAMES:
        dataclass_fields = getattr(kind, "__dataclass_fields__", None)
        skip = "evidence" if issubclass(kind, CaseResult) else None
        _FIELD_NAMES[kind] = (
            tuple(f.name for f in fields(kind) if f.name != skip)
            if dataclass_fields is not None and not issubclass(kind, type)
            else None
        )
    return _FIELD_NAMES[kind]


def to_jsonable(value: Any) -> Any:
    """Plain JSON types, recursively: nan → None, ±inf → "inf"/"-inf", numpy scalars → Python."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _unjson(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        numeric = key in ("values", "combined")
        return {k: (number_from_json(v) if numeric else _unjson(v, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v, key) for v in value]
    return value


def number_from_json(value: Any) -> float:
    """Inverse of :func:`to_jsonable` for one number."""
    if value is None:
        return math.nan
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return value
