"""Tests and summaries beside the intervals: exact McNemar (scipy), Spearman's rank correlation, percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs: the binomial test of ``b`` against
    Bin(b + c, 1/2) (``scipy.stats.binomtest``); 1.0 when there are no discordant pairs.

    Args:
        b: pairs only the first run got right.
        c: pairs only the second run got right.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest  # imported here: scipy.stats takes ~0.5 s to import, only comparisons need it

    return float(min(1.0, binomtest(b, b + c, 0.5).pvalue))


def _average_ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start:end + 1]:  # ties share their average rank
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's correlation of the average ranks, as ``scipy.stats.spearmanr``);
    ``None`` for fewer than 3 points or a constant series.

    Plain Python, like `percentile`: both serve the summary that ends every ``run`` and ``show`` (a correlation
    over at most five levels, two percentiles of execution times), where importing numpy (~50 ms) or scipy.stats
    (~0.5 s) would cost more than the computation. The tests check both against scipy and numpy.

    Args:
        xs, ys: the paired series.
    """
    if len(xs) != len(ys):
        raise ValueError("series of different lengths")
    if len(xs) < 3:
        return None
    rx, ry = _average_ranks(xs), _average_ranks(ys)
    mean = (len(xs) + 1) / 2  # the mean of ranks 1..n, ties or not
    cov = sum((a - mean) * (b - mean) for a, b in zip(rx, ry))
    vx = sum((a - mean) ** 2 for a in rx)
    vy = sum((b - mean) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, interpolating linearly between order statistics (numpy's default
    rule: position ``q * (n - 1)`` in the sorted values).

    Args:
        values: the observations (at least one).
        q: the quantile, 0.5 for the median, 0.95 for p95.
    """
    if len(values) == 0:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))
