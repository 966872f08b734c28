"""Metrics over several samples per problem: avg@k, pass@k (unbiased estimator) and maj@k, with 95% intervals
over problems (avg@k: the run's accuracy interval; pass@k and maj@k: the bootstrap over problems).

maj@k votes over *equivalent* extracted answers (the grader's equivalence, not string equality): ``\\frac12``
and ``0.5`` are one vote. Ties go to the answer seen first. Curves against k use each problem's first k samples
for avg@k and maj@k, and the unbiased estimator over all n samples for pass@k.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import comb
from typing import Any

from ...store import SampleResult
from ..stats import DEFAULT_RESAMPLES, DEFAULT_SEED, ClusteredProportion, bootstrap_mean, bootstrap_method

Equivalent = Callable[[str, str], bool]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples of which ``c`` are correct (Chen et al., 2021)."""
    if k > n:
        raise ValueError(f"k={k} exceeds the {n} samples")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority_answer(answers: Sequence[str | None], equivalent: Equivalent) -> int | None:
    """Index of a representative of the largest group of equivalent answers (``None`` if no sample answered)."""
    groups: list[list[int]] = []
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            if equivalent(answer, answers[group[0]]):  # type: ignore[arg-type]
                group.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return None
    best = max(groups, key=lambda g: (len(g), -g[0]))  # ties: the answer seen first
    return best[0]


@dataclass
class Estimate:
    """A metric with its 95% interval over problems and the method that made it."""

    value: float
    ci95: tuple[float, float]
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": list(self.ci95), "method": self.method}


@dataclass
class SamplingMetrics:
    """avg@k, pass@k and maj@k of a run with k samples per problem, and their curves for k = 1..K."""

    k: int
    problems: int
    avg: Estimate
    pass_k: Estimate
    maj: Estimate
    curve: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "problems": self.problems, "avg@k": self.avg.to_dict(),
                "pass@k": self.pass_k.to_dict(), "maj@k": self.maj.to_dict(), "curve": self.curve}


def _bootstrap(per_problem: list[float], resamples: int, seed: int) -> Estimate:
    return Estimate(sum(per_problem) / len(per_problem), bootstrap_mean(per_problem, resamples=resamples, seed=seed),
                    bootstrap_method(resamples, seed))


def _accuracy(counts: list[tuple[int, int]]) -> Estimate:
    acc = ClusteredProportion()
    for correct, graded in counts:
        acc.add(correct, graded)
    return Estimate(acc.accuracy or 0.0, acc.interval(), acc.describe())


def sampling_metrics(results: Sequence[SampleResult], equivalent: Equivalent | None = None,
                     *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> SamplingMetrics | None:
    """Compute the metrics over the problems whose every sample was graded; ``None`` with one sample each.

    Args:
        results: the run's samples (responses are not needed).
        equivalent: answer equivalence for maj@k (default: the rule grader's).
        resamples: bootstrap resamples for the pass@k and maj@k intervals.
        seed: the bootstrap's seed.
    """
    if equivalent is None:
        from ...grading import answers_equivalent

        def equivalent(a: str, b: str) -> bool:
            return answers_equivalent(a, b).correct

    by_problem: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        by_problem[r.problem_id].append(r)
    k = max((len(v) for v in by_problem.values()), default=0)
    if k < 2:
        return None
    complete = [sorted(v, key=lambda r: r.sample_index) for v in by_problem.values()
                if len(v) == k and all(r.grade_status is not None for r in v)]
    if not complete:
        return None
    maj_cache: dict[tuple[str, int], float] = {}

    def maj_at(samples: list[SampleResult], j: int) -> float:
        key = (samples[0].problem_id, j)
        if key not in maj_cache:
            winner = majority_answer([s.extracted for s in samples[:j]], equivalent)
            maj_cache[key] = float(winner is not None and samples[winner].correct)
        return maj_cache[key]

    curve = []
    for j in range(1, k + 1):
        curve.append({
            "k": j,
            "avg": sum(sum(s.correct for s in p[:j]) / j for p in complete) / len(complete),
            "pass": sum(pass_at_k(k, sum(s.correct for s in p), j) for p in complete) / len(complete),
            "maj": sum(maj_at(p, j) for p in complete) / len(complete),
        })
    return SamplingMetrics(
        k=k,
        problems=len(complete),
        avg=_accuracy([(sum(s.correct for s in p), k) for p in complete]),
        pass_k=_bootstrap([pass_at_k(k, sum(s.correct for s in p), k) for p in complete], resamples, seed),
        maj=_bootstrap([maj_at(p, k) for p in complete], resamples, seed),
        curve=curve,
    )
