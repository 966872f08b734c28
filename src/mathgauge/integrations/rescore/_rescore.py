"""Import another harness's outputs as a mathgauge run, grade them with mathgauge's grader, compare verdicts."""

from __future__ import annotations

import hashlib
import platform
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import __version__
from ...datasets import Problem, canonical_subject, load_problems, subject_slug
from ...errors import ConfigError, DatasetError
from ...solve import Attempt, Gradable, SamplingConfig
from ...store import RunRecord, Store
from ._formats import ImportedFile, ImportedRecord, read_file

_SPACES = re.compile(r"\s+")
_PREFIX = 24


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Flip:
    """One response whose verdict differs between the other tool and mathgauge."""

    problem_id: str
    sample_index: int
    gold: str
    original_correct: bool
    original_extracted: str | None
    status: str
    extracted: str | None
    where: str


@dataclass
class RescoreResult:
    """What `rescore` returns.

    ``original_correct``/``original_n`` count the responses that carry the other tool's verdict; ``correct``/``n``
    are mathgauge's over all imported responses; ``flips`` lists every response graded differently.
    """

    run: RunRecord
    format: str
    model: str
    n: int
    correct: int
    no_answer: int
    original_n: int
    original_correct: int
    original_metric: str | None
    flips: list[Flip]
    notes: list[str] = field(default_factory=list)
    unmatched: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def original_accuracy(self) -> float | None:
        return self.original_correct / self.original_n if self.original_n else None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id, "run_name": self.run.name, "format": self.format, "model": self.model,
            "n": self.n, "correct": self.correct, "accuracy": self.accuracy, "no_answer": self.no_answer,
            "original": {"n": self.original_n, "correct": self.original_correct,
                         "accuracy": self.original_accuracy, "metric": self.original_metric},
            "unmatched": self.unmatched,
            "flips": [f.__dict__ for f in self.flips],
            "notes": self.notes,
        }


