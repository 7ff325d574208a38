"""Fuzzing the spec loader: whatever a file holds, it ends as a valid spec or a clean SpecError.

Hypothesis feeds random YAML text, random YAML documents built from the spec's own words, and
random mutations (text and structure) of the shipped specs to ``load_spec`` and then to the
check against the network (layers, channels, arch, weights), as collection does. Any other
exception fails the test. Every SpecError must name the file and carry a fix.

Settings are pinned (``derandomize=True``, no example database) so every run tries the same
inputs; each test prints how many it tried and how they ended (``pytest -s`` or ``-rP`` shows it).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from probecheck.errors import SpecError
from probecheck.spec import load_spec
from probecheck.validate import check_against_network

pytestmark = pytest.mark.slow  # hypothesis tries hundreds of documents per test

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "specs").glob("*.yaml"))

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
)

#: The words of the spec language: random documents made of them get past YAML into validation.
KEYS = [
    "model", "arch", "weights", "seed", "index_base", "images", "regions", "claims", "id",
    "about", "layer", "channels", "require", "drop", "selective", "strongest", "image",
    "altered", "mask_with", "region", "control", "control_altered", "at_least",
    "control_at_most", "ratio_at_least", "iou_at_least", "quantile", "in", "top_k", "cases",
    "boxes", "ellipses", "polygons", "mask", "face", "eyes", "astronaut", "flag", "edge",
    "occlusion", "patch", "stride", "fill", "peak_in_region", "preprocess", "size",
    "channel_order", "pixel_scale", "std",
]  # fmt: skip
WORDS = [
    *KEYS, "squeezenet1_0", "squeezenet1_1", "resnet18", "deep-compression", "random",
    "DEFAULT", "conv1", "relu_conv1", "fire6-relu_squeeze1x1", "fire9-squeeze1x1",
    "features.3", "classifier.1", "pool10", "all", "any", "mean", "inpaint", "blur", "gray",
    "noise", "../fixtures/astronaut_face.png", "../fixtures/astronaut.png", "missing.png",
    "../fixtures/README.md", "x.pt", "os:getcwd", "no.such.module:f",
]  # fmt: skip
#: Pieces of YAML syntax, good and bad, for random text.
TOKENS = [
    *(f"{k}: " for k in KEYS), *WORDS, "\n", "\n  ", "\n    ", "  ", "- ", "-", "{", "}", "[",
    "]", ", ", ": ", ":", "? ", "&a ", "*a", "&b ", "*b", "<<: *a", "!!python/name:os.getcwd ",
    "!!python/object/apply:os.getcwd []", "!!binary ", "!!set ", "!!omap ", "!!str ", "!!int ",
    "!!timestamp ", "!custom ", "'", '"', "'quoted: text'", '"\\0"', '"\\u00e9"', "# c", "\t",
    "---\n", "...\n", "|\n  ", ">-\n  ", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\x85", "\u2028",
    "\ufeff", "é", "眼", "🙂", "0", "1", "-1", "29", "96", "1e309", "-0.0", ".nan", "-.inf",
    "0x1F", "0o17", "1_000", "2024-02-30", "2024-01-01 10:00:00", "~", "null", "yes", "off",
    "true", "[]", "{}", "[0, 0, 10, 10]", "[[0, 0, 300, 300]]", "[[5, 5, 1, 1]]",
]  # fmt: skip


# ------------------------------------------------------------------------------------ outcome


@pytest.fixture(scope="module", autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis keeps a cache in ./.hypothesis: keep it in a temporary directory instead."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each input is written: specs/fuzz.yaml beside a link to the real fixtures."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "specs").mkdir()
    (root / "fixtures").symlink_to(REPO / "fixtures", target_is_directory=True)
    return root / "specs" / "fuzz.yaml"


def outcome(path: Path, text: str | bytes) -> str:
    """'valid' or 'error' (a clean SpecError); any other exception propagates and fails."""
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        spec = load_spec(path)
        check_against_network(spec, spec.model.arch, _weights(spec.model.weights, path))
    except SpecError as error:
        for problem in error.problems:  # each names the file and says what to do
            assert problem.path == str(path)
            assert problem.fix, problem
            assert str(problem).startswith(str(path))
        assert str(error).startswith(str(path))
        return "error"
    return "valid"


def _weights(weights: str, path: Path) -> str:
    """As the plugin resolves it: a checkpoint named relative to the spec."""
    beside = path.parent / weights
    return str(beside) if beside.is_file() else weights


def report(name: str, counts: Counter[str]) -> None:
    tried = sum(counts.values())
    print(
        f"\nfuzz {name}: {tried} inputs tried; {counts['valid']} valid specs, "
        f"{counts['error']} clean spec errors, 0 other exceptions"
    )
    assert tried == counts["valid"] + counts["error"]
    assert tried >= FUZZ.max_examples // 2, "hypothesis ran far fewer inputs than asked"


# ----------------------------------------------------------------------------- random inputs


def test_random_yaml_text(spec_file: Path) -> None:
    counts: Counter[str] = Counter()
    pieces = st.one_of(st.sampled_from(TOKENS), st.text(max_size=8))

    @FUZZ
    @given(st.lists(pieces, max_size=40).map("".join))
    def check(text: str) -> None:
        counts[outcome(spec_file, text)] += 1

    check()
    report("random YAML text", counts)


def test_random_bytes(spec_file: Path) -> None:
    counts: Counter[str] = Counter()

    @FUZZ
    @given(st.binary(max_size=200))
    def check(data: bytes) -> None:
        counts[outcome(spec_file, data)] += 1

    check()
    report("random bytes", counts)


scalars = st.one_of(
    st.sampled_from(WORDS),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0, 1, 15, 29, 47, 48, 63, 64, 95, 96, 1000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6),
    ),
    max_leaves=15,
)


DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(document: Any) -> str:
    return yaml.dump(document, Dumper=DUMPER, allow_unicode=True, sort_keys=False)


def test_random_yaml_documents(spec_file: Path) -> None:
    counts: Counter[str] = Counter()

    @FUZZ
    @given(st.dictionaries(st.sampled_from(KEYS), documents, max_size=6))
    def check(document: dict[str, Any]) -> None:
        counts[outcome(spec_file, _dump(document))] += 1

    check()
    report("random YAML documents", counts)


# -------------------------------------------------------------------- mutations of real specs


def _mutate_text(text: str, data: st.DataObject) -> str:
    """One random edit of the text: lines deleted, repeated, swapped, re-indented, truncated,
    values replaced or retyped, tokens, tabs, unicode, anchors and aliases injected."""
    lines = text.splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1))
    j = data.draw(st.integers(0, len(lines) - 1))
    op = data.draw(
        st.sampled_from(
            ["delete", "repeat", "swap", "indent", "dedent", "truncate", "value", "insert", "tab"]
        )
    )
    line = lines[i]
    if op == "delete":
        del lines[i]
    elif op == "repeat":
        lines.insert(j, line)
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "indent":
        lines[i] = "  " + line
    elif op == "dedent":
        lines[i] = line[2:] if line.startswith("  ") else line
    elif op == "truncate":
        cut = data.draw(st.integers(0, len(text)))
        return text[:cut]
    elif op == "value" and ": " in line:
        key, _, _ = line.partition(": ")
        value = data.draw(st.sampled_from(TOKENS) | scalars.map(lambda v: _dump(v).strip()))
        lines[i] = f"{key}: {value}\n"
    elif op == "insert":
        at = data.draw(st.integers(0, len(line)))
        lines[i] = line[:at] + data.draw(st.sampled_from(TOKENS)) + line[at:]
    elif op == "tab":
        lines[i] = "\t" + line.lstrip(" ")
    return "".join(lines)


def test_text_mutations_of_the_shipped_specs(spec_file: Path) -> None:
    counts: Counter[str] = Counter()
    texts = [p.read_text(encoding="utf-8") for p in SHIPPED]

    @FUZZ
    @given(st.sampled_from(texts), st.integers(1, 4), st.data())
    def check(text: str, edits: int, data: st.DataObject) -> None:
        for _ in range(edits):
            text = _mutate_text(text, data) or "\n"
        counts[outcome(spec_file, text)] += 1

    check()
    report("text mutations of specs/", counts)
    assert counts["valid"] and counts["error"], "mutations should give both outcomes"


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a loaded document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutate_tree(document: Any, data: st.DataObject) -> Any:
    """One random edit of the document: a key deleted or added, a value replaced or retyped."""
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    op = data.draw(st.sampled_from(["delete", "replace", "insert", "retype"]))
    if op == "delete":
        del parent[last]
    elif op == "replace":
        parent[last] = data.draw(documents)
    elif op == "insert" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(KEYS))] = data.draw(documents)
    elif op == "insert":
        parent.insert(last, data.draw(documents))
    else:  # the same value as another type: 15 -> "15", [15] -> 15, {...} -> [...]
        value = parent[last]
        if isinstance(value, dict):
            parent[last] = list(value.values())
        elif isinstance(value, list):
            parent[last] = value[0] if value else {}
        elif isinstance(value, str):
            parent[last] = [value]
        else:
            parent[last] = str(value)
    return document


def test_structure_mutations_of_the_shipped_specs(spec_file: Path) -> None:
    counts: Counter[str] = Counter()
    loaded = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in SHIPPED]

    @FUZZ
    @given(st.sampled_from(range(len(loaded))), st.integers(1, 3), st.data())
    def check(which: int, edits: int, data: st.DataObject) -> None:
        document = copy.deepcopy(loaded[which])
        for _ in range(edits):
            document = _mutate_tree(document, data)
        counts[outcome(spec_file, _dump(document))] += 1

    check()
    report("structure mutations of specs/", counts)
    assert counts["valid"] and counts["error"], "mutations should give both outcomes"
