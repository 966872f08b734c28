"""The terminal form of a paired comparison."""

from __future__ import annotations

from typing import Any

from ..analysis import Comparison


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def _p(p: float) -> str:
    return f"{p:.3g}" if p >= 0.001 else f"{p:.1e}"


def render_comparison(comp: Comparison, console: Any, list_limit: int = 10) -> None:
    """Print a comparison: accuracies, the models x subjects grid, each pair's difference with its interval and
    McNemar test, per-subject and per-level tables, problems solved by one run only, and the warnings.

    Args:
        comp: the comparison (`mathgauge.report.analysis.compare_runs`).
        console: a console from `make_console`.
        list_limit: problems solved by one run only to list per pair.
    """
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]Comparison on {comp.benchmark}[/bold]: {comp.shared_problems} shared problems")
    table = Table(title="Accuracy on the shared problems", title_justify="left")
    for col in ("run", "model", "samples/problem", "n", "correct", "accuracy", "95% CI", "truncated"):
        table.add_column(col, justify="left" if col in ("run", "model") else "right")
    for s in comp.runs:
        table.add_row(escape(s.name), escape(s.model), str(s.samples_per_problem), str(s.n), str(s.correct),
                      _pct(s.accuracy), f"[{100 * s.ci95[0]:.1f}, {100 * s.ci95[1]:.1f}]",
                      f"{s.truncated} ({_pct(s.truncated_share)})")
    console.print(table)
    for s in comp.runs:
        console.print(f"  95% CI of {escape(s.name)}: {escape(s.ci_method)}")
    subjects = sorted({k for side in comp.runs for k in side.by_subject})
    if subjects:
        # The study's table: models x subjects, and how far apart the best and worst model are in each subject.
        grid = Table(title="Accuracy by subject (models x subjects)", title_justify="left")
        grid.add_column("subject")
        for side in comp.runs:
            grid.add_column(escape(side.name), justify="right")
        grid.add_column("best - worst", justify="right")
        for subject in subjects:
            values = [side.by_subject.get(subject) for side in comp.runs]
            present = [v for v in values if v is not None]
            spread = _pp(max(present) - min(present)) if len(present) > 1 else "-"
            grid.add_row(escape(subject), *[_pct(v) for v in values], spread)
        console.print(grid)
    for pc in comp.pairs:
        console.print(
            f"\n[bold]{escape(pc.a)}[/bold] - [bold]{escape(pc.b)}[/bold]: difference {_pp(pc.diff)} points, "
            f"95% CI [{_pp(pc.ci95[0])}, {_pp(pc.ci95[1])}] ({escape(pc.ci_method)}); "
            f"exact McNemar p = {_p(pc.p_value)} (solved by A only {pc.a_only}, by B only {pc.b_only}, both "
            f"{pc.both}, neither {pc.neither}; per-problem verdict: {pc.binary})"
        )
        for title, rows in (("By subject", pc.by_subject), ("By level", pc.by_level)):
            t = Table(title=title, title_justify="left")
            for col in ("", "n", "A", "B", "A - B", "A only", "B only", "McNemar p"):
                t.add_column(col, justify="left" if col == "" else "right")
            for x in rows:
                t.add_row(escape(x.key), str(x.n), _pct(x.acc_a), _pct(x.acc_b), _pp(x.diff), str(x.b), str(x.c),
                          _p(x.p_value))
            console.print(t)
        for label, items in ((f"solved by {pc.a} only", pc.only_a), (f"solved by {pc.b} only", pc.only_b)):
            if not items:
                continue
            shown = ", ".join(f"{x['problem_id']} ({x['subject']} L{x['level']})" for x in items[:list_limit])
            more = f" ... and {len(items) - list_limit} more (--json lists all)" if len(items) > list_limit else ""
            console.print(escape(f"{label} ({len(items)}): {shown}{more}"))
    if comp.warnings:
        console.print("\n[bold yellow]Warning: the comparison may be unfair or partial:[/bold yellow]")
        for w in comp.warnings:
            console.print(f"  - {escape(w)}")
