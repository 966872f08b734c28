"""Paired comparison of runs on the problems they share: bootstrap CI of the difference, exact McNemar test,
per-subject / per-level differences, problems solved by one run only, and warnings about unfair settings."""

from __future__ import annotations

import json

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import ConfigError
from ..store import RunRecord, SampleResult, Store
from ._stats import wilson_interval
from ._summary import _subject_order


# -- statistics --------------------------------------------------------------------------------------------------
def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (binomial test of b vs Bin(b+c, 1/2)).

    ``p = min(1, 2 * P(X <= min(b, c)))``; 1.0 when there are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of ``mean(a) - mean(b)`` resampling the paired items (problems) with replacement."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    if n == 0:
        return (float("nan"), float("nan"))
    diffs = [x - y for x, y in zip(a, b)]
    rng = random.Random(seed)
    idx = range(n)
    means = sorted(sum(diffs[j] for j in rng.choices(idx, k=n)) / n for _ in range(n_boot))
    alpha = (1 - level) / 2
    lo = means[max(0, int(math.floor(alpha * (n_boot - 1))))]
    hi = means[min(n_boot - 1, int(math.ceil((1 - alpha) * (n_boot - 1))))]
    return (lo, hi)


def bootstrap_mean_ci(values: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the mean of ``values`` resampled with replacement (per-problem accuracies: with k samples
    per problem the samples are not independent, so a binomial interval over all samples would be too narrow)."""
    return paired_bootstrap(values, [0.0] * len(values), n_boot=n_boot, seed=seed, level=level)


# -- per-problem scores of a run ----------------------------------------------------------------------------------
@dataclass
class ProblemScore:
    problem_id: str
    subject: str
    level: str
    correct: int
    graded: int

    @property
    def mean(self) -> float:
        return self.correct / self.graded

    @property
    def solved(self) -> bool:
        """The per-problem binary verdict: the sample's verdict (k=1) or the majority of samples (k>1)."""
        return 2 * self.correct > self.graded


def problem_scores(results: Sequence[SampleResult]) -> dict[str, ProblemScore]:
    """Graded samples folded per problem (failed and ungraded samples are left out)."""
    out: dict[str, ProblemScore] = {}
    for r in results:
        if r.status == "failed" or r.grade_status is None:
            continue
        level = str(r.level) if r.level is not None else "?"
        ps = out.setdefault(r.problem_id, ProblemScore(r.problem_id, r.subject, level, 0, 0))
        ps.graded += 1
        ps.correct += r.correct
    return out


# -- comparison records ------------------------------------------------------------------------------------------
@dataclass
class RunSide:
    run_id: str
    name: str
    model: str
    benchmark: str
    samples_per_problem: int
    problems: int  # graded problems of the run
    n: int  # graded samples on the shared problems
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    truncated: int
    truncated_share: float
    ci_method: str = "Wilson"
    by_subject: dict[str, float] = field(default_factory=dict)  # accuracy per subject on the shared problems

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["ci95"] = list(self.ci95)
        return d


@dataclass
class Breakdown:
    key: str
    n: int
    acc_a: float
    acc_b: float
    b: int
    c: int

    @property
    def diff(self) -> float:
        return self.acc_a - self.acc_b

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.b, self.c)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "n": self.n, "accuracy_a": self.acc_a, "accuracy_b": self.acc_b,
                "diff": self.diff, "a_only": self.b, "b_only": self.c, "mcnemar_p": self.p_value}


@dataclass
class PairComparison:
    a: str  # run names
    b: str
    n: int  # shared problems
    acc_a: float
    acc_b: float
    diff: float
    ci95: tuple[float, float]
    both: int
    a_only: int
    b_only: int
    neither: int
    p_value: float
    binary: str  # what the McNemar verdict per problem is
    by_subject: list[Breakdown]
    by_level: list[Breakdown]
    only_a: list[dict[str, Any]]
    only_b: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "shared_problems": self.n, "accuracy_a": self.acc_a, "accuracy_b": self.acc_b,
            "diff": self.diff, "diff_ci95_bootstrap": list(self.ci95),
            "mcnemar": {"both": self.both, "a_only": self.a_only, "b_only": self.b_only, "neither": self.neither,
                        "p_value": self.p_value, "per_problem_verdict": self.binary},
            "by_subject": [x.to_json() for x in self.by_subject], "by_level": [x.to_json() for x in self.by_level],
            "solved_by_a_only": self.only_a, "solved_by_b_only": self.only_b,
        }


@dataclass
class Comparison:
    benchmark: str
    shared_problems: int
    runs: list[RunSide]
    pairs: list[PairComparison]
    warnings: list[str] = field(default_factory=list)
    n_boot: int = 2000
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "shared_problems": self.shared_problems,
                "bootstrap": {"resamples": self.n_boot, "seed": self.seed},
                "runs": [r.to_json() for r in self.runs], "pairs": [p.to_json() for p in self.pairs],
                "warnings": self.warnings}


