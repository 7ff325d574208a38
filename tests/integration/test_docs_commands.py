"""The README and docs/ as a user meets them: every relative link and picture resolves, every
command shown is either run here or skipped by a named rule, no command shown writes over a file
the repository ships, and the commands that are run do what the docs say on a fresh copy."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
#: what a fresh clone holds that the documented commands read (pyproject.toml: the ini options)
SHIPPED = ["specs", "fixtures", "docs", "pyproject.toml"]

FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`]*`")


@dataclass(frozen=True)
class Command:
    """One command as a reader would type it, and where it is shown."""

    text: str
    where: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text, comments=True)


def _blocks(path: Path) -> list[tuple[str, int, list[str]]]:
    """The fenced code blocks of a Markdown file: (language, first line number, lines)."""
    blocks: list[tuple[str, int, list[str]]] = []
    current: tuple[str, int, list[str]] | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = FENCE.match(line)
        if fence and current is None:
            current = (fence.group(2), number + 1, [])
        elif fence and current is not None:
            blocks.append(current)
            current = None
        elif current is not None:
            current[2].append(line.strip())
    return blocks


def _join_continued(lines: list[str]) -> list[str]:
    joined: list[str] = []
    pending = ""
    for line in lines:
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
        else:
            joined.append(pending + line)
            pending = ""
    return joined


def commands_in(path: Path) -> list[Command]:
    """Shell commands shown in ```bash blocks (every line) and ```console blocks (``$ `` lines,
    with their continuation lines)."""
    found: list[Command] = []
    where_of = f"{path.relative_to(ROOT)}"
    for language, start, lines in _blocks(path):
        if language == "bash":
            texts = _join_continued(lines)
        elif language == "console":
            prompt_lines: list[str] = []
            continuing = False
            for line in lines:
                if line.startswith("$ ") or continuing:
                    prompt_lines.append(line.removeprefix("$ "))
                    continuing = line.endswith("\\")
            texts = _join_continued(prompt_lines)
        else:
            continue
        for text in texts:
            if shlex.split(text, comments=True):
                found.append(Command(text.strip(), f"{where_of}:{start}"))
    return found


ALL_COMMANDS = [command for path in DOCS for command in commands_in(path)]

#: Commands shown but not run here, each rule with its reason (first match wins).
SKIP_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("sets up the environment (venv, install)", re.compile(r"^(python3? -m venv|pip install)\b")),
    ("sets an environment variable for later commands", re.compile(r"^export\b")),
    (
        "runs probecheck's own test suite, of which this test is part",
        re.compile(r"^pytest(?!.*--probe-specs)"),
    ),
    (
        "needs candidate.pt, which the CI workflow's candidate job writes",
        re.compile(r"candidate\.pt"),
    ),
    ("the CI rehearsal: four pytest sessions on made checkpoints", re.compile(r"rehearse\.sh")),
]

#: Documented commands whose documented exit code is not 0.
EXPECTED_EXIT = {"pytest --probe-specs docs/failing_example.yaml": 1}
#: What the docs say such a run prints (a line the reader is told to look for).
EXPECTED_TEXT = {
    "pytest --probe-specs docs/failing_example.yaml": "it reacts to the removal, not to the region",
}

#: Run here: one of each kind of command the docs show (the rest repeat these on more images or
#: more layers, at up to minutes each). Kept under about a minute and a half on one CPU thread.
RUN_HERE = [
    "probecheck show fixtures/astronaut_face.png --layer conv1 --tile-size 56"
    " --out face_conv1_montage.png",
    "pytest --probe-specs docs/failing_example.yaml",
    "pytest --probe-specs specs/",
    "probecheck find fixtures/astronaut_face.png --layer fire6-relu_squeeze1x1"
    " --box 61,76,107,103 147,80,202,107 --region-name eyes"
    " --altered fixtures/astronaut_face_eyes_removed.png"
    " --control-box 56,114,102,141 150,114,205,141 --control-name cheeks"
    " --control-altered fixtures/astronaut_face_cheeks_removed.png --top 4",
    "probecheck find --set 'fixtures/faces/*.png' --regions fixtures/faces/regions.json"
    " --region eyes --control cheeks --mask-with inpaint --views-of '^([a-z]+)'"
    " --layer fire6-relu_squeeze1x1 --top 48",
    "pytest --probe-specs specs/ --probe-baseline specs/baseline.json --probe-baseline-update",
    "probecheck occlusion fixtures/astronaut_face.png --layer fire6-relu_squeeze1x1 --channel 15 "
    "--region eyes --spec docs/single_pair_face.yaml --out eye_channel_occlusion.png",
]


def skip_reason(command: Command) -> str | None:
    for reason, rule in SKIP_RULES:
        if rule.search(command.text):
            return reason
    return None


def _normal(text: str) -> str:
    return " ".join(shlex.split(text, comments=True))


# --- links ----------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(0)[1:-1], heading.strip().lstrip("#").strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def _links(path: Path) -> list[tuple[int, str]]:
    links: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            links += [(number, m.group(1)) for m in LINK.finditer(INLINE_CODE.sub("", line))]
    return links


def test_every_relative_link_and_picture_resolves() -> None:
    broken = []
    for path in DOCS:
        for number, target in _links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT)}:{number}: {target}"
            if not resolved.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{where} (no heading with that anchor)")
    assert broken == []


def test_the_link_checker_sees_links_and_anchors() -> None:
    """The checker reads what it must: links outside code, GitHub's heading anchors."""
    assert _slug("## Trust: inputs, files written, and determinism") == (
        "trust-inputs-files-written-and-determinism"
    )
    assert _slug("## Claims in a test function: the `probe` fixture") == (
        "claims-in-a-test-function-the-probe-fixture"
    )
    readme_links = {target for _, target in _links(ROOT / "README.md")}
    assert {"docs/tutorial.md", "docs/spec.md", "docs/failing_claim_tile.png"} <= readme_links