class ProblemMatcher:
    """Finds the benchmark problem an imported record is about: by id, by exact text, or by the problem text
    appearing inside the record's prompt."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.by_id = {p.id: p for p in problems}
        self.by_text: dict[str, Problem] = {}
        for p in problems:
            self.by_text.setdefault(_norm(p.problem), p)
        # Texts inside prompts are found through their first characters: one dict lookup per prompt position.
        self._by_prefix: dict[str, list[tuple[str, Problem]]] = {}
        self._short: list[tuple[str, Problem]] = []
        for text, p in self.by_text.items():
            if len(text) >= _PREFIX:
                self._by_prefix.setdefault(text[:_PREFIX], []).append((text, p))
            else:
                self._short.append((text, p))

    def match(self, record: ImportedRecord) -> Problem | None:
        if record.ref_id and record.ref_id in self.by_id:
            return self.by_id[record.ref_id]
        if record.problem:
            hit = self.by_text.get(_norm(record.problem))
            if hit is not None:
                return hit
        for text in (record.problem, _prompt_text(record.prompt)):
            if text:
                found = self._inside(_norm(text))
                if found is not None:
                    return found
        return None

    def _inside(self, haystack: str) -> Problem | None:
        """The problem whose text appears in ``haystack`` (the longest, when several do)."""
        best: tuple[str, Problem] | None = None
        for i in range(len(haystack) - _PREFIX + 1):
            for needle, problem in self._by_prefix.get(haystack[i:i + _PREFIX], ()):
                if (best is None or len(needle) > len(best[0])) and haystack.startswith(needle, i):
                    best = (needle, problem)
        if best is None:
            best = max(((n, p) for n, p in self._short if n in haystack), key=lambda np: len(np[0]), default=None)
        return best[1] if best else None


def _prompt_text(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    return None


def _prompt_messages(prompt: Any, problem: Problem) -> list[dict[str, str]]:
    if isinstance(prompt, list) and prompt and all(isinstance(m, dict) for m in prompt):
        return [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))} for m in prompt]
    if isinstance(prompt, str) and prompt:
        return [{"role": "user", "content": prompt}]
    return [{"role": "user", "content": problem.problem}]


def _own_problem(record: ImportedRecord, prefix: str) -> Problem:
    """A problem made from the record itself, for files whose problems are not in the benchmark."""
    text = record.problem or _prompt_text(record.prompt)
    if not text or not text.strip():
        raise DatasetError(f"{record.where}: problem not found in the benchmark and the record has no problem text")
    if not record.gold:
        raise DatasetError(f"{record.where}: problem not found in the benchmark and the record has no gold answer")
    subject = canonical_subject(record.subject) if record.subject else "Unknown"
    level = None
    match = re.search(r"[1-5]", str(record.level)) if record.level is not None else None
    if match:
        level = int(match.group(0))
    digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:12]
    return Problem(id=record.ref_id or f"{prefix}/{subject_slug(subject)}/{digest}", problem=text,
                   answer=record.gold.strip(), solution="", subject=subject, level=level)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rescore(
    path: str | Path,
    fmt: str,
    *,
    benchmark: str | None = "auto",
    data_file: str | None = None,
    store: str | Path = "mathgauge.db",
    run_name: str | None = None,
    model: str | None = None,
    answer_format: str = "auto",
    original_metric: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> RescoreResult:
    """Import ``path`` (written by the tool ``fmt``) as a run of mode ``rescore`` and grade it with mathgauge.

    Args:
        path: the other tool's results/samples file.
        fmt: ``lm-eval``, ``lighteval``, ``opencompass``, ``qwen-eval`` or ``jsonl``.
        benchmark: the benchmark whose problems and reference answers the responses are matched to (by id, or by
            text); ``auto``: the one the file's task or folder names (``samples_mathgauge_aime24_*``,
            ``math_eval/gsm8k/``), else ``math500``; ``None`` grades against the gold answers in the file itself.
        data_file: a local copy of the benchmark (no hub access).
        store: SQLite results file.
        run_name: name of the stored run (generated when ``None``).
        model: model name, when the file does not say it.
        answer_format: mathgauge's extraction format (``auto`` reads ``\\boxed{}``, "The final answer is", ...).
        original_metric: which of the file's per-sample metrics is the original verdict (default: the file's
            exact-match metric).

    Raises:
        MathgaugeError: the file is malformed (naming file, line and field), or the benchmark cannot be loaded.
    """
    from ...grading import ANSWER_FORMATS
    from ...pipeline import GradeRecord, GradeTask, GradingStage

    say = notify or (lambda _: None)
    if answer_format not in ANSWER_FORMATS:
        raise ConfigError(f"unknown answer format {answer_format!r}; expected one of {', '.join(ANSWER_FORMATS)}")
    started = time.monotonic()
    path = Path(path)
    imported: ImportedFile = read_file(path, fmt, original_metric)
    notes = list(imported.notes)
    if benchmark == "auto":
        benchmark = imported.benchmark or "math500"
        if imported.benchmark:
            notes.append(f"benchmark {benchmark} (named by the file's task or folder; --benchmark chooses another)")
    matcher = None
    if benchmark is not None:
        matcher = ProblemMatcher(load_problems(benchmark, data_file=data_file))
    prefix = f"imported/{benchmark or 'none'}"

    # problem id -> (problem, prompt messages, [(record, response index)])
    grouped: dict[str, tuple[Problem, list[dict[str, str]], list[tuple[ImportedRecord, int]]]] = {}
    unmatched = gold_differs = 0
    for record in imported.records:
        problem = matcher.match(record) if matcher is not None else None
        if problem is None:
            if matcher is not None:
                unmatched += 1
            problem = _own_problem(record, prefix)
        elif record.gold and _norm(record.gold) != _norm(problem.answer):
            gold_differs += 1
        entry = grouped.setdefault(problem.id, (problem, _prompt_messages(record.prompt, problem), []))
        entry[2].extend((record, i) for i in range(len(record.responses)))
    if unmatched:
        notes.append(f"{unmatched} record(s) not found in benchmark {benchmark!r} (by id or text): "
                     f"graded against the gold answers in the file")
    if gold_differs:
        notes.append(f"{gold_differs} record(s) carry a gold answer that differs in writing from the benchmark's; "
                     f"graded against the benchmark's")

    problems = [entry[0] for entry in grouped.values()]
    model_name = model or imported.model or "unknown"
    samples = max(len(entry[2]) for entry in grouped.values())
    digest = hashlib.sha256()
    for p in problems:
        digest.update(f"{p.id}\0{p.problem}\0{p.answer}\n".encode("utf-8"))
    config = {
        "mode": "rescore",
        "benchmark": benchmark or "none",
        "data_source": {"file": Path(data_file).name} if data_file else {"hub_repo": "registry"},
        "problems_sha256": digest.hexdigest(),
        "problem_count": len(problems),
        "backend": "imported",
        "backend_options": {},
        "model": model_name,
        "base_url": None,
        "prompt_template": None,
        "sampling": SamplingConfig(samples=samples).to_dict(),
        "answer_format": answer_format,
        "grader": "rules",
        "source": {"format": imported.format, "file": str(path.resolve()), "sha256": _file_digest(path),
                   "original_metric": imported.original_metric, "settings": imported.settings},
        "execution": {},
    }
    versions = {"mathgauge": __version__, "python": platform.python_version(), "platform": platform.platform()}
    name = run_name or _default_name(model_name, imported.format)

    n = correct = no_answer = original_n = original_correct = 0
    flips: list[Flip] = []
    # Imported responses are graded as a run's are: the response is the text to grade, in ``answer_format``.
    grading = GradingStage("rules", threads=0)
    with Store(store) as db:
        run = db.create_run(name=name, benchmark=benchmark or "none", model=model_name, config=config,
                            versions=versions)
        db.mark_run_started(run.run_id)
        # Problems with the same number of responses go in together (add_problems makes that many samples each).
        by_count: dict[int, list[str]] = {}
        for pid, entry in grouped.items():
            by_count.setdefault(len(entry[2]), []).append(pid)
        for count, pids in by_count.items():
            db.add_problems(run.run_id, [grouped[p][0] for p in pids], [grouped[p][1] for p in pids], count)
        now = time.time()
        try:
            for pid, (problem, messages, responses) in grouped.items():
                for k, (record, i) in enumerate(responses):
                    text = record.responses[i]
                    attempt = Attempt(
                        problem_id=pid, sample_index=k, attempt_index=0, kind="imported",
                        request={"source": imported.format, "where": record.where, "messages": messages},
                        response=text, started_at=now,
                        extra={"where": record.where, "response_index": i, "file_gold": record.gold,
                               "original_correct": record.original_correct[i],
                               "original_extracted": record.original_extracted[i]},
                    )
                    answer = Gradable(text, answer_format, attempt.attempt_index)
                    grades = grading.grade_now(GradeTask(pid, k, problem.answer, answer))
                    records = list(grades.records)
                    original = record.original_correct[i]
                    if original is not None:
                        # The other tool's verdict, kept beside mathgauge's as the grade of grader ``original``.
                        records.append(GradeRecord(
                            "original", answer.call_index, "correct" if original else "incorrect", original,
                            record.original_extracted[i], None, "imported", None if original else "mismatch"))
                    db.save_sample(run.run_id, pid, k, [attempt], graded=[answer], grades=records)
                    verdict = grades.by_grader("rules")
                    assert verdict is not None
                    n += 1
                    correct += verdict.correct
                    no_answer += verdict.status == "no_answer"
                    if original is not None:
                        original_n += 1
                        original_correct += original
                        if original != verdict.correct:
                            flips.append(Flip(pid, k, problem.answer, original, record.original_extracted[i],
                                              verdict.status, verdict.extracted, record.where))
        finally:
            grading.close()
        db.mark_run_ended(run.run_id, "finished", wall_s=time.monotonic() - started)
        run = db.get_run(run.run_id)
    if original_n == 0:
        notes.append("the file carries no per-response verdicts: only mathgauge's score is reported")
    for note in notes:
        say(note)
    return RescoreResult(run=run, format=imported.format, model=model_name, n=n, correct=correct,
                         no_answer=no_answer, original_n=original_n, original_correct=original_correct,
                         original_metric=imported.original_metric, flips=flips, notes=notes, unmatched=unmatched)


def _default_name(model: str, fmt: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.split("/")[-1]).strip("-") or "model"
    return f"rescore-{fmt}-{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
