"""The run as one static HTML page, ``index.html`` beside ``results.json``, for CI artifacts.

Read from ``results.json`` itself, so the page and the document never disagree. Every claim is
shown with its verdict, the measured numbers against the thresholds (the failure text of the
terminal, per check, case and channel), its regressions and notes, the numbers beside those of
the baseline where one was compared, and its diagnostic tile. The page is self-contained (tiles
as ``data:`` URIs, inline CSS and script, nothing fetched), so it opens from a downloaded
artifact. A small inline script filters the claims by verdict and by text; the filter can be set
from the address (``index.html?verdict=fail&q=eyes``) to share a view.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probecheck.atomic import write_atomic
from probecheck.metric_table import METRICS
from probecheck.results import CheckResult, ClaimResult, fmt, number_from_json

__all__ = ["render_html", "write_html_report"]

VERDICTS = ("pass", "fail", "error")

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
.meta { color: #555; margin: .1em 0; }
.filter { position: sticky; top: 0; background: #fff; padding: .6em 0;
  border-bottom: 1px solid #ddd; }
.filter label { margin-right: 1em; }
.claim { border: 1px solid #ccc; border-left: 6px solid #999; margin: .8em 0; padding: .6em .9em; }
.claim.pass { border-left-color: #2a8a3a; }
.claim.fail { border-left-color: #c0392b; }
.claim.error { border-left-color: #d4a017; }
.claim h2 { font-size: 1.05em; margin: 0; }
.verdict { font-weight: bold; margin-right: .5em; }
.pass .verdict { color: #2a8a3a; }
.fail .verdict { color: #c0392b; }
.error .verdict { color: #a07800; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; white-space: pre-wrap; }
table { border-collapse: collapse; margin: .4em 0; }
td, th { border: 1px solid #ddd; padding: .15em .5em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.worse td { color: #c0392b; }
img.tile { max-width: 100%; border: 1px solid #ddd; margin-top: .4em; }
.note { color: #8a6d00; }
"""

_SCRIPT = """
(function () {
  var params = new URLSearchParams(window.location.search);
  var verdict = document.getElementById('verdict');
  var text = document.getElementById('text');
  var shown = document.getElementById('shown');
  verdict.value = params.get('verdict') || 'all';
  text.value = params.get('q') || '';
  function apply() {
    var want = verdict.value, words = text.value.trim().toLowerCase();
    var claims = document.querySelectorAll('.claim'), count = 0;
    for (var i = 0; i < claims.length; i++) {
      var claim = claims[i];
      var ok = (want === 'all' || claim.dataset.verdict === want) &&
               (!words || claim.dataset.text.indexOf(words) !== -1);
      claim.hidden = !ok;
      if (ok) count++;
    }
    shown.textContent = count + ' of ' + claims.length + ' claims shown';
  }
  verdict.addEventListener('change', apply);
  text.addEventListener('input', apply);
  apply();
  window.addEventListener('load', function () {
    var tiles = document.querySelectorAll('img.tile'), drawn = 0;
    for (var i = 0; i < tiles.length; i++) {
      if (tiles[i].complete && tiles[i].naturalWidth > 0) drawn++;
    }
    document.body.dataset.tilesDrawn = drawn + '/' + tiles.length;
  });
})();
"""


def write_html_report(
    path: str | Path,
    document: Mapping[str, Any],
    *,
    results: Sequence[ClaimResult] | None = None,
    tiles: Mapping[tuple[str, str], str | Path] | None = None,
    baseline: Mapping[str, Any] | None = None,
    baseline_path: str | Path | None = None,
    tolerance: Any = None,
) -> Path:
    """Write the page of ``document`` (a results document, as results.json holds it) to
    ``path``, atomically; ``results``, see :func:`render_html`.

    ``tiles`` maps (spec, claim id) to a tile PNG; ``baseline`` is the baseline document the
    claims were compared with (read from ``baseline_path``), ``tolerance`` the
    :class:`~probecheck.report.baseline.Tolerance` they were held to.
    """
    page = render_html(
        document,
        results=results,
        tiles=tiles,
        baseline=baseline,
        baseline_path=baseline_path,
        tolerance=tolerance,
    )
    return write_atomic(Path(path), page)


