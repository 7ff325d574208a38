"""Results as text and data: the session's summary table and the JSON of every result.

Only rich and json (no torch, no image libraries), so the pytest plugin can print a summary
cheaply, and a report can be read back on a machine without the model.
"""

from __future__ import annotations

from probecheck.report.results_json import read_results, write_results
from probecheck.report.summary import render_summary

__all__ = ["read_results", "render_summary", "write_results"]
