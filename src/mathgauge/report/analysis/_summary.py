"""Summarise a stored run: accuracy with confidence intervals, breakdowns, failures, tokens and timing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...datasets import MATH_SUBJECTS
from ...store import RunRecord, SampleResult, Store
from ..stats import ClusteredProportion, percentile, spearman
from ._sampling import SamplingMetrics, sampling_metrics


@dataclass
class Cell(ClusteredProportion):
    """Graded samples of a group of problems (a subject, a level, the whole run) and how many were correct, with
    the 95% interval over problems (`ClusteredProportion`)."""

    @property
    def ci95(self) -> tuple[float, float]:
        return self.interval()

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "correct": self.correct, "problems": self.problems,
                "ci95": list(self.ci95) if self.n else None}


@dataclass
class ExecutionStats:
    """Code executions of a run (program-of-thought / tool-integrated modes).

    ``unsafe`` counts executions flagged unsafe (statically or at run time); resource abuse (timeouts, memory
    caps, output floods) is counted apart, by status.
    """

    count: int
    total_ms: float
    p50_ms: float
    p95_ms: float
    unsafe: int
    by_status: dict[str, int]

    @property
    def unsafe_rate(self) -> float:
        return self.unsafe / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "total_ms": round(self.total_ms, 1), "p50_ms": round(self.p50_ms, 1),
                "p95_ms": round(self.p95_ms, 1), "unsafe": self.unsafe, "unsafe_rate": self.unsafe_rate,
                "by_status": self.by_status}


def execution_stats(executions: Sequence[dict[str, Any]]) -> ExecutionStats | None:
    """Summarise stored executions; ``None`` when the run executed no code."""
    if not executions:
        return None
    times = [float(e["duration_ms"]) for e in executions]
    statuses: dict[str, int] = defaultdict(int)
    for e in executions:
        statuses[e["status"]] += 1
    return ExecutionStats(count=len(times), total_ms=sum(times), p50_ms=percentile(times, 0.5),
                          p95_ms=percentile(times, 0.95),
                          unsafe=sum(1 for e in executions if e["unsafe"]), by_status=dict(sorted(statuses.items())))


@dataclass
class RunSummary:
    """Everything the terminal report and ``--summary-json`` show.

    Accuracy is over graded samples (avg@k when there are several samples per problem); samples whose requests
    failed are counted in ``failed`` and left out of the denominator, never silently scored as wrong.
    """

    run_id: str
    run_name: str
    benchmark: str
    model: str
    status: str
    samples_per_problem: int
    problems: int
    n: int
    correct: int
    accuracy: float | None
    ci95: tuple[float, float]
    ci_method: str
    no_answer: int
    failed: int
    pending: int
    truncated: int
    by_subject: dict[str, Cell]
    by_level: dict[str, Cell]
    grid: dict[tuple[str, str], Cell]
    prompt_tokens: int | None  # None: some calls were answered without usage, so the total is unknown
    completion_tokens: int | None
    requests: int
    cached: int
    retries: int
    wall_s: float
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    attempts_allowed: int = 1
    tries_distribution: dict[int, int] = field(default_factory=dict)
    unsolved_after_attempts: int = 0
    executions: ExecutionStats | None = None
    sampling: SamplingMetrics | None = None
    verification: dict[str, int] | None = None
    grader: str = "rules"
    judge: dict[str, Any] | None = None
    regeneration: dict[str, Any] | None = None
    generation_s: float = 0.0
    calls_without_usage: int = 0

    def tokens_sentence(self) -> str:
        """Prompt and completion tokens, or why they are unknown (terminal and HTML report alike)."""
        if self.prompt_tokens is None or self.completion_tokens is None:
            return (f"Tokens: unknown (the server reported no usage for {self.calls_without_usage} of "
                    f"{self.requests} calls)")
        return f"Tokens: prompt {self.prompt_tokens:,}  completion {self.completion_tokens:,}"

    def regeneration_sentence(self) -> str | None:
        """One line on token-by-token regeneration (terminal and HTML report alike)."""
        g = self.regeneration
        if not g:
            return None
        reasons = ", ".join(f"{k} {n}" for k, n in g["cuts_by_reason"].items()) or "none"
        return (f"{g['regenerations']} regenerations in {g['calls_regenerated']} of {g['calls']} calls (cuts: "
                f"{reasons}); about {g['discarded_tokens_est']:,} tokens discarded; gave up {g['gave_up']}")

    def verification_sentence(self) -> str | None:
        """One line on how self-verification changed answers."""
        v = self.verification
        if not v:
            return None
        return (f"{v['samples']} samples, answer changed in {v['changed']} ({v['better']} for the better, "
                f"{v['worse']} for the worse)")

    @property
    def difficulty_trend(self) -> float | None:
        """Spearman correlation of level (1-5) and accuracy: near -1 when harder levels are solved less."""
        points = [(int(k), c.accuracy) for k, c in self.by_level.items() if k.isdigit() and c.n]
        return spearman([float(x) for x, _ in points], [float(a) for _, a in points])  # type: ignore[arg-type]

    @property
    def requests_per_s(self) -> float | None:
        return self.requests / self.wall_s if self.wall_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary written by ``--summary-json``."""
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "benchmark": self.benchmark,
            "model": self.model,
            "status": self.status,
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "ci95": list(self.ci95),
            "ci95_method": self.ci_method,
            "no_answer": self.no_answer,
            "failed": self.failed,
            "pending": self.pending,
            "truncated": self.truncated,
            "problems": self.problems,
            "samples_per_problem": self.samples_per_problem,
            "by_subject": {k: v.to_dict() for k, v in self.by_subject.items()},
            "by_level": {k: v.to_dict() for k, v in self.by_level.items()},
            "difficulty_trend_spearman": self.difficulty_trend,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "calls_without_usage": self.calls_without_usage,
            "requests": self.requests,
            "cached": self.cached,
            "retries": self.retries,
            "wall_s": round(self.wall_s, 3),
            "failures": [{"problem_id": p, "sample_index": k, "error": e} for p, k, e in self.failures],
            "attempts_allowed": self.attempts_allowed,
            "attempts_distribution": {str(k): v for k, v in sorted(self.tries_distribution.items())},
            "unsolved_after_attempts": self.unsolved_after_attempts,
            "executions": self.executions.to_dict() if self.executions else None,
            "sampling": self.sampling.to_dict() if self.sampling else None,
            "verification": self.verification,
            "grader": self.grader,
            "judge": self.judge,
            "regeneration": self.regeneration,
            "generation_s": round(self.generation_s, 3),
            "execution_s": round(self.executions.total_ms / 1000, 3) if self.executions else 0.0,
        }


