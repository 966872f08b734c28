"""CLI commands of the report package: ``scores``, ``compare`` and ``report``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import ConfigError
from .stats import DEFAULT_RESAMPLES, DEFAULT_SEED


def _add_store(p: Any) -> None:
    p.add_argument("--store", default="mathgauge.db", help="SQLite results file (default ./mathgauge.db)")


def add_report_commands(subparsers: Any) -> None:
    """Add the report commands (``scores``, ``compare``, ``report``) to the ``mathgauge`` parser."""
    p = subparsers.add_parser(
        "scores", help="published scores (MATH-500, MATH, AIME, AMC, GSM8K, ...) with their sources",
        description="List the published scores mathgauge ships, one row per source and metric, with the metric "
                    "(pass@1, avg@k, maj@k), shots, mode, decoding settings, grader, URL and date. Each benchmark is "
                    "listed separately (MATH and MATH-500 are different benchmarks).")
    p.add_argument("model", nargs="?", help="model name (e.g. Qwen/Qwen2.5-7B-Instruct, gpt-4o-2024-08-06) or part "
                   "of one; default: all")
    p.add_argument("--benchmark", help="only this benchmark: a mathgauge name (math500, aime24, gsm8k...) or a "
                   "published one (MATH-500, AIME 2024)")
    p.add_argument("--json", action="store_true", help="print the entries as JSON")
    p.set_defaults(func=cmd_scores)

    p = subparsers.add_parser(
        "compare", help="paired comparison of runs on the problems they share; runs over several benchmarks: the "
                        "benchmark x model table",
        description="Compare runs on the problems they share: accuracy with 95% CI, pairwise difference with a "
                    "paired bootstrap CI and an exact McNemar test, per-subject and per-level differences, and "
                    "the problems one run solved and the other did not. Warns when settings make it unfair. Runs "
                    "over several benchmarks (a suite's name stands for all its runs) give the benchmark x model "
                    "table, each cell with its 95% CI and the comparable published figure, and the paired "
                    "difference of the runs of each benchmark.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more run ids or names, or suite names")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES, metavar="N",
                   help=f"paired bootstrap resamples (default {DEFAULT_RESAMPLES:,})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"bootstrap seed (default {DEFAULT_SEED})")
    p.add_argument("--list", type=int, default=10, metavar="N",
                   help="problems solved by only one run to list per pair (default 10; --json has all)")
    p.add_argument("--json", metavar="PATH", help="also write the comparison as JSON here ('-' for stdout only)")
    _add_store(p)
    p.set_defaults(func=cmd_compare)

    p = subparsers.add_parser(
        "report", help="self-contained HTML report of runs (plots, published scores, gap analysis, samples)",
        description="Write one self-contained HTML file (inline SVG, no network) for one or more runs: headline "
                    "accuracy with CI and the published figures, the gap analysis (settings that differ, scores "
                    "under peers' grading policies), subject x level heatmap, accuracy by level and subject, "
                    "token/latency distributions, failures and a filterable sample browser.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids or names, or suite names (all their runs)")
    p.add_argument("--output", "-o", default="report.html", help="HTML file to write (default report.html)")
    p.add_argument("--max-samples", type=int, default=20_000, metavar="N",
                   help="most samples per run in the sample browser (default 20,000)")
    p.add_argument("--budget-mb", type=float, default=8.0, metavar="MB",
                   help="most megabytes of sample data in the page (default 8): every sample's facts and a preview, "
                        "then full texts, wrong answers first; every full text is in `mathgauge export`")
    p.add_argument("--no-regrade", action="store_true", help="skip re-grading under peers' policies")
    p.add_argument("--gap-json", metavar="PATH", help="also write the gap analysis as JSON here")
    _add_store(p)
    p.set_defaults(func=cmd_report)


# -- scores ------------------------------------------------------------------------------------------------------
def cmd_scores(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from ..datasets import list_benchmarks
    from ._published import check_benchmark_name, search_published, spread, version_matches
    from .terminal import make_console

    benchmark = args.benchmark
    if benchmark:
        check_benchmark_name(benchmark)
    entries = search_published(args.model, benchmark)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    console = make_console()
    if not entries:
        what = f" for {args.model!r}" if args.model else ""
        console.print(f"No published scores{what} in mathgauge's registry"
                      + (f" on {benchmark}" if benchmark else "") + ".")
        return 0
    order = {b.published_names[0]: i for i, b in enumerate(list_benchmarks())}  # the registry's order
    for bench in sorted({e.benchmark for e in entries}, key=lambda b: (order.get(b, len(order)), b)):
        rows = [e for e in entries if e.benchmark == bench]
        table = Table(title=f"{bench}: {len(rows)} published row(s)", title_justify="left", show_lines=False)
        for col in ("model", "score", "metric", "shots", "mode", "decoding", "grader", "source", "date", "notes"):
            table.add_column(col, overflow="fold", justify="right" if col in ("score", "shots") else "left")
        for e in rows:
            other = args.model and version_matches(e, args.model) is False
            cells = [
                e.model + (" [other snapshot]" if other else ""), "-" if e.score is None else f"{e.score:g}", e.metric,
                "" if e.shots is None else str(e.shots), e.mode, _decoding(e), e.grader or "not stated", e.source,
                e.source_date, ("no published number. " if e.score is None else "") + e.notes,
            ]
            table.add_row(*(escape(c) for c in cells))
        console.print(table)
    if args.model:
        for bench, (lo, hi, n) in spread(entries).items():
            console.print(f"{bench}: {n} published figure(s), spread {lo:g} - {hi:g}"
                          + (" (sources disagree: compare protocols before comparing numbers)" if hi - lo >= 2 else ""))
        missing = [e for e in entries if e.score is None]
        for e in missing:
            console.print(f"{e.model} on {e.benchmark_label}: no published number.")
    return 0


def _decoding(e: Any) -> str:
    parts = []
    if e.temperature is not None:
        parts.append(f"T={e.temperature:g}")
    if e.top_p is not None:
        parts.append(f"top_p={e.top_p:g}")
    if e.max_tokens is not None:
        parts.append(f"max={e.max_tokens}")
    if e.samples is not None:
        parts.append(f"k={e.samples}")
    return ", ".join(parts) or "not stated"


# -- compare -----------------------------------------------------------------------------------------------------
def cmd_compare(args: argparse.Namespace) -> int:
    from .analysis import compare_benchmarks, compare_loaded, load_runs
    from .terminal import make_console, render_benchmark_comparison, render_comparison

    if args.bootstrap < 100:
        raise ConfigError(f"--bootstrap must be at least 100, got {args.bootstrap}")
    with _read_store(args.store) as store:
        loaded = load_runs(store, args.runs)  # a suite's name stands for all its runs
        if len(loaded) < 2:
            raise ConfigError("compare needs at least two runs")
        comparison: Any
        if len({run.benchmark for run, _ in loaded}) > 1:
            comparison = compare_benchmarks(store, loaded, resamples=args.bootstrap, seed=args.seed)
        else:
            comparison = compare_loaded(loaded, resamples=args.bootstrap, seed=args.seed)
    if args.json == "-":  # ASCII escapes: no raw control or bidi character from a run's name reaches the terminal
        print(json.dumps(comparison.to_json(), indent=2, ensure_ascii=True))
        return 0
    if hasattr(comparison, "table"):
        render_benchmark_comparison(comparison, make_console())
    else:
        render_comparison(comparison, make_console(), list_limit=args.list)
    if args.json:
        _write_text(args.json, json.dumps(comparison.to_json(), indent=2, ensure_ascii=False) + "\n")
    return 0


# -- report ------------------------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from .analysis import expand_run_refs
    from .html import build_report
    from .terminal import make_console, render_gap

    if args.max_samples < 0:
        raise ConfigError(f"--max-samples must be >= 0, got {args.max_samples}")
    if not args.budget_mb > 0:
        raise ConfigError(f"--budget-mb must be > 0, got {args.budget_mb}")
    with _read_store(args.store) as store:
        unfinished = [run for run in expand_run_refs(store, args.runs) if run.status != "finished"]
        html, gaps = build_report(store, args.runs, max_samples=args.max_samples, regrade=not args.no_regrade,
                                  budget_mb=args.budget_mb)
    _write_text(args.output, html)
    for run in unfinished:
        print(f"note: run {run.name} is unfinished (status {run.status}): the report covers the samples finished so "
              f"far; `mathgauge resume {run.name}` continues it", file=sys.stderr)
    console = make_console()
    for gap in gaps:
        render_gap(gap, console)
    print(f"wrote {args.output} ({len(html.encode('utf-8')) / 1024:.0f} KiB)", file=sys.stderr)
    if args.gap_json:
        _write_text(args.gap_json, json.dumps([g.to_json() for g in gaps], indent=2, ensure_ascii=False) + "\n")
    return 0


def _read_store(path: str) -> Any:
    """The store opened for reading only (a read-only file or folder works); says what it could not show."""
    from ..store import Store

    store = Store(path, read_only=True)
    for note in store.notes:
        print(f"note: {note}", file=sys.stderr)
    return store


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None