# --- commands -------------------------------------------------------------------------------------


def test_the_docs_show_commands_and_the_extractor_finds_them() -> None:
    shown = {_normal(command.text) for command in ALL_COMMANDS}
    assert {_normal(text) for text in RUN_HERE} <= shown, "a command run here is no longer shown"
    assert "pytest --probe-specs specs/" in shown
    assert any(command.text.startswith("pip install") for command in ALL_COMMANDS)


def test_every_command_shown_is_run_here_or_skipped_by_a_rule() -> None:
    """A new command in the docs must be run by a test or fall under a listed reason to skip."""
    run_here = {_normal(text) for text in RUN_HERE}
    unknown = []
    for command in ALL_COMMANDS:
        argv = command.argv
        if skip_reason(command) or _normal(command.text) in run_here:
            continue
        if argv[0] in ("probecheck", "pytest"):
            continue  # same kind as those run here: checked for its outputs below
        unknown.append(f"{command.where}: {command.text}")
    assert unknown == []


def test_no_command_shown_writes_over_a_shipped_file() -> None:
    """`--out`/`--yaml-out` paths in the docs do not ship, or the command says --force."""
    clashes = []
    for command in ALL_COMMANDS:
        argv = command.argv
        if "--force" in argv:
            continue
        for flag in ("--out", "--yaml-out"):
            if flag in argv:
                target = argv[argv.index(flag) + 1]
                if (ROOT / target).exists():
                    clashes.append(f"{command.where}: {flag} {target} ships in the repository")
    assert clashes == []


def _fresh_copy(tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in SHIPPED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, clone / name)
    return clone


@pytest.mark.slow
@pytest.mark.parametrize("text", RUN_HERE, ids=[" ".join(text.split()[:3]) for text in RUN_HERE])
def test_documented_command_runs_as_written(text: str, weights_dir: Path, tmp_path: Path) -> None:
    """The command, as the docs show it, in a copy of what a clone ships: the documented exit
    code, and every file it names with --out is written there (never in the repository)."""
    clone = _fresh_copy(tmp_path)
    argv = shlex.split(text, comments=True)
    program = {
        "pytest": [sys.executable, "-m", "pytest"],
        "probecheck": [sys.executable, "-m", "probecheck"],
    }
    env = {
        **os.environ,
        "PROBECHECK_WEIGHTS_DIR": str(weights_dir),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [*program[argv[0]], *argv[1:]],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == EXPECTED_EXIT.get(text, 0), output[-3000:]
    assert "Traceback" not in output
    assert EXPECTED_TEXT.get(text, "") in output
    if "--out" in argv:
        assert (clone / argv[argv.index("--out") + 1]).is_file()
    if argv[0] == "pytest":
        assert (clone / "probe-report" / "results.json").is_file()
