"""Benchmark the grader on the labelled development set.

Usage: python bench/grading.py [--data PATH] [--limit N] [--no-math-verify] [--show-disagreements N]

Prints grades/s, p50, p99 and max latency per grade, and agreement with the hand-checked
labels (overall and per answer_format, leaving out borderline and gold_issue rows), and the
same figures for math-verify when it is importable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "grading" / "labelled_responses.jsonl"


def load(path: Path, limit: int | None):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    rows = [r for r in rows if not r.get("borderline") and not r.get("gold_issue")]
    return rows[:limit] if limit else rows


def report(name: str, rows, preds, times, show: int) -> None:
    n = len(rows)
    total = sum(times)
    lat = sorted(times)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(f"== {name}")
    print(f"  grades/s: {n / total:,.0f}   p50: {p(0.50):.3f} ms   p99: {p(0.99):.3f} ms   max: {lat[-1] * 1000:.1f} ms")
    agree = defaultdict(lambda: [0, 0])
    bad = []
    for r, pred in zip(rows, preds):
        ok = pred == bool(r["label"])
        for key in ("overall", r["answer_format"]):
            agree[key][0] += ok
            agree[key][1] += 1
        if not ok:
            bad.append(r)
    for key, (a, t) in sorted(agree.items(), key=lambda kv: kv[0] != "overall"):
        print(f"  agreement {key:18s} {100 * a / t:6.2f}%  ({a}/{t})")
    for r in bad[:show]:
        print(f"  - {r['id']} label={r['label']} gold={r['gold_answer']!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-math-verify", action="store_true")
    ap.add_argument("--show-disagreements", type=int, default=0)
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"error: labelled data not found: {args.data}", file=sys.stderr)
        return 2
    rows = load(args.data, args.limit)
    print(f"{len(rows)} labelled rows (borderline and gold_issue rows left out)")

    t0 = time.perf_counter()
    from mathgauge.grading import Grader

    with Grader() as grader:
        preds, times = [], []
        for r in rows:
            s = time.perf_counter()
            v = grader.grade(r["response"], r["gold_answer"], answer_format=r["answer_format"])
            times.append(time.perf_counter() - s)
            preds.append(v.correct)
        # the same again with the (candidate, gold) verdict cache emptied before every grade
        cold_preds, cold_times = [], []
        for r in rows:
            grader._verdict_cache.clear()
            s = time.perf_counter()
            v = grader.grade(r["response"], r["gold_answer"], answer_format=r["answer_format"])
            cold_times.append(time.perf_counter() - s)
            cold_preds.append(v.correct)
    print(f"(mathgauge total wall {time.perf_counter() - t0:.2f}s incl. import)")
    report("mathgauge", rows, preds, times, args.show_disagreements)
    report("mathgauge, no verdict cache (parsed golds still cached)", rows, cold_preds, cold_times, 0)

    if args.no_math_verify:
        return 0
    try:
        import logging

        logging.disable(logging.CRITICAL)  # math-verify logs whole responses on parse timeouts
        from math_verify import parse, verify  # type: ignore
    except Exception:
        print("== math-verify: not installed (pip install math-verify to compare)")
        return 0
    preds, times = [], []
    for r in rows:
        s = time.perf_counter()
        try:
            gold = parse("$" + r["gold_answer"] + "$")
            ans = parse(r["response"])
            ok = bool(verify(gold, ans))
        except Exception:
            ok = False
        times.append(time.perf_counter() - s)
        preds.append(ok)
    report("math-verify", rows, preds, times, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
