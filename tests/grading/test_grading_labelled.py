"""Agreement with the hand-checked labels of shared/grading/labelled_responses.jsonl.

Rows marked ``borderline`` or ``gold_issue`` are left out. The grader was developed against these labels, so the
floors guard against regressions; they are not an independent accuracy figure. Runs in about two seconds.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import pytest

from mathgauge.grading import Grader

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "grading" / "labelled_responses.jsonl"

# floors at what the grader reaches (7402/7406, 3713/3714, 3444/3445, 245/247; bench/grading.py prints them)
FLOORS = {
    "overall": 0.9994,
    "boxed": 0.9997,
    "json_answer_field": 0.9997,
    "think_answer_tags": 0.9919,
}


@pytest.fixture(scope="module")
def rows():
    if not DATA.exists():
        pytest.skip(f"labelled set not found at {DATA}")
    out = []
    with open(DATA, encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if not r.get("borderline") and not r.get("gold_issue"):
                out.append(r)
    return out


def test_labelled_agreement(rows):
    agree = defaultdict(lambda: [0, 0])
    wrong = []
    slowest = 0.0
    with Grader() as g:
        for r in rows:
            t = time.perf_counter()
            v = g.grade(r["response"], r["gold_answer"], answer_format=r["answer_format"])
            slowest = max(slowest, time.perf_counter() - t)
            ok = v.correct == bool(r["label"])
            for key in ("overall", r["answer_format"]):
                agree[key][0] += ok
                agree[key][1] += 1
            if not ok:
                wrong.append(r["id"])
    rates = {k: a / t for k, (a, t) in agree.items()}
    assert agree["overall"][1] == len(rows)
    for key, floor in FLOORS.items():
        assert rates[key] >= floor, (key, rates, wrong)
    assert slowest < 2.5
