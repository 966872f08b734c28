"""CLI commands of the integrations: ``mathgauge rescore`` and ``mathgauge lm-eval-path``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import MathgaugeError


def add_integration_commands(subparsers: Any) -> None:
    """Add ``rescore`` and ``lm-eval-path`` to the ``mathgauge`` command's subparsers."""
    from .rescore import FORMATS

    p = subparsers.add_parser(
        "rescore", help="import another harness's outputs and grade them with mathgauge",
        description="Import a results/samples file written by another evaluation tool as a mathgauge run, grade "
                    "every response with mathgauge's grader, and report the original score, the re-graded score "
                    "and every flipped verdict side by side.",
    )
    p.add_argument("file", help="the other tool's file (lm-eval samples_*.jsonl, lighteval details_*.parquet, "
                                "OpenCompass predictions/<model>/<dataset>.json, Qwen-eval *.jsonl, plain JSONL)")
    p.add_argument("--from", dest="format", required=True, choices=FORMATS, help="which tool wrote FILE")
    p.add_argument("--benchmark", default="auto",
                   help="benchmark to match problems to, by id or text: any of `mathgauge benchmarks`; default auto: "
                        "the one the file's task or folder names (samples_mathgauge_aime24_*, math_eval/gsm8k/), "
                        "else math500; 'none' grades against the gold answers in the file")
    p.add_argument("--data-file", help="local JSONL/Parquet copy of the benchmark (works offline)")
    p.add_argument("--model", help="model name, when the file does not say it")
    p.add_argument("--answer-format", default="auto",
                   help="mathgauge's answer extraction (default auto: \\boxed{}, 'The final answer is', ...)")
    p.add_argument("--original-metric", metavar="NAME",
                   help="the file's per-sample metric holding the original verdict (default: its exact-match one)")
    p.add_argument("--store", default="mathgauge.db", help="SQLite results file (default ./mathgauge.db)")
    p.add_argument("--run-name", help="name of the stored run (default: rescore-FORMAT-MODEL-timestamp)")
    p.add_argument("--summary-json", metavar="PATH", help="write scores and flips as JSON here")
    p.add_argument("--max-flips", type=int, default=200, metavar="N",
                   help="flipped verdicts to print (default 200; all are stored and in --summary-json)")
    p.set_defaults(func=_cmd_rescore)

    p = subparsers.add_parser(
        "lm-eval-path", help="print the lm-evaluation-harness include path of the mathgauge tasks",
        description="Print the folder to pass to lm_eval --include_path for the mathgauge_* tasks (math500, math, "
                    "aime24, aime25, amc23, gsm8k, minerva_math, olympiadbench, gaokao2023en, college_math): "
                    "lm_eval --include_path \"$(mathgauge lm-eval-path)\" --tasks mathgauge_math500 ...",
    )
    p.set_defaults(func=_cmd_lm_eval_path)


def _pct(correct: int, n: int) -> str:
    return f"{correct}/{n} ({100 * correct / n:.1f}%)" if n else "-"


def _cmd_rescore(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from ..report import make_console
    from .rescore import rescore

    benchmark = None if args.benchmark in ("none", "") else args.benchmark
    if benchmark is None and args.data_file:
        raise MathgaugeError("--data-file needs a --benchmark (it is a copy of that benchmark)")
    result = rescore(args.file, args.format, benchmark=benchmark, data_file=args.data_file, store=args.store,
                     run_name=args.run_name, model=args.model, answer_format=args.answer_format,
                     original_metric=args.original_metric, notify=lambda m: print(m, file=sys.stderr))
    console = make_console()
    metric = f" ({escape(result.original_metric)})" if result.original_metric else ""
    console.print(f"imported {result.n} responses from {escape(args.file)} ({result.format}) as run "
                  f"{escape(result.run.name)} ({result.run.run_id}), model {escape(result.model)}")
    console.print(f"original score{metric}: {_pct(result.original_correct, result.original_n)}")
    console.print(f"mathgauge score: {_pct(result.correct, result.n)}"
                  + (f", {result.no_answer} without an answer" if result.no_answer else ""))
    up = sum(1 for f in result.flips if not f.original_correct)
    down = len(result.flips) - up
    console.print(f"flipped verdicts: {len(result.flips)} ({up} incorrect -> correct, {down} correct -> incorrect)")
    if result.flips:
        table = Table()
        for col in ("problem", "sample", "gold", "original", "original answer", "mathgauge", "mathgauge answer"):
            table.add_column(col)
        for f in result.flips[: max(0, args.max_flips)]:
            table.add_row(escape(f.problem_id), str(f.sample_index), escape(f.gold),
                          "correct" if f.original_correct else "incorrect", escape(f.original_extracted or "-"),
                          f.status, escape(f.extracted or "-"))
        console.print(table)
        if len(result.flips) > args.max_flips:
            console.print(f"... and {len(result.flips) - args.max_flips} more (see --summary-json, or "
                          f"mathgauge export {result.run.run_id})")
    if args.summary_json:
        try:
            with open(args.summary_json, "w", encoding="utf-8") as handle:
                json.dump(result.to_json(), handle, indent=2, ensure_ascii=False)
                handle.write("\n")
        except OSError as exc:
            raise MathgaugeError(f"{args.summary_json}: cannot write summary ({exc.strerror})") from None
    return 0


def _cmd_lm_eval_path(args: argparse.Namespace) -> int:
    from . import lm_eval_path

    print(lm_eval_path())
    return 0
