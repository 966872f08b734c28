"""Ablation: run one configuration with and without a factor and report the deltas with confidence intervals."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ._spec import RunSpec

FACTORS = ("regeneration",)


@dataclass
class AblationResult:
    """Accuracy and code-execution time without (``off``) and with (``on``) the factor, on the same problems."""

    factor: str
    run_off: str
    run_on: str
    problems: int
    accuracy_off: float
    accuracy_on: float
    accuracy_delta_ci95: tuple[float, float]
    exec_s_off: float
    exec_s_on: float
    exec_change_ci95: tuple[float, float] | None

    @property
    def accuracy_delta(self) -> float:
        return self.accuracy_on - self.accuracy_off

    @property
    def exec_change(self) -> float | None:
        """Relative change of total code-execution time (-0.367 = 36.7% less)."""
        return None if self.exec_s_off == 0 else self.exec_s_on / self.exec_s_off - 1

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "accuracy_delta": self.accuracy_delta, "exec_change": self.exec_change}


def ablate(factor: str, spec: RunSpec, *, notify: Callable[[str], None] | None = None,
           resamples: int = 10_000) -> AblationResult:
    """Run ``spec`` without and with ``factor`` (two stored runs, resumed when they exist) and compare them
    problem by problem.

    Args:
        factor: what to switch (`FACTORS`).
        spec: the run; its value of the factor is ignored.
        notify: told which run starts.
        resamples: bootstrap resamples of the confidence intervals.
    """
    from ..report.stats import bootstrap_ratio_change, paired_bootstrap
    from ..store import Store
    from ._run import evaluate

    if factor not in FACTORS:
        raise ConfigError(f"unknown ablation factor {factor!r}; expected one of {', '.join(FACTORS)}")
    base = spec.run_name or f"ablate-{factor}-{(spec.model_name or spec.model).split('/')[-1]}"
    results = {}
    for label, on in (("off", False), ("on", True)):
        variant = dataclasses.replace(spec, regenerate=on, run_name=f"{base}-{label}", resume=True)
        if notify:
            notify(f"{factor} {label}: run {variant.run_name}")
        results[label] = evaluate(variant, notify=notify)
    with Store(spec.store) as store:
        per = {label: _per_problem(store, r.run.run_id) for label, r in results.items()}
    shared = sorted(set(per["off"]) & set(per["on"]))
    if not shared:
        raise ConfigError("the two runs share no graded problem")
    acc_off = [per["off"][p][0] for p in shared]
    acc_on = [per["on"][p][0] for p in shared]
    ex_off = [per["off"][p][1] for p in shared]
    ex_on = [per["on"][p][1] for p in shared]
    return AblationResult(
        factor=factor, run_off=results["off"].run.name, run_on=results["on"].run.name, problems=len(shared),
        accuracy_off=sum(acc_off) / len(shared), accuracy_on=sum(acc_on) / len(shared),
        accuracy_delta_ci95=paired_bootstrap(acc_on, acc_off, resamples=resamples),
        exec_s_off=sum(ex_off), exec_s_on=sum(ex_on),
        exec_change_ci95=bootstrap_ratio_change(ex_on, ex_off, resamples=resamples) if sum(ex_off) > 0 else None,
    )


def _per_problem(store: Any, run_id: str) -> dict[str, tuple[float, float]]:
    """(mean correctness over samples, seconds of code execution) per graded problem."""
    correct: dict[str, list[int]] = defaultdict(list)
    for r in store.sample_results(run_id):
        if r.grade_status is not None:
            correct[r.problem_id].append(int(r.correct))
    exec_s: dict[str, float] = defaultdict(float)
    for e in store.executions(run_id):
        exec_s[e["problem_id"]] += e["duration_ms"] / 1000
    return {p: (sum(v) / len(v), exec_s.get(p, 0.0)) for p, v in correct.items()}
