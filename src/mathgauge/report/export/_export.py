"""Every export of a run, behind one entry point (`export_run`): JSONL, CSV and Parquet (one row per sample, or
per model call with ``attempts=True``), lm-eval's ``samples_<task>.jsonl`` shape, and verified solutions for
fine-tuning (``sft``). Rows are streamed from the store and written as they come (Parquet: in batches), so a run's
responses are never all in memory; every text is written exactly as stored.

Each consumer gets what it needs of a sample:

* per-sample rows carry the grade the run is scored by (``grader``: ``rules``, or ``final`` in judge and cascade
  runs), the exact text that grade read (``graded_text``: a program's output in program-of-thought runs, the turns
  of the try joined in tool-use runs, the answer current after self-verification; ``None`` where an older
  mathgauge did not keep it and it cannot be recomputed, ``graded_origin`` ``unknown``) with its
  ``answer_format``, and ``response``, the raw response of the call the grade points at (the program, the last
  turn, the last verification call);
* per-call rows carry every raw response, and ``graded_text`` / ``answer_format`` on the call a grade reads;
* lm-eval records put the graded texts in ``resps`` (what the filter, mathgauge's grader, reads:
  ``filtered_resps`` is derived from them, as in lm-eval) and the raw responses in ``mathgauge.responses``;
* fine-tuning records (`export_sft`) train on the model's own full solution, never on a program's output alone.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ...errors import ConfigError
from ._jsonl import json_line
from ._sft import SftCoverage, export_sft

if TYPE_CHECKING:
    from ...store import RunRecord, Store

EXPORT_FORMATS = ("jsonl", "csv", "parquet", "lm-eval-samples", "sft")
_SAMPLE_COLUMNS = [
    "problem_id", "sample_index", "subject", "level", "gold_answer", "grader", "extracted", "grade", "correct",
    "method", "reason", "sample_status", "error", "finish_reason", "prompt_tokens", "completion_tokens",
    "latency_s", "cached", "problem", "answer_format", "graded_origin", "graded_text", "response",
]
_ATTEMPT_COLUMNS = [
    "problem_id", "sample_index", "attempt_index", "kind", "subject", "level", "gold_answer", "response",
    "reasoning", "finish_reason", "error", "prompt_tokens", "completion_tokens", "latency_s", "total_s", "retries",
    "cached", "started_at", "request", "extra", "answer_format", "graded_origin", "graded_text",
]
_PARQUET_BATCH = 1000


@dataclass
class ExportResult:
    """What an export wrote: ``records`` of ``unit`` in ``fmt`` to ``output`` (and, for ``sft``, the coverage)."""

    fmt: str
    output: str
    records: int
    unit: str
    coverage: SftCoverage | None = None

    def lines(self) -> list[str]:
        """What the CLI says about it (nothing for a JSONL/CSV per-sample export to standard output)."""
        if self.coverage is not None:
            c = self.coverage.to_dict()
            unknown = (f", {c['unknown_text_dropped']} whose graded answer is unknown"
                       if c["unknown_text_dropped"] else "")
            out = [f"wrote {c['records']} verified solutions to {self.output} ({c['duplicates_dropped']} duplicates "
                   f"and {c['over_cap_dropped']} over the cap dropped{unknown}); coverage "
                   f"{c['covered']}/{c['problems']} problems ({100 * c['coverage']:.1f}%)"]
            for title, cells in (("subject", c["by_subject"]), ("level", c["by_level"])):
                out.append(f"  by {title}: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in cells.items()))
            return out
        if self.output == "-" and self.unit == "samples":
            return []
        return [f"wrote {self.records} {self.unit} to {self.output}"]


def export_run(store: Store, run_ref: str, fmt: str, output: str | Path, *, attempts: bool = False,
               max_per_problem: int = 4) -> ExportResult:
    """Write a run's records in ``fmt`` to ``output``.

    Args:
        store: the results store.
        run_ref: run id or name.
        fmt: one of `EXPORT_FORMATS`: ``jsonl`` (everything, prompt included), ``csv`` (flat columns), ``parquet``,
            ``lm-eval-samples`` (one record per problem, lm-eval's per-sample log shape) or ``sft`` (the verified
            solutions as chat records).
        output: destination file (``-`` for standard output, except Parquet and SFT).
        attempts: one row per model call instead of one per sample (jsonl, csv, parquet).
        max_per_problem: ``sft``: most solutions kept per problem.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    if attempts and fmt in ("lm-eval-samples", "sft"):
        raise ConfigError(f"--attempts does not apply to --format {fmt} (one record per "
                          f"{'problem' if fmt == 'lm-eval-samples' else 'verified solution'})")
    if fmt in ("parquet", "sft") and str(output) == "-":
        raise ConfigError(f"{fmt} cannot be written to standard output; give --output FILE")
    run = store.get_run(run_ref)
    grader = _scored_grader(run)
    if fmt == "sft":
        coverage = export_sft(store, run.run_id, output, max_per_problem=max_per_problem)
        return ExportResult(fmt, str(output), coverage.records, "verified solutions", coverage)
    if fmt == "lm-eval-samples":
        count = _write_jsonl(lm_eval_records(store, run.run_id, task=f"mathgauge_{run.benchmark}"), output)
        return ExportResult(fmt, str(output), count, "records")
    if attempts:
        rows: Iterable[dict[str, Any]] = attempt_rows(store, run.run_id)
        columns, unit = _ATTEMPT_COLUMNS, "calls"
    else:
        rows = ({**r, "grader": grader} for r in store.export_rows(run.run_id, grader))
        columns, unit = _SAMPLE_COLUMNS, "samples"
    if fmt == "jsonl":
        count = _write_jsonl(({"run": run.name, **r} for r in rows), output)
    elif fmt == "csv":
        count = _write_csv(rows, columns, output)
    else:
        if not attempts:  # every stored field, the prompt as JSON text
            columns = [*_SAMPLE_COLUMNS, "prompt"]
            rows = ({**r, "prompt": json.dumps(r["prompt"], ensure_ascii=False)} for r in rows)
        count = _write_parquet(rows, columns, output, run.name)
    return ExportResult(fmt, str(output), count, unit)


