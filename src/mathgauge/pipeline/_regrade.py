"""Re-grade a stored run through the grading stage and report which verdicts changed.

Each sample is graded again on the exact text its grades read (kept with the call, schema 4), in the format it
was graded in, by the run's grading mode (rules, judge or cascade): the same stage a run grades with, so a grader
that has not changed changes no verdict. A stored judgement of the same text is reused; the judge is asked only
where a cascade now needs it. Samples graded by a mathgauge that did not keep the text, where it cannot be
recomputed, are listed as unknown and left alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..solve import Gradable
from ..store import Store
from ._grade import GradeTask, GradingStage, SampleGrades, judgement_from_detail
from ._solve import make_judge
from ._spec import RunSpec


@dataclass(frozen=True)
class VerdictChange:
    """One sample whose verdict differs between the stored grade and the current grading stage (the grade the
    run is scored by: ``rules``, or ``final`` in judge and cascade runs)."""

    problem_id: str
    sample_index: int
    gold: str
    old_status: str | None
    new_status: str
    old_extracted: str | None
    new_extracted: str | None


@dataclass
class RegradeResult:
    """What `regrade_run` did.

    Args:
        count: samples graded again.
        changes: the samples whose verdict changed.
        unknown: samples not graded again, (problem id, sample index): the text they were graded on is unknown.
    """

    count: int
    changes: list[VerdictChange] = field(default_factory=list)
    unknown: list[tuple[str, int]] = field(default_factory=list)


def regrade_run(store: Store, run_ref: str, *, dry_run: bool = False) -> RegradeResult:
    """Grade every graded sample of a run again; store the new grades unless ``dry_run``.

    Args:
        store: the results store.
        run_ref: run id, name or unique id prefix.
        dry_run: report the changes without storing them.

    Raises:
        RunBusy: (not ``dry_run``) a process is working on the run.
    """
    run = store.get_run(run_ref)
    if not dry_run:
        store.check_not_busy(run)  # a run in progress is graded by its own process
    spec = RunSpec.of_run(run)
    mode = spec.grader
    gold = store.gold_answers(run.run_id)
    tasks: list[tuple[dict[str, Any], GradeTask]] = []
    unknown: list[tuple[str, int]] = []
    for sample in store.graded_samples(run.run_id):
        task = _task(sample, gold[sample["problem_id"]])
        if task is None:
            unknown.append((sample["problem_id"], sample["sample_index"]))
        else:
            tasks.append((sample, task))

    judged = mode != "rules"
    # The judge is opened only if a sample needs a judgement that is not stored (its calls cached in the store).
    stage = GradingStage(mode, judge=(lambda: make_judge(spec, store)) if judged else None, threads=0,
                         problems=store.problem_texts(run.run_id) if judged else None)
    try:
        if mode == "rules":
            results = [stage.grade_now(task) for _, task in tasks]
        else:
            results = asyncio.run(_grade_all(stage, [task for _, task in tasks]))
    finally:
        stage.close()

    scored = spec.scored_grader
    changes: list[VerdictChange] = []
    for (sample, task), grades in zip(tasks, results, strict=True):
        old, new = sample["grades"].get(scored), grades.by_grader(scored)
        assert new is not None
        if old is None or new.status != old["status"] or new.extracted != old["extracted"]:
            changes.append(VerdictChange(task.problem_id, task.sample_index, task.gold,
                                         None if old is None else old["status"], new.status,
                                         None if old is None else old["extracted"], new.extracted))
        if not dry_run:
            store.save_grades(run.run_id, task.problem_id, task.sample_index, grades.records, drop=grades.stale)
    return RegradeResult(count=len(tasks), changes=changes, unknown=unknown)


def _task(sample: dict[str, Any], gold: str) -> GradeTask | None:
    """The grading task of a stored sample; ``None`` when a text its grades read is unknown."""
    grades, texts = sample["grades"], sample["texts"]
    rules = grades.get("rules")
    if rules is None:
        return None
    graded: dict[str, Gradable] = {}
    for grader in ("rules", "initial"):
        if grader in grades:
            index = grades[grader]["call_index"]
            text = texts[index]
            if text["text"] is None:
                return None
            graded[grader] = Gradable(text["text"], text["answer_format"], index)
    judge = grades.get("judge")
    return GradeTask(sample["problem_id"], sample["sample_index"], gold, graded["rules"], graded.get("initial"),
                     judged=judgement_from_detail(judge["detail"]) if judge else None)


async def _grade_all(stage: GradingStage, tasks: list[GradeTask]) -> list[SampleGrades]:
    try:
        return list(await asyncio.gather(*(stage.grade(task) for task in tasks)))
    finally:
        await stage.aclose()
