"""The sample browser's data, within a byte budget whatever the run size.

Every embedded sample carries its facts (verdict, answer, tokens, calls, code executions) and the text it was graded
on (a program's output, a tool-use transcript, the answer after self-verification; the graded call's response where
that text is unknown): in full when it fits, else a preview (its first and last characters: the last hold the
answer). The verdict is the grade the run is scored by. What is left of the budget
goes to full texts, the samples a reader opens first: wrong answers, then correct ones that a peer grading policy or
the judge grades otherwise, then the rest, spread over problems (each problem's first such sample before any
problem's second). Two passes over `Store.export_rows` (stream, nothing but the chosen texts kept): the first
measures, the second fills. The full text of every sample is always in ``mathgauge export``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ...store import RunRecord, SampleResult
from .._text import neutralise, neutralise_tree

PREVIEW_MAX_CHARS = 600  # head + tail of a response shown when its full text is not embedded
CODE_CHARS = 4000  # of each code execution's code, stdout and stderr
_META_SHARE = 0.6  # of the budget, at most, for the samples' facts and previews together
_MARGIN = 0.98  # of the budget planned for: previews are estimated at the run's mean bytes per character
_PREVIEW_KEYS = len(',"head":"","tail":""')
_FULL_KEY = len(',"resp":""')


@dataclass
class _Entry:
    record: dict[str, Any]
    key: tuple[int, str, int]  # run, problem, sample
    order: int
    meta_bytes: int
    length: int  # characters of the (neutralised) response
    text_bytes: int  # its size as JSON
    priority: int = 2  # 0 wrong, 1 correct but graded otherwise by a peer policy or the judge, 2 the rest
    full: bool = False


def _json_size(value: Any) -> int:
    """Bytes of ``value`` as the page holds it: compact JSON with <, >, & and ' as 6-byte escapes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    escaped = text.count("<") + text.count(">") + text.count("&") + text.count("'")
    return len(text.encode("utf-8")) + 5 * escaped


def _verdict(row: dict[str, Any], scored: str | None) -> str:
    if row.get("sample_status") == "failed":
        return "failed"
    return scored or row.get("grade") or "pending"


def _shown_text(row: dict[str, Any]) -> str:
    """The text a sample was graded on, or the graded call's response where that is unknown."""
    text = row.get("graded_text")
    return (row.get("response") or "") if text is None else text


