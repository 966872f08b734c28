"""The statistics of the reports: each method against its closed form or scipy, and intervals over problems (a
k-sample run of a deterministic server has the same interval as its 1-sample run, in every command)."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from mathgauge.report.stats import (
    Z_95,
    ClusteredProportion,
    bootstrap_mean,
    bootstrap_method,
    bootstrap_ratio_change,
    mcnemar_exact,
    paired_bootstrap,
    percentile,
    spearman,
    wilson_interval,
)


def _clustered(counts: list[tuple[int, int]]) -> ClusteredProportion:
    acc = ClusteredProportion()
    for correct, graded in counts:
        acc.add(correct, graded)
    return acc


def test_wilson_matches_the_closed_form_by_hand() -> None:
    # Wilson (1927): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), here 81 of 263
    n, p, z = 263, 81 / 263, Z_95
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    expected = ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n))
    assert wilson_interval(81, 263) == pytest.approx(expected, abs=1e-12)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)


def test_one_sample_per_problem_is_exactly_the_wilson_interval() -> None:
    rng = random.Random(5)
    for _ in range(20):
        verdicts = [rng.random() < rng.random() for _ in range(rng.randrange(1, 300))]
        acc = _clustered([(int(v), 1) for v in verdicts])
        assert acc.interval() == pytest.approx(wilson_interval(sum(verdicts), len(verdicts)), abs=1e-12)
        assert acc.design_effect in (None, pytest.approx(1.0))


def test_identical_samples_give_the_interval_of_one_sample_per_problem() -> None:
    verdicts = [i % 3 != 0 for i in range(40)]
    one = _clustered([(int(v), 1) for v in verdicts])
    for k in (2, 8, 16):
        many = _clustered([(k * int(v), k) for v in verdicts])
        assert many.design_effect == pytest.approx(k)
        assert many.effective_n == pytest.approx(40)
        assert many.interval() == pytest.approx(one.interval(), abs=1e-12)
        # the interval over n x k samples taken as independent is about sqrt(k) times narrower
        naive = wilson_interval(many.correct, many.n)
        ratio = (one.interval()[1] - one.interval()[0]) / (naive[1] - naive[0])
        assert ratio == pytest.approx(math.sqrt(k), rel=0.15)
    # all right or all wrong: the design effect is undefined and the size is the number of problems
    assert _clustered([(8, 8)] * 10).interval() == pytest.approx(wilson_interval(10, 10))
    assert _clustered([(0, 8)] * 10).interval() == pytest.approx(wilson_interval(0, 10))


def test_design_effect_is_the_cluster_robust_over_the_binomial_variance() -> None:
    rng = np.random.default_rng(3)
    graded = rng.integers(1, 9, size=200)
    correct = rng.binomial(graded, rng.beta(2, 2, size=200))
    acc = _clustered(list(zip(correct.tolist(), graded.tolist())))
    p = correct.sum() / graded.sum()
    robust = ((correct - p * graded) ** 2).sum() / graded.sum() ** 2  # CR0 sandwich variance of a ratio estimator
    binomial = p * (1 - p) / graded.sum()
    assert acc.design_effect == pytest.approx(max(1.0, robust / binomial), rel=1e-9)
    lo, hi = acc.interval()
    half_wald = Z_95 * math.sqrt(robust)
    assert (hi - lo) / 2 == pytest.approx(half_wald, rel=0.05)  # Wilson ~ Wald away from 0 and 1 at this size
    with pytest.raises(ValueError):
        acc.add(3, 2)


def test_bootstrap_mean_agrees_with_the_normal_interval_and_is_reproducible() -> None:
    rng = np.random.default_rng(11)
    values = rng.random(4000)
    lo, hi = bootstrap_mean(values, resamples=10_000, seed=0)
    se = values.std(ddof=0) / math.sqrt(len(values))
    assert lo == pytest.approx(values.mean() - Z_95 * se, abs=0.1 * se)
    assert hi == pytest.approx(values.mean() + Z_95 * se, abs=0.1 * se)
    assert bootstrap_mean(values, resamples=10_000, seed=0) == (lo, hi)
    assert bootstrap_mean(values, resamples=10_000, seed=1) != (lo, hi)
    assert bootstrap_mean([0.5] * 30, resamples=100) == (0.5, 0.5)
    assert all(math.isnan(x) for x in bootstrap_mean([], resamples=100))
    assert bootstrap_method() == "bootstrap over problems, 10,000 resamples, seed 0"


def test_bootstrap_over_problems_agrees_with_the_clustered_interval() -> None:
    rng = np.random.default_rng(7)
    k, n = 8, 1500
    correct = rng.binomial(k, rng.beta(1.5, 1.0, size=n))
    boot = bootstrap_mean(correct / k, resamples=10_000, seed=0)
    clustered = _clustered([(int(c), k) for c in correct]).interval()
    assert boot == pytest.approx(clustered, abs=0.004)


def test_paired_bootstrap_agrees_with_the_normal_interval_of_the_differences() -> None:
    rng = np.random.default_rng(2)
    a = (rng.random(5000) < 0.7).astype(float)
    b = np.where(rng.random(5000) < 0.8, a, 1 - a)
    lo, hi = paired_bootstrap(a, b, resamples=10_000, seed=0)
    d = a - b
    se = d.std(ddof=0) / math.sqrt(len(d))
    assert (lo, hi) == pytest.approx((d.mean() - Z_95 * se, d.mean() + Z_95 * se), abs=0.1 * se)
    with pytest.raises(ValueError):
        paired_bootstrap([1, 0], [1], resamples=10)


def test_ratio_change_bootstrap() -> None:
    on, off = [2.0, 4.0, 6.0, 8.0], [1.0, 2.0, 3.0, 4.0]
    assert bootstrap_ratio_change(on, off, resamples=500) == pytest.approx((1.0, 1.0))
    lo, hi = bootstrap_ratio_change([1.0, 1.0, 5.0], [0.0, 0.0, 10.0], resamples=2000)  # sum(off) = 0: left out
    assert math.isfinite(lo) and lo <= hi


def test_mcnemar_is_the_exact_binomial_tail() -> None:
    for b in range(0, 40, 3):
        for c in range(0, 40, 4):
            n, k = b + c, min(b, c)
            exact = 1.0 if n == 0 else float(min(1, 2 * Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)))
            assert mcnemar_exact(b, c) == pytest.approx(exact, rel=1e-12, abs=1e-300)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_spearman_agrees_with_scipy_including_ties() -> None:
    rng = np.random.default_rng(4)
    for size in (3, 5, 12, 200):
        x = rng.integers(0, 5, size=size).astype(float)  # many ties
        y = x + rng.integers(-2, 3, size=size)
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert spearman(list(x), list(y)) == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
    assert spearman([1, 2, 3], [0.5, 0.5, 0.5]) is None and spearman([1, 2], [1, 2]) is None


def test_percentile_interpolates_between_order_statistics() -> None:
    rng = np.random.default_rng(6)
    for size in (1, 2, 7, 100):
        values = list(rng.exponential(100.0, size=size))
        for q in (0.0, 0.5, 0.95, 1.0):
            assert percentile(values, q) == pytest.approx(float(np.quantile(values, q)), rel=1e-12)
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile(list(range(101)), 0.95) == 95.0
    assert percentile([7.0], 0.95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


# -- a deterministic server, k samples against 1 -----------------------------------------------------------------


def test_k_sample_run_of_a_deterministic_server_has_the_same_ci_as_its_one_sample_run(
        run_cli, server, small_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    docs = {}
    for name, extra in (("one", []), ("eight", ["--samples", "8", "--temperature", "0.7"])):
        out = tmp_path / f"{name}.json"
        result = run_cli("run", "--model", "scripted", "--base-url", server.base_url, "--data-file", str(small_data),
                         "--store", str(db), "--quiet", "--run-name", name, "--summary-json", str(out), *extra)
        assert result.code == 0, result.err
        docs[name] = json.loads(out.read_text())
    one, eight = docs["one"], docs["eight"]
    assert eight["n"] == 8 * one["n"] and eight["correct"] == 8 * one["correct"]
    assert eight["accuracy"] == pytest.approx(one["accuracy"])
    assert eight["ci95"] == pytest.approx(one["ci95"], abs=1e-12)
    assert one["ci95"] == pytest.approx(wilson_interval(one["correct"], one["n"]), abs=1e-12)
    assert "design effect 8.00" in eight["ci95_method"] and "40 problems" in eight["ci95_method"]
    for subject, cell in one["by_subject"].items():
        assert eight["by_subject"][subject]["ci95"] == pytest.approx(cell["ci95"], abs=1e-12)
    for level, cell in one["by_level"].items():
        assert eight["by_level"][level]["ci95"] == pytest.approx(cell["ci95"], abs=1e-12)
    assert eight["sampling"]["avg@k"]["ci95"] == pytest.approx(one["ci95"], abs=1e-12)
    # `show` and `compare` print the same interval for both runs
    lo, hi = one["ci95"]
    shown = f"95% CI [{100 * lo:.1f}, {100 * hi:.1f}]"
    for name in ("one", "eight"):
        result = run_cli("show", name, "--store", str(db))
        assert result.code == 0 and shown in result.out, result.out
    result = run_cli("compare", "one", "eight", "--store", str(db), "--json", "-")
    assert result.code == 0, result.err
    comp = json.loads(result.out)
    assert comp["runs"][0]["ci95"] == pytest.approx(comp["runs"][1]["ci95"], abs=1e-12)
    assert comp["pairs"][0]["diff_ci95_bootstrap"] == [0.0, 0.0]
    assert comp["pairs"][0]["diff_ci95_method"] == "paired bootstrap over problems, 10,000 resamples, seed 0"
