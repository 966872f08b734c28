"""Benchmark the grader on the labelled development set: speed with the caches cold and warm, and agreement.

Usage: python bench/grading.py [--data PATH] [--limit N] [--repeat R] [--no-math-verify] [--show-disagreements N]

Rows marked ``borderline`` or ``gold_issue`` are left out, and a (response, gold) pair that occurs twice is graded
once, so no verdict comes from the verdict cache in the cold pass.

* cold (the headline): a fresh ``Grader`` with every cache empty (verdicts, parsed references, parsed
  expressions), each pair graded once; repeated ``--repeat`` times (caches emptied again), the median run is
  reported. grades/s and the p50/p99/max latencies of single grades are given by CPU time (the machine is
  shared: wall time counts other work), then by wall-clock time. Per-grade CPU time is this thread's; the rare
  sympy comparisons run in a worker process, whose time only the wall-clock figures include.
* warm: the same pairs graded again by the grader of the last cold run (verdicts cached).
* agreement with the hand labels, overall and per answer format; the labels are those the grader was developed
  against, so this is agreement on the tuning set, not an independent check.
* math-verify on the same pairs when it is importable (``pip install math-verify``; a bench peer only).
* prose answers: the ``boxed`` rows labelled correct with their last ``\\boxed{...}`` unwrapped (the box removed,
  its content left in the sentence), graded with ``--format auto``: how many still read correct. A check of the
  answer-in-prose readers on real text; it counts misses only (a wrong response stays wrong without its box).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "grading" / "labelled_responses.jsonl"
sys.path.insert(0, str(ROOT / "src"))


def load(path: Path, limit: int | None) -> list[dict]:
    """Labelled rows without borderline/gold_issue rows and without repeated (response, gold) pairs."""
    rows, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
            key = (r["response"], r["gold_answer"], r["answer_format"])
            if r.get("borderline") or r.get("gold_issue") or key in seen:
                continue
            seen.add(key)
            rows.append(r)
    return rows[:limit] if limit else rows


def _pct(lat: list[float], q: float) -> float:
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000


def report(name: str, rows: list[dict], preds: list[bool], times: list[tuple[float, float]], cpu_s: float,
           show: int, how: str = "") -> None:
    """Print one block: speed lines, agreement lines, disagreeing ids (parsed by bench/_sections.py).

    ``times`` holds (wall, CPU) seconds per grade; the first speed line is by CPU time (robust on a shared
    machine), the second by wall-clock time.
    """
    n = len(rows)
    wall_lat = sorted(w for w, _ in times)
    cpu_lat = sorted(c for _, c in times)
    print(f"== {name}")
    if how:
        print(f"  ({how})")
    print(f"  grades/s: {n / cpu_s:,.0f}   p50: {_pct(cpu_lat, 0.50):.3f} ms   p99: {_pct(cpu_lat, 0.99):.3f} ms   "
          f"max: {cpu_lat[-1] * 1000:.1f} ms   (CPU time)")
    print(f"  wall clock: {n / sum(wall_lat):,.0f} grades/s   p50: {_pct(wall_lat, 0.50):.3f} ms   "
          f"p99: {_pct(wall_lat, 0.99):.3f} ms   max: {wall_lat[-1] * 1000:.1f} ms")
    agree: dict[str, list[int]] = defaultdict(lambda: [0, 0])
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


def _clear_module_caches() -> None:
    from mathgauge.grading._values import EXPR_CACHE

    EXPR_CACHE.clear()


def grade_all(grader, rows: list[dict]) -> tuple[list[bool], list[tuple[float, float]], float]:
    """Grade every row once: (verdicts, (wall, CPU) seconds per grade, CPU seconds of the process in all)."""
    preds, times = [], []
    cpu0 = time.process_time()
    for r in rows:
        w, c = time.perf_counter(), time.thread_time()
        v = grader.grade(r["response"], r["gold_answer"], answer_format=r["answer_format"])
        times.append((time.perf_counter() - w, time.thread_time() - c))
        preds.append(v.correct)
    return preds, times, time.process_time() - cpu0


def run_mathgauge(rows: list[dict], repeat: int, show: int) -> None:
    from mathgauge.grading import Grader

    runs = []
    grader = None
    for _ in range(max(1, repeat)):
        if grader is not None:
            grader.close()
        _clear_module_caches()
        grader = Grader()
        runs.append(grade_all(grader, rows))
    preds, times, cpu = sorted(runs, key=lambda run: run[2])[len(runs) // 2]
    cpus = ", ".join(f"{len(rows) / c:,.0f}" for _, _, c in runs)
    report("mathgauge, caches cold", rows, preds, times, cpu, show,
           f"every cache empty, each pair graded once; median of {len(runs)} runs by CPU: {cpus} grades/s")
    warm_preds, warm_times, warm_cpu = grade_all(grader, rows)
    report("mathgauge, caches warm", rows, warm_preds, warm_times, warm_cpu, 0,
           "the same pairs again with the last cold run's grader: verdicts cached")
    grader.close()


def run_math_verify(rows: list[dict]) -> None:
    try:
        import logging

        logging.disable(logging.CRITICAL)  # math-verify logs whole responses on parse timeouts
        from math_verify import parse, verify  # type: ignore
    except Exception:
        print("== math-verify: not installed (pip install math-verify to compare)")
        return
    preds, times = [], []
    cpu0 = time.process_time()
    for r in rows:
        w, c = time.perf_counter(), time.thread_time()
        try:
            ok = bool(verify(parse("$" + r["gold_answer"] + "$"), parse(r["response"])))
        except Exception:
            ok = False
        times.append((time.perf_counter() - w, time.thread_time() - c))
        preds.append(ok)
    report("math-verify", rows, preds, times, time.process_time() - cpu0, 0)


def unbox_last(text: str) -> str | None:
    """``text`` with its last ``\\boxed{...}`` replaced by the box's content; ``None`` without a box."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed{")
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            if depth == 0:
                return text[:start] + text[start + len("\\boxed{"):i] + text[i + 1:]
            depth -= 1
        i += 1
    return None


