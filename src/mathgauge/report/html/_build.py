"""Build the HTML report of stored runs: read each run once for its numbers and twice, streamed, for its
responses (`SampleBrowser`), then render the templates."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ...store import RunRecord, Store
from ..analysis import GapAnalysis, RunSummary, analyse_gap, benchmark_table, load_runs, summarize_run
from ..stats import DEFAULT_RESAMPLES, DEFAULT_SEED
from . import _view as view
from ._render import render, static
from ._samples import SampleBrowser

DEFAULT_MAX_SAMPLES = 20_000
DEFAULT_BUDGET_MB = 8.0


def build_report(store: Store, refs: Sequence[str], *, max_samples: int = DEFAULT_MAX_SAMPLES,
                 regrade: bool = True, budget_mb: float = DEFAULT_BUDGET_MB) -> tuple[str, list[GapAnalysis]]:
    """Render the HTML report of the runs ``refs``; returns (html, the gap analysis of each run).

    The page is one self-contained file. Its sample browser holds at most ``budget_mb`` of sample data whatever
    the runs' size (see `SampleBrowser`); the full text of every sample is in ``mathgauge export``.

    Args:
        store: the results store.
        refs: run ids or names, or suite names (all their runs); with several runs the page also has the
            benchmark x model table.
        max_samples: most samples per run in the sample browser.
        regrade: also score the responses under the peer grading policies (the gap analysis).
        budget_mb: most megabytes of sample data (facts, previews, full texts) in the page.
    """
    loaded = load_runs(store, refs)
    browser = SampleBrowser(max_samples, int(budget_mb * 1e6))
    summaries: list[RunSummary] = []
    gaps: list[GapAnalysis] = []
    executions: list[list[dict[str, Any]]] = []
    for run, results in loaded:
        ex = _executions(store, run)
        summary = summarize_run(store, run, results, ex)
        index = browser.begin_run(run, results, ex)
        # One text per sample (the graded one; the response where it is unknown): both passes read half the text.
        rows = store.export_rows(run.run_id, responses=False)
        gap = analyse_gap(run, results, browser.observe(index, rows), regrade=regrade)
        browser.mark(index, gap.disagreeing | _judge_disagreements(summary))
        summaries.append(summary)
        gaps.append(gap)
        executions.append(ex)
    browser.plan()
    for index, (run, _) in enumerate(loaded):
        browser.fill(index, store.export_rows(run.run_id, responses=False))
    html = render(
        "report.html.j2",
        title="mathgauge report: " + ", ".join(s.run_name for s in summaries),
        generated=time.strftime("%Y-%m-%d %H:%M"),
        css=static("report.css"), js=static("browser.js"),
        headline=view.headline(summaries, gaps),
        table=benchmark_table(list(zip([run for run, _ in loaded], summaries))) if len(loaded) > 1 else None,
        gap_items=[{"gap": g, "charts": view.gap_charts(g)} for g in gaps],
        comparison=view.comparison(loaded, resamples=DEFAULT_RESAMPLES, seed=DEFAULT_SEED),
        breakdown=view.breakdown_charts(summaries),
        distributions=view.distribution_charts(loaded, summaries, executions),
        failure_rows=view.failure_rows(summaries, executions),
        judge_matrices=view.judge_matrices(summaries),
        failure_reasons=view.failure_reasons(summaries),
        method_runs=[{"s": s, "chart": view.sampling_chart(s),
                      "show": bool(s.difficulty_trend is not None or s.sampling or s.verification or s.regeneration)}
                     for s in summaries],
        browser_note=browser.note(),
        samples=browser.document(),
    )
    return html, gaps


def _executions(store: Store, run: RunRecord) -> list[dict[str, Any]]:
    """The run's code executions (program-of-thought / tool use)."""
    return list(store.executions(run.run_id))


def _judge_disagreements(summary: RunSummary) -> set[tuple[str, int]]:
    """(problem, sample) of every sample the judge scores otherwise than the rule grader."""
    if not summary.judge:
        return set()
    out = set()
    for d in summary.judge["agreement"].get("disagreements") or []:
        pid, _, k = str(d.get("label", "")).rpartition("#")
        if pid and k.isdigit():
            out.add((pid, int(k)))
    return out
