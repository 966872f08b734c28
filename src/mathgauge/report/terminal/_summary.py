"""The terminal report of a run, rendered with rich."""

from __future__ import annotations

from typing import Any

from ..analysis import Cell, RunSummary
from ._console import make_console


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(cell: Cell) -> str:
    if cell.n == 0:
        return "-"
    lo, hi = cell.ci95
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def render_summary(summary: RunSummary, console: Any = None) -> None:
    """Print the report: headline with 95% CI, by subject, by level, subject x level grid, counts and timing.

    Args:
        summary: the run's summary (`mathgauge.report.analysis.summarize_run`).
        console: where to print (default: `make_console`).
    """
    from rich.markup import escape
    from rich.table import Table

    console = console or make_console()
    s = summary
    console.print(
        f"[bold]{escape(s.run_name)}[/bold]  ({s.run_id})  model [cyan]{escape(s.model)}[/cyan]  "
        f"benchmark {escape(s.benchmark)}  status {s.status}"
    )
    if s.status != "finished":
        console.print(f"[bold yellow]Unfinished[/bold yellow] (status {s.status}: {s.pending} sample(s) pending, "
                      f"{s.failed} failed): the figures cover only the samples finished so far; "
                      f"`mathgauge resume {escape(s.run_name)}` continues it")
    if s.accuracy is None:
        console.print("No graded samples yet.")
    else:
        lo, hi = s.ci95
        k = f" (avg over {s.samples_per_problem} samples/problem)" if s.samples_per_problem > 1 else ""
        console.print(
            f"Accuracy [bold green]{_pct(s.accuracy)}[/bold green]  {s.correct}/{s.n}{k}  "
            f"95% CI [{100 * lo:.1f}, {100 * hi:.1f}]"
        )
        console.print(f"95% CIs here: {escape(s.ci_method)}; the same method per subject and level", markup=True)

    if s.by_subject:
        table = Table(title="By subject", title_justify="left")
        for col in ("subject", "n", "correct", "accuracy", "95% CI"):
            table.add_column(col, justify="left" if col == "subject" else "right")
        for name, cell in s.by_subject.items():
            table.add_row(escape(name), str(cell.n), str(cell.correct), _pct(cell.accuracy), _ci(cell))
        console.print(table)

        table = Table(title="By level", title_justify="left")
        for col in ("level", "n", "correct", "accuracy", "95% CI"):
            table.add_column(col, justify="right")
        for name, cell in s.by_level.items():
            table.add_row(escape(name), str(cell.n), str(cell.correct), _pct(cell.accuracy), _ci(cell))
        console.print(table)

        if s.difficulty_trend is not None:
            console.print(f"Difficulty trend: Spearman correlation of level and accuracy {s.difficulty_trend:+.2f}")
        levels = list(s.by_level)
        table = Table(title="Subject x level: accuracy (correct/n)", title_justify="left")
        table.add_column("subject")
        for lv in levels:
            table.add_column(f"L{lv}", justify="right")
        for name in s.by_subject:
            cells = []
            for lv in levels:
                both = s.grid.get((name, lv))
                cells.append(f"{_pct(both.accuracy)} ({both.correct}/{both.n})" if both and both.n else "")
            table.add_row(escape(name), *cells)
        console.print(table)

    if s.sampling:
        m = s.sampling
        table = Table(title=f"Over {m.k} samples per problem ({m.problems} problems)", title_justify="left")
        for col in ("metric", "value", "95% CI", "method"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for name, est in ((f"avg@{m.k}", m.avg), (f"pass@{m.k}", m.pass_k), (f"maj@{m.k}", m.maj)):
            table.add_row(name, _pct(est.value), f"[{100 * est.ci95[0]:.1f}, {100 * est.ci95[1]:.1f}]",
                          escape(est.method))
        console.print(table)
        console.print("by k: " + "  ".join(
            f"k={p['k']}: avg {_pct(p['avg'])} pass {_pct(p['pass'])} maj {_pct(p['maj'])}" for p in m.curve))

    rate = s.requests_per_s
    console.print(
        f"No answer {s.no_answer}   truncated (hit max_tokens) {s.truncated}   failed {s.failed}   "
        f"pending {s.pending}"
    )
    console.print(
        f"{s.tokens_sentence()}   "
        f"requests {s.requests} ({s.cached} from cache, {s.retries} retries)   wall {s.wall_s:.1f}s"
        + (f"   {rate:.1f} req/s" if rate else "")
    )
    if s.attempts_allowed > 1:
        dist = ", ".join(f"{k}: {v}" for k, v in sorted(s.tries_distribution.items()))
        console.print(f"Attempts (tries per sample, at most {s.attempts_allowed}): {dist}   "
                      f"unsolved after {s.attempts_allowed}: {s.unsolved_after_attempts}")
    if s.executions:
        e = s.executions
        console.print(f"Time in model calls {s.generation_s:.1f}s vs code execution {e.total_ms / 1000:.1f}s "
                      "(summed over samples)")
        statuses = ", ".join(f"{k} {v}" for k, v in e.by_status.items())
        console.print(f"Code executions {e.count} ({statuses})   time total {e.total_ms / 1000:.1f}s "
                      f"p50 {e.p50_ms:.0f}ms p95 {e.p95_ms:.0f}ms   unsafe {e.unsafe} ({100 * e.unsafe_rate:.1f}%)")
    if s.judge:
        dist = ", ".join(f"{k}: {v}" for k, v in s.judge["scores"].items())
        console.print(f"LLM judge ({s.grader} grading; accuracy = share scored 4-5): {s.judge['judged']} judged; "
                      f"scores {dist}")
        console.print(s.judge["table"], markup=False, highlight=False)
        shown = s.judge["agreement"]["disagreements"][:10]
        for d in shown:
            console.print(f"  disagreement {d['label']}: rules {d['rule']}, judge {d['judge_score']}",
                          markup=False, highlight=False)
    if s.regeneration:
        console.print(f"Regeneration: {s.regeneration_sentence()}", markup=False, highlight=False)
    if s.verification:
        console.print(f"Self-verification: {s.verification_sentence()}", markup=False, highlight=False)
    if s.failures:
        console.print(f"[bold red]{len(s.failures)} sample(s) failed[/bold red] (resume the run to retry them):")
        for pid, index, err in s.failures[:10]:
            console.print(f"  {pid} #{index}: {err}", markup=False, highlight=False)
        if len(s.failures) > 10:
            console.print(f"  ... and {len(s.failures) - 10} more (see `mathgauge export`)")
