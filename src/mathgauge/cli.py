"""The ``mathgauge`` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import EXIT_USAGE, MathgaugeError


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _levels(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv_list(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated levels 1-5, got {value!r}") from None


def _columns(value: str) -> dict[str, str]:
    mapping = {}
    for item in _csv_list(value):
        field, sep, column = item.partition("=")
        if not sep or not field or not column:
            raise argparse.ArgumentTypeError(f"expected FIELD=COLUMN pairs (problem=question), got {item!r}")
        mapping[field.strip()] = column.strip()
    return mapping


def _option(value: str) -> tuple[str, object]:
    key, sep, raw = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    try:
        parsed: object = json.loads(raw)  # numbers, true/false, null, lists
    except ValueError:
        parsed = raw
    return key.strip(), parsed


def _add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="evaluate a model on a benchmark", description="Evaluate a model on a benchmark.")
    p.add_argument("--model", required=True, help="model name at the endpoint; with --backend llamacpp a .gguf file "
                   "or a bundled model (smollm2-135m)")
    p.add_argument("--model-name", metavar="NAME", help="the name the run is stored and reported under, instead of "
                   "--model (a file path, a server's internal id); default: --model, or for llamacpp the alias or the "
                   "GGUF's own name")
    p.add_argument("--preset", help="a named protocol whose options become the defaults (arxiv-2501.17084)")
    p.add_argument("--benchmark", default="math500", help="math500 (default) or math")
    p.add_argument("--backend", default="openai", choices=["openai", "hf", "vllm", "llamacpp"],
                   help="openai: any OpenAI-compatible endpoint (default); hf / vllm / llamacpp (GGUF on the CPU): "
                   "in-process")
    p.add_argument("--backend-option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="option of an in-process backend (repeatable), e.g. dtype=bfloat16, device=cuda; llamacpp: "
                   "n_ctx, n_parallel, n_threads, n_batch, flash_attn, chat_template")
    p.add_argument("--base-url", action="append", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
                   "(default: $OPENAI_BASE_URL or OpenAI); repeat it for replicas of one model: requests are "
                   "load-balanced and a failing replica is routed around")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="NAME",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    data = p.add_argument_group("problems")
    data.add_argument("--data-file", help="local JSONL or Parquet copy of the benchmark (works offline)")
    data.add_argument("--hub-repo", help="Hugging Face hub mirror to download instead of the default")
    data.add_argument("--columns", type=_columns, default={}, metavar="FIELD=COL,...",
                      help="map unusual column names, e.g. problem=question,answer=target")
    data.add_argument("--limit", type=int, help="first N problems (after the other filters)")
    data.add_argument("--subjects", type=_csv_list, help="comma-separated subjects, e.g. algebra,number_theory")
    data.add_argument("--levels", type=_levels, help="comma-separated levels, e.g. 4,5")
    data.add_argument("--per-cell", type=int, metavar="K", help="stratified: K problems per subject x level cell")
    data.add_argument("--seed", type=int, default=0, help="seed of the stratified draw (default 0)")
    data.add_argument("--manifest", help="take exactly the ids listed in this manifest file")
    data.add_argument("--save-manifest", metavar="FILE", help="write the chosen ids to FILE")
    solve = p.add_argument_group("solving")
    solve.add_argument("--mode", choices=["cot", "pot", "tir", "verify"], default="cot",
                       help="cot: chain-of-thought (default); pot: program-of-thought; tir: tool-integrated "
                       "reasoning; verify: answer, check with code, revise when the check fails")
    solve.add_argument("--attempts", type=int, default=1,
                       help="most tries per sample; a new try only when one gives no answer or its code fails")
    solve.add_argument("--max-rounds", type=int,
                       help="most code rounds per try in tir mode (default 4) or verify rounds (default 2)")
    solve.add_argument("--exec-timeout", type=float, default=10.0, help="seconds per code execution (default 10)")
    solve.add_argument("--exec-memory-mb", type=int, default=1024, help="memory cap per code execution (default 1024)")
    solve.add_argument("--regenerate", action="store_true",
                       help="token-by-token regeneration: regenerate from where a streamed response degenerated")
    solve.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run model code without isolation where the sandbox's layers are missing (unsafe)")
    judge = p.add_argument_group("grading")
    judge.add_argument("--grader", choices=["rules", "judge", "cascade"], default="rules",
                       help="rules (default); judge: an LLM judge on a 5-point rubric decides (4-5 = correct); "
                       "cascade: the judge only where the rules say incorrect or no answer")
    judge.add_argument("--judge-model", help="the judge model (required with --grader judge/cascade)")
    judge.add_argument("--judge-base-url", help="the judge's endpoint (default: the run's)")
    judge.add_argument("--judge-api-key-env", metavar="NAME", help="variable with the judge's key (default: the run's)")
    judge.add_argument("--judge-rubric", help="rubric version (v1) or a .toml file")
    gen = p.add_argument_group("generation")
    gen.add_argument("--prompt-template", metavar="FILE", help="prompt template (.toml or text with {problem})")
    gen.add_argument("--answer-format", help="answer extraction format (default: the template's, boxed)")
    gen.add_argument("--temperature", type=float, default=0.0)
    gen.add_argument("--top-p", type=float)
    gen.add_argument("--max-tokens", type=int, help="response length cap (default: none, the server's maximum)")
    gen.add_argument("--sampling-seed", type=int, help="seed sent to the server (sample i gets seed+i)")
    gen.add_argument("--samples", type=int, default=1, help="responses per problem (default 1)")
    gen.add_argument("--extra-body", action="append", type=_option, default=[], metavar="KEY=VALUE",
                     help="another field for every request body (repeatable; JSON values), e.g. top_k=20, "
                          "repeat_penalty=1.0 for llama-cpp-python's server")
    exe = p.add_argument_group("execution")
    exe.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    exe.add_argument("--max-retries", type=int, default=5, help="retries per request for errors (default 5)")
    exe.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request (default 600)")
    exe.add_argument("--no-cache", action="store_true", help="do not answer requests from the response cache")
    _add_store_args(p)
    p.add_argument("--run-name", help="name of the run (default: model-benchmark-timestamp)")
    p.add_argument("--resume", action="store_true", help="continue the run named --run-name if it exists")
    _add_output_args(p)
    p.set_defaults(func=_cmd_run, _parser=p)


def _add_store_args(p: Any) -> None:
    p.add_argument("--store", default="mathgauge.db", help="SQLite results file (default ./mathgauge.db)")


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
)
_CORE_COMMANDS = ("run", "resume", "runs", "show", "export", "regrade", "ablate", "benchmarks")


def _plugins_for(argv: Sequence[str] | None) -> list[tuple[str, str]]:
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args if not a.startswith("-")), None)
    if command in _CORE_COMMANDS:
        return []
    named = [(m, f) for m, f, names in _PLUGINS if command in names]
    return named or [(m, f) for m, f, _ in _PLUGINS]  # help, or an unknown command: list everything


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mathgauge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mathgauge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_run_parser(sub)

    p = sub.add_parser("resume", help="continue a stopped or killed run")
    p.add_argument("run", help="run id or name")
    p.add_argument("--concurrency", type=int, help="requests in flight (default: the run's)")
    p.add_argument("--no-cache", action="store_true")
    _add_store_args(p)
    _add_output_args(p)
    p.set_defaults(func=_cmd_resume)

    p = sub.add_parser("runs", help="list stored runs")
    _add_store_args(p)
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("show", help="the report of a stored run")
    p.add_argument("run", help="run id or name")
    _add_store_args(p)
    p.add_argument("--summary-json", metavar="PATH", help="also write the machine-readable summary here")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("export", help="export a run's samples")
    p.add_argument("run", help="run id or name")
    p.add_argument("--format", choices=["jsonl", "csv", "parquet", "lm-eval-samples", "sft"], default="jsonl",
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

    p = sub.add_parser("benchmarks", help="list known benchmarks")
    p.set_defaults(func=_cmd_benchmarks)

    for module, adder in _plugins_for(argv):
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

    def __init__(self, enabled: bool) -> None:
        self.bar: Any = None
        self.task: Any = None
        self.enabled = enabled

    def __call__(self, done: int, total: int, correct: int, graded: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]solving"), BarColumn(), MofNCompleteColumn(),
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


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _finish(result: Any, args: argparse.Namespace) -> int:
    from .report import render_summary

    render_summary(result.summary)
    if getattr(args, "summary_json", None):
        _write_json(args.summary_json, result.summary.to_json())
    return result.exit_code


def _write_json(path: str, doc: dict) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
    except OSError as exc:
        raise MathgaugeError(f"{path}: cannot write summary ({exc.strerror})") from None


def _apply_preset(args: argparse.Namespace) -> None:
    """Give each option the preset names the preset's value, unless the command line set it."""
    from .errors import ConfigError
    from .presets import load_preset

    parser = args._parser
    given = {action.dest for action in parser._actions
             if any(token == opt or token.startswith(opt + "=") for opt in action.option_strings
                    for token in args._argv)}
    values = load_preset(args.preset)
    _say(f"preset {args.preset}: {values.pop('description', '')}")
    for key, value in values.items():
        if not hasattr(args, key):
            raise ConfigError(f"preset {args.preset!r} sets unknown option {key!r}")
        if key not in given:
            setattr(args, key, value)


