"""Paired comparison of runs on the problems they share: bootstrap CI of the difference, exact McNemar test,
per-subject / per-level differences, problems solved by one run only, and warnings about unfair settings.
Rendering lives in `mathgauge.report.terminal` and `mathgauge.report.html`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigError
from ...store import RunRecord, SampleResult, Store
from ..stats import DEFAULT_RESAMPLES, DEFAULT_SEED, ClusteredProportion, bootstrap_method, mcnemar_exact
from ..stats import paired_bootstrap
from ._summary import _subject_order


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
    ci_method: str = ""
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
    ci_method: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "shared_problems": self.n, "accuracy_a": self.acc_a, "accuracy_b": self.acc_b,
            "diff": self.diff, "diff_ci95_bootstrap": list(self.ci95), "diff_ci95_method": self.ci_method,
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
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "shared_problems": self.shared_problems,
                "bootstrap": {"resamples": self.resamples, "seed": self.seed},
                "runs": [r.to_json() for r in self.runs], "pairs": [p.to_json() for p in self.pairs],
                "warnings": self.warnings}


# -- building ----------------------------------------------------------------------------------------------------
def load_runs(store: Store, refs: Sequence[str]) -> list[tuple[RunRecord, list[SampleResult]]]:
    """Runs by id or name, or every run of a suite by the suite's name, with their samples (without their
    responses); unknown runs, repeated runs and runs with nothing graded are errors."""
    from ...pipeline import RunSpec
    from ._runs import expand_run_refs

    loaded = []
    seen: set[str] = set()
    for run in expand_run_refs(store, refs):
        if run.run_id in seen:
            raise ConfigError(f"run {run.name!r} is given twice")
        seen.add(run.run_id)
        results = store.sample_results(run.run_id, grader=RunSpec.of_run(run).scored_grader, responses=False)
        if not any(r.grade_status is not None for r in results):
            raise ConfigError(f"run {run.name!r} has no graded samples yet (resume it or pick another run)")
        loaded.append((run, results))
    return loaded


def compare_runs(store: Store, refs: Sequence[str], *, resamples: int = DEFAULT_RESAMPLES,
                 seed: int = DEFAULT_SEED, max_pairs: int = 45) -> Comparison:
    """Compare two or more runs of the same benchmark on the problems all of them graded.

    Args:
        store: the results store.
        refs: run ids or names (at least two).
        resamples: resamples of the paired bootstrap of each difference.
        seed: the bootstrap's seed.
        max_pairs: most pairs compared.
    """
    if len(refs) < 2:
        raise ConfigError("compare needs at least two runs")
    loaded = load_runs(store, refs)
    return compare_loaded(loaded, resamples=resamples, seed=seed, max_pairs=max_pairs)


def compare_loaded(loaded: Sequence[tuple[RunRecord, list[SampleResult]]], *, resamples: int = DEFAULT_RESAMPLES,
                   seed: int = DEFAULT_SEED, max_pairs: int = 45) -> Comparison:
    """`compare_runs` on runs already read (`load_runs`)."""
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

    from ...pipeline import RunSpec

    sides = []
    for (run, results), sc in zip(loaded, scores):
        n = sum(sc[p].graded for p in shared)
        correct = sum(sc[p].correct for p in shared)
        on_shared = [r for r in results if r.problem_id in shared_ids and r.grade_status is not None]
        truncated = sum(r.truncated for r in on_shared)
        k = RunSpec.of_run(run).sampling.samples
        means = [sc[p].mean for p in shared]
        accuracy = ClusteredProportion()
        for p in shared:
            accuracy.add(sc[p].correct, sc[p].graded)
        per_subject: dict[str, list[float]] = {}
        for p in shared:
            per_subject.setdefault(sc[p].subject, []).append(sc[p].mean)
        sides.append(RunSide(
            run_id=run.run_id, name=run.name, model=run.model, benchmark=run.benchmark, samples_per_problem=k,
            problems=len(sc), n=n, correct=correct, accuracy=sum(means) / len(shared), ci95=accuracy.interval(),
            truncated=truncated, truncated_share=truncated / len(on_shared) if on_shared else 0.0,
            ci_method=accuracy.describe(),
            by_subject={subject: sum(v) / len(v) for subject, v in sorted(per_subject.items())},
        ))
    pairs: list[PairComparison] = []
    for i in range(len(loaded)):
        for j in range(i + 1, len(loaded)):
            if len(pairs) >= max_pairs:
                break
            multi = sides[i].samples_per_problem > 1 or sides[j].samples_per_problem > 1
            pairs.append(_pair(sides[i].name, sides[j].name, scores[i], scores[j], shared, resamples, seed, multi))
    return Comparison(benchmark=loaded[0][0].benchmark, shared_problems=len(shared), runs=sides, pairs=pairs,
                      warnings=warnings, resamples=resamples, seed=seed)


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
          resamples: int, seed: int, multi: bool) -> PairComparison:
    a = [sa[p].mean for p in shared]
    b = [sb[p].mean for p in shared]
    both = sum(sa[p].solved and sb[p].solved for p in shared)
    a_only = [p for p in shared if sa[p].solved and not sb[p].solved]
    b_only = [p for p in shared if sb[p].solved and not sa[p].solved]
    neither = len(shared) - both - len(a_only) - len(b_only)
    acc_a, acc_b = sum(a) / len(a), sum(b) / len(b)

    def listing(ids: list[str], winner: dict[str, ProblemScore], loser: dict[str, ProblemScore]
                ) -> list[dict[str, Any]]:
        return [{"problem_id": p, "subject": winner[p].subject, "level": winner[p].level,
                 "winner_correct": f"{winner[p].correct}/{winner[p].graded}",
                 "loser_correct": f"{loser[p].correct}/{loser[p].graded}"} for p in ids]

    by_subject = sorted(_breakdown(lambda s: s.subject, sa, sb, shared), key=lambda x: _subject_order(x.key))
    by_level = sorted(_breakdown(lambda s: s.level, sa, sb, shared), key=lambda x: x.key)
    return PairComparison(
        a=name_a, b=name_b, n=len(shared), acc_a=acc_a, acc_b=acc_b, diff=acc_a - acc_b,
        ci95=paired_bootstrap(a, b, resamples=resamples, seed=seed), both=both, a_only=len(a_only), b_only=len(b_only),
        neither=neither, p_value=mcnemar_exact(len(a_only), len(b_only)),
        binary="majority of samples" if multi else "single sample", by_subject=by_subject, by_level=by_level,
        only_a=listing(a_only, sa, sb), only_b=listing(b_only, sb, sa),
        ci_method=bootstrap_method(resamples, seed, paired=True),
    )


def _fmt(value: Any, none: str = "server default") -> str:
    return none if value is None else repr(value)


def unfair_settings(loaded: Sequence[tuple[RunRecord, list[SampleResult]]],
                    scores: Sequence[dict[str, ProblemScore]], shared: int) -> list[str]:
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
    from ...pipeline import RunSpec

    specs = [RunSpec.of_run(run) for run in runs]
    for run, spec in zip(runs[1:], specs[1:]):
        ca, cb = first.config, run.config
        first_spec = specs[0]
        pair = f"{first.name} vs {run.name}"
        sa, sb = first_spec.sampling, spec.sampling
        for key, label in (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "max_tokens"),
                           ("samples", "samples per problem")):
            if getattr(sa, key) != getattr(sb, key):
                warnings.append(f"{pair}: {label} differs ({_fmt(getattr(sa, key))} vs {_fmt(getattr(sb, key))})")
        if sa.extra_body != sb.extra_body:
            warnings.append(f"{pair}: extra request fields differ ({json.dumps(sa.extra_body)} vs "
                            f"{json.dumps(sb.extra_body)})")
        # The template as stored with each run (its text, not the option that named it).
        pa, pb = ca.get("prompt_template") or {}, cb.get("prompt_template") or {}
        if pa != pb:
            warnings.append(f"{pair}: prompt template differs ({pa.get('name', '?')} vs {pb.get('name', '?')}"
                            + (", same name but different text" if pa.get("name") == pb.get("name") else "") + ")")
        for label, a, b in (("answer format", first_spec.answer_format, spec.answer_format),
                            ("grader", first_spec.grader, spec.grader), ("mode", first_spec.mode, spec.mode),
                            ("judge settings", ca.get("judge"), cb.get("judge"))):
            if a != b:
                warnings.append(f"{pair}: {label} differs ({a!r} vs {b!r})")
        sol_a, sol_b = first_spec.solver_settings(), spec.solver_settings()
        for key in sorted(set(sol_a) | set(sol_b)):
            if sol_a.get(key) != sol_b.get(key):
                warnings.append(f"{pair}: solver {key} differs ({_fmt(sol_a.get(key), 'not set')} vs "
                                f"{_fmt(sol_b.get(key), 'not set')})")
        if ca.get("problems_sha256") and cb.get("problems_sha256") and ca.get("problems_sha256") != cb.get(
                "problems_sha256") and ca.get("problem_count") == cb.get("problem_count"):
            warnings.append(f"{pair}: the problem texts or answers differ (different data sources: "
                            f"{ca.get('data_source')} vs {cb.get('data_source')})")
    truncs = []
    for run, spec, (_, results) in zip(runs, specs, loaded):
        graded = [r for r in results if r.grade_status is not None]
        share = sum(r.truncated for r in graded) / len(graded) if graded else 0.0
        truncs.append((run.name, share, spec.sampling.max_tokens))
    if max(t[1] for t in truncs) - min(t[1] for t in truncs) >= 0.02:
        detail = ", ".join(f"{n} {100 * s:.1f}% (max_tokens {_fmt(m)})" for n, s, m in truncs)
        warnings.append(f"truncated responses differ: {detail}")
    return warnings
