"""The terminal form of the benchmark x model table, and of a comparison of runs over several benchmarks."""

from __future__ import annotations

from typing import Any

from ..analysis import BenchmarkComparison, BenchmarkTable, TableCell


def cell_text(cell: TableCell) -> str:
    """``62.5 [48.1, 74.9]`` (percent, 95% CI), then the metric and problem count, then the published figure."""
    if cell.value is None:
        first = "-"
    else:
        first = f"{100 * cell.value:.1f} [{100 * cell.ci95[0]:.1f}, {100 * cell.ci95[1]:.1f}]"
    lines = [first + (" *" if cell.caveats else ""), f"{cell.metric}, {cell.problems} problems"]
    if cell.pass_k is not None:
        lines.append(f"pass@{cell.samples} {100 * cell.pass_k.value:.1f}")
    if cell.published:
        best = cell.published[0]
        more = f" +{len(cell.published) - 1}" if len(cell.published) > 1 else ""
        lines.append(f"published {best.label()}{more}")
    return "\n".join(lines)


def render_table(table: BenchmarkTable, console: Any, title: str | None = None) -> None:
    """Print the table: a row per model, a column per benchmark, each cell the benchmark's metric with its 95%
    interval and the closest comparable published figure; the cells' caveats below it.

    Args:
        table: the table (`mathgauge.report.analysis.benchmark_table`).
        console: a console from `make_console`.
        title: the table's title (default: what the cells show).
    """
    from rich.markup import escape
    from rich.table import Table

    grid = Table(title=title or "Benchmark x model: pass@1 or avg@k in %, 95% CI over problems; the closest "
                                "comparable published figure below", title_justify="left", show_lines=True)
    grid.add_column("model")
    for column in table.columns:
        grid.add_column(escape(column.title), justify="right")
    for row in table.rows:
        grid.add_row(escape(row.label), *[escape(cell_text(row.cells[c.benchmark])) if c.benchmark in row.cells
                                          else "" for c in table.columns])
    console.print(grid)
    console.print("95% CIs: Wilson score intervals over each cell's problems (with k samples per problem, on the "
                  "effective sample size after the design effect); each cell's method is in --summary-json")
    notes = table.notes()
    if notes:
        console.print("* not comparable with the published figures as it stands:")
        for note in notes:
            console.print(f"  - {escape(note)}")


def render_benchmark_comparison(comp: BenchmarkComparison, console: Any) -> None:
    """Print runs over several benchmarks: the table, then per benchmark each pair's difference with its paired
    bootstrap interval and exact McNemar test, then the warnings of each comparison.

    Args:
        comp: the comparison (`mathgauge.report.analysis.compare_benchmarks`).
        console: a console from `make_console`.
    """
    from rich.markup import escape
    from rich.table import Table

    render_table(comp.table, console)
    titles = {c.benchmark: c.title for c in comp.table.columns}
    if comp.comparisons:
        pairs = Table(title="Paired differences per benchmark (on the problems both runs graded)",
                      title_justify="left")
        for col in ("benchmark", "A", "B", "shared", "A - B (points)", "95% CI", "A only / B only", "McNemar p"):
            pairs.add_column(col, justify="left" if col in ("benchmark", "A", "B") else "right")
        for bench, c in comp.comparisons.items():
            for pc in c.pairs:
                pairs.add_row(escape(titles[bench]), escape(pc.a), escape(pc.b), str(pc.n), f"{100 * pc.diff:+.1f}",
                              f"[{100 * pc.ci95[0]:+.1f}, {100 * pc.ci95[1]:+.1f}]", f"{pc.a_only} / {pc.b_only}",
                              f"{pc.p_value:.3g}")
        console.print(pairs)
        method = next(iter(comp.comparisons.values())).pairs[0].ci_method
        console.print(f"95% CIs of the differences: {escape(method)}; `mathgauge compare` on one benchmark's runs "
                      f"shows the per-subject and per-level detail")
    warnings = [(titles[b], w) for b, c in comp.comparisons.items() for w in c.warnings]
    if warnings or comp.notes:
        console.print("\n[bold yellow]Warning: some comparisons may be unfair or partial:[/bold yellow]")
        for title, w in warnings:
            console.print(f"  - {escape(title)}: {escape(w)}")
        for note in comp.notes:
            console.print(f"  - {escape(note)}")
