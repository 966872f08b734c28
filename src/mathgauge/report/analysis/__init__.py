"""What the numbers of stored runs are: summaries (accuracy with intervals over problems, breakdowns, failures,
tokens, timing), metrics over k samples, paired comparisons and the measured-vs-published gap analysis. Plain
records; the terminal and HTML renderings are elsewhere."""

from ._compare import Breakdown, Comparison, PairComparison, ProblemScore, RunSide, compare_loaded, compare_runs
from ._compare import load_runs, problem_scores, unfair_settings
from ._gap import GapAnalysis, PublishedGap, SettingDiff, analyse_gap, run_metric
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

__all__ = [
    "Breakdown", "Cell", "Comparison", "Estimate", "ExecutionStats", "GapAnalysis", "PairComparison", "ProblemScore",
    "PublishedGap", "RunSide", "RunSummary", "SamplingMetrics", "SettingDiff", "analyse_gap", "compare_loaded",
    "compare_runs", "execution_stats", "judge_report", "load_runs", "majority_answer", "pass_at_k",
    "problem_scores", "regeneration_report", "run_metric", "sampling_metrics", "summarize",
    "summarize_run", "unfair_settings", "verification_effect",
]
