"""The ``mathgauge`` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_SAMPLES_FAILED, EXIT_USAGE, MathgaugeError, RunInterrupted


class StrictArgumentParser(argparse.ArgumentParser):
    """An argument parser that takes options only as spelled, in every subcommand: ``--attempt 3`` is an error,
    never silently taken for ``--attempts`` (argparse's abbreviations)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


#: The results file of every command (the `RunSpec` field ``store`` and `mathgauge.store.DEFAULT_STORE` agree).
DEFAULT_STORE = "mathgauge.db"


def _add_run_parser(sub: Any, *, full: bool, preset: str | None) -> None:
    p = sub.add_parser("run", help="evaluate a model on a benchmark (or several)",
                       description="Evaluate a model on a benchmark, or on several (--benchmark aime24,math500,gsm8k "
                       "or a suite such as qwen-math): each benchmark becomes its own stored run, NAME-BENCHMARK, "
                       "and the end shows the benchmark x model table.")
    p.set_defaults(func=_cmd_run, preset_description=None)
    if not full:  # the options are only needed when the command is `run`: other commands start without them
        return
    from .pipeline._spec_cli import add_run_options, apply_preset

    p.add_argument("--preset", help="a named protocol whose options become the defaults (arxiv-2501.17084); "
                   "options given on the command line win")
    add_run_options(p)
    _add_output_args(p)
    if preset:
        p.set_defaults(preset_description=apply_preset(p, preset))


def _export_formats() -> tuple[str, ...]:
    from .report.export import EXPORT_FORMATS

    return tuple(EXPORT_FORMATS)


def _preset_named(argv: Sequence[str]) -> str | None:
    """The ``--preset`` of a command line, read before the real parse (a preset's values are defaults)."""
    pre = StrictArgumentParser(add_help=False)
    pre.add_argument("--preset")
    known, _ = pre.parse_known_args(list(argv))
    return known.preset


def _add_store_args(p: Any) -> None:
    p.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite results file (default ./{DEFAULT_STORE})")


def _add_output_args(p: Any) -> None:
    p.add_argument("--summary-json", metavar="PATH", help="write the machine-readable summary here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


#: Commands that other packages add: (package, registering function, the command names it adds). Only the
#: package a command line names is imported, so `mathgauge run` starts without loading them.
_PLUGINS = (
    ("grading", "add_grading_commands", ("grade", "grade-file")),
    ("sandbox", "add_sandbox_commands", ("sandbox",)),
    ("report", "add_report_commands", ("scores", "compare", "report")),
    ("integrations", "add_integration_commands", ("rescore", "lm-eval-path")),
    ("store", "add_store_commands", ("store",)),
)
_CORE_COMMANDS = ("run", "resume", "runs", "show", "export", "regrade", "ablate", "benchmarks")


def _command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _plugins_for(argv: Sequence[str]) -> list[tuple[str, str]]:
    command = _command(argv)
    if command in _CORE_COMMANDS or (command is None and "--version" in argv):
        return []
    named = [(m, f) for m, f, names in _PLUGINS if command in names]
    return named or [(m, f) for m, f, _ in _PLUGINS]  # help, or an unknown command: list everything


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``mathgauge`` parser for a command line: only the options the named command needs are built, and a
    ``run`` command's ``--preset`` is applied as defaults before anything is parsed.

    Raises:
        ConfigError: an unknown preset, or one naming an option that does not exist.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    parser = StrictArgumentParser(prog="mathgauge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mathgauge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    is_run = _command(args) == "run"
    _add_run_parser(sub, full=is_run, preset=_preset_named(args) if is_run else None)

    p = sub.add_parser("resume", help="continue a stopped or killed run, or every unfinished run of a suite")
    p.add_argument("run", help="run id or name, or the name of a run of several benchmarks (a suite)")
    p.add_argument("--concurrency", type=int, help="requests in flight (default: the run's)")
    p.add_argument("--no-cache", action="store_true", help="do not answer requests from the response cache")
    _add_store_args(p)
    _add_output_args(p)
    p.set_defaults(func=_cmd_resume)

    p = sub.add_parser("runs", help="list stored runs")
    _add_store_args(p)
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("show", help="the report of a stored run, or the benchmark x model table of a suite")
    p.add_argument("run", help="run id or name, or a suite's name")
    _add_store_args(p)
    p.add_argument("--summary-json", metavar="PATH", help="also write the machine-readable summary here")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("export", help="export a run's samples")
    p.add_argument("run", help="run id or name")
    # The formats come from the export package, loaded only when the command is `export` (start-up time).
    p.add_argument("--format", choices=_export_formats() if _command(args) == "export" else None, default="jsonl",
                   help="jsonl / csv / parquet: every sample; lm-eval-samples: lm-eval's samples_<task>.jsonl shape; "
                   "sft: verified solutions as chat records for fine-tuning")
    p.add_argument("--attempts", action="store_true", help="one row per model call instead of per sample")
    p.add_argument("--output", required=True, help="destination file ('-' for stdout)")
    p.add_argument("--max-per-problem", type=int, default=4, help="sft: most kept solutions per problem (default 4)")
    _add_store_args(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("regrade", help="re-grade a stored run with the current grader; show changed verdicts")
    p.add_argument("run", help="run id or name")
    p.add_argument("--dry-run", action="store_true", help="show the changes without storing them")
    _add_store_args(p)
    p.set_defaults(func=_cmd_regrade)

    p = sub.add_parser("ablate", help="run a configuration with and without a factor; compare with CIs",
                       description="Run the same `run` options twice, without and with the factor, and print the "
                       "accuracy and code-execution-time deltas with 95% bootstrap confidence intervals.")
    p.add_argument("factor", choices=["regeneration"])
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    p.set_defaults(func=_cmd_ablate, run_options=[])
    p.epilog = "usage: mathgauge ablate regeneration [--json PATH] -- RUN OPTIONS (as for `mathgauge run`)"

    p = sub.add_parser("benchmarks", help="list known benchmarks, how they are reported and where they come from")
    p.add_argument("--json", action="store_true", help="print the registry as JSON")
    p.add_argument("--suites", action="store_true", help="list the named suites (qwen-math, r1) instead")
    p.set_defaults(func=_cmd_benchmarks)

    for module, adder in _plugins_for(args):
        import importlib

        try:
            cli_module = importlib.import_module(f".{module}._cli", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module}._cli":
                raise
            continue
        getattr(cli_module, adder)(sub)
    return parser


class _Progress:
    """A rich progress bar on stderr: done/total, accuracy so far, requests/s, ETA."""

    def __init__(self, enabled: bool, label: str = "solving") -> None:
        self.bar: Any = None
        self.task: Any = None
        self.enabled = enabled
        self.label = label

    def __call__(self, done: int, total: int, correct: int, graded: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("acc {task.fields[acc]}"), TextColumn("{task.fields[rate]} samples/s"),
                TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("solve", total=total, completed=done, acc="-", rate="-")
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, completed=done, total=total,
                        acc=f"{100 * correct / graded:.1f}%" if graded else "-",
                        rate=f"{speed:.1f}" if speed else "-")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class _SuiteProgress:
    """One progress bar per benchmark of a run of several, each replacing the last."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.benchmark: str | None = None
        self.bar = _Progress(False)

    def __call__(self, benchmark: str, done: int, total: int, correct: int, graded: int) -> None:
        if benchmark != self.benchmark:
            self.bar.close()
            self.benchmark, self.bar = benchmark, _Progress(self.enabled, f"solving {benchmark}")
        self.bar(done, total, correct, graded)

    def close(self) -> None:
        self.bar.close()


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _finish(result: Any, args: argparse.Namespace) -> int:
    from .report import render_summary

    # Files first: a reader that closes stdout early (`| head -1`) must not cost the summary file.
    if getattr(args, "summary_json", None):
        _write_json(args.summary_json, result.summary.to_json())
    try:
        render_summary(result.summary)
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
    return result.exit_code


def _stdout_closed() -> None:
    """The reader of stdout went away (``| head``): send the rest of the output nowhere, quietly."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _write_json(path: str, doc: dict) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
    except OSError as exc:
        raise MathgaugeError(f"{path}: cannot write summary ({exc.strerror})") from None


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import evaluate
    from .pipeline._spec_cli import spec_from_args

    if args.preset:
        _say(f"preset {args.preset}: {args.preset_description}")
    spec = spec_from_args(args)
    if len(spec.benchmarks()) > 1:
        from .pipeline import evaluate_suite

        return _run_suite(lambda progress: evaluate_suite(spec, progress=progress, notify=_say), args)
    progress = _Progress(not args.quiet and sys.stderr.isatty())
    try:
        result = evaluate(spec, progress=progress, notify=_say)
    finally:
        progress.close()
    return _finish(result, args)


def _read_store(path: str) -> Any:
    """The store opened for reading only (works on a read-only file or folder); says what it could not show."""
    from .store import Store

    store = Store(path, read_only=True)
    for note in store.notes:
        _say(f"note: {note}")
    return store


def _run_suite(start: Any, args: argparse.Namespace) -> int:
    """Run several benchmarks (``start(progress)`` returns a `SuiteResult`): the table at the end, the suite's
    summary JSON, the worst exit code of its runs."""
    from .report import make_console, render_table

    progress = _SuiteProgress(not args.quiet and sys.stderr.isatty())
    try:
        suite = start(progress)
    finally:
        progress.close()
    if getattr(args, "summary_json", None):  # files first (see `_finish`)
        _write_json(args.summary_json, suite.to_json())
    try:
        render_table(suite.table, make_console(), title=f"{suite.name}: benchmark x model (pass@1 or avg@k in %, "
                                                        f"95% CI over problems; the closest comparable published "
                                                        f"figure below)")
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
    return suite.exit_code


def _cmd_resume(args: argparse.Namespace) -> int:
    from .pipeline import resume
    from .pipeline._suite import resolve_name

    if resolve_name(args.store, args.run) == "suite":
        from .pipeline import resume_suite

        return _run_suite(lambda progress: resume_suite(
            args.run, store=args.store, concurrency=args.concurrency, use_cache=not args.no_cache,
            progress=progress, notify=_say), args)
    progress = _Progress(not args.quiet and sys.stderr.isatty())
    try:
        result = resume(args.run, store=args.store, concurrency=args.concurrency, use_cache=not args.no_cache,
                        progress=progress, notify=_say)
    finally:
        progress.close()
    return _finish(result, args)


def _cmd_ablate(args: argparse.Namespace) -> int:
    from .pipeline import ablate
    from .pipeline._spec_cli import spec_from_args

    options = args.run_options
    if not options:
        raise MathgaugeError("give the run options after --, e.g. mathgauge ablate regeneration -- --model M ...")
    run_args = build_parser(["run", *options]).parse_args(["run", *options])
    if run_args.preset:
        _say(f"preset {run_args.preset}: {run_args.preset_description}")
    result = ablate(args.factor, spec_from_args(run_args), notify=_say)
    lo, hi = result.accuracy_delta_ci95
    print(f"{args.factor} ablation on {result.problems} problems ({result.run_off} vs {result.run_on}):")
    print(f"  accuracy   off {100 * result.accuracy_off:.1f}%   on {100 * result.accuracy_on:.1f}%   "
          f"delta {100 * result.accuracy_delta:+.1f} points, 95% CI [{100 * lo:+.1f}, {100 * hi:+.1f}]")
    if result.exec_change is None:
        print("  code execution: none in the run without it")
    else:
        clo, chi = result.exec_change_ci95 or (float("nan"), float("nan"))
        print(f"  code execution time   off {result.exec_s_off:.2f}s   on {result.exec_s_on:.2f}s   "
              f"change {100 * result.exec_change:+.1f}%, 95% CI [{100 * clo:+.1f}%, {100 * chi:+.1f}%]")
    from .report.stats import bootstrap_method

    print(f"  95% CIs: {bootstrap_method(10_000, 0, paired=True)}")
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    import sqlite3
    import time

    from rich.table import Table

    from .report import make_console, summarize_run

    damaged: list[str] = []
    with _read_store(args.store) as store:
        runs = store.list_runs()
        if not runs:
            print(f"no runs in {args.store}")
            return 0
        table = Table()
        for col in ("run id", "name", "model", "benchmark", "status", "n", "accuracy", "failed", "created"):
            table.add_column(col)
        for run in runs:
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at))
            try:
                s = summarize_run(store, run)
            except sqlite3.DatabaseError as exc:  # a damaged part of the file: list the run, name the damage
                damaged.append(f"{run.name} ({exc})")
                table.add_row(run.run_id, run.name, run.model, run.benchmark, "damaged", "?", "?", "?", created)
                continue
            table.add_row(run.run_id, run.name, run.model, run.benchmark, run.status, str(s.n),
                          "-" if s.accuracy is None else f"{100 * s.accuracy:.1f}%", str(s.failed), created)
    make_console().print(table)
    if damaged:
        _say(f"warning: {args.store} is damaged: {len(damaged)} of {len(runs)} run(s) cannot be read: "
             f"{'; '.join(damaged[:5])}; `mathgauge store check --store {args.store} --salvage NEW.db` copies "
             f"every readable run into a new file")
        return EXIT_SAMPLES_FAILED
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .report import render_summary, summarize_run

    with _read_store(args.store) as store:
        if store.find_run(args.run) is None:
            return _show_suite(store, args)
        run = store.get_run(args.run)
        summary = summarize_run(store, run)
    if args.summary_json:
        _write_json(args.summary_json, summary.to_json())
    render_summary(summary)
    return 0


def _show_suite(store: Any, args: argparse.Namespace) -> int:
    """``mathgauge show SUITE``: each run's headline and the benchmark x model table."""
    from .pipeline import EvalResult, SuiteResult
    from .report import make_console, render_table, summarize_run
    from .report.analysis import benchmark_table, expand_run_refs

    runs = expand_run_refs(store, [args.run])  # a name that is neither a run nor a suite: StoreError
    results = {run.benchmark: EvalResult(run=run, summary=summarize_run(store, run), notes=[]) for run in runs}
    suite = SuiteResult(name=args.run, results=results,
                        table=benchmark_table([(r.run, r.summary) for r in results.values()]))
    console = make_console()
    for run in runs:
        console.print(f"{run.name}  ({run.run_id})  {run.benchmark}  status {run.status}", markup=False)
    render_table(suite.table, console, title=f"{args.run}: benchmark x model")
    if args.summary_json:
        _write_json(args.summary_json, suite.to_json())
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .report.export import export_run

    with _read_store(args.store) as store:
        result = export_run(store, args.run, args.format, args.output, attempts=args.attempts,
                            max_per_problem=args.max_per_problem)
    for line in result.lines():
        _say(line)
    return 0


def _cmd_regrade(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .pipeline import regrade_run
    from .report import make_console
    from .store import Store

    with Store(args.store, must_exist=True) as store:
        result = regrade_run(store, args.run, dry_run=args.dry_run)
    changes = result.changes
    console = make_console()
    console.print(f"re-graded {result.count} responses: {len(changes)} verdict(s) changed"
                  + (" (dry run: nothing stored)" if args.dry_run else ""))
    if result.unknown:
        shown = ", ".join(f"{pid}#{k}" for pid, k in result.unknown[:5])
        more = f" and {len(result.unknown) - 5} more" if len(result.unknown) > 5 else ""
        console.print(f"not re-graded: {len(result.unknown)} sample(s) whose graded text is unknown (graded by a "
                      f"mathgauge that did not store it, and it cannot be recomputed from the stored calls): "
                      f"{shown}{more}; their grades are kept")
    if changes:
        table = Table()
        for col in ("problem", "sample", "gold", "old", "old answer", "new", "new answer"):
            table.add_column(col)
        for c in changes:
            table.add_row(c.problem_id, str(c.sample_index), c.gold, c.old_status or "-", c.old_extracted or "-",
                          c.new_status, c.new_extracted or "-")
        console.print(table)
    return 0


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    from .datasets import list_benchmarks, list_suites, sampling_summary

    if args.suites:
        suites = list_suites()
        if args.json:
            print(json.dumps([{"name": s.name, "title": s.title, "description": s.description,
                               "benchmarks": list(s.benchmarks), "source": list(s.source), "left_out": list(s.left_out),
                               "protocol": s.protocol, "options": s.options} for s in suites],
                             indent=2, ensure_ascii=False))
            return 0
        for s in suites:
            print(f"{s.name:14} {s.title}: {', '.join(s.benchmarks)}")
            print(f"{'':14} {s.description}")
            print(f"{'':14} protocol: {s.protocol}" + (f" ({s.advice()})" if s.advice() else ""))
            if s.left_out:
                print(f"{'':14} not in mathgauge: {'; '.join(s.left_out)}")
            print(f"{'':14} source: {' ; '.join(s.source)}")
        return 0
    benchmarks = list_benchmarks()
    if args.json:
        print(json.dumps([{"name": b.name, "title": b.title, "problems": b.size, "description": b.description,
                           "licence": b.licence, "hub_repo": b.hub_repo, "bundled": bool(b.bundled),
                           "prompt_template": b.prompt_template, "answer_format": b.answer_format,
                           "reported_as": list(b.sampling.metrics), "recommended_samples": b.sampling.samples,
                           "minimum_samples": b.sampling.min_samples, "temperature": b.sampling.temperature,
                           "top_p": b.sampling.top_p, "sampling_note": b.sampling.note, "notes": list(b.notes)}
                          for b in benchmarks], indent=2, ensure_ascii=False))
        return 0
    for b in benchmarks:
        where = "bundled with mathgauge; hub" if b.bundled else "hub"
        print(f"{b.name:14} {b.title} ({b.size} problems; {where}: {b.hub_repo})")
        print(f"{'':14} {b.description}")
        print(f"{'':14} reported as {sampling_summary(b)}" + (f" ({b.sampling.note})" if b.sampling.note else ""))
        print(f"{'':14} licence: {b.licence}")
    print(f"suites (several benchmarks in one run, `mathgauge benchmarks --suites`): "
          f"{', '.join(s.name for s in list_suites())}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 user error, 3 some samples failed or the run stopped part-way,
    130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv and argv and argv[0] == "ablate":  # everything after -- belongs to the ablated `run`
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    args: argparse.Namespace | None = None
    try:
        args = build_parser(argv).parse_args(argv)
        if passthrough:
            args.run_options = passthrough
        return int(args.func(args))
    except MathgaugeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RunInterrupted as exc:
        print(exc.message(), file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted" + (": nothing of this run was stored yet" if _command(argv) == "run" else ""),
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _stdout_closed()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 -- only a store damaged where a command read it is handled here
        sqlite3 = sys.modules.get("sqlite3")  # not imported for it: commands that never open a store start faster
        if sqlite3 is None or not isinstance(exc, sqlite3.DatabaseError):
            raise
        store = getattr(args, "store", None) or "the results store"
        print(f"error: {store}: cannot read the results store ({exc}); `mathgauge store check --store {store}` "
              f"checks it (and --salvage NEW.db copies every readable run)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
