"""The grading stage: rules -> judge or cascade -> final, the one way a sample is graded.

`mathgauge run` grades each solved sample through it, `mathgauge regrade` grades stored samples again through it,
and `mathgauge rescore` grades imported responses through it; all read the text the solver said is to be graded
(a `Gradable`), never a text guessed from the stored calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..solve import Gradable
from ._spec import scored_grader

__all__ = ["GradeRecord", "GradeTask", "GradingStage", "SampleGrades", "judgement_from_detail", "scored_grader"]


@dataclass(frozen=True)
class GradeRecord:
    """One grade as the store keeps it.

    Args:
        grader: ``rules``, ``judge`` (the judge's score), ``final`` (what a judge or cascade run is scored by),
            ``initial`` (the answer before self-verification), ``original`` (an imported harness's verdict).
        call_index: the call whose graded text this grade read.
        status: ``correct``, ``incorrect``, ``no_answer``; a judge's ``unparseable`` or ``failed``.
        correct: whether it counts as correct.
        extracted, normalized: the answer the rules extracted, and its normal form.
        method: how it was decided (``numeric``, ``symbolic``, ... ; the judge's status; ``final``).
        reason: why it is not correct (``None`` when it is).
        score: a judge's 1-5 score.
        detail: the judge's reply and settings, kept as JSON.
    """

    grader: str
    call_index: int
    status: str
    correct: bool
    extracted: str | None
    normalized: str | None = None
    method: str | None = None
    reason: str | None = None
    score: int | None = None
    detail: dict[str, Any] | None = None

    @classmethod
    def from_verdict(cls, grader: str, call_index: int, verdict: Any) -> GradeRecord:
        """From a `mathgauge.grading.Verdict` (or anything with its fields)."""
        return cls(grader, call_index, verdict.status, bool(verdict.correct), verdict.extracted, verdict.normalized,
                   verdict.method, verdict.reason)


@dataclass(frozen=True)
class GradeTask:
    """What grading one sample needs.

    Args:
        problem_id, sample_index: which sample.
        gold: the reference answer.
        answer: the text the sample is scored on.
        initial: the answer before self-verification (graded by the rules only).
        judged: a judgement already stored for ``answer`` (re-grading reuses it: the judge read the same text).
    """

    problem_id: str
    sample_index: int
    gold: str
    answer: Gradable
    initial: Gradable | None = None
    judged: Any = None


@dataclass(frozen=True)
class SampleGrades:
    """The grades of one sample.

    Args:
        records: the grades to store.
        correct: the verdict the run is scored by (``final`` in judge and cascade runs, else ``rules``).
        stale: graders whose stored grade no longer applies (a judge grade a cascade does not need any more).
    """

    records: tuple[GradeRecord, ...]
    correct: bool
    stale: tuple[str, ...] = ()

    def by_grader(self, grader: str) -> GradeRecord | None:
        return next((r for r in self.records if r.grader == grader), None)


class GradingStage:
    """Grades samples: the rule grader, then in ``judge`` and ``cascade`` runs the judge where the mode asks for it,
    then the ``final`` grade the run is scored by.

    Args:
        mode: ``rules``, ``judge`` or ``cascade``.
        problems: problem id -> (problem, reference answer, reference solution), for the judge.
        judge: makes the `mathgauge.grading.judge.Judge` on first need (a re-grade that finds every judgement
            stored never opens the judge's endpoint).
        threads: grade in this many threads, off the event loop (``0``: in the caller's thread).
    """

    def __init__(self, mode: str = "rules", *, problems: dict[str, tuple[str, str, str]] | None = None,
                 judge: Callable[[], Any] | None = None, threads: int = 2) -> None:
        if mode != "rules":
            from ..grading.judge import GRADER_MODES

            if mode not in GRADER_MODES:
                raise ValueError(f"unknown grader mode {mode!r}; expected one of {', '.join(GRADER_MODES)}")
        if mode != "rules" and judge is None:
            raise ValueError(f"grader mode {mode!r} needs a judge")
        self.mode = mode
        self.problems = problems or {}
        self._make_judge = judge
        self._judge: Any = None
        # One grader for every format: each text is graded in the format it was stored with. Made on first use
        # (importing the grader is most of a run's start-up otherwise; it is not needed before the first answer).
        self._grader: Any = None
        self._grader_lock = threading.Lock()
        # Grading is CPU work; threads keep the event loop free to send and receive requests meanwhile.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mathgauge-grade") if threads else None

    @property
    def grader(self) -> Any:
        """The rule grader (a `mathgauge.grading.Grader`)."""
        if self._grader is None:
            with self._grader_lock:  # two grading threads may ask at once
                if self._grader is None:
                    from ..grading import Grader

                    self._grader = Grader()
        return self._grader

    def rules(self, task: GradeTask) -> list[GradeRecord]:
        """The rule grades of a sample (its answer, and the initial answer when there is one)."""
        answer = task.answer
        out = [GradeRecord.from_verdict(
            "rules", answer.call_index, self.grader.grade(answer.text, task.gold, answer_format=answer.answer_format))]
        if task.initial is not None:
            initial = task.initial
            out.append(GradeRecord.from_verdict("initial", initial.call_index, self.grader.grade(
                initial.text, task.gold, answer_format=initial.answer_format)))
        return out

    def grade_now(self, task: GradeTask) -> SampleGrades:
        """Grade in the caller's thread; only for rule grading (the judge is asynchronous)."""
        if self.mode != "rules":
            raise ValueError("grade_now grades by the rules only; use `grade` in judge and cascade runs")
        records = self.rules(task)
        return SampleGrades(tuple(records), records[0].correct)

    async def grade(self, task: GradeTask) -> SampleGrades:
        """Grade one sample: rules, then the judge where the mode needs it, then the final grade."""
        if self._pool is None:
            records = self.rules(task)
        else:
            records = await asyncio.get_running_loop().run_in_executor(self._pool, self.rules, task)
        rules = records[0]
        if self.mode == "rules":
            return SampleGrades(tuple(records), rules.correct)
        from ..grading.judge import final_correct, judge_needed

        score = None
        stale: tuple[str, ...] = ("judge",)
        if judge_needed(self.mode, rules.status):
            judged = task.judged or await self._score(task)
            score = judged.score
            stale = ()
            records.append(GradeRecord(
                "judge", rules.call_index, ("correct" if judged.correct else "incorrect") if judged.status == "ok"
                else judged.status, judged.correct, rules.extracted, None, judged.status,
                None if judged.correct else "judged_incorrect", score, judged.to_dict()))
        correct = final_correct(self.mode, rules.status, score)
        status = "correct" if correct else ("no_answer" if rules.status == "no_answer" and score is None
                                            else "incorrect")
        records.append(GradeRecord("final", rules.call_index, status, correct, rules.extracted, None, "final",
                                   None if correct else "judged_incorrect", score))
        return SampleGrades(tuple(records), correct, stale)

    async def _score(self, task: GradeTask) -> Any:
        if self._judge is None:
            assert self._make_judge is not None
            self._judge = self._make_judge()
        problem, answer, solution = self.problems[task.problem_id]
        return await self._judge.score(problem, answer, solution, task.answer.text)

    async def aclose(self) -> None:
        """Close the judge's endpoint (when one was opened) and the grader."""
        if self._judge is not None:
            await self._judge.backend.aclose()
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._grader is not None:
            self._grader.close()


def judgement_from_detail(detail: dict[str, Any] | None) -> Any:
    """A stored judge grade's judgement (`JudgeScore`), for re-grading the same text; ``None`` when there is none."""
    if not detail:
        return None
    from ..grading.judge import JudgeScore

    names = {f.name for f in dataclasses.fields(JudgeScore)}
    return JudgeScore(**{k: v for k, v in detail.items() if k in names})
