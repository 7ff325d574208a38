"""Check a claim of a spec on a probed network: gather inputs, one batched forward, the metrics.

Every check is computed for every channel of the layer at once (the metrics are vectorised), so
when a claimed channel fails, the channels that would pass now come for free, with no extra
forward pass. Each check kind is one module here (``drop``, ``selective``, ``strongest``,
``occlusion``, ``compare``) declaring a :class:`~probecheck.checks.kind.CheckKind`, listed by
:mod:`probecheck.checks.registry`; :mod:`probecheck.checks.evaluate` runs a claim's checks.

The names below load on first use: the registry and the kinds' declarations load no torch (the
report and render layers read them), ``evaluate_claim`` and its kin do.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "evaluate_claim": "probecheck.checks.evaluate",
    "prefetch_claim": "probecheck.checks.evaluate",
    "random_twin": "probecheck.checks.evaluate",
    "MAX_ALTERNATIVES": "probecheck.checks.evaluate",
    "NULL_SEED": "probecheck.checks.evaluate",
    "SpecInputs": "probecheck.checks.spec_inputs",
    "CheckKind": "probecheck.checks.kind",
    "Measured": "probecheck.checks.kind",
    "combine": "probecheck.checks.kind",
    "_combine": "probecheck.checks.kind",
    "KINDS": "probecheck.checks.registry",
    "kind": "probecheck.checks.registry",
}

__all__ = sorted(name for name in _LAZY if not name.startswith("_"))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'probecheck.checks' has no attribute {name!r}")
    return getattr(import_module(module), "combine" if name == "_combine" else name)
