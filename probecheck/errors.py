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
    """A spec file that cannot be read or does not validate; names file, line, column and key.

    One SpecError may carry every problem of a file (``problems``, sorted by line): a user fixes
    them all in one go instead of one per run. Its own fields are those of the first problem.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        where = path or "<spec>"
        if line is not None:
            where = f"{where}:{line}" if column is None else f"{where}:{line}:{column}"
        head = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(head, fix=fix)
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.detail = message
        self.problems: list[SpecError] = [self]
        self.uncounted = 0

    #: Most problems listed in one message; the rest are counted.
    SHOWN = 50

    @classmethod
    def gather(cls, problems: list[SpecError], *, uncounted: int = 0) -> SpecError:
        """One error for several problems of a file: sorted by line, repeats dropped.

        ``uncounted`` problems were found but not described (a file with thousands of errors
        is described only in part): they are added to the count of those not listed.
        """
        unique = {str(p): p for p in problems}
        ordered = sorted(unique.values(), key=lambda p: (p.line or 0, p.column or 0))
        first = ordered[0]
        if len(ordered) == 1 and not uncounted:
            return first
        error = cls(
            first.detail,
            path=first.path,
            line=first.line,
            column=first.column,
            key=first.key,
            fix=first.fix,
        )
        error.problems = ordered
        error.uncounted = uncounted
        return error

    def __str__(self) -> str:
        if len(self.problems) == 1 and not self.uncounted:
            return super().__str__()
        total = len(self.problems) + self.uncounted
        lines = [f"{self.path or '<spec>'}: {total} problems"]
        lines += [ProbecheckError.__str__(p) for p in self.problems[: self.SHOWN]]
        if total > self.SHOWN:
            lines.append(f"... and {total - self.SHOWN} more problems (fix these first)")
        return "\n".join(lines)


class WeightsNotFoundError(ProbecheckError):
    """The pretrained weights could be found neither offline nor downloaded."""


class LayerNotFoundError(ProbecheckError):
    """A layer name that matches no module path nor alias of the network."""
