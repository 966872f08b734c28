"""``mathgauge grade`` and ``mathgauge grade-file`` subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import TYPE_CHECKING

from ._extract import ANSWER_FORMATS

if TYPE_CHECKING:
    from ._grader import Grader


def add_grading_commands(subparsers) -> None:
    """Add ``grade`` and ``grade-file`` to an argparse ``_SubParsersAction``."""
    p = subparsers.add_parser(
        "grade",
        help="grade one response against a reference answer and print the verdict as JSON",
        description="Grade one response against a reference answer; prints the verdict as JSON.",
    )
    p.add_argument("--gold", required=True,
                   help="reference answer, e.g. '\\frac{1}{2}' (a whole reference solution is read by its last \\boxed{})")
    p.add_argument("--response", required=True, help="model response text ('-' reads it from stdin)")
    p.add_argument("--format", dest="answer_format", default="auto", choices=ANSWER_FORMATS,
                   help="how the response states its final answer (default: auto, which finds every shape; raw: "
                        "the whole response is the answer, a lone $...$ or \\boxed{} removed)")
    p.add_argument("--timeout", type=float, default=2.0, help="time cap per grade in seconds (default 2)")
    p.set_defaults(func=cmd_grade)

    p = subparsers.add_parser(
        "grade-file",
        help="grade a JSONL file of responses",
        description=(
            "Grade each line of a JSONL file (fields: response, gold_answer; optional: problem, "
            "answer_format, id, label). Writes each input object plus correct, extracted, method, "
            "reason, in the same order. With labels, prints agreement and the disagreeing ids."
        ),
    )
    p.add_argument("--input", required=True, help="input JSONL file")
    p.add_argument("--output", required=True, help="output JSONL file")
    p.add_argument("--format", dest="answer_format", default="auto", choices=ANSWER_FORMATS,
                   help="default answer format (a line's answer_format field overrides it)")
    p.add_argument("--workers", type=int, default=1, help="grading processes (default 1)")
    p.add_argument("--timeout", type=float, default=2.0, help="time cap per grade in seconds (default 2)")
    p.set_defaults(func=cmd_grade_file)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def cmd_grade(args) -> int:
    from ._grader import Grader

    response = args.response
    if response == "-":
        response = sys.stdin.read()
    if args.timeout <= 0:
        _err("--timeout must be positive")
        return 2
    with Grader(answer_format=args.answer_format, timeout_s=args.timeout) as g:
        v = g.grade(response, args.gold)
    print(json.dumps(v.to_dict(), ensure_ascii=False))
    return 0


# ------------------------------------------------------------------ grade-file

_WORKER_GRADER: Grader | None = None


def _init_worker(fmt: str, timeout: float) -> None:
    global _WORKER_GRADER
    from ._grader import Grader

    _WORKER_GRADER = Grader(answer_format=fmt, timeout_s=timeout)


def _grade_item(item: tuple[str, str, str]) -> tuple[bool, str | None, str | None, str | None]:
    response, gold, fmt = item
    assert _WORKER_GRADER is not None, "_init_worker runs first"
    v = _WORKER_GRADER.grade(response, gold, answer_format=fmt)
    return v.correct, v.extracted, v.method, v.reason


def _read_items(path: str, default_fmt: str):
    rows = []
    bad = 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                _err(f"{path}:{lineno}: malformed JSON ({exc.msg}); line skipped")
                bad += 1
                continue
            if not isinstance(obj, dict):
                _err(f"{path}:{lineno}: expected a JSON object; line skipped")
                bad += 1
                continue
            missing = [k for k in ("response", "gold_answer") if not isinstance(obj.get(k), str)]
            if missing:
                _err(f"{path}:{lineno}: missing or non-string field(s) {', '.join(missing)}; line skipped")
                bad += 1
                continue
            fmt = obj.get("answer_format") or default_fmt
            if fmt not in ANSWER_FORMATS:
                _err(f"{path}:{lineno}: unknown answer_format {fmt!r} (valid: {', '.join(ANSWER_FORMATS)}); line skipped")
                bad += 1
                continue
            rows.append((lineno, obj, fmt))
    return rows, bad


def cmd_grade_file(args) -> int:
    if args.workers < 1:
        _err("--workers must be at least 1")
        return 2
    try:
        rows, bad = _read_items(args.input, args.answer_format)
    except FileNotFoundError:
        _err(f"input file not found: {args.input}")
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        _err(f"cannot read {args.input}: {exc}")
        return 2
    items = [(obj["response"], obj["gold_answer"], fmt) for _, obj, fmt in rows]
    if args.workers > 1 and len(items) > 64:
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing as mp

        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(args.answer_format, args.timeout)) as ex:
            results = list(ex.map(_grade_item, items, chunksize=64))
    else:
        _init_worker(args.answer_format, args.timeout)
        try:
            results = [_grade_item(it) for it in items]
        finally:
            if _WORKER_GRADER is not None:
                _WORKER_GRADER.close()
    try:
        out = open(args.output, "w", encoding="utf-8")
    except OSError as exc:
        _err(f"cannot write {args.output}: {exc}")
        return 2
    agree: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    disagreements = []
    with out:
        for (lineno, obj, fmt), (correct, extracted, method, reason) in zip(rows, results):
            rec = dict(obj)
            rec.update(correct=correct, extracted=extracted, method=method, reason=reason)
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            if "label" in obj and isinstance(obj["label"], bool):
                ok = obj["label"] == correct
                for key in ("overall", fmt):
                    agree[key][0] += ok
                    agree[key][1] += 1
                if not ok:
                    disagreements.append(str(obj.get("id", f"line {lineno}")))
    try:
        _print_summary(results, bad, agree, disagreements)
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _print_summary(results, bad, agree, disagreements) -> None:
    n_ok = sum(r[0] for r in results)
    print(f"graded {len(results)} responses: {n_ok} correct ({100 * n_ok / max(1, len(results)):.2f}%)"
          + (f"; {bad} malformed line(s) skipped" if bad else ""))
    if agree:
        for key, (a, t) in sorted(agree.items(), key=lambda kv: kv[0] != "overall"):
            print(f"agreement {key}: {100 * a / t:.2f}% ({a}/{t})")
        print(f"disagreements ({len(disagreements)}): {' '.join(disagreements)}")


def main(argv=None) -> int:  # standalone entry for testing: python -m mathgauge.grading._cli
    from ..cli import StrictArgumentParser

    ap = StrictArgumentParser(prog="mathgauge")
    sub = ap.add_subparsers(dest="command", required=True)
    add_grading_commands(sub)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
