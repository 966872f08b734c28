"""The benchmark x model table of several runs, as the Qwen2.5-Math and DeepSeek-R1 reports print theirs: one row
per model, one column per benchmark, each cell the metric the benchmark is reported with (pass@1 from one sample per
problem, avg@k from k) with its 95% interval over problems, and beside it the closest published figure for that
model that estimates the same thing (never a vote, never avg@k beside a single sample, never MATH beside MATH-500).

Values are fractions (0-1) like the run summaries; published scores stay in percent, as published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...store import RunRecord, SampleResult, Store
from .._published import PublishedScore, comparable, published_for_model, run_benchmark, version_matches
from ..stats import DEFAULT_RESAMPLES, DEFAULT_SEED
from ._compare import Comparison
from ._gap import run_metric
from ._sampling import Estimate
from ._summary import RunSummary


@dataclass(frozen=True)
class PublishedFigure:
    """A published figure put beside a cell."""

    score: float  # percent
    metric: str
    samples: int | None
    source: str
    date: str
    provenance: str
    other_snapshot: bool

    def label(self) -> str:
        """``55.5 (avg@64)``."""
        return f"{self.score:g} ({self.metric})"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TableCell:
    """One run's result on one benchmark.

    Args:
        metric: ``pass@1`` (one sample per problem) or ``avg@k`` (the mean over k samples: pass@1 estimated from k).
        value, ci95, ci_method: the metric with its 95% interval over problems (fractions).
        problems: problems with a graded sample.
        samples: samples per problem.
        pass_k: pass@k with its interval, with k > 1.
        caveats: why the cell is not (yet) comparable with published figures on the whole benchmark.
        published: the comparable published figures for the run's model, the closest protocol first.
    """

    run_id: str
    run_name: str
    benchmark: str
    model: str
    status: str
    metric: str
    value: float | None
    ci95: tuple[float, float]
    ci_method: str
    problems: int
    samples: int
    pass_k: Estimate | None = None
    suite: str | None = None
    caveats: list[str] = field(default_factory=list)
    published: list[PublishedFigure] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_name": self.run_name, "benchmark": self.benchmark, "model": self.model,
                "status": self.status, "metric": self.metric, "value": self.value, "ci95": list(self.ci95),
                "ci95_method": self.ci_method, "problems": self.problems, "samples_per_problem": self.samples,
                f"pass@{self.samples}": self.pass_k.to_dict() if self.pass_k else None, "suite": self.suite,
                "caveats": self.caveats,
                "published": [p.to_json() for p in self.published]}


@dataclass
class TableColumn:
    benchmark: str
    title: str
    reported_as: str


@dataclass
class TableRow:
    label: str
    model: str
    cells: dict[str, TableCell]


@dataclass
class BenchmarkTable:
    """Rows of models, columns of benchmarks (in the order the runs first name them)."""

    columns: list[TableColumn]
    rows: list[TableRow]

    def notes(self) -> list[str]:
        """One sentence per cell with caveats, for under the table."""
        titles = {c.benchmark: c.title for c in self.columns}
        return [f"{row.label} on {titles[bench]} ({cell.run_name}): " + "; ".join(cell.caveats)
                for row in self.rows for bench, cell in row.cells.items() if cell.caveats]

    def to_json(self) -> dict[str, Any]:
        return {"columns": [dict(c.__dict__) for c in self.columns],
                "rows": [{"label": r.label, "model": r.model, "cells": {b: c.to_json() for b, c in r.cells.items()}}
                         for r in self.rows],
                "notes": self.notes()}


def cell_metric(samples: int) -> str:
    """The metric a run with ``samples`` per problem reports: ``pass@1``, or ``avg@k`` (pass@1 estimated from k)."""
    return "pass@1" if samples <= 1 else f"avg@{samples}"


def _closeness(entry: PublishedScore, metric: str, samples: int, model: str) -> tuple[int, int, int]:
    """Sort key of a comparable figure: the same protocol first (avg@k with the same k; greedy beside greedy), then
    the same kind, then figures whose protocol is not stated; self-reported first; the run's own snapshot first."""
    kind = entry.metric_kind
    if metric.startswith("avg@"):
        rank = 0 if (kind == "avg@k" and entry.samples == samples) else 1 if kind == "avg@k" else 2
    else:
        rank = 0 if kind == metric else 1 if kind in ("greedy", "pass@1") else 2
    return rank, int(entry.provenance != "self-reported"), int(version_matches(entry, model) is False)


def published_beside(run: RunRecord, samples: int) -> list[PublishedFigure]:
    """The published figures for the run's model that estimate what the run measures, the closest first."""
    from ...pipeline import RunSpec

    spec = RunSpec.of_run(run)
    bench, _ = run_benchmark(run.benchmark, run.config.get("problem_count"), spec.per_cell)
    metric = run_metric(spec)
    entries = [e for e in published_for_model(run.model)
               if e.benchmark == bench and e.score is not None and comparable(e, spec.sampling.samples)[0]]
    entries.sort(key=lambda e: _closeness(e, metric, samples, run.model))
    return [PublishedFigure(score=float(e.score), metric=e.metric, samples=e.samples,  # type: ignore[arg-type]
                            source=e.source, date=e.source_date, provenance=e.provenance,
                            other_snapshot=version_matches(e, run.model) is False) for e in entries]


