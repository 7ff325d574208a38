"""What each number a check measures means: its direction, its kind of tolerance, its threshold.

The one table the summary, the headline, the tile and the baseline read. A check kind names the
metrics it holds to thresholds (``CheckKind.metric_names`` in :mod:`probecheck.checks`); a number
no kind measured before gets its :class:`Metric` here, with its threshold key.

A *bounded* metric is a fraction-like number (a drop, an IoU): a move of 0.05 means the same
wherever it starts, so its baseline tolerance is absolute. An *unbounded* one (a ratio, a peak, a
region mean) scales with the channel: 171 → 170 is noise where 2.0 → 1.0 is not, so its tolerance
is relative to the recorded number. A drop is a fraction only up to 1: beyond it (a pre-ReLU
channel whose mean goes negative when the region is removed) it is ``1 + |altered| / mean`` and
moves with any offset of the channel's mean, so there it is held relative, as unbounded numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "METRICS",
    "SATURATION",
    "Metric",
    "compared_metrics",
    "saturation",
]


@dataclass(frozen=True)
class Metric:
    """One measured number: which way is better, and how far a baseline lets it move."""

    #: True where higher is better, False where lower is; None: recorded, never compared
    higher_is_better: bool | None
    #: a fraction-like number (absolute tolerance) or one that scales (relative tolerance)
    bounded: bool
    #: the default baseline tolerance, absolute or relative as ``bounded`` says
    tolerance: float
    #: its name in the summary table, where shorter than the metric's
    short: str = ""
    #: where a bounded metric stops being one (a drop beyond 1): above it, held as unbounded
    upper: float | None = None
    #: the key of a check's thresholds that holds it (``at_least`` holds ``drop``); None: none
    threshold: str | None = None
    #: a yes-or-no number per case (1 or 0, a rank): a population holds it on every image (or
    #: min_fraction of them), not by an interval
    categorical: bool = False
    #: the headline's words for a yes-or-no number, (held, broken), in place of the comparison
    verdict: tuple[str, str] | None = None
    #: where a lower-is-better number stops being better: a control drop below 0 is the control
    #: rising, no better for "the control does not drop" than 0, so a baseline compares it there
    floor: float | None = None

    @property
    def kind(self) -> str:
        """``abs`` or ``rel``: how the default tolerance is measured."""
        return "abs" if self.bounded else "rel"

    def default(self, recorded: float) -> tuple[str, float]:
        """The default tolerance (kind, value) for a number recorded as ``recorded``."""
        if self.bounded and self.upper is not None and recorded > self.upper:
            return "rel", UNBOUNDED_TOLERANCE
        return self.kind, self.tolerance


#: the default relative tolerance of unbounded numbers: a ratio may lose a fifth of itself
UNBOUNDED_TOLERANCE = 0.2

#: an unbounded number held by an ``at_least`` threshold saturates at this many times the
#: threshold: a ratio of 29,550 against a threshold of 5 says "the other image is silent", and
#: its size is the noise of a near-zero denominator, so a baseline compares numbers clipped there
SATURATION = 10.0


def saturation(metric: str, threshold: object) -> float | None:
    """Where ``metric`` stops carrying information for a baseline, given its check's threshold:
    ``SATURATION`` times an ``at_least`` threshold of an unbounded higher-is-better number;
    None where it never saturates (bounded numbers, no threshold)."""
    info = METRICS.get(metric)
    if info is None or info.bounded or not info.higher_is_better:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
        return None
    return SATURATION * float(threshold)


METRICS: dict[str, Metric] = {
    # compared with a baseline
    "drop": Metric(True, bounded=True, tolerance=0.05, upper=1.0, threshold="at_least"),
    "control_drop": Metric(
        False,
        bounded=True,
        tolerance=0.05,
        short="control",
        threshold="control_at_most",
        floor=0.0,
    ),
    "iou": Metric(True, bounded=True, tolerance=0.05, threshold="iou_at_least"),
    "peak_in": Metric(  # 1 inside the region, 0 outside
        True,
        bounded=True,
        tolerance=0.5,
        threshold="peak_in_region",
        categorical=True,
        verdict=("peak in region", "peak outside the region"),
    ),
    "ratio": Metric(True, bounded=False, tolerance=UNBOUNDED_TOLERANCE, threshold="ratio_at_least"),
    "rank": Metric(  # 1 = strongest; may slip one place
        False, bounded=True, tolerance=1, threshold="top_k", categorical=True
    ),
    # raw activations: recorded for the reader, moved by any retraining, never compared
    "mean_in": Metric(None, bounded=False, tolerance=UNBOUNDED_TOLERANCE),
    "mean_out": Metric(None, bounded=False, tolerance=UNBOUNDED_TOLERANCE),
    "mean_in_altered": Metric(None, bounded=False, tolerance=UNBOUNDED_TOLERANCE),
    "mean_in_other": Metric(None, bounded=False, tolerance=UNBOUNDED_TOLERANCE),
    "peak": Metric(None, bounded=False, tolerance=UNBOUNDED_TOLERANCE),
    "region_mean": Metric(None, bounded=False, tolerance=UNBOUNDED_TOLERANCE),
}


def compared_metrics() -> dict[str, Metric]:
    """The metrics a baseline holds a run to (those with a direction)."""
    return {name: m for name, m in METRICS.items() if m.higher_is_better is not None}
