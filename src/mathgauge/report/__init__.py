"""Reports of stored runs, one sub-package per kind of thing:

* `analysis`: what the numbers are (summaries, k-sample metrics, paired comparisons, the gap to published scores);
* `stats`: the statistics they rest on (intervals over problems, vectorised bootstrap, McNemar, Spearman);
* `policies`: peer harnesses' grading policies, to re-grade the texts a run graded;
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
                 "majority_answer", "pass_at_k", "sampling_metrics", "summarize", "summarize_run"],
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


if TYPE_CHECKING:  # the names above, for type checkers (``X as X``: re-exported)
    from ._published import (
        PublishedScore as PublishedScore,
        load_registry as load_registry,
        published_for_model as published_for_model,
        search_published as search_published,
    )
    from .analysis import (
        BenchmarkComparison as BenchmarkComparison,
        BenchmarkTable as BenchmarkTable,
        Cell as Cell,
        Comparison as Comparison,
        Estimate as Estimate,
        ExecutionStats as ExecutionStats,
        GapAnalysis as GapAnalysis,
        PairComparison as PairComparison,
        RunSummary as RunSummary,
        SamplingMetrics as SamplingMetrics,
        analyse_gap as analyse_gap,
        benchmark_table as benchmark_table,
        compare_benchmarks as compare_benchmarks,
        compare_runs as compare_runs,
        execution_stats as execution_stats,
        judge_report as judge_report,
        majority_answer as majority_answer,
        pass_at_k as pass_at_k,
        sampling_metrics as sampling_metrics,
        summarize as summarize,
        summarize_run as summarize_run,
    )
    from .export import (
        EXPORT_FORMATS as EXPORT_FORMATS,
        ExportResult as ExportResult,
        SftCoverage as SftCoverage,
        export_run as export_run,
        export_sft as export_sft,
        lm_eval_records as lm_eval_records,
    )
    from .html import build_report as build_report
    from .policies import POLICIES as _POLICIES
    from .policies import regrade_rows as regrade_rows
    from .stats import (
        ClusteredProportion as ClusteredProportion,
        bootstrap_mean as bootstrap_mean,
        mcnemar_exact as mcnemar_exact,
        paired_bootstrap as paired_bootstrap,
        spearman as spearman,
        wilson_interval as wilson_interval,
    )
    from .terminal import (
        make_console as make_console,
        render_benchmark_comparison as render_benchmark_comparison,
        render_comparison as render_comparison,
        render_gap as render_gap,
        render_summary as render_summary,
        render_table as render_table,
    )

    GRADING_POLICIES = _POLICIES
