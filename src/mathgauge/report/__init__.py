"""Reports of stored runs, one sub-package per kind of thing:

* `analysis`: what the numbers are (summaries, k-sample metrics, paired comparisons, the gap to published scores);
* `stats`: the statistics they rest on (intervals over problems, vectorised bootstrap, McNemar, Spearman);
* `policies`: peer harnesses' grading policies, to re-grade stored responses;
* `export`: every export format behind `export_run`;
* `terminal` and `html`: the renderings (rich; Jinja2 templates with autoescape), the benchmark x model table of
  runs over several benchmarks among them.

The names below are re-exported lazily (each sub-package is imported on first use), so importing
``mathgauge.report`` costs nothing until a report is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "analysis": ["BenchmarkComparison", "BenchmarkTable", "benchmark_table", "compare_benchmarks", "Cell",
                 "Comparison", "Estimate", "ExecutionStats", "GapAnalysis", "PairComparison", "RunSummary",
                 "SamplingMetrics", "analyse_gap", "compare_runs", "execution_stats", "judge_report",
                 "majority_answer", "pass_at_k", "primary_grader", "sampling_metrics", "summarize", "summarize_run"],
    "stats": ["ClusteredProportion", "bootstrap_mean", "mcnemar_exact", "paired_bootstrap", "spearman",
              "wilson_interval"],
    "policies": ["GRADING_POLICIES", "regrade_rows"],
    "export": ["EXPORT_FORMATS", "ExportResult", "SftCoverage", "export_run", "export_sft", "lm_eval_records"],
    "terminal": ["make_console", "render_benchmark_comparison", "render_comparison", "render_gap", "render_summary",
                 "render_table"],
    "html": ["build_report"],
    "_published": ["PublishedScore", "load_registry", "published_for_model", "search_published"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
_RENAMED = {"GRADING_POLICIES": "POLICIES"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), _RENAMED.get(name, name))
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from ._published import PublishedScore, load_registry, published_for_model, search_published
    from .analysis import (
        BenchmarkComparison,
        BenchmarkTable,
        Cell,
        Comparison,
        Estimate,
        ExecutionStats,
        GapAnalysis,
        PairComparison,
        RunSummary,
        SamplingMetrics,
        analyse_gap,
        benchmark_table,
        compare_benchmarks,
        compare_runs,
        execution_stats,
        judge_report,
        majority_answer,
        pass_at_k,
        primary_grader,
        sampling_metrics,
        summarize,
        summarize_run,
    )
    from .export import EXPORT_FORMATS, ExportResult, SftCoverage, export_run, export_sft, lm_eval_records
    from .html import build_report
    from .policies import POLICIES as GRADING_POLICIES
    from .policies import regrade_rows
    from .stats import ClusteredProportion, bootstrap_mean, mcnemar_exact, paired_bootstrap, spearman, wilson_interval
    from .terminal import (
        make_console,
        render_benchmark_comparison,
        render_comparison,
        render_gap,
        render_summary,
        render_table,
    )
