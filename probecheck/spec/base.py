"""What every model of the spec language shares: the config, the rule errors, the field types.

The models are pydantic v2 with ``extra="forbid"`` so that a misspelt key is an error, never a
silently ignored claim. Rules that span several fields raise :class:`RuleError`, which carries the
location of the offending key relative to the model, so that the loader can point at its line.
No torch, no numpy here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Channel", "Loc", "Name", "Number", "RuleError", "RuleErrors"]

Loc = tuple[str | int, ...]

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Channel = Annotated[int, Field(strict=True)]
Name = Annotated[str, Field(min_length=1)]


class RuleError(ValueError):
    """A rule spanning several fields failed; ``loc`` is relative to the model that raised it."""

    def __init__(self, message: str, *, loc: Loc = (), fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = tuple(loc)
        self.fix = fix


class RuleErrors(ValueError):
    """Several rules failed at once (pydantic keeps one error per validator: this carries all)."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class _Model(BaseModel):
    """Shared config: unknown keys are errors; ``in_`` is ``in`` in YAML and dumps."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    #: a case's fields that name an image, a region or a set: field -> the section defining it
    #: (a case model with other such fields lists its own)
    _references: ClassVar[dict[str, str]] = {"image": "images", "region": "regions", "set": "sets"}


def _resolve(base_dir: Path, written: str) -> Path:
    """``written`` made absolute against ``base_dir`` and normalised (symlinks kept)."""
    return Path(os.path.normpath(base_dir / Path(written).expanduser()))


def _suggest(name: str, known: Sequence[str]) -> str:
    """A "(did you mean 'x'?)" hint when a close match exists, else an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