# -- building ----------------------------------------------------------------------------------------------------
def _primary_grader(run: RunRecord) -> str:
    """The grades a run is scored by (``rules``; ``final`` for judge/cascade runs)."""
    try:
        from ._summary import primary_grader
    except ImportError:
        return "rules"
    return primary_grader(run)


def load_runs(store: Store, refs: Sequence[str]) -> list[tuple[RunRecord, list[SampleResult]]]:
    """Runs by id or name with their samples; unknown runs, repeated runs and runs with nothing graded are errors."""
    loaded = []
    seen: set[str] = set()
    for ref in refs:
        run = store.get_run(ref)
        if run.run_id in seen:
            raise ConfigError(f"run {ref!r} is given twice")
        seen.add(run.run_id)
        results = store.sample_results(run.run_id, grader=_primary_grader(run))
        if not any(r.grade_status is not None for r in results):
            raise ConfigError(f"run {run.name!r} has no graded samples yet (resume it or pick another run)")
        loaded.append((run, results))
    return loaded


def compare_runs(store: Store, refs: Sequence[str], *, n_boot: int = 2000, seed: int = 0,
                 max_pairs: int = 45) -> Comparison:
    """Compare two or more runs of the same benchmark on the problems all of them graded."""
    if len(refs) < 2:
        raise ConfigError("compare needs at least two runs")
    loaded = load_runs(store, refs)
    return compare_loaded(loaded, n_boot=n_boot, seed=seed, max_pairs=max_pairs)


def compare_loaded(loaded: Sequence[tuple[RunRecord, list[SampleResult]]], *, n_boot: int = 2000, seed: int = 0,
                   max_pairs: int = 45) -> Comparison:
    benchmarks = {run.benchmark for run, _ in loaded}
    if len(benchmarks) > 1:
        names = ", ".join(f"{run.name} ({run.benchmark})" for run, _ in loaded)
        raise ConfigError(f"runs are on different benchmarks and cannot be compared: {names}")
    scores = [problem_scores(results) for _, results in loaded]
    shared_ids = set(scores[0])
    for s in scores[1:]:
        shared_ids &= set(s)
    if not shared_ids:
        raise ConfigError("the runs share no graded problem; nothing to compare")
    order = {pid: i for i, pid in enumerate(scores[0])}
    shared = sorted(shared_ids, key=lambda p: order[p])
    warnings = unfair_settings(loaded, scores, len(shared))

    sides = []
    for (run, results), sc in zip(loaded, scores):
        n = sum(sc[p].graded for p in shared)
        correct = sum(sc[p].correct for p in shared)
        on_shared = [r for r in results if r.problem_id in shared_ids and r.grade_status is not None]
        truncated = sum(r.truncated for r in on_shared)
        k = int(run.config.get("sampling", {}).get("samples", 1))
        means = [sc[p].mean for p in shared]
        if k > 1:
            ci, method = bootstrap_mean_ci(means, n_boot=n_boot, seed=seed), "bootstrap over problems"
        else:
            ci, method = wilson_interval(correct, n), "Wilson"
        per_subject: dict[str, list[float]] = {}
        for p in shared:
            per_subject.setdefault(sc[p].subject, []).append(sc[p].mean)
        sides.append(RunSide(
            run_id=run.run_id, name=run.name, model=run.model, benchmark=run.benchmark, samples_per_problem=k,
            problems=len(sc), n=n, correct=correct, accuracy=sum(means) / len(shared), ci95=ci,
            truncated=truncated, truncated_share=truncated / len(on_shared) if on_shared else 0.0, ci_method=method,
            by_subject={subject: sum(v) / len(v) for subject, v in sorted(per_subject.items())},
        ))
    pairs = []
    for i in range(len(loaded)):
        for j in range(i + 1, len(loaded)):
            if len(pairs) >= max_pairs:
                break
            multi = sides[i].samples_per_problem > 1 or sides[j].samples_per_problem > 1
            pairs.append(_pair(sides[i].name, sides[j].name, scores[i], scores[j], shared, n_boot, seed, multi))
    return Comparison(benchmark=loaded[0][0].benchmark, shared_problems=len(shared), runs=sides, pairs=pairs,
                      warnings=warnings, n_boot=n_boot, seed=seed)