def _scored_grader(run: RunRecord) -> str:
    from ...pipeline import RunSpec

    grader: str = RunSpec.of_run(run).scored_grader
    return grader


def attempt_rows(store: Store, run_id: str) -> Iterator[dict[str, Any]]:
    """One flat dict per stored model call of a run, in problem and sample order (requests and extras as JSON;
    ``graded_text``, ``answer_format`` and ``graded_origin`` on the calls a grade reads, ``None`` on the others).

    Args:
        store: the results store.
        run_id: the run.
    """
    samples = {(r.problem_id, r.sample_index): r for r in store.sample_results(run_id, responses=False)}
    for call in store.calls(run_id):  # one streamed query, not one per sample
        r = samples[(call["problem_id"], call["sample_index"])]
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
            "extra": call.get("extra_json"), "answer_format": call.get("answer_format"),
            "graded_origin": call.get("graded_origin"),
            "graded_text": call.get("graded_text") if call.get("graded_origin") in ("solver", "migrated") else None,
        }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lm_eval_records(store: Store, run_id: str, task: str = "mathgauge_math") -> Iterator[dict[str, Any]]:
    """One record per problem in lm-eval's per-sample log shape (``doc_id``, ``doc``, ``target``, ``arguments``,
    ``resps``, ``filtered_resps``, ``exact_match``, hashes). With k samples per problem, ``resps`` holds the k
    texts the run's grader read (the response in chain-of-thought runs; a program's output, a tool-use transcript,
    the answer after self-verification otherwise), ``filtered_resps`` the answers it extracted from them, and
    ``exact_match`` is their mean correctness under the grade the run is scored by (avg@k). The raw responses of
    the graded calls are in ``mathgauge.responses``, the texts' formats in ``mathgauge.answer_formats``.

    Args:
        store: the results store.
        run_id: the run.
        task: the task name written in each record.
    """
    from ...pipeline import RunSpec

    run = store.get_run(run_id)
    spec = RunSpec.of_run(run)
    sampling = spec.sampling
    gen_kwargs = {"temperature": sampling.temperature, "top_p": sampling.top_p, "max_gen_toks": sampling.max_tokens,
                  "do_sample": bool(sampling.temperature), "until": []}
    # export_rows come in problem order, so each problem's samples are consecutive: one problem in memory at a time
    grouped = itertools.groupby(store.export_rows(run_id, spec.scored_grader), key=lambda row: row["problem_id"])
    for doc_id, (pid, group) in enumerate(grouped):
        rows = list(group)
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
            "resps": [[_graded_or_response(r) for r in rows]],
            "filtered_resps": [r.get("extracted") or "[invalidanswer]" for r in rows],
            "filter": "mathgauge-rules",
            "metrics": ["exact_match"],
            "doc_hash": _sha(json.dumps(doc, ensure_ascii=False, sort_keys=True)),
            "prompt_hash": _sha(prompt),
            "target_hash": _sha(target),
            "exact_match": (sum(bool(r.get("correct")) for r in graded) / len(graded)) if graded else None,
            "task": task,
            "mathgauge": {"run": run.name, "model": run.model, "grader": spec.scored_grader,
                          "verdicts": [r.get("grade") for r in rows],
                          "finish_reasons": [r.get("finish_reason") for r in rows],
                          "answer_formats": [r.get("answer_format") for r in rows],
                          "graded_origins": [r.get("graded_origin") for r in rows],
                          "responses": [r.get("response") or "" for r in rows]},
        }


