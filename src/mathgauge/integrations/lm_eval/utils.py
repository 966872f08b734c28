"""Helpers of the ``mathgauge_*`` lm-evaluation-harness tasks (MATH-500, MATH, AIME, AMC, GSM8K, Minerva Math,
OlympiadBench, GaoKao 2023 En, College Math).

lm-eval imports this file from the task folder (``!function utils.NAME`` in the YAML files). The problems come from
mathgauge's loader (the copy bundled with mathgauge where there is one, else the hub, or a local copy named with
``--metadata '{"data_file": "PATH"}'`` or the ``MATHGAUGE_DATA_FILE`` environment variable), the prompt is
mathgauge's default zero-shot chain-of-thought template, and every response is graded by mathgauge's grader, so the
score equals ``mathgauge run``'s on the same responses. Tasks with ``repeats`` (AIME, AMC) score the mean over the
k responses of each problem (avg@k).
"""

from __future__ import annotations

import os
from typing import Any

_GRADER: Any = None
_TEMPLATE: Any = None


def _template() -> Any:
    global _TEMPLATE
    if _TEMPLATE is None:
        from mathgauge.prompts import load_template

        _TEMPLATE = load_template(None)
    return _TEMPLATE


def _grader() -> Any:
    global _GRADER
    if _GRADER is None:
        from mathgauge.grading import Grader

        _GRADER = Grader(answer_format=_template().answer_format)
    return _GRADER


def load_dataset(benchmark: str = "math500", data_file: str | None = None, subject: str | None = None,
                 data_files: dict[str, str] | None = None, **_: Any) -> Any:
    """The benchmark as a ``datasets.DatasetDict`` with one ``test`` split (``custom_dataset`` of the tasks).

    Args:
        benchmark: mathgauge benchmark name (``math500``, ``math``, ``aime24``, ``gsm8k``...).
        data_file: local JSONL/Parquet copy (default: ``$MATHGAUGE_DATA_FILE``, else the hub).
        data_files: local copies by benchmark (``{"math500": PATH, "math": PATH}``), for runs of both tasks.
        subject: keep only this subject (any spelling: ``number_theory``, ``Number Theory``).
    """
    import datasets

    from mathgauge.datasets import canonical_subject, load_problems

    if isinstance(data_files, dict) and data_files.get(benchmark):
        data_file = data_files[benchmark]
    data_file = data_file or os.environ.get("MATHGAUGE_DATA_FILE") or None
    problems = load_problems(benchmark, data_file=data_file)
    if subject:
        wanted = canonical_subject(subject)
        problems = [p for p in problems if p.subject == wanted]
    rows = [{"id": p.id, "problem": p.problem, "answer": p.answer, "solution": p.solution, "subject": p.subject,
             "level": p.level if p.level is not None else -1} for p in problems]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def doc_to_text(doc: dict[str, Any]) -> str:
    """The user message of mathgauge's default template (zero-shot, ``\\boxed{}`` answer)."""
    messages = _template().render(doc["problem"])
    content: str = messages[-1]["content"]
    return content


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, float]:
    """Grade the response(s) with mathgauge: ``exact_match`` is the verdict (the mean verdict over the k responses of
    a repeated task, i.e. avg@k), ``no_answer`` the share of responses without an answer."""
    responses = results[0] if results else ""
    if not isinstance(responses, (list, tuple)):
        responses = [responses]
    if not responses:
        return {"exact_match": 0, "no_answer": 1}
    verdicts = [_grader().grade(r if isinstance(r, str) else str(r), doc["answer"]) for r in responses]
    correct = sum(v.correct for v in verdicts)
    no_answer = sum(v.status == "no_answer" for v in verdicts)
    if len(verdicts) == 1:  # one response: the verdict itself, as lm-eval's per-sample logs show it
        return {"exact_match": int(correct), "no_answer": int(no_answer)}
    return {"exact_match": correct / len(verdicts), "no_answer": no_answer / len(verdicts)}
