"""Hostile YAML: nothing in a spec is constructed or run, and nothing in it can exhaust the
machine — every such file is refused with a SpecError that says why, before any tree is built.

(How fast the refusals are is measured in benchmarks/bench_hostile_yaml.py, not asserted here.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probecheck.errors import SpecError
from probecheck.spec import load_spec
from probecheck.spec.reading import MAX_BYTES, MAX_DEPTH, MAX_NODES


def refused(tmp_path: Path, text: str | bytes) -> SpecError:
    path = tmp_path / "hostile.yaml"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.fix, "every refusal says what to do"
    assert "Traceback" not in str(info.value)
    return info.value


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    """The classic alias bomb: 10**9 strings from a file of a few hundred bytes."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\nclaims: *a9\n"


PAYLOADS = [
    "claims: !!python/object/apply:os.system ['touch {marker}']\n",
    "claims: !!python/object/apply:subprocess.check_call [['touch', '{marker}']]\n",
    "claims: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
    'images: {{x: !!python/object/apply:builtins.exec [\'open(r"{marker}", "w")\']}}\n',
    "claims:\n  - !!python/object/apply:os.system\n    args: ['touch {marker}']\n",
    "model: !!python/name:os.system\nclaims: []\n",
    "model: !!python/module:os\nclaims: []\n",
    "claims: !custom/tag {{run: 'touch {marker}'}}\n",
    "? !!python/object/apply:os.system ['touch {marker}']\n: 1\nclaims: []\n",
    "base: &b !!python/object/apply:os.system ['touch {marker}']\nclaims: [{{<<: *b}}]\n",
    "%TAG !p! tag:yaml.org,2002:python/\n---\n"
    "claims: !p!object/apply:os.system ['touch {marker}']\n",
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_python_tags_are_errors_and_never_run(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "pwned"
    error = refused(tmp_path, payload.format(marker=marker))
    assert "is not allowed: spec files are plain YAML" in error.detail
    assert error.line is not None and error.column is not None
    assert error.fix is not None and error.fix.startswith("remove '!")
    assert not marker.exists(), "the payload ran"


def test_every_tag_of_a_file_is_listed(tmp_path: Path) -> None:
    text = "model: !!python/name:os.system\nclaims:\n  - !!python/object:os.Foo {}\n"
    error = refused(tmp_path, text)
    assert [(p.line, p.column) for p in error.problems] == [(1, 8), (3, 5)]
    assert "'!!python/name:os.system' is not allowed" in str(error)
    assert "'!!python/object:os.Foo' is not allowed" in str(error)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, billion_laughs())
    assert f"expands to more than {MAX_NODES} YAML nodes" in error.detail
    assert "aliases counted as the nodes they repeat" in error.detail
    assert error.line is not None and error.line <= 6  # stopped as it grew, not at the end


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    # anchors and aliases are plain YAML: a spec may share a region list (it then fails later,
    # for being an incomplete spec, not for its aliases)
    error = refused(tmp_path, billion_laughs(levels=2, width=3))
    assert "expands" not in str(error)


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, "claims: &a [*a]\n")
    assert "refers to the node that contains it" in error.detail
    assert (error.line, error.column) == (1, 13)


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    text = "claims:\n" + "  - {id: c, layer: conv1}\n" * (MAX_BYTES // 20)
    error = refused(tmp_path, text)
    assert "larger than 1 MiB; refused unread" in error.detail


def test_many_nodes_under_the_byte_limit_are_refused(tmp_path: Path) -> None:
    text = "claims: [" + ", ".join(["0"] * (MAX_NODES + 10)) + "]\n"
    assert len(text) < MAX_BYTES
    error = refused(tmp_path, text)
    assert "more than 20000 YAML nodes" in error.detail


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200, 100_000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    error = refused(tmp_path, "claims: " + "[" * depth + "]" * depth + "\n")
    # past libyaml's own limit (1000) its parser refuses first, with its own words
    assert f"nest deeper than {MAX_DEPTH} levels" in error.detail or (
        depth > 1000 and "maximum nesting depth" in error.detail
    )
    assert error.line == 1


def test_deep_block_nesting_is_refused(tmp_path: Path) -> None:
    text = "".join(f"{' ' * i}k{i}:\n" for i in range(MAX_DEPTH + 5))
    assert f"deeper than {MAX_DEPTH}" in refused(tmp_path, text).detail


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_not_read(tmp_path: Path) -> None:
    link = tmp_path / "zero.yaml"
    os.symlink("/dev/zero", link)
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(link)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("claims: [a\x00b]\n", "unacceptable character #x0000"),
        ("claims: \x1b[31m\n", "unacceptable character #x001b"),
        (b"claims: \xc3\x28\n", "not valid UTF-8"),
        ("claims: *nowhere\n", "found undefined alias"),
        ("id: 2024-02-30\nclaims: []\n", "a value cannot be read"),
        ("!!int ", "a value cannot be read as !!int ('')"),
    ],
)
def test_malformed_text(tmp_path: Path, text: str | bytes, words: str) -> None:
    error = refused(tmp_path, text)
    assert words in str(error)
    assert error.line == 1