class SampleBrowser:
    """Collects the samples of one or more runs for the report's browser, holding no response it will not embed.

    Use: `begin_run` then `observe` the run's export rows (first pass, e.g. while the gap analysis reads them),
    `mark` samples graded otherwise, for every run; then `plan`; then `fill` with each run's rows again (second
    pass); then `document`.

    Args:
        max_samples: most samples embedded per run.
        budget_bytes: most bytes of sample data (facts, previews and full texts, as JSON) in the report.
    """

    def __init__(self, max_samples: int, budget_bytes: int) -> None:
        self.max_samples = max_samples
        self.budget_bytes = budget_bytes
        self.runs: list[dict[str, str]] = []
        self.problems: dict[str, dict[str, str]] = {}
        self.entries: dict[tuple[int, str, int], _Entry] = {}
        self.totals: list[int] = []
        self.preview_chars = PREVIEW_MAX_CHARS
        self.left_out = 0
        self._problem_bytes: dict[str, int] = {}  # each problem's text and answer as JSON
        self._attempts: list[dict[tuple[str, int], int]] = []
        self._verdicts: list[dict[tuple[str, int], str | None]] = []
        self._executions: list[dict[tuple[str, int], list[dict[str, Any]]]] = []

    # -- first pass --------------------------------------------------------------------------------------------
    def begin_run(self, run: RunRecord, results: Sequence[SampleResult],
                  executions: Sequence[dict[str, Any]]) -> int:
        """Start a run; returns its index in the browser.

        Args:
            run: the run.
            results: its samples under the grader it is scored by (for the calls and the verdict per sample).
            executions: its code executions (shown per sample, each text cut to `CODE_CHARS`).
        """
        self.runs.append(neutralise_tree({"name": run.name, "model": run.model, "run_id": run.run_id}))
        self.totals.append(0)
        self._attempts.append({(r.problem_id, r.sample_index): r.attempts for r in results})
        self._verdicts.append({(r.problem_id, r.sample_index): r.grade_status for r in results})
        by_sample: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for e in executions:
            by_sample.setdefault((e["problem_id"], e["sample_index"]), []).append(neutralise_tree({
                "code": (e.get("code") or "")[:CODE_CHARS], "out": (e.get("stdout") or "")[:CODE_CHARS],
                "err": (e.get("stderr") or "")[:CODE_CHARS], "st": e.get("status"), "ms": e.get("duration_ms"),
                "unsafe": bool(e.get("unsafe"))}))
        self._executions.append(by_sample)
        return len(self.runs) - 1

    def observe(self, run_index: int, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield ``rows`` unchanged, taking each sample's facts and sizes on the way (the first pass)."""
        for row in rows:
            self._take(run_index, row)
            yield row

    def _take(self, i: int, row: dict[str, Any]) -> None:
        self.totals[i] += 1
        if self.totals[i] > self.max_samples:
            return
        pid, k = row["problem_id"], row["sample_index"]
        shown_pid = neutralise(pid)
        if shown_pid not in self.problems:
            problem = neutralise_tree({"problem": row.get("problem") or "", "gold": row.get("gold_answer") or ""})
            self.problems[shown_pid] = problem
            self._problem_bytes[shown_pid] = _json_size(problem) + _json_size(shown_pid) + 2
        lat = row.get("latency_s")
        verdict = _verdict(row, self._verdicts[i].get((pid, k)))
        record = neutralise_tree({
            "r": i, "p": pid, "k": k, "s": row.get("subject") or "?",
            "l": row.get("level") if row.get("level") is not None else "?", "v": verdict,
            "ext": row.get("extracted"), "m": row.get("method"), "why": row.get("reason"), "err": row.get("error"),
            "fin": row.get("finish_reason"), "ct": row.get("completion_tokens"),
            "lat": None if lat is None else round(float(lat), 3), "att": self._attempts[i].get((pid, k), 0),
        })
        executions = self._executions[i].get((pid, k))
        if executions:
            record["ex"] = executions
        text = neutralise(_shown_text(row))
        record["len"] = len(text)
        self.entries[(i, pid, k)] = _Entry(record, (i, pid, k), len(self.entries), _json_size(record), len(text),
                                           _json_size(text), 0 if verdict != "correct" else 2)

    def mark(self, run_index: int, samples: Iterable[tuple[str, int]]) -> None:
        """Samples of a run that a peer policy or the judge grades otherwise than the stored grade."""
        for pid, k in samples:
            entry = self.entries.get((run_index, pid, k))
            if entry is not None and entry.priority == 2:
                entry.priority = 1

    # -- planning ----------------------------------------------------------------------------------------------
    def plan(self) -> None:
        """Decide which samples are embedded, the preview length, and which full texts fit the budget."""
        entries = sorted(self.entries.values(), key=lambda e: e.order)
        meta_budget = _META_SHARE * self.budget_bytes
        meta = self._facts_bytes(entries)
        per_run = [sum(1 for e in entries if e.key[0] == i) for i in range(len(self.runs))]
        while meta > meta_budget and entries:  # too many samples even without text: the same share of every run
            share = meta_budget / meta * 0.99
            per_run = [int(n * share) for n in per_run]
            seen = [0] * len(self.runs)
            keep = []
            for e in entries:
                seen[e.key[0]] += 1
                if seen[e.key[0]] <= per_run[e.key[0]]:
                    keep.append(e)
            entries = keep
            meta = self._facts_bytes(entries)
        self.entries = {e.key: e for e in entries}
        shown = {e.record["p"] for e in entries}
        self.problems = {pid: p for pid, p in self.problems.items() if pid in shown}
        self.left_out = sum(self.totals) - len(entries)
        chars = sum(e.length for e in entries)
        bytes_per_char = sum(e.text_bytes for e in entries) / chars if chars else 1.0
        room = max(0.0, meta_budget - meta)
        self.preview_chars = int(min(PREVIEW_MAX_CHARS, room / max(1, len(entries)) / bytes_per_char))
        preview_bytes = self.preview_chars * bytes_per_char + _PREVIEW_KEYS
        left = _MARGIN * self.budget_bytes - meta - len(entries)  # a comma between records
        for e in entries:
            e.full = e.length <= self.preview_chars
            left -= e.text_bytes + _FULL_KEY if e.full else preview_bytes
        rank: dict[tuple[int, int, str], int] = {}
        candidates = []
        for e in entries:
            if not e.full:
                group = (e.priority, e.key[0], e.key[1])
                rank[group] = rank.get(group, 0) + 1
                candidates.append((e.priority, rank[group], e.order, e))
        for _, _, _, e in sorted(candidates, key=lambda c: c[:3]):
            extra = e.text_bytes + _FULL_KEY - preview_bytes
            if extra <= left:
                e.full = True
                left -= extra

    def _facts_bytes(self, entries: Sequence[_Entry]) -> int:
        """Bytes of the samples' facts and of their problems' texts."""
        return (sum(e.meta_bytes for e in entries)
                + sum(self._problem_bytes[p] for p in {e.record["p"] for e in entries}))

    # -- second pass -------------------------------------------------------------------------------------------
    def fill(self, run_index: int, rows: Iterable[dict[str, Any]]) -> None:
        """Attach the planned full text or preview to each embedded sample of a run (the second pass)."""
        head = self.preview_chars // 3
        for row in rows:
            entry = self.entries.get((run_index, row["problem_id"], row["sample_index"]))
            if entry is None:
                continue
            text = neutralise(_shown_text(row))
            if entry.full:
                entry.record["resp"] = text
            else:
                entry.record["head"] = text[:head]
                entry.record["tail"] = text[len(text) - (self.preview_chars - head):]

    @property
    def embedded(self) -> int:
        return len(self.entries)

    @property
    def full_texts(self) -> int:
        return sum(e.full for e in self.entries.values())

    def note(self) -> str:
        """One sentence on what the browser holds and where the rest is."""
        total, shown, full = sum(self.totals), self.embedded, self.full_texts
        text = f"{shown:,} of {total:,} samples embedded"
        if self.left_out:
            text += f" ({self.left_out:,} left out to keep the report small)"
        if full < shown:
            text += (f"; full text of {full:,} (wrong answers first, then those a peer policy or the judge grades "
                     f"otherwise), the first and last characters of the other {shown - full:,}")
        if full < shown or self.left_out:
            text += "; every full text: mathgauge export RUN --format jsonl --output FILE"
        return text

    def document(self) -> dict[str, Any]:
        """The browser's data, as the page's script reads it."""
        samples = [e.record for e in sorted(self.entries.values(), key=lambda e: e.order)]
        return {"runs": self.runs, "problems": self.problems, "samples": samples,
                "preview_chars": self.preview_chars}
