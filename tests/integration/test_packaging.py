"""The distribution's name and the install lines users copy: ``pytest-probecheck``, not the
``probecheck`` placeholder someone else holds on the package index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: ``pip install probecheck`` (the other project's placeholder), not ``pip install probecheck-x``
WRONG_INSTALL = re.compile(r"pip install (?:-U )?probecheck(?![\w-])")


def test_distributed_as_pytest_probecheck_with_the_short_import_and_command() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "pytest-probecheck"
    assert "Framework :: Pytest" in project["classifiers"]  # how pytest's plugin list finds it
    assert project["scripts"] == {"probecheck": "probecheck.cli:main"}
    assert project["entry-points"]["pytest11"] == {"probecheck": "probecheck.plugin"}


def test_no_install_line_names_the_placeholder_package() -> None:
    texts = [ROOT / "README.md", *ROOT.glob("docs/**/*"), *ROOT.glob("benchmarks/*.md")]
    texts += [ROOT / ".ci" / "run"]
    wrong = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in texts
        if path.is_file() and path.suffix not in (".png",)
        for match in WRONG_INSTALL.finditer(path.read_text(errors="replace"))
    ]
    assert wrong == []
    assert "pip install pytest-probecheck" in (ROOT / "README.md").read_text()


def test_readme_sets_up_a_virtual_environment_and_cpu_torch() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert "python3 -m venv .venv" in setup
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup
