"""Spec text that probecheck writes itself (``find``'s claims, over one image or a set).

One writer for every check kind: a claim is plain data in the spec language, each check a
block of one-line values, and the text goes back through :func:`~probecheck.spec.loader.parse_spec`
before anyone sees it, so what ``find`` prints is a spec that loads — by the same rules as a
hand-written file, whatever kinds it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from probecheck.spec.kinds import CHECK_NAMES
from probecheck.spec.loader import parse_spec
from probecheck.spec.models import Spec

__all__ = ["checked_spec_text", "claim_lines", "flow", "spec_text"]

#: top-level keys written as a block of named one-line values
SECTIONS = ("images", "sets", "regions")


def flow(value: Any) -> str:
    """One YAML value on one line (flow style), quoted only where YAML needs it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def claim_lines(claim: Mapping[str, Any], comments: Sequence[str] = ()) -> list[str]:
    """``  - id: …`` and the claim's keys in the order given; a check (any registered kind) as
    a block of one-line values, anything else on one line."""
    lines = [f"  # {comment}" for comment in comments]
    for i, (key, value) in enumerate(claim.items()):
        lead = "  - " if i == 0 else "    "
        if key in CHECK_NAMES and isinstance(value, Mapping):
            lines.append(f"{lead}{key}:")
            lines += [f"      {k}: {flow(v)}" for k, v in value.items()]
        else:
            lines.append(f"{lead}{key}: {flow(value)}")
    return lines


def spec_text(
    comments: Sequence[str],
    top: Mapping[str, Any],
    claims: Sequence[tuple[Sequence[str], Mapping[str, Any]]],
) -> str:
    """A whole spec: comment lines, the top-level keys (``images``/``sets``/``regions`` as
    blocks, the rest on one line), then each claim with its own comment lines."""
    lines = [f"# {comment}" for comment in comments]
    for key, value in top.items():
        if key in SECTIONS and isinstance(value, Mapping):
            lines.append(f"{key}:")
            lines += [f"  {name}: {flow(entry)}" for name, entry in value.items()]
        else:
            lines.append(f"{key}: {flow(value)}")
    lines.append("claims:")
    for claim_comments, claim in claims:
        lines += claim_lines(claim, claim_comments)
    return "\n".join(lines) + "\n"


def checked_spec_text(
    comments: Sequence[str],
    top: Mapping[str, Any],
    claims: Sequence[tuple[Sequence[str], Mapping[str, Any]]],
    saved_in: Path,
    shown: str,
) -> tuple[str, Spec]:
    """:func:`spec_text`, and the spec it is, loaded as if saved in the directory ``saved_in``
    (its relative paths resolve there): a writer's mistake is a SpecError naming ``shown``."""
    text = spec_text(comments, top, claims)
    return text, parse_spec(text, Path(saved_in) / "found.yaml", shown)
