"""Measured-vs-published gap analysis of a run: each published figure on the run's benchmark beside the measured
accuracy and its CI, the settings that differ between the run and each source, and the run's score re-graded under
peers' grading policies (how much of a gap the grader alone can explain)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...store import RunRecord, SampleResult
from ...store._graded_text import LEGACY_ANSWER_FORMAT
from .._published import PublishedScore, comparable, published_for_model, run_benchmark, version_matches
from ..policies import CLOSEST_POLICY, POLICIES, PolicyTally
from ..stats import ClusteredProportion

if TYPE_CHECKING:
    from ...pipeline import RunSpec


@dataclass
class SettingDiff:
    setting: str
    run: str
    published: str
    differs: bool | None  # None: the source does not say

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PublishedGap:
    entry: PublishedScore
    diff: float | None  # measured - published, percentage points
    inside_ci: bool | None
    same_snapshot: bool | None
    settings: list[SettingDiff]
    closest_policy: str | None
    closest_policy_diff: float | None  # score under the closest policy - published

    @property
    def differing(self) -> list[str]:
        return [s.setting for s in self.settings if s.differs]

    def to_json(self) -> dict[str, Any]:
        return {"published": self.entry.to_dict(), "diff_points": self.diff, "published_inside_run_ci": self.inside_ci,
                "same_snapshot": self.same_snapshot, "settings": [s.to_json() for s in self.settings],
                "settings_that_differ": self.differing, "closest_grading_policy": self.closest_policy,
                "diff_points_under_closest_policy": self.closest_policy_diff}


@dataclass
class GapAnalysis:
    run_id: str
    run_name: str
    model: str
    benchmark: str
    accuracy: float | None  # percent
    ci95: tuple[float, float]  # percent
    caveat: str | None
    gaps: list[PublishedGap]
    other_benchmarks: dict[str, int]  # published figures on benchmarks this run cannot be compared with
    policies: dict[str, dict[str, Any]]  # policy -> {correct, n, accuracy (percent), description}
    run_settings: dict[str, str] = field(default_factory=dict)
    ci_method: str = ""
    disagreeing: set[tuple[str, int]] = field(default_factory=set)  # samples some policy grades otherwise
    unknown_texts: int = 0  # graded samples left out of the policies: the text they were graded on is unknown

    def grader_effect(self) -> str | None:
        """One sentence: how far the grading policy alone moves the score, beside the gaps to published figures."""
        scored = {k: v["accuracy"] for k, v in self.policies.items() if v.get("accuracy") is not None}
        if not scored or self.accuracy is None:
            return None
        lo_name, hi_name = min(scored, key=lambda k: scored[k]), max(scored, key=lambda k: scored[k])
        text = (f"Grading policy alone moves the score from {scored[lo_name]:.1f} ({lo_name}) to "
                f"{scored[hi_name]:.1f} ({hi_name}), a spread of {scored[hi_name] - scored[lo_name]:.1f} points")
        diffs = [g.diff for g in self.gaps if g.diff is not None]
        if diffs:
            reach = [g for g in self.gaps if g.entry.score is not None
                     and min(scored.values()) <= g.entry.score <= max(scored.values())]
            text += (f"; gaps to published figures range from {min(diffs):+.1f} to {max(diffs):+.1f} points, and "
                     f"{len(reach)} of {len(diffs)} published figure(s) fall within the range of re-graded scores")
        return text + "."

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_name": self.run_name, "model": self.model, "benchmark": self.benchmark,
                "accuracy": self.accuracy, "ci95": list(self.ci95), "ci95_method": self.ci_method,
                "caveat": self.caveat,
                "run_settings": self.run_settings, "grading_policies": self.policies,
                "policies_left_out_unknown_text": self.unknown_texts,
                "grader_effect": self.grader_effect(),
                "published": [g.to_json() for g in self.gaps],
                "not_comparable_published_figures": self.other_benchmarks}


def _fmt(v: Any) -> str:
    if v is None:
        return "not stated"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def run_metric(spec: RunSpec) -> str:
    """What the run's accuracy is: ``avg@k`` over k samples, ``greedy`` or ``single sample``.

    Args:
        spec: the run's spec (`mathgauge.pipeline.RunSpec.of_run`).
    """
    k = spec.sampling.samples
    if k > 1:
        return f"avg@{k}"
    return "greedy" if not spec.sampling.temperature else "single sample"


def _metric_differs(run: str, entry: PublishedScore) -> bool | None:
    kind = entry.metric_kind
    if kind in ("not stated", "pass@1", "provider default"):
        return None
    if kind == "greedy":
        return run != "greedy"
    if kind == "avg@k":
        if not run.startswith("avg@"):
            return True
        return entry.samples is not None and run != f"avg@{entry.samples}"
    return True  # maj@k, rm@k, judge: different metrics


def analyse_gap(run: RunRecord, results: list[SampleResult], rows: Iterable[dict[str, Any]], *,
                regrade: bool = True) -> GapAnalysis:
    """The gap analysis of one run.

    Args:
        run: the stored run.
        results: its samples under the grader it is scored by (responses are not needed).
        rows: its `Store.export_rows` of the ``rules`` grades (any iterable, read once and not kept; the raw
            responses are not needed beside known graded texts): the peer policies re-grade each sample's graded
            text, in its answer format.
        regrade: also score the graded texts under the peer grading policies.
    """
    from ...pipeline import RunSpec
    from ._compare import problem_scores

    spec = RunSpec.of_run(run)
    cfg = run.config
    bench, caveat = run_benchmark(run.benchmark, cfg.get("problem_count"), spec.per_cell)
    graded = [r for r in results if r.grade_status is not None and r.status != "failed"]
    accuracy = ClusteredProportion()  # k samples per problem are not independent: the interval is over problems
    for score in problem_scores(graded).values():
        accuracy.add(score.correct, score.graded)
    acc = None if accuracy.accuracy is None else 100 * accuracy.accuracy
    lo, hi = accuracy.interval()
    ci = (100 * lo, 100 * hi)
    truncated = sum(r.truncated for r in graded)
    graded_keys = {(r.problem_id, r.sample_index) for r in graded}
    tally = PolicyTally()
    thinking = 0
    for row in rows:
        if (row["problem_id"], row["sample_index"]) in graded_keys:
            # the graded text (the answer after self-verification, a tool-use transcript) or the call's response
            thinking += any("<think>" in t or "</think>" in t
                            for t in (row.get("graded_text") or "", row.get("response") or ""))
        if regrade and graded:
            tally.add(row)
    sampling = spec.sampling
    metric = run_metric(spec)
    template = cfg.get("prompt_template") or {}
    run_settings = {
        "benchmark": bench + (f" ({caveat})" if caveat else ""),
        "shots": str(_run_shots(cfg)) + (f" (template {template.get('name')})" if template.get("name") else ""),
        "mode": spec.mode,
        "thinking": f"{thinking}/{len(graded)} responses contain <think>",
        "temperature": "server default" if sampling.temperature is None else _fmt(sampling.temperature),
        "samples/metric": metric,
        "max tokens": ("none (server maximum)" if sampling.max_tokens is None else str(sampling.max_tokens))
        + f" ({truncated} of {len(graded)} responses truncated)",
        "chat template": "yes (chat completions API)",
        "grader": f"mathgauge {spec.grader} (answer format {spec.answer_format or LEGACY_ANSWER_FORMAT})",
    }
    policies: dict[str, dict[str, Any]] = {}
    if regrade and graded:
        for name, counts in tally.counts.items():
            desc = "mathgauge rules (stored grades)" if name == "rules" else POLICIES[name][0]
            policies[name] = {**counts, "accuracy": 100 * counts["correct"] / counts["n"] if counts["n"] else None,
                              "description": desc}
    gaps = []
    other: dict[str, int] = {}
    for entry in published_for_model(run.model):
        if entry.benchmark != bench or not comparable(entry, spec.sampling.samples)[0]:  # like with like: benchmark and metric
            label = entry.benchmark_label if entry.benchmark != bench else f"{entry.benchmark_label} {entry.metric}"
            other[label] = other.get(label, 0) + 1
            continue
        diff = None if (acc is None or entry.score is None) else acc - entry.score
        inside = None if (acc is None or entry.score is None) else ci[0] <= entry.score <= ci[1]
        settings = _settings(entry, spec, cfg, run_settings, metric, thinking, len(graded), truncated, caveat)
        closest = CLOSEST_POLICY.get(entry.grader_kind)
        cdiff = None
        if closest and closest in policies and entry.score is not None and policies[closest]["accuracy"] is not None:
            cdiff = policies[closest]["accuracy"] - entry.score
        gaps.append(PublishedGap(entry=entry, diff=diff, inside_ci=inside,
                                 same_snapshot=version_matches(entry, run.model),
                                 settings=settings, closest_policy=closest, closest_policy_diff=cdiff))
    return GapAnalysis(run_id=run.run_id, run_name=run.name, model=run.model, benchmark=bench, accuracy=acc, ci95=ci,
                       caveat=caveat, gaps=gaps, other_benchmarks=other, policies=policies, run_settings=run_settings,
                       ci_method=accuracy.describe(), disagreeing=tally.disagreeing,
                       unknown_texts=tally.unknown if regrade and graded else 0)


def _run_shots(cfg: dict[str, Any]) -> int:
    """Solved examples in the run's prompt, from the template stored with it (a record of the template the run
    used, not a setting: templates stored without ``shots`` are zero-shot)."""
    return int((cfg.get("prompt_template") or {}).get("shots", 0))


def _settings(entry: PublishedScore, spec: RunSpec, cfg: dict[str, Any], rs: dict[str, str], metric: str,
              thinking: int, graded: int, truncated: int, caveat: str | None) -> list[SettingDiff]:
    out = [SettingDiff("benchmark", rs["benchmark"], entry.benchmark_label, True if caveat else False)]
    out.append(SettingDiff("shots", rs["shots"], _fmt(entry.shots),
                           None if entry.shots is None else entry.shots != _run_shots(cfg)))
    run_mode = spec.mode
    kind = entry.mode_kind
    run_family = run_mode if run_mode in ("pot", "tir") else "cot"  # verify is CoT with a self-check pass
    src_family = kind if kind in ("pot", "tir") else ("cot" if kind != "not stated" else None)
    mode_differs = None if src_family is None else src_family != run_family
    if run_mode == "verify" and mode_differs is False:
        mode_differs = True  # the run adds a self-verification pass the source does not describe
    out.append(SettingDiff("mode (CoT/PoT/TIR)", run_mode, entry.mode, mode_differs))
    run_thinks = graded > 0 and thinking * 2 > graded
    src_thinks = None if kind == "not stated" else kind in ("thinking", "reasoning")
    out.append(SettingDiff("thinking", rs["thinking"], entry.mode,
                           None if src_thinks is None else src_thinks != run_thinks))
    t = spec.sampling.temperature
    out.append(SettingDiff("temperature", rs["temperature"], _fmt(entry.temperature),
                           None if entry.temperature is None else abs((t or 0.0) - entry.temperature) > 1e-9))
    out.append(SettingDiff("samples and metric", metric,
                           f"{entry.metric}" + (f" (k={entry.samples})" if entry.samples else ""),
                           _metric_differs(metric, entry)))
    mt = spec.sampling.max_tokens
    mt_differs = None if entry.max_tokens is None else (mt is not None and mt < entry.max_tokens) or (
        mt is not None and mt > entry.max_tokens)
    if truncated and graded and truncated / graded >= 0.01:
        mt_differs = True
    out.append(SettingDiff("max tokens / truncation", rs["max tokens"], _fmt(entry.max_tokens), mt_differs))
    out.append(SettingDiff("chat template", rs["chat template"],
                           "yes" if entry.chat_template else "not stated", False if entry.chat_template else None))
    gk = entry.grader_kind
    run_grader = spec.grader
    if gk == "not stated":
        grader_differs = None
    elif gk == "llm-judge":
        grader_differs = run_grader == "rules"
    else:
        grader_differs = not (gk == "math-verify" and run_grader == "rules")
    out.append(SettingDiff("grader", rs["grader"], entry.grader or "not stated", grader_differs))
    return out