def _graded_or_response(row: dict[str, Any]) -> str:
    """The text a sample was graded on; where that is unknown (``graded_origin`` says so), its raw response."""
    text = row.get("graded_text")
    return (row.get("response") or "") if text is None else text


@contextmanager
def _text_output(output: str | Path) -> Iterator[IO[str]]:
    if str(output) == "-":
        try:
            yield sys.stdout
            sys.stdout.flush()
        except BrokenPipeError:
            # the reader stopped early (`| head`): nothing more is wanted; keep the exit flush from failing too
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    try:
        handle = open(output, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write export ({exc.strerror})") from None
    with handle:
        yield handle


def _without_lone_surrogates(value: Any) -> Any:
    # Formats without escapes (CSV cells, Parquet strings) cannot hold a lone surrogate: it is written as the text
    # "\ud800" (the JSON formats keep it exactly).
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _write_jsonl(records: Iterable[dict[str, Any]], output: str | Path) -> int:
    count = 0
    with _text_output(output) as stream:
        for rec in records:
            stream.write(json_line(rec))
            count += 1
    return count


def _write_csv(rows: Iterable[dict[str, Any]], columns: list[str], output: str | Path) -> int:
    count = 0
    with _text_output(output) as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _without_lone_surrogates(v) for k, v in row.items()})
            count += 1
    return count


_INT = ("sample_index", "level", "prompt_tokens", "completion_tokens", "attempt_index", "retries")
_FLOAT = ("latency_s", "total_s", "started_at")
_BOOL = ("correct", "cached")


def _parquet_schema(columns: list[str]) -> Any:
    import pyarrow as pa

    def kind(col: str) -> Any:
        if col in _INT:
            return pa.int64()
        if col in _FLOAT:
            return pa.float64()
        return pa.bool_() if col in _BOOL else pa.string()

    return pa.schema([("run", pa.string()), *((col, kind(col)) for col in columns)])


def _write_parquet(rows: Iterable[dict[str, Any]], columns: list[str], output: str | Path, run_name: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema(columns)
    count = 0
    try:
        with pq.ParquetWriter(str(output), schema) as writer:
            for batch in _batches(rows, _PARQUET_BATCH):
                records = [{"run": run_name, **{col: _without_lone_surrogates(row.get(col)) for col in columns}}
                           for row in batch]
                writer.write_table(pa.Table.from_pylist(records, schema=schema))
                count += len(batch)
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write export ({exc})") from None
    return count


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while batch := list(itertools.islice(it, size)):
        yield batch
