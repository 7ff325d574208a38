"""Why a file could not be read as an image, in words: shared by the spec layer (which reads only
headers, at collection) and the zoo's image reader (which decodes), so a broken file gets the same
message whichever finds it first. Pillow only; no numpy, no torch."""

from __future__ import annotations

from pathlib import Path

#: leading bytes of the formats a user is likely to give, to tell "damaged PNG" from "not an image".
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"RIFF", "WebP"),
)


def unreadable_reason(path: Path, error: BaseException) -> str:
    """What is wrong with ``path``, given the error Pillow (or the OS) raised reading it."""
    from PIL import UnidentifiedImageError

    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    if isinstance(error, UnidentifiedImageError):
        try:
            with path.open("rb") as handle:
                head = handle.read(16)
            size = path.stat().st_size
        except OSError:
            return str(error) or type(error).__name__
        kind = next((name for magic, name in SIGNATURES if head.startswith(magic)), None)
        if kind:
            return f"it starts as a {kind} file does, but is truncated or damaged"
        return f"it is not an image file ({size:,} bytes in no format Pillow knows)"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "truncated" in text.lower() or isinstance(error, (EOFError, SyntaxError)):
        return f"the file is truncated or damaged ({text})"
    return text
