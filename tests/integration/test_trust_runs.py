"""Whole runs on copies of the shipped specs and fixtures (plus a failing claim): a run writes
its report and nothing else — not beside the specs, not in the fixtures, not in the baseline,
not in a cache — and two runs, serial or on two xdist workers, give the same numbers, bit for
bit. The CLI writes only the files it is told to."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import probecheck.probe

REPO = Path(__file__).resolve().parents[2]

#: pytest's own cache directory (``-p no:cacheprovider`` turns it off); it is not probecheck's
PYTEST_CACHE = ".pytest_cache"
#: what a results document holds besides measured numbers: when, and how much work it took
BOOKKEEPING = ("created", "forward_passes")

Snapshot = dict[str, tuple[int, int, str]]


def snapshot(root: Path) -> Snapshot:
    """Every file under ``root``: (size, mtime in ns, sha256), by relative path."""
    return {
        str(path.relative_to(root)): (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths created, deleted or touched in any way."""
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


@pytest.fixture
def project(pytester: pytest.Pytester, weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of specs/ and fixtures/, one failing claim more, and a fresh network per run."""
    import probecheck.checks
    import probecheck.render.tiles
    import probecheck.report.summary  # noqa: F401  (imported once, before pytester's runs)

    monkeypatch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.delenv("PROBECHECK_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)  # a cache would land in the snapshot
    monkeypatch.delenv("CI", raising=False)
    for name in ("specs", "fixtures"):
        shutil.copytree(REPO / name, pytester.path / name)
    shutil.copy(REPO / "docs" / "failing_example.yaml", pytester.path / "specs" / "failing.yaml")
    return pytester.path


def shipped_claims() -> int:
    """How many claims specs/ holds today (the runs below add one failing claim to them)."""
    from probecheck.spec import load_spec

    return sum(len(load_spec(path).claims) for path in (REPO / "specs").glob("*.y*ml"))


def run_fresh(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str):
    """An in-process run with no network loaded yet, so nothing comes from an earlier run."""
    monkeypatch.setattr(probecheck.probe, "_LOADED", {})
    return pytester.runpytest("-p", "no:randomly", "--probe-specs", "specs", *args)


def test_a_run_writes_its_report_and_nothing_else(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = snapshot(project)
    recorded = run_fresh(
        pytester, monkeypatch, "--probe-baseline", "base.json", "--probe-baseline-update"
    )
    recorded.assert_outcomes(passed=shipped_claims(), failed=1)
    after_update = snapshot(project)
    written = changed(start, after_update)
    assert "base.json" in written  # the one file the explicit update option asks for
    assert all(
        p == "base.json" or p.startswith(("probe-report/", PYTEST_CACHE + "/")) for p in written
    ), written

    checked = run_fresh(
        pytester, monkeypatch, "--probe-baseline", "base.json", "--probe-diagnostics", "all"
    )
    checked.assert_outcomes(passed=shipped_claims(), failed=1)
    written = changed(after_update, snapshot(project))
    assert "probe-report/results.json" in written
    tiles = [p for p in written if p.endswith(".png")]
    assert len(tiles) == shipped_claims() + 1  # diagnostics all: every claim
    outside = [p for p in written if not p.startswith(("probe-report/", PYTEST_CACHE + "/"))]
    assert outside == []  # specs, fixtures, the baseline and any cache untouched


def measured(report: Path) -> str:
    """results.json without its bookkeeping (when it was written, how many passes it took)."""
    document = json.loads(report.read_text())
    for key in BOOKKEEPING:
        document.pop(key)
    for claim in document["claims"]:
        claim.pop("forward_passes")
    return json.dumps(document, indent=1, sort_keys=True)


def test_two_runs_and_two_workers_give_the_same_numbers_bit_for_bit(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    texts = []
    for report in ("first", "second"):
        run_fresh(pytester, monkeypatch, "-p", "no:cacheprovider", "--probe-report", report)
        texts.append(measured(project / report / "results.json"))
    workers = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--probe-specs", "specs", "--probe-report", "workers"
    )
    workers.assert_outcomes(passed=shipped_claims(), failed=1)
    texts.append(measured(project / "workers" / "results.json"))
    assert texts[0] == texts[1] == texts[2]
    numbers = texts[0].count("mean_in")
    assert numbers > 20  # the documents hold the measured numbers, not only verdicts
    # and floats are written in full: JSON's repr of a float64 reads back to the same bits
    assert any(len(token) > 15 for token in texts[0].replace(",", " ").split())


# --- the command line -----------------------------------------------------------------------------


@pytest.mark.slow
def test_show_and_find_write_only_where_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights_dir: Path, capsys
) -> None:
    from probecheck.cli import main

    monkeypatch.setenv("PROBECHECK_WEIGHTS_DIR", str(weights_dir))
    for name in ("fixtures", "cwd", "out"):
        (tmp_path / name).mkdir()
    face = tmp_path / "fixtures" / "face.png"
    shutil.copy(REPO / "fixtures" / "astronaut_face.png", face)
    monkeypatch.chdir(tmp_path / "cwd")
    before = snapshot(tmp_path)
    assert main(["show", str(face), "--layer", "conv1", "--out", str(tmp_path / "out/m.png")]) == 0
    find = ["find", str(face), "--box", "61,76,107,103", "--mask-with", "gray"]
    assert main([*find, "--layer", "conv1", "--yaml-out", str(tmp_path / "out/c.yaml")]) == 0
    capsys.readouterr()
    assert changed(before, snapshot(tmp_path)) == ["out/c.yaml", "out/m.png"]


def test_a_broken_image_or_mask_in_a_spec_is_named_with_the_readers_message(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mask that is no image is found at collection (its header); an image cut short has a
    sound header, so it is found when its claim runs. Both get the reader's words, no traceback."""
    fixtures = project / "fixtures"
    face = (fixtures / "astronaut_face.png").read_bytes()
    (fixtures / "cut.png").write_bytes(face[: len(face) // 2])
    (fixtures / "notes.png").write_text("eyes: left and right\n")
    for spec in (project / "specs").iterdir():
        spec.unlink()
    (project / "specs" / "cut.yaml").write_text(
        "images: {cut: ../fixtures/cut.png}\n"
        "regions: {box: {boxes: [[0, 0, 8, 8]]}}\n"
        "claims:\n"
        "  - {id: cut, layer: conv1, channels: [0],"
        " selective: {image: cut, region: box, ratio_at_least: 1.5}}\n"
    )
    (project / "specs" / "mask.yaml").write_text(
        "images: {face: ../fixtures/astronaut_face.png}\n"
        "regions: {eyes: {mask: ../fixtures/notes.png}}\n"
        "claims:\n"
        "  - {id: mask, layer: conv1, channels: [0],"
        " selective: {image: face, region: eyes, ratio_at_least: 1.5}}\n"
    )
    result = run_fresh(
        pytester, monkeypatch, "-p", "no:cacheprovider", "--continue-on-collection-errors"
    )
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*mask.yaml:2:*regions.eyes.mask: cannot read mask *notes.png: it is not an image*",
            "*cut.yaml:*: cannot read image *cut.png: the file is truncated or damaged*",
            "*fix: give a PNG, JPEG*",
        ],
        consecutive=False,
    )
    assert "Traceback" not in result.stdout.str()
