"""What the numbers of stored runs are: summaries (accuracy with intervals over problems, breakdowns, failures,
tokens, timing), metrics over k samples, paired comparisons and the measured-vs-published gap analysis. Plain
records; the terminal and HTML renderings are elsewhere. Also the benchmark x model table of runs over several
benchmarks, and which runs a suite's name means."""

from ._compare import Breakdown, Comparison, PairComparison, ProblemScore, RunSide, compare_loaded, compare_runs
from ._compare import load_runs, problem_scores, unfair_settings
from ._gap import GapAnalysis, PublishedGap, SettingDiff, analyse_gap, run_metric
from ._runs import SUITE_KEY, expand_run_refs, suite_of, suite_runs
from ._sampling import Estimate, SamplingMetrics, majority_answer, pass_at_k, sampling_metrics
from ._summary import (
    Cell,
    ExecutionStats,
    RunSummary,
    execution_stats,
    judge_report,
    regeneration_report,
    summarize,
    summarize_run,
    verification_effect,
)
from ._table import (
    BenchmarkComparison,
    BenchmarkTable,
    PublishedFigure,
    TableCell,
    TableColumn,
    TableRow,
    benchmark_table,
    cell_metric,
    compare_benchmarks,
)

__all__ = [
    "SUITE_KEY", "BenchmarkComparison", "BenchmarkTable", "PublishedFigure", "TableCell", "TableColumn", "TableRow",
    "benchmark_table", "cell_metric", "compare_benchmarks", "expand_run_refs", "suite_of", "suite_runs",
    "Breakdown", "Cell", "Comparison", "Estimate", "ExecutionStats", "GapAnalysis", "PairComparison", "ProblemScore",
    "PublishedGap", "RunSide", "RunSummary", "SamplingMetrics", "SettingDiff", "analyse_gap", "compare_loaded",
    "compare_runs", "execution_stats", "judge_report", "load_runs", "majority_answer", "pass_at_k",
    "problem_scores", "regeneration_report", "run_metric", "sampling_metrics", "summarize",
    "summarize_run", "unfair_settings", "verification_effect",
]
