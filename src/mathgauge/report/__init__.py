"""Reports of stored runs: summaries with confidence intervals, the terminal report, exports, published scores,
paired comparisons, the measured-vs-published gap analysis and the self-contained HTML report."""

from ._compare import Comparison, PairComparison, compare_runs, mcnemar_exact, paired_bootstrap, render_comparison
from ._export import EXPORT_FORMATS, export_run
from ._exports import ALL_EXPORT_FORMATS, export_run_ext, lm_eval_records
from ._gap import GapAnalysis, analyse_gap, render_gap
from ._html import build_report
from ._published import PublishedScore, load_registry, published_for_model, search_published
from ._regrade import POLICIES as GRADING_POLICIES
from ._regrade import regrade_rows
from ._sampling import Estimate, SamplingMetrics, majority_answer, pass_at_k, sampling_metrics
from ._sft import SftCoverage, export_sft
from ._stats import wilson_interval
from ._summary import (
    Cell,
    ExecutionStats,
    RunSummary,
    execution_stats,
    judge_report,
    primary_grader,
    summarize,
    summarize_run,
)
from ._terminal import make_console, render_summary

__all__ = [
    "ExecutionStats", "execution_stats", "judge_report", "primary_grader", "summarize_run",
    "Estimate", "SamplingMetrics", "majority_answer", "pass_at_k", "sampling_metrics", "SftCoverage", "export_sft",
    "ALL_EXPORT_FORMATS", "export_run_ext", "lm_eval_records",
    "EXPORT_FORMATS", "GRADING_POLICIES", "Cell", "Comparison", "GapAnalysis", "PairComparison", "PublishedScore",
    "RunSummary", "analyse_gap", "build_report", "compare_runs", "export_run", "load_registry", "make_console",
    "mcnemar_exact", "paired_bootstrap", "published_for_model", "regrade_rows", "render_comparison", "render_gap",
    "render_summary", "search_published", "summarize", "wilson_interval",
]