def render_html(
    document: Mapping[str, Any],
    *,
    results: Sequence[ClaimResult] | None = None,
    tiles: Mapping[tuple[str, str], str | Path] | None = None,
    baseline: Mapping[str, Any] | None = None,
    baseline_path: str | Path | None = None,
    tolerance: Any = None,
) -> str:
    """The page of a results document (as :func:`results_document` makes and results.json
    holds). ``results``: the document's claims as the results they were written from, where
    the caller has them (not read from the document again)."""
    claims = (
        list(results)
        if results is not None
        else [ClaimResult.from_dict(claim) for claim in document.get("claims", [])]
    )
    compared = (
        _Compared(baseline, baseline_path, tolerance)
        if baseline is not None and baseline_path is not None
        else None
    )
    sections = [
        _claim_section(result, (tiles or {}).get((result.spec, result.claim_id)), compared)
        for result in claims
    ]
    counts = {v: sum(1 for r in claims if _verdict(r) == v) for v in VERDICTS}
    options = "".join(f'<option value="{v}">{v} ({counts[v]})</option>' for v in VERDICTS)
    models = "".join(
        f'<p class="meta">model: {_e(_model_line(m))}</p>' for m in document.get("models", [])
    )
    against = (
        f'<p class="meta">compared with the baseline {_e(str(baseline_path))}</p>'
        if compared is not None
        else ""
    )
    body = "\n".join(sections) or "<p>No claim ran.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>probecheck: {counts["pass"]} passed, {counts["fail"] + counts["error"]} failed</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>probecheck report</h1>
<p class="meta" id="totals">{len(claims)} claims: {counts["pass"]} passed, {counts["fail"]} failed,
{counts["error"]} errors · {int(document.get("forward_passes", 0))} forward passes ·
probecheck {_e(str(document.get("probecheck", "")))} · {_e(str(document.get("created", "")))}</p>
{models}{against}
<div class="filter">
<label>verdict <select id="verdict"><option value="all">all ({len(claims)})</option>{options}
</select></label>
<label>text <input id="text" type="search" placeholder="claim, layer, about…"></label>
<span id="shown"></span>
</div>
{body}
<script>{_SCRIPT}</script>
</body>
</html>
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _verdict(result: ClaimResult) -> str:
    if result.error:
        return "error"
    return "pass" if result.passed else "fail"


def _model_line(model: Mapping[str, Any]) -> str:
    parts = [f"{k} {model[k]}" for k in ("arch", "weights", "sha256") if model.get(k)]
    if model.get("preprocessing"):
        parts.append(f"preprocessing {model['preprocessing']}")
    return ", ".join(parts)


def _claim_section(
    result: ClaimResult,
    tile: str | Path | None,
    compared: _Compared | None,
) -> str:
    verdict = _verdict(result)
    name = f"{Path(result.spec).stem if result.spec else '?'}::{result.claim_id}"
    channels = ", ".join(str(c) for c in result.channels) or "-"
    searchable = " ".join(
        [name, result.about, result.layer, result.layer_path, result.measured(), result.spec]
    ).lower()
    where = f"{result.spec}:{result.line}" if result.line else result.spec
    parts = [
        f'<section class="claim {verdict}" data-verdict="{verdict}" data-text="{_e(searchable)}"'
        f' id="{_e(name)}">',
        f'<h2><span class="verdict">{verdict.upper()}</span>{_e(name)}</h2>',
    ]
    if result.about:
        parts.append(f'<p class="about">{_e(result.about)}</p>')
    parts.append(
        f'<p class="meta">{_e(result.layer)} ({_e(result.layer_path or "-")}) · channels '
        f"{_e(channels)} · require {_e(result.require)} · {_e(where)}</p>"
    )
    parts.append(f'<pre class="numbers">{_e(result.failure_message())}</pre>')
    if compared is not None and not result.error:
        parts.append(_baseline_table(result, compared))
    if tile is not None:
        parts.append(_tile(Path(tile), name))
    parts.append("</section>")
    return "\n".join(parts)


def _tile(path: Path, name: str) -> str:
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as error:
        return f'<p class="note">tile {_e(str(path))} could not be read: {_e(str(error))}</p>'
    return (
        f'<img class="tile" alt="diagnostic tile of {_e(name)}" title="{_e(path.name)}" '
        f'src="data:image/png;base64,{data}">'
    )


