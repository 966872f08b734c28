"""Re-grade a stored run's responses with the current grader and report which verdicts changed."""

from __future__ import annotations

from dataclasses import dataclass

from .store import Store


@dataclass(frozen=True)
class VerdictChange:
    """One sample whose verdict differs between the stored grade and the current grader."""

    problem_id: str
    sample_index: int
    gold: str
    old_status: str | None
    new_status: str
    old_extracted: str | None
    new_extracted: str | None


def regrade_run(store: Store, run_ref: str, *, dry_run: bool = False) -> tuple[int, list[VerdictChange]]:
    """Grade every stored response of a run again; store the new grades unless ``dry_run``.

    Returns:
        (number of samples re-graded, the samples whose verdict changed).
    """
    from .grading import Grader

    run = store.get_run(run_ref)
    answer_format = run.config.get("answer_format", "auto")
    changes: list[VerdictChange] = []
    count = 0
    with Grader(answer_format=answer_format) as grader:
        for row in store.gradable_responses(run.run_id):
            verdict = grader.grade(row["response"], row["gold"])
            count += 1
            if verdict.status != row["status"] or verdict.extracted != row["extracted"]:
                changes.append(VerdictChange(row["problem_id"], row["sample_index"], row["gold"], row["status"],
                                             verdict.status, row["extracted"], verdict.extracted))
            if not dry_run:
                store.add_grade(run.run_id, row["problem_id"], row["sample_index"], row["attempt_id"], verdict)
    return count, changes
