"""What a case's row of the diagnostic tile shows, as data: the kinds declare it, render draws it.

A row is groups of panels (drawn close within a group, apart between groups; a group is never
split over two lines). A panel is one picture and the text lines above it:

- pictures: the :class:`Photo` of an image of the case with the region and control outlined, a
  channel's activation map on one of them (:class:`ChannelMap`, coloured over its own range or
  jointly with other maps), the channel's :class:`OcclusionMap`, and the :class:`Inset` that
  enlarges a region too small to see (drawn only where it is);
- text: a plain string, a run of :class:`Words` each with a tone (passing, failing, the
  region's or the control's colour, ...), a :class:`Judged` number against its threshold, or a
  :class:`Verdict` (words marked ✓ or ✗). The colours and marks are the render layer's.

Each kind's ``tile_row(check, case, evidence, index_base)`` (:class:`~probecheck.checks.kind.
CheckKind`) builds its row from these, with the helpers below; :func:`default_row` is the image and
the claimed channels' maps. The panels every kind gets after its own (the baseline model's maps,
the channels that would pass now) are declared here too, from the evidence alone.

No torch here, and nothing drawn: the render layer turns panels into pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from probecheck.metric_table import compared_metrics
from probecheck.results import CaseEvidence, CaseResult, ChannelResult, CheckResult, fmt

__all__ = [
    "MAX_ALTERNATIVE_PANELS",
    "ChannelMap",
    "Inset",
    "Judged",
    "OcclusionMap",
    "Panel",
    "Photo",
    "Row",
    "Verdict",
    "Words",
    "altered_name",
    "alternative_panels",
    "baseline_groups",
    "channel_head",
    "control_altered_name",
    "default_row",
    "image_group",
    "image_panel",
    "named",
    "pictured_channels",
]

MAX_ALTERNATIVE_PANELS = 3

#: which image of a case (and which of the evidence's maps: ``maps``, ``altered_maps``,
#: ``control_altered_maps``) a picture is of
Source = Literal["image", "altered", "control_altered"]
#: how render colours words: black, green, red, the region's and the control's outline colours,
#: the baseline model's colour, gray
Tone = Literal["plain", "pass", "fail", "region", "control", "baseline", "muted"]


# pictures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    """The image ``of`` (the case's image, its altered or control-altered twin), the region and
    the control outlined."""

    of: Source = "image"


@dataclass(frozen=True)
class ChannelMap:
    """A channel's activation map on the image ``on``, outlined, with its colour bar.

    Coloured over the joint range of the maps in ``scale`` (``(source, channel)`` pairs, this one
    among them), so that their brightness compares; over its own range where ``scale`` is empty.
    """

    channel: int
    on: Source = "image"
    scale: tuple[tuple[Source, int], ...] = ()


@dataclass(frozen=True)
class OcclusionMap:
    """The channel's occlusion sensitivity map over the image, the region outlined, its peak
    crossed (the evidence's sweep)."""

    channel: int


@dataclass(frozen=True)
class Inset:
    """The photo around the region, enlarged, where the region is too small to see on its panel
    (no panel otherwise); its caption (zoom, crop) is the drawing's."""


Picture = Photo | ChannelMap | OcclusionMap | Inset


# text ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """Text in one tone."""

    text: str
    tone: Tone = "plain"


@dataclass(frozen=True)
class Judged:
    """``drop 0.96 ≥ 0.5 ✓``: a number against its threshold, in the colour of whether it holds
    (a NaN never holds); with no threshold, the number alone."""

    name: str
    value: float
    threshold: float | None
    higher_is_better: bool = True


@dataclass(frozen=True)
class Verdict:
    """``peak in region ✓``: words and a mark, in the colour of ``ok``."""

    text: str
    ok: bool


#: one line of a panel's text: plain, runs of words, a judged number or a verdict
TextLine = str | tuple[Words, ...] | Judged | Verdict


@dataclass
class Panel:
    """One picture and the lines of text above it."""

    picture: Picture
    lines: list[TextLine] = field(default_factory=list)


#: a case's row: groups of panels
Row = list[list[Panel]]


def named(prefix: str, name: str | None, tone: Tone) -> tuple[Words, ...]:
    """``region eyes``: the name in the colour of what it names."""
    return (Words(prefix), Words(name or "?", tone))


def channel_head(ch: ChannelResult, suffix: str = "") -> tuple[Words, ...]:
    """``ch 3``, red where the channel fails the case."""
    return (Words(f"ch {ch.label}{suffix}", "plain" if ch.passed else "fail"),)


# the helpers kinds share -----------------------------------------------------------------------


def altered_name(case: CaseResult) -> str:
    """The image the case's image is compared with: its paired image, or how it was masked."""
    inputs = case.inputs
    if inputs.get("altered") or inputs.get("other"):
        return str(inputs.get("altered") or inputs["other"])
    return f"{inputs.get('mask_with') or '?'}-masked {inputs.get('region') or ''}".strip()


def control_altered_name(case: CaseResult) -> str:
    """The image with the control region removed: paired, or how it was masked."""
    inputs = case.inputs
    if inputs.get("control_altered"):
        return str(inputs["control_altered"])
    return f"{inputs.get('mask_with') or '?'}-masked {inputs.get('control') or ''}".strip()


def image_panel(case: CaseResult, extra: TextLine = "") -> Panel:
    """The case's image, named, with the names of its region and control (and ``extra``)."""
    inputs = case.inputs
    lines: list[TextLine] = [inputs.get("image") or "image"]
    if inputs.get("region"):
        lines.append(named("region ", inputs["region"], "region"))
    if inputs.get("control"):
        lines.append(named("control ", inputs["control"], "control"))
    if extra:
        lines.append(extra)
    return Panel(Photo(), lines)


def image_group(case: CaseResult, extra: TextLine = "") -> list[Panel]:
    """The image panel and, where the region is too small to see on it, its enlarged inset."""
    return [image_panel(case, extra), Panel(Inset())]


def default_row(
    check: CheckResult, case: CaseResult, evidence: CaseEvidence, index_base: int
) -> Row:
    """A kind without a row of its own: the image, then each claimed channel's map with its
    numbers."""
    groups = [image_group(case)]
    for ch in case.channels:
        numbers = ", ".join(f"{k} {fmt(v)}" for k, v in ch.values.items())
        groups.append([Panel(ChannelMap(ch.channel), [f"ch {ch.label}", numbers])])
    return groups


def pictured_channels(groups: Row) -> set[int]:
    """The channels (0-based) whose maps a row shows."""
    return {
        panel.picture.channel
        for group in groups
        for panel in group
        if isinstance(panel.picture, ChannelMap | OcclusionMap)
    }


# what every kind's row gets after its own ------------------------------------------------------


def alternative_panels(
    check: CheckResult, case: CaseResult, index_base: int, shown: set[int]
) -> list[Panel]:
    """Maps of the first channels that would pass this check now, not already in the row
    (``shown``: labels), each pictured as the evidence allows: its occlusion map, its maps on
    the image and the altered image at one scale, or its map on the image."""
    evidence = case.evidence
    if check.passed or case.passed or evidence is None:
        return []
    panels = []
    for label in check.alternatives[:MAX_ALTERNATIVE_PANELS]:
        index = label - index_base
        if label in shown or not 0 <= index < evidence.maps.shape[0]:
            continue
        head = (Words(f"would pass: ch {label}", "pass"),)
        lines: list[TextLine] = [head, f"on {case.inputs.get('image') or 'image'}"]
        if evidence.occlusion is not None:
            panels.append(Panel(OcclusionMap(index), lines))
        elif evidence.altered_maps is not None:
            scale: tuple[tuple[Source, int], ...] = (("image", index), ("altered", index))
            panels.append(Panel(ChannelMap(index, "image", scale), lines))
            altered = [head, f"on {altered_name(case)}"]
            panels.append(Panel(ChannelMap(index, "altered", scale), altered))
        else:
            panels.append(Panel(ChannelMap(index), lines))
    return panels


def _then_and_now(then: ChannelResult, now: ChannelResult | None) -> list[TextLine]:
    """``drop 0.97 → 0.41``: the numbers a baseline holds a claim to, on its model and now."""
    lines: list[TextLine] = []
    for key, metric in compared_metrics().items():
        if key in then.values:
            current = fmt(now.values.get(key, math.nan)) if now is not None else "?"
            name = metric.short or key
            then_words = Words(f"{name} {fmt(then.values[key])} ", "baseline")
            lines.append((then_words, Words(f"→ {current}", "fail")))
    return [(Words("baseline → now:", "muted"),), *lines] if lines else []


def baseline_groups(case: CaseResult, baseline: CaseResult) -> Row:
    """Per claimed channel, its maps on the baseline's model (one scale per channel), with its
    numbers then and now; drawn from the baseline case's evidence."""
    ev = baseline.evidence
    if ev is None:
        return []
    now = {ch.channel: ch for ch in case.channels}
    named_maps: list[tuple[Source, object, str]] = [
        ("image", ev.maps, case.inputs.get("image") or "image"),
        ("altered", ev.altered_maps, altered_name(case)),
        ("control_altered", ev.control_altered_maps, control_altered_name(case)),
    ]
    groups: Row = []
    for ch in baseline.channels:
        head = (Words(f"baseline model · ch {ch.label}", "baseline"),)
        numbers = _then_and_now(ch, now.get(ch.channel))
        if ev.occlusion is not None and 0 <= ch.channel < ev.occlusion.drops.shape[0]:
            lines: list[TextLine] = [head, "occlusion map", *numbers]
            groups.append([Panel(OcclusionMap(ch.channel), lines)])
            continue
        present = [(source, name) for source, maps, name in named_maps if maps is not None]
        scale = tuple((source, ch.channel) for source, _ in present)
        group = []
        for k, (source, name) in enumerate(present):
            lines = [head, f"on {name}", *(numbers if k == 0 else [])]
            group.append(Panel(ChannelMap(ch.channel, source, scale), lines))
        groups.append(group)
    return groups
