"""Which weights a run uses, told without loading them: for the session header of the plugin.

Loading a network imports torch; the header is printed before any claim runs and must not. A
named zoo entry is known by its published sha256, a checkpoint by the sha256 of its file.
"""

from __future__ import annotations

from pathlib import Path

from probecheck.zoo import store
from probecheck.zoo.weights import registered


def weights_sha256(weights: str, base_dir: Path | None = None) -> str | None:
    """The sha256 of ``weights`` (a zoo entry or a checkpoint file); None where it is unknown."""
    entry = registered(weights)
    if entry is not None:
        return entry.sha256
    path = Path(weights) if base_dir is None else base_dir / weights
    if path.is_file():
        return store.sha256_of(path)
    return None


def describe_model(arch: str, weights: str, seed: int, base_dir: Path | None = None) -> str:
    """``arch squeezenet1_0, weights candidate.pt, sha256 …``: one line for logs."""
    if weights == "random":
        return f"arch {arch}, weights random (seed {seed}), sha256 of the state when loaded"
    sha = weights_sha256(weights, base_dir)
    return f"arch {arch}, weights {weights}, sha256 {sha or 'unknown until loaded'}"
