"""Build ``src/mathgauge/report/published_scores.json`` (the registry shipped with mathgauge) from reference CSVs.

    python tools/published_scores/build.py                      # the defaults below
    python tools/published_scores/build.py A.csv B.csv ...      # other tables, in this order

The defaults are the mathgauge reference table of MATH-500 and MATH figures (``../shared/reference/
published_scores.csv``) and this folder's ``more_benchmarks.csv`` (AIME, AMC, GSM8K, Minerva Math, OlympiadBench...,
each row with its source). Every CSV row is kept verbatim (model, benchmark, score, metric, shots, mode, settings,
grader, source URL, date, notes); the builder only adds parsed fields (model key and version, canonical benchmark and
its mathgauge name, metric kind and k, decoding settings, mode kind, grader kind, provenance) that the gap analysis
compares with a run. This script is a build tool: mathgauge itself only reads the JSON.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

from mathgauge.datasets import benchmark_for_published_name
from mathgauge.report._published import DATA_FILE, normalize_model

HERE = Path(__file__).resolve().parent
DEFAULT_TABLES = (HERE.parents[1].parent / "shared" / "reference" / "published_scores.csv",
                  HERE / "more_benchmarks.csv")

_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"], start=1)}


def canonical_benchmark(label: str) -> str:
    """The registry's canonical name of the benchmark a label names (``AIME24`` -> ``AIME 2024``, ``MATH-500``),
    ``MATH-945`` (the stratified subset), ``MATH-L5`` (level 5 only), or the label itself."""
    text = label.strip()
    if "945" in text:
        return "MATH-945"
    if "Level 5" in text:
        return "MATH-L5"
    bench = benchmark_for_published_name(text)
    return bench.published_names[0] if bench else text


def benchmark_key(label: str) -> str | None:
    """The mathgauge benchmark a label names (``aime24``), or None for subsets and benchmarks it does not run."""
    text = label.strip()
    if "945" in text or "Level 5" in text:
        return None
    bench = benchmark_for_published_name(text)
    return bench.name if bench else None


def split_model(name: str) -> tuple[str, str | None]:
    """A published model name -> (model key, version/variant or None)."""
    text = name.strip()
    variant = None
    m = re.match(r"^(.*?)\s*\((.*)\)\s*$", text)
    if m:
        text, variant = m.group(1), m.group(2)
    key = normalize_model(text)
    # a dated snapshot spelled in the name itself, e.g. gpt-4o-mini-2024-07-18
    dm = re.match(r"^(.*?)-(\d{4}-\d{2}-\d{2})$", key)
    if dm:
        key, variant = dm.group(1), dm.group(2)
    if variant is not None:
        variant = normalize_version(variant)
    return key, variant


def normalize_version(text: str) -> str:
    """Dated snapshots as YYYY-MM-DD where the text says so (``0513`` -> ``2024-05-13``), else the text."""
    t = text.strip()
    m = re.search(r"(\d{4})-(\d{2})-(\d{2})", t)
    if m:
        return m.group(0)
    m = re.fullmatch(r"(\d{2})(\d{2})", t)
    if m:
        return f"2024-{m.group(1)}-{m.group(2)}"
    m = re.search(r"'o1-(\d{2})(\d{2})'", t)
    if m:
        return f"2024-{m.group(1)}-{m.group(2)}"
    return t


def _float(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def parse_decoding(settings: str, metric: str) -> dict[str, Any]:
    """Temperature, top_p, max tokens and samples per problem, where the text states them."""
    temperature = _float(r"(?:\bT|temperature)\s*=\s*([0-9.]+)", settings)
    if temperature is None and re.search(r"greedy|T=0\b", metric):
        temperature = 0.0
    top_p = _float(r"top_p\s*=\s*([0-9.]+)", settings)
    max_tokens = None
    m = re.search(r"(?:max_gen|max_new_tokens|max_tokens|max generation)\s*=?\s*(\d+)", settings)
    if m:
        max_tokens = int(m.group(1))
    else:
        m = re.search(r"max output (\d+)K", settings)
        if m:
            max_tokens = int(m.group(1)) * 1024
    samples = None
    m = re.search(r"(?:avg|maj|rm)@(\d+)", metric)
    if m:
        samples = int(m.group(1))
    else:
        m = re.search(r"(\d+) (?:samples/query|responses/query)", settings) or re.search(
            r"n_repeats=(\d+)", settings)
        if m:
            samples = int(m.group(1))
    if samples is None and re.search(r"greedy", metric):
        samples = 1
    return {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "samples": samples}


def metric_kind(metric: str, settings: str) -> str:
    """``greedy`` | ``avg@k`` | ``maj@k`` | ``rm@k`` | ``judge`` | ``pass@1`` (k not stated) | ``not stated``."""
    m = metric.lower()
    if "judge" in m:
        return "judge"
    if m.startswith("greedy") or "(t=0)" in m or "greedy" in m and "provider" not in m:
        return "greedy"
    if "maj@" in m:
        return "maj@k"
    if "rm@" in m:
        return "rm@k"
    if "avg" in m or "multi-run" in m or "mean over" in settings.lower():
        return "avg@k"
    if "pass@1" in m or m.startswith("em") or "final_em" in m:
        return "pass@1"
    if "provider default" in m:
        return "provider default"
    return "not stated"


def mode_kind(mode: str, shots: int | None) -> str:
    """``cot`` | ``thinking`` | ``reasoning`` (hidden CoT) | ``pot`` | ``tir`` | ``few-shot`` | ``not stated``."""
    m = mode.lower()
    if "tir" in m:
        return "tir"
    if "pot" in m or "code execution" in m:
        return "pot"
    if "non-thinking" in m or "short-cot" in m:
        return "cot"
    if "thinking" in m or "long-cot" in m:
        return "thinking"
    if "reasoning" in m:
        return "reasoning"
    if shots and shots > 0 or "few-shot" in m:
        return "few-shot"
    if "cot" in m:
        return "cot"
    return "not stated"


def grader_kind(grader: str) -> str:
    g = grader.lower()
    if not g or g == "not stated":
        return "not stated"
    if "final_em" in g:
        return "sympy-em"
    if "judge" in g or "llm equality" in g or "rates answers" in g:
        return "llm-judge"
    if "prm800k" in g:
        return "prm800k"
    if "lighteval" in g or "math-verify" in g:
        return "math-verify"
    if "qwen2.5-math" in g:
        return "qwen-math"
    if "sympy" in g:
        return "sympy-em"
    if "opencompass" in g:
        return "opencompass"
    return "other"


def provenance(notes: str) -> str:
    n = notes.lower()
    if "self-reported" in n:
        return "self-reported"
    if "third-party" in n or "third party" in n or "re-evaluation" in n or "reproduction" in n:
        return "third-party"
    return "not stated"


def build(csv_paths: list[Path]) -> list[dict[str, Any]]:
    """Every row of every CSV, verbatim and in order, plus the parsed fields."""
    entries: list[dict[str, Any]] = []
    for csv_path in csv_paths:
        with open(csv_path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                entries.append(_entry(len(entries) + 1, row, Path(csv_path).name))
    return entries


def _entry(number: int, row: dict[str, str], table: str) -> dict[str, Any]:
    shots = int(row["shots"]) if row["shots"].strip().isdigit() else None
    key, version = split_model(row["model"])
    score = float(row["score"]) if row["score"].strip() else None
    return {
        "id": number,
        "model": row["model"],
        "model_key": key,
        "version": version,
        "benchmark_label": row["benchmark"],
        "benchmark": canonical_benchmark(row["benchmark"]),
        "benchmark_key": benchmark_key(row["benchmark"]),
        "score": score,
        "metric": row["metric"],
        "metric_kind": metric_kind(row["metric"], row["settings"]),
        "shots": shots,
        "mode": row["mode"],
        "mode_kind": mode_kind(row["mode"], shots),
        "settings": row["settings"],
        "decoding": parse_decoding(row["settings"], row["metric"]),
        "chat_template": True if "chat template" in row["settings"].lower() else None,
        "grader": row["grader"],
        "grader_kind": grader_kind(row["grader"]),
        "source_urls": [u.strip() for u in row["source_url"].split(" ; ") if u.strip()],
        "source_date": row["source_date"],
        "provenance": provenance(row["notes"]),
        "notes": row["notes"],
        "table": table,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    tables = [Path(a) for a in args] or list(DEFAULT_TABLES)
    entries = build(tables)
    doc = {
        "about": "Published scores on the benchmarks mathgauge runs (MATH-500, MATH, AIME 2024/2025, AMC 2023, GSM8K, "
                 "Minerva Math, OlympiadBench, ...), one entry per (model, benchmark, metric, source), with the "
                 "sources' own metric, shots, mode, decoding settings, grader, URL and date. Built by "
                 "tools/published_scores/build.py from the mathgauge reference table "
                 "(shared/reference/published_scores.csv) and tools/published_scores/more_benchmarks.csv. Rows with "
                 "score null have no published number. Figures on different benchmarks (MATH and MATH-500) or with "
                 "different metrics (avg@k, pass@1, maj@k) are never compared.",
        "tables": [t.name for t in tables],
        "entries": entries,
    }
    DATA_FILE.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} entries from {len(tables)} table(s) to {DATA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