def _config_from_args(args: argparse.Namespace) -> Any:
    from ._config import EvalConfig
    from .solve import SamplingConfig

    if args.preset:
        _apply_preset(args)
    return EvalConfig(
        model=args.model, model_name=args.model_name, benchmark=args.benchmark, backend=args.backend,
        backend_options=dict(args.backend_option), base_url=args.base_url, api_key_env=args.api_key_env,
        data_file=args.data_file, hub_repo=args.hub_repo, columns=args.columns, subjects=args.subjects,
        levels=args.levels, per_cell=args.per_cell, selection_seed=args.seed, limit=args.limit,
        manifest=args.manifest, save_manifest=args.save_manifest, prompt_template=args.prompt_template,
        mode=args.mode, attempts=args.attempts, max_rounds=args.max_rounds, exec_timeout_s=args.exec_timeout,
        exec_memory_mb=args.exec_memory_mb, unsafe_no_sandbox=args.unsafe_no_sandbox, regenerate=args.regenerate,
        answer_format=args.answer_format,
        sampling=SamplingConfig(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                                seed=args.sampling_seed, samples=args.samples,
                                extra_body=dict(args.extra_body)),
        grader=args.grader, judge_model=args.judge_model, judge_base_url=args.judge_base_url,
        judge_api_key_env=args.judge_api_key_env, judge_rubric=args.judge_rubric,
        concurrency=args.concurrency, store=args.store, run_name=args.run_name, resume=args.resume,
        use_cache=not args.no_cache, max_retries=args.max_retries, request_timeout_s=args.request_timeout,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from ._evaluate import evaluate

    config = _config_from_args(args)
    progress = _Progress(not args.quiet and sys.stderr.isatty())
    try:
        result = evaluate(config, progress=progress, notify=_say)
    finally:
        progress.close()
    return _finish(result, args)


def _cmd_resume(args: argparse.Namespace) -> int:
    from ._evaluate import resume

    progress = _Progress(not args.quiet and sys.stderr.isatty())
    try:
        result = resume(args.run, store=args.store, concurrency=args.concurrency, use_cache=not args.no_cache,
                        progress=progress, notify=_say)
    finally:
        progress.close()
    return _finish(result, args)


def _cmd_ablate(args: argparse.Namespace) -> int:
    from ._ablate import ablate

    options = args.run_options
    if not options:
        raise MathgaugeError("give the run options after --, e.g. mathgauge ablate regeneration -- --model M ...")
    run_args = build_parser(["run"]).parse_args(["run", *options])
    run_args._argv = options
    result = ablate(args.factor, _config_from_args(run_args), notify=_say)
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
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    import time

    from rich.table import Table

    from .report import make_console, summarize_run
    from .store import Store

    with Store(args.store, must_exist=True) as store:
        runs = store.list_runs()
        if not runs:
            print(f"no runs in {args.store}")
            return 0
        table = Table()
        for col in ("run id", "name", "model", "benchmark", "status", "n", "accuracy", "failed", "created"):
            table.add_column(col)
        for run in runs:
            s = summarize_run(store, run)
            table.add_row(run.run_id, run.name, run.model, run.benchmark, run.status, str(s.n),
                          "-" if s.accuracy is None else f"{100 * s.accuracy:.1f}%", str(s.failed),
                          time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at)))
    make_console().print(table)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .report import render_summary, summarize_run
    from .store import Store

    with Store(args.store, must_exist=True) as store:
        run = store.get_run(args.run)
        summary = summarize_run(store, run)
    render_summary(summary)
    if args.summary_json:
        _write_json(args.summary_json, summary.to_json())
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .report import export_run, export_sft
    from .store import Store

    if args.format in ("parquet", "lm-eval-samples") or args.attempts:
        from .report import export_run_ext

        with Store(args.store, must_exist=True) as store:
            count = export_run_ext(store, args.run, args.format, args.output, attempts=args.attempts)
        _say(f"wrote {count} records to {args.output}")
        return 0
    if args.format == "sft":
        with Store(args.store, must_exist=True) as store:
            coverage = export_sft(store, args.run, args.output, max_per_problem=args.max_per_problem)
        c = coverage.to_dict()
        _say(f"wrote {c['records']} verified solutions to {args.output} ({c['duplicates_dropped']} duplicates and "
             f"{c['over_cap_dropped']} over the cap dropped); coverage {c['covered']}/{c['problems']} problems "
             f"({100 * c['coverage']:.1f}%)")
        for title, cells in (("subject", c["by_subject"]), ("level", c["by_level"])):
            _say(f"  by {title}: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in cells.items()))
        return 0
    with Store(args.store, must_exist=True) as store:
        count = export_run(store, args.run, args.format, args.output)
    if args.output != "-":
        _say(f"wrote {count} samples to {args.output}")
    return 0


def _cmd_regrade(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ._regrade import regrade_run
    from .report import make_console
    from .store import Store

    with Store(args.store, must_exist=True) as store:
        count, changes = regrade_run(store, args.run, dry_run=args.dry_run)
    console = make_console()
    console.print(f"re-graded {count} responses: {len(changes)} verdict(s) changed"
                  + (" (dry run: nothing stored)" if args.dry_run else ""))
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
    from .datasets import list_benchmarks

    for b in list_benchmarks():
        print(f"{b.name:10} {b.description} (hub: {b.hub_repo})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 user error, 3 some samples failed, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv and argv and argv[0] == "ablate":  # everything after -- belongs to the ablated `run`
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    args._argv = argv
    if passthrough:
        args.run_options = passthrough
    try:
        return int(args.func(args))
    except MathgaugeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: everything finished so far is stored; `mathgauge resume RUN` continues",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
