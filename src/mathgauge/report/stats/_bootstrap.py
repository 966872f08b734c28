"""The percentile bootstrap over problems, vectorised with numpy (resamples drawn in chunks of a bounded size)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
_CHUNK_ELEMENTS = 2_000_000  # resampled values held at once (16 MB of float64), whatever n and the resamples


def bootstrap_method(resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, *, paired: bool = False) -> str:
    """How a bootstrap interval was made, as the reports name it."""
    return f"{'paired ' if paired else ''}bootstrap over problems, {resamples:,} resamples, seed {seed}"


def bootstrap_distribution(columns: Sequence[Sequence[float]], statistic: Callable[..., np.ndarray], *,
                           resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The statistic over ``resamples`` resamples of the problems (rows drawn with replacement, columns kept paired).

    Args:
        columns: one value per problem in each column, all of the same length.
        statistic: maps the resampled columns, each an array of shape (resamples in the chunk, problems), to one
            value per resample (shape (resamples in the chunk,)); ``nan`` where it is undefined.
        resamples: how many resamples.
        seed: the generator's seed (the same seed, data and resamples give the same distribution).
    """
    import numpy as np

    arrays = [np.asarray(c, dtype=float) for c in columns]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("paired samples must have the same length")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    out = np.empty(resamples)
    if n == 0:
        out.fill(np.nan)
        return out
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = statistic(*(a[idx] for a in arrays))
    return out


def percentile_interval(distribution: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of a bootstrap distribution: its ``(1 - level) / 2`` and ``(1 + level) / 2``
    quantiles (linear interpolation between order statistics), ignoring undefined (``nan``) resamples."""
    import numpy as np

    finite = distribution[np.isfinite(distribution)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))


def _mean(values: Any) -> Any:
    return values.mean(axis=1)


def bootstrap_mean(values: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                   level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-problem values (accuracies, pass@k, maj@k).

    Args:
        values: one value per problem.
        resamples: bootstrap resamples.
        seed: the generator's seed.
        level: the interval's coverage.
    """
    return percentile_interval(bootstrap_distribution([values], _mean, resamples=resamples, seed=seed), level)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES,
                     seed: int = DEFAULT_SEED, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``mean(a) - mean(b)``, resampling the paired problems with replacement.

    Args:
        a, b: one value per problem for each run, in the same problem order.
        resamples: bootstrap resamples.
        seed: the generator's seed.
        level: the interval's coverage.
    """
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    import numpy as np

    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return bootstrap_mean(diffs, resamples=resamples, seed=seed, level=level)


def _ratio_change(on: Any, off: Any) -> Any:
    import numpy as np

    total_off = off.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total_off > 0, on.sum(axis=1) / total_off - 1, np.nan)


def bootstrap_ratio_change(on: Sequence[float], off: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES,
                           seed: int = DEFAULT_SEED, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``sum(on) / sum(off) - 1`` over paired problems (resamples with ``sum(off) == 0``
    are left out).

    Args:
        on, off: one value per problem (e.g. seconds of code execution) with and without a factor.
        resamples: bootstrap resamples.
        seed: the generator's seed.
        level: the interval's coverage.
    """
    dist = bootstrap_distribution([on, off], _ratio_change, resamples=resamples, seed=seed)
    return percentile_interval(dist, level)
