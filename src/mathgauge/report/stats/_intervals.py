"""Intervals for a proportion: the Wilson score interval, and the same over problems when each problem has several
samples (the effective sample size from the design effect: Kish's correction, as for cluster samples in surveys)."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
WILSON = "Wilson score interval"
CLUSTERED_WILSON = "Wilson score interval over problems (effective sample size = samples / design effect)"


def _wilson(p: float, n: float, z: float) -> tuple[float, float]:
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p) / n + z * z / (4 * n * n))) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (well-behaved at 0%, 100% and small n).

    Args:
        successes: how many of the ``n`` trials succeeded.
        n: independent trials; ``(0.0, 1.0)`` when 0 (nothing is known).
        z: the normal quantile (1.96 for 95%).
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    return _wilson(successes / n, n, z)


@dataclass
class ClusteredProportion:
    """Accuracy over samples grouped by problem, with its interval over problems.

    Add each problem's counts with `add`. The interval is the Wilson score interval at the effective sample size
    ``n / deff``, where the design effect ``deff`` is the cluster-robust variance of the accuracy (the spread of the
    per-problem counts around it) over the binomial variance of ``n`` independent samples. With one sample per
    problem ``deff`` is exactly 1 (the plain Wilson interval); when every problem's samples agree (a deterministic
    model) ``deff`` is the samples per problem and the interval is that of one sample per problem. ``deff`` is
    never taken below 1 (never narrower than independent samples); at 0% or 100% accuracy, where it is undefined,
    the effective size is the number of problems.
    """

    problems: int = 0
    n: int = 0
    correct: int = 0
    sum_cc: float = 0.0  # sums over problems of correct^2, correct*graded and graded^2: enough for the variance
    sum_cm: float = 0.0
    sum_mm: float = 0.0

    def add(self, correct: int, graded: int) -> None:
        """Count one problem: ``correct`` of its ``graded`` samples were correct.

        Args:
            correct: correct samples of the problem.
            graded: graded samples of the problem (problems with none are not added).
        """
        if graded <= 0:
            return
        if not 0 <= correct <= graded:
            raise ValueError(f"correct must be in [0, {graded}], got {correct}")
        self.problems += 1
        self.n += graded
        self.correct += correct
        self.sum_cc += correct * correct
        self.sum_cm += correct * graded
        self.sum_mm += graded * graded

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def design_effect(self) -> float | None:
        """Cluster-robust over binomial variance of the accuracy (1 = samples as good as independent)."""
        if not self.n or self.correct in (0, self.n):
            return None
        p = self.correct / self.n
        spread = self.sum_cc - 2 * p * self.sum_cm + p * p * self.sum_mm
        return max(1.0, spread / (self.n * p * (1 - p)))

    @property
    def effective_n(self) -> float:
        deff = self.design_effect
        return float(self.problems) if deff is None else self.n / deff

    def interval(self, z: float = Z_95) -> tuple[float, float]:
        """The Wilson interval at the effective sample size; ``(0.0, 1.0)`` with nothing graded."""
        if not self.n:
            return (0.0, 1.0)
        return _wilson(self.correct / self.n, self.effective_n, z)

    def describe(self) -> str:
        """The method and its inputs in one phrase, for the reports."""
        deff = self.design_effect
        text = f"Wilson score interval over {self.problems:,} problems"
        if self.n != self.problems:
            text += (f" ({self.n:,} samples, design effect {'-' if deff is None else f'{deff:.2f}'}, "
                     f"effective sample size {self.effective_n:,.0f})")
        return text