def _subject_order(name: str) -> tuple[int, str]:
    return (MATH_SUBJECTS.index(name) if name in MATH_SUBJECTS else len(MATH_SUBJECTS), name)


def verification_effect(final: Sequence[SampleResult], initial: Sequence[SampleResult]) -> dict[str, int] | None:
    """How self-verification changed answers: compared with the grade of each sample's first answer."""
    before = {(r.problem_id, r.sample_index): r for r in initial if r.grade_status is not None}
    if not before:
        return None
    effect = {"samples": 0, "changed": 0, "better": 0, "worse": 0, "unchanged": 0}
    for r in final:
        first = before.get((r.problem_id, r.sample_index))
        if first is None or r.grade_status is None:
            continue
        effect["samples"] += 1
        changed = first.extracted != r.extracted
        effect["changed"] += changed
        effect["better"] += (not first.correct) and r.correct
        effect["worse"] += first.correct and not r.correct
        effect["unchanged"] += not changed
    return effect


def summarize_run(store: Store, run: RunRecord, results: Sequence[SampleResult] | None = None,
                  executions: Sequence[dict[str, Any]] | None = None) -> RunSummary:
    """Everything about a stored run the reports show, read from ``store`` without holding its responses.

    Args:
        store: the results store.
        run: the run.
        results: its samples under the grader it is scored by, when the caller has read them already.
        executions: its code executions, when the caller has read them already.
    """
    from ...pipeline import RunSpec

    spec = RunSpec.of_run(run)
    if results is None:
        results = store.sample_results(run.run_id, grader=spec.scored_grader, responses=False)
    initial = (store.sample_results(run.run_id, grader="initial", responses=False)
               if spec.mode == "verify" else None)
    summary = summarize(run, results, store.executions(run.run_id) if executions is None else executions, initial)
    if spec.regenerate:
        summary.regeneration = regeneration_report(store.regeneration_records(run.run_id))
    if spec.grader != "rules":
        summary.judge = judge_report(store.sample_results(run.run_id, grader="rules", responses=False),
                                     store.judge_scores(run.run_id))
    return summary


