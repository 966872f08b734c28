"""What each section of the HTML report shows, computed from the analysis records: rows, charts and sentences for
the templates (which only lay them out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import MathgaugeError
from ...store import RunRecord, SampleResult
from ..analysis import Cell, GapAnalysis, PairComparison, RunSummary, compare_loaded
from ..stats import bootstrap_method, percentile
from ._charts import PALETTE, Chart, forest, grouped_bars, heatmap, histogram, lines_with_ci

Loaded = Sequence[tuple[RunRecord, list[SampleResult]]]


def accuracy_series(cells: dict[str, Cell], keys: Sequence[str]
                    ) -> tuple[list[float | None], list[tuple[float, float] | None]]:
    """Accuracy and 95% interval over problems per key (``None`` where a run has no graded sample there)."""
    vals: list[float | None] = []
    cis: list[tuple[float, float] | None] = []
    for key in keys:
        c = cells.get(key)
        vals.append(c.accuracy if c and c.n else None)
        cis.append(c.ci95 if c and c.n else None)
    return vals, cis


def headline(summaries: Sequence[RunSummary], gaps: Sequence[GapAnalysis]) -> list[dict[str, Any]]:
    """One row per run: its summary and the published figures on its benchmark."""
    rows = []
    for s, g in zip(summaries, gaps):
        pub = [x.entry.score for x in g.gaps if x.entry.score is not None]
        rows.append({"s": s, "published": ", ".join(f"{v:g}" for v in pub) if pub else "none in the registry"})
    return rows


def gap_charts(g: GapAnalysis) -> dict[str, Chart | None]:
    """The policies bar chart and the measured-vs-published forest plot of one run's gap analysis."""
    policies = None
    if g.policies and g.accuracy is not None:
        policies = grouped_bars(list(g.policies), [(g.run_name, [p["accuracy"] / 100 for p in g.policies.values()],
                                                    None)],
                                title=f"{g.run_name}: accuracy under each grading policy", cls="bars policies-chart")
    published = None
    if g.gaps:
        rows: list[tuple[str, float | None, tuple[float, float] | None, str]] = [
            (f"measured: {g.run_name}", g.accuracy, g.ci95, PALETTE[0])]
        for x in g.gaps:
            other = " [other snapshot]" if x.same_snapshot is False else ""
            rows.append((f"{x.entry.source_date} {x.entry.metric} ({x.entry.provenance}){other}", x.entry.score,
                         None, PALETTE[1]))
        published = forest(rows, title=f"{g.run_name} vs published {g.benchmark} figures",
                           band=g.ci95 if g.accuracy is not None else None)
    return {"policies": policies, "published": published}


@dataclass
class PairRow:
    """One compared pair of runs."""

    pair: PairComparison
    shared: int
    solved_only: list[tuple[str, int, str]]  # (run, how many, the problems listed)


