"""Read benchmark rows from a local JSONL/Parquet file or the Hugging Face hub and normalise them to `Problem`s."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ._boxed import last_boxed_content
from ._problem import Problem, canonical_subject, subject_slug
from ._registry import Benchmark, get_benchmark

#: Accepted source column names for each `Problem` field, first match wins.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("unique_id", "id", "problem_id", "idx"),
    "problem": ("problem", "question"),
    "answer": ("answer", "gold_answer", "expected_answer", "final_answer"),
    "solution": ("solution",),
    "subject": ("subject", "type", "category", "topic"),
    "level": ("level", "difficulty"),
}

_LEVEL_RE = re.compile(r"^\s*(?:level\s*)?([1-5])\s*$", re.IGNORECASE)


def load_problems(
    benchmark: str,
    *,
    data_file: str | Path | None = None,
    hub_repo: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Load every problem of a benchmark.

    Args:
        benchmark: registry name (``math500``, ``math``); decides the id prefix and the default hub source.
        data_file: a local ``.jsonl``/``.json``/``.parquet`` file; when given the hub is never contacted.
        hub_repo: a hub mirror to use instead of the registry's repository.
        columns: explicit mapping from `Problem` field to source column (``{"problem": "question"}``).

    Raises:
        DatasetError: naming the file, line/row and field of the first problem found.
    """
    spec = get_benchmark(benchmark)
    _check_column_map(columns)
    if data_file is not None:
        files = [Path(data_file)]
    else:
        files = _download(spec, hub_repo)
    problems: list[Problem] = []
    for path in files:
        subject_hint = _subject_from_path(path) if data_file is None else None
        for where, row in _read_rows(path):
            problems.append(_normalise(row, where, spec, columns or {}, subject_hint))
    if not problems:
        raise DatasetError(f"{files[0] if len(files) == 1 else spec.hub_repo}: no problems found")
    _check_unique_ids(problems)
    return problems


def _check_column_map(columns: Mapping[str, str] | None) -> None:
    for field in columns or {}:
        if field not in COLUMN_ALIASES:
            raise DatasetError(
                f"column mapping names unknown field {field!r}; fields are: {', '.join(COLUMN_ALIASES)}"
            )


def _download(spec: Benchmark, hub_repo: str | None) -> list[Path]:
    repo = hub_repo or spec.hub_repo
    try:
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(repo_id=repo, repo_type="dataset", allow_patterns=list(spec.hub_files)))
    except Exception as exc:  # the hub client raises many types; all mean "could not get the files"
        raise DatasetError(
            f"could not download {repo!r} from the Hugging Face hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
            f"pass --data-file PATH to load a local JSONL or Parquet copy"
        ) from None
    files = sorted(p for pattern in spec.hub_files for p in local.glob(pattern) if p.is_file())
    if not files:
        raise DatasetError(f"hub repository {repo!r} has no files matching {list(spec.hub_files)}")
    return files


def _subject_from_path(path: Path) -> str | None:
    # Hub mirrors of MATH keep one folder per subject and no subject column.
    return canonical_subject(path.parent.name) if path.parent.name else None


def _read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if not path.exists():
        raise DatasetError(f"{path}: data file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _read_parquet(path)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        yield from read_jsonl_records(path)
    else:
        raise DatasetError(f"{path}: unsupported data file type {suffix!r}; expected .jsonl or .parquet")


def read_jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("file:line", object)`` for every non-blank line of a JSONL file; `DatasetError` names the line."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read data file: {exc.strerror}") from None
    with handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                yield f"{path}:{lineno}", row
        except UnicodeDecodeError:
            raise DatasetError(f"{path}: not UTF-8 text; expected JSONL") from None


def _read_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DatasetError(f"{path}: cannot read Parquet file ({exc})") from None
    for i, row in enumerate(rows, start=1):
        yield f"{path} row {i}", row


def _pick(row: dict[str, Any], field: str, columns: Mapping[str, str], where: str) -> Any:
    if field in columns:
        name = columns[field]
        if name not in row:
            raise DatasetError(f"{where}: mapped column {name!r} (for {field}) not found; columns: {sorted(row)}")
        return row[name]
    for name in COLUMN_ALIASES[field]:
        if name in row:
            return row[name]
    return None


def _normalise(
    row: dict[str, Any], where: str, spec: Benchmark, columns: Mapping[str, str], subject_hint: str | None
) -> Problem:
    text = _pick(row, "problem", columns, where)
    if not isinstance(text, str) or not text.strip():
        expected = " or ".join(repr(c) for c in COLUMN_ALIASES["problem"])
        raise DatasetError(
            f"{where}: missing problem text; expected a non-empty string column {expected} "
            f"(columns found: {', '.join(sorted(row)) or 'none'}; map others with --columns problem=NAME)"
        )
    solution = _pick(row, "solution", columns, where) or ""
    answer = _pick(row, "answer", columns, where)
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        answer = last_boxed_content(solution) if isinstance(solution, str) else None
        if answer is None:
            raise DatasetError(
                f"{where}: no reference answer: no 'answer' column and no \\boxed{{}} in 'solution'"
            )
    subject_raw = _pick(row, "subject", columns, where) or subject_hint or "Unknown"
    subject = canonical_subject(str(subject_raw))
    level = _parse_level(_pick(row, "level", columns, where), where)
    row_id = _pick(row, "id", columns, where)
    if row_id is None or str(row_id).strip() == "":
        # Hash of the text: stable across runs, file orders and mirrors.
        digest = hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:12]
        row_id = f"{spec.id_prefix}/{subject_slug(subject)}/{digest}"
    return Problem(
        id=str(row_id),
        problem=text,
        answer=str(answer).strip(),
        solution=str(solution),
        subject=subject,
        level=level,
    )


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
