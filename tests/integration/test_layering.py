"""The package's layers: a lower layer never imports a higher one, and torch stays out of the
code paths that do not run a network (the plugin at import, specs, reports, ``--help``, the
modules a rerun answered by the persistent cache goes through)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "probecheck"

#: module (or package) → its layer (docs/architecture.md, "The layers"); lower numbers never import
#: higher ones.
LAYERS = {
    "errors": 0,
    "atomic": 0,
    "disk_cache": 0,
    "image_files": 0,
    "spec": 1,
    "zoo": 2,
    "probe": 3,
    "validate": 3,
    "regions": 4,
    "masking": 4,
    "metrics": 4,
    "metric_table": 4,
    "results": 4,
    "checks": 4,
    "occlusion": 4,
    "cone": 4,
    "plan": 4,
    "population": 4,
    "stats": 4,
    "find": 4,
    "find_set": 4,
    "render": 5,
    "runner": 5,
    "report": 5,
    "plugin": 6,
    "fixture": 6,
    "cli": 6,
    "__main__": 6,
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "probecheck" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    own = layer_of("probecheck." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    assert own is not None, f"{path} has no layer: add it to LAYERS"
    higher = [m for m in imports_of(path) if (layer_of(m) or 0) > own]
    assert not higher, f"{path.name} (layer {own}) imports {higher}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "code",
    [
        "import probecheck, probecheck.plugin",
        "import probecheck.spec, probecheck.report, probecheck.render",
        "import probecheck.cli; probecheck.cli.build_parser()",
        # a rerun answered by the persistent cache runs these, and must not pay for torch
        "import probecheck.probe, probecheck.checks.evaluate, probecheck.occlusion, "
        "probecheck.validate, probecheck.plan, probecheck.zoo.layer_table",
    ],
)
def test_light_paths_do_not_import_torch(code: str) -> None:
    check = f"{code}\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", check], check=True)
