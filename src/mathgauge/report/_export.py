"""Export a run's samples as JSONL or CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store import Store

EXPORT_FORMATS = ("jsonl", "csv")
_CSV_COLUMNS = [
    "problem_id", "sample_index", "subject", "level", "gold_answer", "extracted", "grade", "correct", "method",
    "reason", "sample_status", "error", "finish_reason", "prompt_tokens", "completion_tokens", "latency_s",
    "cached", "problem", "response",
]


def export_run(store: Store, run_ref: str, fmt: str, output: str | Path) -> int:
    """Write one record per sample of a run to ``output``; returns the number written.

    Args:
        store: the results store.
        run_ref: run id or name.
        fmt: ``jsonl`` (everything, prompt included) or ``csv`` (flat columns).
        output: destination file (``-`` for standard output).
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    run = store.get_run(run_ref)
    rows = store.export_rows(run.run_id)
    if str(output) == "-":
        import sys

        return _write(rows, fmt, sys.stdout, run.name)
    try:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            return _write(rows, fmt, handle, run.name)
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write export ({exc.strerror})") from None


def _write(rows: Any, fmt: str, handle: Any, run_name: str) -> int:
    count = 0
    if fmt == "jsonl":
        for row in rows:
            handle.write(json.dumps({"run": run_name, **row}, ensure_ascii=False) + "\n")
            count += 1
    else:
        writer = csv.DictWriter(handle, fieldnames=_CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
