"""`python bench/report.py`: the report at reasoning scale, and the speed of the statistics.

Report: builds a store by direct `Store` writes (no server): P MATH-500 problems x K samples, each response about
R KB of real prose (a slice of MATH-500's solutions) ending in a boxed answer; each problem has its own difficulty,
so its samples agree more often than chance, as a model's do. Then runs `mathgauge report RUN` and `mathgauge show
RUN` as separate processes and prints the report's size (one self-contained HTML file), build wall and CPU time,
and peak RSS (``os.wait4`` of the process). Defaults: 500 x 16 x 8 KB (8,000 responses, 64 MB of
text), the figures of issue 19.

Statistics (always this checkout's): the paired bootstrap over n problems (2,000 and 10,000 resamples: `compare`,
`ablate`) and the bootstrap over problems (pass@k, maj@k), timed as CPU seconds (median of 3).

    python bench/report.py                          # both, full sizes
    python bench/report.py --quick                  # 40 x 4 x 2 KB: a smoke test, not figures
    python bench/report.py --src /path/to/other/src # run the report processes on another checkout (before/after)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH.parent / "src"))

from bench._common import shared_file  # noqa: E402
from bench._measure import measure_process  # noqa: E402


def build_store(db: Path, problems: int, samples: int, response_kb: float, seed: int = 0) -> dict:
    """Write one finished run of ``problems`` x ``samples`` graded responses; returns what was written."""
    from mathgauge.datasets import Problem
    from mathgauge.grading import Verdict
    from mathgauge.pipeline import GradeRecord
    from mathgauge.solve import Attempt, Gradable
    from mathgauge.store import Store

    rows = [json.loads(line) for line in shared_file("data", "math500.jsonl").read_text(encoding="utf-8")
            .splitlines()]
    prose = "\n\n".join(r["solution"] for r in rows)
    rng = random.Random(seed)
    chunk = int(response_kb * 1024)
    picked = [rows[i % len(rows)] for i in range(problems)]
    config = {"benchmark": "math500", "problem_count": problems, "model": "bench-reasoner",
              "sampling": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 32768, "seed": None, "samples": samples},
              "prompt_template": {"name": "cot_boxed", "system": "", "user": "{problem}", "answer_format": "boxed"},
              "answer_format": "boxed", "grader": "rules", "mode": "cot", "selection": {}, "data_source": {}}
    text_bytes = correct = 0
    with Store(db) as store:
        run = store.create_run(name="scale", benchmark="math500", model="bench-reasoner", config=config,
                               versions={})
        problem_list = [Problem(id=f"{r['unique_id']}#{i}", problem=r["problem"], answer=r["answer"],
                                solution="", subject=r["subject"], level=r["level"]) for i, r in enumerate(picked)]
        prompts = [[{"role": "user", "content": p.problem}] for p in problem_list]
        store.add_problems(run.run_id, problem_list, prompts, samples)
        for p, prompt in zip(problem_list, prompts):
            difficulty = rng.random()
            for k in range(samples):
                ok = rng.random() > difficulty
                start = rng.randrange(0, len(prose) - chunk)
                answer = p.answer if ok else f"{p.answer}1"
                text = prose[start:start + chunk] + f"\n\nSo the final answer is $\\boxed{{{answer}}}$."
                text_bytes += len(text.encode("utf-8"))
                correct += ok
                attempt = Attempt(p.id, k, 0, "chat", {"model": "bench-reasoner", "messages": prompt},
                                  response=text, finish_reason="stop", prompt_tokens=120,
                                  completion_tokens=len(text) // 4, latency_s=20.0 + rng.random())
                verdict = Verdict(correct=ok, extracted=answer, normalized=answer, normalized_gold=p.answer,
                                  method="string" if ok else "none", reason=None if ok else "mismatch")
                # As the pipeline stores a sample: the call, the text graded (its response), the grade.
                store.save_sample(run.run_id, p.id, k, [attempt], graded=[Gradable(text, "boxed", 0)],
                                  grades=[GradeRecord.from_verdict("rules", 0, verdict)])
        store.mark_run_ended(run.run_id, "finished", wall_s=100.0)
    return {"responses": problems * samples, "text_mb": text_bytes / 1e6, "correct": correct}


def report_figures(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        db = work / "scale.db"
        t0 = time.perf_counter()
        built = build_store(db, args.problems, args.samples, args.response_kb)
        build_s = time.perf_counter() - t0
        env = dict(os.environ, PYTHONPATH=str(Path(args.src).resolve()))
        rows = [("store", f"{built['responses']:,} responses, {built['text_mb']:.1f} MB of text, "
                          f"{db.stat().st_size / 1e6:.0f} MB on disk",
                 f"direct Store writes in {build_s:.1f} s ({args.problems} problems x {args.samples} samples x "
                 f"{args.response_kb:g} KB)")]
        html = work / "report.html"
        for label, cmd in (
            ("report", [sys.executable, "-m", "mathgauge.cli", "report", "scale", "--store", str(db),
                        "--output", str(html)]),
            ("show", [sys.executable, "-m", "mathgauge.cli", "show", "scale", "--store", str(db)]),
        ):
            walls, cpus, rss = [], [], []
            for _ in range(args.repeat):
                res, _ = measure_process(cmd, env=env, cwd=work, timeout_s=900, log_dir=work / f"log-{label}")
                if res.returncode != 0:
                    raise SystemExit(f"{label} failed: {res.stderr_tail}")
                walls.append(res.wall_s)
                cpus.append(res.cpu_s)
                rss.append(res.peak_rss_mb)
            how = f"separate process, median of {args.repeat} (peak RSS: max), wait4"
            rows.append((f"{label} wall / CPU", f"{sorted(walls)[len(walls) // 2]:.2f} s / "
                                                f"{sorted(cpus)[len(cpus) // 2]:.2f} s", how))
            rows.append((f"{label} peak RSS", f"{max(rss):.0f} MB", how))
        written = sorted(p.name for p in work.iterdir() if p.name.startswith("report"))
        rows.append(("report HTML size", f"{html.stat().st_size / 1e6:.2f} MB",
                     f"the one file `mathgauge report` wrote ({', '.join(written)})"))
        return rows
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def stats_figures(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    import numpy as np

    from mathgauge.report.stats import bootstrap_mean, paired_bootstrap

    rng = np.random.default_rng(1)
    rows = []
    for n in args.stats_n:
        a = (rng.random(n) < 0.7).astype(float)
        b = (rng.random(n) < 0.6).astype(float)
        for resamples in (2000, 10000):
            times = []
            for _ in range(3):
                t0 = time.process_time()
                paired_bootstrap(a, b, resamples=resamples, seed=0)
                times.append(time.process_time() - t0)
            rows.append((f"paired bootstrap n={n:,}", f"{sorted(times)[1]:.3f} s",
                         f"{resamples:,} resamples, CPU time, median of 3"))
        times = []
        for _ in range(3):
            t0 = time.process_time()
            bootstrap_mean(a, resamples=10000, seed=0)
            times.append(time.process_time() - t0)
        rows.append((f"bootstrap over problems n={n:,}", f"{sorted(times)[1]:.3f} s",
                     "10,000 resamples, CPU time, median of 3"))
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problems", type=int, default=500)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--response-kb", type=float, default=8.0)
    p.add_argument("--repeat", type=int, default=1, help="report/show processes per figure (default 1)")
    p.add_argument("--quick", action="store_true", help="40 x 4 x 2 KB: a smoke test, not figures")
    p.add_argument("--only", choices=["report", "stats"], help="one part only")
    p.add_argument("--src", default=str(BENCH.parent / "src"), help="the mathgauge source the processes run")
    p.add_argument("--keep", action="store_true", help="keep the store and report (path on stderr)")
    args = p.parse_args(argv)
    args.stats_n = [5000]
    if args.quick:
        args.problems, args.samples, args.response_kb, args.stats_n = 40, 4, 2.0, [500]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[tuple[str, str, str]] = []
    if args.only in (None, "stats"):
        rows += stats_figures(args)
    if args.only in (None, "report"):
        rows += report_figures(args)
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'figure'.ljust(width)}  {'value'.ljust(vwidth)}  how measured")
    for name, value, how in rows:
        print(f"{name.ljust(width)}  {value.ljust(vwidth)}  {how}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