def _caveats(run: RunRecord, s: RunSummary) -> list[str]:
    from ...datasets import get_benchmark
    from ...pipeline import RunSpec

    out = []
    _, partial = run_benchmark(run.benchmark, run.config.get("problem_count"), RunSpec.of_run(run).per_cell)
    if partial:
        out.append(partial)
    try:
        bench = get_benchmark(run.benchmark)
    except Exception:  # a benchmark this mathgauge does not know: nothing to say about its sampling
        bench = None
    if bench is not None and s.samples_per_problem < bench.sampling.min_samples:
        out.append(f"{s.samples_per_problem} sample(s) per problem: {bench.title} is reported as "
                   f"{' and '.join(bench.sampling.metrics)} over k >= {bench.sampling.min_samples}, so only "
                   f"single-sample figures are beside it")
    elif bench is not None and s.samples_per_problem > 1 and bench.sampling.temperature and \
            (run.config.get("sampling") or {}).get("temperature") == 0:
        out.append(f"{s.samples_per_problem} samples at temperature 0: avg@k is the greedy score (the published "
                   f"avg@k figures sample at T={bench.sampling.temperature:g})")
    if s.status != "finished" or s.pending:
        out.append(f"run {s.status}, {s.pending} sample(s) pending")
    if s.failed:
        out.append(f"{s.failed} failed sample(s) left out")
    return out


def _cell(run: RunRecord, s: RunSummary) -> TableCell:
    from ._runs import suite_of

    k = s.samples_per_problem
    return TableCell(
        run_id=run.run_id, run_name=run.name, benchmark=run.benchmark, model=run.model, status=s.status,
        metric=cell_metric(k), value=s.accuracy, ci95=s.ci95, ci_method=s.ci_method,
        problems=sum(c.problems for c in s.by_subject.values()), samples=k,
        pass_k=s.sampling.pass_k if s.sampling else None, suite=suite_of(run), caveats=_caveats(run, s),
        published=published_beside(run, k),
    )


def benchmark_table(entries: Sequence[tuple[RunRecord, RunSummary]]) -> BenchmarkTable:
    """The benchmark x model table of runs and their summaries.

    A model gets one row; a second run of the same model on a benchmark its row already has (other settings)
    starts another row for that model, labelled with the suite or run that made it.

    Args:
        entries: (run, its summary) pairs, in the order the table follows.
    """
    from ...datasets import get_benchmark, sampling_summary

    columns: list[TableColumn] = []
    rows: list[TableRow] = []
    for run, summary in entries:
        if run.benchmark not in {c.benchmark for c in columns}:
            try:
                bench = get_benchmark(run.benchmark)
                columns.append(TableColumn(run.benchmark, bench.title, sampling_summary(bench)))
            except Exception:  # a benchmark this mathgauge does not know: its stored name
                columns.append(TableColumn(run.benchmark, run.benchmark, "pass@1"))
        row = next((r for r in rows if r.model == run.model and run.benchmark not in r.cells), None)
        if row is None:
            row = TableRow(label=run.model, model=run.model, cells={})
            rows.append(row)
        row.cells[run.benchmark] = _cell(run, summary)
    for row in rows:
        if sum(r.model == row.model for r in rows) > 1:  # rows of one model told apart by their suite (or run)
            suites = {c.suite for c in row.cells.values()}
            origin = suites.pop() if len(suites) == 1 else None
            row.label = f"{row.model} ({origin or next(iter(row.cells.values())).run_name})"
    return BenchmarkTable(columns=columns, rows=rows)


@dataclass
class BenchmarkComparison:
    """Runs over several benchmarks: the benchmark x model table, and the paired comparison of the runs of each
    benchmark that has two or more (`Comparison`)."""

    table: BenchmarkTable
    comparisons: dict[str, Comparison]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"benchmarks": [c.benchmark for c in self.table.columns], "table": self.table.to_json(),
                "comparisons": {b: c.to_json() for b, c in self.comparisons.items()}, "notes": self.notes}


def compare_benchmarks(store: Store, loaded: Sequence[tuple[RunRecord, list[SampleResult]]], *,
                       resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> BenchmarkComparison:
    """The table of runs on several benchmarks and, per benchmark with two or more runs, their comparison.

    Args:
        store: the results store (for the summaries).
        loaded: the runs with their samples (`load_runs`).
        resamples, seed: the paired bootstrap of each comparison.
    """
    from ...errors import MathgaugeError
    from ._compare import compare_loaded
    from ._summary import summarize_run

    table = benchmark_table([(run, summarize_run(store, run, results)) for run, results in loaded])
    comparisons: dict[str, Comparison] = {}
    notes: list[str] = []
    for column in table.columns:
        group = [entry for entry in loaded if entry[0].benchmark == column.benchmark]
        if len(group) < 2:
            continue
        try:
            comparisons[column.benchmark] = compare_loaded(group, resamples=resamples, seed=seed)
        except MathgaugeError as exc:
            notes.append(f"{column.title}: not compared: {exc}")
    return BenchmarkComparison(table=table, comparisons=comparisons, notes=notes)
