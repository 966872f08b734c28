"""Choose a subset of problems (filters, stratified sampling) and share it as a manifest file."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ._problem import Problem, canonical_subject, subject_slug

MANIFEST_VERSION = 1


@dataclass
class Selection:
    """The problems chosen for a run, and notes worth telling the user (e.g. short cells)."""

    problems: list[Problem]
    notes: list[str] = field(default_factory=list)


def select_problems(
    problems: Sequence[Problem],
    *,
    subjects: Iterable[str] | None = None,
    levels: Iterable[int] | None = None,
    per_cell: int | None = None,
    seed: int = 0,
    ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> Selection:
    """Filter and sample problems; the result keeps the dataset's order unless ``ids`` gives one.

    Args:
        problems: the whole benchmark.
        subjects: keep these subjects (any spelling: ``number_theory``, ``Number Theory``).
        levels: keep these levels (1-5).
        per_cell: stratified sampling: ``per_cell`` problems from every subject x level cell, drawn with ``seed``
            (27 over MATH's 7 subjects x 5 levels gives the 945-problem set of arXiv 2501.17084).
        seed: seed of the stratified draw; the same seed always gives the same ids.
        ids: exact ids to take, in this order (from a manifest); unknown ids raise `DatasetError`.
        limit: keep at most the first ``limit`` problems, after everything else.
    """
    notes: list[str] = []
    chosen = list(problems)
    if ids is not None:
        by_id = {p.id: p for p in chosen}
        missing = [i for i in ids if i not in by_id]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DatasetError(f"manifest names {len(missing)} id(s) not in the dataset: {shown}{more}")
        chosen = [by_id[i] for i in ids]
    if subjects is not None:
        wanted = _resolve_subjects(subjects, chosen)
        chosen = [p for p in chosen if p.subject in wanted]
    if levels is not None:
        wanted_levels = set(levels)
        bad = sorted(lv for lv in wanted_levels if lv not in range(1, 6))
        if bad:
            raise DatasetError(f"levels must be between 1 and 5, got {bad}")
        chosen = [p for p in chosen if p.level in wanted_levels]
    if per_cell is not None:
        if per_cell < 1:
            raise DatasetError(f"--per-cell must be at least 1, got {per_cell}")
        chosen, short = _stratified(chosen, per_cell, seed)
        notes.extend(short)
    if limit is not None:
        if limit < 1:
            raise DatasetError(f"--limit must be at least 1, got {limit}")
        chosen = chosen[:limit]
    if not chosen:
        raise DatasetError("the selection is empty: no problem matches the given subjects/levels")
    return Selection(chosen, notes)


def _resolve_subjects(subjects: Iterable[str], problems: Sequence[Problem]) -> set[str]:
    present = {subject_slug(p.subject): p.subject for p in problems}
    wanted: set[str] = set()
    for name in subjects:
        slug = subject_slug(canonical_subject(name))
        if slug not in present:
            raise DatasetError(f"unknown subject {name!r}; subjects in this dataset: {', '.join(sorted(present))}")
        wanted.add(present[slug])
    return wanted


def _stratified(problems: list[Problem], per_cell: int, seed: int) -> tuple[list[Problem], list[str]]:
    cells: dict[tuple[str, int | None], list[Problem]] = defaultdict(list)
    for p in problems:
        cells[(p.subject, p.level)].append(p)
    keep: set[str] = set()
    notes: list[str] = []
    for (subject, level), members in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if len(members) <= per_cell:
            if len(members) < per_cell:
                notes.append(f"cell {subject} / level {level} has {len(members)} problems (< {per_cell}); took all")
            keep.update(p.id for p in members)
            continue
        # A string seed is hashed with SHA-512 by `random`, so the draw is the same in every process.
        rng = random.Random(f"{seed}|{subject}|{level}")
        ordered = sorted(members, key=lambda p: p.id)
        keep.update(p.id for p in rng.sample(ordered, per_cell))
    return [p for p in problems if p.id in keep], notes


def save_manifest(path: str | Path, benchmark: str, problems: Sequence[Problem], selection: dict[str, Any]) -> None:
    """Write the chosen ids (and how they were chosen) to a JSON manifest that `load_manifest` reads back."""
    doc = {
        "mathgauge_manifest": MANIFEST_VERSION,
        "benchmark": benchmark,
        "selection": selection,
        "count": len(problems),
        "ids": [p.id for p in problems],
    }
    try:
        Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write manifest: {exc.strerror}") from None


def load_manifest(path: str | Path, benchmark: str | None = None) -> list[str]:
    """Read the ids of a manifest written by `save_manifest` (or a plain JSON list of ids)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read manifest: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{p}:{exc.lineno}: manifest is not valid JSON ({exc.msg})") from None
    ids = doc if isinstance(doc, list) else doc.get("ids") if isinstance(doc, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
        raise DatasetError(f"{p}: manifest field 'ids' must be a non-empty list of problem id strings")
    if isinstance(doc, dict) and benchmark and doc.get("benchmark") not in (None, benchmark):
        raise DatasetError(f"{p}: manifest is for benchmark {doc['benchmark']!r}, not {benchmark!r}")
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{p}: manifest lists some ids more than once")
    return ids