def run_prose_answers(rows: list[dict], with_math_verify: bool) -> None:
    from mathgauge.grading import Grader

    pairs = [(unboxed, r["gold_answer"]) for r in rows if r["answer_format"] == "boxed" and r["label"]
             for unboxed in [unbox_last(r["response"])] if unboxed is not None]
    with Grader() as grader:
        kept = sum(grader.grade(text, gold, answer_format="auto").correct for text, gold in pairs)
    line = f"== prose answers (last box unwrapped, --format auto): mathgauge {kept}/{len(pairs)} " \
           f"({kept / len(pairs):.2%}) still read correct"
    if with_math_verify:
        try:
            from math_verify import parse, verify  # type: ignore
        except Exception:
            pass
        else:
            mv = 0
            for text, gold in pairs:
                try:
                    mv += bool(verify(parse("$" + gold + "$"), parse(text)))
                except Exception:
                    pass
            line += f"; math-verify {mv}/{len(pairs)} ({mv / len(pairs):.2%})"
    print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="cold runs (median reported; default 3)")
    ap.add_argument("--no-math-verify", action="store_true")
    ap.add_argument("--show-disagreements", type=int, default=0)
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"error: labelled data not found: {args.data}", file=sys.stderr)
        return 2
    rows = load(args.data, args.limit)
    print(f"{len(rows)} labelled rows (borderline and gold_issue rows and repeated pairs left out); agreement is "
          "measured on the set the grader was tuned on")
    run_mathgauge(rows, args.repeat, args.show_disagreements)
    if not args.no_math_verify:
        run_math_verify(rows)
    run_prose_answers(rows, not args.no_math_verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
