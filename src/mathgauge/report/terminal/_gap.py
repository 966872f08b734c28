"""The terminal form of the gap analysis."""

from __future__ import annotations

from typing import Any

from ..analysis import GapAnalysis


def render_gap(gap: GapAnalysis, console: Any) -> None:
    """Print the gap analysis: measured accuracy with its interval, scores under the peer grading policies, and
    each published figure with the settings that differ.

    Args:
        gap: the analysis (`mathgauge.report.analysis.analyse_gap`).
        console: a console from `make_console`.
    """
    from rich.markup import escape
    from rich.table import Table

    acc = "-" if gap.accuracy is None else f"{gap.accuracy:.1f}"
    console.print(f"[bold]{escape(gap.run_name)}[/bold] ({escape(gap.model)}) on {gap.benchmark}: measured {acc} "
                  f"[{gap.ci95[0]:.1f}, {gap.ci95[1]:.1f}] (95% CI: {escape(gap.ci_method)})"
                  + (f"  caveat: {escape(gap.caveat)}" if gap.caveat else ""))
    if gap.policies:
        console.print("Score under other grading policies: " + ", ".join(
            f"{name} {p['accuracy']:.1f}" for name, p in gap.policies.items() if p["accuracy"] is not None))
        effect = gap.grader_effect()
        if effect:
            console.print(escape(effect))
    if not gap.gaps:
        console.print("No published figure for this model on this benchmark in mathgauge's registry."
                      + (f" (figures on other benchmarks, not comparable: {gap.other_benchmarks})"
                         if gap.other_benchmarks else ""))
        return
    table = Table(title="Measured vs published", title_justify="left")
    for col in ("source", "published", "measured - published", "settings that differ", "date"):
        table.add_column(col, overflow="fold")
    for g in gap.gaps:
        pub = "no published number" if g.entry.score is None else f"{g.entry.score:g}"
        diff = "-" if g.diff is None else f"{g.diff:+.1f}" + (" (inside CI)" if g.inside_ci else "")
        table.add_row(escape(g.entry.source), pub, diff, escape(", ".join(g.differing) or "none known"),
                      g.entry.source_date)
    console.print(table)