def _compared_numbers(
    result: ClaimResult, entry: Mapping[str, Any]
) -> list[tuple[CheckResult, str, str, dict[str, float], dict[str, Any]]]:
    """(check, case, who, numbers now, numbers recorded) for what the gate compares
    (:func:`probecheck.report.baseline.compare`): a check over a set by its population's bound
    and mean, other checks case by case, each claimed channel under ``require: all``, the
    combined value otherwise; a check with no number held to a threshold not at all."""
    from probecheck.checks.registry import kind as registered_kind
    from probecheck.report.baseline import case_identity, population_entry

    found = []
    for check in result.checks:
        recorded = entry.get("checks", {}).get(check.kind, {})
        if check.population is not None:
            before = recorded.get("population")
            now = population_entry(check)
            if not isinstance(before, dict) or before.get("inputs") != now["inputs"]:
                continue
            for metric, numbers in now["metrics"].items():
                old = before.get("metrics", {}).get(metric)
                if not isinstance(old, dict):
                    continue
                higher = METRICS[metric].higher_is_better if metric in METRICS else None
                for part in ("lower" if higher else "upper", "mean"):
                    where = f"population over set {check.population.set}"
                    found.append(
                        (
                            check,
                            where,
                            f"{part} of",
                            {metric: numbers[part]},
                            {metric: old.get(part)},
                        )
                    )
            continue
        held = [m.threshold for m in registered_kind(check.kind).metrics.values()]
        if not any(check.thresholds.get(str(key)) is not None for key in held):
            continue  # strongest: {in: …}: the verdict says it all
        old_cases = {case_identity(c): c for c in recorded.get("cases", [])}
        for case in check.cases:
            old = old_cases.get(case_identity(case))
            if old is None:
                continue
            if result.require == "all":
                found += [
                    (
                        check,
                        case.describe(),
                        f"channel {ch.label}",
                        ch.values,
                        old.get("channels", {}).get(str(ch.channel), {}),
                    )
                    for ch in case.channels
                ]
            else:
                who = f"{result.require} of the channels"
                found.append((check, case.describe(), who, case.combined, old.get("combined", {})))
    return found


@dataclass(frozen=True)
class _Compared:
    """The baseline the claims were compared with: its document, file and tolerance."""

    document: Mapping[str, Any]
    path: str | Path
    tolerance: Any = None  # a probecheck.report.baseline.Tolerance; None: the default


def _baseline_table(result: ClaimResult, compared: _Compared) -> str:
    """Each number held to the baseline beside the baseline's, the change, and whether it
    regressed (moved against the claim by more than its tolerance), matched as the comparison
    matches them: cases by their inputs, channels by index."""
    from probecheck.metric_table import compared_metrics
    from probecheck.report.baseline import Tolerance, _change, baseline_key, judge

    tolerance = compared.tolerance or Tolerance()
    entry = compared.document.get("claims", {}).get(baseline_key(result, compared.path))
    if entry is None:
        return ""  # the claim's notes say so
    rows = []
    for check, where, who, now, before in _compared_numbers(result, entry):
        for metric in compared_metrics():
            if metric not in now or before.get(metric) is None:
                continue
            judged = judge(  # as the gate decides: saturation, floor, tolerance
                metric,
                number_from_json(before[metric]),
                float(now[metric]),
                tolerance,
                check.thresholds,
            )
            if judged is None:
                continue
            was, new, bound, regressed = judged
            rows.append(
                f'<tr class="{"worse" if regressed else "held"}"><td>{_e(check.kind)}</td>'
                f"<td>{_e(where)}</td><td>{_e(who)}</td><td>{_e(metric)}</td>"
                f'<td class="num">{_e(fmt(was))}</td><td class="num">{_e(fmt(new))}</td>'
                f'<td class="num">{_e(_change(was, new, bound.kind))}</td>'
                f"<td>{_e(str(bound))}</td>"
                f"<td>{'regressed' if regressed else 'held'}</td></tr>"
            )
    if not rows:
        return '<p class="note">no number of this claim is held to the baseline</p>'
    head = (
        "<tr><th>check</th><th>case</th><th>channel</th><th>metric</th><th>baseline</th>"
        "<th>now</th><th>change</th><th>tolerance</th><th>verdict</th></tr>"
    )
    return f'<table class="baseline">{head}{"".join(rows)}</table>'