@dataclass
class ComparisonView:
    rows: list[PairRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    method: str = ""


def comparison(loaded: Loaded, *, resamples: int, seed: int, limit: int = 200) -> ComparisonView:
    """Paired comparison of every two runs that share a benchmark and problems (nothing for a single run)."""
    view = ComparisonView(method=bootstrap_method(resamples, seed, paired=True))
    for i in range(len(loaded)):
        for j in range(i + 1, len(loaded)):
            a, b = loaded[i][0], loaded[j][0]
            if a.benchmark != b.benchmark:
                view.notes.append(f"{a.name} vs {b.name}: different benchmarks ({a.benchmark}, {b.benchmark}), "
                                  "not compared")
                continue
            try:
                comp = compare_loaded([loaded[i], loaded[j]], resamples=resamples, seed=seed)
            except MathgaugeError as exc:
                view.notes.append(f"{a.name} vs {b.name}: {exc}")
                continue
            pc = comp.pairs[0]
            solved = []
            for name, items in ((pc.a, pc.only_a), (pc.b, pc.only_b)):
                if items:
                    shown = ", ".join(f"{x['problem_id']} ({x['subject']} L{x['level']})" for x in items[:limit])
                    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
                    solved.append((name, len(items), shown + more))
            view.rows.append(PairRow(pc, comp.shared_problems, solved))
            pair = f"{a.name} vs {b.name}"
            view.notes.extend(w if w.startswith(pair) else f"{pair}: {w}" for w in comp.warnings)
    return view


def breakdown_charts(summaries: Sequence[RunSummary]) -> list[Chart]:
    """Subject x level heatmaps, accuracy against level, accuracy by subject (with 95% intervals over problems)."""
    charts = []
    for s in summaries:
        rows, cols = list(s.by_subject), list(s.by_level)
        cells = {k: (c.correct, c.n) for k, c in s.grid.items()}
        charts.append(heatmap(rows, [f"L{c}" for c in cols],
                              {(r, f"L{c}"): cells.get((r, c), (0, 0)) for r in rows for c in cols},
                              title=f"{s.run_name}: accuracy by subject x level (correct/n)"))
    levels = sorted({lv for s in summaries for lv in s.by_level})
    series = [(s.run_name, *accuracy_series(s.by_level, levels)) for s in summaries]
    charts.append(lines_with_ci([f"L{lv}" for lv in levels], series, title="Accuracy vs level (95% CI)"))
    subjects: list[str] = []
    for s in summaries:
        subjects += [x for x in s.by_subject if x not in subjects]
    bars = [(s.run_name, *accuracy_series(s.by_subject, subjects)) for s in summaries]
    charts.append(grouped_bars(subjects, bars, title="Accuracy by subject (95% CI)", cls="bars subjects-chart"))
    return charts


def distribution_charts(loaded: Loaded, summaries: Sequence[RunSummary],
                        executions: Sequence[Sequence[dict[str, Any]]]) -> list[Chart]:
    """Tokens, latency, calls per sample, tries, execution time and judge scores."""
    charts = [
        histogram([(run.name, [r.completion_tokens for r in res  # unknown tokens are left out, never counted as 0
                               if r.attempts and r.completion_tokens is not None]) for run, res in loaded],
                  title="Completion tokens per sample", unit="tokens", log=True),
        histogram([(run.name, [r.latency_s for r in res if r.latency_s is not None]) for run, res in loaded],
                  title="Latency of the final call", unit="seconds"),
    ]
    counts = [Counter(r.attempts for r in res) for _, res in loaded]
    keys = sorted({k for c in counts for k in c})
    charts.append(grouped_bars([str(k) for k in keys], [(run.name, [float(c.get(k, 0)) for k in keys], None)
                                                         for (run, _), c in zip(loaded, counts)],
                               title="Model calls per sample", percent=False, cls="bars attempts-chart"))
    tries = [s.tries_distribution or {} for s in summaries]
    if any(len(t) > 1 or any(k > 1 for k in t) for t in tries):
        tkeys = sorted({k for t in tries for k in t})
        charts.append(grouped_bars([str(k) for k in tkeys], [(s.run_name, [float(t.get(k, 0)) for k in tkeys], None)
                                                             for s, t in zip(summaries, tries)],
                                   title="Tries used per sample (attempts mode)", percent=False,
                                   cls="bars tries-chart"))
    if any(executions):
        charts.append(histogram([(run.name, [float(e["duration_ms"]) for e in ex])
                                 for (run, _), ex in zip(loaded, executions)],
                                title="Code execution time", unit="ms", log=True, cls="hist exec-chart"))
    for s in summaries:
        j = s.judge
        if j and j.get("scores"):
            keys_ = list(j["scores"])
            charts.append(grouped_bars([str(k) for k in keys_], [(s.run_name, [float(j["scores"][k]) for k in keys_],
                                                                  None)],
                                       title=f"{s.run_name}: judge score distribution", percent=False,
                                       cls="bars judge-chart"))
    return charts


def failure_rows(summaries: Sequence[RunSummary], executions: Sequence[Sequence[dict[str, Any]]]
                 ) -> list[dict[str, Any]]:
    """One row per run: failures, code executions and the judge's agreement with the rules, as sentences."""
    rows = []
    for s, ex in zip(summaries, executions):
        statuses = Counter(e.get("status") for e in ex)
        times = [float(e["duration_ms"]) for e in ex]
        j = s.judge
        if j:
            agree = j.get("agreement") or {}
            kappa = "undefined" if agree.get("kappa") is None else f"{agree['kappa']:.3f}"
            observed = "-" if agree.get("observed") is None else f"{100 * agree['observed']:.1f}%"
            judge = (f"{j.get('judged', 0)} judged; agreement {observed} over {agree.get('n_scored', 0)} scored "
                     f"(Cohen's kappa {kappa}); {len(agree.get('disagreements') or [])} disagreements")
        else:
            judge = "no judge grades"
        rows.append({
            "s": s,
            "executions": (f"{len(ex)} (" + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items(), key=str))
                           + ")") if ex else "none recorded",
            "unsafe": sum(1 for e in ex if e.get("unsafe")) if ex else "-",
            "times": f"{percentile(times, 0.5):.0f} ms / {percentile(times, 0.95):.0f} ms" if times else "-",
            "judge": judge,
        })
    return rows


def judge_matrices(summaries: Sequence[RunSummary]) -> list[dict[str, Any]]:
    """Rule verdict (rows) against judge score (columns), per judged run."""
    out = []
    for s in summaries:
        matrix = (s.judge.get("agreement") or {}).get("matrix") if s.judge else None
        if matrix:
            out.append({"run": s.run_name, "cols": list(next(iter(matrix.values()))), "matrix": matrix})
    return out


def failure_reasons(summaries: Sequence[RunSummary]) -> list[tuple[str, int]]:
    return Counter(e for s in summaries for _, _, e in s.failures).most_common(20)


def sampling_chart(s: RunSummary) -> Chart | None:
    """avg@k, pass@k and maj@k against k, for a run with several samples per problem."""
    m = s.sampling
    if m is None:
        return None
    curves = [(name, [p[key] for p in m.curve], [None] * len(m.curve))
              for name, key in (("avg@k", "avg"), ("pass@k", "pass"), ("maj@k", "maj"))]
    return lines_with_ci([str(p["k"]) for p in m.curve], curves,
                         title=f"{s.run_name}: accuracy against k samples per problem")
