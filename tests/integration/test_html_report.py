"""The HTML report: every claim of a real run with its numbers, verdict, tile and baseline diff,
self-contained, and its filter checked in a real headless browser (Chromium)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"

CLAIM = """  - id: {id}
    about: {about}
    layer: fire6-relu_squeeze1x1
    channels: [{channel}]
    drop: {{image: face, altered: face_no_eyes, region: eyes, at_least: 0.7,
            control: cheeks, control_altered: face_no_cheeks, control_at_most: 0.25}}
"""
PYTHON_CLAIM = f"""
def test_from_python(probe):
    probe.check(
        layer="fire6-relu_squeeze1x1",
        channels=[15],
        images={{"face": "{FIXTURES / "astronaut_face.png"}",
                "no_eyes": "{FIXTURES / "astronaut_face_eyes_removed.png"}"}},
        regions={{"eyes": {{"boxes": [[61, 76, 107, 103], [147, 80, 202, 107]]}}}},
        drop={{"image": "face", "altered": "no_eyes", "region": "eyes", "at_least": 0.7}},
    )
"""


@pytest.fixture
def report(
    pytester: pytest.Pytester, claims_dir: Path, write_face_spec: Callable[..., Path]
) -> Path:
    """A run of a passing and a failing YAML claim and a Python claim, with tiles for all,
    compared with a baseline recorded by an earlier run; its report directory."""
    claims = CLAIM.format(id="eyes", about="the eye channel <b>&</b>", channel=15)
    claims += CLAIM.format(id="not-eyes", about="a channel that is not about eyes", channel=25)
    write_face_spec(claims_dir / "face.yaml", claims)
    pytester.makepyfile(test_claims=PYTHON_CLAIM)
    common = ["-p", "no:cacheprovider", "test_claims.py", "--probe-specs", "specs"]
    common += ["--probe-baseline", "baseline.json"]
    pytester.runpytest(*common, "--probe-baseline-update", "--probe-report", "first")
    result = pytester.runpytest(*common, "--probe-diagnostics", "all", "--probe-report", "r")
    result.assert_outcomes(passed=2, failed=1)
    return pytester.path / "r"


class _Sections(HTMLParser):
    """The claim sections of a page: id → attributes; and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, str | None]] = {}
        self.links: list[str] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and "claim" in (found.get("class") or ""):
            self.sections[found["id"] or ""] = found
        if tag == "body":
            self.body = found
        self.links += [value or "" for key, value in attrs if key in ("src", "href")]


def parsed(page: str) -> _Sections:
    parser = _Sections()
    parser.feed(page)
    return parser


def test_the_page_holds_every_claim_its_numbers_tile_and_baseline_diff(report: Path) -> None:
    page = (report / "index.html").read_text()
    document = json.loads((report / "results.json").read_text())
    sections = parsed(page)
    names = {"face::eyes", "face::not-eyes", "test_claims::test_from_python"}
    assert set(sections.sections) == names
    assert {s["data-verdict"] for s in sections.sections.values()} == {"pass", "fail"}
    for claim in document["claims"]:  # every number measured is on the page
        for check in claim["checks"]:
            for case in check["cases"]:
                for channel in case["channels"]:
                    assert f"channel {channel['label']}: " in page
    assert "the eye channel &lt;b&gt;&amp;&lt;/b&gt;" in page  # written as text, not markup
    for tile in report.glob("*.png"):  # every tile embedded, byte for byte
        assert base64.b64encode(tile.read_bytes()).decode("ascii") in page
    assert len(list(report.glob("*.png"))) == 3
    assert all(link.startswith("data:image/png;base64,") for link in sections.links)
    assert '<table class="baseline">' in page and "<td>held</td>" in page
    assert "no baseline entry for specs/face.yaml::not-eyes" in page  # failed: not recorded


def test_a_worse_baseline_shows_the_regressed_numbers(report: Path, tmp_path: Path) -> None:
    from probecheck.report.html import render_html

    document = json.loads((report / "results.json").read_text())
    baseline_path = report.parent / "baseline.json"
    baseline = json.loads(baseline_path.read_text())
    entry = baseline["claims"]["specs/face.yaml::eyes"]
    recorded = entry["checks"]["drop"]["cases"][0]["channels"]["15"]
    (claim,) = [c for c in document["claims"] if c["claim_id"] == "eyes"]
    now = claim["checks"][0]["cases"][0]["channels"][0]["values"]
    # the candidate now drops the cheeks by 0.3 more than the trusted model did (a control
    # drop below 0, the control rising, is compared as 0, as the gate compares it)
    now["control_drop"] = max(recorded["control_drop"], 0.0) + 0.3
    page = render_html(document, baseline=baseline, baseline_path=baseline_path)
    rows = [line for line in page.splitlines() if '<tr class="worse">' in line]
    assert len(rows) == 1 and "<td>control_drop</td>" in rows[0]
    assert "<td>regressed</td>" in rows[0] and f"{0.3:+.3g}" in rows[0]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed here (apt-get install chromium; .ci/run installs it)")


def dump_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, as headless Chromium sees it."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--dump-dom",
    ]
    done = subprocess.run(
        [chromium(), *flags, url], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


FILTERS = {  # the address's query → the claims the filter leaves shown
    "": {"face::eyes", "face::not-eyes", "test_claims::test_from_python"},
    "?verdict=fail": {"face::not-eyes"},
    "?verdict=pass": {"face::eyes", "test_claims::test_from_python"},
    "?q=NOT%20ABOUT%20EYES": {"face::not-eyes"},
    "?verdict=pass&q=python": {"test_claims::test_from_python"},
}


def test_the_filter_in_a_headless_browser(report: Path, tmp_path: Path) -> None:
    chromium()
    for query, shown in FILTERS.items():
        dom = parsed(dump_dom((report / "index.html").as_uri() + query, tmp_path / "profile"))
        assert len(dom.sections) == 3
        visible = {name for name, attrs in dom.sections.items() if "hidden" not in attrs}
        assert visible == shown, query
        assert dom.body.get("data-tiles-drawn") == "3/3"  # every tile decoded and drawn
