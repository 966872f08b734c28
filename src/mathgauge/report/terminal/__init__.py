"""Terminal rendering of the reports (rich): a run's summary, a comparison, a gap analysis, the benchmark x model
table. Every string passes
through `make_console`'s console, which makes raw control characters in model text visible."""

from ._compare import render_comparison
from ._console import make_console
from ._gap import render_gap
from ._summary import render_summary
from ._table import render_benchmark_comparison, render_table

__all__ = ["make_console", "render_benchmark_comparison", "render_comparison", "render_gap", "render_summary",
           "render_table"]
