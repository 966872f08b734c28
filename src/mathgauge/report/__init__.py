"""Reports of stored runs: summaries with confidence intervals, the terminal report, exports."""

from ._export import EXPORT_FORMATS, export_run
from ._stats import wilson_interval
from ._summary import Cell, RunSummary, summarize
from ._terminal import make_console, render_summary

__all__ = ["EXPORT_FORMATS", "Cell", "RunSummary", "export_run", "make_console", "render_summary", "summarize", "wilson_interval"]
