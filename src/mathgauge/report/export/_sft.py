"""Verified-solution export for fine-tuning (rejection sampling): keep the solutions the grader marks correct.

Each kept solution becomes one chat record ``{"messages": [system?, user, assistant]}`` (the format TRL's SFT
trainer and OpenAI fine-tuning read). The assistant message is the model's own full solution, never the bare text
the grader read where that is less (a program's output): for chain-of-thought runs its response; for
tool-integrated runs its turns with the code outputs it was shown; for program-of-thought runs the program
followed by its output; for self-verification runs the answer the grade read (the first answer, or the revision
that replaced it: a whole solution the model wrote), without the verification dialogue, whose instructions are
not the model's. A self-verification sample whose graded answer is unknown (graded by a mathgauge that did not
keep it) is left out. Solutions are kept where the grade the run is scored by (``rules``, or ``final`` in judge and
cascade runs) says correct. The reference answer never enters a record; the grader only filters. Near-identical solutions of a problem
(same text after normalising case, whitespace, and comments in code) are kept once, and at most
``max_per_problem`` solutions are kept per problem.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ...errors import ConfigError
from ._jsonl import json_line

if TYPE_CHECKING:
    from ...store import Store

_COMMENT = re.compile(r"#[^\n]*")
_SPACE = re.compile(r"\s+")


def normalised_solution(text: str) -> str:
    """The form two solutions are compared in for deduplication."""
    return _SPACE.sub(" ", _COMMENT.sub("", text)).strip().lower()


@dataclass
class SftCoverage:
    """How much of the run the export covers: problems with at least one kept solution, overall and by cell."""

    records: int = 0
    duplicates: int = 0
    capped: int = 0
    unknown: int = 0  # correct samples left out: the solution their grade read is not known
    problems: int = 0
    covered: int = 0
    by_subject: dict[str, list[int]] = field(default_factory=dict)  # name -> [covered, problems]
    by_level: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "duplicates_dropped": self.duplicates, "over_cap_dropped": self.capped,
                "unknown_text_dropped": self.unknown,
                "problems": self.problems, "covered": self.covered,
                "coverage": self.covered / self.problems if self.problems else 0.0,
                "by_subject": self.by_subject, "by_level": self.by_level}


def assistant_solution(item: dict[str, Any]) -> str | None:
    """The model's whole solution for one graded sample, code outputs included; ``None`` when it is not known.

    Args:
        item: one `Store.graded_solutions` entry (the graded call's ``kind``, ``request``, ``response`` and
            ``executions``, and the ``graded_text`` its grade read).
    """
    if item["kind"] == "verify":
        # The graded call ends the verification dialogue; the solution is the answer the grade read.
        text = item.get("graded_text")
        return None if text is None else text.rstrip()
    parts: list[str] = []
    messages = item["request"].get("messages", [])
    prompt_len = _prompt_length(messages)
    # Earlier tool-use turns: assistant text, then the output it was shown.
    for message in messages[prompt_len:]:
        if message["role"] == "assistant":
            parts.append(message["content"].rstrip())
        elif message["role"] == "user":
            parts.append(message["content"].strip())
    parts.append((item["response"] or "").rstrip())
    if item["kind"] == "pot" and item["executions"]:
        parts.append(f"```output\n{item['executions'][-1]['stdout'].rstrip()}\n```")
    return "\n".join(p for p in parts if p)


def _prompt_length(messages: list[dict[str, str]]) -> int:
    """Messages before the first assistant turn: the prompt (system and user)."""
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            return i
    return len(messages)


def export_sft(store: Store, run_ref: str, output: str | Path, *, max_per_problem: int = 4) -> SftCoverage:
    """Write the run's verified solutions as chat JSONL to ``output``; returns the coverage report.

    Args:
        store: the results store.
        run_ref: run id or name.
        output: the JSONL file to write.
        max_per_problem: most solutions kept per problem.
    """
    from ...pipeline import RunSpec

    if max_per_problem < 1:
        raise ConfigError(f"--max-per-problem must be at least 1, got {max_per_problem}")
    run = store.get_run(run_ref)
    coverage = SftCoverage()
    subjects: dict[str, set[str]] = defaultdict(set)
    levels: dict[str, set[str]] = defaultdict(set)
    kept: dict[str, list[str]] = defaultdict(list)
    records: list[dict[str, Any]] = []
    for item in store.graded_solutions(run.run_id, RunSpec.of_run(run).scored_grader):
        subjects[item["subject"]].add(item["problem_id"])
        levels[str(item["level"])].add(item["problem_id"])
        if item["status"] != "correct":
            continue
        solution = assistant_solution(item)
        if solution is None:
            coverage.unknown += 1
            continue
        fingerprint = hashlib.sha256(normalised_solution(solution).encode()).hexdigest()
        seen = kept[item["problem_id"]]
        if fingerprint in seen:
            coverage.duplicates += 1
            continue
        if len(seen) >= max_per_problem:
            coverage.capped += 1
            continue
        seen.append(fingerprint)
        prompt = item["request"]["messages"][: _prompt_length(item["request"]["messages"])]
        records.append({"messages": [*prompt, {"role": "assistant", "content": solution}]})
    try:
        with open(output, "w", encoding="utf-8") as handle:
            _write(handle, records)
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write export ({exc.strerror})") from None
    all_problems = set().union(*subjects.values()) if subjects else set()
    coverage.records = len(records)
    coverage.problems = len(all_problems)
    coverage.covered = sum(1 for p in all_problems if kept.get(p))
    coverage.by_subject = {s: [sum(1 for p in ps if kept.get(p)), len(ps)] for s, ps in sorted(subjects.items())}
    coverage.by_level = {lv: [sum(1 for p in ps if kept.get(p)), len(ps)] for lv, ps in sorted(levels.items())}
    return coverage


def _write(handle: TextIO, records: list[dict[str, Any]]) -> None:
    for record in records:
        handle.write(json_line(record))
