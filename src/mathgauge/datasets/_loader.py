"""Normalise a benchmark's rows to `Problem`s with the registry's field mapping, answer readers and subject rules.

A row whose reference answer cannot be read is reported with its file and line and left out (never graded against
an empty reference); a file in which no row has a readable answer is an error.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ._boxed import last_boxed_content
from ._problem import NO_SUBJECT, Problem, canonical_subject, subject_slug
from ._readers import apply_readers
from ._registry import AnswerSource, Benchmark, SubjectSource, get_benchmark
from ._sources import read_rows

#: Accepted source column names for each `Problem` field, first match wins, where the registry names none.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("unique_id", "id", "problem_id", "idx"),
    "problem": ("problem", "question"),
    "answer": ("answer", "gold_answer", "expected_answer", "final_answer"),
    "solution": ("solution",),
    "subject": ("subject", "type", "category", "topic"),
    "level": ("level", "difficulty"),
}

_LEVEL_RE = re.compile(r"^\s*(?:level\s*)?([1-5])\s*$", re.IGNORECASE)
_NOTE_ROWS = 10  # left-out rows named one by one before the rest are counted


@dataclass(frozen=True)
class LeftOut:
    """A row that was not loaded: where it is (``file:line``) and why."""

    where: str
    reason: str


@dataclass
class BenchmarkData:
    """One benchmark as loaded: its problems (each carrying the benchmark's name), the rows left out, and where
    the rows came from (what a run records as its data source)."""

    benchmark: Benchmark
    problems: list[Problem]
    left_out: list[LeftOut] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)
    ambiguous: list[list[str]] = field(default_factory=list)  # ids of problems sharing a text, answers differ

    @property
    def rows(self) -> int:
        return len(self.problems) + len(self.left_out)

    @property
    def notes(self) -> list[str]:
        """Sentences for the user: rows left out (file and line each) and problems no model can all get right."""
        out = []
        if self.left_out:
            out.append(f"{len(self.left_out)} of {self.rows} {self.benchmark.name} rows have no readable reference "
                       f"answer and were left out:")
            out.extend(f"  {r.where}: {r.reason}" for r in self.left_out[:_NOTE_ROWS])
            if len(self.left_out) > _NOTE_ROWS:
                out.append(f"  ... and {len(self.left_out) - _NOTE_ROWS} more")
        if self.ambiguous:
            rows = sum(len(g) for g in self.ambiguous)
            out.append(f"{len(self.ambiguous)} problem texts of {self.benchmark.name} appear {rows} times with "
                       f"different reference answers (e.g. {', '.join(self.ambiguous[0])}): a model answers each "
                       f"text the same way, so it cannot get all of them right")
        return out


def load_benchmark(
    benchmark: str,
    *,
    data_file: str | Path | None = None,
    hub_repo: str | None = None,
    columns: Mapping[str, str] | None = None,
    source: str = "auto",
) -> BenchmarkData:
    """Load every problem of a benchmark, with the rows left out and the source.

    Args:
        benchmark: registry name (``math500``, ``aime24``, ``gsm8k``...); decides the field mapping, the answer
            readers, the id prefix and the default source.
        data_file: a local ``.jsonl``/``.jsonl.gz``/``.parquet`` file; when given neither the hub nor the bundled
            copy is used.
        hub_repo: a hub mirror to use instead of the registry's repository.
        columns: explicit mapping from `Problem` field to source column (``{"problem": "question"}``).
        source: ``auto`` (the bundled copy when mathgauge ships one, else the hub), ``bundled`` or ``hub``.

    Raises:
        DatasetError: naming the file, line/row and field of the first problem found.
    """
    spec = get_benchmark(benchmark)
    _check_column_map(columns)
    raw = read_rows(spec, data_file=data_file, hub_repo=hub_repo, source=source)
    columns = columns or {}
    total = len(raw.rows)
    problems: list[Problem] = []
    left_out: list[LeftOut] = []
    for index, (where, path, row) in enumerate(raw.rows):
        result = _normalise(row, where, spec, columns, _Position(path, index, total, raw.from_hub))
        if isinstance(result, LeftOut):
            left_out.append(result)
        else:
            problems.append(result)
    if not problems:
        if left_out:
            first = left_out[0]
            raise DatasetError(f"{first.where}: {first.reason}; no row of the data has a readable reference answer")
        raise DatasetError(f"{raw.description.get('file') or raw.description.get('hub_repo') or spec.name}: "
                           f"no problems found")
    _check_unique_ids(problems)
    return BenchmarkData(spec, problems, left_out, raw.description, _ambiguous(problems))


def load_problems(
    benchmark: str,
    *,
    data_file: str | Path | None = None,
    hub_repo: str | None = None,
    columns: Mapping[str, str] | None = None,
    source: str = "auto",
) -> list[Problem]:
    """The problems of `load_benchmark` (rows without a readable answer left out); see it for the arguments."""
    return load_benchmark(benchmark, data_file=data_file, hub_repo=hub_repo, columns=columns, source=source).problems


@dataclass(frozen=True)
class _Position:
    path: Path
    index: int
    total: int
    from_hub: bool


def _check_column_map(columns: Mapping[str, str] | None) -> None:
    for name in columns or {}:
        if name not in COLUMN_ALIASES:
            raise DatasetError(
                f"column mapping names unknown field {name!r}; fields are: {', '.join(COLUMN_ALIASES)}"
            )


def _pick(row: dict[str, Any], name: str, columns: Mapping[str, str], spec: Benchmark, where: str) -> Any:
    if name in columns:
        column = columns[name]
        if column not in row:
            raise DatasetError(f"{where}: mapped column {column!r} (for {name}) not found; columns: {sorted(row)}")
        return row[column]
    for column in spec.fields.get(name, COLUMN_ALIASES.get(name, ())):
        if column in row:
            return row[column]
    return None


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # OlympiadBench keeps solutions as a list of alternatives
        return "\n\n".join(str(v) for v in value if v is not None)
    return "" if value is None else str(value)


def _normalise(row: dict[str, Any], where: str, spec: Benchmark, columns: Mapping[str, str],
               pos: _Position) -> Problem | LeftOut:
    text = _pick(row, "problem", columns, spec, where)
    if isinstance(text, str) and spec.problem_readers:
        text = apply_readers(spec.problem_readers, text, row)
    if not isinstance(text, str) or not text.strip():
        expected = " or ".join(repr(c) for c in spec.fields.get("problem", COLUMN_ALIASES["problem"]))
        raise DatasetError(
            f"{where}: missing problem text; expected a non-empty string column {expected} "
            f"(columns found: {', '.join(sorted(row)) or 'none'}; map others with --columns problem=NAME)"
        )
    solution = _text(_pick(row, "solution", columns, spec, where))
    answer, reason = _answer(row, spec, columns, solution, where)
    if answer is None:
        return LeftOut(where, reason)
    subject = canonical_subject(_subject(row, spec, columns, pos, where) or NO_SUBJECT)
    level = _parse_level(_pick(row, "level", columns, spec, where), where)
    return Problem(id=_problem_id(row, spec, columns, text, subject, where), problem=text, answer=answer,
                   solution=solution, subject=subject, level=level, benchmark=spec.name,
                   unit=_unit(row, spec))


def _answer(row: dict[str, Any], spec: Benchmark, columns: Mapping[str, str], solution: str,
            where: str) -> tuple[str | None, str]:
    """The reference answer, or None and why not."""
    mapped = "answer" in columns
    if mapped and columns["answer"] not in row:
        raise DatasetError(f"{where}: mapped column {columns['answer']!r} (for answer) not found; "
                           f"columns: {sorted(row)}")
    sources = (AnswerSource(columns["answer"], ("strip",)),) if mapped else spec.answer
    reason = ""
    for src in sources:
        if src.column not in row:
            continue
        value = apply_readers(src.readers, row[src.column], row)
        if value is not None:
            return str(value).strip(), ""
        reason = reason or (f"no reference answer: column {src.column!r} is empty" if _blank(row[src.column]) else
                            f"no reference answer: {', '.join(src.readers)} finds none in column {src.column!r}")
    if reason and not mapped:
        return None, reason
    if not mapped:  # none of the registry's columns is in the row (a custom file): the usual spellings
        for name in COLUMN_ALIASES["answer"]:
            if not _blank(row.get(name)):
                return str(row[name]).strip(), ""
    boxed = last_boxed_content(solution) if solution else None
    if boxed:
        return boxed, ""
    expected = ", ".join(repr(s.column) for s in sources) or "'answer'"
    found = ", ".join(repr(c) for c in sorted(row)) or "none"
    return None, reason or (f"no reference answer: no {expected} column (columns found: {found}) and no "
                            f"\\boxed{{}} in 'solution'; name the answer column with --columns answer=NAME")


def _blank(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_blank(v) for v in value)
    return value is None or not str(value).strip()


def _subject(row: dict[str, Any], spec: Benchmark, columns: Mapping[str, str], pos: _Position,
             where: str) -> str | None:
    if "subject" in columns:
        value = _pick(row, "subject", columns, spec, where)
        return str(value) if value not in (None, "") else None
    for src in spec.subject:
        found = _subject_from(src, row, pos)
        if found:
            return found
    for column in COLUMN_ALIASES["subject"]:
        if row.get(column) not in (None, ""):
            return str(row[column])
    return None


def _subject_from(src: SubjectSource, row: dict[str, Any], pos: _Position) -> str | None:
    if src.folder:
        # Hub mirrors of MATH keep one folder per subject and no subject column.
        return pos.path.parent.name if pos.from_hub and pos.path.parent.name else None
    if src.blocks:
        if pos.total != sum(n for _, n in src.blocks):
            return None
        start = 0
        for name, count in src.blocks:
            if pos.index < start + count:
                return name
            start += count
        return None
    value = pos.path.name if src.file else row.get(src.column or "")
    if value in (None, ""):
        return None
    if src.pattern is None:
        return str(value)
    match = re.search(src.pattern, str(value))
    if match is None:
        return None
    found = (src.template or "{0}").format(match.group(0), *match.groups())
    return found.replace("_", " ").strip().title() if src.title else found


def _problem_id(row: dict[str, Any], spec: Benchmark, columns: Mapping[str, str], text: str, subject: str,
                where: str) -> str:
    if spec.id_columns and "id" not in columns and all(row.get(c) not in (None, "") for c in spec.id_columns):
        return "/".join(str(row[c]) for c in spec.id_columns)
    row_id = _pick(row, "id", columns, spec, where)
    if row_id is not None and str(row_id).strip() != "":
        # A bare number is only unique inside its benchmark: name the benchmark when the registry declares the column.
        if "id" in spec.fields and "id" not in columns and str(row_id).strip().isdigit():
            return f"{spec.id_prefix}/{str(row_id).strip()}"
        return str(row_id)
    # Hash of the text: stable across runs, file orders and mirrors.
    digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:12]
    if "id" in spec.fields:  # benchmarks declared without subjects in their ids
        return f"{spec.id_prefix}/{digest}"
    return f"{spec.id_prefix}/{subject_slug(subject)}/{digest}"


def _unit(row: dict[str, Any], spec: Benchmark) -> str:
    if not spec.unit_column:
        return ""
    value = row.get(spec.unit_column)
    return "" if value is None else str(value).strip()


def _parse_level(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise DatasetError(f"{where}: field 'level' must be 1-5 or 'Level N', got {value!r}")
    if isinstance(value, int) and 1 <= value <= 5:
        return value
    match = _LEVEL_RE.match(str(value))
    if match:
        return int(match.group(1))
    if str(value).strip() in ("Level ?", "?", ""):
        return None
    raise DatasetError(f"{where}: field 'level' must be 1-5 or 'Level N', got {value!r}")


def _check_unique_ids(problems: list[Problem]) -> None:
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise DatasetError(f"duplicate problem id {p.id!r} in the data; ids must be unique")
        seen.add(p.id)


def _ambiguous(problems: list[Problem]) -> list[list[str]]:
    by_text: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_text[p.problem.strip()].append(p)
    return [[p.id for p in group] for group in by_text.values()
            if len(group) > 1 and len({p.answer for p in group}) > 1]
