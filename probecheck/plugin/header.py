"""The candidate's identity on top of the log, registered only when specs are checked: the
model every claim runs on (arch, weights, sha256), or each spec's own after collection."""

from __future__ import annotations

from typing import Any

import pytest

from probecheck.plugin.collect import ClaimItem
from probecheck.plugin.session import shown


class ModelHeader:
    """``probecheck model: arch squeezenet1_0, weights …, sha256 …`` lines."""

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """The candidate's identity on top of the log: arch, weights and their sha256."""
        option = config.option
        if not (option.probe_arch or option.probe_weights):
            return ["probecheck: each spec's own model (listed after collection)"]
        from probecheck.zoo.fingerprint import describe_model

        weights = option.probe_weights or "each spec's own weights"
        arch = option.probe_arch or "(each spec's own)"
        seed = option.probe_seed if option.probe_seed is not None else 0
        lines = [f"probecheck model: {describe_model(arch, weights, seed)}"]
        return lines + _preprocess_header(option)

    def pytest_report_collectionfinish(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> list[str]:
        """Each spec's own model, where no override names one for all."""
        option = config.option
        if option.probe_arch or option.probe_weights:
            return []
        from probecheck.zoo.fingerprint import describe_model

        by_model: dict[str, list[str]] = {}
        for item in items:
            if isinstance(item, ClaimItem):
                spec = item.spec_file.spec
                line = describe_model(
                    spec.model.arch, spec.model.weights, spec.model.seed, spec.base_dir
                )
                names = by_model.setdefault(line, [])
                if shown(item.path) not in names:
                    names.append(shown(item.path))
        return [
            f"probecheck model: {line} ({', '.join(specs)})" for line, specs in by_model.items()
        ]


def _preprocess_header(option: Any) -> list[str]:
    if option.probe_preprocess:
        return [f"probecheck preprocessing: {option.probe_preprocess} (--probe-preprocess)"]
    return [
        "probecheck preprocessing: a spec's preprocess: block, else the checkpoint's own, "
        "else that of the spec's model"
    ]
