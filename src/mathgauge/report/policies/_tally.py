"""Scores of a run under every peer grading policy, counted one stored sample at a time, on the text mathgauge
graded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._policies import POLICIES


class PolicyTally:
    """Counts, for graded samples, how many each policy (and mathgauge's stored ``rules`` grade) marks correct.

    Rows are `Store.export_rows` dicts of the ``rules`` grades (``graded_text``, ``answer_format``,
    ``gold_answer``, ``grade``, ``correct``, ``sample_status``): each policy reads the exact text the rule grader
    read, in its format (a program's output, a tool-use transcript, the answer current after self-verification),
    never the raw last response. Each row is read once and not kept, so a run's texts are never all in memory.
    ``disagreeing`` keeps the (problem, sample) of every sample some policy grades differently from the stored
    grade. Samples whose graded text is unknown (graded by a mathgauge that did not keep it, and not recomputable)
    are left out of every policy, the stored grade included, so all policies share one denominator; ``unknown``
    counts them.
    """

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {"rules": {"correct": 0, "n": 0}}
        self.counts.update({name: {"correct": 0, "n": 0} for name in POLICIES})
        self.disagreeing: set[tuple[str, int]] = set()
        self.unknown = 0

    def add(self, row: dict[str, Any]) -> None:
        """Count one export row (failed and ungraded samples are left out).

        Args:
            row: one `Store.export_rows` row of the ``rules`` grades.
        """
        if row.get("grade") is None or row.get("sample_status") == "failed":
            return
        text = row.get("graded_text")
        if text is None:
            self.unknown += 1
            return
        stored = bool(row.get("correct"))
        gold, answer_format = row.get("gold_answer") or "", row.get("answer_format")
        self.counts["rules"]["n"] += 1
        self.counts["rules"]["correct"] += stored
        for name, (_, policy) in POLICIES.items():
            verdict = policy(text, gold, answer_format)
            self.counts[name]["n"] += 1
            self.counts[name]["correct"] += verdict
            if verdict != stored:
                self.disagreeing.add((row["problem_id"], row["sample_index"]))


def regrade_rows(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Score graded export rows under every policy.

    Returns ``{policy: {"correct": c, "n": n}}`` with ``rules`` (mathgauge's stored grades) included; only
    samples that mathgauge graded, on a text it kept, are counted, so all policies share one denominator.

    Args:
        rows: `Store.export_rows` rows of the ``rules`` grades (any iterable; read once).
    """
    tally = PolicyTally()
    for row in rows:
        tally.add(row)
    return tally.counts