def _breakdown(key_of: Any, sa: dict[str, ProblemScore], sb: dict[str, ProblemScore],
               shared: list[str]) -> list[Breakdown]:
    groups: dict[str, list[str]] = {}
    for p in shared:
        groups.setdefault(key_of(sa[p]), []).append(p)
    out = []
    for key, ids in groups.items():
        out.append(Breakdown(
            key=key, n=len(ids), acc_a=sum(sa[p].mean for p in ids) / len(ids),
            acc_b=sum(sb[p].mean for p in ids) / len(ids),
            b=sum(sa[p].solved and not sb[p].solved for p in ids),
            c=sum(sb[p].solved and not sa[p].solved for p in ids),
        ))
    return out


def _pair(name_a: str, name_b: str, sa: dict[str, ProblemScore], sb: dict[str, ProblemScore], shared: list[str],
          n_boot: int, seed: int, multi: bool) -> PairComparison:
    a = [sa[p].mean for p in shared]
    b = [sb[p].mean for p in shared]
    both = sum(sa[p].solved and sb[p].solved for p in shared)
    a_only = [p for p in shared if sa[p].solved and not sb[p].solved]
    b_only = [p for p in shared if sb[p].solved and not sa[p].solved]
    neither = len(shared) - both - len(a_only) - len(b_only)
    acc_a, acc_b = sum(a) / len(a), sum(b) / len(b)

    def listing(ids: list[str], winner: dict[str, ProblemScore], loser: dict[str, ProblemScore]) -> list[dict]:
        return [{"problem_id": p, "subject": winner[p].subject, "level": winner[p].level,
                 "winner_correct": f"{winner[p].correct}/{winner[p].graded}",
                 "loser_correct": f"{loser[p].correct}/{loser[p].graded}"} for p in ids]

    by_subject = sorted(_breakdown(lambda s: s.subject, sa, sb, shared), key=lambda x: _subject_order(x.key))
    by_level = sorted(_breakdown(lambda s: s.level, sa, sb, shared), key=lambda x: x.key)
    return PairComparison(
        a=name_a, b=name_b, n=len(shared), acc_a=acc_a, acc_b=acc_b, diff=acc_a - acc_b,
        ci95=paired_bootstrap(a, b, n_boot=n_boot, seed=seed), both=both, a_only=len(a_only), b_only=len(b_only),
        neither=neither, p_value=mcnemar_exact(len(a_only), len(b_only)),
        binary="majority of samples" if multi else "single sample", by_subject=by_subject, by_level=by_level,
        only_a=listing(a_only, sa, sb), only_b=listing(b_only, sb, sa),
    )


def _fmt(value: Any, none: str = "server default") -> str:
    return none if value is None else repr(value)


def unfair_settings(loaded: Sequence[tuple[RunRecord, list[SampleResult]]], scores: Sequence[dict],
                    shared: int) -> list[str]:
    """Differences between runs that make the comparison unfair or partial, as sentences."""
    warnings = []
    runs = [run for run, _ in loaded]
    first = runs[0]
    for run, sc in zip(runs, scores):
        if len(sc) != shared:
            warnings.append(f"{run.name}: compared on {shared} shared problems of its {len(sc)} graded ones")
        if run.status != "finished":
            warnings.append(f"{run.name}: run status is {run.status!r} (not finished)")
    for run, (_, results) in zip(runs, loaded):
        failed = sum(r.status == "failed" for r in results)
        if failed:
            warnings.append(f"{run.name}: {failed} sample(s) failed and are left out")
    for run in runs[1:]:
        ca, cb = first.config, run.config
        pair = f"{first.name} vs {run.name}"
        sa, sb = ca.get("sampling", {}), cb.get("sampling", {})
        for key, label in (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "max_tokens"),
                           ("samples", "samples per problem")):
            if sa.get(key) != sb.get(key):
                warnings.append(f"{pair}: {label} differs ({_fmt(sa.get(key))} vs {_fmt(sb.get(key))})")
        extra_a, extra_b = sa.get("extra_body") or {}, sb.get("extra_body") or {}
        if extra_a != extra_b:
            warnings.append(f"{pair}: extra request fields differ ({json.dumps(extra_a)} vs {json.dumps(extra_b)})")
        pa, pb = ca.get("prompt_template") or {}, cb.get("prompt_template") or {}
        if pa != pb:
            warnings.append(f"{pair}: prompt template differs ({pa.get('name', '?')} vs {pb.get('name', '?')}"
                            + (", same name but different text" if pa.get("name") == pb.get("name") else "") + ")")
        for key, label in (("answer_format", "answer format"), ("grader", "grader"), ("mode", "mode"),
                           ("judge", "judge settings")):
            if ca.get(key) != cb.get(key):
                warnings.append(f"{pair}: {label} differs ({ca.get(key)!r} vs {cb.get(key)!r})")
        sol_a = {"attempts": 1, **(ca.get("solver") or {})}  # runs stored before solvers had settings: 1 try
        sol_b = {"attempts": 1, **(cb.get("solver") or {})}
        for key in sorted(set(sol_a) | set(sol_b)):
            if sol_a.get(key) != sol_b.get(key):
                warnings.append(f"{pair}: solver {key} differs ({_fmt(sol_a.get(key), 'not set')} vs "
                                f"{_fmt(sol_b.get(key), 'not set')})")
        if ca.get("problems_sha256") and cb.get("problems_sha256") and ca.get("problems_sha256") != cb.get(
                "problems_sha256") and ca.get("problem_count") == cb.get("problem_count"):
            warnings.append(f"{pair}: the problem texts or answers differ (different data sources: "
                            f"{ca.get('data_source')} vs {cb.get('data_source')})")
    truncs = []
    for run, (_, results) in zip(runs, loaded):
        graded = [r for r in results if r.grade_status is not None]
        share = sum(r.truncated for r in graded) / len(graded) if graded else 0.0
        truncs.append((run.name, share, run.config.get("sampling", {}).get("max_tokens")))
    if max(t[1] for t in truncs) - min(t[1] for t in truncs) >= 0.02:
        detail = ", ".join(f"{n} {100 * s:.1f}% (max_tokens {_fmt(m)})" for n, s, m in truncs)
        warnings.append(f"truncated responses differ: {detail}")
    return warnings


