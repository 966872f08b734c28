"""More export formats of a run: Parquet, one row per attempt (model call), and lm-eval's ``samples_<task>.jsonl``
shape so other tools can read mathgauge's output. JSONL/CSV per sample stay in `export_run`."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store import Store
from ._export import EXPORT_FORMATS, export_run

ALL_EXPORT_FORMATS = (*EXPORT_FORMATS, "parquet", "lm-eval-samples")
_ATTEMPT_COLUMNS = [
    "problem_id", "sample_index", "attempt_index", "kind", "subject", "level", "gold_answer", "response",
    "reasoning", "finish_reason", "error", "prompt_tokens", "completion_tokens", "latency_s", "total_s", "retries",
    "cached", "started_at", "request", "extra",
]


def attempt_rows(store: Store, run_id: str) -> Iterable[dict[str, Any]]:
    """One flat dict per stored model call of a run, in problem and sample order (requests and extras as JSON)."""
    for r in store.sample_results(run_id):
        for call in store.attempts_for(run_id, r.problem_id, r.sample_index):
            yield {
                "problem_id": r.problem_id, "sample_index": r.sample_index,
                "attempt_index": call.get("attempt_index"), "kind": call.get("kind"), "subject": r.subject,
                "level": r.level, "gold_answer": r.gold, "response": call.get("response"),
                "reasoning": call.get("reasoning"), "finish_reason": call.get("finish_reason"),
                "error": call.get("error"), "prompt_tokens": call.get("prompt_tokens"),
                "completion_tokens": call.get("completion_tokens"), "latency_s": call.get("latency_s"),
                "total_s": call.get("total_s"), "retries": call.get("retries"),
                "cached": None if call.get("cached") is None else bool(call.get("cached")),
                "started_at": call.get("started_at"), "request": call.get("request_json"),
                "extra": call.get("extra_json"),
            }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lm_eval_records(store: Store, run_id: str, task: str = "mathgauge_math") -> Iterable[dict[str, Any]]:
    """One record per problem in lm-eval's per-sample log shape (``doc_id``, ``doc``, ``target``, ``arguments``,
    ``resps``, ``filtered_resps``, ``exact_match``, hashes). With k samples per problem, ``resps`` holds the k
    responses and ``exact_match`` is their mean correctness (avg@k)."""
    run = store.get_run(run_id)
    sampling = run.config.get("sampling", {})
    gen_kwargs = {"temperature": sampling.get("temperature"), "top_p": sampling.get("top_p"),
                  "max_gen_toks": sampling.get("max_tokens"), "do_sample": bool(sampling.get("temperature")),
                  "until": []}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in store.export_rows(run_id):
        grouped.setdefault(row["problem_id"], []).append(row)
    for doc_id, (pid, rows) in enumerate(grouped.items()):
        first = rows[0]
        messages = first.get("prompt") or []
        prompt = messages[-1]["content"] if len(messages) == 1 else json.dumps(messages, ensure_ascii=False)
        graded = [r for r in rows if r.get("grade") is not None]
        doc = {"unique_id": pid, "problem": first.get("problem"), "answer": first.get("gold_answer"),
               "subject": first.get("subject"), "level": first.get("level")}
        target = first.get("gold_answer") or ""
        yield {
            "doc_id": doc_id,
            "doc": doc,
            "target": target,
            "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": gen_kwargs}},
            "resps": [[r.get("response") or "" for r in rows]],
            "filtered_resps": [r.get("extracted") or "[invalidanswer]" for r in rows],
            "filter": "mathgauge-rules",
            "metrics": ["exact_match"],
            "doc_hash": _sha(json.dumps(doc, ensure_ascii=False, sort_keys=True)),
            "prompt_hash": _sha(prompt),
            "target_hash": _sha(target),
            "exact_match": (sum(bool(r.get("correct")) for r in graded) / len(graded)) if graded else None,
            "task": task,
            "mathgauge": {"run": run.name, "model": run.model, "verdicts": [r.get("grade") for r in rows],
                          "finish_reasons": [r.get("finish_reason") for r in rows]},
        }


def export_run_ext(store: Store, run_ref: str, fmt: str, output: str | Path, *, attempts: bool = False) -> int:
    """Write a run's rows in ``fmt`` (jsonl, csv, parquet or lm-eval-samples); returns the number of records.

    ``attempts=True`` writes one row per model call instead of one per sample (jsonl, csv, parquet).
    """
    if fmt not in ALL_EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; expected one of {', '.join(ALL_EXPORT_FORMATS)}")
    run = store.get_run(run_ref)
    if fmt == "lm-eval-samples":
        if attempts:
            raise ConfigError("--attempts does not apply to --format lm-eval-samples (one record per problem)")
        records = list(lm_eval_records(store, run.run_id, task=f"mathgauge_{run.benchmark}"))
        return _write_jsonl(records, output)
    if not attempts and fmt in EXPORT_FORMATS:
        return export_run(store, run_ref, fmt, output)
    if attempts:
        rows = list(attempt_rows(store, run.run_id))
        columns = _ATTEMPT_COLUMNS
    else:
        rows = [{**r, "prompt": json.dumps(r["prompt"], ensure_ascii=False)} for r in store.export_rows(run.run_id)]
        columns = list(rows[0]) if rows else []
    if fmt == "jsonl":
        return _write_jsonl([{"run": run.name, **r} for r in rows], output)
    if fmt == "csv":
        return _write_csv(rows, columns, output)
    return _write_parquet(rows, columns, output, run.name)


def _open(output: str | Path, binary: bool = False) -> Any:
    if str(output) == "-":
        if binary:
            raise ConfigError("parquet cannot be written to standard output; give --output FILE")
        return None
    try:
        return open(output, "wb" if binary else "w", encoding=None if binary else "utf-8",
                    newline=None if binary else "")
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write export ({exc.strerror})") from None


def _write_jsonl(records: list[dict[str, Any]], output: str | Path) -> int:
    handle = _open(output)
    stream = handle or sys.stdout
    try:
        for rec in records:
            stream.write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        if handle:
            handle.close()
    return len(records)


def _write_csv(rows: list[dict[str, Any]], columns: list[str], output: str | Path) -> int:
    import csv

    handle = _open(output)
    stream = handle or sys.stdout
    try:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    finally:
        if handle:
            handle.close()
    return len(rows)


def _write_parquet(rows: list[dict[str, Any]], columns: list[str], output: str | Path, run_name: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if str(output) == "-":
        raise ConfigError("parquet cannot be written to standard output; give --output FILE")
    data = {"run": [run_name] * len(rows)}
    for col in columns:
        data[col] = [r.get(col) for r in rows]
    try:
        table = pa.table(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # mixed types in a column (rare): fall back to strings for that column
        data = {k: [None if v is None else str(v) for v in vals] if k != "run" else vals for k, vals in data.items()}
        table = pa.table(data)
    try:
        pq.write_table(table, str(output))
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write export ({exc})") from None
    return len(rows)
