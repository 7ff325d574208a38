"""User-facing errors: each says what went wrong, where, and how to fix it.

The CLI and the pytest plugin print these as one short message, never a traceback.
"""

from __future__ import annotations


class ProbecheckError(Exception):
    """An error caused by the user's input or environment, with a fix to suggest."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message}\n  fix: {self.fix}"


class SpecError(ProbecheckError):
    """A spec file that cannot be read or does not validate; names file, line and key."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        where = path or "<spec>"
        if line is not None:
            where = f"{where}:{line}"
        head = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(head, fix=fix)
        self.path = path
        self.line = line
        self.key = key
        self.detail = message


class WeightsNotFoundError(ProbecheckError):
    """The pretrained weights could be found neither offline nor downloaded."""


class LayerNotFoundError(ProbecheckError):
    """A layer name that matches no module path nor alias of the network."""
