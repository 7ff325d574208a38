"""probecheck: pytest-style interpretability assertions about convolutional networks.

``probecheck.load(arch, weights)`` gives a :class:`~probecheck.probe.Probe`; importing this
package does not import torch until a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Probe", "__version__", "load"]

if TYPE_CHECKING:
    from probecheck.probe import Probe, load


def __getattr__(name: str) -> Any:
    if name in ("load", "Probe"):
        from probecheck import probe

        return getattr(probe, name)
    raise AttributeError(f"module 'probecheck' has no attribute {name!r}")
