"""Reports of stored runs: summaries with confidence intervals, the terminal report, exports."""

from ._export import EXPORT_FORMATS, export_run
from ._stats import wilson_interval
from ._summary import Cell, ExecutionStats, RunSummary, execution_stats, summarize
from ._terminal import make_console, render_summary

__all__ = [
    "EXPORT_FORMATS",
    "Cell",
    "ExecutionStats",
    "RunSummary",
    "execution_stats",
    "export_run",
    "make_console",
    "render_summary",
    "summarize",
    "wilson_interval",
]
