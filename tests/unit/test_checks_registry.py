"""The registry of check kinds: it lists the same kinds as the spec language, in the same order,
and refuses to load where the two differ (a kind the spec knows and no module measures, or the
other way round)."""

from __future__ import annotations

import importlib.util

import pytest

from probecheck.checks import registry
from probecheck.errors import ProbecheckError
from probecheck.spec import kinds as spec_kinds


def test_the_registry_lists_the_spec_languages_kinds_in_order() -> None:
    assert tuple(registry.KINDS) == spec_kinds.CHECK_NAMES
    assert all(registry.kind(name).name == name for name in spec_kinds.CHECK_NAMES)


@pytest.mark.parametrize(
    ("registered", "spec", "message"),
    [
        (
            ("drop",),
            ("drop", "sweep"),
            r"not registered in probecheck/checks/registry.py: \['sweep'",
        ),
        (
            ("drop", "sweep"),
            ("drop",),
            r"not in probecheck/spec/kinds/__init__.py's SPEC_KINDS: \['sweep'",
        ),
        (("selective", "drop"), ("drop", "selective"), "differ in order"),
    ],
)
def test_lists_that_differ_are_refused(registered, spec, message) -> None:
    with pytest.raises(RuntimeError, match=message):
        registry.check_against_spec(registered, spec)
    registry.check_against_spec(spec, spec)


def _load_registry_afresh() -> None:
    """Run the registry module's code again (a copy, leaving the imported one as it is)."""
    found = importlib.util.find_spec("probecheck.checks.registry")
    assert found is not None and found.loader is not None
    found.loader.exec_module(importlib.util.module_from_spec(found))


def test_the_registry_refuses_to_load_where_the_spec_knows_a_kind_it_lacks(monkeypatch) -> None:
    monkeypatch.setattr(spec_kinds, "CHECK_NAMES", (*spec_kinds.CHECK_NAMES, "sweep"))
    with pytest.raises(RuntimeError, match="sweep"):
        _load_registry_afresh()


def test_the_registry_refuses_to_load_where_the_spec_lacks_a_kind(monkeypatch) -> None:
    monkeypatch.setattr(spec_kinds, "CHECK_NAMES", spec_kinds.CHECK_NAMES[:-1])
    with pytest.raises(RuntimeError, match=spec_kinds.CHECK_NAMES[-1]):
        _load_registry_afresh()


def test_an_unknown_kind_names_the_registry() -> None:
    with pytest.raises(ProbecheckError, match="not registered") as raised:
        registry.kind("sweep")
    assert "probecheck/checks/registry.py" in str(raised.value.fix)
