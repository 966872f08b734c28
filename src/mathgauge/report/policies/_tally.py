"""Scores of a run under every peer grading policy, counted one stored response at a time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._policies import POLICIES


class PolicyTally:
    """Counts, for graded samples, how many each policy (and mathgauge's stored ``rules`` grade) marks correct.

    Rows are `Store.export_rows` dicts (``response``, ``gold_answer``, ``grade``, ``correct``, ``sample_status``);
    each is read once and not kept, so a run's responses are never all in memory. ``disagreeing`` keeps the
    (problem, sample) of every response some policy grades differently from the stored grade.
    """

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {"rules": {"correct": 0, "n": 0}}
        self.counts.update({name: {"correct": 0, "n": 0} for name in POLICIES})
        self.disagreeing: set[tuple[str, int]] = set()

    def add(self, row: dict[str, Any]) -> None:
        """Count one export row (failed and ungraded samples are left out, so all policies share a denominator).

        Args:
            row: one `Store.export_rows` row.
        """
        if row.get("grade") is None or row.get("sample_status") == "failed":
            return
        stored = bool(row.get("correct"))
        response, gold = row.get("response") or "", row.get("gold_answer") or ""
        self.counts["rules"]["n"] += 1
        self.counts["rules"]["correct"] += stored
        for name, (_, policy) in POLICIES.items():
            verdict = policy(response, gold)
            self.counts[name]["n"] += 1
            self.counts[name]["correct"] += verdict
            if verdict != stored:
                self.disagreeing.add((row["problem_id"], row["sample_index"]))


def regrade_rows(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Score graded export rows under every policy.

    Returns ``{policy: {"correct": c, "n": n}}`` with ``rules`` (mathgauge's stored grades) included; only
    samples that mathgauge graded are counted, so all policies share one denominator.

    Args:
        rows: `Store.export_rows` rows (any iterable; read once).
    """
    tally = PolicyTally()
    for row in rows:
        tally.add(row)
    return tally.counts
