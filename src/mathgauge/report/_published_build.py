"""Build ``published_scores.json`` (the registry shipped with mathgauge) from the reference CSV.

Run ``python -m mathgauge.report._published_build ../shared/reference/published_scores.csv`` to regenerate it.
Every CSV row is kept verbatim (model, benchmark, score, metric, shots, mode, settings, grader, source URL, date,
notes); the builder only adds parsed fields (model key and version, canonical benchmark, metric kind and k,
decoding settings, mode kind, grader kind, provenance) that the gap analysis compares with a run.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("published_scores.json")

_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"], start=1)}


def canonical_benchmark(label: str) -> str:
    """``MATH-500`` | ``MATH`` | ``MATH-945`` (stratified subset) | ``MATH-L5`` | the label itself."""
    text = label.strip()
    if text == "MATH-500":
        return "MATH-500"
    if text == "MATH":
        return "MATH"
    if "945" in text:
        return "MATH-945"
    if "Level 5" in text:
        return "MATH-L5"
    return text


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


def normalize_model(name: str) -> str:
    """Lower-case, no organisation prefix, spaces and colons as dashes, a few spelling aliases."""
    text = name.strip().split("/")[-1].lower()
    text = re.sub(r"[\s:_]+", "-", text)
    text = re.sub(r"^claude-3-5-", "claude-3.5-", text)
    text = re.sub(r"^llama(\d)", r"llama-\1", text)
    return text.strip("-")


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


def build(csv_path: str | Path) -> list[dict[str, Any]]:
    """Every CSV row, verbatim, plus the parsed fields."""
    entries = []
    with open(csv_path, encoding="utf-8", newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            shots = int(row["shots"]) if row["shots"].strip().isdigit() else None
            key, version = split_model(row["model"])
            score = float(row["score"]) if row["score"].strip() else None
            entries.append({
                "id": i + 1,
                "model": row["model"],
                "model_key": key,
                "version": version,
                "benchmark_label": row["benchmark"],
                "benchmark": canonical_benchmark(row["benchmark"]),
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
            })
    return entries


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = args[0] if args else "../shared/reference/published_scores.csv"
    entries = build(source)
    doc = {
        "about": "Published MATH-500 and MATH scores, one entry per (model, source), with the sources' own "
                 "metric, shots, mode, decoding settings, grader, URL and date. Built from the mathgauge "
                 "reference table (shared/reference/published_scores.csv). Rows with score null have no "
                 "published number. MATH and MATH-500 are different benchmarks and are never compared.",
        "entries": entries,
    }
    DATA_FILE.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} entries to {DATA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