def regeneration_report(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals of token-by-token regeneration over a run's calls: cuts by reason, text discarded, time."""
    reasons: dict[str, int] = defaultdict(int)
    for record in records:
        for cut in record.get("cuts", []):
            reasons[cut.get("reason", "?")] += 1
    return {
        "calls": len(records),
        "calls_regenerated": sum(1 for r in records if r.get("regenerations")),
        "regenerations": sum(int(r.get("regenerations", 0)) for r in records),
        "cuts_by_reason": dict(sorted(reasons.items())),
        "discarded_chars": sum(int(r.get("discarded_chars", 0)) for r in records),
        "discarded_tokens_est": sum(int(r.get("discarded_tokens_est", 0)) for r in records),
        "gave_up": sum(1 for r in records if r.get("gave_up")),
        "generation_s": round(sum(float(r.get("generation_s", 0.0)) for r in records), 3),
    }


def judge_report(rules: Sequence[SampleResult], scores: dict[tuple[str, int], tuple[int | None, str]]
                 ) -> dict[str, Any]:
    """Score distribution (1-5, unparseable, failed) and agreement of the rule grader with the judge."""
    from ...grading.judge import agreement

    distribution = {str(k): 0 for k in range(1, 6)} | {"unparseable": 0, "failed": 0}
    pairs, labels = [], []
    for r in rules:
        key = (r.problem_id, r.sample_index)
        if key not in scores or r.grade_status is None:
            continue
        score, status = scores[key]
        distribution[str(score) if score is not None else ("failed" if status == "failed" else "unparseable")] += 1
        pairs.append((r.grade_status, score))
        labels.append(f"{r.problem_id}#{r.sample_index}")
    agree = agreement(pairs, labels=labels)
    return {"judged": len(pairs), "scores": distribution, "agreement": agree.to_dict(), "table": agree.table()}


def summarize(run: RunRecord, results: Sequence[SampleResult],
              executions: Sequence[dict[str, Any]] | None = None,
              initial: Sequence[SampleResult] | None = None) -> RunSummary:
    """Build the `RunSummary` of ``run`` from its stored sample results (and code executions, if any).

    "Unsolved after N attempts" counts graded samples that used every allowed try and still had no answer.
    Every interval is over problems (`Cell`): with k samples per problem the samples are not independent.

    Args:
        run: the stored run.
        results: its samples (`Store.sample_results`; responses are not needed).
        executions: its code executions, if any.
        initial: the grades of the answers before self-verification (verify mode).
    """
    from ...pipeline import RunSpec

    spec = RunSpec.of_run(run)
    attempts_allowed = spec.attempts
    tries: dict[int, int] = defaultdict(int)
    for r in results:
        if r.tries:
            tries[r.tries] += 1
    by_subject: dict[str, Cell] = defaultdict(Cell)
    by_level: dict[str, Cell] = defaultdict(Cell)
    grid: dict[tuple[str, str], Cell] = defaultdict(Cell)
    overall = Cell()
    no_answer = failed = pending = truncated = 0
    failures = []
    per_problem: dict[str, list[Any]] = {}  # problem -> [subject, level, correct, graded]
    for r in results:
        if r.status == "failed":
            failed += 1
            failures.append((r.problem_id, r.sample_index, r.error or "unknown error"))
            continue
        if r.grade_status is None:
            pending += 1
            continue
        level = str(r.level) if r.level is not None else "?"
        counts = per_problem.setdefault(r.problem_id, [r.subject, level, 0, 0])
        counts[2] += r.correct
        counts[3] += 1
        no_answer += r.grade_status == "no_answer"
        truncated += r.truncated
    for subject, level, right, graded in per_problem.values():
        for cell in (overall, by_subject[subject], by_level[level], grid[(subject, level)]):
            cell.add(right, graded)
    return RunSummary(
        run_id=run.run_id,
        run_name=run.name,
        benchmark=run.benchmark,
        model=run.model,
        status=run.status,
        samples_per_problem=spec.sampling.samples,
        problems=len({r.problem_id for r in results}),
        n=overall.n,
        correct=overall.correct,
        accuracy=overall.accuracy,
        ci95=overall.ci95,
        ci_method=overall.describe(),
        no_answer=no_answer,
        failed=failed,
        pending=pending,
        truncated=truncated,
        by_subject=dict(sorted(by_subject.items(), key=lambda kv: _subject_order(kv[0]))),
        by_level=dict(sorted(by_level.items())),
        grid=dict(grid),
        prompt_tokens=_total_or_unknown(r.prompt_tokens for r in results),
        completion_tokens=_total_or_unknown(r.completion_tokens for r in results),
        calls_without_usage=sum(r.calls_without_usage for r in results),
        requests=sum(r.attempts for r in results),
        cached=sum(r.cached for r in results),
        retries=sum(r.retries for r in results),
        wall_s=run.wall_s,
        generation_s=sum(r.generation_s for r in results),
        failures=failures,
        attempts_allowed=attempts_allowed,
        tries_distribution=dict(tries),
        unsolved_after_attempts=sum(1 for r in results if r.grade_status == "no_answer"
                                    and r.tries >= attempts_allowed),
        executions=execution_stats(executions or []),
        verification=verification_effect(results, initial) if initial else None,
        grader=spec.grader,
        sampling=sampling_metrics(results) if spec.sampling.samples > 1 else None,
    )


def _total_or_unknown(values: Iterable[int | None]) -> int | None:
    """The sum, or ``None`` when any part is unknown (a partial sum would pass for the whole)."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total