# -- terminal rendering ------------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def _p(p: float) -> str:
    return f"{p:.3g}" if p >= 0.001 else f"{p:.1e}"


def render_comparison(comp: Comparison, console: Any, list_limit: int = 10) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]Comparison on {comp.benchmark}[/bold]: {comp.shared_problems} shared problems")
    table = Table(title="Accuracy on the shared problems", title_justify="left")
    for col in ("run", "model", "samples/problem", "n", "correct", "accuracy", "95% CI", "truncated"):
        table.add_column(col, justify="left" if col in ("run", "model") else "right")
    for s in comp.runs:
        table.add_row(escape(s.name), escape(s.model), str(s.samples_per_problem), str(s.n), str(s.correct),
                      _pct(s.accuracy), f"[{100 * s.ci95[0]:.1f}, {100 * s.ci95[1]:.1f}] ({s.ci_method})",
                      f"{s.truncated} ({_pct(s.truncated_share)})")
    console.print(table)
    subjects = sorted({k for side in comp.runs for k in side.by_subject})
    if subjects:
        # The study's table: models x subjects, and how far apart the best and worst model are in each subject.
        grid = Table(title="Accuracy by subject (models x subjects)", title_justify="left")
        grid.add_column("subject")
        for side in comp.runs:
            grid.add_column(escape(side.name), justify="right")
        grid.add_column("best - worst", justify="right")
        for subject in subjects:
            values = [side.by_subject.get(subject) for side in comp.runs]
            present = [v for v in values if v is not None]
            spread = _pp(max(present) - min(present)) if len(present) > 1 else "-"
            grid.add_row(escape(subject), *[_pct(v) for v in values], spread)
        console.print(grid)
    for pc in comp.pairs:
        console.print(
            f"\n[bold]{escape(pc.a)}[/bold] - [bold]{escape(pc.b)}[/bold]: difference {_pp(pc.diff)} points, "
            f"95% CI (paired bootstrap, {comp.n_boot} resamples) [{_pp(pc.ci95[0])}, {_pp(pc.ci95[1])}]; "
            f"exact McNemar p = {_p(pc.p_value)} (solved by A only {pc.a_only}, by B only {pc.b_only}, both "
            f"{pc.both}, neither {pc.neither}; per-problem verdict: {pc.binary})"
        )
        for title, rows in (("By subject", pc.by_subject), ("By level", pc.by_level)):
            t = Table(title=title, title_justify="left")
            for col in ("", "n", "A", "B", "A - B", "A only", "B only", "McNemar p"):
                t.add_column(col, justify="left" if col == "" else "right")
            for x in rows:
                t.add_row(escape(x.key), str(x.n), _pct(x.acc_a), _pct(x.acc_b), _pp(x.diff), str(x.b), str(x.c),
                          _p(x.p_value))
            console.print(t)
        for label, items in ((f"solved by {pc.a} only", pc.only_a), (f"solved by {pc.b} only", pc.only_b)):
            if not items:
                continue
            shown = ", ".join(f"{x['problem_id']} ({x['subject']} L{x['level']})" for x in items[:list_limit])
            more = f" ... and {len(items) - list_limit} more (--json lists all)" if len(items) > list_limit else ""
            console.print(escape(f"{label} ({len(items)}): {shown}{more}"))
    if comp.warnings:
        console.print("\n[bold yellow]Warning: the comparison may be unfair or partial:[/bold yellow]")
        for w in comp.warnings:
            console.print(f"  - {escape(w)}")
