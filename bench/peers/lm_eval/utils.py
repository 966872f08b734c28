"""Loading and scoring for the lm-eval task `mathgauge_math500` (see ../README.md)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _answer import is_correct


def _rows() -> list[dict]:
    path = os.environ.get("BENCH_MATH500") or str(Path(__file__).resolve().parents[4] / "shared/data/math500.jsonl")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_docs(**kwargs):
    """The local MATH-500 file as a datasets.DatasetDict with one split, `test`."""
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(_rows())})


def process_results(doc: dict, results: list[str]) -> dict:
    return {"exact_match": int(is_correct(results[0], doc["answer"]))}
